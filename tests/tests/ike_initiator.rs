//! Strait's sans-IO IKEv2 initiator (`strait-ike`) and ESP (`strait-esp`) against the lab's
//! real strongSwan gateway, driven by a minimal UDP loop in the client namespace.
//!
//! No TUN and no service: this checks the protocol libraries alone. The tunnel is proven by
//! an ICMP echo that we seal ourselves with the negotiated child SA keys and whose reply from
//! the LAN host we open again — only correct key derivation on both sides makes that work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use strait_ike::proposal::{EspProposal, IkeProposal};
use strait_ike::v2::wire::{Identification, TrafficSelector};
use strait_ike::{Error, Event, LocalAuth};
use strait_interop::driver::*;
use strait_interop::{GatewayConfig, Lab, Node, Topology, LAN_HOST};

fn lab_with(gateway: &GatewayConfig) -> Lab {
    Lab::start(Topology::default(), gateway).unwrap()
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn psk_tunnel_carries_traffic_and_closes_cleanly() {
    let lab = lab_with(&GatewayConfig::default());
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |_| {});
        assert!(
            d.run_until(Duration::from_secs(10), |d| !d.children().is_empty()
                || d.closed().is_some()),
            "no child SA; gateway log:\n{}",
            lab.gateway().unwrap().log()
        );
        assert!(d.closed().is_none(), "closed: {:?}", d.closed());
        let child = d.children()[0];
        let config = child.config.clone().unwrap();
        assert!(
            config.ipv4[0].octets()[..3] == [198, 19, 100],
            "virtual IP from the pool: {config:?}"
        );
        assert!(
            config.dns.contains(&LAN_HOST.into()),
            "DNS pushed: {config:?}"
        );
        assert_eq!(
            child.ts_remote,
            [TrafficSelector::prefix("198.19.1.0".parse().unwrap(), 24)],
            "the gateway narrowed 0.0.0.0/0 to its LAN"
        );
        assert!(d.events.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));

        let sas = lab.gateway().unwrap().list_sas().unwrap();
        assert_eq!(sas.len(), 1, "{sas:?}");
        assert!(sas[0].is_established(), "{sas:?}");
        assert_eq!(
            sas[0].algorithms, "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256",
            "our default proposals meet the gateway's"
        );

        let child = d.children()[0].clone_info();
        assert!(
            d.ping_through(&child, 1),
            "no echo reply through the tunnel"
        );

        d.sa.close(Instant::now());
        assert!(d.run_until(Duration::from_secs(5), |d| d.closed().is_some()));
        assert!(matches!(d.closed(), Some(None)), "{:?}", d.closed());
        assert!(
            strait_interop::wait_until(Duration::from_secs(3), || lab
                .gateway()
                .unwrap()
                .list_sas()
                .unwrap()
                .is_empty()),
            "the gateway still has our SA after DELETE"
        );
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn cbc_sha2_modp_and_invalid_ke_retry() {
    let gw = GatewayConfig {
        ike_proposals: "aes256-sha256-modp2048".into(),
        esp_proposals: "aes256-sha256".into(),
        ..GatewayConfig::default()
    };
    let lab = lab_with(&gw);
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        // Our first KE is ECP-256 (default set); the gateway answers INVALID_KE_PAYLOAD
        // asking for MODP-2048, and we retry with it.
        let mut d = Driver::new(&lab, |_| {});
        assert!(
            d.run_until(Duration::from_secs(15), |d| !d.children().is_empty()
                || d.closed().is_some())
        );
        assert!(d.closed().is_none(), "closed: {:?}", d.closed());
        let sas = lab.gateway().unwrap().list_sas().unwrap();
        assert_eq!(
            sas[0].algorithms,
            "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
        );
        let log = lab.gateway().unwrap().log();
        assert!(log.contains("N(INVAL_KE)"), "no INVALID_KE round:\n{log}");
        let child = d.children()[0].clone_info();
        assert!(
            d.ping_through(&child, 2),
            "no echo reply through a CBC/HMAC tunnel"
        );
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn failures_have_typed_reasons() {
    let lab = lab_with(&GatewayConfig::default());
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        // Proposals the gateway does not accept.
        let mut d = Driver::new(&lab, |c| {
            c.ike_proposals = vec![IkeProposal::parse("aes128-sha256-modp3072", false).unwrap()];
        });
        assert!(d.run_until(Duration::from_secs(10), |d| d.closed().is_some()));
        let err = d.closed().unwrap().clone().unwrap();
        assert!(
            matches!(err, Error::NoProposalChosen { what: "IKE", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("AES-128-CBC"), "{err}");
        drop(d);

        // A wrong PSK.
        let mut d = Driver::new(&lab, |c| {
            c.auth = LocalAuth::Psk(zeroize::Zeroizing::new(b"not the key".to_vec()));
        });
        assert!(d.run_until(Duration::from_secs(10), |d| d.closed().is_some()));
        let err = d.closed().unwrap().clone().unwrap();
        assert!(
            matches!(err, Error::AuthenticationFailed { ref local_id } if local_id == "client.lab.strait"),
            "{err:?}"
        );
        drop(d);

        // ESP proposals the gateway does not accept (the IKE SA itself works).
        let mut d = Driver::new(&lab, |c| {
            c.esp_proposals = vec![EspProposal::parse("aes128-sha384", false).unwrap()];
        });
        assert!(d.run_until(Duration::from_secs(10), |d| d.closed().is_some()));
        let err = d.closed().unwrap().clone().unwrap();
        assert!(
            matches!(err, Error::NoProposalChosen { what: "ESP", .. }),
            "{err:?}"
        );
        drop(d);

        // Networks the gateway does not protect.
        let mut d = Driver::new(&lab, |c| {
            c.ts_remote = vec![TrafficSelector::prefix("10.0.0.0".parse().unwrap(), 8)];
        });
        assert!(d.run_until(Duration::from_secs(10), |d| d.closed().is_some()));
        let err = d.closed().unwrap().clone().unwrap();
        assert!(matches!(err, Error::TsUnacceptable { .. }), "{err:?}");
        drop(d);

        // The gateway expects a different identity from us.
        let mut d = Driver::new(&lab, |c| {
            c.remote_id = Some(Identification::from_text("someone.else"));
        });
        assert!(d.run_until(Duration::from_secs(10), |d| d.closed().is_some()));
        let err = d.closed().unwrap().clone().unwrap();
        assert!(
            matches!(
                err,
                Error::AuthenticationFailed { .. } | Error::PeerIdMismatch { .. }
            ),
            "{err:?}"
        );
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn no_answer_is_a_timeout_and_a_dead_gateway_is_detected() {
    let lab = lab_with(&GatewayConfig::default());
    let ns = lab.ns(Node::Client).unwrap().to_string();
    // Nothing listens on this address: IKE_SA_INIT goes unanswered.
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| {
            c.remote_addr = SocketAddr::from(([198, 18, 1, 99], 500));
        });
        d.gateway = Ipv4Addr::new(198, 18, 1, 99);
        assert!(d.run_until(Duration::from_secs(20), |d| d.closed().is_some()));
        let err = d.closed().unwrap().clone().unwrap();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    tries: 4,
                    port: 500,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("UDP port 500"), "{err}");
    });
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| c.dpd_interval = Some(Duration::from_secs(1)));
        assert!(d.run_until(Duration::from_secs(10), |d| !d.children().is_empty()));
        // DPD answered while the gateway lives…
        assert!(!d.run_until(Duration::from_secs(3), |d| d.closed().is_some()));
        // …and the gateway vanishes.
        lab.nft(
            Node::Gateway,
            "table inet strait_blackhole {\n  chain input {\n    type filter hook input priority -10;\n    udp dport { 500, 4500 } drop\n  }\n}\n",
        )
        .unwrap();
        assert!(d.run_until(Duration::from_secs(20), |d| d.closed().is_some()));
        let err = d.closed().unwrap().clone().unwrap();
        assert!(matches!(err, Error::DeadPeer), "{err:?}");
    });
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn rekeys_from_both_sides_keep_the_tunnel_up() {
    let gw = GatewayConfig {
        esp_proposals: "aes256gcm16-ecp256".into(),
        child_rekey_time: Some(Duration::from_secs(6)),
        child_life_time: Some(Duration::from_secs(30)),
        // strongSwan's hard IKE lifetime is only 10 % above this; far enough for its own rekey.
        ike_rekey_time: Some(Duration::from_secs(12)),
        ..GatewayConfig::default()
    };
    let lab = lab_with(&gw);
    let ns = lab.ns(Node::Client).unwrap().to_string();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| {
            // PFS on our own rekeys too.
            c.esp_proposals = vec![EspProposal::parse("aes256gcm16-ecp256", false).unwrap()];
            c.child_lifetime = Duration::from_secs(8);
            // The gateway rekeys the IKE SA first (at ≈ 11 s), we rekey its successor later.
            c.ike_lifetime = Duration::from_secs(14);
        });
        assert!(d.run_until(Duration::from_secs(10), |d| !d.children().is_empty()));
        let started = Instant::now();
        d.run_until(Duration::from_secs(28), |d| d.closed().is_some());
        assert!(
            d.closed().is_none(),
            "closed during rekeys: {:?}",
            d.closed()
        );
        let rekeyed_children = d.children().iter().filter(|c| c.replaces.is_some()).count();
        let ike_rekeys = d
            .events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaRekeyed { .. }))
            .count();
        eprintln!(
            "{rekeyed_children} child rekeys, {ike_rekeys} IKE rekeys in {:?}",
            started.elapsed()
        );
        assert!(rekeyed_children >= 2, "child SAs were not rekeyed");
        assert!(ike_rekeys >= 2, "the IKE SA was not rekeyed by both sides");
        // The newest child SA carries traffic.
        let deleted: Vec<u32> = d
            .events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaDeleted { spi_in, .. } => Some(*spi_in),
                _ => None,
            })
            .collect();
        let live = d
            .children()
            .into_iter()
            .rev()
            .find(|c| !deleted.contains(&c.spi_in))
            .expect("a live child SA")
            .clone_info();
        let sas = lab.gateway().unwrap().list_sas().unwrap();
        assert_eq!(sas.len(), 1, "exactly one IKE SA after rekeys: {sas:?}");
        let mut first = d.children()[0].clone_info();
        first.spi_in = live.spi_in;
        first.spi_out = live.spi_out;
        first.encr_in = live.encr_in.clone();
        first.encr_out = live.encr_out.clone();
        first.integ_in = live.integ_in.clone();
        first.integ_out = live.integ_out.clone();
        first.algorithms = live.algorithms;
        assert!(
            d.ping_through(&first, 3),
            "no traffic over the rekeyed child SA"
        );
    });
}

/// §2.8.2 against strongSwan: our IKE SA rekey request is held back until the gateway's own
/// (`swanctl --rekey --ike`) has reached us and been answered (answer held too), then both are
/// sent, ours first, so both exchanges cross for certain. Whichever new SA has the lowest nonce loses (random here): either way
/// one IKE SA remains on both sides, we report one rekey, and the child carries traffic.
#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn simultaneous_ike_rekeys_collide_and_one_sa_survives() {
    let lab = lab_with(&GatewayConfig::default());
    let ns = lab.ns(Node::Client).unwrap().to_string();
    let gw = lab.gateway().unwrap();
    in_netns(&ns, || {
        let mut d = Driver::new(&lab, |c| c.ike_lifetime = Duration::from_secs(8));
        assert!(d.run_until(Duration::from_secs(10), |d| !d.children().is_empty()));
        let at = d.sa.rekey_times().ike.expect("an IKE rekey planned");
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        d.sa.handle_timeout(Instant::now());
        let ours = d.sa.poll_transmit().expect("our IKE SA rekey");
        // IKE header byte 18 is the exchange type; 36 = CREATE_CHILD_SA.
        assert_eq!(ours.data[18], 36, "a CREATE_CHILD_SA request");
        let out = gw
            .swanctl(&["--rekey", "--ike", "lab"], Duration::from_secs(5))
            .unwrap();
        assert!(out.status.success(), "swanctl --rekey: {out:?}");
        // The gateway's request reaches us first; we answer it (the collision is pending).
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(5);
        d.s4500.set_nonblocking(false).unwrap();
        d.s4500
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            let Ok((n, _)) = d.s4500.recv_from(&mut buf) else {
                continue;
            };
            let m = &buf[..n];
            // Non-ESP marker, then an IKE request (no Response flag) of CREATE_CHILD_SA.
            if n > 32 && m[..4] == [0; 4] && m[4 + 18] == 36 && m[4 + 19] & 0x20 == 0 {
                d.sa.handle_datagram(Instant::now(), &m[4..]);
                seen = true;
            } else if n > 4 && m[..4] == [0; 4] {
                d.sa.handle_datagram(Instant::now(), &m[4..]);
            }
        }
        d.s4500.set_nonblocking(true).unwrap();
        assert!(seen, "the gateway's IKE SA rekey never arrived");
        // Ours first, then our answer to the gateway's: strongSwan gets our request while its
        // own is outstanding, so both sides see the collision and compare the nonces.
        let mut m = vec![0u8; 4];
        m.extend_from_slice(&ours.data);
        d.s4500.send_to(&m, (d.gateway, 4500)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        while let Some(t) = d.sa.poll_transmit() {
            let mut m = vec![0u8; 4];
            m.extend_from_slice(&t.data);
            d.s4500.send_to(&m, (d.gateway, 4500)).unwrap();
        }
        d.run_until(Duration::from_secs(4), |d| d.closed().is_some());
        assert!(d.closed().is_none(), "closed: {:?}", d.closed());
        let ike_rekeys = d
            .events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaRekeyed { .. }))
            .count();
        assert_eq!(ike_rekeys, 1, "one IkeSaRekeyed: {:?}", d.events);
        let log = gw.log();
        let collision: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("collision") || l.contains("deleting IKE_SA") || l.contains("rekeyed")
            })
            .collect();
        eprintln!("gateway: {collision:?}");
        assert!(
            collision
                .iter()
                .any(|l| l.contains("collision won") || l.contains("collision lost")),
            "strongSwan did not resolve a collision:\n{log}"
        );
        let sas = gw.list_sas().unwrap();
        assert_eq!(sas.len(), 1, "exactly one IKE SA left: {sas:?}");
        assert_eq!(sas[0].state, "ESTABLISHED");
        assert_eq!(sas[0].children.len(), 1, "the child moved: {sas:?}");
        assert!(d.sa.is_established());
        let child = d.children()[0].clone_info();
        assert!(d.ping_through(&child, 1), "no traffic after the collision");
        // The surviving IKE SA works both ways: the gateway rekeys the child over it, and
        // the new child (keys from the survivor's SK_d) carries traffic.
        let out = gw
            .swanctl(&["--rekey", "--child", "lan"], Duration::from_secs(5))
            .unwrap();
        assert!(out.status.success(), "swanctl --rekey --child: {out:?}");
        assert!(d.run_until(Duration::from_secs(5), |d| d.children().len() >= 2));
        let mut fresh = d.children()[0].clone_info();
        let new = d.children().last().unwrap().clone_info();
        assert_eq!(new.replaces, Some(fresh.spi_in));
        fresh.spi_in = new.spi_in;
        fresh.spi_out = new.spi_out;
        fresh.encr_in = new.encr_in.clone();
        fresh.encr_out = new.encr_out.clone();
        fresh.integ_in = new.integ_in.clone();
        fresh.integ_out = new.integ_out.clone();
        fresh.algorithms = new.algorithms;
        // strongSwan's userspace ESP may still answer on the old child for a moment.
        assert!(
            (2..6).any(|seq| d.ping_through(&fresh, seq)),
            "no traffic over the rekeyed child"
        );
        assert!(d.closed().is_none());
    });
}
