//! Libreswan (pluto) as a second gateway for our sans-IO IKEv2 initiator. The kernel here
//! has no ESP, so pluto establishes the IKE SA but cannot install the child SA: the tests
//! assert the IKE SA (IkeSaUp with the gateway's identity) and the exact failure the user
//! then sees for the child SA. Pluto comes from the Debian package unpacked by
//! `strait_interop::libreswan` (see there for the libraries it needs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use strait_ike::{Error, Event, LocalAuth};
use strait_interop::driver::*;
use strait_interop::libreswan::Pluto;
use strait_interop::{GatewayConfig, Lab, Node, Topology};

fn psk_conf(lab: &Lab) -> String {
    let gw = GatewayConfig::default();
    format!(
        "config setup
    uniqueids=no

conn lab
    ikev2=yes
    authby=secret
    left={addr}
    leftid=@{gid}
    leftsubnet=198.19.1.0/24
    right=%any
    rightid=@{cid}
    rightaddresspool=198.19.100.10-198.19.100.100
    modecfgdns=198.19.1.2
    narrowing=yes
    ike=aes256-sha2_256;dh19
    esp=aes_gcm256
    auto=add
",
        addr = lab.gateway_addr(),
        gid = gw.gateway_id,
        cid = gw.client_id,
    )
}

fn psk_secrets() -> String {
    let gw = GatewayConfig::default();
    format!(
        "@{} @{} : PSK \"{}\"\n",
        gw.gateway_id, gw.client_id, gw.psk
    )
}

/// Runs until the SA closes; returns the remote identity of IkeSaUp (if any) and the error.
fn run_to_end(d: &mut Driver, pluto: &Pluto) -> (Option<String>, Option<Error>) {
    assert!(
        d.run_until(Duration::from_secs(20), |d| d.closed().is_some()),
        "no end; pluto log:\n{}",
        pluto.log()
    );
    let up = d.events.iter().find_map(|e| match e {
        Event::IkeSaUp { remote_id, .. } => Some(remote_id.clone()),
        _ => None,
    });
    let err = d.closed().cloned().flatten();
    if let Some(e) = &err {
        eprintln!("error as the user sees it: {e}");
    }
    (up, err)
}

#[test]
#[ignore = "needs root and the unpacked Libreswan package (cargo xtask test runs it)"]
fn libreswan_psk_ike_sa_and_the_child_sa_failure() {
    let lab = Lab::new(Topology::default()).unwrap();
    let pluto = Pluto::start(&lab, &psk_conf(&lab), &psk_secrets(), |_| Ok(())).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| {
            c.ike_proposals =
                vec![
                    strait_ike::proposal::IkeProposal::parse("aes256-sha256-ecp256", false)
                        .unwrap(),
                ];
            c.esp_proposals =
                vec![strait_ike::proposal::EspProposal::parse("aes256gcm16", false).unwrap()];
        });
        let (up, err) = run_to_end(&mut d, &pluto);
        eprintln!("pluto log:\n{}", pluto.log());
        assert_eq!(
            up.as_deref(),
            Some("gateway.lab.strait"),
            "IKE SA with Libreswan"
        );
        let err = err.expect("the child SA fails on this kernel");
        assert!(
            matches!(err, Error::TsUnacceptable { .. }),
            "the child SA failure: {err:?}"
        );
    });
}

fn run(args: &[&str]) {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs root and the unpacked Libreswan package (cargo xtask test runs it)"]
fn libreswan_certificates_ike_sa_and_the_child_sa_failure() {
    use std::time::SystemTime;
    use strait_ike::cert::{Cert, PrivateKey, RsaPadding};
    use strait_interop::pki::{Ca, IssueOptions, KeyType};

    let lab = Lab::new(Topology::default()).unwrap();
    let dir = lab.dir().join("pki");
    let ca = Ca::new(
        &dir,
        "ca",
        KeyType::Rsa(2048),
        "C=CH, O=Strait Lab, CN=Strait Lab Root CA",
    )
    .unwrap();
    let issue = |name: &str, key: KeyType, id: &str| {
        ca.issue(
            name,
            key,
            &format!("C=CH, O=Strait Lab, CN={id}"),
            &IssueOptions {
                sans: vec![id.into()],
                ..Default::default()
            },
        )
        .unwrap()
    };
    let gw = issue("gateway", KeyType::Rsa(2048), "gateway.lab.strait");
    let client = issue("client", KeyType::Ecdsa(256), "client.lab.strait");
    let p12 = dir.join("gateway.p12");
    let s = |p: &std::path::Path| p.display().to_string();
    run(&[
        "openssl",
        "pkcs12",
        "-export",
        "-in",
        &s(&gw.cert_pem),
        "-inkey",
        &s(&gw.key_pem),
        "-name",
        "gateway",
        "-passout",
        "pass:",
        "-out",
        &s(&p12),
    ]);
    let conf = format!(
        "config setup
    uniqueids=no

conn lab
    ikev2=yes
    authby=rsasig,ecdsa
    left={addr}
    leftid=@gateway.lab.strait
    leftcert=gateway
    leftsendcert=always
    leftsubnet=198.19.1.0/24
    right=%any
    rightid=@client.lab.strait
    rightca=%same
    rightaddresspool=198.19.100.10-198.19.100.100
    narrowing=yes
    ike=aes256-sha2_256;dh19
    esp=aes_gcm256
    auto=add
",
        addr = lab.gateway_addr()
    );
    let ca_pem = ca.issued.cert_pem.clone();
    let pluto = Pluto::start(&lab, &conf, "", |nss| {
        let db = format!("sql:{}", nss.display());
        run(&["pk12util", "-i", &s(&p12), "-d", &db, "-W", ""]);
        run(&[
            "certutil",
            "-A",
            "-d",
            &db,
            "-n",
            "lab-ca",
            "-t",
            "CT,,",
            "-i",
            &s(&ca_pem),
        ]);
        Ok(())
    })
    .unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| {
            c.ike_proposals =
                vec![
                    strait_ike::proposal::IkeProposal::parse("aes256-sha256-ecp256", false)
                        .unwrap(),
                ];
            c.esp_proposals =
                vec![strait_ike::proposal::EspProposal::parse("aes256gcm16", false).unwrap()];
            c.auth = LocalAuth::Certificate {
                chain: vec![Cert::from_der(&std::fs::read(&client.cert_der).unwrap()).unwrap()],
                key: PrivateKey::from_der(&std::fs::read(&client.key_der).unwrap()).unwrap(),
                rsa_padding: RsaPadding::Pkcs1,
            };
            c.trust_anchors =
                vec![Cert::from_der(&std::fs::read(&ca.issued.cert_der).unwrap()).unwrap()];
            c.wall_clock = Some(SystemTime::now());
        });
        let (up, err) = run_to_end(&mut d, &pluto);
        eprintln!("pluto log:\n{}", pluto.log());
        assert_eq!(
            up.as_deref(),
            Some("gateway.lab.strait"),
            "IKE SA with Libreswan"
        );
        let err = err.expect("the child SA fails on this kernel");
        assert!(
            matches!(err, Error::TsUnacceptable { .. }),
            "the child SA failure: {err:?}"
        );
    });
}
