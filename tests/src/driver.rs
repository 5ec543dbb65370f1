//! A minimal UDP loop that drives our sans-IO IKEv2 initiator (`strait-ike`) and ESP
//! (`strait-esp`) against a lab gateway from the client namespace, without TUN or service:
//! the protocol libraries alone. Shared by the interop tests of strongSwan and Libreswan.

// Test harness: a socket or lab call that fails should fail the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
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
use strait_ike::v2::proposal_wire::{encr_id, integ_id, NegotiatedEsp};
use strait_ike::v2::wire::Identification;
use strait_ike::v2::IkeSa;
use strait_ike::{v1, Initiator};
use strait_ike::{ChildSaInfo, Config, Error, Event, LocalAuth, Retransmit, Transmit};

use crate::{GatewayConfig, Lab, LAN_HOST};

/// Runs `f` on a thread inside the lab namespace `ns` (sockets it opens stay there).
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
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

/// What the driver needs from an SA under test: the sans-IO surface that IKEv2's `IkeSa`,
/// IKEv1's `v1::Sa` and the `Initiator` over both share.
pub trait Driven {
    fn poll_transmit(&mut self) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<Event>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn handle_datagram(&mut self, now: Instant, data: &[u8]);
}

macro_rules! driven {
    ($t:ty) => {
        impl Driven for $t {
            fn poll_transmit(&mut self) -> Option<Transmit> {
                <$t>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<Event> {
                <$t>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$t>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$t>::handle_timeout(self, now)
            }
            fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
                <$t>::handle_datagram(self, now, data)
            }
        }
    };
}
driven!(IkeSa);
driven!(v1::Sa);
driven!(Initiator);

/// The UDP sockets of the client and the SA they drive.
pub struct Driver<S: Driven = IkeSa> {
    /// The SA under test.
    pub sa: S,
    s500: UdpSocket,
    /// The NAT-T socket (ESP and IKE with the non-ESP marker).
    pub s4500: UdpSocket,
    /// Where datagrams go.
    pub gateway: Ipv4Addr,
    /// Every event so far, in order.
    pub events: Vec<Event>,
    /// ESP packets received on port 4500.
    pub esp: Vec<Vec<u8>>,
    /// ESP SAs of children already pinged through, by outbound SPI, so that a second ping
    /// continues the sequence numbers instead of replaying them.
    sas: HashMap<u32, (OutboundSa, InboundSa)>,
}

/// The driver's default configuration: the lab gateway's PSK and identities, forced UDP
/// encapsulation (kernel-libipsec), and a quick retransmission schedule.
pub fn lab_config(lab: &Lab) -> Config {
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
    config
}

impl Driver<IkeSa> {
    pub fn new(lab: &Lab, cfg: impl FnOnce(&mut Config)) -> Driver {
        let mut config = lab_config(lab);
        cfg(&mut config);
        let sa = IkeSa::new(config, provider(), Instant::now()).unwrap();
        Driver::with_sa(lab, sa)
    }
}

impl Driver<v1::Sa> {
    /// An IKEv1 SA with the lab's defaults, changed by `cfg`, and `opts`.
    pub fn new_v1(lab: &Lab, opts: v1::Options, cfg: impl FnOnce(&mut Config)) -> Driver<v1::Sa> {
        Driver::try_new_v1(lab, opts, cfg).unwrap()
    }

    /// Like [`Driver::new_v1`], but returns the SA's refusal to start.
    pub fn try_new_v1(
        lab: &Lab,
        opts: v1::Options,
        cfg: impl FnOnce(&mut Config),
    ) -> Result<Driver<v1::Sa>, Error> {
        let mut config = lab_config(lab);
        cfg(&mut config);
        let sa = v1::Sa::new(config, opts, provider(), Instant::now())?;
        Ok(Driver::with_sa(lab, sa))
    }
}

impl<S: Driven> Driver<S> {
    /// Binds the client's sockets around an SA that is already created.
    pub fn with_sa(lab: &Lab, sa: S) -> Driver<S> {
        let s500 = UdpSocket::bind((lab.client_addr(), 500)).unwrap();
        let s4500 = UdpSocket::bind((lab.client_addr(), 4500)).unwrap();
        s500.set_nonblocking(true).unwrap();
        s4500.set_nonblocking(true).unwrap();
        Driver {
            sa,
            s500,
            s4500,
            gateway: lab.gateway_addr(),
            events: Vec::new(),
            esp: Vec::new(),
            sas: HashMap::new(),
        }
    }

    /// Runs the loop until `done` says so or `limit` passes; returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Driver<S>) -> bool) -> bool {
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

    pub fn children(&self) -> Vec<&ChildSaInfo> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaUp(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    pub fn closed(&self) -> Option<&Option<Error>> {
        self.events.iter().find_map(|e| match e {
            Event::Closed { error } => Some(error),
            _ => None,
        })
    }

    /// Seals an ICMP echo to the LAN host with `child`, sends it, and waits for the sealed
    /// reply; true if the LAN host answered through the tunnel.
    pub fn ping_through(&mut self, child: &ChildSaInfo, seq: u16) -> bool {
        let p = provider();
        let (mut out, mut inb) = self
            .sas
            .remove(&child.spi_out)
            .unwrap_or_else(|| esp_pair(&*p, child));
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
        let answered = esp
            .iter()
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
            });
        self.sas.insert(child.spi_out, (out, inb));
        answered
    }
}

pub trait Vip {
    fn config_vip(&self) -> Option<Ipv4Addr>;
}

impl Vip for ChildSaInfo {
    fn config_vip(&self) -> Option<Ipv4Addr> {
        self.config.as_ref().and_then(|c| c.ipv4.first().copied())
    }
}

pub fn provider() -> Arc<dyn CryptoProvider> {
    strait_crypto::default_provider()
}

/// ESP SAs for a child SA, as the service would install them.
pub fn esp_pair(p: &dyn CryptoProvider, c: &ChildSaInfo) -> (OutboundSa, InboundSa) {
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

pub fn esp_algorithms(n: &NegotiatedEsp) -> EspAlgorithms {
    let (id, bits) = encr_id(n.encr);
    let encr = EspEncryption::from_iana(id, bits).unwrap();
    match n.integ {
        None => EspAlgorithms::aead(encr),
        Some(i) => EspAlgorithms::cbc_hmac(encr, EspIntegrity::from_iana(integ_id(i)).unwrap()),
    }
}

pub fn checksum(data: &[u8]) -> u16 {
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
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, seq: u16) -> Vec<u8> {
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

/// ChildSaInfo holds keys and is deliberately not Clone; tests copy what they need.
pub trait CloneInfo {
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
            peer_initiated: self.peer_initiated,
        }
    }
}
