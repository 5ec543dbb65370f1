//! Certificates and EAP-MSCHAPv2 against the lab's real strongSwan gateway, with our sans-IO
//! IKEv2 initiator: the gateway authenticates with a certificate (RSA or ECDSA) from a PKI
//! made in the test with strongSwan's `pki` tool; the client with EAP-MSCHAPv2 or its own
//! certificate. Negative cases check the plain-words errors: wrong CA, an expired or
//! not-yet-valid gateway certificate (clock skew), an identity the certificate does not name,
//! and a wrong password.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use strait_ike::cert::{Cert, PrivateKey, RsaPadding};
use strait_ike::v2::wire::Identification;
use strait_ike::{Config, Error, Event, LocalAuth};
use strait_interop::driver::*;
use strait_interop::pki::{
    gateway_swanctl, Ca, ClientAuth, IssueOptions, Issued, KeyType, EAP_PASSWORD, EAP_USER,
};
use strait_interop::{GatewayConfig, Lab, Node, Topology, LAN_HOST, LAN_SUBNET, VIP_POOL};

const GATEWAY_ID: &str = "gateway.lab.strait";
const CLIENT_ID: &str = "client.lab.strait";

/// The test PKI: a root CA, the gateway's certificate, a client certificate, and a second CA
/// that issued nothing the gateway uses.
struct Pki {
    ca: Issued,
    gateway: Issued,
    client: Issued,
    other_ca: Issued,
}

fn make_pki(dir: &Path, gateway_key: KeyType, client_key: KeyType) -> Pki {
    let ca = Ca::new(
        &dir.join("pki"),
        "ca",
        KeyType::Rsa(2048),
        "C=CH, O=Strait Lab, CN=Strait Lab Root CA",
    )
    .unwrap();
    let gateway = ca
        .issue(
            "gateway",
            gateway_key,
            &format!("C=CH, O=Strait Lab, CN={GATEWAY_ID}"),
            &IssueOptions {
                sans: vec![GATEWAY_ID.into()],
                flags: vec!["serverAuth".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let client = ca
        .issue(
            "client",
            client_key,
            &format!("C=CH, O=Strait Lab, CN={CLIENT_ID}"),
            &IssueOptions {
                sans: vec![CLIENT_ID.into()],
                flags: vec!["clientAuth".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let other = Ca::new(
        &dir.join("pki-other"),
        "other",
        KeyType::Ecdsa(256),
        "C=CH, O=Somebody Else, CN=Other CA",
    )
    .unwrap();
    Pki {
        ca: ca.issued,
        gateway,
        client,
        other_ca: other.issued,
    }
}

fn gateway_conf(lab: &Lab, pki: &Pki, client: ClientAuth) -> String {
    gateway_swanctl(
        lab.gateway_addr(),
        &pki.gateway.cert_pem,
        GATEWAY_ID,
        &pki.ca.cert_pem,
        client,
        CLIENT_ID,
        LAN_SUBNET,
        VIP_POOL,
        LAN_HOST,
    )
}

fn cert(path: &Path) -> Cert {
    Cert::from_der(&std::fs::read(path).unwrap()).unwrap()
}

/// A lab whose gateway authenticates with `pki`'s gateway certificate.
fn cert_lab(gateway_key: KeyType, client_key: KeyType, client: ClientAuth) -> (Lab, Pki) {
    let lab = Lab::start(Topology::default(), &GatewayConfig::default()).unwrap();
    let pki = make_pki(lab.dir(), gateway_key, client_key);
    let gw = lab.gateway().unwrap();
    std::fs::copy(
        &pki.gateway.key_der,
        gw.swanctl_dir().join("private").join("gateway.der"),
    )
    .unwrap();
    gw.load_config(&gateway_conf(&lab, &pki, client)).unwrap();
    (lab, pki)
}

fn eap_auth(password: &str) -> LocalAuth {
    LocalAuth::Eap {
        identity: EAP_USER.as_bytes().to_vec(),
        username: EAP_USER.into(),
        password: zeroize::Zeroizing::new(password.into()),
    }
}

fn cert_auth(pki: &Pki, padding: RsaPadding) -> LocalAuth {
    LocalAuth::Certificate {
        chain: vec![cert(&pki.client.cert_der)],
        key: PrivateKey::from_der(&std::fs::read(&pki.client.key_der).unwrap()).unwrap(),
        rsa_padding: padding,
    }
}

/// Our client with certificate checking: trusts `anchor`, clock at `wall`.
fn configure(c: &mut Config, auth: LocalAuth, anchor: &Path, wall: SystemTime) {
    c.auth = auth;
    c.trust_anchors = vec![cert(anchor)];
    c.wall_clock = Some(wall);
    c.remote_id = Some(Identification::from_text(GATEWAY_ID));
}

/// Runs until the first child SA is up (and pings through it) or the SA closed.
fn expect_tunnel(lab: &Lab, d: &mut Driver) {
    assert!(
        d.run_until(Duration::from_secs(15), |d| !d.children().is_empty()
            || d.closed().is_some()),
        "no child SA; gateway log:\n{}",
        lab.gateway().unwrap().log()
    );
    assert!(
        d.closed().is_none(),
        "closed: {:?}\ngateway log:\n{}",
        d.closed(),
        lab.gateway().unwrap().log()
    );
    let up = d.events.iter().find_map(|e| match e {
        Event::IkeSaUp { remote_id, .. } => Some(remote_id.clone()),
        _ => None,
    });
    assert_eq!(up.as_deref(), Some(GATEWAY_ID));
    let child = d.children()[0].clone_info();
    assert!(
        d.ping_through(&child, 1),
        "no echo reply through the tunnel"
    );
}

/// Runs until the SA closes; returns the error.
fn expect_error(lab: &Lab, d: &mut Driver) -> Error {
    assert!(
        d.run_until(Duration::from_secs(15), |d| d.closed().is_some()),
        "did not fail; gateway log:\n{}",
        lab.gateway().unwrap().log()
    );
    let err = d.closed().unwrap().clone().expect("an error");
    eprintln!("error as the user sees it: {err}");
    err
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn eap_mschapv2_with_rsa_gateway_certificate() {
    let (lab, pki) = cert_lab(KeyType::Rsa(2048), KeyType::Ecdsa(256), ClientAuth::Eap);
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| {
            configure(
                c,
                eap_auth(EAP_PASSWORD),
                &pki.ca.cert_der,
                SystemTime::now(),
            )
        });
        expect_tunnel(&lab, &mut d);
        let log = lab.gateway().unwrap().log();
        assert!(
            log.contains("EAP-MS-CHAPv2 succeeded") || log.contains("succeeded"),
            "gateway log:\n{log}"
        );
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn eap_failures_have_plain_words() {
    let (lab, pki) = cert_lab(KeyType::Ecdsa(384), KeyType::Ecdsa(256), ClientAuth::Eap);
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        // The right gateway, a wrong password.
        let mut d = Driver::new(&lab, |c| {
            configure(
                c,
                eap_auth("wrong password"),
                &pki.ca.cert_der,
                SystemTime::now(),
            )
        });
        let err = expect_error(&lab, &mut d);
        assert!(matches!(err, Error::EapFailed { .. }), "{err:?}");
        assert!(
            err.to_string().contains("wrong username or password"),
            "{err}"
        );
        drop(d);

        // A CA that did not issue the gateway's certificate.
        let mut d = Driver::new(&lab, |c| {
            configure(
                c,
                eap_auth(EAP_PASSWORD),
                &pki.other_ca.cert_der,
                SystemTime::now(),
            )
        });
        let err = expect_error(&lab, &mut d);
        assert!(matches!(err, Error::UntrustedCertificate { .. }), "{err:?}");
        assert!(err.to_string().contains("Strait Lab Root CA"), "{err}");
        drop(d);

        // This computer's clock is two years behind: the certificate is not valid yet.
        let past = SystemTime::now() - Duration::from_secs(2 * 365 * 86400);
        let mut d = Driver::new(&lab, |c| {
            configure(c, eap_auth(EAP_PASSWORD), &pki.ca.cert_der, past)
        });
        let err = expect_error(&lab, &mut d);
        assert!(
            matches!(err, Error::CertificateNotYetValid { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("check this computer's clock"),
            "{err}"
        );
        drop(d);

        // Two years later the gateway's one-year certificate has expired.
        let future = SystemTime::now() + Duration::from_secs(2 * 365 * 86400);
        let mut d = Driver::new(&lab, |c| {
            configure(c, eap_auth(EAP_PASSWORD), &pki.ca.cert_der, future)
        });
        let err = expect_error(&lab, &mut d);
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err:?}");
        drop(d);

        // The profile expects another gateway name than the certificate holds.
        let mut d = Driver::new(&lab, |c| {
            configure(
                c,
                eap_auth(EAP_PASSWORD),
                &pki.ca.cert_der,
                SystemTime::now(),
            );
            c.remote_id = Some(Identification::from_text("vpn.other.example"));
        });
        let err = expect_error(&lab, &mut d);
        // We name the gateway we want (IDr), so strongSwan refuses before showing its
        // certificate; the message names both identities.
        assert!(matches!(err, Error::IdentitiesRefused { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("vpn.other.example"), "{text}");
        assert!(text.contains(CLIENT_ID), "{text}");
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn rsa_certificates_both_ways() {
    let (lab, pki) = cert_lab(
        KeyType::Rsa(3072),
        KeyType::Rsa(2048),
        ClientAuth::Certificate,
    );
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        for padding in [RsaPadding::Pkcs1, RsaPadding::Pss] {
            let mut d = Driver::new(&lab, |c| {
                configure(
                    c,
                    cert_auth(&pki, padding),
                    &pki.ca.cert_der,
                    SystemTime::now(),
                )
            });
            expect_tunnel(&lab, &mut d);
            d.sa.close(Instant::now());
            assert!(d.run_until(Duration::from_secs(5), |d| d.sa.is_closed()));
        }
        let log = lab.gateway().unwrap().log();
        assert!(
            log.contains("RSA_EMSA_PSS") || log.contains("RSASSA_PSS"),
            "the gateway saw a PSS signature:\n{log}"
        );
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn ecdsa_certificates_both_ways() {
    for (gw, client) in [
        (KeyType::Ecdsa(256), KeyType::Ecdsa(256)),
        (KeyType::Ecdsa(384), KeyType::Ecdsa(521)),
        (KeyType::Ecdsa(521), KeyType::Ecdsa(384)),
    ] {
        let (lab, pki) = cert_lab(gw, client, ClientAuth::Certificate);
        let ns = lab.ns(Node::Client).unwrap().to_string();
        in_netns(&ns, || {
            let mut d = Driver::new(&lab, |c| {
                configure(
                    c,
                    cert_auth(&pki, RsaPadding::Pkcs1),
                    &pki.ca.cert_der,
                    SystemTime::now(),
                )
            });
            expect_tunnel(&lab, &mut d);
        });
    }
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn long_chains_fragment_ike_auth_both_ways() {
    let lab = Lab::start(Topology::default(), &GatewayConfig::default()).unwrap();
    let dir = lab.dir().join("pki");
    let root = Ca::new(
        &dir,
        "root",
        KeyType::Rsa(4096),
        "C=CH, O=Strait Lab, CN=Strait Lab Root CA",
    )
    .unwrap();
    let inter = root
        .issue(
            "inter",
            KeyType::Rsa(4096),
            "C=CH, O=Strait Lab, CN=Strait Lab Issuing CA",
            &IssueOptions {
                ca: true,
                ..Default::default()
            },
        )
        .unwrap();
    let inter_ca = Ca::from_issued(&dir, inter.clone());
    let issue = |name: &str, id: &str| {
        inter_ca
            .issue(
                name,
                KeyType::Rsa(4096),
                &format!("C=CH, O=Strait Lab, CN={id}"),
                &IssueOptions {
                    sans: vec![id.into()],
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let gw_cert = issue("gateway", GATEWAY_ID);
    let client = issue("client", CLIENT_ID);
    let gw = lab.gateway().unwrap();
    let swanctl = gw.swanctl_dir();
    std::fs::copy(
        &gw_cert.key_der,
        swanctl.join("private").join("gateway.der"),
    )
    .unwrap();
    std::fs::copy(&inter.cert_der, swanctl.join("x509ca").join("inter.der")).unwrap();
    gw.load_config(&gateway_swanctl(
        lab.gateway_addr(),
        &gw_cert.cert_pem,
        GATEWAY_ID,
        &root.issued.cert_pem,
        ClientAuth::Certificate,
        CLIENT_ID,
        LAN_SUBNET,
        VIP_POOL,
        LAN_HOST,
    ))
    .unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| {
            let auth = LocalAuth::Certificate {
                chain: vec![cert(&client.cert_der), cert(&inter.cert_der)],
                key: PrivateKey::from_der(&std::fs::read(&client.key_der).unwrap()).unwrap(),
                rsa_padding: RsaPadding::Pkcs1,
            };
            configure(c, auth, &root.issued.cert_der, SystemTime::now());
            assert!(c.fragmentation, "fragmentation is on by default");
        });
        expect_tunnel(&lab, &mut d);
    });
    let log = lab.gateway().unwrap().log();
    assert!(
        log.contains("received fragment #") && log.contains("reassembled fragmented IKE message"),
        "the gateway reassembled our fragments:\n{log}"
    );
    assert!(
        log.contains("splitting IKE message"),
        "the gateway fragmented its answer (which we reassembled):\n{log}"
    );
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn expired_gateway_certificate_is_refused() {
    let lab = Lab::start(Topology::default(), &GatewayConfig::default()).unwrap();
    let ca = Ca::new(
        &lab.dir().join("pki"),
        "ca",
        KeyType::Ecdsa(256),
        "C=CH, O=Strait Lab, CN=Strait Lab Root CA",
    )
    .unwrap();
    let gw_cert = ca
        .issue(
            "gateway",
            KeyType::Ecdsa(256),
            &format!("C=CH, O=Strait Lab, CN={GATEWAY_ID}"),
            &IssueOptions {
                sans: vec![GATEWAY_ID.into()],
                not_before: Some("01.01.20 00:00:00".into()),
                not_after: Some("01.01.21 00:00:00".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let gw = lab.gateway().unwrap();
    std::fs::copy(
        &gw_cert.key_der,
        gw.swanctl_dir().join("private").join("gateway.der"),
    )
    .unwrap();
    gw.load_config(&gateway_swanctl(
        lab.gateway_addr(),
        &gw_cert.cert_pem,
        GATEWAY_ID,
        &ca.issued.cert_pem,
        ClientAuth::Eap,
        CLIENT_ID,
        LAN_SUBNET,
        VIP_POOL,
        LAN_HOST,
    ))
    .unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| {
            configure(
                c,
                eap_auth(EAP_PASSWORD),
                &ca.issued.cert_der,
                SystemTime::now(),
            )
        });
        let err = expect_error(&lab, &mut d);
        assert!(matches!(err, Error::CertificateExpired { .. }), "{err:?}");
        assert!(err.to_string().contains("2021-01-01"), "{err}");
    });
}
