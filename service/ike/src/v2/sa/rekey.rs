//! CREATE_CHILD_SA (§1.3): rekeying child SAs (with PFS when proposed) and the IKE SA, both
//! when we start it and when the gateway does, including simultaneous rekeys of a child SA
//! (§2.8.1) and of the IKE SA (§2.8.2).

use std::time::Instant;

use strait_crypto::{DhGroup, KeyExchange};
use tracing::info;

use super::init::{find_tsi, find_tsr, protocol};
use super::{
    error_notify, notifies, notify, Child, IkeSa, OldSa, Pending, Task, DELETE_GRACE, NONCE_LEN,
    RETRY_LATER,
};
use crate::event::{ChildSaInfo, Error, Event, Stage};
use crate::proposal::dh_name;
use crate::v2::keys::IkeKeys;
use crate::v2::proposal_wire::{
    choose_esp, choose_ike, esp_to_wire, ike_to_wire, select_esp, select_ike, NegotiatedEsp,
};
use crate::v2::sk::SkCrypter;
use crate::v2::ts::narrowed_ok;
use crate::v2::wire::{
    notify_type, Delete, ExchangeType, KeyExchangePayload, Notify, Payload, ProtocolId,
};

/// Our CREATE_CHILD_SA request rekeying a child.
pub(super) struct ChildRekeyRequest {
    old_spi_in: u32,
    new_spi_in: u32,
    nonce_i: Vec<u8>,
    ke: Option<Box<dyn KeyExchange>>,
    retried_ke: bool,
}

/// Our CREATE_CHILD_SA request rekeying the IKE SA.
pub(super) struct IkeRekeyRequest {
    new_spi: u64,
    nonce_i: Vec<u8>,
    ke: Box<dyn KeyExchange>,
    retried_ke: bool,
}

/// The gateway's new IKE SA from a rekey that crossed ours (§2.8.2), with the nonces of its
/// exchange, which decide which of the two new SAs survives.
pub(super) struct IkeCollision {
    pub(super) new: NewIkeSa,
    ni: Vec<u8>,
    nr: Vec<u8>,
}

impl IkeCollision {
    /// Whether a message belongs to the gateway's new SA (it is that SA's initiator).
    pub(super) fn matches(&self, h: &crate::v2::wire::Header) -> bool {
        h.spi_i == self.new.spi_theirs && h.spi_r == self.new.spi_ours
    }
}

/// A new IKE SA, ready to replace the current one.
pub(super) struct NewIkeSa {
    spi_ours: u64,
    spi_theirs: u64,
    initiator: bool,
    keys: IkeKeys,
}

fn find_nonce(payloads: &[Payload]) -> Option<&[u8]> {
    payloads.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n.as_slice()),
        _ => None,
    })
}

fn find_ke(payloads: &[Payload]) -> Option<&KeyExchangePayload> {
    payloads.iter().find_map(|p| match p {
        Payload::Ke(k) => Some(k),
        _ => None,
    })
}

fn find_sa(payloads: &[Payload]) -> Option<&[crate::v2::wire::Proposal]> {
    payloads.iter().find_map(|p| match p {
        Payload::Sa(s) => Some(s.as_slice()),
        _ => None,
    })
}

fn group_data(g: DhGroup) -> Vec<u8> {
    g.iana_id().to_be_bytes().to_vec()
}

impl IkeSa {
    fn keys(&self) -> Result<&IkeKeys, Error> {
        self.keys
            .as_ref()
            .ok_or(Error::Crypto(strait_crypto::CryptoError::Unsupported(
                "keys",
            )))
    }

    /// Splits child KEYMAT into our directions: the exchange initiator's keys come first.
    #[allow(clippy::too_many_arguments)]
    fn child_info(
        &self,
        esp: NegotiatedEsp,
        we_initiated: bool,
        pfs: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        spi_in: u32,
        old: &Child,
    ) -> Result<ChildSaInfo, Error> {
        let ck = self
            .keys()?
            .child_keys(&*self.provider, &esp, pfs, ni, nr)?;
        let (encr_out, integ_out, encr_in, integ_in) = if we_initiated {
            (ck.encr_i, ck.integ_i, ck.encr_r, ck.integ_r)
        } else {
            (ck.encr_r, ck.integ_r, ck.encr_i, ck.integ_i)
        };
        Ok(ChildSaInfo {
            spi_in,
            spi_out: esp.peer_spi,
            algorithms: esp,
            encr_out,
            integ_out,
            encr_in,
            integ_in,
            ts_local: old.ts_local.clone(),
            ts_remote: old.ts_remote.clone(),
            transport_mode: self.cfg.transport_mode,
            config: None,
            replaces: Some(old.spi_in),
            peer_initiated: !we_initiated,
        })
    }

    fn add_child(&mut self, now: Instant, info: &ChildSaInfo) {
        self.children.push(Child {
            spi_in: info.spi_in,
            spi_out: info.spi_out,
            ts_local: info.ts_local.clone(),
            ts_remote: info.ts_remote.clone(),
            rekey_at: Some(self.rekey_time(now, self.cfg.child_lifetime)),
            expire_at: now + self.cfg.child_lifetime.mul_f64(1.1),
            superseded: false,
            collision: None,
        });
    }

    fn supersede(&mut self, now: Instant, spi_in: u32) {
        if let Some(c) = self.children.iter_mut().find(|c| c.spi_in == spi_in) {
            c.superseded = true;
            c.rekey_at = None;
            c.expire_at = c.expire_at.min(now + DELETE_GRACE);
        }
    }

    pub(super) fn start_child_rekey(
        &mut self,
        now: Instant,
        old_spi_in: u32,
        forced: Option<DhGroup>,
    ) -> Result<(), Error> {
        let Some(old) = self.children.iter().find(|c| c.spi_in == old_spi_in) else {
            return Ok(());
        };
        if old.superseded {
            return Ok(());
        }
        let (ts_local, ts_remote) = (old.ts_local.clone(), old.ts_remote.clone());
        let group = forced.or_else(|| {
            self.cfg
                .esp_proposals
                .iter()
                .find_map(|p| p.dh.first().copied())
        });
        let ke = match group {
            Some(g) => Some(self.new_key_exchange(g)?),
            None => None,
        };
        let new_spi_in = self.new_child_spi()?;
        let nonce_i = self.random_bytes(NONCE_LEN)?;
        let mut payloads = vec![
            Payload::Notify(Notify {
                protocol: ProtocolId::Esp,
                spi: old_spi_in.to_be_bytes().to_vec(),
                notify_type: notify_type::REKEY_SA,
                data: vec![],
            }),
            Payload::Sa(esp_to_wire(
                &self.cfg.esp_proposals,
                new_spi_in,
                true,
                forced,
            )),
            Payload::Nonce(nonce_i.clone()),
        ];
        if let Some(ke) = &ke {
            payloads.push(Payload::Ke(KeyExchangePayload {
                group: ke.group().iana_id(),
                data: ke.public_key().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(ts_local));
        payloads.push(Payload::TsR(ts_remote));
        if self.cfg.transport_mode {
            payloads.push(notify(notify_type::USE_TRANSPORT_MODE, vec![]));
        }
        info!(
            "rekeying child SA {old_spi_in:08x}{}",
            group.map_or(String::new(), |g| format!(" with PFS ({})", dh_name(g)))
        );
        self.send_request(
            now,
            ExchangeType::CreateChildSa,
            &payloads,
            Stage::ChildRekey,
            Pending::RekeyChild(ChildRekeyRequest {
                old_spi_in,
                new_spi_in,
                nonce_i,
                ke,
                retried_ke: forced.is_some(),
            }),
        )
    }

    pub(super) fn handle_child_rekey_response(
        &mut self,
        now: Instant,
        req: ChildRekeyRequest,
        payloads: Vec<Payload>,
    ) -> Result<(), Error> {
        if let Some(n) = error_notify(&payloads) {
            return match n.notify_type {
                notify_type::INVALID_KE_PAYLOAD if !req.retried_ke => {
                    let g = <[u8; 2]>::try_from(n.data.as_slice())
                        .ok()
                        .and_then(|b| DhGroup::from_iana_id(u16::from_be_bytes(b)))
                        .filter(|g| self.cfg.esp_proposals.iter().any(|p| p.dh.contains(g)));
                    match g {
                        Some(g) => self.start_child_rekey(now, req.old_spi_in, Some(g)),
                        None => Err(Error::InvalidKe {
                            group: <[u8; 2]>::try_from(n.data.as_slice())
                                .map(u16::from_be_bytes)
                                .unwrap_or(0),
                            key: "esp",
                        }),
                    }
                }
                notify_type::TEMPORARY_FAILURE | notify_type::CHILD_SA_NOT_FOUND => {
                    // A collision or a gateway busy with something else: try again soon.
                    info!("the gateway postponed the child SA rekey; retrying later");
                    if let Some(c) = self
                        .children
                        .iter_mut()
                        .find(|c| c.spi_in == req.old_spi_in)
                    {
                        c.rekey_at = Some(now + RETRY_LATER);
                    }
                    Ok(())
                }
                code => Err(self.child_error(code, Stage::ChildRekey)),
            };
        }
        let (Some(sa), Some(nonce_r)) = (find_sa(&payloads), find_nonce(&payloads)) else {
            return Err(protocol(Stage::ChildRekey, "SA or Nonce payload missing"));
        };
        let esp = select_esp(&self.cfg.esp_proposals, sa, req.ke.is_some())
            .map_err(|e| protocol(Stage::ChildRekey, &e.to_string()))?;
        let shared = match (req.ke, esp.dh) {
            (Some(ke), Some(g)) => {
                let peer = find_ke(&payloads)
                    .filter(|k| k.group == g.iana_id() && ke.group() == g)
                    .ok_or_else(|| protocol(Stage::ChildRekey, "KE payload missing or wrong"))?;
                Some(ke.complete(&peer.data)?)
            }
            _ => None,
        };
        if let (Some(ts_i), Some(ts_r)) = (find_tsi(&payloads), find_tsr(&payloads)) {
            let old = self.children.iter().find(|c| c.spi_in == req.old_spi_in);
            if let Some(old) = old {
                if !narrowed_ok(&old.ts_local, ts_i) || !narrowed_ok(&old.ts_remote, ts_r) {
                    return Err(protocol(Stage::ChildRekey, "traffic selectors changed"));
                }
            }
        }
        let Some(old) = self.children.iter().find(|c| c.spi_in == req.old_spi_in) else {
            // The old child vanished meanwhile (deleted by the gateway): drop the new one.
            self.enqueue(Task::DeleteChild(req.new_spi_in));
            return Ok(());
        };
        let collision = old.collision.clone();
        let info = self.child_info(
            esp,
            true,
            shared.as_deref().map(|s| &s[..]),
            &req.nonce_i,
            nonce_r,
            req.new_spi_in,
            old,
        )?;
        info!(
            "child SA {:08x} rekeyed: {esp}, SPIs {:08x} in / {:08x} out",
            req.old_spi_in, info.spi_in, info.spi_out
        );
        self.add_child(now, &info);
        self.events.push_back(Event::ChildSaUp(Box::new(info)));
        match collision {
            // §2.8.1: the SA created with the lowest of the four nonces is redundant and is
            // deleted by whoever created it; the survivor's creator deletes the old SA.
            Some((_, their_ni, their_nr)) => {
                let ours_lowest =
                    nonce_min(&req.nonce_i, nonce_r) < nonce_min(&their_ni, &their_nr);
                self.supersede(now, req.old_spi_in);
                if ours_lowest {
                    info!("simultaneous rekey: ours lost, deleting it");
                    self.supersede(now, req.new_spi_in);
                    self.enqueue(Task::DeleteChild(req.new_spi_in));
                } else {
                    self.enqueue(Task::DeleteChild(req.old_spi_in));
                }
            }
            None => {
                self.supersede(now, req.old_spi_in);
                self.enqueue(Task::DeleteChild(req.old_spi_in));
            }
        }
        Ok(())
    }

    pub(super) fn start_ike_rekey(
        &mut self,
        now: Instant,
        forced: Option<DhGroup>,
    ) -> Result<(), Error> {
        let current = self.keys()?.algs.dh;
        let group = forced.unwrap_or(current);
        let ke = self.new_key_exchange(group)?;
        let new_spi = loop {
            let b = self.random_bytes(8)?;
            let spi = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            if spi != 0 && spi != self.spi_ours {
                break spi;
            }
        };
        let nonce_i = self.random_bytes(NONCE_LEN)?;
        let payloads = vec![
            Payload::Sa(ike_to_wire(&self.cfg.ike_proposals, &new_spi.to_be_bytes())),
            Payload::Nonce(nonce_i.clone()),
            Payload::Ke(KeyExchangePayload {
                group: group.iana_id(),
                data: ke.public_key().to_vec(),
            }),
        ];
        info!("rekeying the IKE SA");
        self.send_request(
            now,
            ExchangeType::CreateChildSa,
            &payloads,
            Stage::IkeRekey,
            Pending::RekeyIke(IkeRekeyRequest {
                new_spi,
                nonce_i,
                ke,
                retried_ke: forced.is_some(),
            }),
        )
    }

    pub(super) fn handle_ike_rekey_response(
        &mut self,
        now: Instant,
        req: IkeRekeyRequest,
        payloads: Vec<Payload>,
    ) -> Result<(), Error> {
        let Some(collision) = self.ike_collision.take() else {
            return self.finish_ike_rekey(now, req, payloads);
        };
        // §2.8.2: both exchanges are done; the new SA whose exchange has the lowest of the
        // four nonces is redundant and is deleted by whoever created it.
        let nonce_i = req.nonce_i.clone();
        let ours = match self.ike_rekey_result(now, req, &payloads, false) {
            Ok(Some(new)) => new,
            Ok(None) | Err(_) => {
                // The gateway refused ours (it may be busy with something else, or answered
                // after it had already switched): its new SA is the one.
                info!(
                    "simultaneous IKE SA rekey: the gateway did not accept ours; using its new SA"
                );
                self.switch_to(now, collision.new);
                return Ok(());
            }
        };
        let Some(nonce_r) = find_nonce(&payloads) else {
            return Err(protocol(Stage::IkeRekey, "Nonce payload missing"));
        };
        let ours_lowest = nonce_min(&nonce_i, nonce_r) < nonce_min(&collision.ni, &collision.nr);
        if ours_lowest {
            info!("simultaneous IKE SA rekey: the gateway's new SA survives; deleting ours");
            // The gateway created the survivor: it deletes the old SA, we delete ours.
            self.switch_to(now, collision.new);
            let redundant = self.park(now, ours)?;
            self.retire(redundant);
            self.delete_old_sa(now, self.old.len().saturating_sub(1));
        } else {
            info!("simultaneous IKE SA rekey: our new SA survives; the gateway deletes its own");
            self.switch_to(now, ours);
            // We created the survivor: we delete the old SA once the redundant one is gone.
            if let Some(old) = self.old.last_mut() {
                old.delete_deferred = true;
                old.expire_at = now + DELETE_GRACE * 2;
            }
            let mut redundant = self.park(now, collision.new)?;
            redundant.redundant = true;
            self.retire(redundant);
        }
        Ok(())
    }

    /// Our IKE SA rekey answered without a collision: switch, then delete the old SA.
    fn finish_ike_rekey(
        &mut self,
        now: Instant,
        req: IkeRekeyRequest,
        payloads: Vec<Payload>,
    ) -> Result<(), Error> {
        if let Some(new) = self.ike_rekey_result(now, req, &payloads, true)? {
            self.switch_to(now, new);
            // We created the new SA, so we delete the old one.
            self.delete_old_sa(now, self.old.len().saturating_sub(1));
        }
        Ok(())
    }

    /// The new IKE SA from the gateway's answer to our rekey; `None` when the gateway
    /// refused it. With `retry` (no collision pending) a refusal plans or starts a retry (or
    /// is an error); without, the caller uses the gateway's new SA instead.
    fn ike_rekey_result(
        &mut self,
        now: Instant,
        req: IkeRekeyRequest,
        payloads: &[Payload],
        retry: bool,
    ) -> Result<Option<NewIkeSa>, Error> {
        if let Some(n) = error_notify(payloads) {
            if !retry {
                info!(
                    "the gateway answered our IKE SA rekey with {}",
                    crate::event::notify_name(n.notify_type)
                );
                return Ok(None);
            }
            return match n.notify_type {
                notify_type::INVALID_KE_PAYLOAD if !req.retried_ke => {
                    let g = <[u8; 2]>::try_from(n.data.as_slice())
                        .ok()
                        .and_then(|b| DhGroup::from_iana_id(u16::from_be_bytes(b)))
                        .filter(|g| self.cfg.ike_proposals.iter().any(|p| p.dh.contains(g)));
                    match g {
                        Some(g) => self.start_ike_rekey(now, Some(g)).map(|()| None),
                        None => Err(Error::InvalidKe {
                            group: 0,
                            key: "ike",
                        }),
                    }
                }
                notify_type::NO_PROPOSAL_CHOSEN => Err(Error::NoProposalChosen {
                    what: "IKE",
                    key: "ike",
                    offered: self.offered_ike(),
                }),
                _ => {
                    info!("the gateway postponed the IKE SA rekey; retrying later");
                    self.ike_rekey_at = Some(now + RETRY_LATER);
                    Ok(None)
                }
            };
        }
        let (Some(sa), Some(nonce_r), Some(ke)) =
            (find_sa(payloads), find_nonce(payloads), find_ke(payloads))
        else {
            return Err(protocol(Stage::IkeRekey, "SA, Nonce or KE payload missing"));
        };
        let (algs, spi) = select_ike(&self.cfg.ike_proposals, sa, 8)
            .map_err(|e| protocol(Stage::IkeRekey, &e.to_string()))?;
        if ke.group != algs.dh.iana_id() || req.ke.group() != algs.dh {
            return Err(protocol(Stage::IkeRekey, "KE payload group differs"));
        }
        let spi_theirs = u64::from_be_bytes(
            <[u8; 8]>::try_from(spi.as_slice())
                .map_err(|_| protocol(Stage::IkeRekey, "bad SPI"))?,
        );
        let shared = req.ke.complete(&ke.data)?;
        let keys = self.keys()?.derive_rekey(
            &*self.provider,
            algs,
            &shared,
            &req.nonce_i,
            nonce_r,
            req.new_spi,
            spi_theirs,
        )?;
        Ok(Some(NewIkeSa {
            spi_ours: req.new_spi,
            spi_theirs,
            initiator: true,
            keys,
        }))
    }

    /// The SK crypters of a new IKE SA, in our directions: (outbound, inbound).
    fn crypters(&self, new: &NewIkeSa) -> Result<(SkCrypter, SkCrypter), Error> {
        let algs = new.keys.algs;
        let (ek_out, ak_out, ek_in, ak_in) = if new.initiator {
            (
                &new.keys.sk_ei,
                &new.keys.sk_ai,
                &new.keys.sk_er,
                &new.keys.sk_ar,
            )
        } else {
            (
                &new.keys.sk_er,
                &new.keys.sk_ar,
                &new.keys.sk_ei,
                &new.keys.sk_ai,
            )
        };
        let out = SkCrypter::new(self.provider.clone(), algs.encr, algs.integ, ek_out, ak_out)?;
        let inb = SkCrypter::new(self.provider.clone(), algs.encr, algs.integ, ek_in, ak_in)?;
        Ok((out, inb))
    }

    /// A new IKE SA that will never carry anything (the redundant one of a simultaneous
    /// rekey), ready to be retired and deleted.
    fn park(&self, now: Instant, new: NewIkeSa) -> Result<OldSa, Error> {
        let (sk_out, sk_in) = self.crypters(&new)?;
        Ok(OldSa {
            spi_ours: new.spi_ours,
            spi_theirs: new.spi_theirs,
            initiator: new.initiator,
            sk_out,
            sk_in,
            next_id: 0,
            peer_id: 0,
            request: None,
            last_response: None,
            expire_at: now + DELETE_GRACE,
            redundant: false,
            delete_deferred: false,
        })
    }

    /// Replaces the current IKE SA by `new`, keeping the old one until its DELETE is done.
    pub(super) fn switch_to(&mut self, now: Instant, new: NewIkeSa) {
        let algs = new.keys.algs;
        let (sk_out, sk_in) = match self.crypters(&new) {
            Ok(c) => c,
            Err(e) => {
                self.fail(now, e);
                return;
            }
        };
        if let (Some(old_out), Some(old_in)) = (self.sk_out.take(), self.sk_in.take()) {
            let old = OldSa {
                spi_ours: self.spi_ours,
                spi_theirs: self.spi_theirs,
                initiator: self.initiator,
                sk_out: old_out,
                sk_in: old_in,
                next_id: self.next_id,
                peer_id: self.peer_id,
                request: None,
                last_response: self.last_response.take(),
                expire_at: now + DELETE_GRACE,
                redundant: false,
                delete_deferred: false,
            };
            self.retire(old);
        }
        self.spi_ours = new.spi_ours;
        self.spi_theirs = new.spi_theirs;
        self.initiator = new.initiator;
        self.keys = Some(new.keys);
        self.sk_out = Some(sk_out);
        self.sk_in = Some(sk_in);
        self.next_id = 0;
        self.peer_id = 0;
        self.last_response = None;
        self.ike_rekey_at = Some(self.rekey_time(now, self.cfg.ike_lifetime));
        self.ike_expire_at = Some(now + self.cfg.ike_lifetime.mul_f64(1.1));
        info!(
            "IKE SA rekeyed ({algs}), new SPIs {:016x}/{:016x}",
            self.spi_ours, self.spi_theirs
        );
        self.events
            .push_back(Event::IkeSaRekeyed { algorithms: algs });
    }

    /// Answers the gateway's CREATE_CHILD_SA request: a child SA rekey, an IKE SA rekey, or a
    /// new child SA (which a remote-access client does not accept).
    pub(super) fn handle_create_child_request(
        &mut self,
        now: Instant,
        payloads: &[Payload],
    ) -> Vec<Payload> {
        let result = if let Some(rekey) =
            notifies(payloads).find(|n| n.notify_type == notify_type::REKEY_SA)
        {
            let spi = <[u8; 4]>::try_from(rekey.spi.as_slice()).map(u32::from_be_bytes);
            match spi {
                Ok(spi) => self.answer_child_rekey(now, spi, payloads),
                Err(_) => Ok(vec![notify(notify_type::INVALID_SYNTAX, vec![])]),
            }
        } else if find_sa(payloads)
            .and_then(|s| s.first())
            .is_some_and(|p| p.protocol == ProtocolId::Ike)
        {
            self.answer_ike_rekey(now, payloads)
        } else {
            Ok(vec![notify(notify_type::NO_ADDITIONAL_SAS, vec![])])
        };
        result.unwrap_or_else(|e| {
            tracing::warn!("cannot answer the gateway's CREATE_CHILD_SA: {e}");
            vec![notify(notify_type::NO_PROPOSAL_CHOSEN, vec![])]
        })
    }

    fn answer_child_rekey(
        &mut self,
        now: Instant,
        their_spi: u32,
        payloads: &[Payload],
    ) -> Result<Vec<Payload>, Error> {
        let Some(old_idx) = self
            .children
            .iter()
            .position(|c| c.spi_out == their_spi && !c.superseded)
        else {
            let mut n = notify(notify_type::CHILD_SA_NOT_FOUND, vec![]);
            if let Payload::Notify(n) = &mut n {
                n.protocol = ProtocolId::Esp;
                n.spi = their_spi.to_be_bytes().to_vec();
            }
            return Ok(vec![n]);
        };
        if matches!(
            self.request.as_ref().map(|r| &r.pending),
            Some(Pending::RekeyIke(_))
        ) {
            return Ok(vec![notify(notify_type::TEMPORARY_FAILURE, vec![])]);
        }
        let (Some(sa), Some(nonce_i)) = (find_sa(payloads), find_nonce(payloads)) else {
            return Ok(vec![notify(notify_type::INVALID_SYNTAX, vec![])]);
        };
        let ke = find_ke(payloads);
        let Some((chosen, mut esp)) = choose_esp(&self.cfg.esp_proposals, sa, ke.map(|k| k.group))
        else {
            return Ok(vec![notify(notify_type::NO_PROPOSAL_CHOSEN, vec![])]);
        };
        // PFS: their KE must be in the chosen group.
        let mut our_ke_payload = None;
        let shared = match esp.dh {
            Some(g) => {
                let Some(k) = ke.filter(|k| k.group == g.iana_id()) else {
                    return Ok(vec![notify(notify_type::INVALID_KE_PAYLOAD, group_data(g))]);
                };
                let ours = self.new_key_exchange(g)?;
                our_ke_payload = Some(Payload::Ke(KeyExchangePayload {
                    group: g.iana_id(),
                    data: ours.public_key().to_vec(),
                }));
                Some(ours.complete(&k.data)?)
            }
            None => None,
        };
        let new_spi_in = self.new_child_spi()?;
        let nonce_r = self.random_bytes(NONCE_LEN)?;
        esp.peer_spi = chosen_spi(&chosen).unwrap_or(0);
        let old = &self.children[old_idx];
        let info = self.child_info(
            esp,
            false,
            shared.as_deref().map(|s| &s[..]),
            nonce_i,
            &nonce_r,
            new_spi_in,
            old,
        )?;
        let mut response_sa = chosen;
        response_sa.spi = new_spi_in.to_be_bytes().to_vec();
        let mut answer = vec![
            Payload::Sa(vec![response_sa]),
            Payload::Nonce(nonce_r.clone()),
        ];
        answer.extend(our_ke_payload);
        // Their TSi is our remote side; we keep the child's selectors.
        answer.push(Payload::TsI(old.ts_remote.clone()));
        answer.push(Payload::TsR(old.ts_local.clone()));
        if self.cfg.transport_mode {
            answer.push(notify(notify_type::USE_TRANSPORT_MODE, vec![]));
        }
        let old_spi_in = old.spi_in;
        // A simultaneous rekey of our own (§2.8.1)? Remember this exchange's nonces.
        let ours_in_flight = matches!(
            self.request.as_ref().map(|r| &r.pending),
            Some(Pending::RekeyChild(r)) if r.old_spi_in == old_spi_in
        );
        info!(
            "the gateway rekeyed child SA {old_spi_in:08x}: {esp}, SPIs {:08x} in / {:08x} out",
            info.spi_in, info.spi_out
        );
        self.add_child(now, &info);
        if ours_in_flight {
            if let Some(c) = self.children.get_mut(old_idx) {
                c.collision = Some((new_spi_in, nonce_i.to_vec(), nonce_r));
            }
        } else {
            // The gateway deletes the old child; if it does not, it expires soon.
            self.supersede(now, old_spi_in);
        }
        self.events.push_back(Event::ChildSaUp(Box::new(info)));
        Ok(answer)
    }

    fn answer_ike_rekey(
        &mut self,
        _now: Instant,
        payloads: &[Payload],
    ) -> Result<Vec<Payload>, Error> {
        // §2.25.2: a rekey of the IKE SA we are rekeying ourselves is answered as usual and
        // resolved by §2.8.2 once ours is answered too. While we do anything else (a child
        // rekey, closing) or a collision is already pending, the gateway retries later.
        let colliding = matches!(
            self.request.as_ref().map(|r| &r.pending),
            Some(Pending::RekeyIke(_))
        ) && self.ike_collision.is_none()
            && self.closing.is_none();
        if self.request.is_some() && !colliding {
            return Ok(vec![notify(notify_type::TEMPORARY_FAILURE, vec![])]);
        }
        let (Some(sa), Some(nonce_i), Some(ke)) =
            (find_sa(payloads), find_nonce(payloads), find_ke(payloads))
        else {
            return Ok(vec![notify(notify_type::INVALID_SYNTAX, vec![])]);
        };
        let Some((chosen, algs)) = choose_ike(&self.cfg.ike_proposals, sa, Some(ke.group)) else {
            return Ok(vec![notify(notify_type::NO_PROPOSAL_CHOSEN, vec![])]);
        };
        if ke.group != algs.dh.iana_id() {
            return Ok(vec![notify(
                notify_type::INVALID_KE_PAYLOAD,
                group_data(algs.dh),
            )]);
        }
        let Ok(their_spi) = <[u8; 8]>::try_from(chosen.spi.as_slice()).map(u64::from_be_bytes)
        else {
            return Ok(vec![notify(notify_type::INVALID_SYNTAX, vec![])]);
        };
        let ours = self.new_key_exchange(algs.dh)?;
        let our_ke = Payload::Ke(KeyExchangePayload {
            group: algs.dh.iana_id(),
            data: ours.public_key().to_vec(),
        });
        let shared = ours.complete(&ke.data)?;
        let nonce_r = self.random_bytes(NONCE_LEN)?;
        let new_spi = loop {
            let b = self.random_bytes(8)?;
            let spi = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            if spi != 0 && spi != self.spi_ours {
                break spi;
            }
        };
        // The gateway is the initiator of the new SA.
        let keys = self.keys()?.derive_rekey(
            &*self.provider,
            algs,
            &shared,
            nonce_i,
            &nonce_r,
            their_spi,
            new_spi,
        )?;
        let mut response_sa = chosen;
        response_sa.spi = new_spi.to_be_bytes().to_vec();
        let new = NewIkeSa {
            spi_ours: new_spi,
            spi_theirs: their_spi,
            initiator: false,
            keys,
        };
        if colliding {
            info!("simultaneous IKE SA rekey: answering the gateway's; deciding once ours is answered");
            self.ike_collision = Some(IkeCollision {
                new,
                ni: nonce_i.to_vec(),
                nr: nonce_r.clone(),
            });
        } else {
            self.switch_after_response = Some(new);
        }
        Ok(vec![
            Payload::Sa(vec![response_sa]),
            Payload::Nonce(nonce_r),
            our_ke,
        ])
    }

    pub(super) fn start_delete_child(&mut self, now: Instant, spi_in: u32) -> Result<(), Error> {
        if !self.children.iter().any(|c| c.spi_in == spi_in) {
            return Ok(());
        }
        info!("deleting child SA {spi_in:08x}");
        self.send_request(
            now,
            ExchangeType::Informational,
            &[Payload::Delete(Delete {
                protocol: ProtocolId::Esp,
                spis: vec![spi_in.to_be_bytes().to_vec()],
            })],
            Stage::Informational,
            Pending::DeleteChild(spi_in),
        )
    }

    /// Forgets a child SA and tells the service.
    pub(super) fn child_deleted(&mut self, spi_in: u32) {
        if let Some(i) = self.children.iter().position(|c| c.spi_in == spi_in) {
            let c = self.children.remove(i);
            info!("child SA {:08x}/{:08x} deleted", c.spi_in, c.spi_out);
            self.events.push_back(Event::ChildSaDeleted {
                spi_in: c.spi_in,
                spi_out: c.spi_out,
            });
        }
    }
}

/// The SPI of a proposal as a child SPI.
fn chosen_spi(p: &crate::v2::wire::Proposal) -> Option<u32> {
    <[u8; 4]>::try_from(p.spi.as_slice())
        .ok()
        .map(u32::from_be_bytes)
}

/// The lower of two nonces (compared as big-endian numbers of equal length first, §2.8.1).
fn nonce_min<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if nonce_less(a, b) {
        a
    } else {
        b
    }
}

fn nonce_less(a: &[u8], b: &[u8]) -> bool {
    // Nonces are compared as octet strings; a shorter one is padded with zeros on the right
    // in effect, which lexicographic comparison already does for a common prefix.
    a < b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_nonce_rule() {
        assert_eq!(nonce_min(&[1, 2], &[1, 3]), &[1, 2]);
        assert!(nonce_min(&[0, 9], &[5]) < nonce_min(&[3], &[4]));
    }
}
