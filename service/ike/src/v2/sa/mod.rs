//! The IKEv2 SA state machine of the initiator (RFC 7296), sans-IO.
//!
//! [`IkeSa`] is driven like quinn-proto's `Connection`: the service feeds it received datagrams
//! ([`IkeSa::handle_datagram`]) and expired timers ([`IkeSa::handle_timeout`]), both with the
//! current time, and then drains [`IkeSa::poll_transmit`], [`IkeSa::poll_event`] and
//! [`IkeSa::poll_timeout`]. It never reads a clock or touches a socket.
//!
//! One request is outstanding at a time (window size 1, §2.3); further work waits in a queue.
//! Requests are retransmitted on a growing schedule until answered; requests from the gateway
//! are answered once and the answer is cached for duplicates (§2.1). The exchanges live in the
//! submodules: [`init`] (IKE_SA_INIT and IKE_AUTH), [`rekey`] (CREATE_CHILD_SA in both roles)
//! and [`info`] (INFORMATIONAL in both roles).

mod info;
mod init;
mod rekey;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_crypto::{CryptoProvider, HashAlg, KeyExchange};
use tracing::{debug, info, warn};

use super::keys::IkeKeys;
use super::sk::SkCrypter;
use super::wire::{
    emit_payload_chain, emit_sk_prefix, emit_skf_prefix, parse_payload_chain, payload_type, sk_aad,
    Delete, ExchangeType, FragmentInfo, Header, HeaderView, Notify, Payload, ProtocolId, SkParts,
    TrafficSelector, FLAG_INITIATOR, FLAG_RESPONSE,
};
use crate::config::Config;
use crate::event::{Error, Event, Stage, Transmit};

/// Where the SA is in its life.
enum Phase {
    /// IKE_SA_INIT sent.
    Init(init::InitState),
    /// IKE_AUTH sent.
    Auth(init::AuthState),
    /// Authenticated; child SAs exist.
    Established,
    /// A response to IKE_SA_INIT or IKE_AUTH is being handled (its state was taken out of
    /// `Init`/`Auth`). Not `Closed`, so that a failure there is still reported.
    Handling,
    /// Gone; nothing more happens.
    Closed,
}

/// Work waiting for the request window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    RekeyChild(u32),
    RekeyIke,
    Dpd,
    DeleteChild(u32),
    DeleteIke,
}

/// What an outstanding request was for, with the state its response needs.
enum Pending {
    Init,
    Auth,
    RekeyChild(rekey::ChildRekeyRequest),
    RekeyIke(rekey::IkeRekeyRequest),
    Dpd,
    DeleteChild(u32),
    DeleteIke,
}

/// Our outstanding request.
struct Request {
    id: u32,
    datagram: Vec<u8>,
    /// The RFC 7383 fragments sent instead of `datagram` (empty when not fragmented).
    fragments: Vec<Vec<u8>>,
    sends: u32,
    deadline: Instant,
    /// Liveness checks give up earlier than the full retransmission schedule.
    give_up_at: Option<Instant>,
    stage: Stage,
    pending: Pending,
}

/// One established child SA.
#[derive(Debug)]
struct Child {
    spi_in: u32,
    spi_out: u32,
    ts_local: Vec<TrafficSelector>,
    ts_remote: Vec<TrafficSelector>,
    rekey_at: Option<Instant>,
    expire_at: Instant,
    /// A newer child replaces this one; it is only kept until deleted.
    superseded: bool,
    /// The gateway rekeyed this child while our own rekey of it was in flight (§2.8.1): the
    /// inbound SPI of the gateway's new child and the nonces of that exchange.
    collision: Option<(u32, Vec<u8>, Vec<u8>)>,
}

/// An IKE SA that no longer carries anything, kept until its DELETE exchange completes: the
/// previous SA after a rekey, or (after a simultaneous rekey, §2.8.2) the redundant new one.
struct OldSa {
    spi_ours: u64,
    spi_theirs: u64,
    initiator: bool,
    sk_out: SkCrypter,
    sk_in: SkCrypter,
    next_id: u32,
    peer_id: u32,
    /// Our DELETE request on the old SA, when we are the one deleting it.
    request: Option<(u32, Vec<u8>, u32, Instant)>,
    /// Our last answer on the old SA (e.g. to the gateway's IKE SA rekey), for retransmits.
    last_response: Option<(u32, Vec<u8>)>,
    /// Give up on it at this time.
    expire_at: Instant,
    /// The redundant SA of a simultaneous IKE SA rekey that the gateway created and deletes
    /// (§2.8.2); deferred deletes wait until it is gone.
    redundant: bool,
    /// We delete this SA, but only once the gateway deleted its redundant SA (§2.8.2: the
    /// creator of the surviving SA deletes the old one after the redundant one is gone).
    delete_deferred: bool,
}

/// The most retired IKE SAs kept at once (the old one, a redundant one, and a spare for a
/// gateway that rekeys again at once); a further one replaces the oldest.
const MAX_OLD_SAS: usize = 3;
/// The most messages kept for the gateway's new SA while a collision is undecided.
const MAX_EARLY: usize = 4;

/// The IKEv2 SA of one connection, with its child SAs.
pub struct IkeSa {
    cfg: Config,
    provider: Arc<dyn CryptoProvider>,
    phase: Phase,
    spi_ours: u64,
    spi_theirs: u64,
    /// We are the original initiator of the current IKE SA (false after the gateway rekeyed it).
    initiator: bool,
    keys: Option<IkeKeys>,
    sk_out: Option<SkCrypter>,
    sk_in: Option<SkCrypter>,
    next_id: u32,
    peer_id: u32,
    request: Option<Request>,
    queue: VecDeque<Task>,
    last_response: Option<(u32, Vec<u8>)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    udp_encap: bool,
    children: Vec<Child>,
    last_heard: Instant,
    ike_rekey_at: Option<Instant>,
    ike_expire_at: Option<Instant>,
    /// Retired IKE SAs waiting for their DELETE (at most [`MAX_OLD_SAS`]).
    old: Vec<OldSa>,
    /// Why we are deleting the IKE SA (reported in `Closed` once the DELETE is answered).
    closing: Option<Option<Error>>,
    /// An IKE SA the gateway created by rekeying, to switch to once our answer is sent.
    switch_after_response: Option<rekey::NewIkeSa>,
    /// The gateway rekeyed the IKE SA while our own rekey was in flight (§2.8.2): its new SA,
    /// decided on once our request is answered.
    ike_collision: Option<rekey::IkeCollision>,
    /// Messages on the gateway's new SA of a pending collision, handled once it is decided
    /// (at most [`MAX_EARLY`]).
    early: Vec<Vec<u8>>,
    /// The gateway deleted the IKE SA or its last child; we stop once our answer is out.
    peer_closed: bool,
    /// When the SA was created (the instant that [`Config::wall_clock`] corresponds to).
    started: Instant,
    /// Both sides support IKE fragmentation (RFC 7383).
    fragmentation: bool,
    /// Fragments of a message being reassembled.
    reassembly: Option<Reassembly>,
}

/// The fragments of one message received so far (RFC 7383 §2.6).
struct Reassembly {
    /// Message ID and whether it is a response.
    key: (u32, bool),
    total: u16,
    first_inner: u8,
    parts: Vec<Option<Vec<u8>>>,
    bytes: usize,
}

/// The most fragments a message may have, in either direction.
const MAX_FRAGMENTS: usize = 64;
/// The largest reassembled message we accept.
const MAX_REASSEMBLED_LEN: usize = 64 * 1024;
/// IKE header and SKF header before the IV.
const SKF_PREFIX_LEN: usize = 28 + 8;
/// Below this many payload bytes per fragment, fragmenting is pointless.
const MIN_FRAGMENT_PAYLOAD: usize = 64;

impl std::fmt::Debug for IkeSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeSa")
            .field("spi_ours", &format_args!("{:016x}", self.spi_ours))
            .field("spi_theirs", &format_args!("{:016x}", self.spi_theirs))
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

/// Nonce length we send (§2.10: at least half the PRF key size, at least 16 bytes).
const NONCE_LEN: usize = 32;
/// How often we retry after TEMPORARY_FAILURE or a failed rekey.
const RETRY_LATER: Duration = Duration::from_secs(10);
/// How long an old IKE SA or superseded child may wait for its DELETE.
const DELETE_GRACE: Duration = Duration::from_secs(30);

impl IkeSa {
    /// Starts a connection: builds the IKE_SA_INIT request (available from
    /// [`IkeSa::poll_transmit`] at once).
    pub fn new(
        cfg: Config,
        provider: Arc<dyn CryptoProvider>,
        now: Instant,
    ) -> Result<IkeSa, Error> {
        let mut spi = [0u8; 8];
        loop {
            provider.fill_random(&mut spi)?;
            if spi != [0; 8] {
                break;
            }
        }
        let mut sa = IkeSa {
            udp_encap: false,
            cfg,
            provider,
            phase: Phase::Closed,
            spi_ours: u64::from_be_bytes(spi),
            spi_theirs: 0,
            initiator: true,
            keys: None,
            sk_out: None,
            sk_in: None,
            next_id: 0,
            peer_id: 0,
            request: None,
            queue: VecDeque::new(),
            last_response: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            children: Vec::new(),
            last_heard: now,
            ike_rekey_at: None,
            ike_expire_at: None,
            old: Vec::new(),
            closing: None,
            switch_after_response: None,
            ike_collision: None,
            early: Vec::new(),
            peer_closed: false,
            started: now,
            fragmentation: false,
            reassembly: None,
        };
        sa.start_init(now)?;
        Ok(sa)
    }

    /// Our SPI of the current IKE SA (for logs and for matching datagrams to connections).
    pub fn local_spi(&self) -> u64 {
        self.spi_ours
    }

    /// Whether IKE (and ESP) currently use UDP encapsulation on port 4500.
    pub fn udp_encap(&self) -> bool {
        self.udp_encap
    }

    /// Whether the IKE SA is authenticated and not yet closed.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Established) && self.closing.is_none()
    }

    /// Whether the SA is gone ([`Event::Closed`] has been queued).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`IkeSa::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.request.as_ref().map(|r| r.deadline));
        for o in &self.old {
            consider(Some(
                o.request
                    .as_ref()
                    .map_or(o.expire_at, |r| r.3.min(o.expire_at)),
            ));
        }
        if matches!(self.phase, Phase::Established) && self.closing.is_none() {
            if self.request.is_none() && self.queue.is_empty() {
                consider(self.cfg.dpd_interval.map(|d| self.last_heard + d));
            }
            consider(self.ike_rekey_at);
            consider(self.ike_expire_at);
            for c in &self.children {
                consider(c.rekey_at);
                consider(Some(c.expire_at));
            }
        }
        next
    }

    /// When the next IKE SA and child SA rekeys are planned.
    pub fn rekey_times(&self) -> crate::RekeyTimes {
        crate::RekeyTimes {
            ike: self.ike_rekey_at,
            child: self
                .children
                .iter()
                .filter(|c| !c.superseded)
                .filter_map(|c| c.rekey_at)
                .min(),
        }
    }

    /// Deletes the IKE SA (the user disconnects). [`Event::Closed`] follows once the gateway
    /// answered or gave up.
    pub fn close(&mut self, now: Instant) {
        match self.phase {
            Phase::Established if self.closing.is_none() => {
                self.closing = Some(None);
                self.queue.clear();
                self.queue.push_back(Task::DeleteIke);
                self.start_next(now);
            }
            Phase::Established => {}
            _ => self.finish(None),
        }
    }

    /// Handles an expired timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.old_sa_timeout(now);
        if let Some(req) = &mut self.request {
            if now >= req.deadline {
                if req.sends > self.cfg.retransmit.tries || req.give_up_at.is_some_and(|t| now >= t)
                {
                    self.request_timed_out(now);
                } else {
                    debug!(
                        id = req.id,
                        sends = req.sends,
                        "retransmitting {}",
                        req.stage
                    );
                    req.deadline = now + self.cfg.retransmit.wait(req.sends);
                    if let Some(t) = req.give_up_at {
                        req.deadline = req.deadline.min(t);
                    }
                    req.sends += 1;
                    if req.fragments.is_empty() {
                        self.transmits.push_back(Transmit {
                            data: req.datagram.clone(),
                            udp_encap: self.udp_encap,
                        });
                    }
                    for f in &req.fragments {
                        self.transmits.push_back(Transmit {
                            data: f.clone(),
                            udp_encap: self.udp_encap,
                        });
                    }
                }
            }
        }
        if matches!(self.phase, Phase::Established) && self.closing.is_none() {
            self.schedule(now);
        }
        self.start_next(now);
    }

    /// Handles a datagram from the gateway (non-ESP marker already removed).
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if self.is_closed() {
            return;
        }
        let Ok(view) = HeaderView::new_checked(data) else {
            debug!(
                len = data.len(),
                "dropping a datagram that is not an IKEv2 message"
            );
            return;
        };
        let header = view.header();
        let data = view.message();
        if let Some(i) = self.old_sa_index(&header) {
            self.handle_old_sa(now, i, &header, data);
            return;
        }
        let (ours, theirs) = if self.initiator {
            (header.spi_i, header.spi_r)
        } else {
            (header.spi_r, header.spi_i)
        };
        let in_init = matches!(self.phase, Phase::Init(_));
        if ours != self.spi_ours || (!in_init && theirs != self.spi_theirs) {
            if self
                .ike_collision
                .as_ref()
                .is_some_and(|c| c.matches(&header))
                && self.early.len() < MAX_EARLY
            {
                // The gateway already uses (or deletes) its new SA of a simultaneous rekey
                // we have not decided on yet: keep it until we have.
                debug!("keeping a message on the gateway's pending new IKE SA");
                self.early.push(data.to_vec());
                return;
            }
            debug!("dropping a message for another IKE SA");
            return;
        }
        // The peer sets the Initiator flag iff it is the original initiator.
        if (header.flags & FLAG_INITIATOR != 0) == self.initiator {
            debug!("dropping a message with the wrong Initiator flag");
            return;
        }
        if header.flags & FLAG_RESPONSE != 0 {
            self.handle_response(now, &header, data);
        } else {
            self.handle_request(now, &header, data);
        }
        self.start_next(now);
        if self.ike_collision.is_none() && !self.early.is_empty() {
            // The collision is decided: the kept messages belong to an SA we now know.
            for d in std::mem::take(&mut self.early) {
                self.handle_datagram(now, &d);
            }
        }
    }

    fn handle_response(&mut self, now: Instant, header: &Header, data: &[u8]) {
        let Some(req) = &self.request else {
            debug!(id = header.message_id, "dropping an unexpected response");
            return;
        };
        if req.id != header.message_id {
            debug!(
                id = header.message_id,
                "dropping a response with a stale message ID"
            );
            return;
        }
        if let Phase::Init(_) = self.phase {
            self.handle_init_response(now, header, data);
            return;
        }
        let Some(payloads) = self.decrypt(data) else {
            return;
        };
        self.last_heard = now;
        let Some(req) = self.request.take() else {
            return;
        };
        let stage = req.stage;
        if let Some(t) = unknown_critical(&payloads) {
            self.fail(
                now,
                Error::Protocol {
                    stage,
                    detail: format!("unsupported critical payload {t}"),
                },
            );
            return;
        }
        let result = match req.pending {
            Pending::Init => Ok(()),
            Pending::Auth => self.handle_auth_response(now, payloads),
            Pending::RekeyChild(r) => self.handle_child_rekey_response(now, r, payloads),
            Pending::RekeyIke(r) => self.handle_ike_rekey_response(now, r, payloads),
            Pending::Dpd => Ok(()),
            Pending::DeleteChild(spi) => {
                self.child_deleted(spi);
                Ok(())
            }
            Pending::DeleteIke => {
                let why = self.closing.take().flatten();
                self.finish(why);
                Ok(())
            }
        };
        if let Err(e) = result {
            self.fail(now, e);
        }
    }

    fn handle_request(&mut self, now: Instant, header: &Header, data: &[u8]) {
        if !matches!(self.phase, Phase::Established) {
            debug!("dropping a request before the IKE SA is established");
            return;
        }
        let id = header.message_id;
        let duplicate = id.wrapping_add(1) == self.peer_id
            && self.last_response.as_ref().is_some_and(|(i, _)| *i == id);
        if id != self.peer_id && !duplicate {
            debug!(
                id,
                expected = self.peer_id,
                "dropping a request out of the window"
            );
            return;
        }
        let Some(payloads) = self.decrypt(data) else {
            return;
        };
        self.last_heard = now;
        if duplicate {
            if let Some((_, resp)) = &self.last_response {
                debug!(id, "answering a retransmitted request from the cache");
                self.transmits.push_back(Transmit {
                    data: resp.clone(),
                    udp_encap: self.udp_encap,
                });
            }
            return;
        }
        self.peer_id = self.peer_id.wrapping_add(1);
        let answer = if let Some(t) = unknown_critical(&payloads) {
            vec![notify(
                super::wire::notify_type::UNSUPPORTED_CRITICAL_PAYLOAD,
                vec![t],
            )]
        } else {
            match header.exchange {
                ExchangeType::Informational => self.handle_info_request(now, &payloads),
                ExchangeType::CreateChildSa => self.handle_create_child_request(now, &payloads),
                _ => vec![notify(super::wire::notify_type::INVALID_SYNTAX, vec![])],
            }
        };
        let after = self.switch_after_response.take();
        match self.encrypt(header.exchange, id, true, &answer) {
            Ok(resp) => {
                self.transmits.push_back(Transmit {
                    data: resp.clone(),
                    udp_encap: self.udp_encap,
                });
                self.last_response = Some((id, resp));
            }
            Err(e) => {
                self.fail(now, e);
                return;
            }
        }
        if let Some(new_sa) = after {
            self.switch_to(now, new_sa);
        }
        if self.peer_closed {
            // Closing on purpose ourselves? Then that is the reason; else the gateway's.
            let why = self.closing.take().unwrap_or(Some(Error::PeerDeleted));
            self.finish(why);
        }
    }

    /// Decrypts an SK message, or collects an SKF fragment (RFC 7383) until its message is
    /// complete; `None` (logged) for anything that does not authenticate or is incomplete.
    fn decrypt(&mut self, data: &[u8]) -> Option<Vec<Payload>> {
        let parts = match sk_aad(data) {
            Ok(p) => p,
            Err(e) => {
                debug!("dropping an unencrypted or malformed message: {e}");
                return None;
            }
        };
        if let Some(f) = parts.fragment {
            if !self.fragmentation {
                debug!("dropping an IKE fragment: fragmentation was not negotiated");
                return None;
            }
            return self.reassemble(&parts, f);
        }
        let sk_in = self.sk_in.as_ref()?;
        let plain = match sk_in.open(parts.aad, parts.body) {
            Ok(p) => p,
            Err(e) => {
                warn!("dropping a message that failed decryption: {e}");
                return None;
            }
        };
        match parse_payload_chain(parts.first_inner, &plain) {
            Ok(p) => Some(p),
            Err(e) => {
                warn!("dropping a message with malformed encrypted payloads: {e}");
                None
            }
        }
    }

    /// Authenticates one fragment and adds it to the message being reassembled; the whole
    /// message's payloads once every fragment is there (RFC 7383 §2.6).
    fn reassemble(&mut self, parts: &SkParts<'_>, f: FragmentInfo) -> Option<Vec<Payload>> {
        if f.number == 0 || f.number > f.total || usize::from(f.total) > MAX_FRAGMENTS {
            debug!(?f, "dropping a fragment with bad numbers");
            return None;
        }
        let plain = match self.sk_in.as_ref()?.open(parts.aad, parts.body) {
            Ok(p) => p,
            Err(e) => {
                warn!("dropping a fragment that failed decryption: {e}");
                return None;
            }
        };
        let key = (
            parts.header.message_id,
            parts.header.flags & FLAG_RESPONSE != 0,
        );
        let fresh = !matches!(&self.reassembly, Some(r) if r.key == key && r.total == f.total);
        if fresh {
            self.reassembly = Some(Reassembly {
                key,
                total: f.total,
                first_inner: 0,
                parts: vec![None; usize::from(f.total)],
                bytes: 0,
            });
        }
        let r = self.reassembly.as_mut()?;
        let slot = r.parts.get_mut(usize::from(f.number) - 1)?;
        if slot.is_some() {
            return None;
        }
        r.bytes += plain.len();
        if r.bytes > MAX_REASSEMBLED_LEN {
            warn!("dropping a fragmented message larger than {MAX_REASSEMBLED_LEN} bytes");
            self.reassembly = None;
            return None;
        }
        if f.number == 1 {
            r.first_inner = parts.first_inner;
        }
        *slot = Some(plain);
        if r.parts.iter().any(Option::is_none) {
            debug!(number = f.number, total = f.total, "IKE fragment received");
            return None;
        }
        let r = self.reassembly.take()?;
        let mut whole = zeroize::Zeroizing::new(Vec::with_capacity(r.bytes));
        for p in r.parts.into_iter().flatten() {
            whole.extend_from_slice(&p);
        }
        debug!(
            total = r.total,
            len = whole.len(),
            "IKE message reassembled"
        );
        match parse_payload_chain(r.first_inner, &whole) {
            Ok(p) => Some(p),
            Err(e) => {
                warn!("dropping a reassembled message with malformed payloads: {e}");
                None
            }
        }
    }

    /// Splits a request into RFC 7383 fragments of at most [`Config::fragment_size`] bytes.
    fn encrypt_fragments(
        &mut self,
        exchange: ExchangeType,
        id: u32,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, Error> {
        let header = self.header(exchange, id, false);
        let room = self.cfg.fragment_size.saturating_sub(SKF_PREFIX_LEN);
        let sk_out = self
            .sk_out
            .as_mut()
            .ok_or(strait_crypto::CryptoError::Unsupported("SK before keys"))?;
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        let first = emit_payload_chain(payloads, &mut plain);
        let mut chunk = room;
        while chunk > 0 && sk_out.sealed_len(chunk) > room {
            chunk -= 1;
        }
        let total = if chunk < MIN_FRAGMENT_PAYLOAD {
            0
        } else {
            plain.len().div_ceil(chunk)
        };
        if total == 0 || total > MAX_FRAGMENTS {
            return Err(Error::Protocol {
                stage: Stage::IkeAuth,
                detail: format!(
                    "cannot fragment a {}-byte message into pieces of {} bytes",
                    plain.len(),
                    self.cfg.fragment_size
                ),
            });
        }
        let mut out = Vec::with_capacity(total);
        for (i, c) in plain.chunks(chunk).enumerate() {
            let inner = if i == 0 { first } else { 0 };
            let mut d = emit_skf_prefix(
                &header,
                inner,
                (i + 1) as u16,
                total as u16,
                sk_out.sealed_len(c.len()),
            );
            let body = sk_out.seal(&d, c)?;
            d.extend_from_slice(&body);
            out.push(d);
        }
        Ok(out)
    }

    fn header(&self, exchange: ExchangeType, id: u32, response: bool) -> Header {
        let (spi_i, spi_r) = if self.initiator {
            (self.spi_ours, self.spi_theirs)
        } else {
            (self.spi_theirs, self.spi_ours)
        };
        let mut flags = 0;
        if self.initiator {
            flags |= FLAG_INITIATOR;
        }
        if response {
            flags |= FLAG_RESPONSE;
        }
        Header {
            spi_i,
            spi_r,
            next_payload: payload_type::SK,
            minor_version: 0,
            exchange,
            flags,
            message_id: id,
            length: 0,
        }
    }

    /// Builds an encrypted message with the current SA's keys.
    fn encrypt(
        &mut self,
        exchange: ExchangeType,
        id: u32,
        response: bool,
        payloads: &[Payload],
    ) -> Result<Vec<u8>, Error> {
        let header = self.header(exchange, id, response);
        let sk_out = self
            .sk_out
            .as_mut()
            .ok_or(strait_crypto::CryptoError::Unsupported("SK before keys"))?;
        seal_message(sk_out, &header, payloads)
    }

    /// Sends a new request and tracks it for retransmission.
    fn send_request(
        &mut self,
        now: Instant,
        exchange: ExchangeType,
        payloads: &[Payload],
        stage: Stage,
        pending: Pending,
    ) -> Result<(), Error> {
        let id = self.next_id;
        let datagram = self.encrypt(exchange, id, false, payloads)?;
        let fragments = if self.fragmentation && datagram.len() > self.cfg.fragment_size {
            let f = self.encrypt_fragments(exchange, id, payloads)?;
            info!(
                "sending {stage} as {} fragments ({} bytes unfragmented)",
                f.len(),
                datagram.len()
            );
            f
        } else {
            Vec::new()
        };
        self.next_id = self.next_id.wrapping_add(1);
        self.track_request(now, id, datagram, stage, pending);
        if let Some(req) = &mut self.request {
            if !fragments.is_empty() {
                // Replace the unfragmented send that track_request queued.
                self.transmits.pop_back();
                for f in &fragments {
                    self.transmits.push_back(Transmit {
                        data: f.clone(),
                        udp_encap: self.udp_encap,
                    });
                }
                req.fragments = fragments;
            }
        }
        Ok(())
    }

    fn track_request(
        &mut self,
        now: Instant,
        id: u32,
        datagram: Vec<u8>,
        stage: Stage,
        pending: Pending,
    ) {
        self.transmits.push_back(Transmit {
            data: datagram.clone(),
            udp_encap: self.udp_encap,
        });
        let give_up_at = match pending {
            Pending::Dpd => Some(now + self.cfg.dpd_timeout),
            // Whoever disconnects wants to be disconnected: a DELETE gets two chances.
            Pending::DeleteIke => Some(now + self.cfg.retransmit.wait(0) * 3),
            _ => None,
        };
        let deadline = now + self.cfg.retransmit.wait(0);
        self.request = Some(Request {
            id,
            datagram,
            fragments: Vec::new(),
            sends: 1,
            deadline: give_up_at.map_or(deadline, |t| deadline.min(t)),
            give_up_at,
            stage,
            pending,
        });
    }

    /// Starts queued work when the request window is free.
    fn start_next(&mut self, now: Instant) {
        while self.request.is_none() && !self.is_closed() {
            let Some(task) = self.queue.pop_front() else {
                return;
            };
            let result = match task {
                Task::RekeyChild(spi) => self.start_child_rekey(now, spi, None),
                Task::RekeyIke => self.start_ike_rekey(now, None),
                Task::Dpd => self.send_request(
                    now,
                    ExchangeType::Informational,
                    &[],
                    Stage::Informational,
                    Pending::Dpd,
                ),
                Task::DeleteChild(spi) => self.start_delete_child(now, spi),
                Task::DeleteIke => {
                    let r = self.send_request(
                        now,
                        ExchangeType::Informational,
                        &[Payload::Delete(Delete {
                            protocol: ProtocolId::Ike,
                            spis: vec![],
                        })],
                        Stage::Informational,
                        Pending::DeleteIke,
                    );
                    // A DELETE need not wait the full schedule: two tries, then we are gone.
                    if let Some(req) = &mut self.request {
                        req.sends = self.cfg.retransmit.tries.max(1);
                    }
                    r
                }
            };
            if let Err(e) = result {
                self.fail(now, e);
            }
        }
    }

    fn enqueue(&mut self, task: Task) {
        if !self.queue.contains(&task) {
            self.queue.push_back(task);
        }
    }

    /// Turns due timers into queued work.
    fn schedule(&mut self, now: Instant) {
        if let Some(at) = self.ike_expire_at {
            if now >= at {
                self.fail(now, Error::Expired("IKE"));
                return;
            }
        }
        if self.ike_rekey_at.is_some_and(|at| now >= at) {
            self.ike_rekey_at = None;
            self.enqueue(Task::RekeyIke);
        }
        let mut expired_active = false;
        let mut tasks = Vec::new();
        for c in &mut self.children {
            if now >= c.expire_at {
                if c.superseded {
                    tasks.push(Task::DeleteChild(c.spi_in));
                    c.expire_at = now + DELETE_GRACE;
                } else {
                    expired_active = true;
                }
            } else if c.rekey_at.is_some_and(|at| now >= at) {
                c.rekey_at = None;
                tasks.push(Task::RekeyChild(c.spi_in));
            }
        }
        if expired_active {
            self.fail(now, Error::Expired("child"));
            return;
        }
        for t in tasks {
            self.enqueue(t);
        }
        if let Some(d) = self.cfg.dpd_interval {
            if self.request.is_none() && self.queue.is_empty() && now >= self.last_heard + d {
                self.enqueue(Task::Dpd);
            }
        }
    }

    fn request_timed_out(&mut self, now: Instant) {
        let Some(req) = self.request.take() else {
            return;
        };
        let port = if self.udp_encap { 4500 } else { 500 };
        warn!("no answer to {} after {} sends", req.stage, req.sends);
        let error = match req.pending {
            Pending::Init | Pending::Auth => Error::Timeout {
                stage: req.stage,
                tries: req.sends,
                port,
            },
            Pending::DeleteIke => {
                let why = self.closing.take().flatten();
                self.finish(why);
                return;
            }
            // We were closing on purpose (our DELETE waited for this request): that is the
            // reason, not the silence.
            _ if self.closing.is_some() => {
                let why = self.closing.take().flatten();
                self.finish(why);
                return;
            }
            _ => Error::DeadPeer,
        };
        let _ = now;
        // The gateway is unreachable: no point in sending a DELETE.
        self.finish(Some(error));
    }

    /// Fails the IKE SA: tells the gateway (best effort, once) and reports the error.
    fn fail(&mut self, _now: Instant, error: Error) {
        if self.is_closed() {
            return;
        }
        warn!("closing the IKE SA: {error}");
        if self.sk_out.is_some() && !matches!(self.phase, Phase::Init(_)) {
            let id = self.next_id;
            let delete = [Payload::Delete(Delete {
                protocol: ProtocolId::Ike,
                spis: vec![],
            })];
            if let Ok(d) = self.encrypt(ExchangeType::Informational, id, false, &delete) {
                self.transmits.push_back(Transmit {
                    data: d,
                    udp_encap: self.udp_encap,
                });
            }
        }
        self.finish(Some(error));
    }

    /// Reports the end and stops everything.
    fn finish(&mut self, error: Option<Error>) {
        if self.is_closed() {
            return;
        }
        match &error {
            Some(e) => info!("IKE SA closed: {e}"),
            None => info!("IKE SA closed"),
        }
        for c in self.children.drain(..) {
            self.events.push_back(Event::ChildSaDeleted {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
        }
        self.phase = Phase::Closed;
        self.request = None;
        self.queue.clear();
        self.old.clear();
        self.ike_collision = None;
        self.early.clear();
        self.events.push_back(Event::Closed { error });
    }

    fn random_bytes(&self, len: usize) -> Result<Vec<u8>, Error> {
        let mut v = vec![0u8; len];
        self.provider.fill_random(&mut v)?;
        Ok(v)
    }

    /// A fresh inbound child SPI (≥ 256: lower values are reserved, RFC 4303 §2.1) that no
    /// current child uses.
    fn new_child_spi(&self) -> Result<u32, Error> {
        loop {
            let b = self.random_bytes(4)?;
            let spi = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if spi >= 256 && !self.children.iter().any(|c| c.spi_in == spi) {
                return Ok(spi);
            }
        }
    }

    /// A rekey time a little before `lifetime`, jittered by up to 10 % so that both peers do
    /// not rekey at the same moment (which would cause collisions).
    fn rekey_time(&self, now: Instant, lifetime: Duration) -> Instant {
        let r = self
            .random_bytes(2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let jitter = lifetime.mul_f64(0.1 * f64::from(r) / f64::from(u16::MAX));
        now + lifetime.saturating_sub(jitter)
    }

    fn new_key_exchange(
        &self,
        group: strait_crypto::DhGroup,
    ) -> Result<Box<dyn KeyExchange>, Error> {
        Ok(self.provider.key_exchange(group)?)
    }

    /// The NAT detection hash of §2.23: SHA-1(SPIi | SPIr | IP | port).
    fn nat_hash(&self, spi_i: u64, spi_r: u64, addr: SocketAddr) -> Result<Vec<u8>, Error> {
        let ip = match addr.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let h = self.provider.hash(
            HashAlg::Sha1,
            &[
                &spi_i.to_be_bytes(),
                &spi_r.to_be_bytes(),
                &ip,
                &addr.port().to_be_bytes(),
            ],
        )?;
        Ok(h.as_bytes().to_vec())
    }
}

/// Builds header ‖ SK{payloads} with `sk_out`.
fn seal_message(
    sk_out: &mut SkCrypter,
    header: &Header,
    payloads: &[Payload],
) -> Result<Vec<u8>, Error> {
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    let first = emit_payload_chain(payloads, &mut plain);
    let body_len = sk_out.sealed_len(plain.len());
    let mut out = emit_sk_prefix(header, first, body_len);
    let body = sk_out.seal(&out, &plain)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// A notify without SPI.
fn notify(notify_type: u16, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify {
        protocol: ProtocolId::Other(0),
        spi: vec![],
        notify_type,
        data,
    })
}

/// The first critical payload type we do not understand, if any.
fn unknown_critical(payloads: &[Payload]) -> Option<u8> {
    payloads.iter().find_map(|p| match p {
        Payload::Unknown {
            payload_type,
            critical: true,
            ..
        } => Some(*payload_type),
        _ => None,
    })
}

/// Notifies of a message.
fn notifies(payloads: &[Payload]) -> impl Iterator<Item = &Notify> {
    payloads.iter().filter_map(|p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

/// The first error notify (type below 16384) of a message.
fn error_notify(payloads: &[Payload]) -> Option<&Notify> {
    notifies(payloads).find(|n| n.notify_type < 16384)
}

#[cfg(test)]
mod tests;
