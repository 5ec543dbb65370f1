//! strongSwan's own initiator against the lab's strongSwan gateway.
//!
//! These prove the lab itself: a real IKEv2 PSK tunnel with userspace ESP
//! (UDP 4500) carries traffic from the client namespace to the LAN host, the
//! LAN is unreachable without it, and a wrong PSK gets no SA. The throughput
//! printed here is the reference our own client is benchmarked against.
//!
//! Tests assert (panic) rather than return `Err`: the lab keeps its logs and
//! packet capture only when it is dropped during a panic.

// Helpers outside #[test] fns are test code too: a failed lookup should panic.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use strait_interop::{
    wait_until, GatewayConfig, InitiatorConfig, Lab, Node, Topology, CHILD, LAN_HOST,
};

/// Brings up the reference tunnel in `topology` and returns the lab (the initiator
/// keeps running in it), after asserting that it carries a ping the gateway accounts for.
fn reference_tunnel(topology: Topology) -> Lab {
    let started = Instant::now();
    let gateway = GatewayConfig::default();
    let lab = Lab::start(topology, &gateway).unwrap();
    eprintln!(
        "lab {} ({topology:?}) with gateway up in {:?}",
        lab.id(),
        started.elapsed()
    );

    assert!(
        lab.ping(Node::Client, lab.gateway_addr()),
        "client cannot reach the gateway's outside address"
    );
    assert!(
        !lab.ping(Node::Client, LAN_HOST),
        "the LAN host answered without a tunnel: the gateway's forward filter is missing"
    );

    let initiator = lab
        .start_reference_initiator(&InitiatorConfig::matching(&gateway, lab.gateway_addr()))
        .unwrap();
    let t = Instant::now();
    let out = initiator.initiate(Duration::from_secs(15)).unwrap();
    assert!(
        out.status.success(),
        "reference initiator failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        initiator.log()
    );
    eprintln!("IKE_SA + CHILD_SA established in {:?}", t.elapsed());

    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the tunnel"
    );
    eprintln!("first ping through the tunnel after {:?}", t.elapsed());

    let sas = lab.gateway().unwrap().list_sas().unwrap();
    assert!(
        sas.len() == 1,
        "gateway should have exactly one IKE SA: {sas:?}"
    );
    let ike = &sas[0];
    assert!(ike.is_established(), "IKE SA not established: {ike:?}");
    assert!(
        ike.algorithms == "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256",
        "IKE algorithms: {}",
        ike.algorithms
    );
    assert!(
        ike.remote_addr == format!("{}[4500]", lab.client_addr_seen_by_gateway()),
        "gateway sees the client at {}",
        ike.remote_addr
    );
    assert!(
        ike.remote_vips.len() == 1 && ike.remote_vips[0].starts_with("198.19.100."),
        "virtual IP from the pool: {:?}",
        ike.remote_vips
    );
    let child = ike
        .children
        .iter()
        .find(|c| c.name == CHILD)
        .expect("no lab CHILD_SA on the gateway");
    assert!(child.state == "INSTALLED", "CHILD_SA state {}", child.state);
    // kernel-libipsec always encapsulates ESP in UDP.
    assert!(
        child.mode == "TUNNEL-in-UDP",
        "CHILD_SA mode {}",
        child.mode
    );
    assert!(
        child.bytes_in > 0 && child.bytes_out > 0,
        "no traffic counted on the CHILD_SA: {child:?}"
    );

    // On the client's wire the tunnelled pings were ESP in UDP 4500.
    if let Some(pcap) = lab.pcap_path() {
        let pcap = pcap.display().to_string();
        let count = |filter: &str| {
            let out = lab
                .exec(Node::Client, &["tcpdump", "-r", &pcap, "-n", filter])
                .unwrap();
            String::from_utf8_lossy(&out.stdout).lines().count()
        };
        assert!(
            count("udp port 4500") > 0,
            "no UDP-encapsulated ESP on the client's wire"
        );
        // Only the deliberate probe before the tunnel went out in the clear
        // (and was dropped by the gateway); nothing came back in the clear.
        assert_eq!(
            count("icmp and dst host 198.19.1.2"),
            1,
            "plain ICMP to the LAN host on the wire"
        );
        assert_eq!(
            count("icmp and src host 198.19.1.2"),
            0,
            "plain ICMP from the LAN host on the wire"
        );
    }

    // The client got the virtual IP on its TUN device.
    let addrs = lab.exec(Node::Client, &["ip", "-4", "-o", "addr"]).unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(
        addrs.contains(&ike.remote_vips[0]),
        "virtual IP not on the client: {addrs}"
    );
    lab
}

#[test]
#[ignore = "needs root and strongSwan; run by `cargo xtask test`"]
fn strongswan_reference_tunnel_psk() {
    let lab = reference_tunnel(Topology::default());

    let before = lab.gateway().unwrap().list_sas().unwrap();
    let before_in = before[0].children[0].bytes_in;
    // Capturing every packet would slow the reference down.
    lab.stop_capture().unwrap();
    let throughput = lab.iperf3(Node::Lan, LAN_HOST, Node::Client, 3).unwrap();
    eprintln!("REFERENCE strongSwan initiator -> strongSwan gateway (kernel-libipsec both ends), 1 TCP stream: {throughput}");
    assert!(throughput.bytes > 0, "iperf3 moved nothing");

    // The transfer went through the tunnel: the gateway's inbound counter grew
    // by at least the TCP payload iperf3 received.
    let after = lab.gateway().unwrap().list_sas().unwrap();
    let after_in = after[0].children[0].bytes_in;
    assert!(
        after_in.saturating_sub(before_in) >= throughput.bytes,
        "gateway counted {} bytes in, iperf3 received {}",
        after_in.saturating_sub(before_in),
        throughput.bytes
    );
}

#[test]
#[ignore = "needs root and strongSwan; run by `cargo xtask test`"]
fn strongswan_reference_tunnel_psk_behind_nat() {
    let lab = reference_tunnel(Topology { nat: true });
    assert!(
        lab.ping(Node::Client, LAN_HOST),
        "tunnel stopped carrying traffic"
    );
}

#[test]
#[ignore = "needs root and strongSwan; run by `cargo xtask test`"]
fn strongswan_reference_wrong_psk_gets_no_sa() {
    let gateway = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gateway).unwrap();
    let initiator = lab
        .start_reference_initiator(&InitiatorConfig {
            psk: "not-the-gateway-psk".into(),
            ..InitiatorConfig::matching(&gateway, lab.gateway_addr())
        })
        .unwrap();

    let t = Instant::now();
    let out = initiator.initiate(Duration::from_secs(10)).unwrap();
    let took = t.elapsed();
    eprintln!("wrong PSK refused after {took:?}");
    assert!(!out.status.success(), "initiate succeeded with a wrong PSK");
    assert!(took < Duration::from_secs(10), "refusal took {took:?}");

    let gateway_sas = lab.gateway().unwrap().list_sas().unwrap();
    assert!(
        gateway_sas
            .iter()
            .all(|sa| !sa.is_established() && sa.children.is_empty()),
        "gateway has an SA despite the wrong PSK: {gateway_sas:?}"
    );
    let initiator_sas = initiator.list_sas().unwrap();
    assert!(
        initiator_sas
            .iter()
            .all(|sa| !sa.is_established() && sa.children.is_empty()),
        "initiator has an SA despite the wrong PSK: {initiator_sas:?}"
    );
    let log = lab.gateway().unwrap().log();
    assert!(
        log.contains("MAC mismatched") && log.contains("N(AUTH_FAILED)"),
        "gateway log does not show the PSK refusal:\n{log}"
    );
    assert!(
        !lab.ping(Node::Client, LAN_HOST),
        "LAN reachable without an SA"
    );
}
