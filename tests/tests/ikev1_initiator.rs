//! Strait's sans-IO IKEv1 initiator (`strait_ike::v1`) and ESP (`strait-esp`) against the
//! lab's real strongSwan gateway configured for IKEv1, driven by the minimal UDP loop of
//! `tests/src/driver.rs` in the client namespace.
//!
//! Every successful scenario proves its tunnel with an ICMP echo that we seal with the
//! negotiated child SA keys and whose reply from the LAN host we open again: only a correct
//! key schedule (SKEYID, IV chains, KEYMAT) on both sides makes that work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use std::path::Path;
use std::time::SystemTime;
use strait_ike::proposal::{EspProposal, IkeProposal};

use strait_ike::cert::{Cert, PrivateKey, RsaPadding};
use strait_ike::v1::{Mode, Options, Xauth};
use strait_ike::v2::wire::{id_type, Identification};
use strait_ike::{Error, Event, LocalAuth};
use strait_interop::driver::*;
use strait_interop::pki::{Ca, IssueOptions, KeyType};
use strait_interop::{GatewayConfig, Lab, Node, Topology, LAN_HOST, LAN_SUBNET, VIP_POOL};

const GATEWAY_ID: &str = "gateway.lab.strait";
const CLIENT_ID: &str = "client.lab.strait";
const GROUP: &str = "strait-group";
const GROUP_PSK: &str = "strait-group-secret-0123";
const XAUTH_USER: &str = "alice";
const XAUTH_PASSWORD: &str = "correct horse battery staple";

const IKE: &str = "aes256-sha256-modp2048";
const ESP_PFS: &str = "aes256-sha256-modp2048";

fn gateway_v1() -> GatewayConfig {
    GatewayConfig {
        version: 1,
        ike_proposals: IKE.into(),
        esp_proposals: ESP_PFS.into(),
        ..GatewayConfig::default()
    }
}

fn main_mode() -> Options {
    Options {
        mode: Mode::Main,
        xauth: None,
    }
}

fn v1_proposals(c: &mut strait_ike::Config) {
    c.ike_proposals = vec![IkeProposal::parse(IKE, false).unwrap()];
    c.esp_proposals = vec![EspProposal::parse(ESP_PFS, false).unwrap()];
}

fn up_or_closed(d: &Driver<strait_ike::v1::Sa>) -> bool {
    !d.children().is_empty() || d.closed().is_some()
}

/// Waits for the first child SA and checks the virtual IP and the ping through it.
fn assert_tunnel(lab: &Lab, d: &mut Driver<strait_ike::v1::Sa>) {
    assert!(
        d.run_until(Duration::from_secs(15), up_or_closed),
        "no child SA; gateway log:\n{}",
        lab.gateway().unwrap().log()
    );
    assert!(
        d.closed().is_none(),
        "closed: {:?}; gateway log:\n{}",
        d.closed(),
        lab.gateway().unwrap().log()
    );
    assert!(d.events.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));
    let child = d.children()[0].clone_info();
    let config = child
        .config
        .clone()
        .expect("Mode Config reply on the first child");
    assert_eq!(
        config.ipv4[0].octets()[..3],
        [198, 19, 100],
        "virtual IP from the pool: {config:?}"
    );
    assert!(config.dns.contains(&LAN_HOST.into()), "DNS: {config:?}");
    // The responder installs its SAs only when our last Quick Mode message arrives (strongSwan
    // sets no commit bit), so the first echo may race it: try a few times.
    let mut answered = false;
    for seq in 1..=3 {
        std::thread::sleep(Duration::from_millis(200));
        if d.ping_through(&child, seq) {
            answered = true;
            break;
        }
    }
    assert!(
        answered,
        "no echo reply through the tunnel; gateway log:\n{}",
        lab.gateway().unwrap().log()
    );
    let sas = lab.gateway().unwrap().list_sas().unwrap();
    assert_eq!(sas.len(), 1, "{sas:?}");
    assert!(sas[0].is_established(), "{sas:?}");
}

fn close_cleanly(lab: &Lab, d: &mut Driver<strait_ike::v1::Sa>) {
    d.sa.close(Instant::now());
    assert!(d.run_until(Duration::from_secs(2), |d| d.closed().is_some()));
    assert!(matches!(d.closed(), Some(None)), "{:?}", d.closed());
    assert!(
        strait_interop::wait_until(Duration::from_secs(5), || lab
            .gateway()
            .unwrap()
            .list_sas()
            .unwrap()
            .is_empty()),
        "the gateway still has our SA after DELETE"
    );
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn main_mode_psk_with_pfs_and_mode_config() {
    let lab = Lab::start(Topology::default(), &gateway_v1()).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new_v1(&lab, main_mode(), v1_proposals);
        assert_tunnel(&lab, &mut d);
        let child = d.children()[0];
        assert_eq!(
            child.algorithms.dh,
            Some(strait_crypto::DhGroup::Modp2048),
            "Quick Mode with PFS"
        );
        assert!(d.sa.udp_encap(), "forced UDP encapsulation through NAT-D");
        assert!(d
            .events
            .iter()
            .any(|e| matches!(e, Event::NatDetected { .. })));
        close_cleanly(&lab, &mut d);
    });
}

/// swanctl.conf of an IKEv1 gateway for a group (`keyid:` identity, group PSK) with XAuth as
/// the second authentication round, in Aggressive Mode.
fn xauth_gateway_conf(lab: &Lab) -> String {
    let addr = lab.gateway_addr();
    format!(
        "connections {{
  lab {{
    version = 1
    aggressive = yes
    proposals = {IKE}
    local_addrs = {addr}
    pools = lab-pool
    local {{
      auth = psk
      id = {GATEWAY_ID}
    }}
    remote {{
      auth = psk
      id = keyid:{GROUP}
    }}
    remote-xauth {{
      auth = xauth
    }}
    children {{
      lan {{
        local_ts = {LAN_SUBNET}
        esp_proposals = {ESP_PFS}
      }}
    }}
  }}
}}
pools {{
  lab-pool {{
    addrs = {VIP_POOL}
    dns = {LAN_HOST}
    split_include = {LAN_SUBNET}
    28674 = lab.strait
  }}
}}
secrets {{
  ike-group {{
    id-gw = {GATEWAY_ID}
    id-group = keyid:{GROUP}
    secret = \"{GROUP_PSK}\"
  }}
  xauth-alice {{
    id = {XAUTH_USER}
    secret = \"{XAUTH_PASSWORD}\"
  }}
}}
"
    )
}

fn xauth_lab() -> Lab {
    let gw = GatewayConfig {
        aggressive_mode_psk: true,
        ..gateway_v1()
    };
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    lab.gateway()
        .unwrap()
        .load_config(&xauth_gateway_conf(&lab))
        .unwrap();
    lab
}

fn group_client(password: &str) -> (Options, impl FnOnce(&mut strait_ike::Config)) {
    let opts = Options {
        mode: Mode::Aggressive,
        xauth: Some(Xauth {
            username: XAUTH_USER.into(),
            password: zeroize::Zeroizing::new(password.into()),
        }),
    };
    let cfg = |c: &mut strait_ike::Config| {
        v1_proposals(c);
        c.local_id = Identification {
            id_type: id_type::KEY_ID,
            data: GROUP.as_bytes().to_vec(),
        };
        c.auth = LocalAuth::Psk(zeroize::Zeroizing::new(GROUP_PSK.as_bytes().to_vec()));
    };
    (opts, cfg)
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn aggressive_mode_group_psk_with_xauth_and_mode_config() {
    let lab = xauth_lab();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let (opts, cfg) = group_client(XAUTH_PASSWORD);
        let mut d = Driver::new_v1(&lab, opts, cfg);
        assert_tunnel(&lab, &mut d);
        let config = d.children()[0].config.clone().unwrap();
        assert!(
            config.dns_domains.iter().any(|x| x == "lab.strait"),
            "Unity default domain from the pool: {config:?}"
        );
        assert_eq!(
            config.subnets,
            [(LAN_SUBNET.split('/').next().unwrap().parse().unwrap(), 24)],
            "Unity split-include: {config:?}"
        );
        let log = lab.gateway().unwrap().log();
        assert!(
            log.contains("XAuth authentication of 'alice' successful"),
            "the gateway checked the XAuth login:\n{log}"
        );
        close_cleanly(&lab, &mut d);
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn wrong_xauth_password_is_reported_in_plain_words() {
    let lab = xauth_lab();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let (opts, cfg) = group_client("wrong password");
        let mut d = Driver::new_v1(&lab, opts, cfg);
        assert!(d.run_until(Duration::from_secs(20), up_or_closed));
        let err = d.closed().cloned().flatten();
        assert_eq!(
            err,
            Some(Error::XauthFailed {
                username: XAUTH_USER.into()
            }),
            "gateway log:\n{}",
            lab.gateway().unwrap().log()
        );
        let text = err.unwrap().to_string();
        assert!(
            text.contains("wrong username or password") && text.contains("alice"),
            "{text}"
        );
        assert!(d.children().is_empty());
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn wrong_psk_is_reported_in_plain_words() {
    let lab = Lab::start(Topology::default(), &gateway_v1()).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new_v1(&lab, main_mode(), |c| {
            v1_proposals(c);
            c.auth = LocalAuth::Psk(zeroize::Zeroizing::new(b"not the lab psk".to_vec()));
        });
        assert!(d.run_until(Duration::from_secs(20), up_or_closed));
        let err = d.closed().cloned().flatten();
        assert!(
            matches!(err, Some(Error::V1PskMismatch { .. })),
            "{err:?}; gateway log:\n{}",
            lab.gateway().unwrap().log()
        );
        let text = err.unwrap().to_string();
        assert!(text.contains("pre-shared key"), "{text}");
        assert!(d.children().is_empty());
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn wrong_group_psk_in_aggressive_mode_fails_the_gateway_hash() {
    let lab = xauth_lab();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let (opts, cfg) = group_client(XAUTH_PASSWORD);
        let mut d = Driver::new_v1(&lab, opts, |c| {
            cfg(c);
            c.auth = LocalAuth::Psk(zeroize::Zeroizing::new(b"wrong group secret".to_vec()));
        });
        assert!(d.run_until(Duration::from_secs(20), up_or_closed));
        let err = d.closed().cloned().flatten();
        assert_eq!(
            err,
            Some(Error::V1PskMismatch {
                detail: "the gateway's HASH did not verify".into()
            })
        );
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn main_mode_psk_behind_nat() {
    let lab = Lab::start(Topology { nat: true }, &gateway_v1()).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new_v1(&lab, main_mode(), |c| {
            v1_proposals(c);
            // Only the real NAT makes the gateway switch to UDP 4500.
            c.force_udp_encap = false;
        });
        assert_tunnel(&lab, &mut d);
        assert!(
            d.events.iter().any(|e| matches!(
                e,
                Event::NatDetected {
                    local_behind_nat: true,
                    ..
                }
            )),
            "{:?}",
            d.events
        );
        assert!(d.sa.udp_encap());
        close_cleanly(&lab, &mut d);
    });
}

fn der_cert(path: &Path) -> Cert {
    Cert::from_der(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn main_mode_rsa_certificates_with_pushed_mode_config() {
    let lab = Lab::start(Topology::default(), &gateway_v1()).unwrap();
    let dir = lab.dir().join("pki");
    let ca = Ca::new(
        &dir,
        "ca",
        KeyType::Rsa(2048),
        "C=CH, O=Strait Lab, CN=Strait Lab Root CA",
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
    let gw_cert = issue("gateway", GATEWAY_ID);
    let client = issue("client", CLIENT_ID);
    let gw = lab.gateway().unwrap();
    std::fs::copy(
        &gw_cert.key_der,
        gw.swanctl_dir().join("private").join("gateway.der"),
    )
    .unwrap();
    // The gateway pushes Mode Config (pull = no): the client must ACK a SET.
    gw.load_config(&format!(
        "connections {{
  lab {{
    version = 1
    proposals = {IKE}
    local_addrs = {addr}
    pools = lab-pool
    pull = no
    local {{
      auth = pubkey
      certs = {gwcert}
      id = {GATEWAY_ID}
    }}
    remote {{
      auth = pubkey
      id = {CLIENT_ID}
      cacerts = {cacert}
    }}
    children {{
      lan {{
        local_ts = {LAN_SUBNET}
        esp_proposals = {ESP_PFS}
      }}
    }}
  }}
}}
pools {{
  lab-pool {{
    addrs = {VIP_POOL}
    dns = {LAN_HOST}
  }}
}}
authorities {{
  lab-ca {{
    cacert = {cacert}
  }}
}}
",
        addr = lab.gateway_addr(),
        gwcert = gw_cert.cert_pem.display(),
        cacert = ca.issued.cert_pem.display(),
    ))
    .unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new_v1(&lab, main_mode(), |c| {
            v1_proposals(c);
            c.auth = LocalAuth::Certificate {
                chain: vec![der_cert(&client.cert_der)],
                key: PrivateKey::from_der(&std::fs::read(&client.key_der).unwrap()).unwrap(),
                rsa_padding: RsaPadding::Pkcs1,
            };
            c.trust_anchors = vec![der_cert(&ca.issued.cert_der)];
            c.wall_clock = Some(SystemTime::now());
        });
        assert_tunnel(&lab, &mut d);
        let log = lab.gateway().unwrap().log();
        assert!(
            log.contains("[ ID CERT SIG ]"),
            "we authenticated with our certificate and an RSA signature:\n{log}"
        );
        assert!(
            log.contains("TRANSACTION request") && log.contains("CPS(") && log.contains("CPA"),
            "the gateway pushed Mode Config and we acknowledged it:\n{log}"
        );
        close_cleanly(&lab, &mut d);
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn dpd_both_ways_and_gateway_initiated_child_rekey() {
    let gw = GatewayConfig {
        dpd_delay: Some(Duration::from_secs(1)),
        ..gateway_v1()
    };
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new_v1(&lab, main_mode(), |c| {
            v1_proposals(c);
            c.dpd_interval = Some(Duration::from_secs(1));
            c.dpd_timeout = Duration::from_secs(3);
        });
        assert_tunnel(&lab, &mut d);
        // Both sides check liveness every second; the SA must survive it.
        d.run_until(Duration::from_secs(4), |d| d.closed().is_some());
        assert!(d.closed().is_none(), "{:?}", d.closed());
        let log = lab.gateway().unwrap().log();
        assert!(
            log.contains("N(DPD)") && log.contains("N(DPD_ACK)"),
            "R-U-THERE and R-U-THERE-ACK in both directions:\n{log}"
        );

        let old = d.children()[0].clone_info();
        let out = lab
            .gateway()
            .unwrap()
            .swanctl(&["--rekey", "--child", "lan"], Duration::from_secs(10))
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            d.run_until(Duration::from_secs(10), |d| d.children().len() >= 2
                || d.closed().is_some()),
            "no rekeyed child; gateway log:\n{}",
            lab.gateway().unwrap().log()
        );
        assert!(d.closed().is_none(), "{:?}", d.closed());
        let mut new = d.children()[1].clone_info();
        assert!(
            new.config.is_none(),
            "the configuration comes with the first child only"
        );
        // The ping helper takes the virtual IP from the child's configuration.
        new.config = old.config.clone();
        assert_eq!(new.replaces, Some(old.spi_in));
        assert_ne!(new.spi_in, old.spi_in);
        assert_eq!(
            new.ts_remote, old.ts_remote,
            "the rekeyed child is narrowed to the split-include networks too"
        );
        let mut answered = false;
        for seq in 10..13 {
            std::thread::sleep(Duration::from_millis(200));
            if d.ping_through(&new, seq) {
                answered = true;
                break;
            }
        }
        assert!(
            answered,
            "no echo through the rekeyed child; gateway log:\n{}",
            lab.gateway().unwrap().log()
        );
        close_cleanly(&lab, &mut d);
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn client_rekeys_child_sa_with_quick_mode_and_deletes_the_old_one() {
    let lab = Lab::start(Topology::default(), &gateway_v1()).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        // A 10 s child lifetime: we rekey 5 s before it ends.
        let mut d = Driver::new_v1(&lab, main_mode(), |c| {
            v1_proposals(c);
            c.child_lifetime = Duration::from_secs(10);
        });
        assert_tunnel(&lab, &mut d);
        let planned = d.sa.rekey_times().child.expect("a child rekey is planned");
        assert!(
            planned < Instant::now() + Duration::from_secs(6),
            "rekey planned early enough"
        );
        let old = d.children()[0].clone_info();
        assert!(
            d.run_until(Duration::from_secs(10), |d| d.children().len() >= 2
                || d.closed().is_some()),
            "no rekey; gateway log:\n{}",
            lab.gateway().unwrap().log()
        );
        assert!(d.closed().is_none(), "{:?}", d.closed());
        let mut new = d.children()[1].clone_info();
        assert_eq!(new.replaces, Some(old.spi_in));
        assert!(d.events.iter().any(|e| matches!(
            e,
            Event::ChildSaDeleted { spi_in, .. } if *spi_in == old.spi_in
        )));
        new.config = old.config.clone();
        let mut answered = false;
        for seq in 20..23 {
            std::thread::sleep(Duration::from_millis(200));
            if d.ping_through(&new, seq) {
                answered = true;
                break;
            }
        }
        assert!(answered, "no echo through the rekeyed child");
        let log = lab.gateway().unwrap().log();
        assert!(
            log.contains("received DELETE for ESP CHILD_SA"),
            "we deleted the old child SA:\n{log}"
        );
        close_cleanly(&lab, &mut d);
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn client_rekeys_isakmp_sa_with_a_new_main_mode_and_children_live_on() {
    let lab = Lab::start(Topology::default(), &gateway_v1()).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        // A 12 s ISAKMP lifetime: we start a new Main Mode about 6 s in.
        let mut d = Driver::new_v1(&lab, main_mode(), |c| {
            v1_proposals(c);
            c.ike_lifetime = Duration::from_secs(12);
        });
        assert_tunnel(&lab, &mut d);
        let old_cookie = d.sa.local_spi();
        assert!(d.sa.rekey_times().ike.is_some());
        assert!(
            d.run_until(Duration::from_secs(10), |d| d
                .events
                .iter()
                .any(|e| matches!(e, Event::IkeSaRekeyed { .. }))
                || d.closed().is_some()),
            "no phase 1 rekey; gateway log:\n{}",
            lab.gateway().unwrap().log()
        );
        assert!(d.closed().is_none(), "{:?}", d.closed());
        assert_ne!(d.sa.local_spi(), old_cookie, "new cookies");
        assert!(d.sa.is_established());
        assert!(
            strait_interop::wait_until(Duration::from_secs(5), || {
                let sas = lab.gateway().unwrap().list_sas().unwrap();
                sas.len() == 1 && sas[0].is_established() && !sas[0].children.is_empty()
            }),
            "the gateway keeps one ISAKMP SA with the children: {:?}\n{}",
            lab.gateway().unwrap().list_sas(),
            lab.gateway().unwrap().log()
        );
        let child = d.children()[0].clone_info();
        let mut answered = false;
        for seq in 30..33 {
            if d.ping_through(&child, seq) {
                answered = true;
                break;
            }
        }
        assert!(
            answered,
            "the child SA still carries traffic after the phase 1 rekey"
        );
        close_cleanly(&lab, &mut d);
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn proposal_mismatches_say_what_we_offered() {
    for (gateway_ike, gateway_esp, what) in [
        ("aes128-sha384-ecp384", ESP_PFS, "IKE"),
        (IKE, "aes128gcm16-ecp384", "ESP"),
    ] {
        let gw = GatewayConfig {
            ike_proposals: gateway_ike.into(),
            esp_proposals: gateway_esp.into(),
            ..gateway_v1()
        };
        let lab = Lab::start(Topology::default(), &gw).unwrap();
        let ns = lab.ns(Node::Client).unwrap().to_string();
        in_netns(&ns, || {
            let mut d = Driver::new_v1(&lab, main_mode(), v1_proposals);
            assert!(d.run_until(Duration::from_secs(20), up_or_closed));
            let err = d.closed().cloned().flatten();
            match &err {
                Some(Error::NoProposalChosen {
                    what: w, offered, ..
                }) => {
                    assert_eq!(*w, what);
                    assert!(offered.contains("AES-256-CBC"), "{offered}");
                    assert!(offered.contains("MODP-2048"), "{offered}");
                }
                other => panic!(
                    "{what}: {other:?}; gateway log:\n{}",
                    lab.gateway().unwrap().log()
                ),
            }
            assert!(err.unwrap().to_string().contains("NO_PROPOSAL_CHOSEN"));
        });
    }
}

/// Libreswan's pluto as a second IKEv1 implementation: phase 1 in Main Mode with a PSK and
/// Mode Config. Its kernel has no ESP here, so Quick Mode cannot complete.
#[test]
#[ignore = "needs root and the unpacked Libreswan package (cargo xtask test runs it)"]
fn libreswan_main_mode_psk_and_mode_config() {
    use strait_interop::libreswan::Pluto;
    let lab = Lab::new(Topology::default()).unwrap();
    let gw = GatewayConfig::default();
    let conf = format!(
        "config setup
    uniqueids=no
    ikev1-policy=accept

conn lab
    ikev2=no
    authby=secret
    left={addr}
    leftid=@{gid}
    leftsubnet=198.19.1.0/24
    leftmodecfgserver=yes
    right=%any
    rightid=@{cid}
    rightmodecfgclient=yes
    rightaddresspool=198.19.100.10-198.19.100.100
    modecfgdns=198.19.1.2
    modecfgpull=yes
    ike=aes256-sha2_256;modp2048
    esp=aes256-sha2_256;modp2048
    auto=add
",
        addr = lab.gateway_addr(),
        gid = gw.gateway_id,
        cid = gw.client_id,
    );
    let secrets = format!(
        "@{} @{} : PSK \"{}\"\n",
        gw.gateway_id, gw.client_id, gw.psk
    );
    let pluto = Pluto::start(&lab, &conf, &secrets, |_| Ok(())).unwrap();
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new_v1(&lab, main_mode(), v1_proposals);
        d.run_until(Duration::from_secs(15), |d| {
            d.events.iter().any(|e| matches!(e, Event::IkeSaUp { .. })) || d.closed().is_some()
        });
        let up = d.events.iter().find_map(|e| match e {
            Event::IkeSaUp { remote_id, .. } => Some(remote_id.clone()),
            _ => None,
        });
        assert_eq!(
            up.as_deref(),
            Some("gateway.lab.strait"),
            "phase 1 and Mode Config with Libreswan; closed: {:?}; pluto log:\n{}",
            d.closed(),
            pluto.log()
        );
        let log = pluto.log();
        assert!(
            log.contains("198.19.100."),
            "pluto leased a virtual IP:\n{log}"
        );
    });
}
