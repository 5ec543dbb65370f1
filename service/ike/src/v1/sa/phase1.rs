//! Phase 1 (RFC 2409 §5): Main Mode (six messages) or Aggressive Mode (three), with a
//! pre-shared key or RSA signatures, NAT-T detection (RFC 3947) and the port float to 4500.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use strait_crypto::{KeyExchange, SecretBytes};
use tracing::{debug, info, warn};

use super::{Isakmp, Mode, Sa, Step, NONCE_LEN, XAUTH_WAIT};
use crate::cert::{self, Cert};
use crate::v1::crypt::Crypter;
use crate::v1::keys;
use crate::v1::natt;
use crate::v1::proposal::{self as p, P1Choice};
use crate::v1::vendor;
use crate::v1::wire::{self, flags, payload, IdPayload, Notify, RawPayload};
use crate::v2::wire::{id_type, Identification};
use crate::{Error, Event, LocalAuth, Stage};

/// Certificate encoding "X.509 Certificate - Signature" (RFC 2408 §3.9).
const CERT_X509_SIG: u8 = 4;

/// A running phase 1 exchange.
pub(super) struct P1State {
    /// The number of the gateway message we wait for (2, 4 or 6).
    pub awaiting: u8,
    dh: Option<Box<dyn KeyExchange>>,
    gxi: Vec<u8>,
    gxr: Vec<u8>,
    ni: Vec<u8>,
    sa_i_b: Vec<u8>,
    id_i_b: Vec<u8>,
    choice: Option<P1Choice>,
    skeyid: Option<SecretBytes>,
}

fn find(payloads: &[RawPayload], kind: u8) -> Option<&[u8]> {
    payloads
        .iter()
        .find(|p| p.kind == kind)
        .map(|p| p.body.as_slice())
}

fn all(payloads: &[RawPayload], kind: u8) -> Vec<&[u8]> {
    payloads
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.body.as_slice())
        .collect()
}

impl Sa {
    fn our_id(&self) -> Vec<u8> {
        IdPayload {
            id_type: self.cfg.local_id.id_type,
            protocol: 0,
            port: 0,
            data: self.cfg.local_id.data.clone(),
        }
        .emit()
    }

    fn vendor_payloads(&self) -> Vec<(u8, Vec<u8>)> {
        vendor::ours(self.opts.xauth.is_some())
            .into_iter()
            .map(|v| (payload::VENDOR_ID, v))
            .collect()
    }

    fn cert_request(&self) -> Vec<(u8, Vec<u8>)> {
        if !matches!(self.cfg.auth, LocalAuth::Certificate { .. }) {
            return Vec::new();
        }
        let mut out: Vec<(u8, Vec<u8>)> = self
            .cfg
            .trust_anchors
            .iter()
            .map(|c| {
                let mut b = vec![CERT_X509_SIG];
                b.extend_from_slice(&c.subject_der());
                (payload::CR, b)
            })
            .collect();
        if out.is_empty() {
            out.push((payload::CR, vec![CERT_X509_SIG]));
        }
        out
    }

    /// Main Mode message 1: our SA offer and vendor IDs.
    pub(super) fn start_main(&mut self, now: Instant) -> Result<(), Error> {
        let sa_b = p::phase1_sa(&self.p1_offer, self.auth_method, self.cfg.ike_lifetime);
        let mut payloads = vec![(payload::SA, sa_b.clone())];
        payloads.extend(self.vendor_payloads());
        let msg = self.plain_message(wire::exchange::MAIN, &payloads);
        self.p1 = Some(P1State {
            awaiting: 2,
            dh: None,
            gxi: Vec::new(),
            gxr: Vec::new(),
            ni: Vec::new(),
            sa_i_b: sa_b,
            id_i_b: Vec::new(),
            choice: None,
            skeyid: None,
        });
        self.start_request(now, msg, Stage::MainMode, 0);
        Ok(())
    }

    /// Aggressive Mode message 1: SA, KE, nonce, identity (the group must be fixed up front).
    pub(super) fn start_aggressive(&mut self, now: Instant) -> Result<(), Error> {
        let group = self.p1_offer[0].dh;
        self.p1_offer.retain(|t| t.dh == group);
        let dh = self.provider.key_exchange(group)?;
        let gxi = dh.public_key().to_vec();
        let ni = self.random(NONCE_LEN)?;
        let id_b = self.our_id();
        let sa_b = p::phase1_sa(&self.p1_offer, self.auth_method, self.cfg.ike_lifetime);
        let mut payloads = vec![
            (payload::SA, sa_b.clone()),
            (payload::KE, gxi.clone()),
            (payload::NONCE, ni.clone()),
            (payload::ID, id_b.clone()),
        ];
        payloads.extend(self.cert_request());
        payloads.extend(self.vendor_payloads());
        let msg = self.plain_message(wire::exchange::AGGRESSIVE, &payloads);
        self.p1 = Some(P1State {
            awaiting: 2,
            dh: Some(dh),
            gxi,
            gxr: Vec::new(),
            ni,
            sa_i_b: sa_b,
            id_i_b: id_b,
            choice: None,
            skeyid: None,
        });
        self.start_request(now, msg, Stage::AggressiveMode, 0);
        Ok(())
    }

    pub(super) fn on_phase1(
        &mut self,
        now: Instant,
        h: &wire::Header,
        msg: &[u8],
    ) -> Result<(), Error> {
        let expected = match self.opts.mode {
            Mode::Main => wire::exchange::MAIN,
            Mode::Aggressive => wire::exchange::AGGRESSIVE,
        };
        if h.exchange != expected || h.msg_id != 0 {
            return Ok(());
        }
        let Some(mut st) = self.p1.take() else {
            debug!("ignoring a late phase 1 message");
            return Ok(());
        };
        if h.rcookie == 0 {
            self.p1 = Some(st);
            return Ok(());
        }
        let encrypted = h.flags & flags::ENCRYPTION != 0;
        let (payloads, plain_iv) = if encrypted {
            let provider = self.provider.clone();
            let Some(isakmp) = self.isakmp.as_mut() else {
                self.p1 = Some(st);
                return Ok(());
            };
            match isakmp
                .crypter
                .decrypt(&*provider, 0, &msg[wire::HEADER_LEN..])
            {
                Ok((plain, iv)) => match wire::parse_chain(h.next, &plain) {
                    Ok((p, _)) => (p, Some(iv)),
                    Err(_) => return Err(self.garbled_phase1()),
                },
                Err(_) => return Err(self.garbled_phase1()),
            }
        } else {
            match wire::parse_chain(h.next, &msg[wire::HEADER_LEN..]) {
                Ok((p, _)) => (p, None),
                Err(e) => {
                    debug!("dropping a malformed phase 1 message: {e}");
                    self.p1 = Some(st);
                    return Ok(());
                }
            }
        };
        let stage = self.stage_of_phase1();
        self.sample_rtt(now);
        let has = |kind: u8| payloads.iter().any(|p| p.kind == kind);
        match (self.opts.mode, st.awaiting) {
            // A repeated earlier answer (our retransmission crossed it) lacks what the current
            // step needs and is ignored below.
            (Mode::Main, 2) if !encrypted && has(payload::SA) => {
                self.rcookie = h.rcookie;
                self.request = None;
                self.main_2(now, &mut st, &payloads)?;
                st.awaiting = 4;
                self.p1 = Some(st);
            }
            (Mode::Main, 4) if !encrypted && has(payload::KE) && !has(payload::SA) => {
                self.request = None;
                self.main_4(now, &mut st, &payloads)?;
                st.awaiting = 6;
                self.p1 = Some(st);
            }
            (Mode::Main, 6) if encrypted => {
                self.request = None;
                let id_r_b = find(&payloads, payload::ID)
                    .ok_or_else(|| proto(stage, "no ID payload in Main Mode message 6"))?
                    .to_vec();
                self.verify_peer(now, &st, &payloads, &id_r_b)?;
                if let (Some(isakmp), Some(iv)) = (self.isakmp.as_mut(), plain_iv) {
                    isakmp.crypter.advance(0, iv);
                }
                self.phase1_done(now)?;
            }
            (Mode::Aggressive, 2) if !encrypted => {
                self.rcookie = h.rcookie;
                self.request = None;
                self.aggressive_2(now, &mut st, &payloads, msg)?;
            }
            _ => {
                debug!("ignoring an unexpected phase 1 message");
                self.p1 = Some(st);
            }
        }
        Ok(())
    }

    /// An encrypted phase 1 message that does not decrypt: with a PSK, the keys differ.
    fn garbled_phase1(&self) -> Error {
        match self.cfg.auth {
            LocalAuth::Psk(_) => Error::V1PskMismatch {
                detail: "the gateway's encrypted phase 1 message does not decrypt with our key"
                    .into(),
            },
            _ => proto(
                self.stage_of_phase1(),
                "an encrypted phase 1 message does not decrypt",
            ),
        }
    }

    fn choose(&mut self, payloads: &[RawPayload]) -> Result<P1Choice, Error> {
        let stage = self.stage_of_phase1();
        let sa = find(payloads, payload::SA)
            .ok_or_else(|| proto(stage, "the gateway's answer has no SA payload"))?;
        let choice = p::phase1_choice(sa, &self.p1_offer, self.auth_method)
            .map_err(|e| proto(stage, &e.to_string()))?;
        self.vendors = vendor::recognise(&all(payloads, payload::VENDOR_ID));
        self.p1_lifetime = choice
            .lifetime
            .map_or(self.cfg.ike_lifetime, |l| l.min(self.cfg.ike_lifetime));
        info!(
            algorithms = %choice.transform.negotiated(),
            "the gateway chose the phase 1 proposal"
        );
        Ok(choice)
    }

    fn nat_d(
        &self,
        cky_r: u64,
        addr: SocketAddr,
        hash: strait_crypto::HashAlg,
    ) -> Result<Vec<u8>, Error> {
        Ok(natt::nat_d(
            &*self.provider,
            hash,
            self.icookie,
            cky_r,
            addr,
        )?)
    }

    /// Our NAT-D payloads: the gateway's address first, then ours (a hash that cannot match
    /// when UDP encapsulation is forced, so the gateway sees a NAT).
    fn our_nat_d(&self, choice: &P1Choice) -> Result<Vec<(u8, Vec<u8>)>, Error> {
        if !self.vendors.natt() {
            return Ok(Vec::new());
        }
        let hash = choice.transform.hash.hash();
        let kind = natt::nat_d_payload(&self.vendors);
        let remote = self.nat_d(self.rcookie, self.cfg.remote_addr, hash)?;
        let local = if self.cfg.force_udp_encap {
            self.random(hash.output_len())?
        } else {
            self.nat_d(self.rcookie, self.cfg.local_addr, hash)?
        };
        Ok(vec![(kind, remote), (kind, local)])
    }

    /// RFC 3947 §3.2: the first NAT-D of the gateway is its view of our address; the others
    /// are its own addresses.
    fn detect_nat(&mut self, payloads: &[RawPayload], choice: &P1Choice) -> Result<(), Error> {
        if !self.vendors.natt() {
            if self.cfg.force_udp_encap {
                warn!("UDP encapsulation was asked for, but the gateway does not do NAT-T");
            }
            return Ok(());
        }
        let kind = natt::nat_d_payload(&self.vendors);
        let nat_d = all(payloads, kind);
        let Some((first, rest)) = nat_d.split_first() else {
            info!("the gateway sent no NAT-D payloads");
            return Ok(());
        };
        let hash = choice.transform.hash.hash();
        let local = self.nat_d(self.rcookie, self.cfg.local_addr, hash)?;
        let remote = self.nat_d(self.rcookie, self.cfg.remote_addr, hash)?;
        let local_behind_nat = *first != local.as_slice();
        let remote_behind_nat = !rest.contains(&remote.as_slice());
        self.udp_encap = local_behind_nat || remote_behind_nat || self.cfg.force_udp_encap;
        if local_behind_nat || remote_behind_nat {
            info!(
                local_behind_nat,
                remote_behind_nat, "NAT detected; switching to UDP port 4500"
            );
        }
        self.events.push_back(Event::NatDetected {
            local_behind_nat,
            remote_behind_nat,
        });
        Ok(())
    }

    fn main_2(
        &mut self,
        now: Instant,
        st: &mut P1State,
        payloads: &[RawPayload],
    ) -> Result<(), Error> {
        let choice = self.choose(payloads)?;
        let dh = self.provider.key_exchange(choice.transform.dh)?;
        st.gxi = dh.public_key().to_vec();
        st.ni = self.random(NONCE_LEN)?;
        let mut out = vec![
            (payload::KE, st.gxi.clone()),
            (payload::NONCE, st.ni.clone()),
        ];
        out.extend(self.cert_request());
        out.extend(self.our_nat_d(&choice)?);
        st.dh = Some(dh);
        st.choice = Some(choice);
        let msg = self.plain_message(wire::exchange::MAIN, &out);
        self.start_request(now, msg, Stage::MainMode, 0);
        Ok(())
    }

    /// Computes SKEYID and the ISAKMP SA keys from the gateway's KE and nonce.
    fn key_phase1(&mut self, st: &mut P1State, payloads: &[RawPayload]) -> Result<(), Error> {
        let stage = self.stage_of_phase1();
        let choice = st
            .choice
            .ok_or_else(|| proto(stage, "no proposal chosen"))?;
        let gxr = find(payloads, payload::KE)
            .ok_or_else(|| proto(stage, "the gateway sent no KE payload"))?
            .to_vec();
        let nr = find(payloads, payload::NONCE)
            .ok_or_else(|| proto(stage, "the gateway sent no nonce"))?
            .to_vec();
        if nr.len() < 8 || nr.len() > 256 {
            return Err(proto(stage, "the gateway's nonce has an invalid length"));
        }
        let dh = st
            .dh
            .take()
            .ok_or_else(|| proto(stage, "no key exchange"))?;
        if gxr.len() != choice.transform.dh.public_len() {
            return Err(proto(
                stage,
                "the gateway's KE payload has the wrong length",
            ));
        }
        let gxy = dh.complete(&gxr)?;
        let hash = choice.transform.hash.hash();
        let pr = &*self.provider;
        let skeyid = match &self.cfg.auth {
            LocalAuth::Psk(psk) => keys::skeyid_psk(pr, hash, psk, &st.ni, &nr)?,
            _ => keys::skeyid_sig(pr, hash, &st.ni, &nr, &gxy)?,
        };
        let encr = choice.transform.encr;
        let alg = encr
            .cbc()
            .ok_or_else(|| proto(stage, "the chosen cipher is not a CBC cipher"))?;
        let k = keys::derive(
            pr,
            hash,
            skeyid.clone(),
            &gxy,
            self.icookie,
            self.rcookie,
            alg.key_len(),
        )?;
        let block = alg.block_len();
        let iv = keys::phase1_iv(pr, hash, &st.gxi, &gxr, block)?;
        let cipher = pr.cbc(alg, &k.enc_key)?;
        self.isakmp = Some(Isakmp {
            hash,
            skeyid_d: k.skeyid_d,
            skeyid_a: k.skeyid_a,
            crypter: Crypter::new(cipher, hash, block, iv),
            negotiated: choice.transform.negotiated(),
        });
        st.skeyid = Some(skeyid);
        st.gxr = gxr;
        // Keep Nr for the hashes: SKEYID already covers it; HASH_I/R do not need it.
        Ok(())
    }

    /// HASH_I or HASH_R (RFC 2409 §5).
    fn phase1_hash(&self, st: &P1State, initiator: bool, id_b: &[u8]) -> Result<Vec<u8>, Error> {
        let skeyid = st
            .skeyid
            .as_ref()
            .ok_or_else(|| proto(self.stage_of_phase1(), "no SKEYID"))?;
        let hash = self
            .isakmp
            .as_ref()
            .map(|i| i.hash)
            .ok_or_else(|| super::internal("no keys"))?;
        let ci = self.icookie.to_be_bytes();
        let cr = self.rcookie.to_be_bytes();
        let parts: [&[u8]; 6] = if initiator {
            [&st.gxi, &st.gxr, &ci, &cr, &st.sa_i_b, id_b]
        } else {
            [&st.gxr, &st.gxi, &cr, &ci, &st.sa_i_b, id_b]
        };
        Ok(keys::prf(&*self.provider, hash, skeyid, &parts)?)
    }

    /// Our authentication payloads: `[CERT...] HASH_I | SIG_I`.
    fn our_auth(&self, st: &P1State) -> Result<Vec<(u8, Vec<u8>)>, Error> {
        let hash_i = self.phase1_hash(st, true, &st.id_i_b)?;
        match &self.cfg.auth {
            LocalAuth::Certificate { chain, key, .. } => {
                let mut out: Vec<(u8, Vec<u8>)> = chain
                    .iter()
                    .map(|c| {
                        let mut b = vec![CERT_X509_SIG];
                        b.extend_from_slice(c.der());
                        (payload::CERT, b)
                    })
                    .collect();
                out.push((payload::SIG, key.sign_ikev1(&hash_i)?));
                Ok(out)
            }
            _ => Ok(vec![(payload::HASH, hash_i)]),
        }
    }

    fn main_4(
        &mut self,
        now: Instant,
        st: &mut P1State,
        payloads: &[RawPayload],
    ) -> Result<(), Error> {
        self.key_phase1(st, payloads)?;
        let choice = st.choice.ok_or_else(|| super::internal("no choice"))?;
        self.detect_nat(payloads, &choice)?;
        st.id_i_b = self.our_id();
        let mut out = vec![(payload::ID, st.id_i_b.clone())];
        out.extend(self.our_auth(st)?);
        let msg = self.encrypted_message(wire::exchange::MAIN, 0, &out)?;
        self.start_request(now, msg, Stage::MainMode, 0);
        Ok(())
    }

    fn aggressive_2(
        &mut self,
        now: Instant,
        st: &mut P1State,
        payloads: &[RawPayload],
        received: &[u8],
    ) -> Result<(), Error> {
        let stage = Stage::AggressiveMode;
        let choice = self.choose(payloads)?;
        st.choice = Some(choice);
        self.key_phase1(st, payloads)?;
        let id_r_b = find(payloads, payload::ID)
            .ok_or_else(|| proto(stage, "no ID payload in Aggressive Mode message 2"))?
            .to_vec();
        self.verify_peer(now, st, payloads, &id_r_b)?;
        self.detect_nat(payloads, &choice)?;
        let mut out = self.our_auth(st)?;
        out.extend(self.our_nat_d(&choice)?);
        let msg = self.encrypted_message(wire::exchange::AGGRESSIVE, 0, &out)?;
        self.push(msg.clone());
        self.last_in = Some((received.to_vec(), msg));
        self.phase1_done(now)
    }

    /// Checks the gateway's identity and its HASH_R or signature.
    fn verify_peer(
        &mut self,
        now: Instant,
        st: &P1State,
        payloads: &[RawPayload],
        id_r_b: &[u8],
    ) -> Result<(), Error> {
        let stage = self.stage_of_phase1();
        let id = IdPayload::parse(id_r_b).ok_or_else(|| proto(stage, "malformed ID payload"))?;
        let peer = Identification {
            id_type: id.id_type,
            data: id.data.clone(),
        };
        let hash_r = self.phase1_hash(st, false, id_r_b)?;
        let mut shown = peer.to_string();
        match &self.cfg.auth {
            LocalAuth::Psk(_) => {
                let got = find(payloads, payload::HASH)
                    .ok_or_else(|| proto(stage, "the gateway sent no HASH_R"))?;
                if !constant_time_eq(got, &hash_r) {
                    return Err(Error::V1PskMismatch {
                        detail: "the gateway's HASH did not verify".into(),
                    });
                }
            }
            _ => {
                let sig = find(payloads, payload::SIG)
                    .ok_or_else(|| proto(stage, "the gateway sent no signature"))?;
                let certs: Vec<Cert> = all(payloads, payload::CERT)
                    .into_iter()
                    .filter(|b| b.first() == Some(&CERT_X509_SIG))
                    .filter_map(|b| Cert::from_der(&b[1..]).ok())
                    .collect();
                let (end, rest) =
                    certs
                        .split_first()
                        .ok_or_else(|| Error::UnsupportedPeerAuth {
                            detail: "the gateway sent no X.509 certificate".into(),
                        })?;
                let wall = self
                    .cfg
                    .wall_clock
                    .map(|w| w + now.saturating_duration_since(self.started));
                let Some(wall) = wall else {
                    return Err(Error::UntrustedCertificate {
                        subject: end.subject(),
                        reason: "the service did not say what time it is".into(),
                    });
                };
                let key = cert::validate_chain(end, rest, &self.cfg.trust_anchors, wall)?;
                if !end.matches_identity(&peer) {
                    return Err(Error::IdentityMismatch {
                        claimed: peer.to_string(),
                        certificate: end.names(),
                    });
                }
                if !key.verify_ikev1(&hash_r, sig) {
                    return Err(Error::PeerAuthenticationFailed {
                        remote_id: peer.to_string(),
                    });
                }
                if peer.id_type == id_type::DER_ASN1_DN {
                    shown = end.subject();
                }
            }
        }
        if let Some(want) = &self.cfg.remote_id {
            let same = want.id_type == peer.id_type
                && (want.data == peer.data
                    || (peer.id_type == id_type::DER_ASN1_DN
                        && cert::dn_equal(&want.data, &peer.data)));
            if !same {
                return Err(Error::PeerIdMismatch {
                    expected: want.to_string(),
                    got: shown,
                });
            }
        }
        self.remote_id = shown;
        Ok(())
    }

    /// Phase 1 is authenticated: XAuth (if we expect it), then Mode Config.
    fn phase1_done(&mut self, now: Instant) -> Result<(), Error> {
        self.p1 = None;
        self.last_heard = now;
        info!(remote_id = %self.remote_id, "IKEv1 phase 1 complete");
        let lifetime = self
            .p1_lifetime
            .min(super::MAX_PHASE1_LIFETIME)
            .max(Duration::from_secs(2));
        let margin = (lifetime / 10)
            .max(Duration::from_secs(10))
            .min(lifetime / 2);
        self.ike_expire_at = Some(now + lifetime);
        self.ike_rekey_at = Some(now + lifetime - margin);
        if self.opts.xauth.is_some() {
            self.step = Step::XauthWait {
                until: now + XAUTH_WAIT,
            };
            Ok(())
        } else {
            self.after_xauth(now)
        }
    }

    /// XAuth is done (or not needed): Mode Config, pushed or pulled, or straight to Quick Mode.
    pub(super) fn after_xauth(&mut self, now: Instant) -> Result<(), Error> {
        if self.old.is_some() {
            // A phase 1 rekey: the configuration and child SAs carry over.
            return self.finish_ike_rekey();
        }
        if self.config.is_some() {
            return self.config_done(now);
        }
        if self.cfg.request_ipv4 || self.cfg.request_ipv6 {
            self.step = Step::PushWait {
                until: now + self.push_wait(),
            };
            Ok(())
        } else {
            self.config_done(now)
        }
    }

    /// Handles an unencrypted informational message during phase 1: the gateway's error.
    pub(super) fn phase1_notify(&mut self, n: &Notify) -> Option<Error> {
        let st = self.p1.as_ref()?;
        let name = wire::notify_name(n.notify_type);
        warn!(
            code = n.notify_type,
            "the gateway reported {name} during phase 1"
        );
        Some(match (n.notify_type, st.awaiting) {
            (wire::notify_type::NO_PROPOSAL_CHOSEN, _) => Error::NoProposalChosen {
                what: "IKE",
                key: "ike",
                offered: p::describe_p1(&self.p1_offer),
            },
            (wire::notify_type::AUTHENTICATION_FAILED, _)
            | (wire::notify_type::INVALID_HASH_INFORMATION, _)
            | (wire::notify_type::INVALID_SIGNATURE, _)
                if !matches!(self.cfg.auth, LocalAuth::Psk(_)) =>
            {
                Error::AuthenticationFailed {
                    local_id: self.cfg.local_id.to_string(),
                }
            }
            (wire::notify_type::INVALID_ID_INFORMATION, _) => Error::AuthenticationFailed {
                local_id: self.cfg.local_id.to_string(),
            },
            (_, 6)
            | (wire::notify_type::AUTHENTICATION_FAILED, _)
            | (wire::notify_type::INVALID_HASH_INFORMATION, _)
                if matches!(self.cfg.auth, LocalAuth::Psk(_)) =>
            {
                Error::V1PskMismatch {
                    detail: format!("the gateway reported {name} for our identity message"),
                }
            }
            (code, _) => Error::Notify {
                stage: self.stage_of_phase1(),
                code,
                name,
            },
        })
    }
}

pub(super) fn proto(stage: Stage, detail: &str) -> Error {
    Error::Protocol {
        stage,
        detail: detail.to_string(),
    }
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
