//! INFORMATIONAL exchanges (§1.4): answering the gateway's liveness checks, deletes and
//! notifications, and finishing the old IKE SA after a rekey.

use std::time::Instant;

use tracing::{debug, info};

use super::{IkeSa, OldSa, Transmit, DELETE_GRACE, MAX_OLD_SAS};

use crate::v2::wire::{
    notify_type, parse_payload_chain, sk_aad, Delete, ExchangeType, Header, Payload, ProtocolId,
    FLAG_INITIATOR, FLAG_RESPONSE,
};

impl IkeSa {
    /// Answers an INFORMATIONAL request; returns the payloads of our response.
    pub(super) fn handle_info_request(
        &mut self,
        _now: Instant,
        payloads: &[Payload],
    ) -> Vec<Payload> {
        let mut answer = Vec::new();
        let mut deleted_in = Vec::new();
        let mut close = false;
        for p in payloads {
            match p {
                Payload::Delete(Delete {
                    protocol: ProtocolId::Ike,
                    ..
                }) => close = true,
                Payload::Delete(Delete {
                    protocol: ProtocolId::Esp,
                    spis,
                }) => {
                    for spi in spis {
                        let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()).map(u32::from_be_bytes)
                        else {
                            continue;
                        };
                        if let Some(c) = self.children.iter().find(|c| c.spi_out == spi) {
                            deleted_in.push(c.spi_in);
                        }
                    }
                }
                Payload::Notify(n) => {
                    debug!(
                        "gateway notification {} ({})",
                        crate::event::notify_name(n.notify_type),
                        n.notify_type
                    );
                }
                _ => {}
            }
        }
        if close {
            if let Some(c) = self.ike_collision.take() {
                // §2.25.2: a request to close an IKE SA we are rekeying is answered as usual
                // and our own rekey forgotten; here the gateway closes the old SA because its
                // rekey won, so its new SA carries on.
                info!("the gateway deleted the old IKE SA during a simultaneous rekey; using its new SA");
                if matches!(
                    self.request.as_ref().map(|r| &r.pending),
                    Some(super::Pending::RekeyIke(_))
                ) {
                    self.request = None;
                }
                self.switch_after_response = Some(c.new);
                return answer;
            }
            info!("the gateway deleted the IKE SA");
            // Our (empty) answer is sent before we stop; see handle_request.
            self.peer_closed = true;
            return answer;
        }
        if !deleted_in.is_empty() {
            answer.push(Payload::Delete(Delete {
                protocol: ProtocolId::Esp,
                spis: deleted_in
                    .iter()
                    .map(|s| s.to_be_bytes().to_vec())
                    .collect(),
            }));
            for spi in deleted_in {
                self.child_deleted(spi);
            }
            if self.children.is_empty() {
                // A remote-access tunnel without child SAs carries nothing: the gateway
                // closed it (an administrator, or a policy change).
                info!("the gateway deleted the last child SA");
                self.peer_closed = true;
            }
        }
        answer
    }

    /// Which retired IKE SA (if any) a message belongs to.
    pub(super) fn old_sa_index(&self, h: &Header) -> Option<usize> {
        self.old.iter().position(|o| {
            let (ours, theirs) = if o.initiator {
                (h.spi_i, h.spi_r)
            } else {
                (h.spi_r, h.spi_i)
            };
            ours == o.spi_ours && theirs == o.spi_theirs
        })
    }

    /// Keeps a retired IKE SA until its DELETE exchange is done; the oldest one goes when
    /// there are too many.
    pub(super) fn retire(&mut self, old: OldSa) {
        if self.old.len() >= MAX_OLD_SAS {
            let gone = self.old.remove(0);
            debug!(
                "forgetting retired IKE SA {:016x} early (too many)",
                gone.spi_ours
            );
        }
        self.old.push(old);
    }

    /// Sends our DELETE on the retired IKE SA at `idx` (on that SA, with its keys).
    pub(super) fn delete_old_sa(&mut self, now: Instant, idx: usize) {
        let udp_encap = self.udp_encap;
        let wait = self.cfg.retransmit.wait(0);
        let Some(old) = self.old.get_mut(idx) else {
            return;
        };
        let id = old.next_id;
        let header = old_header(old, ExchangeType::Informational, id, false);
        let payloads = [Payload::Delete(Delete {
            protocol: ProtocolId::Ike,
            spis: vec![],
        })];
        match super::seal_message(&mut old.sk_out, &header, &payloads) {
            Ok(d) => {
                info!("deleting IKE SA {:016x}", old.spi_ours);
                old.next_id = old.next_id.wrapping_add(1);
                old.delete_deferred = false;
                old.expire_at = now + DELETE_GRACE;
                self.transmits.push_back(Transmit {
                    data: d.clone(),
                    udp_encap,
                });
                old.request = Some((id, d, 1, now + wait));
            }
            Err(_) => {
                self.old.remove(idx);
            }
        }
    }

    /// Forgets the retired IKE SA at `idx`; once no redundant SA of the gateway's is left,
    /// sends the DELETEs that waited for that (§2.8.2).
    fn drop_old_sa(&mut self, now: Instant, idx: usize) {
        if idx < self.old.len() {
            self.old.remove(idx);
        }
        self.release_deferred_deletes(now);
    }

    pub(super) fn release_deferred_deletes(&mut self, now: Instant) {
        if self.old.iter().any(|o| o.redundant) {
            return;
        }
        while let Some(i) = self.old.iter().position(|o| o.delete_deferred) {
            self.delete_old_sa(now, i);
        }
    }

    /// Traffic on a retired IKE SA: the answer to our DELETE, or the gateway's DELETE (and
    /// anything else it still sends there: a CREATE_CHILD_SA is refused with
    /// TEMPORARY_FAILURE as §2.25.2 says for an SA being closed, the rest answered empty).
    pub(super) fn handle_old_sa(&mut self, now: Instant, idx: usize, h: &Header, data: &[u8]) {
        let udp_encap = self.udp_encap;
        let Some(old) = self.old.get_mut(idx) else {
            return;
        };
        // The peer sets the Initiator flag iff it is the original initiator of that SA.
        if (h.flags & FLAG_INITIATOR != 0) == old.initiator {
            return;
        }
        let Ok(parts) = sk_aad(data) else {
            return;
        };
        let Ok(plain) = old.sk_in.open(parts.aad, parts.body) else {
            return;
        };
        let Ok(payloads) = parse_payload_chain(parts.first_inner, &plain) else {
            return;
        };
        self.last_heard = now;
        if h.flags & FLAG_RESPONSE != 0 {
            if old.request.as_ref().is_some_and(|r| r.0 == h.message_id) {
                debug!("retired IKE SA {:016x} deleted", old.spi_ours);
                self.drop_old_sa(now, idx);
            }
            return;
        }
        if let Some((id, resp)) = &old.last_response {
            if *id == h.message_id && id.wrapping_add(1) == old.peer_id {
                // A retransmit: our answer was lost (§2.1).
                self.transmits.push_back(Transmit {
                    data: resp.clone(),
                    udp_encap,
                });
                return;
            }
        }
        if h.message_id != old.peer_id {
            return;
        }
        old.peer_id = old.peer_id.wrapping_add(1);
        let deletes_sa = payloads.iter().any(|p| {
            matches!(
                p,
                Payload::Delete(Delete {
                    protocol: ProtocolId::Ike,
                    ..
                })
            )
        });
        let answer = if h.exchange == ExchangeType::CreateChildSa {
            vec![super::notify(notify_type::TEMPORARY_FAILURE, vec![])]
        } else {
            vec![]
        };
        let header = old_header(old, h.exchange, h.message_id, true);
        if let Ok(d) = super::seal_message(&mut old.sk_out, &header, &answer) {
            old.last_response = Some((h.message_id, d.clone()));
            self.transmits.push_back(Transmit { data: d, udp_encap });
        }
        if deletes_sa {
            debug!("the gateway deleted retired IKE SA {:016x}", old.spi_ours);
            self.drop_old_sa(now, idx);
        } else {
            old.expire_at = now + DELETE_GRACE;
        }
    }

    pub(super) fn old_sa_timeout(&mut self, now: Instant) {
        let udp_encap = self.udp_encap;
        let tries = self.cfg.retransmit.tries;
        let retransmit = self.cfg.retransmit;
        let mut gone = Vec::new();
        for (i, old) in self.old.iter_mut().enumerate() {
            if now >= old.expire_at {
                gone.push(i);
                continue;
            }
            if let Some((_, data, sends, deadline)) = &mut old.request {
                if now >= *deadline {
                    if *sends > tries {
                        gone.push(i);
                        continue;
                    }
                    *deadline = now + retransmit.wait(*sends);
                    *sends += 1;
                    self.transmits.push_back(Transmit {
                        data: data.clone(),
                        udp_encap,
                    });
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        for i in gone.into_iter().rev() {
            let o = self.old.remove(i);
            if o.redundant {
                debug!("the gateway never deleted its redundant IKE SA; forgetting it");
            }
        }
        self.release_deferred_deletes(now);
    }
}

fn old_header(old: &OldSa, exchange: ExchangeType, id: u32, response: bool) -> Header {
    let (spi_i, spi_r) = if old.initiator {
        (old.spi_ours, old.spi_theirs)
    } else {
        (old.spi_theirs, old.spi_ours)
    };
    let mut flags = 0;
    if old.initiator {
        flags |= FLAG_INITIATOR;
    }
    if response {
        flags |= FLAG_RESPONSE;
    }
    Header {
        spi_i,
        spi_r,
        next_payload: 0,
        minor_version: 0,
        exchange,
        flags,
        message_id: id,
        length: 0,
    }
}
