//! Strait's sans-IO IKEv2 initiator (`strait-ike`) and ESP (`strait-esp`) against the lab's
//! real strongSwan gateway, driven by a minimal UDP loop in the client namespace.
//!
//! No TUN and no service: this checks the protocol libraries alone. The tunnel is proven by
//! an ICMP echo that we seal ourselves with the negotiated child SA keys and whose reply from
//! the LAN host we open again — only correct key derivation on both sides makes that work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use strait_crypto::CryptoProvider;
use strait_esp::{
    classify_udp4500, EspAlgorithms, EspEncryption, EspIntegrity, InboundSa, Opened, OutboundSa,
    SaConfig, Udp4500Kind, UdpEncap,
};
use strait_ike::proposal::{EspProposal, IkeProposal};
use strait_ike::v2::proposal_wire::{encr_id, integ_id, NegotiatedEsp};
use strait_ike::v2::wire::{Identification, TrafficSelector};
use strait_ike::v2::{ChildSaInfo, Config, Error, Event, IkeSa, LocalAuth, Retransmit};
use strait_interop::{GatewayConfig, Lab, Node, Topology, LAN_HOST};

/// Runs `f` on a thread inside the lab namespace `ns` (sockets it opens stay there).
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = File::open(&path).unwrap();
            setns(fd, CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// The UDP sockets of the client and the SA they drive.
struct Driver {
    sa: IkeSa,
    s500: UdpSocket,
    s4500: UdpSocket,
    gateway: Ipv4Addr,
    events: Vec<Event>,
    /// ESP packets received on port 4500.
    esp: Vec<Vec<u8>>,
}

impl Driver {
    fn new(lab: &Lab, cfg: impl FnOnce(&mut Config)) -> Driver {
        let local = SocketAddr::from((lab.client_addr(), 500));
        let remote = SocketAddr::from((lab.gateway_addr(), 500));
        let gw = GatewayConfig::default();
        let mut config = Config::new(
            Identification::from_text(&gw.client_id),
            LocalAuth::Psk(zeroize::Zeroizing::new(gw.psk.as_bytes().to_vec())),
            local,
            remote,
        );
        config.remote_id = Some(Identification::from_text(&gw.gateway_id));
        // kernel-libipsec on the gateway only does UDP-encapsulated ESP.
        config.force_udp_encap = true;
        config.retransmit = Retransmit {
            timeout: Duration::from_millis(500),
            base: 1.5,
            tries: 3,
        };
        cfg(&mut config);
        let s500 = UdpSocket::bind((lab.client_addr(), 500)).unwrap();
        let s4500 = UdpSocket::bind((lab.client_addr(), 4500)).unwrap();
        s500.set_nonblocking(true).unwrap();
        s4500.set_nonblocking(true).unwrap();
        let sa = IkeSa::new(config, provider(), Instant::now()).unwrap();
        Driver {
            sa,
            s500,
            s4500,
            gateway: lab.gateway_addr(),
            events: Vec::new(),
            esp: Vec::new(),
        }
    }

    /// Runs the loop until `done` says so or `limit` passes; returns whether `done` held.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Driver) -> bool) -> bool {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 65536];
        loop {
            while let Some(t) = self.sa.poll_transmit() {
                if t.udp_encap {
                    let mut d = vec![0u8; 4];
                    d.extend_from_slice(&t.data);
                    self.s4500.send_to(&d, (self.gateway, 4500)).unwrap();
                } else {
                    self.s500.send_to(&t.data, (self.gateway, 500)).unwrap();
                }
            }
            while let Some(e) = self.sa.poll_event() {
                eprintln!("event: {e:?}");
                self.events.push(e);
            }
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            if self.sa.poll_timeout().is_some_and(|t| now >= t) {
                self.sa.handle_timeout(now);
                continue;
            }
            let mut got = false;
            if let Ok((n, _)) = self.s500.recv_from(&mut buf) {
                self.sa.handle_datagram(Instant::now(), &buf[..n]);
                got = true;
            }
            if let Ok((n, _)) = self.s4500.recv_from(&mut buf) {
                match classify_udp4500(&buf[..n]) {
                    Udp4500Kind::Ike(m) => self.sa.handle_datagram(Instant::now(), m),
                    Udp4500Kind::Esp => self.esp.push(buf[..n].to_vec()),
                    _ => {}
                }
                got = true;
            }
            if !got {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn children(&self) -> Vec<&ChildSaInfo> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaUp(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    fn closed(&self) -> Option<&Option<Error>> {
        self.events.iter().find_map(|e| match e {
            Event::Closed { error } => Some(error),
            _ => None,
        })
    }

    /// Seals an ICMP echo to the LAN host with `child`, sends it, and waits for the sealed
    /// reply; true if the LAN host answered through the tunnel.
    fn ping_through(&mut self, child: &ChildSaInfo, seq: u16) -> bool {
        let p = provider();
        let (mut out, mut inb) = esp_pair(&*p, child);
        let vip = child.config_vip().unwrap();
        let packet = icmp_echo(vip, LAN_HOST, seq);
        let mut buf = vec![0u8; 2048];
        let n = out.seal_tunnel(&packet, &mut buf).unwrap();
        self.s4500.send_to(&buf[..n], (self.gateway, 4500)).unwrap();
        self.esp.clear();
        let spi_in = child.spi_in;
        self.run_until(Duration::from_secs(3), |d| {
            d.esp.iter().any(|e| strait_esp::spi_of(e) == Some(spi_in))
        });
        let esp = std::mem::take(&mut self.esp);
        esp.iter()
            .filter(|e| strait_esp::spi_of(e) == Some(spi_in))
            .any(|e| {
                let mut plain = vec![0u8; e.len()];
                match inb.open(e, &mut plain) {
                    Ok(Opened::Packet(d)) => {
                        let ip = &plain[d.range()];
                        // ICMP echo reply (type 0) from the LAN host to our VIP.
                        ip.len() >= 28
                            && ip[9] == 1
                            && ip[12..16] == LAN_HOST.octets()
                            && ip[16..20] == vip.octets()
                            && ip[20] == 0
                    }
                    other => {
                        eprintln!("inbound ESP did not open: {other:?}");
                        false
                    }
                }
            })
    }
}

trait Vip {
    fn config_vip(&self) -> Option<Ipv4Addr>;
}

impl Vip for ChildSaInfo {
    fn config_vip(&self) -> Option<Ipv4Addr> {
        self.config.as_ref().and_then(|c| c.ipv4.first().copied())
    }
}

fn provider() -> Arc<dyn CryptoProvider> {
    strait_crypto::default_provider()
}

/// ESP SAs for a child SA, as the service would install them.
fn esp_pair(p: &dyn CryptoProvider, c: &ChildSaInfo) -> (OutboundSa, InboundSa) {
    let algs = esp_algorithms(&c.algorithms);
    let mut out_cfg = SaConfig::new(c.spi_out, algs);
    out_cfg.encap = Some(UdpEncap::nat_t());
    out_cfg.esn = c.algorithms.esn;
    let mut in_cfg = SaConfig::new(c.spi_in, algs);
    in_cfg.encap = Some(UdpEncap::nat_t());
    in_cfg.esn = c.algorithms.esn;
    (
        OutboundSa::new(p, &out_cfg, &c.encr_out, &c.integ_out).unwrap(),
        InboundSa::new(p, &in_cfg, &c.encr_in, &c.integ_in).unwrap(),
    )
}

fn esp_algorithms(n: &NegotiatedEsp) -> EspAlgorithms {
    let (id, bits) = encr_id(n.encr);
    let encr = EspEncryption::from_iana(id, bits).unwrap();
    match n.integ {
        None => EspAlgorithms::aead(encr),
        Some(i) => EspAlgorithms::cbc_hmac(encr, EspIntegrity::from_iana(integ_id(i)).unwrap()),
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP echo request.
fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x53, 0x54, (seq >> 8) as u8, seq as u8];
    icmp.extend_from_slice(b"strait interop ping payload");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        1,
        0,
        0,
    ];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

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

/// ChildSaInfo holds keys and is deliberately not Clone; tests copy what they need.
trait CloneInfo {
    fn clone_info(&self) -> ChildSaInfo;
}

impl CloneInfo for ChildSaInfo {
    fn clone_info(&self) -> ChildSaInfo {
        ChildSaInfo {
            spi_in: self.spi_in,
            spi_out: self.spi_out,
            algorithms: self.algorithms,
            encr_out: self.encr_out.clone(),
            integ_out: self.integ_out.clone(),
            encr_in: self.encr_in.clone(),
            integ_in: self.integ_in.clone(),
            ts_local: self.ts_local.clone(),
            ts_remote: self.ts_remote.clone(),
            transport_mode: self.transport_mode,
            config: self.config.clone(),
            replaces: self.replaces,
        }
    }
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
