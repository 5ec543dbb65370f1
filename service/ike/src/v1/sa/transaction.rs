//! The transaction exchanges after phase 1: the gateway's XAuth login (it asks, we answer,
//! it says whether the login succeeded) and Mode Config, pulled by us (REQUEST/REPLY) or
//! pushed by the gateway (SET/ACK), whichever the gateway does.

use std::time::Instant;

use tracing::{debug, info, warn};

use super::{Sa, Step};
use crate::v1::attributes::{self, Attribute};
use crate::v1::transaction::{self as tx, attr, cfg_type, AttributePayload};
use crate::v1::wire::{self, payload};
use crate::{Error, Event, Stage};

impl Sa {
    pub(super) fn on_transaction(
        &mut self,
        now: Instant,
        h: &wire::Header,
        msg: &[u8],
    ) -> Result<(), Error> {
        let Some(payloads) = self.open_protected(h, msg, &[])? else {
            return Ok(());
        };
        self.last_heard = now;
        let Some(body) = payloads
            .iter()
            .find(|p| p.kind == payload::ATTRIBUTE)
            .map(|p| p.body.clone())
        else {
            debug!("a transaction message without an Attribute payload");
            return Ok(());
        };
        let Some(ap) = AttributePayload::parse(&body) else {
            return Err(super::phase1::proto(
                Stage::ModeConfig,
                "the gateway's Attribute payload is malformed",
            ));
        };
        let is_xauth = ap
            .attrs
            .iter()
            .any(|a| (attr::XAUTH_TYPE..=attr::XAUTH_STATUS).contains(&a.kind));
        match ap.cfg_type {
            cfg_type::REQUEST if is_xauth => self.xauth_request(now, h, msg, &ap),
            cfg_type::SET if is_xauth => self.xauth_status(now, h, msg, &ap),
            cfg_type::SET => {
                info!("the gateway pushed its configuration (Mode Config SET)");
                let reply = AttributePayload {
                    cfg_type: cfg_type::ACK,
                    identifier: ap.identifier,
                    attrs: tx::ack_attributes(&ap.attrs),
                };
                self.answer(h, msg, reply)?;
                if self.config.is_none() {
                    self.config = Some(tx::config_reply(&ap.attrs));
                    if matches!(self.step, Step::PushWait { .. } | Step::ModeConfig) {
                        self.request = None;
                        self.config_done(now)?;
                    }
                }
                Ok(())
            }
            cfg_type::REPLY => {
                let ours = self.request.as_ref().is_some_and(|r| r.msg_id == h.msg_id);
                if !ours || self.step != Step::ModeConfig {
                    debug!("ignoring a Mode Config REPLY we did not ask for");
                    return Ok(());
                }
                self.request = None;
                let c = tx::config_reply(&ap.attrs);
                if c.ipv4.is_empty() && self.cfg.request_ipv4 {
                    return Err(Error::InternalAddressFailure);
                }
                self.config = Some(c);
                self.config_done(now)
            }
            other => {
                debug!(cfg_type = other, "ignoring a transaction message");
                Ok(())
            }
        }
    }

    /// Sends our answer in the gateway's transaction exchange and remembers it for
    /// retransmissions of the gateway's message.
    fn answer(
        &mut self,
        h: &wire::Header,
        received: &[u8],
        ap: AttributePayload,
    ) -> Result<(), Error> {
        let out = self.protected_message(
            wire::exchange::TRANSACTION,
            h.msg_id,
            &[],
            vec![(payload::ATTRIBUTE, ap.emit())],
        )?;
        self.push(out.clone());
        self.last_in = Some((received.to_vec(), out));
        Ok(())
    }

    fn xauth_request(
        &mut self,
        now: Instant,
        h: &wire::Header,
        msg: &[u8],
        ap: &AttributePayload,
    ) -> Result<(), Error> {
        let Some(x) = self.opts.xauth.as_ref() else {
            return Err(Error::XauthNotConfigured);
        };
        if let Some(m) = attributes::find(&ap.attrs, attr::XAUTH_MESSAGE) {
            info!(message = %String::from_utf8_lossy(&m.value), "XAuth message from the gateway");
        }
        let mut attrs = Vec::new();
        for a in &ap.attrs {
            match a.kind {
                attr::XAUTH_TYPE => {
                    attrs.push(Attribute::basic(attr::XAUTH_TYPE, a.as_u16().unwrap_or(0)))
                }
                attr::XAUTH_USER_NAME => attrs.push(Attribute::variable(
                    attr::XAUTH_USER_NAME,
                    x.username.as_bytes().to_vec(),
                )),
                attr::XAUTH_USER_PASSWORD | attr::XAUTH_PASSCODE => {
                    attrs.push(Attribute::variable(a.kind, x.password.as_bytes().to_vec()))
                }
                _ => {}
            }
        }
        info!(username = %x.username, "answering the gateway's XAuth request");
        let reply = AttributePayload {
            cfg_type: cfg_type::REPLY,
            identifier: ap.identifier,
            attrs,
        };
        let result = self.answer(h, msg, reply);
        // The password went into the (zeroized-on-drop) message only.
        if let Step::XauthWait { .. } = self.step {
            self.step = Step::XauthWait {
                until: now + super::XAUTH_WAIT,
            };
        }
        result
    }

    fn xauth_status(
        &mut self,
        now: Instant,
        h: &wire::Header,
        msg: &[u8],
        ap: &AttributePayload,
    ) -> Result<(), Error> {
        let ok =
            attributes::find(&ap.attrs, attr::XAUTH_STATUS).and_then(Attribute::as_u16) == Some(1);
        let ack = AttributePayload {
            cfg_type: cfg_type::ACK,
            identifier: ap.identifier,
            attrs: vec![Attribute::basic(attr::XAUTH_STATUS, u16::from(ok))],
        };
        self.answer(h, msg, ack)?;
        let username = self
            .opts
            .xauth
            .as_ref()
            .map(|x| x.username.clone())
            .unwrap_or_default();
        if !ok {
            warn!(%username, "the gateway refused the XAuth login");
            return Err(Error::XauthFailed { username });
        }
        info!(%username, "XAuth login accepted");
        if let Step::XauthWait { .. } = self.step {
            self.after_xauth(now)?;
        }
        Ok(())
    }

    /// Pulls the configuration: Mode Config REQUEST.
    pub(super) fn send_mode_config_request(&mut self, now: Instant) -> Result<(), Error> {
        let msg_id = self.random_msg_id()?;
        let mut id = [0u8; 2];
        self.provider.fill_random(&mut id)?;
        let ap = tx::mode_config_request(
            u16::from_be_bytes(id),
            self.cfg.request_ipv4,
            self.cfg.request_ipv6,
        );
        let out = self.protected_message(
            wire::exchange::TRANSACTION,
            msg_id,
            &[],
            vec![(payload::ATTRIBUTE, ap.emit())],
        )?;
        self.step = Step::ModeConfig;
        self.start_request(now, out, Stage::ModeConfig, msg_id);
        Ok(())
    }

    /// Phase 1, XAuth and Mode Config are done: the IKE SA is up; Quick Mode follows.
    pub(super) fn config_done(&mut self, now: Instant) -> Result<(), Error> {
        let algorithms = self
            .isakmp
            .as_ref()
            .map(|i| i.negotiated)
            .ok_or_else(|| super::internal("no ISAKMP SA"))?;
        if let Some(c) = &self.config {
            info!(?c, "configuration from the gateway");
        }
        self.events.push_back(Event::IkeSaUp {
            algorithms,
            remote_id: self.remote_id.clone(),
        });
        self.start_quick(now, None)
    }
}
