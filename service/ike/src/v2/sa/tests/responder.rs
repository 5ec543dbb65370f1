//! A deterministic IKEv2 responder ("gateway") for the state machine tests.
//!
//! It implements just enough of RFC 7296 from the gateway's side to drive an [`IkeSa`]
//! through every exchange: IKE_SA_INIT (with optional COOKIE and INVALID_KE_PAYLOAD rounds),
//! IKE_AUTH with a pre-shared key, a CP reply and the first child SA, CREATE_CHILD_SA and
//! INFORMATIONAL in both roles, and IKE SA rekeying in both roles. Knobs make it drop or
//! duplicate packets and answer with error notifies. It never retransmits on its own: the
//! tests decide when (if ever) something is sent again.
//!
//! [`IkeSa`]: super::super::IkeSa

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use strait_crypto::{CryptoProvider, DhGroup, HashAlg, KeyExchange};

use super::super::seal_message;
use crate::cert::{classic_scheme, split_digital_signature, Cert, PrivateKey, RsaPadding, SigHash};
use crate::proposal::{EspProposal, IkeProposal};
use crate::v2::auth::{auth_matches, psk_auth, signed_octets};
use crate::v2::keys::IkeKeys;
use crate::v2::proposal_wire::{choose_esp, choose_ike, esp_to_wire, ike_to_wire, select_esp};
use crate::v2::proposal_wire::{select_ike, NegotiatedEsp};
use crate::v2::sk::SkCrypter;
use crate::v2::wire::{
    auth_method, cfg_attr, cfg_type, notify_type, parse_payload_chain, sk_aad, Authentication,
    Certificate, ConfigAttribute, Configuration, Delete, ExchangeType, Header, HeaderView,
    Identification, KeyExchangePayload, Message, Notify, Payload, Proposal, ProtocolId,
    TrafficSelector, FLAG_INITIATOR, FLAG_RESPONSE,
};

/// One IKE SA as the gateway sees it.
pub struct GwSa {
    /// SPIs in wire order.
    pub spi_i: u64,
    /// Responder SPI in wire order.
    pub spi_r: u64,
    /// The gateway is the original initiator of this SA (it rekeyed it).
    pub initiator: bool,
    /// The SA's keys.
    pub keys: IkeKeys,
    sk_out: SkCrypter,
    sk_in: SkCrypter,
    /// Message ID of the gateway's next request.
    pub next_id: u32,
    /// Message ID expected in the client's next request.
    pub peer_id: u32,
    last_response: Option<(u32, Vec<u8>)>,
    request: Option<GwRequest>,
    /// RFC 7383 fragments of the client's message being reassembled.
    frags: Vec<Option<Vec<u8>>>,
    frag_first: u8,
}

impl GwSa {
    fn new(
        provider: &Arc<dyn CryptoProvider>,
        keys: IkeKeys,
        spi_i: u64,
        spi_r: u64,
        initiator: bool,
    ) -> GwSa {
        let a = keys.algs;
        let (eo, ao, ei, ai) = if initiator {
            (&keys.sk_ei, &keys.sk_ai, &keys.sk_er, &keys.sk_ar)
        } else {
            (&keys.sk_er, &keys.sk_ar, &keys.sk_ei, &keys.sk_ai)
        };
        let sk_out = SkCrypter::new(provider.clone(), a.encr, a.integ, eo, ao).unwrap();
        let sk_in = SkCrypter::new(provider.clone(), a.encr, a.integ, ei, ai).unwrap();
        GwSa {
            spi_i,
            spi_r,
            initiator,
            keys,
            sk_out,
            sk_in,
            next_id: 0,
            peer_id: 0,
            last_response: None,
            request: None,
            frags: Vec::new(),
            frag_first: 0,
        }
    }

    fn matches(&self, h: &Header) -> bool {
        h.spi_i == self.spi_i && h.spi_r == self.spi_r
    }

    fn seal(&mut self, exchange: ExchangeType, id: u32, response: bool, p: &[Payload]) -> Vec<u8> {
        let mut flags = 0;
        if self.initiator {
            flags |= FLAG_INITIATOR;
        }
        if response {
            flags |= FLAG_RESPONSE;
        }
        let header = Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: 0,
            minor_version: 0,
            exchange,
            flags,
            message_id: id,
            length: 0,
        };
        seal_message(&mut self.sk_out, &header, p).unwrap()
    }

    fn open(&mut self, data: &[u8]) -> Option<Vec<Payload>> {
        let parts = sk_aad(data).ok()?;
        let plain = self.sk_in.open(parts.aad, parts.body).ok()?;
        if let Some(f) = parts.fragment {
            // RFC 7383 reassembly, simple: fragments of one message in any order.
            if f.number == 1 {
                self.frag_first = parts.first_inner;
            }
            if self.frags.len() != usize::from(f.total) {
                self.frags = vec![None; usize::from(f.total)];
            }
            self.frags[usize::from(f.number) - 1] = Some(plain);
            if self.frags.iter().any(Option::is_none) {
                return None;
            }
            let whole: Vec<u8> = self.frags.drain(..).flatten().flatten().collect();
            return parse_payload_chain(self.frag_first, &whole).ok();
        }
        parse_payload_chain(parts.first_inner, &plain).ok()
    }
}

/// A request the gateway sent and waits for.
struct GwRequest {
    id: u32,
    data: Vec<u8>,
    pending: GwPending,
}

enum GwPending {
    Dpd,
    DeleteIke,
    DeleteChild(u32),
    RekeyChild {
        old: u32,
        new_spi_in: u32,
        ni: Vec<u8>,
        ke: Option<Box<dyn KeyExchange>>,
        ts: (Vec<TrafficSelector>, Vec<TrafficSelector>),
    },
    RekeyIke {
        new_spi: u64,
        ni: Vec<u8>,
        ke: Box<dyn KeyExchange>,
    },
    Raw,
}

/// A child SA as the gateway sees it (directions from the gateway's point of view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GwChild {
    /// The gateway's inbound SPI (the client's outbound SPI).
    pub spi_in: u32,
    /// The gateway's outbound SPI (the client's inbound SPI).
    pub spi_out: u32,
    /// Keys for packets the gateway receives.
    pub encr_in: Vec<u8>,
    /// Integrity key for packets the gateway receives.
    pub integ_in: Vec<u8>,
    /// Keys for packets the gateway sends.
    pub encr_out: Vec<u8>,
    /// Integrity key for packets the gateway sends.
    pub integ_out: Vec<u8>,
    /// The algorithms.
    pub esp: NegotiatedEsp,
    /// TSi and TSr as in IKE_AUTH (client side first).
    pub ts_i: Vec<TrafficSelector>,
    /// The gateway's side.
    pub ts_r: Vec<TrafficSelector>,
    /// The child was created with a PFS key exchange; the keys without it, for comparison.
    pub keys_without_pfs: Option<Vec<u8>>,
    /// The client rekeyed this child while our own rekey of it was in flight: the new child
    /// the client created, and its exchange's nonces.
    pub collision: Option<(u32, Vec<u8>, Vec<u8>)>,
}

/// A message the gateway received (decrypted, if it was encrypted).
#[derive(Debug, Clone)]
pub struct Rx {
    /// The header.
    pub header: Header,
    /// The payloads (decrypted).
    pub payloads: Vec<Payload>,
}

/// What to do with an SA once a response is sealed.
enum After {
    Nothing,
    Switch(Box<GwSa>),
    CloseCurrent,
    DropOld,
    DropRedundant,
    /// The client deleted the old SA while a crossing rekey of its was pending: it won.
    AdoptCollision,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Which {
    Current,
    Old,
    Redundant,
}

/// State between IKE_SA_INIT and IKE_AUTH.
struct AuthCtx {
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

/// The test gateway.
pub struct Responder {
    provider: Arc<dyn CryptoProvider>,
    /// The PSK it expects and uses.
    pub psk: Vec<u8>,
    /// Its identity (IDr).
    pub id: Identification,
    /// What it accepts for IKE.
    pub ike_proposals: Vec<IkeProposal>,
    /// What it accepts for ESP (DH groups only apply to CREATE_CHILD_SA).
    pub esp_proposals: Vec<EspProposal>,
    /// Its address as the client sees it (NAT detection).
    pub gw_addr: SocketAddr,
    /// The client's address as the gateway sees it.
    pub client_addr: SocketAddr,
    /// The virtual IP it assigns.
    pub vip: Ipv4Addr,
    /// The DNS servers it pushes.
    pub dns: Vec<Ipv4Addr>,
    /// The TSr it answers with (narrowed from the client's 0.0.0.0/0).
    pub ts_r: Vec<TrafficSelector>,

    // ---- knobs ----
    /// Demand this COOKIE in IKE_SA_INIT before anything else.
    pub cookie: Option<Vec<u8>>,
    /// Answer IKE_SA_INIT requests with INVALID_KE_PAYLOAD naming these groups, one per
    /// request, before the normal selection applies.
    pub invalid_ke: VecDeque<u16>,
    /// Answer IKE_SA_INIT with this error notify.
    pub init_error: Option<u16>,
    /// Answer IKE_AUTH with this error notify instead of IDr/AUTH.
    pub auth_error: Option<u16>,
    /// Answer IKE_AUTH with IDr/AUTH, but this error notify instead of the child SA.
    pub child_error: Option<u16>,
    /// Send an AUTH payload that does not verify.
    pub wrong_auth: bool,
    /// Leave the CP reply out.
    pub no_cp: bool,
    /// Answer the next CREATE_CHILD_SA requests with these error notifies.
    pub create_child_errors: VecDeque<u16>,
    /// Drop the next N datagrams from the client.
    pub drop_in: usize,
    /// Authenticate with this certificate (DER) and key instead of the PSK.
    pub cert: Option<(Vec<u8>, PrivateKey)>,
    /// Ask for EAP-MSCHAPv2 with this user name and password (needs `cert`).
    pub eap: Option<(String, String)>,
    /// Where the EAP conversation is (0 = not started, 9 = failed).
    eap_round: u8,
    eap_first: Option<(Vec<Payload>, Identification)>,
    /// What the client answered to EAP-Identity.
    pub eap_identity: Vec<u8>,
    eap_msk: Vec<u8>,
    /// Offer IKE fragmentation (RFC 7383) in IKE_SA_INIT.
    pub fragmentation: bool,
    /// Drop everything from the client.
    pub deaf: bool,
    /// Send each of its own requests twice.
    pub duplicate_requests: bool,
    /// Use this nonce in the next CREATE_CHILD_SA (request or response).
    pub nonce_override: Option<Vec<u8>>,
    /// After its own child rekey, delete the old child at once.
    pub auto_delete: bool,
    /// Handle a client IKE SA rekey that crosses the gateway's own by §2.8.2 (answer it and
    /// keep the SA with the higher nonces) instead of refusing it with TEMPORARY_FAILURE.
    pub rekey_collisions: bool,
    /// Answer CREATE_CHILD_SA on a retired IKE SA with TEMPORARY_FAILURE (else: empty).
    pub refuse_on_old: bool,

    // ---- state ----
    /// The current IKE SA.
    pub sa: Option<GwSa>,
    /// The previous IKE SA after a rekey, until deleted.
    pub old: Option<GwSa>,
    /// The redundant new IKE SA of a simultaneous rekey, until deleted.
    pub redundant: Option<GwSa>,
    /// The client's new IKE SA from a rekey that crossed ours, with its exchange's nonces.
    ike_collision: Option<(GwSa, Vec<u8>, Vec<u8>)>,
    /// Delete the old IKE SA once the client deleted the redundant one (we won, §2.8.2).
    delete_old_after_redundant: bool,
    /// §2.8.2 collisions resolved: whether the gateway's own new SA survived, per collision.
    pub collisions: Vec<bool>,
    /// The initiator SPI the gateway proposed in its last IKE SA rekey.
    pub proposed_ike_spi: Option<u64>,
    auth: Option<AuthCtx>,
    init_cache: Option<(Vec<u8>, Vec<u8>)>,
    /// IKE_AUTH completed.
    pub established: bool,
    /// The client deleted the IKE SA.
    pub closed_by_client: bool,
    /// The child SAs.
    pub children: Vec<GwChild>,
    /// Datagrams to deliver to the client.
    pub outbox: VecDeque<Vec<u8>>,
    /// Every datagram it received and could read.
    pub rx: Vec<Rx>,
    /// Every datagram it received, read or not.
    pub raw_rx: Vec<Vec<u8>>,
    /// Error notifies the client answered the gateway's requests with.
    pub errors_received: Vec<u16>,
    /// Children deleted (gateway inbound SPI), in order.
    pub deleted: Vec<u32>,
    /// IKE SA rekeys completed (either role).
    pub ike_rekeys: usize,
    /// Requests the client sent with ID and exchange, in order (current or old SA).
    pub requests: Vec<(ExchangeType, u32)>,
}

fn notify(t: u16, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify {
        protocol: ProtocolId::Other(0),
        spi: vec![],
        notify_type: t,
        data,
    })
}

fn find<T>(payloads: &[Payload], f: impl Fn(&Payload) -> Option<&T>) -> Option<&T> {
    payloads.iter().find_map(f)
}

fn sa_of(p: &[Payload]) -> Option<&Vec<Proposal>> {
    find(p, |p| match p {
        Payload::Sa(s) => Some(s),
        _ => None,
    })
}

fn nonce_of(p: &[Payload]) -> Option<&Vec<u8>> {
    find(p, |p| match p {
        Payload::Nonce(n) => Some(n),
        _ => None,
    })
}

fn ke_of(p: &[Payload]) -> Option<&KeyExchangePayload> {
    find(p, |p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    })
}

/// The first error notify (< 16384) of a message.
pub fn error_of(p: &[Payload]) -> Option<u16> {
    p.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type < 16384 => Some(n.notify_type),
        _ => None,
    })
}

fn notify_of(p: &[Payload], t: u16) -> Option<&Notify> {
    p.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

fn nonce_min<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if a < b {
        a
    } else {
        b
    }
}

impl Responder {
    /// A gateway with the default proposals, `secret` as PSK and `gw.example.org` as identity.
    pub fn new(client_addr: SocketAddr, gw_addr: SocketAddr) -> Responder {
        Responder {
            provider: strait_crypto::default_provider(),
            psk: b"correct horse battery staple".to_vec(),
            id: Identification::from_text("gw.example.org"),
            ike_proposals: IkeProposal::default_set(),
            esp_proposals: EspProposal::default_set(),
            gw_addr,
            client_addr,
            vip: Ipv4Addr::new(10, 99, 0, 7),
            dns: vec![Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2)],
            ts_r: vec![TrafficSelector::prefix(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
                8,
            )],
            cookie: None,
            invalid_ke: VecDeque::new(),
            init_error: None,
            auth_error: None,
            child_error: None,
            wrong_auth: false,
            no_cp: false,
            create_child_errors: VecDeque::new(),
            drop_in: 0,
            cert: None,
            eap: None,
            eap_round: 0,
            eap_first: None,
            eap_identity: Vec::new(),
            eap_msk: Vec::new(),
            fragmentation: false,
            deaf: false,
            duplicate_requests: false,
            nonce_override: None,
            auto_delete: true,
            rekey_collisions: false,
            refuse_on_old: false,
            sa: None,
            old: None,
            redundant: None,
            ike_collision: None,
            delete_old_after_redundant: false,
            collisions: Vec::new(),
            proposed_ike_spi: None,
            auth: None,
            init_cache: None,
            established: false,
            closed_by_client: false,
            children: Vec::new(),
            outbox: VecDeque::new(),
            rx: Vec::new(),
            raw_rx: Vec::new(),
            errors_received: Vec::new(),
            deleted: Vec::new(),
            ike_rekeys: 0,
            requests: Vec::new(),
        }
    }

    fn random(&self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.provider.fill_random(&mut v).unwrap();
        v
    }

    fn random_spi(&self) -> u32 {
        loop {
            let b = self.random(4);
            let spi = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if spi >= 256 && !self.children.iter().any(|c| c.spi_in == spi) {
                return spi;
            }
        }
    }

    fn random_ike_spi(&self) -> u64 {
        loop {
            let b = self.random(8);
            let spi = u64::from_be_bytes(b.try_into().unwrap());
            if spi != 0 {
                return spi;
            }
        }
    }

    fn nonce(&mut self) -> Vec<u8> {
        self.nonce_override
            .take()
            .unwrap_or_else(|| self.random(32))
    }

    fn nat_hash(&self, spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
        let ip = match addr.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let h = self
            .provider
            .hash(
                HashAlg::Sha1,
                &[
                    &spi_i.to_be_bytes(),
                    &spi_r.to_be_bytes(),
                    &ip,
                    &addr.port().to_be_bytes(),
                ],
            )
            .unwrap();
        h.as_bytes().to_vec()
    }

    /// The current SA (panics without one).
    pub fn cur(&self) -> &GwSa {
        self.sa.as_ref().expect("gateway has an IKE SA")
    }

    fn sa_mut(&mut self, w: Which) -> &mut GwSa {
        match w {
            Which::Current => self.sa.as_mut().expect("current SA"),
            Which::Old => self.old.as_mut().expect("old SA"),
            Which::Redundant => self.redundant.as_mut().expect("redundant SA"),
        }
    }

    /// The child whose gateway-inbound SPI is `spi_in`.
    pub fn child(&self, spi_in: u32) -> Option<&GwChild> {
        self.children.iter().find(|c| c.spi_in == spi_in)
    }

    /// Whether a request of the gateway is outstanding on the current SA.
    pub fn busy(&self) -> bool {
        self.sa.as_ref().is_some_and(|s| s.request.is_some())
    }

    /// Sends its outstanding request on the current SA again.
    pub fn retransmit(&mut self) {
        if let Some(r) = self.sa.as_ref().and_then(|s| s.request.as_ref()) {
            let d = r.data.clone();
            self.outbox.push_back(d);
        }
    }

    // ------------------------------------------------------------------------------------
    // Receiving
    // ------------------------------------------------------------------------------------

    /// Handles a datagram from the client.
    pub fn receive(&mut self, data: &[u8]) {
        self.raw_rx.push(data.to_vec());
        if self.deaf {
            return;
        }
        if self.drop_in > 0 {
            self.drop_in -= 1;
            return;
        }
        let Ok(view) = HeaderView::new_checked(data) else {
            return;
        };
        let h = view.header();
        let data = view.message();
        if h.exchange == ExchangeType::IkeSaInit {
            if !h.is_response() && h.message_id == 0 {
                self.handle_init(&h, data);
            }
            return;
        }
        let which = if self.sa.as_ref().is_some_and(|s| s.matches(&h)) {
            Which::Current
        } else if self.old.as_ref().is_some_and(|s| s.matches(&h)) {
            Which::Old
        } else if self.redundant.as_ref().is_some_and(|s| s.matches(&h)) {
            Which::Redundant
        } else {
            return;
        };
        // The client's messages carry the Initiator flag iff the gateway is not the original
        // initiator of that SA.
        if h.is_initiator() == self.sa_mut(which).initiator {
            return;
        }
        let Some(payloads) = self.sa_mut(which).open(data) else {
            return;
        };
        self.rx.push(Rx {
            header: h,
            payloads: payloads.clone(),
        });
        if h.is_response() {
            self.handle_response(which, &h, payloads);
        } else {
            self.handle_request(which, &h, payloads);
        }
    }

    fn handle_init(&mut self, h: &Header, data: &[u8]) {
        if let Some((req, resp)) = &self.init_cache {
            if req == data {
                let resp = resp.clone();
                self.outbox.push_back(resp);
                return;
            }
        }
        let Ok(msg) = Message::parse(data) else {
            return;
        };
        self.rx.push(Rx {
            header: *h,
            payloads: msg.payloads.clone(),
        });
        let p = &msg.payloads;
        let reply = |payloads: Vec<Payload>, spi_r: u64| {
            Message {
                header: Header {
                    spi_i: h.spi_i,
                    spi_r,
                    next_payload: 0,
                    minor_version: 0,
                    exchange: ExchangeType::IkeSaInit,
                    flags: FLAG_RESPONSE,
                    message_id: 0,
                    length: 0,
                },
                payloads,
            }
            .emit()
        };
        if let Some(c) = &self.cookie {
            let got = notify_of(p, notify_type::COOKIE).map(|n| &n.data);
            if got != Some(c) {
                let r = reply(vec![notify(notify_type::COOKIE, c.clone())], 0);
                self.outbox.push_back(r);
                return;
            }
        }
        if let Some(code) = self.init_error {
            let r = reply(vec![notify(code, vec![])], 0);
            self.outbox.push_back(r);
            return;
        }
        if let Some(g) = self.invalid_ke.pop_front() {
            let r = reply(
                vec![notify(
                    notify_type::INVALID_KE_PAYLOAD,
                    g.to_be_bytes().to_vec(),
                )],
                0,
            );
            self.outbox.push_back(r);
            return;
        }
        let (Some(sa), Some(ke), Some(ni)) = (sa_of(p), ke_of(p), nonce_of(p)) else {
            let r = reply(vec![notify(notify_type::INVALID_SYNTAX, vec![])], 0);
            self.outbox.push_back(r);
            return;
        };
        // choose_ike is written for rekeying (8-byte SPIs): give the proposals one.
        let with_spi: Vec<Proposal> = sa
            .iter()
            .cloned()
            .map(|mut pr| {
                pr.spi = vec![0; 8];
                pr
            })
            .collect();
        let Some((mut chosen, algs)) = choose_ike(&self.ike_proposals, &with_spi, Some(ke.group))
        else {
            let r = reply(vec![notify(notify_type::NO_PROPOSAL_CHOSEN, vec![])], 0);
            self.outbox.push_back(r);
            return;
        };
        chosen.spi = vec![];
        if ke.group != algs.dh.iana_id() {
            let r = reply(
                vec![notify(
                    notify_type::INVALID_KE_PAYLOAD,
                    algs.dh.iana_id().to_be_bytes().to_vec(),
                )],
                0,
            );
            self.outbox.push_back(r);
            return;
        }
        let ours = self.provider.key_exchange(algs.dh).unwrap();
        let our_public = ours.public_key().to_vec();
        let Ok(shared) = ours.complete(&ke.data) else {
            let r = reply(vec![notify(notify_type::INVALID_SYNTAX, vec![])], 0);
            self.outbox.push_back(r);
            return;
        };
        let spi_r = self.random_ike_spi();
        let nr = self.random(32);
        let keys =
            IkeKeys::derive(&*self.provider, algs, &shared, ni, &nr, h.spi_i, spi_r).unwrap();
        let mut payloads = vec![
            Payload::Sa(vec![chosen]),
            Payload::Ke(KeyExchangePayload {
                group: algs.dh.iana_id(),
                data: our_public,
            }),
            Payload::Nonce(nr.clone()),
            notify(
                notify_type::NAT_DETECTION_SOURCE_IP,
                self.nat_hash(h.spi_i, spi_r, self.gw_addr),
            ),
            notify(
                notify_type::NAT_DETECTION_DESTINATION_IP,
                self.nat_hash(h.spi_i, spi_r, self.client_addr),
            ),
        ];
        if self.fragmentation {
            payloads.push(notify(notify_type::IKEV2_FRAGMENTATION_SUPPORTED, vec![]));
        }
        let resp = reply(payloads, spi_r);
        let mut gsa = GwSa::new(&self.provider, keys, h.spi_i, spi_r, false);
        gsa.peer_id = 1;
        self.sa = Some(gsa);
        self.auth = Some(AuthCtx {
            msg1: data.to_vec(),
            msg2: resp.clone(),
            ni: ni.clone(),
            nr,
        });
        self.established = false;
        self.children.clear();
        self.init_cache = Some((data.to_vec(), resp.clone()));
        self.outbox.push_back(resp);
    }

    fn handle_request(&mut self, which: Which, h: &Header, payloads: Vec<Payload>) {
        let id = h.message_id;
        let sa = self.sa_mut(which);
        if id.wrapping_add(1) == sa.peer_id {
            if let Some((i, resp)) = &sa.last_response {
                if *i == id {
                    let resp = resp.clone();
                    self.outbox.push_back(resp);
                }
            }
            return;
        }
        if id != sa.peer_id {
            return;
        }
        sa.peer_id = sa.peer_id.wrapping_add(1);
        self.requests.push((h.exchange, id));
        let (answer, after) = match (which, h.exchange) {
            (Which::Old | Which::Redundant, _) => {
                let deletes = payloads.iter().any(|p| {
                    matches!(
                        p,
                        Payload::Delete(Delete {
                            protocol: ProtocolId::Ike,
                            ..
                        })
                    )
                });
                let after = match (deletes, which) {
                    (true, Which::Redundant) => After::DropRedundant,
                    (true, _) => After::DropOld,
                    _ => After::Nothing,
                };
                let answer = if h.exchange == ExchangeType::CreateChildSa && self.refuse_on_old {
                    vec![notify(notify_type::TEMPORARY_FAILURE, vec![])]
                } else {
                    vec![]
                };
                (answer, after)
            }
            (_, ExchangeType::IkeAuth) if !self.established => {
                (self.answer_auth(&payloads), After::Nothing)
            }
            (_, ExchangeType::CreateChildSa) => self.answer_create_child(&payloads),
            (_, ExchangeType::Informational) => self.answer_info(&payloads),
            _ => (
                vec![notify(notify_type::INVALID_SYNTAX, vec![])],
                After::Nothing,
            ),
        };
        let sa = self.sa_mut(which);
        let resp = sa.seal(h.exchange, id, true, &answer);
        sa.last_response = Some((id, resp.clone()));
        self.outbox.push_back(resp);
        match after {
            After::Nothing => {}
            After::Switch(new) => {
                self.old = self.sa.take();
                self.sa = Some(*new);
                self.ike_rekeys += 1;
            }
            After::CloseCurrent => {
                self.sa = None;
                self.closed_by_client = true;
                self.children.clear();
            }
            After::DropOld => self.old = None,
            After::AdoptCollision => {
                if let Some((client_sa, _, _)) = self.ike_collision.take() {
                    self.old = self.sa.take();
                    self.sa = Some(client_sa);
                    self.ike_rekeys += 1;
                }
            }
            After::DropRedundant => {
                self.redundant = None;
                if std::mem::take(&mut self.delete_old_after_redundant) {
                    self.send_delete_ike_on(Which::Old);
                }
            }
        }
    }

    fn answer_auth(&mut self, p: &[Payload]) -> Vec<Payload> {
        if self.eap.is_some() {
            return self.answer_eap(p);
        }
        let ctx = self.auth.take().expect("IKE_SA_INIT done");
        let idi = find(p, |p| match p {
            Payload::IdI(i) => Some(i),
            _ => None,
        });
        let auth = find(p, |p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let (Some(idi), Some(auth)) = (idi, auth) else {
            return vec![notify(notify_type::AUTHENTICATION_FAILED, vec![])];
        };
        let keys = &self.cur().keys;
        let prf = keys.algs.prf;
        let octets = signed_octets(
            &*self.provider,
            prf,
            &ctx.msg1,
            &ctx.nr,
            &keys.sk_pi,
            &idi.auth_bytes(),
        )
        .unwrap();
        let ok = if auth.method == auth_method::SHARED_KEY_MIC {
            let expected = psk_auth(&*self.provider, prf, &self.psk, &octets).unwrap();
            auth_matches(&expected, &auth.data)
        } else {
            verify_client_signature(p, auth, &octets)
        };
        if !ok {
            return vec![notify(notify_type::AUTHENTICATION_FAILED, vec![])];
        }
        if let Some(code) = self.auth_error {
            return vec![notify(code, vec![])];
        }
        let octets = signed_octets(
            &*self.provider,
            prf,
            &ctx.msg2,
            &ctx.ni,
            &keys.sk_pr,
            &self.id.auth_bytes(),
        )
        .unwrap();
        let mut ours = self.gateway_auth(&octets);
        if self.wrong_auth {
            ours.data[0] ^= 0x80;
        }
        let mut out = vec![Payload::IdR(self.id.clone())];
        out.extend(self.gateway_cert());
        out.push(Payload::Auth(ours));
        self.auth_tail(&ctx, p, out)
    }

    /// The gateway's AUTH over `octets`: signed with its certificate key if it has one.
    fn gateway_auth(&self, octets: &[u8]) -> Authentication {
        if let Some((_, key)) = &self.cert {
            let (method, data) = key
                .sign_auth(
                    Some(&[SigHash::Sha256]),
                    RsaPadding::Pkcs1,
                    octets,
                    &mut rand_core::OsRng,
                )
                .unwrap();
            return Authentication { method, data };
        }
        let prf = self.cur().keys.algs.prf;
        Authentication {
            method: auth_method::SHARED_KEY_MIC,
            data: psk_auth(&*self.provider, prf, &self.psk, octets)
                .unwrap()
                .as_bytes()
                .to_vec(),
        }
    }

    fn gateway_cert(&self) -> Option<Payload> {
        self.cert.as_ref().map(|(der, _)| {
            Payload::Cert(Certificate {
                encoding: 4,
                data: der.clone(),
            })
        })
    }

    /// IKE_AUTH with EAP-MSCHAPv2 (§2.16), one round per request.
    fn answer_eap(&mut self, p: &[Payload]) -> Vec<Payload> {
        let (user, password) = self.eap.clone().expect("EAP configured");
        let eap = find(p, |p| match p {
            Payload::Eap(e) => Some(e),
            _ => None,
        })
        .cloned();
        let auth = find(p, |p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        })
        .cloned();
        let eap_packet = |code: u8, id: u8, data: &[u8]| {
            let mut e = vec![code, id, 0, 0];
            e.extend_from_slice(data);
            let l = e.len() as u16;
            e[2..4].copy_from_slice(&l.to_be_bytes());
            Payload::Eap(e)
        };
        match (self.eap_round, eap, auth) {
            (0, None, None) => {
                // First request: our certificate AUTH and EAP-Identity.
                let ctx = self.auth.as_ref().expect("IKE_SA_INIT done");
                let Some(idi) = find(p, |p| match p {
                    Payload::IdI(i) => Some(i),
                    _ => None,
                })
                .cloned() else {
                    return vec![notify(notify_type::AUTHENTICATION_FAILED, vec![])];
                };
                if let Some(code) = self.auth_error {
                    return vec![notify(code, vec![])];
                }
                let keys = &self.cur().keys;
                let octets = signed_octets(
                    &*self.provider,
                    keys.algs.prf,
                    &ctx.msg2,
                    &ctx.ni,
                    &keys.sk_pr,
                    &self.id.auth_bytes(),
                )
                .unwrap();
                let mut ours = self.gateway_auth(&octets);
                if self.wrong_auth {
                    let n = ours.data.len();
                    ours.data[n - 1] ^= 0x01;
                }
                self.eap_first = Some((p.to_vec(), idi));
                self.eap_round = 1;
                let mut out = vec![Payload::IdR(self.id.clone())];
                out.extend(self.gateway_cert());
                out.push(Payload::Auth(ours));
                out.push(eap_packet(1, 1, &[1]));
                out
            }
            (1, Some(e), _) if e.get(4) == Some(&1) => {
                self.eap_identity = e[5..].to_vec();
                self.eap_round = 2;
                let mut d = vec![26, 1, 0x42, 0, 0, 16];
                d.extend_from_slice(&EAP_CHALLENGE);
                d.extend_from_slice(b"gw");
                let l = (d.len() - 1) as u16;
                d[3..5].copy_from_slice(&l.to_be_bytes());
                vec![eap_packet(1, 2, &d)]
            }
            (2, Some(e), _) if e.get(4) == Some(&26) && e.len() >= 5 + 4 + 1 + 49 => {
                let v = &e[10..];
                let peer: [u8; 16] = v[..16].try_into().unwrap();
                let nt: [u8; 24] = v[24..48].try_into().unwrap();
                let name = &v[49..];
                let hash = crate::v2::eap::test_support::nt_hash(&password);
                let ch = crate::v2::eap::test_support::challenge_hash(&peer, &EAP_CHALLENGE, name);
                let expected = crate::v2::eap::test_support::response(&ch, &hash);
                if name != user.as_bytes() || nt != expected {
                    self.eap_round = 9;
                    let mut d = vec![26, 4, 0x42, 0, 0];
                    d.extend_from_slice(b"E=691 R=0 C=00000000000000000000000000000000 V=3 M=no");
                    return vec![eap_packet(1, 3, &d)];
                }
                let s = crate::v2::eap::test_support::authenticator(&hash, &nt, &ch);
                self.eap_msk = crate::v2::eap::test_support::msk(&hash, &nt);
                self.eap_round = 3;
                let mut d = vec![26, 3, 0x42, 0, 0];
                d.extend_from_slice(s.as_bytes());
                d.extend_from_slice(b" M=welcome");
                vec![eap_packet(1, 3, &d)]
            }
            (3, Some(e), _) if e.get(5) == Some(&3) => {
                self.eap_round = 4;
                vec![Payload::Eap(vec![3, 4, 0, 4])]
            }
            (4, None, Some(auth)) => {
                let ctx = self.auth.take().expect("IKE_SA_INIT done");
                let (first, idi) = self.eap_first.take().expect("first request");
                let keys = &self.cur().keys;
                let prf = keys.algs.prf;
                let octets = signed_octets(
                    &*self.provider,
                    prf,
                    &ctx.msg1,
                    &ctx.nr,
                    &keys.sk_pi,
                    &idi.auth_bytes(),
                )
                .unwrap();
                let expected = psk_auth(&*self.provider, prf, &self.eap_msk, &octets).unwrap();
                if !auth_matches(&expected, &auth.data) {
                    return vec![notify(notify_type::AUTHENTICATION_FAILED, vec![])];
                }
                let octets = signed_octets(
                    &*self.provider,
                    prf,
                    &ctx.msg2,
                    &ctx.ni,
                    &keys.sk_pr,
                    &self.id.auth_bytes(),
                )
                .unwrap();
                let ours = psk_auth(&*self.provider, prf, &self.eap_msk, &octets).unwrap();
                let out = vec![Payload::Auth(Authentication {
                    method: auth_method::SHARED_KEY_MIC,
                    data: ours.as_bytes().to_vec(),
                })];
                self.auth_tail(&ctx, &first, out)
            }
            _ => vec![notify(notify_type::AUTHENTICATION_FAILED, vec![])],
        }
    }

    /// The rest of the last IKE_AUTH response: CP reply and the first child SA for the
    /// request `p` (the first IKE_AUTH request, which carries SA and TS).
    fn auth_tail(&mut self, ctx: &AuthCtx, p: &[Payload], mut out: Vec<Payload>) -> Vec<Payload> {
        self.established = true;
        if let Some(code) = self.child_error {
            out.push(notify(code, vec![]));
            return out;
        }
        let asked_cp = p
            .iter()
            .any(|p| matches!(p, Payload::Config(c) if c.cfg_type == cfg_type::CFG_REQUEST));
        if asked_cp && !self.no_cp {
            let mut attributes = vec![
                ConfigAttribute {
                    attr_type: cfg_attr::INTERNAL_IP4_ADDRESS,
                    value: self.vip.octets().to_vec(),
                },
                ConfigAttribute {
                    attr_type: cfg_attr::INTERNAL_IP4_NETMASK,
                    value: vec![255, 255, 255, 255],
                },
            ];
            for d in &self.dns {
                attributes.push(ConfigAttribute {
                    attr_type: cfg_attr::INTERNAL_IP4_DNS,
                    value: d.octets().to_vec(),
                });
            }
            attributes.push(ConfigAttribute {
                attr_type: cfg_attr::INTERNAL_DNS_DOMAIN,
                value: b"corp.example.".to_vec(),
            });
            out.push(Payload::Config(Configuration {
                cfg_type: cfg_type::CFG_REPLY,
                attributes,
            }));
        }
        // No key exchange in IKE_AUTH: the PFS groups do not apply.
        let no_dh: Vec<EspProposal> = self
            .esp_proposals
            .iter()
            .cloned()
            .map(|mut e| {
                e.dh.clear();
                e
            })
            .collect();
        let Some(sa) = sa_of(p) else {
            out.push(notify(notify_type::NO_PROPOSAL_CHOSEN, vec![]));
            return out;
        };
        let Some((mut chosen, esp)) = choose_esp(&no_dh, sa, None) else {
            out.push(notify(notify_type::NO_PROPOSAL_CHOSEN, vec![]));
            return out;
        };
        let spi_in = self.random_spi();
        chosen.spi = spi_in.to_be_bytes().to_vec();
        let ck = self
            .cur()
            .keys
            .child_keys(&*self.provider, &esp, None, &ctx.ni, &ctx.nr)
            .unwrap();
        let ts_i = vec![TrafficSelector::prefix(IpAddr::V4(self.vip), 32)];
        let ts_r = self.ts_r.clone();
        self.children.push(GwChild {
            spi_in,
            spi_out: esp.peer_spi,
            encr_in: ck.encr_i.to_vec(),
            integ_in: ck.integ_i.to_vec(),
            encr_out: ck.encr_r.to_vec(),
            integ_out: ck.integ_r.to_vec(),
            esp,
            ts_i: ts_i.clone(),
            ts_r: ts_r.clone(),
            keys_without_pfs: None,
            collision: None,
        });
        out.push(Payload::Sa(vec![chosen]));
        out.push(Payload::TsI(ts_i));
        out.push(Payload::TsR(ts_r));
        out
    }

    fn answer_create_child(&mut self, p: &[Payload]) -> (Vec<Payload>, After) {
        if let Some(code) = self.create_child_errors.pop_front() {
            return (vec![notify(code, vec![])], After::Nothing);
        }
        if let Some(rekey) = notify_of(p, notify_type::REKEY_SA) {
            let Ok(their_old) = <[u8; 4]>::try_from(rekey.spi.as_slice()).map(u32::from_be_bytes)
            else {
                return (
                    vec![notify(notify_type::INVALID_SYNTAX, vec![])],
                    After::Nothing,
                );
            };
            return (self.answer_child_rekey(their_old, p), After::Nothing);
        }
        let Some(sa) = sa_of(p) else {
            return (
                vec![notify(notify_type::INVALID_SYNTAX, vec![])],
                After::Nothing,
            );
        };
        if sa.first().map(|pr| pr.protocol) != Some(ProtocolId::Ike) {
            return (
                vec![notify(notify_type::NO_ADDITIONAL_SAS, vec![])],
                After::Nothing,
            );
        }
        let own_ike_rekey = self.sa.as_ref().is_some_and(|s| {
            matches!(
                s.request.as_ref().map(|r| &r.pending),
                Some(GwPending::RekeyIke { .. })
            )
        });
        let colliding = self.rekey_collisions && own_ike_rekey && self.ike_collision.is_none();
        if self.busy() && !colliding {
            return (
                vec![notify(notify_type::TEMPORARY_FAILURE, vec![])],
                After::Nothing,
            );
        }
        let (Some(ni), Some(ke)) = (nonce_of(p), ke_of(p)) else {
            return (
                vec![notify(notify_type::INVALID_SYNTAX, vec![])],
                After::Nothing,
            );
        };
        let Some((mut chosen, algs)) = choose_ike(&self.ike_proposals, sa, Some(ke.group)) else {
            return (
                vec![notify(notify_type::NO_PROPOSAL_CHOSEN, vec![])],
                After::Nothing,
            );
        };
        if ke.group != algs.dh.iana_id() {
            return (
                vec![notify(
                    notify_type::INVALID_KE_PAYLOAD,
                    algs.dh.iana_id().to_be_bytes().to_vec(),
                )],
                After::Nothing,
            );
        }
        let their_spi = u64::from_be_bytes(chosen.spi.clone().try_into().unwrap());
        let ours = self.provider.key_exchange(algs.dh).unwrap();
        let our_ke = Payload::Ke(KeyExchangePayload {
            group: algs.dh.iana_id(),
            data: ours.public_key().to_vec(),
        });
        let shared = ours.complete(&ke.data).unwrap();
        let nr = self.nonce();
        let new_spi = self.random_ike_spi();
        let keys = self
            .cur()
            .keys
            .derive_rekey(&*self.provider, algs, &shared, ni, &nr, their_spi, new_spi)
            .unwrap();
        chosen.spi = new_spi.to_be_bytes().to_vec();
        let new = GwSa::new(&self.provider, keys, their_spi, new_spi, false);
        if colliding {
            let ni = ni.clone();
            self.ike_collision = Some((new, ni, nr.clone()));
            return (
                vec![Payload::Sa(vec![chosen]), Payload::Nonce(nr), our_ke],
                After::Nothing,
            );
        }
        (
            vec![Payload::Sa(vec![chosen]), Payload::Nonce(nr), our_ke],
            After::Switch(Box::new(new)),
        )
    }

    fn answer_child_rekey(&mut self, their_old: u32, p: &[Payload]) -> Vec<Payload> {
        let Some(old_idx) = self.children.iter().position(|c| c.spi_out == their_old) else {
            return vec![Payload::Notify(Notify {
                protocol: ProtocolId::Esp,
                spi: their_old.to_be_bytes().to_vec(),
                notify_type: notify_type::CHILD_SA_NOT_FOUND,
                data: vec![],
            })];
        };
        let (Some(sa), Some(ni)) = (sa_of(p), nonce_of(p)) else {
            return vec![notify(notify_type::INVALID_SYNTAX, vec![])];
        };
        let ke = ke_of(p);
        let Some((mut chosen, esp)) = choose_esp(&self.esp_proposals, sa, ke.map(|k| k.group))
        else {
            return vec![notify(notify_type::NO_PROPOSAL_CHOSEN, vec![])];
        };
        let mut our_ke = None;
        let shared = match esp.dh {
            Some(g) => {
                let Some(k) = ke.filter(|k| k.group == g.iana_id()) else {
                    return vec![notify(
                        notify_type::INVALID_KE_PAYLOAD,
                        g.iana_id().to_be_bytes().to_vec(),
                    )];
                };
                let ours = self.provider.key_exchange(g).unwrap();
                our_ke = Some(Payload::Ke(KeyExchangePayload {
                    group: g.iana_id(),
                    data: ours.public_key().to_vec(),
                }));
                Some(ours.complete(&k.data).unwrap())
            }
            None => None,
        };
        let nr = self.nonce();
        let spi_in = self.random_spi();
        chosen.spi = spi_in.to_be_bytes().to_vec();
        let keys = &self.cur().keys;
        let ck = keys
            .child_keys(
                &*self.provider,
                &esp,
                shared.as_deref().map(|s| &s[..]),
                ni,
                &nr,
            )
            .unwrap();
        let keys_without_pfs = shared.as_ref().map(|_| {
            keys.child_keys(&*self.provider, &esp, None, ni, &nr)
                .unwrap()
                .encr_i
                .to_vec()
        });
        let old = &self.children[old_idx];
        let (ts_i, ts_r) = (old.ts_i.clone(), old.ts_r.clone());
        let old_spi_in = old.spi_in;
        // Our own rekey of the same child in flight? Then this is a collision (§2.8.1).
        let ours_in_flight = matches!(
            self.sa.as_ref().and_then(|s| s.request.as_ref()).map(|r| &r.pending),
            Some(GwPending::RekeyChild { old, .. }) if *old == old_spi_in
        );
        if ours_in_flight {
            self.children[old_idx].collision = Some((spi_in, ni.clone(), nr.clone()));
        }
        self.children.push(GwChild {
            spi_in,
            spi_out: esp.peer_spi,
            encr_in: ck.encr_i.to_vec(),
            integ_in: ck.integ_i.to_vec(),
            encr_out: ck.encr_r.to_vec(),
            integ_out: ck.integ_r.to_vec(),
            esp,
            ts_i: ts_i.clone(),
            ts_r: ts_r.clone(),
            keys_without_pfs,
            collision: None,
        });
        let mut out = vec![Payload::Sa(vec![chosen]), Payload::Nonce(nr)];
        out.extend(our_ke);
        out.push(Payload::TsI(ts_i));
        out.push(Payload::TsR(ts_r));
        out
    }

    fn answer_info(&mut self, p: &[Payload]) -> (Vec<Payload>, After) {
        let mut ours = Vec::new();
        for d in p {
            match d {
                Payload::Delete(Delete {
                    protocol: ProtocolId::Ike,
                    ..
                }) if self.ike_collision.is_some() => return (vec![], After::AdoptCollision),
                Payload::Delete(Delete {
                    protocol: ProtocolId::Ike,
                    ..
                }) => return (vec![], After::CloseCurrent),
                Payload::Delete(Delete {
                    protocol: ProtocolId::Esp,
                    spis,
                }) => {
                    for s in spis {
                        let Ok(s) = <[u8; 4]>::try_from(s.as_slice()).map(u32::from_be_bytes)
                        else {
                            continue;
                        };
                        if let Some(i) = self.children.iter().position(|c| c.spi_out == s) {
                            let c = self.children.remove(i);
                            self.deleted.push(c.spi_in);
                            ours.push(c.spi_in.to_be_bytes().to_vec());
                        }
                    }
                }
                _ => {}
            }
        }
        if ours.is_empty() {
            (vec![], After::Nothing)
        } else {
            (
                vec![Payload::Delete(Delete {
                    protocol: ProtocolId::Esp,
                    spis: ours,
                })],
                After::Nothing,
            )
        }
    }

    fn handle_response(&mut self, which: Which, h: &Header, payloads: Vec<Payload>) {
        let sa = self.sa_mut(which);
        let Some(req) = sa.request.take_if(|r| r.id == h.message_id) else {
            return;
        };
        if let Some(code) = error_of(&payloads) {
            self.errors_received.push(code);
        }
        match req.pending {
            GwPending::Dpd | GwPending::Raw => {}
            GwPending::DeleteIke => match which {
                Which::Current => {
                    self.sa = None;
                    self.children.clear();
                }
                Which::Old => self.old = None,
                Which::Redundant => {
                    self.redundant = None;
                }
            },
            GwPending::DeleteChild(spi) => {
                if let Some(i) = self.children.iter().position(|c| c.spi_in == spi) {
                    self.children.remove(i);
                    self.deleted.push(spi);
                }
            }
            GwPending::RekeyChild {
                old,
                new_spi_in,
                ni,
                ke,
                ts,
            } => self.finish_child_rekey(old, new_spi_in, &ni, ke, ts, &payloads),
            GwPending::RekeyIke { new_spi, ni, ke } => {
                self.finish_ike_rekey(new_spi, &ni, ke, &payloads)
            }
        }
    }

    fn finish_child_rekey(
        &mut self,
        old: u32,
        new_spi_in: u32,
        ni: &[u8],
        ke: Option<Box<dyn KeyExchange>>,
        (ts_i, ts_r): (Vec<TrafficSelector>, Vec<TrafficSelector>),
        p: &[Payload],
    ) {
        if error_of(p).is_some() {
            return;
        }
        let (Some(sa), Some(nr)) = (sa_of(p), nonce_of(p)) else {
            panic!("child rekey response without SA or Nonce");
        };
        let esp = select_esp(&self.esp_proposals, sa, ke.is_some()).expect("client's ESP choice");
        let shared = match (ke, esp.dh) {
            (Some(ke), Some(_)) => {
                let theirs = ke_of(p).expect("client's KE");
                assert_eq!(theirs.group, ke.group().iana_id());
                Some(ke.complete(&theirs.data).unwrap())
            }
            _ => None,
        };
        let keys = &self.cur().keys;
        let ck = keys
            .child_keys(
                &*self.provider,
                &esp,
                shared.as_deref().map(|s| &s[..]),
                ni,
                nr,
            )
            .unwrap();
        let keys_without_pfs = shared.as_ref().map(|_| {
            keys.child_keys(&*self.provider, &esp, None, ni, nr)
                .unwrap()
                .encr_i
                .to_vec()
        });
        // The old child may be gone meanwhile (the client deleted it); the new one stands.
        let old_idx = self.children.iter().position(|c| c.spi_in == old);
        let collision = old_idx.and_then(|i| self.children[i].collision.take());
        self.children.push(GwChild {
            spi_in: new_spi_in,
            spi_out: esp.peer_spi,
            // The gateway initiated this exchange: the "i" keys are its outbound ones.
            encr_in: ck.encr_r.to_vec(),
            integ_in: ck.integ_r.to_vec(),
            encr_out: ck.encr_i.to_vec(),
            integ_out: ck.integ_i.to_vec(),
            esp,
            ts_i,
            ts_r,
            keys_without_pfs,
            collision: None,
        });
        if !self.auto_delete || old_idx.is_none() {
            return;
        }
        let redundant = match collision {
            // §2.8.1: the SA created with the lowest nonce is redundant; its creator deletes it,
            // and the creator of the survivor deletes the old SA.
            Some((_, their_ni, their_nr))
                if nonce_min(ni, nr) < nonce_min(&their_ni, &their_nr) =>
            {
                new_spi_in
            }
            _ => old,
        };
        self.start_delete_child(redundant);
    }

    fn finish_ike_rekey(
        &mut self,
        new_spi: u64,
        ni: &[u8],
        ke: Box<dyn KeyExchange>,
        p: &[Payload],
    ) {
        if error_of(p).is_some() {
            // Refused: a crossing rekey of the client's, if any, is the new SA.
            if let Some((theirs, _, _)) = self.ike_collision.take() {
                self.old = self.sa.take();
                self.sa = Some(theirs);
                self.ike_rekeys += 1;
            }
            return;
        }
        let (Some(sa), Some(nr), Some(theirs)) = (sa_of(p), nonce_of(p), ke_of(p)) else {
            panic!("IKE rekey response incomplete");
        };
        let (algs, spi) = select_ike(&self.ike_proposals, sa, 8).expect("client's IKE choice");
        let their_spi = u64::from_be_bytes(spi.try_into().unwrap());
        assert_eq!(theirs.group, algs.dh.iana_id());
        let shared = ke.complete(&theirs.data).unwrap();
        let keys = self
            .cur()
            .keys
            .derive_rekey(&*self.provider, algs, &shared, ni, nr, new_spi, their_spi)
            .unwrap();
        let new = GwSa::new(&self.provider, keys, new_spi, their_spi, true);
        if let Some((client_sa, cni, cnr)) = self.ike_collision.take() {
            // §2.8.2: the new SA whose exchange has the lowest nonce is redundant; its
            // creator deletes it, and the survivor's creator deletes the old SA after that.
            let ours_redundant = nonce_min(ni, nr) < nonce_min(&cni, &cnr);
            self.collisions.push(!ours_redundant);
            self.old = self.sa.take();
            self.ike_rekeys += 1;
            if ours_redundant {
                self.sa = Some(client_sa);
                self.redundant = Some(new);
                if self.auto_delete {
                    self.send_delete_ike_on(Which::Redundant);
                }
            } else {
                self.sa = Some(new);
                self.redundant = Some(client_sa);
                self.delete_old_after_redundant = self.auto_delete;
            }
            return;
        }
        self.old = self.sa.take();
        self.sa = Some(new);
        self.ike_rekeys += 1;
        // We created the new SA: delete the old one, on the old one.
        if self.auto_delete {
            let old = self.old.as_mut().unwrap();
            let id = old.next_id;
            old.next_id += 1;
            let data = old.seal(
                ExchangeType::Informational,
                id,
                false,
                &[Payload::Delete(Delete {
                    protocol: ProtocolId::Ike,
                    spis: vec![],
                })],
            );
            old.request = Some(GwRequest {
                id,
                data: data.clone(),
                pending: GwPending::DeleteIke,
            });
            self.outbox.push_back(data);
        }
    }

    // ------------------------------------------------------------------------------------
    // Requests of the gateway
    // ------------------------------------------------------------------------------------

    /// Deletes the IKE SA `which` (a retired or redundant one) with a DELETE on that SA.
    pub fn send_delete_ike_on(&mut self, which: Which) {
        let sa = self.sa_mut(which);
        let id = sa.next_id;
        sa.next_id += 1;
        let data = sa.seal(
            ExchangeType::Informational,
            id,
            false,
            &[Payload::Delete(Delete {
                protocol: ProtocolId::Ike,
                spis: vec![],
            })],
        );
        sa.request = Some(GwRequest {
            id,
            data: data.clone(),
            pending: GwPending::DeleteIke,
        });
        self.outbox.push_back(data);
    }

    /// Forgets the gateway's outstanding request on the current SA as if it had been
    /// answered, so that a hostile test can send another one at once.
    pub fn forget_request(&mut self) {
        if let Some(sa) = self.sa.as_mut() {
            sa.request = None;
        }
    }

    fn send(&mut self, exchange: ExchangeType, payloads: &[Payload], pending: GwPending) {
        let dup = self.duplicate_requests;
        let sa = self.sa.as_mut().expect("an IKE SA");
        assert!(sa.request.is_none(), "gateway request window busy");
        let id = sa.next_id;
        sa.next_id += 1;
        let data = sa.seal(exchange, id, false, payloads);
        sa.request = Some(GwRequest {
            id,
            data: data.clone(),
            pending,
        });
        if dup {
            self.outbox.push_back(data.clone());
        }
        self.outbox.push_back(data);
    }

    /// An empty INFORMATIONAL (liveness check).
    pub fn start_dpd(&mut self) {
        self.send(ExchangeType::Informational, &[], GwPending::Dpd);
    }

    /// Deletes the IKE SA.
    pub fn start_delete_ike(&mut self) {
        self.send(
            ExchangeType::Informational,
            &[Payload::Delete(Delete {
                protocol: ProtocolId::Ike,
                spis: vec![],
            })],
            GwPending::DeleteIke,
        );
    }

    /// Deletes the child with gateway-inbound SPI `spi_in`.
    pub fn start_delete_child(&mut self, spi_in: u32) {
        self.send(
            ExchangeType::Informational,
            &[Payload::Delete(Delete {
                protocol: ProtocolId::Esp,
                spis: vec![spi_in.to_be_bytes().to_vec()],
            })],
            GwPending::DeleteChild(spi_in),
        );
    }

    /// Sends an arbitrary request on the current SA.
    pub fn start_raw(&mut self, exchange: ExchangeType, payloads: &[Payload]) {
        self.send(exchange, payloads, GwPending::Raw);
    }

    /// Rekeys the child with gateway-inbound SPI `old` (with PFS if our ESP proposals have a
    /// group).
    pub fn start_child_rekey(&mut self, old: u32) {
        let child = self.child(old).expect("child to rekey").clone();
        let group = self
            .esp_proposals
            .iter()
            .find_map(|p| p.dh.first().copied());
        let ke: Option<Box<dyn KeyExchange>> =
            group.map(|g| self.provider.key_exchange(g).unwrap());
        let new_spi_in = self.random_spi();
        let ni = self.nonce();
        let mut payloads = vec![
            Payload::Notify(Notify {
                protocol: ProtocolId::Esp,
                spi: old.to_be_bytes().to_vec(),
                notify_type: notify_type::REKEY_SA,
                data: vec![],
            }),
            Payload::Sa(esp_to_wire(&self.esp_proposals, new_spi_in, true, None)),
            Payload::Nonce(ni.clone()),
        ];
        if let Some(ke) = &ke {
            payloads.push(Payload::Ke(KeyExchangePayload {
                group: ke.group().iana_id(),
                data: ke.public_key().to_vec(),
            }));
        }
        // The gateway initiates this exchange: its selectors are TSi.
        payloads.push(Payload::TsI(child.ts_r.clone()));
        payloads.push(Payload::TsR(child.ts_i.clone()));
        self.send(
            ExchangeType::CreateChildSa,
            &payloads,
            GwPending::RekeyChild {
                old,
                new_spi_in,
                ni,
                ke,
                ts: (child.ts_i, child.ts_r),
            },
        );
    }

    /// Rekeys the IKE SA.
    pub fn start_ike_rekey(&mut self) {
        let group: DhGroup = self.cur().keys.algs.dh;
        let ke = self.provider.key_exchange(group).unwrap();
        let new_spi = self.random_ike_spi();
        self.proposed_ike_spi = Some(new_spi);
        let ni = self.nonce();
        let payloads = vec![
            Payload::Sa(ike_to_wire(&self.ike_proposals, &new_spi.to_be_bytes())),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KeyExchangePayload {
                group: group.iana_id(),
                data: ke.public_key().to_vec(),
            }),
        ];
        self.send(
            ExchangeType::CreateChildSa,
            &payloads,
            GwPending::RekeyIke { new_spi, ni, ke },
        );
    }
}

/// The MSCHAPv2 challenge the test gateway sends.
const EAP_CHALLENGE: [u8; 16] = *b"strait-challenge";

/// Checks a client's signature AUTH with the key of its first CERT payload.
fn verify_client_signature(p: &[Payload], auth: &Authentication, octets: &[u8]) -> bool {
    let Some(cert) = p.iter().find_map(|p| match p {
        Payload::Cert(c) => Cert::from_der(&c.data).ok(),
        _ => None,
    }) else {
        return false;
    };
    let Ok(key) = cert.public_key() else {
        return false;
    };
    if auth.method == auth_method::DIGITAL_SIGNATURE {
        split_digital_signature(&auth.data).is_ok_and(|(s, sig)| key.verify(s, octets, sig))
    } else {
        classic_scheme(auth.method).is_some_and(|s| key.verify(s, octets, &auth.data))
    }
}
