//! IKE_SA_INIT (§1.2, §2.6 cookies, §1.3 INVALID_KE_PAYLOAD, §2.23 NAT detection) and IKE_AUTH
//! with a pre-shared key, a configuration request and the first child SA (§1.2, §2.15, §2.19).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use strait_crypto::{DhGroup, KeyExchange};
use tracing::{debug, info, warn};

use super::{error_notify, notifies, notify, Child, IkeSa, Pending, Phase, NONCE_LEN};
use crate::proposal::dh_name;
use crate::v2::auth::{auth_matches, psk_auth, signed_octets};
use crate::v2::config::LocalAuth;
use crate::v2::event::{ChildSaInfo, ConfigReply, Error, Event, Stage};
use crate::v2::keys::IkeKeys;
use crate::v2::proposal_wire::{esp_to_wire, ike_to_wire, select_esp, select_ike};
use crate::v2::sk::SkCrypter;
use crate::v2::ts::narrowed_ok;
use crate::v2::wire::{
    auth_method, cfg_attr, cfg_type, notify_type, Authentication, ConfigAttribute, ConfigValue,
    Configuration, ExchangeType, Header, KeyExchangePayload, Message, Notify, Payload,
    FLAG_INITIATOR,
};

/// How often we follow a COOKIE or INVALID_KE_PAYLOAD answer before giving up; a responder
/// that keeps asking is broken or hostile.
const MAX_INIT_RETRIES: u32 = 3;

/// State while IKE_SA_INIT is outstanding.
pub(super) struct InitState {
    ke: Option<Box<dyn KeyExchange>>,
    group: DhGroup,
    nonce_i: Vec<u8>,
    cookie: Option<Vec<u8>>,
    retries: u32,
}

/// State while IKE_AUTH is outstanding.
pub(super) struct AuthState {
    nonce_i: Vec<u8>,
    nonce_r: Vec<u8>,
    /// Our IKE_SA_INIT request as sent last (what our AUTH signs).
    msg1: Vec<u8>,
    /// The gateway's IKE_SA_INIT response (what its AUTH signs).
    msg2: Vec<u8>,
    child_spi: u32,
}

impl IkeSa {
    pub(super) fn start_init(&mut self, now: Instant) -> Result<(), Error> {
        let group = self
            .cfg
            .ike_proposals
            .first()
            .and_then(|p| p.dh.first().copied())
            .ok_or(Error::NoProposalChosen {
                what: "IKE",
                key: "ike",
                offered: "nothing".into(),
            })?;
        let st = InitState {
            ke: Some(self.new_key_exchange(group)?),
            group,
            nonce_i: self.random_bytes(NONCE_LEN)?,
            cookie: None,
            retries: 0,
        };
        self.send_init(now, st)
    }

    fn send_init(&mut self, now: Instant, st: InitState) -> Result<(), Error> {
        let ke = st
            .ke
            .as_ref()
            .ok_or(strait_crypto::CryptoError::Unsupported("key exchange"))?;
        let mut payloads = Vec::new();
        if let Some(c) = &st.cookie {
            payloads.push(notify(notify_type::COOKIE, c.clone()));
        }
        payloads.push(Payload::Sa(ike_to_wire(&self.cfg.ike_proposals, &[])));
        payloads.push(Payload::Ke(KeyExchangePayload {
            group: st.group.iana_id(),
            data: ke.public_key().to_vec(),
        }));
        payloads.push(Payload::Nonce(st.nonce_i.clone()));
        let source = if self.cfg.force_udp_encap {
            // Like strongSwan's `encap = yes`: a source hash that cannot match makes the
            // gateway see a NAT and both sides switch to UDP encapsulation.
            self.random_bytes(20)?
        } else {
            self.nat_hash(self.spi_ours, 0, self.cfg.local_addr)?
        };
        payloads.push(notify(notify_type::NAT_DETECTION_SOURCE_IP, source));
        let dest = self.nat_hash(self.spi_ours, 0, self.cfg.remote_addr)?;
        payloads.push(notify(notify_type::NAT_DETECTION_DESTINATION_IP, dest));
        let msg = Message {
            header: Header {
                spi_i: self.spi_ours,
                spi_r: 0,
                next_payload: 0,
                minor_version: 0,
                exchange: ExchangeType::IkeSaInit,
                flags: FLAG_INITIATOR,
                message_id: 0,
                length: 0,
            },
            payloads,
        };
        let datagram = msg.emit();
        info!(
            "sending IKE_SA_INIT to {} (KE {}, proposals: {})",
            self.cfg.remote_addr,
            dh_name(st.group),
            self.offered_ike()
        );
        self.phase = Phase::Init(st);
        self.next_id = 1;
        self.track_request(now, 0, datagram, Stage::IkeSaInit, Pending::Init);
        Ok(())
    }

    pub(super) fn offered_ike(&self) -> String {
        let v: Vec<String> = self
            .cfg
            .ike_proposals
            .iter()
            .map(ToString::to_string)
            .collect();
        v.join(", ")
    }

    pub(super) fn offered_esp(&self) -> String {
        let v: Vec<String> = self
            .cfg
            .esp_proposals
            .iter()
            .map(ToString::to_string)
            .collect();
        v.join(", ")
    }

    pub(super) fn handle_init_response(&mut self, now: Instant, header: &Header, data: &[u8]) {
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                // Unauthenticated: a forged or broken packet must not kill the attempt.
                debug!("ignoring a malformed IKE_SA_INIT response: {e}");
                return;
            }
        };
        if let Err(e) = self.init_response(now, header, data, msg) {
            self.fail(now, e);
        }
    }

    fn init_response(
        &mut self,
        now: Instant,
        header: &Header,
        data: &[u8],
        msg: Message,
    ) -> Result<(), Error> {
        let Phase::Init(mut st) = std::mem::replace(&mut self.phase, Phase::Handling) else {
            return Ok(());
        };
        let Some(req) = self.request.take() else {
            self.phase = Phase::Init(st);
            return Ok(());
        };
        let payloads = msg.payloads;
        if let Some(c) = notifies(&payloads).find(|n| n.notify_type == notify_type::COOKIE) {
            if st.retries >= MAX_INIT_RETRIES || c.data.is_empty() || c.data.len() > 64 {
                return Err(protocol(
                    Stage::IkeSaInit,
                    "the gateway keeps asking for cookies",
                ));
            }
            info!("the gateway asked for a cookie; retrying IKE_SA_INIT with it");
            st.cookie = Some(c.data.clone());
            st.retries += 1;
            return self.send_init(now, st);
        }
        if let Some(n) = error_notify(&payloads) {
            if n.notify_type == notify_type::INVALID_KE_PAYLOAD {
                let group = <[u8; 2]>::try_from(n.data.as_slice())
                    .map(u16::from_be_bytes)
                    .unwrap_or(0);
                let offered = DhGroup::from_iana_id(group)
                    .filter(|g| self.cfg.ike_proposals.iter().any(|p| p.dh.contains(g)));
                return match offered {
                    Some(g) if st.retries < MAX_INIT_RETRIES && g != st.group => {
                        info!(
                            "the gateway wants Diffie-Hellman group {}; retrying",
                            dh_name(g)
                        );
                        st.ke = Some(self.new_key_exchange(g)?);
                        st.group = g;
                        st.retries += 1;
                        self.send_init(now, st)
                    }
                    _ => Err(Error::InvalidKe { group, key: "ike" }),
                };
            }
            return Err(self.init_error(n.notify_type));
        }
        // A real answer: from here on the gateway's SPI is fixed.
        if header.spi_r == 0 {
            return Err(protocol(Stage::IkeSaInit, "responder SPI is zero"));
        }
        let sa = payloads.iter().find_map(|p| match p {
            Payload::Sa(s) => Some(s.as_slice()),
            _ => None,
        });
        let ke = payloads.iter().find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        });
        let nonce_r = payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.clone()),
            _ => None,
        });
        let (Some(sa), Some(ke), Some(nonce_r)) = (sa, ke, nonce_r) else {
            return Err(protocol(
                Stage::IkeSaInit,
                "SA, KE or Nonce payload missing",
            ));
        };
        let (algs, _) = select_ike(&self.cfg.ike_proposals, sa, 0)
            .map_err(|e| protocol(Stage::IkeSaInit, &e.to_string()))?;
        if ke.group != algs.dh.iana_id() || algs.dh != st.group {
            return Err(protocol(
                Stage::IkeSaInit,
                "KE payload group differs from the chosen group",
            ));
        }
        let our_ke = st
            .ke
            .take()
            .ok_or(strait_crypto::CryptoError::Unsupported("key exchange"))?;
        let shared = our_ke.complete(&ke.data)?;
        self.spi_theirs = header.spi_r;
        let keys = IkeKeys::derive(
            &*self.provider,
            algs,
            &shared,
            &st.nonce_i,
            &nonce_r,
            self.spi_ours,
            self.spi_theirs,
        )?;
        self.sk_out = Some(SkCrypter::new(
            self.provider.clone(),
            algs.encr,
            algs.integ,
            &keys.sk_ei,
            &keys.sk_ai,
        )?);
        self.sk_in = Some(SkCrypter::new(
            self.provider.clone(),
            algs.encr,
            algs.integ,
            &keys.sk_er,
            &keys.sk_ar,
        )?);
        self.keys = Some(keys);
        info!("IKE_SA_INIT done: {algs}");
        self.detect_nat(&payloads)?;
        let auth = AuthState {
            nonce_i: st.nonce_i,
            nonce_r,
            msg1: req.datagram,
            msg2: data.to_vec(),
            child_spi: self.new_child_spi()?,
        };
        self.send_auth(now, auth)
    }

    fn init_error(&self, code: u16) -> Error {
        match code {
            notify_type::NO_PROPOSAL_CHOSEN => Error::NoProposalChosen {
                what: "IKE",
                key: "ike",
                offered: self.offered_ike(),
            },
            code => Error::Notify {
                stage: Stage::IkeSaInit,
                code,
                name: crate::v2::event::notify_name(code),
            },
        }
    }

    /// §2.23: compares the gateway's NAT_DETECTION hashes with our view of the addresses.
    fn detect_nat(&mut self, payloads: &[Payload]) -> Result<(), Error> {
        let source: Vec<&Notify> = notifies(payloads)
            .filter(|n| n.notify_type == notify_type::NAT_DETECTION_SOURCE_IP)
            .collect();
        let dest: Vec<&Notify> = notifies(payloads)
            .filter(|n| n.notify_type == notify_type::NAT_DETECTION_DESTINATION_IP)
            .collect();
        if source.is_empty() || dest.is_empty() {
            info!("the gateway does not support NAT traversal");
            if self.cfg.force_udp_encap {
                warn!("UDP encapsulation was asked for, but the gateway cannot do it");
            }
            return Ok(());
        }
        let remote = self.nat_hash(self.spi_ours, self.spi_theirs, self.cfg.remote_addr)?;
        let local = self.nat_hash(self.spi_ours, self.spi_theirs, self.cfg.local_addr)?;
        let remote_behind_nat = !source.iter().any(|n| n.data == remote);
        let local_behind_nat = !dest.iter().any(|n| n.data == local);
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

    fn cp_request(&self) -> Option<Payload> {
        if !self.cfg.request_ipv4 && !self.cfg.request_ipv6 {
            return None;
        }
        let mut attributes = Vec::new();
        let mut ask = |attr_type| {
            attributes.push(ConfigAttribute {
                attr_type,
                value: vec![],
            })
        };
        if self.cfg.request_ipv4 {
            ask(cfg_attr::INTERNAL_IP4_ADDRESS);
            ask(cfg_attr::INTERNAL_IP4_NETMASK);
            ask(cfg_attr::INTERNAL_IP4_DNS);
            ask(cfg_attr::INTERNAL_IP4_SUBNET);
        }
        if self.cfg.request_ipv6 {
            ask(cfg_attr::INTERNAL_IP6_ADDRESS);
            ask(cfg_attr::INTERNAL_IP6_DNS);
            ask(cfg_attr::INTERNAL_IP6_SUBNET);
        }
        ask(cfg_attr::INTERNAL_DNS_DOMAIN);
        Some(Payload::Config(Configuration {
            cfg_type: cfg_type::CFG_REQUEST,
            attributes,
        }))
    }

    fn send_auth(&mut self, now: Instant, st: AuthState) -> Result<(), Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(strait_crypto::CryptoError::Unsupported("keys"))?;
        let prf = keys.algs.prf;
        let LocalAuth::Psk(psk) = &self.cfg.auth;
        let octets = signed_octets(
            &*self.provider,
            prf,
            &st.msg1,
            &st.nonce_r,
            &keys.sk_pi,
            &self.cfg.local_id.auth_bytes(),
        )?;
        let auth = psk_auth(&*self.provider, prf, psk, &octets)?;
        let mut payloads = vec![
            Payload::IdI(self.cfg.local_id.clone()),
            // We have no old SAs with this gateway: let it drop any it still keeps for us.
            notify(notify_type::INITIAL_CONTACT, vec![]),
        ];
        if let Some(id) = &self.cfg.remote_id {
            payloads.push(Payload::IdR(id.clone()));
        }
        payloads.push(Payload::Auth(Authentication {
            method: auth_method::SHARED_KEY_MIC,
            data: auth.as_bytes().to_vec(),
        }));
        payloads.extend(self.cp_request());
        payloads.push(Payload::Sa(esp_to_wire(
            &self.cfg.esp_proposals,
            st.child_spi,
            false,
            None,
        )));
        payloads.push(Payload::TsI(self.cfg.ts_local.clone()));
        payloads.push(Payload::TsR(self.cfg.ts_remote.clone()));
        if self.cfg.transport_mode {
            payloads.push(notify(notify_type::USE_TRANSPORT_MODE, vec![]));
        }
        info!(
            "sending IKE_AUTH as `{}` (ESP proposals: {})",
            self.cfg.local_id,
            self.offered_esp()
        );
        self.phase = Phase::Auth(st);
        self.send_request(
            now,
            ExchangeType::IkeAuth,
            &payloads,
            Stage::IkeAuth,
            Pending::Auth,
        )
    }

    pub(super) fn handle_auth_response(
        &mut self,
        now: Instant,
        payloads: Vec<Payload>,
    ) -> Result<(), Error> {
        let Phase::Auth(st) = std::mem::replace(&mut self.phase, Phase::Handling) else {
            return Ok(());
        };
        let auth = payloads.iter().find_map(|p| match p {
            Payload::Auth(a) => Some(a),
            _ => None,
        });
        let id_r = payloads.iter().find_map(|p| match p {
            Payload::IdR(i) => Some(i),
            _ => None,
        });
        let (Some(auth), Some(id_r)) = (auth, id_r) else {
            return Err(match error_notify(&payloads) {
                Some(n) if n.notify_type == notify_type::AUTHENTICATION_FAILED => {
                    Error::AuthenticationFailed {
                        local_id: self.cfg.local_id.to_string(),
                    }
                }
                Some(n) => self.child_error(n.notify_type, Stage::IkeAuth),
                None => protocol(Stage::IkeAuth, "IDr or AUTH payload missing"),
            });
        };
        if let Some(expected) = &self.cfg.remote_id {
            if expected != id_r {
                return Err(Error::PeerIdMismatch {
                    expected: expected.to_string(),
                    got: id_r.to_string(),
                });
            }
        }
        let keys = self
            .keys
            .as_ref()
            .ok_or(strait_crypto::CryptoError::Unsupported("keys"))?;
        let prf = keys.algs.prf;
        let LocalAuth::Psk(psk) = &self.cfg.auth;
        let octets = signed_octets(
            &*self.provider,
            prf,
            &st.msg2,
            &st.nonce_i,
            &keys.sk_pr,
            &id_r.auth_bytes(),
        )?;
        let expected = psk_auth(&*self.provider, prf, psk, &octets)?;
        if auth.method != auth_method::SHARED_KEY_MIC || !auth_matches(&expected, &auth.data) {
            return Err(Error::PeerAuthenticationFailed {
                remote_id: id_r.to_string(),
            });
        }
        let algorithms = keys.algs;
        info!("IKE SA established with `{id_r}` ({algorithms})");
        self.phase = Phase::Established;
        self.events.push_back(Event::IkeSaUp {
            algorithms,
            remote_id: id_r.to_string(),
        });
        self.ike_rekey_at = Some(self.rekey_time(now, self.cfg.ike_lifetime));
        self.ike_expire_at = None;

        // The first child SA. Without it a VPN client has nothing to offer, so any failure
        // closes the IKE SA with the reason.
        if let Some(n) = error_notify(&payloads) {
            return Err(self.child_error(n.notify_type, Stage::IkeAuth));
        }
        let info = self.first_child(now, &st, &payloads)?;
        self.events.push_back(Event::ChildSaUp(Box::new(info)));
        Ok(())
    }

    fn first_child(
        &mut self,
        now: Instant,
        st: &AuthState,
        payloads: &[Payload],
    ) -> Result<ChildSaInfo, Error> {
        let sa = payloads.iter().find_map(|p| match p {
            Payload::Sa(s) => Some(s.as_slice()),
            _ => None,
        });
        let (Some(sa), Some(ts_i), Some(ts_r)) = (sa, find_tsi(payloads), find_tsr(payloads))
        else {
            return Err(protocol(
                Stage::IkeAuth,
                "SA or traffic selector payloads missing",
            ));
        };
        let esp = select_esp(&self.cfg.esp_proposals, sa, false)
            .map_err(|e| protocol(Stage::IkeAuth, &e.to_string()))?;
        if !narrowed_ok(&self.cfg.ts_local, ts_i) || !narrowed_ok(&self.cfg.ts_remote, ts_r) {
            return Err(protocol(
                Stage::IkeAuth,
                "traffic selectors outside what we proposed",
            ));
        }
        let transport =
            notifies(payloads).any(|n| n.notify_type == notify_type::USE_TRANSPORT_MODE);
        if self.cfg.transport_mode && !transport {
            return Err(protocol(
                Stage::IkeAuth,
                "transport mode was asked for but the gateway chose tunnel mode",
            ));
        }
        let config = payloads.iter().find_map(|p| match p {
            Payload::Config(c) if c.cfg_type == cfg_type::CFG_REPLY => Some(config_reply(c)),
            _ => None,
        });
        if self.cfg.request_ipv4 || self.cfg.request_ipv6 {
            let got = config
                .as_ref()
                .is_some_and(|c| !c.ipv4.is_empty() || !c.ipv6.is_empty());
            if !got {
                return Err(Error::InternalAddressFailure);
            }
        }
        let keys = self
            .keys
            .as_ref()
            .ok_or(strait_crypto::CryptoError::Unsupported("keys"))?;
        let ck = keys.child_keys(&*self.provider, &esp, None, &st.nonce_i, &st.nonce_r)?;
        info!(
            "child SA established: {esp}, SPIs {:08x} in / {:08x} out, {} === {}",
            st.child_spi,
            esp.peer_spi,
            join(ts_i),
            join(ts_r)
        );
        self.children.push(Child {
            spi_in: st.child_spi,
            spi_out: esp.peer_spi,
            ts_local: ts_i.to_vec(),
            ts_remote: ts_r.to_vec(),
            rekey_at: Some(self.rekey_time(now, self.cfg.child_lifetime)),
            expire_at: now + self.cfg.child_lifetime.mul_f64(1.1),
            superseded: false,
            collision: None,
        });
        Ok(ChildSaInfo {
            spi_in: st.child_spi,
            spi_out: esp.peer_spi,
            algorithms: esp,
            encr_out: ck.encr_i,
            integ_out: ck.integ_i,
            encr_in: ck.encr_r,
            integ_in: ck.integ_r,
            ts_local: ts_i.to_vec(),
            ts_remote: ts_r.to_vec(),
            transport_mode: transport,
            config,
            replaces: None,
        })
    }

    /// The error for a child SA failure notify.
    pub(super) fn child_error(&self, code: u16, stage: Stage) -> Error {
        match code {
            notify_type::NO_PROPOSAL_CHOSEN => Error::NoProposalChosen {
                what: "ESP",
                key: "esp",
                offered: self.offered_esp(),
            },
            notify_type::TS_UNACCEPTABLE => Error::TsUnacceptable {
                local: join(&self.cfg.ts_local),
                remote: join(&self.cfg.ts_remote),
            },
            notify_type::INTERNAL_ADDRESS_FAILURE => Error::InternalAddressFailure,
            notify_type::FAILED_CP_REQUIRED => Error::FailedCpRequired,
            notify_type::SINGLE_PAIR_REQUIRED => Error::SinglePairRequired,
            notify_type::AUTHENTICATION_FAILED => Error::AuthenticationFailed {
                local_id: self.cfg.local_id.to_string(),
            },
            code => Error::Notify {
                stage,
                code,
                name: crate::v2::event::notify_name(code),
            },
        }
    }
}

pub(super) fn protocol(stage: Stage, detail: &str) -> Error {
    Error::Protocol {
        stage,
        detail: detail.to_string(),
    }
}

pub(super) fn find_tsi(payloads: &[Payload]) -> Option<&[crate::v2::wire::TrafficSelector]> {
    payloads.iter().find_map(|p| match p {
        Payload::TsI(t) => Some(t.as_slice()),
        _ => None,
    })
}

pub(super) fn find_tsr(payloads: &[Payload]) -> Option<&[crate::v2::wire::TrafficSelector]> {
    payloads.iter().find_map(|p| match p {
        Payload::TsR(t) => Some(t.as_slice()),
        _ => None,
    })
}

pub(super) fn join(ts: &[crate::v2::wire::TrafficSelector]) -> String {
    let v: Vec<String> = ts.iter().map(ToString::to_string).collect();
    v.join(", ")
}

/// Reads a CFG_REPLY; attributes that do not decode are skipped (and logged).
fn config_reply(c: &Configuration) -> ConfigReply {
    let mut r = ConfigReply::default();
    for a in &c.attributes {
        let value = match ConfigValue::decode(a.attr_type, &a.value) {
            Ok(v) => v,
            Err(e) => {
                warn!("ignoring configuration attribute {}: {e}", a.attr_type);
                continue;
            }
        };
        match (a.attr_type, value) {
            (cfg_attr::INTERNAL_IP4_ADDRESS, ConfigValue::Ip4(Some(ip))) => r.ipv4.push(ip),
            (cfg_attr::INTERNAL_IP4_NETMASK, ConfigValue::Ip4(Some(m))) => r.ipv4_netmask = Some(m),
            (cfg_attr::INTERNAL_IP4_DNS, ConfigValue::Ip4(Some(ip))) => r.dns.push(IpAddr::V4(ip)),
            (cfg_attr::INTERNAL_IP6_DNS, ConfigValue::Ip6(Some(ip))) => r.dns.push(IpAddr::V6(ip)),
            (cfg_attr::INTERNAL_IP6_ADDRESS, ConfigValue::Ip6Prefix(Some(p))) => r.ipv6.push(p),
            (cfg_attr::INTERNAL_IP4_SUBNET, ConfigValue::Ip4Subnet(Some((addr, mask)))) => {
                let len = u32::from(mask).leading_ones() as u8;
                let net = Ipv4Addr::from(u32::from(addr) & u32::from(mask));
                r.subnets.push((IpAddr::V4(net), len));
            }
            (cfg_attr::INTERNAL_IP6_SUBNET, ConfigValue::Ip6Prefix(Some((a, l)))) => {
                r.subnets.push((IpAddr::V6(a), l))
            }
            (cfg_attr::INTERNAL_DNS_DOMAIN, ConfigValue::Text(t)) => {
                let name = String::from_utf8_lossy(&t)
                    .trim_end_matches('.')
                    .to_string();
                let ok = !name.is_empty()
                    && name.len() <= 253
                    && name
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.');
                if ok {
                    r.dns_domains.push(name);
                } else {
                    warn!("ignoring an invalid DNS domain from the gateway");
                }
            }
            _ => {}
        }
    }
    r
}
