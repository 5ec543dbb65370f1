//! IKEv1 end to end (issue 6): `straitd` and the `strait` CLI against the lab's strongSwan
//! gateway in the legacy scenarios of `strait_interop::ikev1` — Main Mode PSK with Mode Config
//! and Quick Mode PFS, Aggressive Mode with a group name, group PSK and XAuth, Main Mode with
//! RSA certificates, each also behind NAT, and RSA certificates with XAuth — and against
//! Libreswan (Main Mode PSK up to the IKE SA: pluto cannot install a child SA on this kernel,
//! so that test waits out Quick Mode's retransmissions, about 2.5 minutes).
//!
//! The `reference_*` tests first prove each gateway configuration with strongSwan as the
//! IKEv1 initiator in the client namespace, so a failure of the `strait_*` tests is ours.
//! The binaries come from the same `target/` directory as this test:
//! `cargo build -p straitd -p strait-cli && cargo test -p strait-interop --test service_ikev1 \
//! -- --ignored --test-threads 2` (as root).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use strait_interop::ikev1::{V1Scenario, CLIENT_ID, GATEWAY_ID, MAIN_PSK, XAUTH_USER};
use strait_interop::libreswan::Pluto;
use strait_interop::pki::{Ca, IssueOptions, Issued, KeyType};
use strait_interop::{
    wait_until, Charon, GatewayConfig, Lab, Node, Topology, CHILD, LAN_HOST, LAN_SUBNET,
};

/// A lab whose gateway runs `scenario` (certificates: `pki` must hold them, see [`pki`]).
fn lab(scenario: &V1Scenario, topology: Topology) -> Lab {
    let lab = Lab::start(
        topology,
        &GatewayConfig {
            aggressive_mode_psk: scenario.needs_aggressive_psk(),
            ..GatewayConfig::default()
        },
    )
    .unwrap();
    lab.gateway()
        .unwrap()
        .load_config(&scenario.gateway_swanctl(lab.gateway_addr()).unwrap())
        .unwrap();
    lab
}

/// The lab PKI: an RSA CA, the gateway's and the client's RSA certificates (subject and SAN
/// name their identities), the gateway's key installed in its charon.
struct Pki {
    ca: Issued,
    gateway: Issued,
    client: Issued,
}

/// A lab with the Main Mode certificate scenario, with XAuth after phase 1 if `xauth`.
fn cert_lab(topology: Topology, xauth: bool) -> (Lab, Pki, V1Scenario) {
    let lab = Lab::start(topology, &GatewayConfig::default()).unwrap();
    let ca = Ca::new(
        &lab.dir().join("pki"),
        "ca",
        KeyType::Rsa(2048),
        "C=CH, O=Strait Lab, CN=Strait Lab IKEv1 CA",
    )
    .unwrap();
    let issue = |name: &str, id: &str| {
        ca.issue(
            name,
            KeyType::Rsa(2048),
            &format!("C=CH, O=Strait Lab, CN={id}"),
            &IssueOptions {
                sans: vec![id.into()],
                ..Default::default()
            },
        )
        .unwrap()
    };
    let pki = Pki {
        gateway: issue("gateway", GATEWAY_ID),
        client: issue("client", CLIENT_ID),
        ca: ca.issued.clone(),
    };
    let gw = lab.gateway().unwrap();
    std::fs::copy(
        &pki.gateway.key_der,
        gw.swanctl_dir().join("private").join("gateway.der"),
    )
    .unwrap();
    let scenario = if xauth {
        V1Scenario::main_cert_xauth
    } else {
        V1Scenario::main_cert
    };
    let scenario = scenario(
        pki.gateway.cert_pem.clone(),
        pki.client.cert_pem.clone(),
        pki.ca.cert_pem.clone(),
    );
    gw.load_config(&scenario.gateway_swanctl(lab.gateway_addr()).unwrap())
        .unwrap();
    (lab, pki, scenario)
}

fn gateway_log(lab: &Lab) -> String {
    lab.gateway().map(Charon::log).unwrap_or_default()
}

/// The gateway's one IKE SA: established, with a virtual IP from the pool and the child SA
/// installed.
fn assert_gateway_sa(lab: &Lab) -> String {
    let sas = lab.gateway().unwrap().list_sas().unwrap();
    assert_eq!(sas.len(), 1, "{sas:?}\n{}", gateway_log(lab));
    let ike = &sas[0];
    assert!(ike.is_established(), "{ike:?}");
    assert!(
        ike.algorithms
            .contains("AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"),
        "IKE algorithms: {}",
        ike.algorithms
    );
    // strongSwan's initiator floats to port 4500; Strait keeps ephemeral ports.
    assert!(
        ike.remote_addr
            .starts_with(&format!("{}[", lab.client_addr_seen_by_gateway())),
        "the gateway sees the client at {}",
        ike.remote_addr
    );
    // With XAuth, swanctl lists `XAuth: 'alice'` on the same line as the virtual IPs.
    let vips: Vec<&String> = ike
        .remote_vips
        .iter()
        .filter(|v| v.parse::<std::net::Ipv4Addr>().is_ok())
        .collect();
    assert!(
        vips.len() == 1 && vips[0].starts_with("198.19.100."),
        "virtual IP by Mode Config: {ike:?}"
    );
    let child = ike.children.iter().find(|c| c.name == CHILD).unwrap();
    assert_eq!(child.state, "INSTALLED", "{child:?}");
    vips[0].clone()
}

/// strongSwan as the IKEv1 initiator in the client namespace: the tunnel comes up and carries
/// a ping to the LAN host. Returns the initiator's log.
fn reference(lab: &Lab, scenario: &V1Scenario, client_key: Option<&Path>) -> String {
    let initiator = lab
        .start_charon(Node::Client, "initiator", scenario.needs_aggressive_psk())
        .unwrap();
    if let Some(key) = client_key {
        std::fs::copy(
            key,
            initiator.swanctl_dir().join("private").join("client.der"),
        )
        .unwrap();
    }
    initiator
        .load_config(&scenario.initiator_swanctl(lab.gateway_addr()).unwrap())
        .unwrap();
    let t = Instant::now();
    let out = initiator.initiate(Duration::from_secs(20)).unwrap();
    assert!(
        out.status.success(),
        "reference initiator failed:\n{}\ninitiator log:\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        initiator.log(),
        gateway_log(lab)
    );
    eprintln!("IKEv1 phase 1 + Quick Mode in {:?}", t.elapsed());
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the reference tunnel:\n{}",
        initiator.log()
    );
    assert_gateway_sa(lab);
    let log = initiator.log();
    // Quick Mode with PFS: a KE payload in both Quick Mode messages.
    assert!(
        log.contains("QUICK_MODE request 0 [ HASH SA No KE ID ID ]")
            || log.contains("QUICK_MODE request") && log.contains(" KE "),
        "Quick Mode without PFS:\n{log}"
    );
    log
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn reference_main_psk_pfs_modecfg() {
    for nat in [false, true] {
        let s = V1Scenario::main_psk_pfs();
        let lab = lab(&s, Topology { nat });
        let log = reference(&lab, &s, None);
        assert!(log.contains("ID_PROT request 0"), "Main Mode:\n{log}");
        assert!(
            log.contains("installing new virtual IP 198.19.100."),
            "{log}"
        );
        assert!(
            log.contains("installing DNS server 198.19.1.2") || log.contains("DNS"),
            "{log}"
        );
    }
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn reference_aggressive_group_xauth_modecfg() {
    for nat in [false, true] {
        let s = V1Scenario::aggressive_group_xauth();
        let lab = lab(&s, Topology { nat });
        let log = reference(&lab, &s, None);
        assert!(
            log.contains("AGGRESSIVE request 0"),
            "Aggressive Mode:\n{log}"
        );
        let gw = gateway_log(&lab);
        assert!(
            gw.contains(&format!(
                "XAuth authentication of '{XAUTH_USER}' successful"
            )),
            "XAuth on the gateway:\n{gw}"
        );
        assert!(
            gw.contains("U_SPLITINC"),
            "no Unity split include sent:\n{gw}"
        );
    }
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn reference_main_cert() {
    for nat in [false, true] {
        let (lab, pki, s) = cert_lab(Topology { nat }, false);
        let log = reference(&lab, &s, Some(&pki.client.key_der));
        assert!(log.contains("ID_PROT request 0"), "Main Mode:\n{log}");
        assert!(
            log.contains(&format!("authentication of '{GATEWAY_ID}'"))
                || log.contains("CN=gateway.lab.strait"),
            "{log}"
        );
    }
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn reference_main_cert_xauth() {
    let (lab, pki, s) = cert_lab(Topology::default(), true);
    let log = reference(&lab, &s, Some(&pki.client.key_der));
    assert!(log.contains("ID_PROT request 0"), "Main Mode:\n{log}");
    let gw = gateway_log(&lab);
    assert!(
        gw.contains("looking for XAuthInitRSA peer configs")
            && gw.contains(&format!(
                "XAuth authentication of '{XAUTH_USER}' successful"
            )),
        "no XAuth after RSA on the gateway:\n{gw}"
    );
}

// ---------------------------------------------------------------------------------------------
// Libreswan: Main Mode PSK up to the IKE SA (no child SA on this kernel: no kernel ESP).

/// Libreswan 4.10 as an IKEv1 gateway with Mode Config. `leftsubnet` is everything: with a
/// narrower subnet pluto adds it to its Mode Config reply as a 14-byte CISCO_SPLIT_INC and
/// pads the attribute payload with 2 zero bytes, which strongSwan 5.9.8 (and Strait) reject as
/// a malformed attribute, so the exchange would never reach Quick Mode.
fn libreswan_conf(lab: &Lab) -> String {
    format!(
        "config setup
    uniqueids=no
    ikev1-policy=accept

conn lab
    ikev2=no
    aggressive=no
    authby=secret
    left={addr}
    leftid=@{GATEWAY_ID}
    leftsubnet=0.0.0.0/0
    leftmodecfgserver=yes
    right=%any
    rightid=@{CLIENT_ID}
    rightmodecfgclient=yes
    rightaddresspool=198.19.100.10-198.19.100.100
    modecfgpull=yes
    ike=aes256-sha2_256;modp2048
    esp=aes256-sha2_256;modp2048
    auto=add
",
        addr = lab.gateway_addr(),
    )
}

fn libreswan_secrets() -> String {
    format!("@{GATEWAY_ID} @{CLIENT_ID} : PSK \"{MAIN_PSK}\"\n")
}

#[test]
#[ignore = "needs root, strongSwan and the unpacked Libreswan package (cargo xtask test runs it)"]
fn reference_libreswan_main_psk() {
    let lab = Lab::new(Topology::default()).unwrap();
    let pluto = Pluto::start(
        &lab,
        &libreswan_conf(&lab),
        &libreswan_secrets(),
        |_| Ok(()),
    )
    .unwrap();
    let s = V1Scenario::main_psk_pfs();
    let initiator = lab.start_charon(Node::Client, "initiator", false).unwrap();
    initiator
        .load_config(&s.initiator_swanctl(lab.gateway_addr()).unwrap())
        .unwrap();
    let out = initiator.initiate(Duration::from_secs(20)).unwrap();
    let log = initiator.log();
    eprintln!(
        "swanctl --initiate:\n{}\ninitiator log:\n{log}\npluto log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        pluto.log()
    );
    assert!(
        log.contains("IKE_SA lab[1] established between") && log.contains(GATEWAY_ID),
        "no IKEv1 SA with Libreswan:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// Strait itself: straitd + the strait CLI, each scenario directly and behind NAT.

mod strait {
    use super::*;
    use std::path::PathBuf;
    use std::process::Output;
    use strait_interop::ikev1::{GROUP, GROUP_PSK, PFS_PROPOSAL, SPLIT_INCLUDE, XAUTH_PASSWORD};
    use strait_interop::StraitService;

    /// The service under test, with the CLI calls echoed into the test output.
    struct Service {
        inner: StraitService,
    }

    impl Service {
        fn start(lab: &Lab) -> Service {
            Service {
                inner: StraitService::start(lab).unwrap(),
            }
        }

        fn cli(&self, args: &[&str]) -> Output {
            let out = self.inner.cli(args).unwrap();
            eprintln!(
                "$ strait {}\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out
        }

        /// straitd's own output (its log on stderr).
        fn output(&self) -> String {
            self.inner.handle.output()
        }

        fn status_json(&self) -> serde_json::Value {
            let out = self.cli(&["status", "--json"]);
            assert!(out.status.success());
            serde_json::from_slice(&out.stdout).unwrap()
        }

        fn logs(&self) -> String {
            let out = self.cli(&["logs"]);
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout).into_owned()
        }

        /// Imports `profile` and returns what `strait import` printed (both streams).
        fn import(&self, profile: &Path) -> String {
            let out = self.cli(&["import", profile.to_str().unwrap()]);
            assert!(out.status.success(), "import failed");
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        }

        /// `strait connect <id> --secret kind=file…`.
        fn connect(&self, id: &str, secrets: &[(&str, &Path)]) -> Output {
            let mut args = vec!["connect".to_string(), id.to_string()];
            for (kind, file) in secrets {
                args.push("--secret".into());
                args.push(format!("{kind}={}", file.display()));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.cli(&args)
        }

        /// Asserts that none of `secrets` is in straitd's output or in `strait logs`.
        fn assert_no_secret_leaked(&self, secrets: &[&str]) {
            let output = self.output();
            let logs = self.logs();
            for s in secrets {
                assert!(!output.contains(s), "a secret is in straitd's output");
                assert!(!logs.contains(s), "a secret is in `strait logs`");
            }
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A profile `<id>.toml` for the lab gateway speaking `version`, with `auth` lines in [auth]
    /// and the scenario's proposals.
    fn profile(lab: &Lab, id: &str, version: &str, auth: &str) -> PathBuf {
        write(
            lab.dir(),
            &format!("{id}.toml"),
            &format!(
                "name = \"IKEv1 lab\"\ngateway = \"{gw}\"\nversion = \"{version}\"\n\n[auth]\n\
                 {auth}remote_id = \"{GATEWAY_ID}\"\n\n[crypto]\nike = [\"{PFS_PROPOSAL}\"]\n\
                 esp = [\"{PFS_PROPOSAL}\"]\n",
                gw = lab.gateway_addr()
            ),
        )
    }

    fn routes(lab: &Lab) -> String {
        let out = lab.exec(Node::Client, &["ip", "route", "show"]).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The tunnel is up: connected in the status with a virtual IP from the pool (the one the
    /// gateway assigned) and the NAT flag as the topology says, a ping reaches the LAN host.
    fn assert_up(lab: &Lab, svc: &Service, id: &str) {
        let status = svc.status_json();
        let c = &status["connections"][0];
        assert_eq!(c["profile"], id, "{status}");
        assert_eq!(c["state"], "connected", "{status}");
        let vip = c["virtual_ips"][0].as_str().unwrap_or_default();
        assert!(vip.starts_with("198.19.100."), "no virtual IP: {status}");
        // Behind the lab's NAT, NAT-T must see it. Without one the flag is set too: a
        // kernel-libipsec strongSwan fakes a NAT (wrong NAT-D hashes) to force UDP 4500.
        if lab.topology().nat {
            assert_eq!(c["nat"], true, "{status}");
        }
        assert_eq!(c["dns"][0], LAN_HOST.to_string(), "{status}");
        assert_eq!(
            assert_gateway_sa(lab),
            vip,
            "the gateway assigned another address"
        );
        assert!(
            wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
            "no ping through the tunnel; routes:\n{}\nservice log:\n{}",
            routes(lab),
            svc.output()
        );
    }

    /// Disconnects and checks that nothing is left on either side.
    fn disconnect(lab: &Lab, svc: &Service, id: &str) {
        assert!(svc.cli(&["disconnect", id]).status.success());
        let links = lab
            .exec(Node::Client, &["ip", "-o", "link", "show"])
            .unwrap();
        let links = String::from_utf8_lossy(&links.stdout);
        assert!(!links.contains("st-"), "tunnel device left behind: {links}");
        let r = routes(lab);
        assert!(!r.contains("st-"), "routes left behind: {r}");
        assert!(
            !lab.ping(Node::Client, LAN_HOST),
            "LAN reachable after disconnect"
        );
        assert!(
            wait_until(Duration::from_secs(5), || lab
                .gateway()
                .unwrap()
                .list_sas()
                .unwrap()
                .is_empty()),
            "the gateway still has an SA after the disconnect (no DELETE?)"
        );
    }

    #[test]
    #[ignore = "needs root, strongSwan and the straitd/strait binaries (cargo xtask test runs it)"]
    fn strait_main_psk_pfs_modecfg() {
        for nat in [false, true] {
            let s = V1Scenario::main_psk_pfs();
            let lab = lab(&s, Topology { nat });
            let svc = Service::start(&lab);
            let p = profile(
                &lab,
                "v1main",
                "ikev1-main",
                &format!("method = \"psk\"\nlocal_id = \"{CLIENT_ID}\"\n"),
            );
            svc.import(&p);
            let psk = write(lab.dir(), "psk", &format!("{MAIN_PSK}\n"));
            let out = svc.connect("v1main", &[("psk", &psk)]);
            assert!(
                out.status.success(),
                "connect failed (NAT: {nat}); service log:\n{}\ngateway log:\n{}",
                svc.output(),
                gateway_log(&lab)
            );
            assert_up(&lab, &svc, "v1main");
            let gw = gateway_log(&lab);
            assert!(
                gw.contains("parsed ID_PROT request 0"),
                "not Main Mode:\n{gw}"
            );
            assert!(
                gw.contains("parsed QUICK_MODE request") && gw.contains("[ HASH SA No KE ID ID ]"),
                "Quick Mode without PFS:\n{gw}"
            );
            disconnect(&lab, &svc, "v1main");
            svc.assert_no_secret_leaked(&[MAIN_PSK]);
        }
    }

    #[test]
    #[ignore = "needs root, strongSwan and the straitd/strait binaries (cargo xtask test runs it)"]
    fn strait_aggressive_group_xauth_modecfg() {
        const WARNING: &str = "brute-force the pre-shared key offline";
        for nat in [false, true] {
            let s = V1Scenario::aggressive_group_xauth();
            let lab = lab(&s, Topology { nat });
            let svc = Service::start(&lab);
            let p = profile(
                &lab,
                "v1group",
                "ikev1-aggressive",
                &format!(
                    "method = \"xauth-psk\"\nlocal_id = \"keyid:{GROUP}\"\nusername = \"{XAUTH_USER}\"\n"
                ),
            );
            let imported = svc.import(&p);
            assert!(
                imported.contains(WARNING),
                "no warning at import: {imported}"
            );
            let psk = write(lab.dir(), "group-psk", &format!("{GROUP_PSK}\n"));
            let password = write(lab.dir(), "password", &format!("{XAUTH_PASSWORD}\n"));
            let out = svc.connect("v1group", &[("psk", &psk), ("password", &password)]);
            assert!(
                out.status.success(),
                "connect failed (NAT: {nat}); service log:\n{}\ngateway log:\n{}",
                svc.output(),
                gateway_log(&lab)
            );
            assert_up(&lab, &svc, "v1group");
            // The split include became the route into the tunnel (the profile names none).
            let r = routes(&lab);
            assert!(
                r.contains(&format!("{SPLIT_INCLUDE} dev st-v1group")),
                "split include route: {r}"
            );
            let status = svc.status_json();
            let pushed: Vec<&str> = status["connections"][0]["routes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r.as_str())
                .collect();
            assert_eq!(pushed, [LAN_SUBNET], "{status}");
            let gw = gateway_log(&lab);
            assert!(
                gw.contains("parsed AGGRESSIVE request 0"),
                "not Aggressive Mode:\n{gw}"
            );
            assert!(
                gw.contains(&format!(
                    "XAuth authentication of '{XAUTH_USER}' successful"
                )),
                "{gw}"
            );
            // Warned once for this connect, in plain words, in `strait logs`.
            let logs = svc.logs();
            // Exactly once for this connect, and no second wording of it from elsewhere.
            assert_eq!(logs.matches(WARNING).count(), 1, "{logs}");
            assert_eq!(logs.matches("brute-force").count(), 1, "{logs}");
            assert!(logs.contains("Aggressive Mode"), "{logs}");
            disconnect(&lab, &svc, "v1group");
            svc.assert_no_secret_leaked(&[GROUP_PSK, XAUTH_PASSWORD]);
        }
    }

    #[test]
    #[ignore = "needs root, strongSwan and the straitd/strait binaries (cargo xtask test runs it)"]
    fn strait_main_cert() {
        for nat in [false, true] {
            let (lab, pki, _) = cert_lab(Topology { nat }, false);
            let svc = Service::start(&lab);
            std::fs::copy(&pki.client.cert_pem, lab.dir().join("client.pem")).unwrap();
            let p = profile(
                &lab,
                "v1cert",
                "ikev1-main",
                &format!(
                    "method = \"cert\"\nlocal_id = \"{CLIENT_ID}\"\ncertificate = \"client.pem\"\n\
                     ca = [\"pki/ca.pem\"]\n"
                ),
            );
            svc.import(&p);
            let out = svc.connect("v1cert", &[("key", &pki.client.key_pem)]);
            assert!(
                out.status.success(),
                "connect failed (NAT: {nat}); service log:\n{}\ngateway log:\n{}",
                svc.output(),
                gateway_log(&lab)
            );
            assert_up(&lab, &svc, "v1cert");
            let gw = gateway_log(&lab);
            assert!(
                gw.contains("parsed ID_PROT request 0"),
                "not Main Mode:\n{gw}"
            );
            assert!(
                gw.contains(&format!("authentication of '{CLIENT_ID}'"))
                    || gw.contains(&format!("CN={CLIENT_ID}")),
                "{gw}"
            );
            disconnect(&lab, &svc, "v1cert");
            let key = std::fs::read_to_string(&pki.client.key_pem).unwrap();
            let key_body = key.lines().nth(1).unwrap();
            svc.assert_no_secret_leaked(&[key_body]);
        }
    }

    #[test]
    #[ignore = "needs root, strongSwan and the straitd/strait binaries (cargo xtask test runs it)"]
    fn strait_main_cert_xauth() {
        let (lab, pki, _) = cert_lab(Topology::default(), true);
        let svc = Service::start(&lab);
        std::fs::copy(&pki.client.cert_pem, lab.dir().join("client.pem")).unwrap();
        let p = profile(
            &lab,
            "v1certx",
            "ikev1-main",
            &format!(
                "method = \"xauth-cert\"\nlocal_id = \"{CLIENT_ID}\"\n\
                 certificate = \"client.pem\"\nca = [\"pki/ca.pem\"]\nusername = \"{XAUTH_USER}\"\n"
            ),
        );
        let imported = svc.import(&p);
        assert!(
            !imported.contains("brute-force"),
            "no PSK, no warning: {imported}"
        );
        let password = write(lab.dir(), "password", &format!("{XAUTH_PASSWORD}\n"));
        let out = svc.connect(
            "v1certx",
            &[("key", &pki.client.key_pem), ("password", &password)],
        );
        assert!(
            out.status.success(),
            "connect failed; service log:\n{}\ngateway log:\n{}",
            svc.output(),
            gateway_log(&lab)
        );
        assert_up(&lab, &svc, "v1certx");
        let gw = gateway_log(&lab);
        assert!(
            gw.contains("looking for XAuthInitRSA peer configs")
                && gw.contains(&format!(
                    "XAuth authentication of '{XAUTH_USER}' successful"
                )),
            "no XAuth after RSA on the gateway:\n{gw}"
        );
        disconnect(&lab, &svc, "v1certx");
        svc.assert_no_secret_leaked(&[XAUTH_PASSWORD]);
    }

    #[test]
    #[ignore = "needs root, strongSwan and the straitd/strait binaries (cargo xtask test runs it)"]
    fn strait_wrong_xauth_password_and_wrong_group_psk_are_explained() {
        const WRONG_PASSWORD: &str = "not alices password 99";
        const WRONG_PSK: &str = "not the group secret 77";
        let s = V1Scenario::aggressive_group_xauth();
        let lab = lab(&s, Topology::default());
        let svc = Service::start(&lab);
        let p = profile(
            &lab,
            "v1group",
            "ikev1-aggressive",
            &format!(
                "method = \"xauth-psk\"\nlocal_id = \"keyid:{GROUP}\"\nusername = \"{XAUTH_USER}\"\n"
            ),
        );
        svc.import(&p);
        let psk = write(lab.dir(), "group-psk", &format!("{GROUP_PSK}\n"));
        let password = write(lab.dir(), "password", &format!("{XAUTH_PASSWORD}\n"));
        let wrong_psk = write(lab.dir(), "wrong-psk", &format!("{WRONG_PSK}\n"));
        let wrong_password = write(lab.dir(), "wrong-password", &format!("{WRONG_PASSWORD}\n"));

        // No password at all: the CLI or the service names what is missing.
        let out = svc.connect("v1group", &[("psk", &psk)]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("strait secret set v1group password"),
            "missing password not explained: {err}"
        );

        // The right group key, the wrong XAuth password: the gateway refuses the login.
        let out = svc.connect("v1group", &[("psk", &psk), ("password", &wrong_password)]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "the gateway refused the XAuth login for user `{XAUTH_USER}`: wrong username or \
                 password"
            )),
            "wrong XAuth password not explained: {err}\nservice log:\n{}",
            svc.output()
        );
        let gw = gateway_log(&lab);
        assert!(
            gw.contains(&format!("XAuth authentication of '{XAUTH_USER}' failed")),
            "{gw}"
        );

        // The wrong group key: the gateway's reply does not verify with it.
        let out = svc.connect("v1group", &[("psk", &wrong_psk), ("password", &password)]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the pre-shared key (group secret) differs from the gateway's")
                && err.contains("check the PSK (and the group name) in the profile"),
            "wrong group PSK not explained: {err}\nservice log:\n{}",
            svc.output()
        );
        assert!(
            !err.contains(WRONG_PSK) && !err.contains(WRONG_PASSWORD),
            "a secret is in the message"
        );
        // Both failures are in the log; no secret, right or wrong, is.
        let logs = svc.logs();
        assert!(logs.contains("wrong username or password"), "{logs}");
        svc.assert_no_secret_leaked(&[GROUP_PSK, XAUTH_PASSWORD, WRONG_PSK, WRONG_PASSWORD]);
    }

    #[test]
    #[ignore = "needs root, the straitd/strait binaries and the unpacked Libreswan package"]
    fn strait_libreswan_main_psk() {
        let lab = Lab::new(Topology::default()).unwrap();
        let pluto = Pluto::start(
            &lab,
            &libreswan_conf(&lab),
            &libreswan_secrets(),
            |_| Ok(()),
        )
        .unwrap();
        let svc = Service::start(&lab);
        let p = profile(
            &lab,
            "v1pluto",
            "ikev1-main",
            &format!("method = \"psk\"\nlocal_id = \"{CLIENT_ID}\"\n"),
        );
        svc.import(&p);
        let psk = write(lab.dir(), "psk", &format!("{MAIN_PSK}\n"));
        let out = svc.connect("v1pluto", &[("psk", &psk)]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("pluto log:\n{}", pluto.log());
        // The IKE SA (Main Mode, authenticated both ways) comes up ...
        let output = svc.output();
        assert!(
            output.contains(&format!("authenticated the gateway as `{GATEWAY_ID}`")),
            "no IKEv1 SA with Libreswan; service log:\n{output}"
        );
        // ... but pluto cannot install the child SA here: the kernel has no ESP, and pluto
        // then drops our Quick Mode without a word, so what the user reads is that the
        // gateway accepted the login but never set up the tunnel (after four sends, ≈ 45 s).
        assert!(
            !out.status.success(),
            "a child SA with Libreswan on a kernel without ESP?"
        );
        eprintln!("the child SA failure as the user sees it: {err}");
        let pluto_log = pluto.log();
        assert!(
            pluto_log.contains("responding to Quick Mode proposal")
                && pluto_log.contains("netlink response for Add SA"),
            "pluto did not fail where this kernel makes it fail:\n{pluto_log}"
        );
        assert!(
            err.contains("the gateway accepted our login but never answered the tunnel set-up")
                && err.contains("the gateway's log says which"),
            "the child SA failure is not explained: {err}"
        );
        svc.assert_no_secret_leaked(&[MAIN_PSK]);
    }
}
