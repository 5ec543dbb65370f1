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
