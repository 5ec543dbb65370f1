//! Strait's sans-IO IKEv1 initiator (`strait_ike::v1`) and ESP (`strait-esp`) against the
//! lab's real strongSwan gateway configured for IKEv1, driven by the minimal UDP loop of
//! `tests/src/driver.rs` in the client namespace.
//!
//! Every successful scenario proves its tunnel with an ICMP echo that we seal with the
//! negotiated child SA keys and whose reply from the LAN host we open again: only a correct
//! key schedule (SKEYID, IV chains, KEYMAT) on both sides makes that work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use strait_ike::proposal::{EspProposal, IkeProposal};
use strait_ike::v1::{Mode, Options};
use strait_ike::v2::Event;
use strait_interop::driver::*;
use strait_interop::{GatewayConfig, Lab, Node, Topology, LAN_HOST};

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

fn v1_proposals(c: &mut strait_ike::v2::Config) {
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
