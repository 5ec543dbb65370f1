//! Quick Mode (RFC 2409 §5.5): ESP child SAs with optional PFS, ID payloads as traffic
//! selectors, the gateway's RESPONDER-LIFETIME honoured, KEYMAT for both directions, and
//! the gateway's own Quick Mode when it rekeys.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use strait_crypto::KeyExchange;
use tracing::{debug, info, warn};

use super::phase1::proto;
use super::{Child, Sa, Step, NONCE_LEN};
use crate::v1::attributes;
use crate::v1::keys;
use crate::v1::natt;
use crate::v1::proposal::{self as p, EspChoice};
use crate::v1::wire::{self, id_type, notify_type, payload, IdPayload, Notify, RawPayload};
use crate::v2::wire::{AddressRange, TrafficSelector};
use crate::{ChildSaInfo, Error, Event, Stage};

/// Our outstanding Quick Mode.
pub(super) struct QuickState {
    msg_id: u32,
    spi_in: u32,
    ni: Vec<u8>,
    dh: Option<Box<dyn KeyExchange>>,
    ts_local: TrafficSelector,
    ts_remote: TrafficSelector,
    replaces: Option<u32>,
}

/// A Quick Mode the gateway started, waiting for its HASH(3).
pub(super) struct PeerQuick {
    msg_id: u32,
    ni: Vec<u8>,
    nr: Vec<u8>,
    info: Box<ChildSaInfo>,
}

/// An ID payload for a traffic selector: one address, a subnet, or a range.
pub(crate) fn ts_to_id(ts: &TrafficSelector) -> IdPayload {
    let port = if ts.start_port == ts.end_port {
        ts.start_port
    } else {
        0
    };
    let prefixes = ts.to_prefixes();
    let (id_type, data) = match (ts.addresses, prefixes.as_slice()) {
        (AddressRange::V4 { start, end }, _) if start == end => {
            (id_type::IPV4_ADDR, start.octets().to_vec())
        }
        (AddressRange::V6 { start, end }, _) if start == end => {
            (id_type::IPV6_ADDR, start.octets().to_vec())
        }
        (AddressRange::V4 { .. }, [(IpAddr::V4(a), len)]) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
            let mut d = a.octets().to_vec();
            d.extend_from_slice(&mask.to_be_bytes());
            (id_type::IPV4_ADDR_SUBNET, d)
        }
        (AddressRange::V6 { .. }, [(IpAddr::V6(a), len)]) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
            let mut d = a.octets().to_vec();
            d.extend_from_slice(&mask.to_be_bytes());
            (id_type::IPV6_ADDR_SUBNET, d)
        }
        (AddressRange::V4 { start, end }, _) => {
            let mut d = start.octets().to_vec();
            d.extend_from_slice(&end.octets());
            (id_type::IPV4_ADDR_RANGE, d)
        }
        (AddressRange::V6 { start, end }, _) => {
            let mut d = start.octets().to_vec();
            d.extend_from_slice(&end.octets());
            (id_type::IPV6_ADDR_RANGE, d)
        }
    };
    IdPayload {
        id_type,
        protocol: ts.ip_protocol,
        port,
        data,
    }
}

/// The traffic selector an ID payload names, if it names addresses.
pub(crate) fn id_to_ts(id: &IdPayload) -> Option<TrafficSelector> {
    let d = &id.data;
    let v4 = |b: &[u8]| <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from);
    let v6 = |b: &[u8]| <[u8; 16]>::try_from(b).ok().map(Ipv6Addr::from);
    let addresses = match id.id_type {
        id_type::IPV4_ADDR => {
            let a = v4(d)?;
            AddressRange::V4 { start: a, end: a }
        }
        id_type::IPV6_ADDR => {
            let a = v6(d)?;
            AddressRange::V6 { start: a, end: a }
        }
        id_type::IPV4_ADDR_SUBNET => {
            let a = u32::from(v4(d.get(..4)?)?);
            let m = u32::from(v4(d.get(4..)?)?);
            AddressRange::V4 {
                start: Ipv4Addr::from(a & m),
                end: Ipv4Addr::from(a | !m),
            }
        }
        id_type::IPV6_ADDR_SUBNET => {
            let a = u128::from(v6(d.get(..16)?)?);
            let m = u128::from(v6(d.get(16..)?)?);
            AddressRange::V6 {
                start: Ipv6Addr::from(a & m),
                end: Ipv6Addr::from(a | !m),
            }
        }
        id_type::IPV4_ADDR_RANGE => AddressRange::V4 {
            start: v4(d.get(..4)?)?,
            end: v4(d.get(4..)?)?,
        },
        id_type::IPV6_ADDR_RANGE => AddressRange::V6 {
            start: v6(d.get(..16)?)?,
            end: v6(d.get(16..)?)?,
        },
        _ => return None,
    };
    Some(TrafficSelector {
        ip_protocol: id.protocol,
        start_port: if id.port == 0 { 0 } else { id.port },
        end_port: if id.port == 0 { u16::MAX } else { id.port },
        addresses,
    })
}

fn find(payloads: &[RawPayload], kind: u8) -> Option<&[u8]> {
    payloads
        .iter()
        .find(|p| p.kind == kind)
        .map(|p| p.body.as_slice())
}

/// The RESPONDER-LIFETIME in seconds a notify carries, if any (RFC 2407 §4.6.3.1).
fn responder_lifetime(payloads: &[RawPayload]) -> Option<Duration> {
    payloads
        .iter()
        .filter(|p| p.kind == payload::NOTIFY)
        .filter_map(|p| Notify::parse(&p.body))
        .filter(|n| n.notify_type == notify_type::RESPONDER_LIFETIME)
        .find_map(|n| {
            let attrs = attributes::parse(&n.data)?;
            let mut seconds = false;
            for a in attrs {
                if a.kind == p::p2::LIFE_TYPE {
                    seconds = a.as_u16() == Some(p::LIFE_SECONDS);
                } else if a.kind == p::p2::LIFE_DURATION && seconds {
                    return a.as_u64().map(Duration::from_secs);
                }
            }
            None
        })
}

impl Sa {
    fn random_spi(&self) -> Result<u32, Error> {
        loop {
            let mut b = [0u8; 4];
            self.provider.fill_random(&mut b)?;
            let spi = u32::from_be_bytes(b);
            if spi >= 0x100 && !self.children.iter().any(|c| c.spi_in == spi) {
                return Ok(spi);
            }
        }
    }

    fn encap_mode(&self) -> u16 {
        natt::encap_mode(&self.vendors, self.udp_encap, self.cfg.transport_mode)
    }

    /// Starts Quick Mode for a new child SA (or a rekey of `replaces`).
    pub(super) fn start_quick(&mut self, now: Instant, replaces: Option<u32>) -> Result<(), Error> {
        let msg_id = self.random_msg_id()?;
        let spi_in = self.random_spi()?;
        let ni = self.random(NONCE_LEN)?;
        let dh = match self.pfs {
            Some(g) => Some(self.provider.key_exchange(g)?),
            None => None,
        };
        let ts_local = self
            .local_selectors()
            .first()
            .cloned()
            .unwrap_or_else(|| TrafficSelector::any(false));
        let ts_remote = self
            .cfg
            .ts_remote
            .first()
            .cloned()
            .unwrap_or_else(|| TrafficSelector::any(false));
        let sa = p::quick_sa(
            &self.esp_offer,
            spi_in,
            self.pfs,
            self.encap_mode(),
            self.cfg.child_lifetime,
        );
        let mut payloads = vec![(payload::SA, sa), (payload::NONCE, ni.clone())];
        if let Some(dh) = &dh {
            payloads.push((payload::KE, dh.public_key().to_vec()));
        }
        payloads.push((payload::ID, ts_to_id(&ts_local).emit()));
        payloads.push((payload::ID, ts_to_id(&ts_remote).emit()));
        let out = self.protected_message(wire::exchange::QUICK, msg_id, &[], payloads)?;
        self.quick = Some(QuickState {
            msg_id,
            spi_in,
            ni,
            dh,
            ts_local,
            ts_remote,
            replaces,
        });
        self.step = Step::Quick;
        self.start_request(now, out, Stage::QuickMode, msg_id);
        Ok(())
    }

    pub(super) fn on_quick(
        &mut self,
        now: Instant,
        h: &wire::Header,
        msg: &[u8],
    ) -> Result<(), Error> {
        if self.quick.as_ref().is_some_and(|q| q.msg_id == h.msg_id) {
            return self.quick_response(now, h, msg);
        }
        if self
            .peer_quick
            .as_ref()
            .is_some_and(|q| q.msg_id == h.msg_id)
        {
            return self.peer_quick_3(now, h, msg);
        }
        self.peer_quick_1(now, h, msg)
    }

    fn quick_response(&mut self, now: Instant, h: &wire::Header, msg: &[u8]) -> Result<(), Error> {
        let stage = Stage::QuickMode;
        let ni = self
            .quick
            .as_ref()
            .map(|q| q.ni.clone())
            .unwrap_or_default();
        let Some(payloads) = self.open_protected(h, msg, &[&ni])? else {
            return Ok(());
        };
        let Some(q) = self.quick.take() else {
            return Ok(());
        };
        self.request = None;
        self.last_heard = now;
        let sa = find(&payloads, payload::SA).ok_or_else(|| proto(stage, "no SA payload"))?;
        let choice = p::quick_choice(sa, &self.esp_offer, self.pfs)
            .map_err(|e| proto(stage, &e.to_string()))?;
        let nr = find(&payloads, payload::NONCE)
            .ok_or_else(|| proto(stage, "no nonce"))?
            .to_vec();
        let gqm = match q.dh {
            Some(dh) => {
                let ke = find(&payloads, payload::KE)
                    .ok_or_else(|| proto(stage, "no KE payload for PFS"))?;
                Some(dh.complete(ke)?)
            }
            None => None,
        };
        let ids: Vec<IdPayload> = payloads
            .iter()
            .filter(|p| p.kind == payload::ID)
            .filter_map(|p| IdPayload::parse(&p.body))
            .collect();
        let (ts_local, ts_remote) = match ids.as_slice() {
            [i, r] => (
                id_to_ts(i).ok_or_else(|| proto(stage, "unusable IDci"))?,
                id_to_ts(r).ok_or_else(|| proto(stage, "unusable IDcr"))?,
            ),
            _ => (q.ts_local, q.ts_remote),
        };
        let lifetime = [
            Some(self.cfg.child_lifetime),
            choice.lifetime,
            responder_lifetime(&payloads),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.cfg.child_lifetime);
        if h.flags & wire::flags::COMMIT != 0 {
            debug!("the gateway set the commit bit; a CONNECTED notify will follow");
        }
        let mid = h.msg_id.to_be_bytes();
        let hash3 = self.prf_a(&[&[0], &mid, &q.ni, &nr])?;
        let out =
            self.encrypted_message(wire::exchange::QUICK, h.msg_id, &[(payload::HASH, hash3)])?;
        self.push(out.clone());
        self.last_in = Some((msg.to_vec(), out));
        let remote_list = self.narrow_remote(ts_remote);
        let info = self.child_info(
            choice,
            q.spi_in,
            gqm.as_deref().map(|g| g.as_slice()),
            &q.ni,
            &nr,
            true,
            vec![ts_local],
            remote_list,
            q.replaces,
        )?;
        self.install_child(now, info, lifetime, q.replaces)
    }

    /// Unity split tunnelling: when the wire says 0.0.0.0/0, the gateway's split-include
    /// list (from Mode Config) says what actually goes through the tunnel.
    fn narrow_remote(&self, ts: TrafficSelector) -> Vec<TrafficSelector> {
        if ts == TrafficSelector::any(false) {
            if let Some(c) = &self.config {
                let split: Vec<TrafficSelector> = c
                    .subnets
                    .iter()
                    .filter(|(a, _)| a.is_ipv4())
                    .map(|(a, l)| TrafficSelector::prefix(*a, *l))
                    .collect();
                if !split.is_empty() {
                    debug!(
                        ?split,
                        "narrowing the tunnel to the gateway's split-include networks"
                    );
                    return split;
                }
            }
        }
        vec![ts]
    }

    /// Derives the keys of a child SA; `we_initiated` says whose nonce is Ni.
    #[allow(clippy::too_many_arguments)]
    fn child_info(
        &mut self,
        choice: EspChoice,
        spi_in: u32,
        gqm: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        we_initiated: bool,
        ts_local: Vec<TrafficSelector>,
        ts_remote: Vec<TrafficSelector>,
        replaces: Option<u32>,
    ) -> Result<Box<ChildSaInfo>, Error> {
        let isakmp = self
            .isakmp
            .as_ref()
            .ok_or_else(|| super::internal("no ISAKMP SA"))?;
        let n = choice.negotiated;
        let enc_len = n.encr.keymat_len();
        let integ_len = n.integ.map_or(0, |i| i.key_len());
        let spi_out = n.peer_spi;
        let km = |spi| {
            keys::keymat(
                &*self.provider,
                isakmp.hash,
                &isakmp.skeyid_d,
                gqm,
                p::PROTO_ESP,
                spi,
                ni,
                nr,
                enc_len + integ_len,
            )
        };
        let k_in = km(spi_in)?;
        let k_out = km(spi_out)?;
        let config = if self.config_delivered {
            None
        } else {
            self.config.clone()
        };
        self.config_delivered = true;
        let transport_mode = matches!(
            choice.encap_mode,
            p::encap::TRANSPORT | p::encap::UDP_TRANSPORT | p::encap::UDP_TRANSPORT_DRAFT
        );
        Ok(Box::new(ChildSaInfo {
            spi_in,
            spi_out,
            algorithms: n,
            encr_out: zeroize::Zeroizing::new(k_out[..enc_len].to_vec()),
            integ_out: zeroize::Zeroizing::new(k_out[enc_len..].to_vec()),
            encr_in: zeroize::Zeroizing::new(k_in[..enc_len].to_vec()),
            integ_in: zeroize::Zeroizing::new(k_in[enc_len..].to_vec()),
            ts_local,
            ts_remote,
            transport_mode,
            config,
            replaces,
            peer_initiated: !we_initiated,
        }))
    }

    fn install_child(
        &mut self,
        now: Instant,
        info: Box<ChildSaInfo>,
        lifetime: Duration,
        replaces: Option<u32>,
    ) -> Result<(), Error> {
        info!(
            spi_in = format_args!("{:08x}", info.spi_in),
            spi_out = format_args!("{:08x}", info.spi_out),
            algorithms = %info.algorithms,
            lifetime_s = lifetime.as_secs(),
            "IKEv1 child SA up"
        );
        // Rekey at 90 % of the lifetime (at least a few seconds before it ends).
        let margin = (lifetime / 10)
            .max(Duration::from_secs(5))
            .min(lifetime / 2);
        self.children.push(Child {
            spi_in: info.spi_in,
            spi_out: info.spi_out,
            rekey_at: Some(now + lifetime - margin),
            expire_at: now + lifetime,
        });
        self.events.push_back(Event::ChildSaUp(info));
        if let Some(old) = replaces {
            if let Some(pos) = self.children.iter().position(|c| c.spi_in == old) {
                let c = self.children.remove(pos);
                self.send_delete(p::PROTO_ESP, vec![c.spi_in.to_be_bytes().to_vec()]);
                self.events.push_back(Event::ChildSaDeleted {
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                });
            }
        }
        self.step = Step::Established;
        Ok(())
    }

    /// The gateway starts a Quick Mode (it rekeys a child SA): we answer with our choice.
    fn peer_quick_1(&mut self, now: Instant, h: &wire::Header, msg: &[u8]) -> Result<(), Error> {
        if self.step != Step::Established {
            debug!("ignoring the gateway's Quick Mode before we are up");
            return Ok(());
        }
        let Some(payloads) = self.open_protected(h, msg, &[])? else {
            return Ok(());
        };
        self.last_heard = now;
        let Some(sa) = find(&payloads, payload::SA) else {
            return Ok(());
        };
        let ni = find(&payloads, payload::NONCE).unwrap_or_default().to_vec();
        // Pick the first of the gateway's transforms that we would have offered ourselves:
        // re-encode each as a one-transform answer and check it with our own rules.
        let spi_in = self.random_spi()?;
        let Some((choice, answer_sa)) = self.select_peer_proposal(sa, spi_in) else {
            warn!("the gateway's Quick Mode offers nothing we accept");
            return Ok(());
        };
        let ke_peer = find(&payloads, payload::KE).map(<[u8]>::to_vec);
        let (our_ke, gqm) = match (choice.negotiated.dh, ke_peer) {
            (Some(g), Some(ke)) => {
                let dh = self.provider.key_exchange(g)?;
                let pubk = dh.public_key().to_vec();
                (Some(pubk), Some(dh.complete(&ke)?))
            }
            _ => (None, None),
        };
        let nr = self.random(NONCE_LEN)?;
        let ids: Vec<Vec<u8>> = payloads
            .iter()
            .filter(|p| p.kind == payload::ID)
            .map(|p| p.body.clone())
            .collect();
        let mut out = vec![(payload::SA, answer_sa), (payload::NONCE, nr.clone())];
        if let Some(k) = our_ke {
            out.push((payload::KE, k));
        }
        for id in &ids {
            out.push((payload::ID, id.clone()));
        }
        // IDci is the gateway's side, IDcr ours.
        let parsed: Vec<Option<TrafficSelector>> = ids
            .iter()
            .map(|b| IdPayload::parse(b).as_ref().and_then(id_to_ts))
            .collect();
        let (ts_remote, ts_local) = match parsed.as_slice() {
            [Some(i), Some(r)] => (self.narrow_remote(i.clone()), vec![r.clone()]),
            _ => (
                self.cfg
                    .ts_remote
                    .iter()
                    .flat_map(|t| self.narrow_remote(t.clone()))
                    .collect(),
                self.local_selectors(),
            ),
        };
        let reply = self.protected_message(wire::exchange::QUICK, h.msg_id, &[&ni], out)?;
        self.push(reply.clone());
        self.last_in = Some((msg.to_vec(), reply));
        let replaces = self
            .children
            .iter()
            .rev()
            .find(|c| c.rekey_at.is_some())
            .or(self.children.last())
            .map(|c| c.spi_in);
        let info = self.child_info(
            choice,
            spi_in,
            gqm.as_deref().map(|g| g.as_slice()),
            &ni,
            &nr,
            false,
            ts_local,
            ts_remote,
            replaces,
        )?;
        self.peer_quick = Some(PeerQuick {
            msg_id: h.msg_id,
            ni,
            nr,
            info,
        });
        Ok(())
    }

    fn select_peer_proposal(&self, sa: &[u8], spi_in: u32) -> Option<(EspChoice, Vec<u8>)> {
        for (number, ts) in self.esp_offer.iter().enumerate() {
            for t in ts {
                for pfs in [self.pfs, None] {
                    let one = vec![*t];
                    let answer = p::quick_sa(
                        std::slice::from_ref(&one),
                        spi_in,
                        pfs,
                        self.encap_mode(),
                        self.cfg.child_lifetime,
                    );
                    let _ = number;
                    if p::gateway_offers(sa, t, pfs) {
                        let peer_spi = p::first_spi(sa)?;
                        let mut choice = p::quick_choice(&answer, &[one], pfs).ok()?;
                        choice.negotiated.peer_spi = peer_spi;
                        return Some((choice, answer));
                    }
                }
            }
        }
        None
    }

    fn peer_quick_3(&mut self, now: Instant, h: &wire::Header, msg: &[u8]) -> Result<(), Error> {
        let (ni, nr) = match &self.peer_quick {
            Some(q) => (q.ni.clone(), q.nr.clone()),
            None => return Ok(()),
        };
        // HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b): checked by hand, nothing follows it.
        if h.flags & wire::flags::ENCRYPTION == 0 {
            return Ok(());
        }
        let provider = self.provider.clone();
        let Some(isakmp) = self.isakmp.as_mut() else {
            return Ok(());
        };
        let Ok((plain, iv)) =
            isakmp
                .crypter
                .decrypt(&*provider, h.msg_id, &msg[wire::HEADER_LEN..])
        else {
            return Ok(());
        };
        let Ok((payloads, _)) = wire::parse_chain(h.next, &plain) else {
            return Ok(());
        };
        let mid = h.msg_id.to_be_bytes();
        let mac = provider.hmac(isakmp.hash, &isakmp.skeyid_a)?;
        let ok = payloads.first().is_some_and(|p| {
            p.kind == payload::HASH
                && p.body.len() == isakmp.hash.output_len()
                && mac
                    .verify_truncated(&[&[0], &mid, &ni, &nr], &p.body)
                    .is_ok()
        });
        if !ok {
            warn!("the gateway's Quick Mode HASH(3) does not verify");
            return Ok(());
        }
        isakmp.crypter.advance(h.msg_id, iv);
        isakmp.crypter.forget(h.msg_id);
        let Some(q) = self.peer_quick.take() else {
            return Ok(());
        };
        let lifetime = self.cfg.child_lifetime;
        let replaces = q.info.replaces;
        self.last_heard = now;
        info!(
            spi_in = format_args!("{:08x}", q.info.spi_in),
            "the gateway rekeyed a child SA"
        );
        // The old child stays until the gateway deletes it or it expires (strongSwan keeps
        // rekeyed IKEv1 SAs by default); it is not rekeyed again by us.
        if let Some(old) = replaces {
            for c in self.children.iter_mut().filter(|c| c.spi_in == old) {
                c.rekey_at = None;
            }
        }
        let margin = (lifetime / 10)
            .max(Duration::from_secs(5))
            .min(lifetime / 2);
        self.children.push(Child {
            spi_in: q.info.spi_in,
            spi_out: q.info.spi_out,
            rekey_at: Some(now + lifetime - margin),
            expire_at: now + lifetime,
        });
        let info = q.info;
        self.events.push_back(Event::ChildSaUp(info));
        Ok(())
    }

    /// Child SA rekey and expiry timers.
    pub(super) fn child_timers(&mut self, now: Instant) -> Result<(), Error> {
        let expired: Vec<usize> = self
            .children
            .iter()
            .enumerate()
            .filter(|(_, c)| now >= c.expire_at)
            .map(|(i, _)| i)
            .collect();
        for i in expired.into_iter().rev() {
            let c = self.children.remove(i);
            self.events.push_back(Event::ChildSaDeleted {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
        }
        if self.children.is_empty() && self.quick.is_none() {
            return Err(Error::Expired("child"));
        }
        if self.request.is_none() && self.quick.is_none() {
            if let Some(c) = self
                .children
                .iter_mut()
                .find(|c| c.rekey_at.is_some_and(|t| now >= t))
            {
                c.rekey_at = None;
                let old = c.spi_in;
                info!(
                    spi_in = format_args!("{old:08x}"),
                    "rekeying a child SA with Quick Mode"
                );
                self.start_quick(now, Some(old))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responder_lifetime_notify_is_read_in_seconds() {
        use crate::v1::attributes::{emit, Attribute};
        let data = emit(&[
            Attribute::basic(p::p2::LIFE_TYPE, p::LIFE_KILOBYTES),
            Attribute::number(p::p2::LIFE_DURATION, 100_000),
            Attribute::basic(p::p2::LIFE_TYPE, p::LIFE_SECONDS),
            Attribute::number(p::p2::LIFE_DURATION, 1200),
        ]);
        let n = Notify {
            protocol: p::PROTO_ESP,
            notify_type: notify_type::RESPONDER_LIFETIME,
            spi: vec![1, 2, 3, 4],
            data,
        };
        let (first, chain) = wire::emit_chain(&[(payload::NOTIFY, n.emit())]);
        let (payloads, _) = wire::parse_chain(first, &chain).unwrap();
        assert_eq!(
            responder_lifetime(&payloads),
            Some(Duration::from_secs(1200))
        );
        assert_eq!(responder_lifetime(&payloads[..0]), None);
    }

    #[test]
    fn selectors_round_trip_through_id_payloads() {
        for ts in [
            TrafficSelector::any(false),
            TrafficSelector::prefix("198.19.1.0".parse().unwrap(), 24),
            TrafficSelector::prefix("198.19.100.7".parse().unwrap(), 32),
            TrafficSelector::prefix("2001:db8::".parse().unwrap(), 48),
        ] {
            let id = ts_to_id(&ts);
            let back = id_to_ts(&IdPayload::parse(&id.emit()).unwrap()).unwrap();
            assert_eq!(back, ts, "{id:?}");
        }
        assert_eq!(
            ts_to_id(&TrafficSelector::any(false)).id_type,
            id_type::IPV4_ADDR_SUBNET
        );
        assert!(id_to_ts(&IdPayload {
            id_type: 1,
            protocol: 0,
            port: 0,
            data: vec![1, 2]
        })
        .is_none());
    }
}
