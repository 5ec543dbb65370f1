//! Informational exchanges (RFC 2408 §4.8, RFC 2409 §5.7): notifies and DELETEs, protected by
//! HASH(1) and encrypted with their own IV chain; dead peer detection (RFC 3706).

use std::time::Instant;

use tracing::{debug, info, warn};

use super::phase1::proto;
use super::{Dpd, Sa, Step};
use crate::v1::proposal::{self as p};
use crate::v1::wire::{self, notify_type, payload, Delete, Notify};
use crate::{Error, Event, Stage};

impl Sa {
    pub(super) fn on_informational(
        &mut self,
        now: Instant,
        h: &wire::Header,
        msg: &[u8],
    ) -> Result<(), Error> {
        if h.flags & wire::flags::ENCRYPTION == 0 {
            // Unprotected: only believable as the gateway's answer to our phase 1.
            if self.p1.is_none() {
                debug!("ignoring an unencrypted informational message");
                return Ok(());
            }
            let Ok((payloads, _)) = wire::parse_chain(h.next, &msg[wire::HEADER_LEN..]) else {
                return Ok(());
            };
            for n in payloads
                .iter()
                .filter(|p| p.kind == payload::NOTIFY)
                .filter_map(|p| Notify::parse(&p.body))
            {
                if n.notify_type < 16384 {
                    if let Some(e) = self.phase1_notify(&n) {
                        return Err(e);
                    }
                }
            }
            return Ok(());
        }
        if self.p1.is_some() && self.isakmp.is_some() {
            // During Main Mode message 5/6 the gateway may send an encrypted error notify.
            let provider = self.provider.clone();
            if let Some(isakmp) = self.isakmp.as_mut() {
                if let Ok((plain, _)) =
                    isakmp
                        .crypter
                        .decrypt(&*provider, h.msg_id, &msg[wire::HEADER_LEN..])
                {
                    if let Ok((payloads, _)) = wire::parse_chain(h.next, &plain) {
                        for n in payloads
                            .iter()
                            .filter(|p| p.kind == payload::NOTIFY)
                            .filter_map(|p| Notify::parse(&p.body))
                        {
                            if n.notify_type < 16384 {
                                if let Some(e) = self.phase1_notify(&n) {
                                    return Err(e);
                                }
                            }
                        }
                    }
                }
            }
            return Ok(());
        }
        let Some(payloads) = self.open_protected(h, msg, &[])? else {
            return Ok(());
        };
        self.last_heard = now;
        if let Some(isakmp) = self.isakmp.as_mut() {
            isakmp.crypter.forget(h.msg_id);
        }
        for pl in &payloads[1..] {
            match pl.kind {
                payload::NOTIFY => {
                    if let Some(n) = Notify::parse(&pl.body) {
                        self.on_notify(now, &n)?;
                    }
                }
                payload::DELETE => {
                    if let Some(d) = Delete::parse(&pl.body) {
                        self.on_delete(&d)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn on_notify(&mut self, now: Instant, n: &Notify) -> Result<(), Error> {
        match n.notify_type {
            notify_type::R_U_THERE => {
                debug!("answering the gateway's R-U-THERE");
                let ack = Notify {
                    protocol: p::PROTO_ISAKMP,
                    notify_type: notify_type::R_U_THERE_ACK,
                    spi: self.cookies().to_vec(),
                    data: n.data.clone(),
                };
                self.send_informational(vec![(payload::NOTIFY, ack.emit())]);
            }
            notify_type::R_U_THERE_ACK => {
                let seq = <[u8; 4]>::try_from(n.data.as_slice())
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                if self
                    .dpd
                    .as_ref()
                    .is_some_and(|d| seq >= d.first_seq && seq <= self.dpd_seq)
                {
                    debug!(seq, "the gateway answered our R-U-THERE");
                    self.dpd = None;
                }
            }
            notify_type::CONNECTED => debug!("the gateway confirmed the committed Quick Mode"),
            notify_type::RESPONDER_LIFETIME if n.protocol == p::PROTO_ISAKMP => {
                // Cisco gateways announce a shorter ISAKMP lifetime after phase 1 this way.
                if let Some(l) = crate::v1::attributes::parse(&n.data).and_then(|attrs| {
                    p::lifetime_seconds(&attrs, p::p1::LIFE_TYPE, p::p1::LIFE_DURATION)
                }) {
                    info!(
                        lifetime_s = l.as_secs(),
                        "the gateway shortened the ISAKMP SA lifetime"
                    );
                    let margin = (l / 10).max(std::time::Duration::from_secs(10)).min(l / 2);
                    let expire = now + l;
                    if self.ike_expire_at.is_none_or(|t| expire < t) {
                        self.ike_expire_at = Some(expire);
                        self.ike_rekey_at = Some(now + l - margin);
                    }
                }
            }
            notify_type::RESPONDER_LIFETIME | notify_type::INITIAL_CONTACT => {}
            code if code < 16384 => {
                let name = wire::notify_name(code);
                warn!(code, "the gateway reported {name}");
                if self.step == Step::Quick && self.quick.is_some() {
                    let first = self.children.is_empty();
                    if first {
                        return Err(match code {
                            notify_type::NO_PROPOSAL_CHOSEN => Error::NoProposalChosen {
                                what: "ESP",
                                key: "esp",
                                offered: p::describe_esp(&self.esp_offer, self.pfs),
                            },
                            notify_type::INVALID_ID_INFORMATION => Error::TsUnacceptable {
                                local: format!("{:?}", self.local_selectors()),
                                remote: format!("{:?}", self.cfg.ts_remote),
                            },
                            _ => Error::Notify {
                                stage: Stage::QuickMode,
                                code,
                                name,
                            },
                        });
                    }
                    // A failed rekey: keep the old child and try again later.
                    self.quick = None;
                    self.request = None;
                    self.step = Step::Established;
                    let _ = now;
                }
            }
            code => debug!(code, "ignoring a status notify"),
        }
        Ok(())
    }

    fn on_delete(&mut self, d: &Delete) -> Result<(), Error> {
        match d.protocol {
            p::PROTO_ISAKMP => {
                if d.spis.iter().any(|s| s.as_slice() == self.cookies()) {
                    if self.handling_old {
                        info!("the gateway deleted the ISAKMP SA we are replacing");
                        self.isakmp = None;
                        return Ok(());
                    }
                    info!("the gateway deleted the ISAKMP SA");
                    self.finish(Some(Error::PeerDeleted));
                }
            }
            p::PROTO_ESP => {
                for spi in &d.spis {
                    let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                        continue;
                    };
                    let spi = u32::from_be_bytes(b);
                    if let Some(pos) = self.children.iter().position(|c| c.spi_out == spi) {
                        let c = self.children.remove(pos);
                        info!(
                            spi_in = format_args!("{:08x}", c.spi_in),
                            "the gateway deleted a child SA"
                        );
                        self.events.push_back(Event::ChildSaDeleted {
                            spi_in: c.spi_in,
                            spi_out: c.spi_out,
                        });
                    }
                }
                if self.children.is_empty() && self.quick.is_none() && self.peer_quick.is_none() {
                    info!("the gateway deleted the last child SA; closing");
                    self.send_delete(p::PROTO_ISAKMP, vec![self.cookies().to_vec()]);
                    self.finish(Some(Error::PeerDeleted));
                }
            }
            other => debug!(protocol = other, "ignoring a DELETE for another protocol"),
        }
        Ok(())
    }

    /// Sends a one-way informational message (no answer, no retransmission).
    pub(super) fn send_informational(&mut self, payloads: Vec<(u8, Vec<u8>)>) {
        let sent = self.random_msg_id().and_then(|id| {
            let m = self.protected_message(wire::exchange::INFORMATIONAL, id, &[], payloads)?;
            if let Some(i) = self.isakmp.as_mut() {
                i.crypter.forget(id);
            }
            Ok(m)
        });
        match sent {
            Ok(m) => self.push(m),
            Err(e) => warn!("could not build an informational message: {e}"),
        }
    }

    pub(super) fn send_delete(&mut self, protocol: u8, spis: Vec<Vec<u8>>) {
        let d = Delete { protocol, spis };
        self.send_informational(vec![(payload::DELETE, d.emit())]);
    }

    /// When the next liveness check is due, if DPD is on and the gateway supports it.
    pub(super) fn dpd_due(&self) -> Option<Instant> {
        let interval = self.cfg.dpd_interval?;
        if !self.vendors.dpd || self.dpd.is_some() || self.request.is_some() {
            return None;
        }
        Some(self.last_heard + interval)
    }

    pub(super) fn dpd_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if let Some(d) = &self.dpd {
            if now >= d.give_up_at {
                return Err(Error::DeadPeer);
            }
            if now < d.retry_at {
                return Ok(());
            }
        } else if self.dpd_due().is_none_or(|t| now < t) {
            return Ok(());
        }
        if self.dpd_seq == 0 {
            let mut b = [0u8; 4];
            self.provider.fill_random(&mut b)?;
            self.dpd_seq = u32::from_be_bytes(b) & 0x7fff_ffff;
        }
        self.dpd_seq = self.dpd_seq.wrapping_add(1);
        let seq = self.dpd_seq;
        let retry_at = now + self.cfg.retransmit.timeout;
        match &mut self.dpd {
            Some(d) => d.retry_at = retry_at,
            None => {
                self.dpd = Some(Dpd {
                    first_seq: seq,
                    retry_at,
                    give_up_at: now + self.cfg.dpd_timeout,
                })
            }
        }
        debug!(seq, "sending R-U-THERE");
        let n = Notify {
            protocol: p::PROTO_ISAKMP,
            notify_type: notify_type::R_U_THERE,
            spi: self.cookies().to_vec(),
            data: seq.to_be_bytes().to_vec(),
        };
        self.send_informational(vec![(payload::NOTIFY, n.emit())]);
        let _ = proto;
        Ok(())
    }
}
