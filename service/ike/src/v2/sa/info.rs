//! INFORMATIONAL exchanges (§1.4): answering the gateway's liveness checks, deletes and
//! notifications, and finishing the old IKE SA after a rekey.

use std::time::Instant;

use tracing::{debug, info};

use super::{IkeSa, OldSa, Transmit, DELETE_GRACE};

use crate::v2::wire::{
    parse_payload_chain, sk_aad, Delete, ExchangeType, Header, Payload, ProtocolId, FLAG_INITIATOR,
    FLAG_RESPONSE,
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

    pub(super) fn old_sa_matches(&self, h: &Header) -> bool {
        self.old.as_ref().is_some_and(|o| {
            let (ours, theirs) = if o.initiator {
                (h.spi_i, h.spi_r)
            } else {
                (h.spi_r, h.spi_i)
            };
            ours == o.spi_ours && theirs == o.spi_theirs
        })
    }

    /// We created the new SA: delete the old one on the old SA.
    pub(super) fn delete_old_sa(&mut self, now: Instant) {
        let udp_encap = self.udp_encap;
        let wait = self.cfg.retransmit.wait(0);
        let Some(old) = &mut self.old else {
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
                old.next_id = old.next_id.wrapping_add(1);
                self.transmits.push_back(Transmit {
                    data: d.clone(),
                    udp_encap,
                });
                old.request = Some((id, d, 1, now + wait));
            }
            Err(_) => self.old = None,
        }
    }

    /// Traffic on the old IKE SA: the answer to our DELETE, or the gateway's DELETE (and
    /// anything else it still sends there, answered empty).
    pub(super) fn handle_old_sa(&mut self, now: Instant, h: &Header, data: &[u8]) {
        let udp_encap = self.udp_encap;
        let Some(old) = &mut self.old else {
            return;
        };
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
                debug!("old IKE SA deleted");
                self.old = None;
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
        let header = old_header(old, h.exchange, h.message_id, true);
        if let Ok(d) = super::seal_message(&mut old.sk_out, &header, &[]) {
            old.last_response = Some((h.message_id, d.clone()));
            self.transmits.push_back(Transmit { data: d, udp_encap });
        }
        if deletes_sa {
            debug!("the gateway deleted the old IKE SA");
            self.old = None;
        } else {
            old.expire_at = now + DELETE_GRACE;
        }
    }

    pub(super) fn old_sa_timeout(&mut self, now: Instant) {
        let udp_encap = self.udp_encap;
        let tries = self.cfg.retransmit.tries;
        let retransmit = self.cfg.retransmit;
        let Some(old) = &mut self.old else {
            return;
        };
        if now >= old.expire_at {
            self.old = None;
            return;
        }
        if let Some((_, data, sends, deadline)) = &mut old.request {
            if now >= *deadline {
                if *sends > tries {
                    self.old = None;
                    return;
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
