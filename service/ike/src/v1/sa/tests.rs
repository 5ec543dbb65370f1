//! State machine tests against a scripted responder built from the v1 building blocks (wire,
//! proposal, keys, crypt): the whole Main Mode → Mode Config → Quick Mode flow offline, with
//! retransmissions, duplicates and malformed input.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_crypto::{CryptoProvider, DhGroup, HashAlg};

use super::*;
use crate::proposal::{EspProposal, IkeProposal};
use crate::v1::attributes::Attribute;
use crate::v1::crypt::Crypter;
use crate::v1::keys;
use crate::v1::natt;
use crate::v1::proposal as prop;
use crate::v1::transaction::{attr, cfg_type, AttributePayload};
use crate::v1::vendor;
use crate::v1::wire::{parse_chain, IdPayload};
use crate::v2::wire::Identification;

const PSK: &[u8] = b"unit-test-psk";

fn provider() -> Arc<dyn CryptoProvider> {
    strait_crypto::default_provider()
}

fn addrs() -> (SocketAddr, SocketAddr) {
    (
        "198.18.1.2:500".parse().unwrap(),
        "198.18.1.1:500".parse().unwrap(),
    )
}

fn config() -> Config {
    let (local, remote) = addrs();
    let mut c = Config::new(
        Identification::from_text("client.test"),
        LocalAuth::Psk(Zeroizing::new(PSK.to_vec())),
        local,
        remote,
    );
    c.ike_proposals = vec![IkeProposal::parse("aes128-sha256-ecp256", false).unwrap()];
    c.esp_proposals = vec![EspProposal::parse("aes128gcm16-ecp256", false).unwrap()];
    c.remote_id = Some(Identification::from_text("gw.test"));
    c.retransmit = crate::Retransmit {
        timeout: Duration::from_secs(1),
        base: 2.0,
        tries: 2,
    };
    c
}

fn main_opts() -> Options {
    Options {
        mode: Mode::Main,
        xauth: None,
    }
}

fn payloads(msg: &[u8], plain: Option<&[u8]>) -> Vec<RawPayload> {
    let (h, m) = Header::parse(msg).unwrap();
    parse_chain(h.next, plain.unwrap_or(&m[wire::HEADER_LEN..]))
        .unwrap()
        .0
}

fn body(p: &[RawPayload], kind: u8) -> Vec<u8> {
    p.iter().find(|x| x.kind == kind).unwrap().body.clone()
}

/// A scripted IKEv1 responder for one Main Mode PSK exchange.
struct Responder {
    p: Arc<dyn CryptoProvider>,
    ci: u64,
    cr: u64,
    gxi: Vec<u8>,
    gxr: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    sa_i_b: Vec<u8>,
    skeyid: Vec<u8>,
    skeyid_a: Vec<u8>,
    skeyid_d: Vec<u8>,
    crypter: Option<Crypter>,
}

impl Responder {
    fn new() -> Responder {
        Responder {
            p: provider(),
            ci: 0,
            cr: 0x1122334455667788,
            gxi: vec![],
            gxr: vec![],
            ni: vec![],
            nr: vec![0x5a; 32],
            sa_i_b: vec![],
            skeyid: vec![],
            skeyid_a: vec![],
            skeyid_d: vec![],
            crypter: None,
        }
    }

    fn header(&self, exchange: u8, msg_id: u32, next: u8, flags: u8) -> Header {
        Header {
            icookie: self.ci,
            rcookie: self.cr,
            next,
            exchange,
            flags,
            msg_id,
            length: 0,
        }
    }

    fn plain(&self, exchange: u8, p: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let (first, b) = emit_chain(p);
        let mut out = self.header(exchange, 0, first, 0).emit(b.len());
        out.extend_from_slice(&b);
        out
    }

    fn encrypted(&mut self, exchange: u8, msg_id: u32, p: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let (first, b) = emit_chain(p);
        let c = self
            .crypter
            .as_mut()
            .unwrap()
            .encrypt(&*self.p, msg_id, &b)
            .unwrap();
        let mut out = self
            .header(exchange, msg_id, first, flags::ENCRYPTION)
            .emit(c.len());
        out.extend_from_slice(&c);
        out
    }

    fn decrypt(&mut self, msg: &[u8]) -> (Header, Vec<u8>) {
        let (h, m) = Header::parse(msg).unwrap();
        assert_ne!(h.flags & flags::ENCRYPTION, 0, "must be encrypted");
        let cr = self.crypter.as_mut().unwrap();
        let (plain, iv) = cr
            .decrypt(&*self.p, h.msg_id, &m[wire::HEADER_LEN..])
            .unwrap();
        cr.advance(h.msg_id, iv);
        (h, plain)
    }

    fn prf(&self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        keys::prf(&*self.p, HashAlg::Sha256, key, parts).unwrap()
    }

    /// MM1 → MM2: choose the first transform, announce NAT-T and DPD.
    fn mm2(&mut self, mm1: &[u8]) -> Vec<u8> {
        let (h, _) = Header::parse(mm1).unwrap();
        assert_eq!(h.exchange, wire::exchange::MAIN);
        self.ci = h.icookie;
        let pl = payloads(mm1, None);
        self.sa_i_b = body(&pl, payload::SA);
        let vids: Vec<Vec<u8>> = pl
            .iter()
            .filter(|p| p.kind == payload::VENDOR_ID)
            .map(|p| p.body.clone())
            .collect();
        assert!(vids.contains(&vendor::NATT_RFC3947.to_vec()));
        assert!(vids.contains(&vendor::DPD.to_vec()));
        let offer = prop::phase1_transforms(&config().ike_proposals).unwrap();
        let sa = prop::phase1_sa(
            &offer[..1],
            prop::auth_method::PSK,
            Duration::from_secs(3600),
        );
        self.plain(
            wire::exchange::MAIN,
            &[
                (payload::SA, sa),
                (payload::VENDOR_ID, vendor::NATT_RFC3947.to_vec()),
                (payload::VENDOR_ID, vendor::DPD.to_vec()),
            ],
        )
    }

    /// MM3 → MM4: key exchange; NAT-D saying "no NAT".
    fn mm4(&mut self, mm3: &[u8]) -> Vec<u8> {
        let pl = payloads(mm3, None);
        self.gxi = body(&pl, payload::KE);
        self.ni = body(&pl, payload::NONCE);
        let nat_d: Vec<_> = pl.iter().filter(|p| p.kind == payload::NAT_D).collect();
        assert_eq!(nat_d.len(), 2, "NAT-D for both ends");
        let dh = self.p.key_exchange(DhGroup::Ecp256).unwrap();
        self.gxr = dh.public_key().to_vec();
        let gxy = dh.complete(&self.gxi).unwrap();
        let (local, remote) = addrs();
        let d = |a| natt::nat_d(&*self.p, HashAlg::Sha256, self.ci, self.cr, a).unwrap();
        assert_eq!(
            nat_d[0].body,
            d(remote),
            "first NAT-D is the gateway's address"
        );
        assert_eq!(nat_d[1].body, d(local));
        let skeyid = keys::skeyid_psk(&*self.p, HashAlg::Sha256, PSK, &self.ni, &self.nr).unwrap();
        self.skeyid = skeyid.to_vec();
        let k = keys::derive(
            &*self.p,
            HashAlg::Sha256,
            skeyid,
            &gxy,
            self.ci,
            self.cr,
            16,
        )
        .unwrap();
        self.skeyid_a = k.skeyid_a.to_vec();
        self.skeyid_d = k.skeyid_d.to_vec();
        let iv = keys::phase1_iv(&*self.p, HashAlg::Sha256, &self.gxi, &self.gxr, 16).unwrap();
        let cipher = self
            .p
            .cbc(strait_crypto::CipherAlg::Aes128Cbc, &k.enc_key)
            .unwrap();
        self.crypter = Some(Crypter::new(cipher, HashAlg::Sha256, 16, iv));
        self.plain(
            wire::exchange::MAIN,
            &[
                (payload::KE, self.gxr.clone()),
                (payload::NONCE, self.nr.clone()),
                (payload::NAT_D, d(local)),
                (payload::NAT_D, d(remote)),
            ],
        )
    }

    /// MM5 → MM6: check HASH_I, answer with our ID and HASH_R (`good` = with the right key).
    fn mm6(&mut self, mm5: &[u8], good: bool) -> Vec<u8> {
        let (h, plain) = self.decrypt(mm5);
        let pl = parse_chain(h.next, &plain).unwrap().0;
        let id_i = body(&pl, payload::ID);
        let (ci, cr) = (self.ci.to_be_bytes(), self.cr.to_be_bytes());
        let want = self.prf(
            &self.skeyid,
            &[&self.gxi, &self.gxr, &ci, &cr, &self.sa_i_b, &id_i],
        );
        assert_eq!(body(&pl, payload::HASH), want, "HASH_I verifies");
        let id_r = IdPayload {
            id_type: 2,
            protocol: 0,
            port: 0,
            data: b"gw.test".to_vec(),
        }
        .emit();
        let mut hash_r = self.prf(
            &self.skeyid,
            &[&self.gxr, &self.gxi, &cr, &ci, &self.sa_i_b, &id_r],
        );
        if !good {
            hash_r[0] ^= 1;
        }
        self.encrypted(
            wire::exchange::MAIN,
            0,
            &[(payload::ID, id_r), (payload::HASH, hash_r)],
        )
    }

    fn check_hash(&self, h: &Header, plain: &[u8], prefix: &[&[u8]]) -> Vec<RawPayload> {
        let (pl, end) = parse_chain(h.next, plain).unwrap();
        let mid = h.msg_id.to_be_bytes();
        let mut parts: Vec<&[u8]> = vec![&mid];
        parts.extend_from_slice(prefix);
        parts.push(&plain[pl[0].end..end]);
        assert_eq!(pl[0].kind, payload::HASH);
        assert_eq!(
            pl[0].body,
            self.prf(&self.skeyid_a, &parts),
            "HASH(1) verifies"
        );
        pl
    }

    fn protected(
        &mut self,
        exchange: u8,
        msg_id: u32,
        prefix: &[&[u8]],
        p: Vec<(u8, Vec<u8>)>,
    ) -> Vec<u8> {
        let (_, rest) = emit_chain(&p);
        let mid = msg_id.to_be_bytes();
        let mut parts: Vec<&[u8]> = vec![&mid];
        parts.extend_from_slice(prefix);
        parts.push(&rest);
        let mut all = vec![(payload::HASH, self.prf(&self.skeyid_a, &parts))];
        all.extend(p);
        self.encrypted(exchange, msg_id, &all)
    }

    /// Mode Config REQUEST → REPLY with an address and DNS.
    fn cfg_reply(&mut self, req: &[u8]) -> Vec<u8> {
        let (h, plain) = self.decrypt(req);
        assert_eq!(h.exchange, wire::exchange::TRANSACTION);
        let pl = self.check_hash(&h, &plain, &[]);
        let ap = AttributePayload::parse(&body(&pl, payload::ATTRIBUTE)).unwrap();
        assert_eq!(ap.cfg_type, cfg_type::REQUEST);
        let reply = AttributePayload {
            cfg_type: cfg_type::REPLY,
            identifier: ap.identifier,
            attrs: vec![
                Attribute::variable(attr::IP4_ADDRESS, vec![10, 9, 0, 7]),
                Attribute::variable(attr::IP4_DNS, vec![10, 9, 0, 1]),
                Attribute::variable(
                    attr::UNITY_SPLIT_INCLUDE,
                    vec![10, 1, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0],
                ),
            ],
        };
        self.protected(
            wire::exchange::TRANSACTION,
            h.msg_id,
            &[],
            vec![(payload::ATTRIBUTE, reply.emit())],
        )
    }

    /// QM1 → QM2: accept AES-GCM with PFS, echo the IDs; returns QM2 and the keys the
    /// responder derives (its inbound = the client's outbound).
    fn qm2(&mut self, qm1: &[u8], spi_r: u32) -> (Vec<u8>, u32, Vec<u8>, Vec<u8>) {
        let (h, plain) = self.decrypt(qm1);
        assert_eq!(h.exchange, wire::exchange::QUICK);
        let pl = self.check_hash(&h, &plain, &[]);
        let ni = body(&pl, payload::NONCE);
        let ke_i = body(&pl, payload::KE);
        let ids: Vec<Vec<u8>> = pl
            .iter()
            .filter(|p| p.kind == payload::ID)
            .map(|p| p.body.clone())
            .collect();
        assert_eq!(ids.len(), 2);
        let sa_i = body(&pl, payload::SA);
        let spi_i = prop::first_spi(&sa_i).unwrap();
        let offer = prop::esp_transforms(&config().esp_proposals).unwrap();
        let sa = prop::quick_sa(
            &[vec![offer[0][0]]],
            spi_r,
            Some(DhGroup::Ecp256),
            prop::encap::TUNNEL,
            Duration::from_secs(3600),
        );
        let dh = self.p.key_exchange(DhGroup::Ecp256).unwrap();
        let ke_r = dh.public_key().to_vec();
        let gqm = dh.complete(&ke_i).unwrap();
        let nr = vec![0x77; 24];
        let qm2 = self.protected(
            wire::exchange::QUICK,
            h.msg_id,
            &[&ni],
            vec![
                (payload::SA, sa),
                (payload::NONCE, nr.clone()),
                (payload::KE, ke_r),
                (payload::ID, ids[0].clone()),
                (payload::ID, ids[1].clone()),
            ],
        );
        self.ni = ni.clone();
        self.nr = nr.clone();
        let km = |spi| {
            keys::keymat(
                &*self.p,
                HashAlg::Sha256,
                &self.skeyid_d,
                Some(&gqm),
                3,
                spi,
                &ni,
                &nr,
                20,
            )
            .unwrap()
            .to_vec()
        };
        (qm2, spi_i, km(spi_r), km(spi_i))
    }
}

fn transmits(sa: &mut Sa) -> Vec<Transmit> {
    std::iter::from_fn(|| sa.poll_transmit()).collect()
}

fn events(sa: &mut Sa) -> Vec<Event> {
    std::iter::from_fn(|| sa.poll_event()).collect()
}

#[test]
fn main_mode_mode_config_quick_mode_against_a_scripted_responder() {
    let t0 = Instant::now();
    let mut sa = Sa::new(config(), main_opts(), provider(), t0).unwrap();
    let mut r = Responder::new();
    let mm1 = transmits(&mut sa).remove(0);
    assert!(!mm1.udp_encap);
    sa.handle_datagram(t0, &r.mm2(&mm1.data));
    let mm3 = transmits(&mut sa).remove(0);
    // The gateway's MM2 again (our MM1 retransmission crossed it): ignored.
    sa.handle_datagram(t0, &r.mm2(&mm1.data));
    assert!(transmits(&mut sa).is_empty());
    assert!(!sa.is_closed());
    let mm4 = r.mm4(&mm3.data);
    sa.handle_datagram(t0, &mm4);
    assert!(matches!(
        events(&mut sa)[..],
        [Event::NatDetected {
            local_behind_nat: false,
            remote_behind_nat: false
        }]
    ),);
    let mm5 = transmits(&mut sa).remove(0);
    assert!(!mm5.udp_encap, "no NAT, no float");
    // A repeated MM4 (the gateway did not see our MM5) changes nothing.
    sa.handle_datagram(t0, &mm4);
    assert!(transmits(&mut sa).is_empty());
    sa.handle_datagram(t0, &r.mm6(&mm5.data, true));
    assert!(!sa.is_established(), "Mode Config is still to come");
    // We wait briefly for a push, then pull: the gateway answered at once (no measured round
    // trip), so the wait is the shortest.
    let wake = sa.poll_timeout().unwrap();
    assert_eq!(wake, t0 + super::PUSH_WAIT_MIN);
    sa.handle_timeout(wake);
    let req = transmits(&mut sa).remove(0);
    sa.handle_datagram(wake, &r.cfg_reply(&req.data));
    assert!(
        matches!(events(&mut sa)[..], [Event::IkeSaUp { ref remote_id, .. }] if remote_id == "gw.test")
    );
    assert!(sa.is_established());
    // The responder echoed an hour; we re-key phase 1 before it ends.
    let ike = sa.rekey_times().ike.unwrap();
    assert!(ike > wake + Duration::from_secs(3000) && ike < wake + Duration::from_secs(3600));
    let qm1 = transmits(&mut sa).remove(0);
    let (qm2, spi_i, k_r_in, k_i_in) = r.qm2(&qm1.data, 0xabcd0123);
    sa.handle_datagram(wake, &qm2);
    let qm3 = transmits(&mut sa).remove(0);
    let (h, plain) = r.decrypt(&qm3.data);
    let mid = h.msg_id.to_be_bytes();
    let pl = parse_chain(h.next, &plain).unwrap().0;
    assert_eq!(
        body(&pl, payload::HASH),
        r.prf(&r.skeyid_a, &[&[0], &mid, &r.ni, &r.nr])
    );
    let ev = events(&mut sa);
    let Some(Event::ChildSaUp(c)) = ev.first() else {
        panic!("{ev:?}")
    };
    assert_eq!(c.spi_in, spi_i);
    assert_eq!(c.spi_out, 0xabcd0123);
    assert_eq!(c.algorithms.encr, crate::proposal::Encr::AesGcm16(128));
    assert_eq!(c.algorithms.dh, Some(DhGroup::Ecp256));
    // Keys in our directions: what we send is what the responder receives.
    assert_eq!(c.encr_out.as_slice(), &k_r_in[..]);
    assert_eq!(c.encr_in.as_slice(), &k_i_in[..]);
    let cfg = c.config.as_ref().unwrap();
    assert_eq!(cfg.ipv4, vec![std::net::Ipv4Addr::new(10, 9, 0, 7)]);
    // Unity split-include narrows the 0.0.0.0/0 on the wire.
    assert_eq!(
        c.ts_remote,
        vec![TrafficSelector::prefix("10.1.0.0".parse().unwrap(), 16)]
    );
    assert_eq!(
        c.ts_local,
        vec![TrafficSelector::prefix("10.9.0.7".parse().unwrap(), 32)]
    );
    // A repeated QM2 (our QM3 was lost) is answered with the same QM3.
    sa.handle_datagram(wake, &qm2);
    assert_eq!(transmits(&mut sa)[0].data, qm3.data);
    // A Cisco-style RESPONDER-LIFETIME for the ISAKMP SA brings the phase 1 rekey forward.
    let mut spi = r.ci.to_be_bytes().to_vec();
    spi.extend_from_slice(&r.cr.to_be_bytes());
    let n = crate::v1::wire::Notify {
        protocol: prop::PROTO_ISAKMP,
        notify_type: crate::v1::wire::notify_type::RESPONDER_LIFETIME,
        spi,
        data: crate::v1::attributes::emit(&[
            Attribute::basic(prop::p1::LIFE_TYPE, prop::LIFE_SECONDS),
            Attribute::number(prop::p1::LIFE_DURATION, 600),
        ]),
    };
    let info = r.protected(
        wire::exchange::INFORMATIONAL,
        0x0badcafe,
        &[],
        vec![(payload::NOTIFY, n.emit())],
    );
    sa.handle_datagram(wake, &info);
    let ike = sa.rekey_times().ike.unwrap();
    assert!(
        ike <= wake + Duration::from_secs(540),
        "rekey within the gateway's 600 s"
    );
    // Closing sends DELETEs for the child and the ISAKMP SA.
    sa.close(wake);
    let dels = transmits(&mut sa);
    assert_eq!(dels.len(), 2);
    assert!(matches!(
        events(&mut sa)[..],
        [Event::Closed { error: None }]
    ));
    assert!(sa.is_closed());
}

#[test]
fn wrong_hash_r_is_a_psk_mismatch() {
    let t0 = Instant::now();
    let mut sa = Sa::new(config(), main_opts(), provider(), t0).unwrap();
    let mut r = Responder::new();
    let mm1 = transmits(&mut sa).remove(0);
    sa.handle_datagram(t0, &r.mm2(&mm1.data));
    let mm3 = transmits(&mut sa).remove(0);
    sa.handle_datagram(t0, &r.mm4(&mm3.data));
    let mm5 = transmits(&mut sa).remove(0);
    sa.handle_datagram(t0, &r.mm6(&mm5.data, false));
    let ev = events(&mut sa);
    assert!(
        matches!(
            ev.last(),
            Some(Event::Closed {
                error: Some(Error::V1PskMismatch { .. })
            })
        ),
        "{ev:?}"
    );
}

#[test]
fn retransmits_then_times_out_saying_ikev1() {
    let t0 = Instant::now();
    let mut sa = Sa::new(config(), main_opts(), provider(), t0).unwrap();
    let first = transmits(&mut sa).remove(0);
    let mut sends = 1;
    while let Some(now) = sa.poll_timeout() {
        sa.handle_timeout(now);
        for x in transmits(&mut sa) {
            assert_eq!(x.data, first.data, "retransmissions are byte-identical");
            sends += 1;
        }
        assert!(now < t0 + Duration::from_secs(60));
    }
    assert_eq!(sends, 3, "one send and two retries");
    let ev = events(&mut sa);
    let Some(Event::Closed { error: Some(e) }) = ev.last() else {
        panic!("{ev:?}")
    };
    assert!(matches!(
        e,
        Error::V1Timeout {
            stage: Stage::MainMode,
            tries: 3,
            port: 500
        }
    ));
    assert!(e.to_string().contains("IKEv1"), "{e}");
}

#[test]
fn eap_and_aead_only_profiles_are_refused_in_plain_words() {
    let mut c = config();
    c.auth = LocalAuth::Eap {
        identity: b"alice".to_vec(),
        username: "alice".into(),
        password: Zeroizing::new("pw".into()),
    };
    let e = Sa::new(c, main_opts(), provider(), Instant::now()).unwrap_err();
    assert!(e.to_string().contains("EAP exists only in IKEv2"), "{e}");
    let mut c = config();
    c.ike_proposals = vec![IkeProposal::parse("aes256gcm16-prfsha256-ecp256", false).unwrap()];
    let e = Sa::new(c, main_opts(), provider(), Instant::now()).unwrap_err();
    assert!(e.to_string().contains("aes256-sha256-modp2048"), "{e}");
}

#[test]
fn aggressive_mode_sends_the_group_name_and_key_exchange_at_once() {
    let mut c = config();
    c.local_id = Identification {
        id_type: crate::v2::wire::id_type::KEY_ID,
        data: b"vpn-group".to_vec(),
    };
    let opts = Options {
        mode: Mode::Aggressive,
        xauth: Some(Xauth {
            username: "bob".into(),
            password: Zeroizing::new("secret".into()),
        }),
    };
    let mut sa = Sa::new(c, opts, provider(), Instant::now()).unwrap();
    let am1 = transmits(&mut sa).remove(0);
    let (h, _) = Header::parse(&am1.data).unwrap();
    assert_eq!(h.exchange, wire::exchange::AGGRESSIVE);
    let pl = payloads(&am1.data, None);
    let id = IdPayload::parse(&body(&pl, payload::ID)).unwrap();
    assert_eq!((id.id_type, id.data.as_slice()), (11, &b"vpn-group"[..]));
    assert_eq!(body(&pl, payload::KE).len(), DhGroup::Ecp256.public_len());
    assert!(pl
        .iter()
        .any(|p| p.kind == payload::VENDOR_ID && p.body == vendor::XAUTH));
    // XAuth with a PSK is offered as XAUTHInitPreShared.
    let offer = prop::phase1_transforms(&config().ike_proposals).unwrap();
    let xauth_sa = prop::phase1_sa(
        &offer,
        prop::auth_method::XAUTH_INIT_PSK,
        Duration::from_secs(86400),
    );
    assert_eq!(body(&pl, payload::SA), xauth_sa);
}

#[test]
fn hostile_datagrams_never_panic_or_change_state() {
    let t0 = Instant::now();
    let mut sa = Sa::new(config(), main_opts(), provider(), t0).unwrap();
    let mm1 = transmits(&mut sa).remove(0).data;
    let mut r = Responder::new();
    let mm2 = r.mm2(&mm1);
    // Truncations and single-byte corruptions of a valid answer, plus noise.
    let mut inputs: Vec<Vec<u8>> = (0..mm2.len()).map(|n| mm2[..n].to_vec()).collect();
    for i in (0..mm2.len()).step_by(3) {
        let mut m = mm2.clone();
        m[i] ^= 0xff;
        inputs.push(m);
    }
    let mut noise = vec![0u8; 300];
    provider().fill_random(&mut noise).unwrap();
    inputs.push(noise);
    for input in &inputs {
        let mut probe = Sa::new(config(), main_opts(), provider(), t0).unwrap();
        let _ = transmits(&mut probe);
        probe.icookie = sa.icookie;
        probe.handle_datagram(t0, input);
        let _ = transmits(&mut probe);
        let _ = events(&mut probe);
    }
    // A message for other cookies is ignored.
    let mut other = mm2.clone();
    other[0] ^= 1;
    sa.handle_datagram(t0, &other);
    assert!(transmits(&mut sa).is_empty());
    assert!(events(&mut sa).is_empty());
    assert!(!sa.is_closed());
}

#[test]
fn unanswered_identity_message_is_reported_as_a_psk_mismatch_after_three_sends() {
    let t0 = Instant::now();
    let mut c = config();
    c.retransmit.tries = 5;
    let mut sa = Sa::new(c, main_opts(), provider(), t0).unwrap();
    let mut r = Responder::new();
    let mm1 = transmits(&mut sa).remove(0);
    sa.handle_datagram(t0, &r.mm2(&mm1.data));
    let mm3 = transmits(&mut sa).remove(0);
    sa.handle_datagram(t0, &r.mm4(&mm3.data));
    let _ = events(&mut sa);
    let mut sends = transmits(&mut sa).len();
    while let Some(now) = sa.poll_timeout() {
        sa.handle_timeout(now);
        sends += transmits(&mut sa).len();
    }
    assert_eq!(sends, 3, "MM5 and two retransmissions");
    let ev = events(&mut sa);
    assert!(
        matches!(
            ev.last(),
            Some(Event::Closed {
                error: Some(Error::V1PskMismatch { .. })
            })
        ),
        "{ev:?}"
    );
}
