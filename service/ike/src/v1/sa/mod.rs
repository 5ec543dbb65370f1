//! The IKEv1 initiator's state machine: one ISAKMP SA and its Quick Mode child SAs, sans-IO.
//!
//! It is driven exactly like [`crate::v2::IkeSa`] (the service drives both through
//! [`crate::Initiator`]): datagrams and time in; datagrams, a deadline and the same
//! [`Event`]s out. The order of a connection is phase 1 ([`phase1`], Main or Aggressive
//! Mode) → XAuth if the gateway asks ([`transaction`]) → Mode Config, pulled by us or pushed
//! by the gateway ([`transaction`]) → Quick Mode ([`quick`]). Informational exchanges
//! (DELETE, notifies, DPD) are in [`info`].
//!
//! One request of ours is outstanding at a time and is retransmitted on the configured
//! schedule; the gateway's requests are answered once and the answer is resent for
//! duplicates, so retransmissions never move a CBC IV chain.

mod info;
mod phase1;
mod quick;
mod transaction;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strait_crypto::{CryptoProvider, DhGroup, HashAlg, SecretBytes};
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use super::crypt::Crypter;
use super::proposal::{self as p, auth_method, EspTransform, P1Transform};
use super::vendor::PeerVendors;
use super::wire::{self, emit_chain, exchange, flags, payload, Header, RawPayload};
use crate::initiator::RekeyTimes;
use crate::v2::proposal_wire::NegotiatedIke;
use crate::v2::wire::TrafficSelector;
use crate::{Config, ConfigReply, Error, Event, LocalAuth, Stage, Transmit};

/// Phase 1 exchange type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Main Mode: six messages, identities protected.
    Main,
    /// Aggressive Mode: three messages; with a PSK the gateway's reply lets an eavesdropper
    /// brute-force the key offline.
    Aggressive,
}

/// XAuth credentials (draft-beaulieu-ike-xauth), asked for by the gateway after phase 1.
pub struct Xauth {
    /// User name.
    pub username: String,
    /// Password (zeroized on drop, never logged).
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Xauth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Xauth {{ username: {:?}, password: <redacted> }}",
            self.username
        )
    }
}

/// What IKEv1 needs beyond the shared [`Config`].
#[derive(Debug)]
pub struct Options {
    /// Main or Aggressive Mode.
    pub mode: Mode,
    /// XAuth user name and password, for `xauth-psk` and `xauth-cert` profiles.
    pub xauth: Option<Xauth>,
}

/// Nonce length we send.
const NONCE_LEN: usize = 32;
/// How long we wait for the gateway to start XAuth after phase 1 before going on without it.
const XAUTH_WAIT: Duration = Duration::from_secs(10);
/// The longest we keep an ISAKMP SA before re-keying it, whatever was negotiated. Gateways
/// may echo our proposed lifetime while keeping a shorter one of their own without saying so
/// (strongSwan: about 4 h; and as responder it does not re-authenticate a client with a
/// virtual IP, it lets the SA expire), so the client must re-key first.
pub(super) const MAX_PHASE1_LIFETIME: Duration = Duration::from_secs(3 * 3600);
/// How long we wait before retrying a failed phase 1 rekey.
const RETRY_IKE_REKEY: Duration = Duration::from_secs(30);
/// The longest we wait for a pushed Mode Config SET before pulling with a REQUEST (when the
/// round-trip time to the gateway is unknown). A pushed SET follows the gateway's last phase 1
/// or XAuth message within about one round trip, so with a measured round trip we wait
/// [`PUSH_WAIT_RTTS`] of them plus [`PUSH_WAIT_MARGIN`], never less than [`PUSH_WAIT_MIN`].
const PUSH_WAIT: Duration = Duration::from_millis(300);
const PUSH_WAIT_RTTS: u32 = 2;
const PUSH_WAIT_MARGIN: Duration = Duration::from_millis(20);
const PUSH_WAIT_MIN: Duration = Duration::from_millis(30);

/// The keys and cipher of an established ISAKMP SA.
struct Isakmp {
    hash: HashAlg,
    skeyid_d: SecretBytes,
    skeyid_a: SecretBytes,
    crypter: Crypter,
    negotiated: NegotiatedIke,
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A phase 1 exchange is running (state in `Sa::p1`).
    Phase1,
    /// Phase 1 is done; the gateway should start XAuth.
    XauthWait { until: Instant },
    /// Waiting briefly for a pushed Mode Config before pulling.
    PushWait { until: Instant },
    /// Our Mode Config request is outstanding.
    ModeConfig,
    /// Our Quick Mode is outstanding (state in `Sa::quick`).
    Quick,
    /// Up.
    Established,
    /// Gone.
    Closed,
}

/// Our outstanding request.
struct Request {
    datagram: Vec<u8>,
    /// When it was first sent (a round-trip sample when answered without a retransmission).
    sent_at: Instant,
    sends: u32,
    deadline: Instant,
    stage: Stage,
    msg_id: u32,
}

/// One child SA.
#[derive(Debug)]
struct Child {
    spi_in: u32,
    spi_out: u32,
    rekey_at: Option<Instant>,
    expire_at: Instant,
}

/// The ISAKMP SA being replaced while a new phase 1 runs (our phase 1 rekey).
struct OldIsakmp {
    icookie: u64,
    rcookie: u64,
    isakmp: Option<Isakmp>,
    last_in: Option<(Vec<u8>, Vec<u8>)>,
    p1: Option<phase1::P1State>,
    step: Step,
}

/// An outstanding liveness check.
struct Dpd {
    first_seq: u32,
    retry_at: Instant,
    give_up_at: Instant,
}

/// The IKEv1 SA of one connection (ISAKMP SA plus its IPsec SAs).
pub struct Sa {
    cfg: Config,
    opts: Options,
    provider: Arc<dyn CryptoProvider>,
    icookie: u64,
    rcookie: u64,
    step: Step,
    auth_method: u16,
    p1_offer: Vec<P1Transform>,
    esp_offer: Vec<Vec<EspTransform>>,
    pfs: Option<DhGroup>,
    p1: Option<phase1::P1State>,
    isakmp: Option<Isakmp>,
    vendors: PeerVendors,
    udp_encap: bool,
    request: Option<Request>,
    /// The last message the gateway sent that we answered, and our answer.
    last_in: Option<(Vec<u8>, Vec<u8>)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    children: Vec<Child>,
    config: Option<ConfigReply>,
    config_delivered: bool,
    remote_id: String,
    last_heard: Instant,
    dpd: Option<Dpd>,
    dpd_seq: u32,
    quick: Option<quick::QuickState>,
    peer_quick: Option<quick::PeerQuick>,
    started: Instant,
    /// The time of the call being handled (for retries scheduled from failure paths).
    clock: Instant,
    /// The lifetime of the ISAKMP SA being negotiated.
    p1_lifetime: Duration,
    ike_rekey_at: Option<Instant>,
    ike_expire_at: Option<Instant>,
    /// The previous ISAKMP SA while our phase 1 rekey runs.
    old: Option<OldIsakmp>,
    /// A message for the old ISAKMP SA is being handled (its fields are swapped in).
    handling_old: bool,
    /// The round-trip time to the gateway, measured in phase 1.
    rtt: Option<Duration>,
}

impl std::fmt::Debug for Sa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("v1::Sa")
            .field("icookie", &format_args!("{:016x}", self.icookie))
            .field("rcookie", &format_args!("{:016x}", self.rcookie))
            .field("step", &self.step)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

impl Sa {
    /// Starts a connection: builds the first phase 1 message (available from
    /// [`Sa::poll_transmit`] at once).
    pub fn new(
        cfg: Config,
        opts: Options,
        provider: Arc<dyn CryptoProvider>,
        now: Instant,
    ) -> Result<Sa, Error> {
        let xauth = opts.xauth.is_some();
        let auth =
            match (&cfg.auth, xauth) {
                (LocalAuth::Psk(_), false) => auth_method::PSK,
                (LocalAuth::Psk(_), true) => auth_method::XAUTH_INIT_PSK,
                (LocalAuth::Certificate { key, .. }, x) => {
                    if !matches!(key, crate::cert::PrivateKey::Rsa(_)) {
                        return Err(Error::V1Unsupported(
                            "IKEv1 here signs with RSA keys only; use an RSA certificate or IKEv2"
                                .into(),
                        ));
                    }
                    if x {
                        auth_method::XAUTH_INIT_RSA
                    } else {
                        auth_method::RSA_SIG
                    }
                }
                (LocalAuth::Eap { .. }, _) => return Err(Error::V1Unsupported(
                    "EAP exists only in IKEv2; for an IKEv1 gateway use xauth-psk or xauth-cert \
                     with the same username and password"
                        .into(),
                )),
            };
        let p1_offer = p::phase1_transforms(&cfg.ike_proposals)
            .map_err(|e| Error::V1Unsupported(e.to_string()))?;
        let esp_offer = p::esp_transforms(&cfg.esp_proposals)
            .map_err(|e| Error::V1Unsupported(e.to_string()))?;
        let pfs = cfg.esp_proposals.iter().find_map(|p| p.dh.first().copied());
        let mut cookie = [0u8; 8];
        loop {
            provider.fill_random(&mut cookie)?;
            if cookie != [0; 8] {
                break;
            }
        }
        let mut sa = Sa {
            cfg,
            opts,
            provider,
            icookie: u64::from_be_bytes(cookie),
            rcookie: 0,
            step: Step::Phase1,
            auth_method: auth,
            p1_offer,
            esp_offer,
            pfs,
            p1: None,
            isakmp: None,
            vendors: PeerVendors::default(),
            udp_encap: false,
            request: None,
            last_in: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            children: Vec::new(),
            config: None,
            config_delivered: false,
            remote_id: String::new(),
            last_heard: now,
            dpd: None,
            dpd_seq: 0,
            quick: None,
            peer_quick: None,
            started: now,
            clock: now,
            p1_lifetime: Duration::ZERO,
            ike_rekey_at: None,
            ike_expire_at: None,
            old: None,
            handling_old: false,
            rtt: None,
        };
        match sa.opts.mode {
            Mode::Main => sa.start_main(now)?,
            Mode::Aggressive => {
                // The service warns the user about Aggressive Mode with a PSK (once per
                // connect, in its own words); the library does not repeat it.
                sa.start_aggressive(now)?
            }
        }
        Ok(sa)
    }

    /// Our initiator cookie.
    pub fn local_spi(&self) -> u64 {
        self.icookie
    }

    /// Whether IKE and ESP use UDP 4500.
    pub fn udp_encap(&self) -> bool {
        self.udp_encap
    }

    /// Whether phase 1 (and XAuth/Mode Config) completed and the SA is not closing.
    pub fn is_established(&self) -> bool {
        (matches!(self.step, Step::Quick | Step::Established) && self.isakmp.is_some())
            || self.old.is_some()
    }

    /// Whether the SA is gone.
    pub fn is_closed(&self) -> bool {
        self.step == Step::Closed
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Sa::handle_timeout`] must be called next.
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
        match self.step {
            Step::XauthWait { until } | Step::PushWait { until } => consider(Some(until)),
            Step::Established => {
                consider(self.dpd_due());
                consider(self.dpd.as_ref().map(|d| d.retry_at.min(d.give_up_at)));
                consider(self.ike_rekey_at);
                consider(self.ike_expire_at);
                for c in &self.children {
                    consider(c.rekey_at);
                    consider(Some(c.expire_at));
                }
            }
            _ => {}
        }
        next
    }

    /// When the next rekeys are planned.
    pub fn rekey_times(&self) -> RekeyTimes {
        RekeyTimes {
            ike: self.ike_rekey_at,
            child: self.children.iter().filter_map(|c| c.rekey_at).min(),
        }
    }

    /// Deletes the SAs (the user disconnects): DELETE for every child SA and the ISAKMP SA,
    /// then [`Event::Closed`] at once (IKEv1 deletes are not acknowledged).
    pub fn close(&mut self, _now: Instant) {
        if self.is_closed() {
            return;
        }
        if self.isakmp.is_some() {
            let spis: Vec<Vec<u8>> = self
                .children
                .iter()
                .map(|c| c.spi_in.to_be_bytes().to_vec())
                .collect();
            if !spis.is_empty() {
                self.send_delete(p::PROTO_ESP, spis);
            }
            self.send_delete(p::PROTO_ISAKMP, vec![self.cookies().to_vec()]);
        }
        self.finish(None);
    }

    /// Handles an expired timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.clock = now;
        if let Err(e) = self.timeout(now) {
            self.fail(e);
        }
    }

    fn timeout(&mut self, now: Instant) -> Result<(), Error> {
        // A gateway that answered the key exchange at once but not our encrypted identity
        // message almost always failed to decrypt it (a different PSK): say so after three
        // sends instead of the whole schedule.
        let psk = matches!(self.cfg.auth, LocalAuth::Psk(_));
        let first_quick_mode = self.request.as_ref().map(|r| r.stage) == Some(Stage::QuickMode)
            && self.children.is_empty();
        let max_tries = if psk && self.p1.as_ref().is_some_and(|p| p.awaiting == 6) {
            self.cfg.retransmit.tries.min(2)
        } else if first_quick_mode {
            // The gateway has just answered phase 1, so it hears us: silence now means it
            // cannot set up the tunnel, and waiting out the whole schedule only delays saying so.
            self.cfg.retransmit.tries.min(3)
        } else {
            self.cfg.retransmit.tries
        };
        if let Some(req) = &mut self.request {
            if now >= req.deadline {
                if req.sends > max_tries {
                    let (stage, tries) = (req.stage, req.sends);
                    return Err(self.timeout_error(stage, tries));
                }
                debug!(sends = req.sends, "retransmitting {}", req.stage);
                req.deadline = now + self.cfg.retransmit.wait(req.sends);
                req.sends += 1;
                let data = req.datagram.clone();
                self.push(data);
            }
        }
        match self.step {
            Step::XauthWait { until } if now >= until => {
                warn!("the gateway did not start XAuth after phase 1; going on without it");
                self.after_xauth(now)?;
            }
            Step::PushWait { until } if now >= until => self.send_mode_config_request(now)?,
            Step::Established => {
                if self.ike_expire_at.is_some_and(|t| now >= t) {
                    return Err(Error::Expired("IKE"));
                }
                self.dpd_timeout(now)?;
                self.child_timers(now)?;
                if self.step == Step::Established
                    && self.request.is_none()
                    && self.ike_rekey_at.is_some_and(|t| now >= t)
                {
                    self.start_ike_rekey(now)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Phase 1 rekey: a new Main or Aggressive Mode with new cookies while the current
    /// ISAKMP SA keeps serving; the child SAs live on (gateways adopt them).
    fn start_ike_rekey(&mut self, now: Instant) -> Result<(), Error> {
        info!("rekeying the ISAKMP SA with a new phase 1");
        let mut cookie = [0u8; 8];
        loop {
            self.provider.fill_random(&mut cookie)?;
            if cookie != [0; 8] && u64::from_be_bytes(cookie) != self.icookie {
                break;
            }
        }
        self.ike_rekey_at = None;
        self.old = Some(OldIsakmp {
            icookie: self.icookie,
            rcookie: self.rcookie,
            isakmp: self.isakmp.take(),
            last_in: self.last_in.take(),
            p1: None,
            step: Step::Established,
        });
        self.icookie = u64::from_be_bytes(cookie);
        self.rcookie = 0;
        self.step = Step::Phase1;
        self.dpd = None;
        match self.opts.mode {
            Mode::Main => self.start_main(now),
            Mode::Aggressive => self.start_aggressive(now),
        }
    }

    /// Runs `f` with the old ISAKMP SA's state swapped in.
    fn with_old<R>(&mut self, f: impl FnOnce(&mut Sa) -> R) -> Option<R> {
        let mut old = self.old.take()?;
        self.swap_old(&mut old);
        self.handling_old = true;
        let r = f(self);
        self.handling_old = false;
        self.swap_old(&mut old);
        if self.old.is_none() && !self.is_closed() {
            self.old = Some(old);
        }
        Some(r)
    }

    fn swap_old(&mut self, old: &mut OldIsakmp) {
        std::mem::swap(&mut self.icookie, &mut old.icookie);
        std::mem::swap(&mut self.rcookie, &mut old.rcookie);
        std::mem::swap(&mut self.isakmp, &mut old.isakmp);
        std::mem::swap(&mut self.last_in, &mut old.last_in);
        std::mem::swap(&mut self.p1, &mut old.p1);
        std::mem::swap(&mut self.step, &mut old.step);
    }

    /// The new ISAKMP SA is up: delete the old one and carry on.
    pub(super) fn finish_ike_rekey(&mut self) -> Result<(), Error> {
        self.with_old(|sa| {
            let cookies = sa.cookies().to_vec();
            sa.send_delete(p::PROTO_ISAKMP, vec![cookies]);
        });
        self.old = None;
        self.step = Step::Established;
        let algorithms = self
            .isakmp
            .as_ref()
            .map(|i| i.negotiated)
            .ok_or_else(|| internal("no ISAKMP SA"))?;
        info!(%algorithms, "ISAKMP SA rekeyed");
        self.events.push_back(Event::IkeSaRekeyed { algorithms });
        Ok(())
    }

    /// Our phase 1 rekey failed: keep the old ISAKMP SA and try again later.
    fn abort_ike_rekey(&mut self, e: &Error) -> bool {
        let Some(mut old) = self.old.take() else {
            return false;
        };
        if self.ike_expire_at.is_some_and(|t| self.clock >= t) {
            return false;
        }
        warn!("rekeying the ISAKMP SA failed ({e}); keeping the current one for now");
        self.swap_old(&mut old);
        self.request = None;
        self.dpd = None;
        self.ike_rekey_at = Some(self.clock + RETRY_IKE_REKEY);
        true
    }

    /// Handles a datagram (non-ESP marker already removed).
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if self.is_closed() {
            return;
        }
        let (h, msg) = match Header::parse(data) {
            Ok(x) => x,
            Err(e) => {
                debug!(
                    len = data.len(),
                    "dropping a datagram that is not ISAKMP: {e}"
                );
                return;
            }
        };
        self.clock = now;
        if self
            .old
            .as_ref()
            .is_some_and(|o| o.icookie == h.icookie && o.rcookie == h.rcookie)
        {
            let r = self.with_old(|sa| match h.exchange {
                exchange::INFORMATIONAL => sa.on_informational(now, &h, msg),
                _ => Ok(()),
            });
            if let Some(Err(e)) = r {
                self.fail(e);
            }
            return;
        }
        if h.icookie != self.icookie || (self.rcookie != 0 && h.rcookie != self.rcookie) {
            debug!("dropping an ISAKMP message for other cookies");
            return;
        }
        if let Some((seen, answer)) = &self.last_in {
            if seen == msg {
                debug!("the gateway repeated a message; resending our answer");
                let a = answer.clone();
                self.push(a);
                return;
            }
        }
        let result = match h.exchange {
            exchange::MAIN | exchange::AGGRESSIVE => self.on_phase1(now, &h, msg),
            exchange::TRANSACTION => self.on_transaction(now, &h, msg),
            exchange::QUICK => self.on_quick(now, &h, msg),
            exchange::INFORMATIONAL => self.on_informational(now, &h, msg),
            other => {
                debug!(exchange = other, "ignoring an unsupported ISAKMP exchange");
                Ok(())
            }
        };
        if let Err(e) = result {
            self.fail(e);
        }
    }

    // ---- helpers shared by the exchanges ----

    fn cookies(&self) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[..8].copy_from_slice(&self.icookie.to_be_bytes());
        c[8..].copy_from_slice(&self.rcookie.to_be_bytes());
        c
    }

    fn random(&self, n: usize) -> Result<Vec<u8>, Error> {
        let mut v = vec![0u8; n];
        self.provider.fill_random(&mut v)?;
        Ok(v)
    }

    fn random_msg_id(&self) -> Result<u32, Error> {
        loop {
            let mut b = [0u8; 4];
            self.provider.fill_random(&mut b)?;
            let id = u32::from_be_bytes(b);
            if id != 0 {
                return Ok(id);
            }
        }
    }

    fn push(&mut self, data: Vec<u8>) {
        self.transmits.push_back(Transmit {
            data,
            udp_encap: self.udp_encap,
        });
    }

    /// Takes a round-trip sample from the outstanding request, answered now.
    fn sample_rtt(&mut self, now: Instant) {
        if let Some(r) = self.request.as_ref().filter(|r| r.sends == 1) {
            self.rtt = Some(now.saturating_duration_since(r.sent_at));
        }
    }

    /// How long to wait for a pushed Mode Config before pulling it.
    fn push_wait(&self) -> Duration {
        self.rtt.map_or(PUSH_WAIT, |rtt| {
            (rtt * PUSH_WAIT_RTTS + PUSH_WAIT_MARGIN).clamp(PUSH_WAIT_MIN, PUSH_WAIT)
        })
    }

    fn start_request(&mut self, now: Instant, data: Vec<u8>, stage: Stage, msg_id: u32) {
        self.push(data.clone());
        self.request = Some(Request {
            datagram: data,
            sent_at: now,
            sends: 1,
            deadline: now + self.cfg.retransmit.wait(0),
            stage,
            msg_id,
        });
    }

    fn header(&self, exchange: u8, msg_id: u32, next: u8, flags: u8) -> Header {
        Header {
            icookie: self.icookie,
            rcookie: self.rcookie,
            next,
            exchange,
            flags,
            msg_id,
            length: 0,
        }
    }

    /// An unencrypted message.
    fn plain_message(&self, exchange: u8, payloads: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let (first, body) = emit_chain(payloads);
        let mut out = self.header(exchange, 0, first, 0).emit(body.len());
        out.extend_from_slice(&body);
        out
    }

    /// An encrypted message (the IV chain of `msg_id` advances).
    fn encrypted_message(
        &mut self,
        exchange: u8,
        msg_id: u32,
        payloads: &[(u8, Vec<u8>)],
    ) -> Result<Vec<u8>, Error> {
        // The plaintext may hold an XAuth password: wipe it once encrypted.
        let (first, body) = emit_chain(payloads);
        let body = Zeroizing::new(body);
        let header = self.header(exchange, msg_id, first, flags::ENCRYPTION);
        let provider = self.provider.clone();
        let isakmp = self
            .isakmp
            .as_mut()
            .ok_or_else(|| internal("no keys yet"))?;
        let cipher = isakmp.crypter.encrypt(&*provider, msg_id, &body)?;
        let mut out = header.emit(cipher.len());
        out.extend_from_slice(&cipher);
        Ok(out)
    }

    /// `prf(SKEYID_a, parts...)`.
    fn prf_a(&self, parts: &[&[u8]]) -> Result<Vec<u8>, Error> {
        let isakmp = self
            .isakmp
            .as_ref()
            .ok_or_else(|| internal("no keys yet"))?;
        Ok(super::keys::prf(
            &*self.provider,
            isakmp.hash,
            &isakmp.skeyid_a,
            parts,
        )?)
    }

    /// A HASH-protected encrypted message: `HASH(prefix...) | payloads`, the hash taken as
    /// `prf(SKEYID_a, M-ID | prefix | payloads)` (RFC 2409 §5.5, §5.7).
    fn protected_message(
        &mut self,
        exchange: u8,
        msg_id: u32,
        prefix: &[&[u8]],
        payloads: Vec<(u8, Vec<u8>)>,
    ) -> Result<Vec<u8>, Error> {
        let (_, rest) = emit_chain(&payloads);
        let rest = Zeroizing::new(rest);
        let mid = msg_id.to_be_bytes();
        let mut parts: Vec<&[u8]> = vec![&mid];
        parts.extend_from_slice(prefix);
        parts.push(&rest);
        let hash = self.prf_a(&parts)?;
        let mut all = vec![(payload::HASH, hash)];
        all.extend(payloads);
        let out = self.encrypted_message(exchange, msg_id, &all);
        for (_, body) in &mut all {
            zeroize::Zeroize::zeroize(body);
        }
        out
    }

    /// Decrypts and parses an encrypted message after phase 1; checks the leading HASH
    /// (`prf(SKEYID_a, M-ID | prefix | rest)`) and, if it verifies, advances the IV chain.
    /// `None` for anything that does not verify (dropped, like forged traffic).
    fn open_protected(
        &mut self,
        h: &Header,
        msg: &[u8],
        prefix: &[&[u8]],
    ) -> Result<Option<Vec<RawPayload>>, Error> {
        if h.flags & flags::ENCRYPTION == 0 {
            debug!("dropping an unencrypted message after phase 1");
            return Ok(None);
        }
        let provider = self.provider.clone();
        let Some(isakmp) = self.isakmp.as_mut() else {
            return Ok(None);
        };
        let Ok((plain, next_iv)) =
            isakmp
                .crypter
                .decrypt(&*provider, h.msg_id, &msg[wire::HEADER_LEN..])
        else {
            debug!("dropping a message that does not decrypt");
            return Ok(None);
        };
        let Ok((payloads, end)) = wire::parse_chain(h.next, &plain) else {
            debug!("dropping a message whose payloads do not parse");
            return Ok(None);
        };
        let Some(first) = payloads.first().filter(|p| p.kind == payload::HASH) else {
            debug!("dropping a message without a leading HASH");
            return Ok(None);
        };
        let mid = h.msg_id.to_be_bytes();
        let mut parts: Vec<&[u8]> = vec![&mid];
        parts.extend_from_slice(prefix);
        parts.push(&plain[first.end..end]);
        let mac = provider.hmac(isakmp.hash, &isakmp.skeyid_a)?;
        if first.body.is_empty() || mac.verify_truncated(&parts, &first.body).is_err() {
            warn!(
                exchange = h.exchange,
                "dropping a message whose HASH does not verify"
            );
            return Ok(None);
        }
        if first.body.len() != isakmp.hash.output_len() {
            return Ok(None);
        }
        isakmp.crypter.advance(h.msg_id, next_iv);
        Ok(Some(payloads))
    }

    fn timeout_error(&self, stage: Stage, tries: u32) -> Error {
        let psk = matches!(self.cfg.auth, LocalAuth::Psk(_));
        if stage == Stage::MainMode && psk && self.p1.as_ref().is_some_and(|p| p.awaiting == 6) {
            return Error::V1PskMismatch {
                detail: "the gateway answered the key exchange but never our encrypted \
                         identity message (Main Mode message 5), which it cannot decrypt \
                         with a different key"
                    .into(),
            };
        }
        if stage == Stage::QuickMode && self.children.is_empty() {
            return Error::QuickModeUnanswered { tries };
        }
        Error::V1Timeout {
            stage,
            tries,
            port: if self.udp_encap { 4500 } else { 500 },
        }
    }

    fn fail(&mut self, e: Error) {
        if self.abort_ike_rekey(&e) {
            return;
        }
        warn!("IKEv1 SA failed: {e}");
        // Tell the gateway, unless it cannot hear us or phase 1 never completed.
        if self.isakmp.is_some()
            && self.p1.is_none()
            && !matches!(e, Error::V1Timeout { .. } | Error::DeadPeer)
        {
            self.send_delete(p::PROTO_ISAKMP, vec![self.cookies().to_vec()]);
        }
        self.finish(Some(e));
    }

    fn finish(&mut self, error: Option<Error>) {
        if self.is_closed() {
            return;
        }
        self.step = Step::Closed;
        self.request = None;
        self.p1 = None;
        self.quick = None;
        self.events.push_back(Event::Closed { error });
    }

    fn stage_of_phase1(&self) -> Stage {
        match self.opts.mode {
            Mode::Main => Stage::MainMode,
            Mode::Aggressive => Stage::AggressiveMode,
        }
    }

    /// Traffic selectors of our side: the virtual IP if we got one, else the profile's.
    fn local_selectors(&self) -> Vec<TrafficSelector> {
        match self.config.as_ref().and_then(|c| c.ipv4.first()) {
            Some(vip) => vec![TrafficSelector::prefix((*vip).into(), 32)],
            None => self.cfg.ts_local.clone(),
        }
    }
}

fn internal(what: &str) -> Error {
    Error::Protocol {
        stage: Stage::Informational,
        detail: format!("internal state error: {what}"),
    }
}

#[cfg(test)]
mod tests;
