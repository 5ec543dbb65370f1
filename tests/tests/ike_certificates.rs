//! Certificates and EAP-MSCHAPv2 against the lab's real strongSwan gateway, with our sans-IO
//! IKEv2 initiator: the gateway authenticates with a certificate (RSA or ECDSA) from a PKI
//! made in the test with strongSwan's `pki` tool; the client with EAP-MSCHAPv2 or its own
//! certificate. Negative cases check the plain-words errors: wrong CA, an expired or
//! not-yet-valid gateway certificate (clock skew), an identity the certificate does not name,
//! and a wrong password.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sched::{setns, CloneFlags};
use strait_crypto::CryptoProvider;
use strait_esp::{
    classify_udp4500, EspAlgorithms, EspEncryption, EspIntegrity, InboundSa, Opened, OutboundSa,
    SaConfig, Udp4500Kind, UdpEncap,
};
use strait_ike::v2::cert::{Cert, PrivateKey, RsaPadding};
use strait_ike::v2::proposal_wire::{encr_id, integ_id, NegotiatedEsp};
use strait_ike::v2::wire::Identification;
use strait_ike::v2::{ChildSaInfo, Config, Error, Event, IkeSa, LocalAuth, Retransmit};
use strait_interop::pki::{
    gateway_swanctl, Ca, ClientAuth, IssueOptions, Issued, KeyType, EAP_PASSWORD, EAP_USER,
};
use strait_interop::{GatewayConfig, Lab, Node, Topology, LAN_HOST, LAN_SUBNET, VIP_POOL};

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
