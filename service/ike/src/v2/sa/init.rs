//! IKE_SA_INIT (§1.2, §2.6 cookies, §1.3 INVALID_KE_PAYLOAD, §2.23 NAT detection) and IKE_AUTH
//! with a pre-shared key, a configuration request and the first child SA (§1.2, §2.15, §2.19).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use strait_crypto::{DhGroup, KeyExchange};
use tracing::{debug, info, warn};

use super::{error_notify, notifies, notify, Child, IkeSa, Pending, Phase, NONCE_LEN};
use crate::cert::{classic_scheme, split_digital_signature, validate_chain, Cert, SigHash};
use crate::config::LocalAuth;
use crate::event::{ChildSaInfo, ConfigReply, Error, Event, Stage};
use crate::proposal::dh_name;
use crate::v2::auth::{auth_matches, psk_auth, signed_octets};
use crate::v2::eap::{EapPeer, EapStep};
use crate::v2::keys::IkeKeys;
use crate::v2::proposal_wire::{esp_to_wire, ike_to_wire, select_esp, select_ike};
use crate::v2::sk::SkCrypter;
use crate::v2::ts::narrowed_ok;
use crate::v2::wire::{
    auth_method, cfg_attr, cfg_type, notify_type, Authentication, Certificate, ConfigAttribute,
    ConfigValue, Configuration, ExchangeType, Header, Identification, KeyExchangePayload, Message,
    Notify, Payload, FLAG_INITIATOR,
};
use zeroize::Zeroizing;

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
    /// The gateway's SIGNATURE_HASH_ALGORITHMS (RFC 7427), if it sent them.
    pub(super) peer_hashes: Option<Vec<SigHash>>,
    /// Where IKE_AUTH is in a multi-round (EAP) exchange.
    pub(super) step: AuthStep,
}

/// The rounds of IKE_AUTH.
pub(super) enum AuthStep {
    /// Our first IKE_AUTH request is out.
    First,
    /// EAP is running; the gateway already proved `id_r` with its certificate.
    Eap {
        peer: Box<EapPeer>,
        id_r: Identification,
    },
    /// EAP succeeded; our final AUTH (keyed with the MSK) is out.
    Final {
        msk: Zeroizing<Vec<u8>>,
        id_r: Identification,
    },
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
        if self.cfg.fragmentation {
            payloads.push(notify(notify_type::IKEV2_FRAGMENTATION_SUPPORTED, vec![]));
        }
        if self.uses_certificates() {
            // RFC 7427 §4: the hashes we can sign and verify with.
            let hashes: Vec<u8> = [SigHash::Sha256, SigHash::Sha384, SigHash::Sha512]
                .iter()
                .flat_map(|h| h.iana_id().to_be_bytes())
                .collect();
            payloads.push(notify(notify_type::SIGNATURE_HASH_ALGORITHMS, hashes));
        }
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
        let peer_hashes = notifies(&payloads)
            .find(|n| n.notify_type == notify_type::SIGNATURE_HASH_ALGORITHMS)
            .map(|n| {
                n.data
                    .chunks_exact(2)
                    .filter_map(|c| SigHash::from_iana_id(u16::from_be_bytes([c[0], c[1]])))
                    .collect()
            });
        if self.cfg.fragmentation
            && notifies(&payloads)
                .any(|n| n.notify_type == notify_type::IKEV2_FRAGMENTATION_SUPPORTED)
        {
            info!("the gateway supports IKE fragmentation");
            self.fragmentation = true;
        }
        let auth = AuthState {
            nonce_i: st.nonce_i,
            nonce_r,
            msg1: req.datagram,
            msg2: data.to_vec(),
            child_spi: self.new_child_spi()?,
            peer_hashes,
            step: AuthStep::First,
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
                name: crate::event::notify_name(code),
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

    fn send_auth(&mut self, now: Instant, mut st: AuthState) -> Result<(), Error> {
        let (prf, octets) = self.our_signed_octets(&st)?;
        let mut payloads = vec![
            Payload::IdI(self.cfg.local_id.clone()),
            // We have no old SAs with this gateway: let it drop any it still keeps for us.
            notify(notify_type::INITIAL_CONTACT, vec![]),
        ];
        if let LocalAuth::Certificate { chain, .. } = &self.cfg.auth {
            for c in chain {
                payloads.push(Payload::Cert(Certificate {
                    encoding: CERT_X509,
                    data: c.der().to_vec(),
                }));
            }
        }
        if !self.cfg.trust_anchors.is_empty() {
            // §3.7: name the CAs we trust by the SHA-1 of their public keys, so that the
            // gateway sends its certificate (strongSwan sends it only when asked).
            let hashes: Vec<u8> = self
                .cfg
                .trust_anchors
                .iter()
                .flat_map(|c| c.spki_sha1())
                .collect();
            payloads.push(Payload::CertReq(Certificate {
                encoding: CERT_X509,
                data: hashes,
            }));
        }
        if let Some(id) = &self.cfg.remote_id {
            payloads.push(Payload::IdR(id.clone()));
        }
        match &self.cfg.auth {
            LocalAuth::Psk(psk) => {
                let auth = psk_auth(&*self.provider, prf, psk, &octets)?;
                payloads.push(Payload::Auth(Authentication {
                    method: auth_method::SHARED_KEY_MIC,
                    data: auth.as_bytes().to_vec(),
                }));
            }
            LocalAuth::Certificate {
                key, rsa_padding, ..
            } => {
                let mut rng = ProviderRng::new(&*self.provider);
                let signed =
                    key.sign_auth(st.peer_hashes.as_deref(), *rsa_padding, &octets, &mut rng);
                rng.check()?;
                let (method, data) = signed?;
                payloads.push(Payload::Auth(Authentication { method, data }));
            }
            LocalAuth::Eap {
                identity,
                username,
                password,
            } => {
                // §2.16: no AUTH payload; the gateway answers with its own AUTH and EAP.
                let mut challenge = [0u8; 16];
                self.provider.fill_random(&mut challenge)?;
                let peer = EapPeer::new(
                    identity.clone(),
                    username.clone(),
                    password.clone(),
                    challenge,
                );
                st.step = AuthStep::Eap {
                    peer: Box::new(peer),
                    id_r: Identification {
                        id_type: 0,
                        data: vec![],
                    },
                };
            }
        }
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

    /// What our AUTH covers (§2.15): our first message, the gateway's nonce and
    /// prf(SK_pi, IDi); with the PRF it was computed with.
    fn our_signed_octets(&self, st: &AuthState) -> Result<(crate::proposal::Prf, Vec<u8>), Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(strait_crypto::CryptoError::Unsupported("keys"))?;
        let prf = keys.algs.prf;
        let octets = signed_octets(
            &*self.provider,
            prf,
            &st.msg1,
            &st.nonce_r,
            &keys.sk_pi,
            &self.cfg.local_id.auth_bytes(),
        )?;
        Ok((prf, octets))
    }

    /// Whether this SA authenticates with certificates on either side.
    pub(super) fn uses_certificates(&self) -> bool {
        !matches!(self.cfg.auth, LocalAuth::Psk(_)) || !self.cfg.trust_anchors.is_empty()
    }

    pub(super) fn handle_auth_response(
        &mut self,
        now: Instant,
        payloads: Vec<Payload>,
    ) -> Result<(), Error> {
        let Phase::Auth(mut st) = std::mem::replace(&mut self.phase, Phase::Handling) else {
            return Ok(());
        };
        match std::mem::replace(&mut st.step, AuthStep::First) {
            AuthStep::First => self.first_auth_response(now, st, payloads),
            AuthStep::Eap { peer, id_r } if id_r.data.is_empty() => {
                // The gateway's first answer to an EAP client: its certificate AUTH and EAP.
                if find_auth(&payloads).is_none()
                    && error_notify(&payloads)
                        .is_some_and(|n| n.notify_type == notify_type::AUTHENTICATION_FAILED)
                {
                    return Err(Error::IdentitiesRefused {
                        local_id: self.cfg.local_id.to_string(),
                        remote: self
                            .cfg
                            .remote_id
                            .as_ref()
                            .map(|r| format!(", talking to `{r}`"))
                            .unwrap_or_default(),
                    });
                }
                let id_r = self.verify_gateway(now, &st, &payloads, true)?;
                self.eap_round(now, st, peer, id_r, &payloads)
            }
            AuthStep::Eap { peer, id_r } => self.eap_round(now, st, peer, id_r, &payloads),
            AuthStep::Final { msk, id_r } => {
                let auth = find_auth(&payloads).ok_or_else(|| self.auth_error(&payloads))?;
                let keys = self
                    .keys
                    .as_ref()
                    .ok_or(strait_crypto::CryptoError::Unsupported("keys"))?;
                let prf = keys.algs.prf;
                let octets = signed_octets(
                    &*self.provider,
                    prf,
                    &st.msg2,
                    &st.nonce_i,
                    &keys.sk_pr,
                    &id_r.auth_bytes(),
                )?;
                let expected = psk_auth(&*self.provider, prf, &msk, &octets)?;
                if auth.method != auth_method::SHARED_KEY_MIC
                    || !auth_matches(&expected, &auth.data)
                {
                    return Err(Error::PeerAuthenticationFailed {
                        remote_id: id_r.to_string(),
                    });
                }
                self.established(now, &st, &id_r, &payloads)
            }
        }
    }

    fn first_auth_response(
        &mut self,
        now: Instant,
        st: AuthState,
        payloads: Vec<Payload>,
    ) -> Result<(), Error> {
        let id_r = self.verify_gateway(now, &st, &payloads, false)?;
        self.established(now, &st, &id_r, &payloads)
    }

    /// The error for an IKE_AUTH response without the payloads we need.
    fn auth_error(&self, payloads: &[Payload]) -> Error {
        match error_notify(payloads) {
            Some(n) if n.notify_type == notify_type::AUTHENTICATION_FAILED => {
                match &self.cfg.auth {
                    LocalAuth::Eap { username, .. } => Error::EapFailed {
                        username: username.clone(),
                        detail: "AUTHENTICATION_FAILED".into(),
                    },
                    _ => Error::AuthenticationFailed {
                        local_id: self.cfg.local_id.to_string(),
                    },
                }
            }
            Some(n) => self.child_error(n.notify_type, Stage::IkeAuth),
            None => protocol(Stage::IkeAuth, "IDr or AUTH payload missing"),
        }
    }

    /// Checks the gateway's identity and AUTH payload in an IKE_AUTH response; returns the
    /// identity it proved. `need_signature`: it must use a certificate (we use EAP).
    fn verify_gateway(
        &self,
        now: Instant,
        st: &AuthState,
        payloads: &[Payload],
        need_signature: bool,
    ) -> Result<Identification, Error> {
        let (Some(auth), Some(id_r)) = (find_auth(payloads), find_idr(payloads)) else {
            return Err(self.auth_error(payloads));
        };
        let keys = self
            .keys
            .as_ref()
            .ok_or(strait_crypto::CryptoError::Unsupported("keys"))?;
        let prf = keys.algs.prf;
        let octets = signed_octets(
            &*self.provider,
            prf,
            &st.msg2,
            &st.nonce_i,
            &keys.sk_pr,
            &id_r.auth_bytes(),
        )?;
        if auth.method == auth_method::SHARED_KEY_MIC {
            let LocalAuth::Psk(psk) = &self.cfg.auth else {
                return Err(Error::UnsupportedPeerAuth {
                    detail: "it used a pre-shared key, but the profile has none".into(),
                });
            };
            if need_signature {
                return Err(protocol(Stage::IkeAuth, "pre-shared key AUTH with EAP"));
            }
            if let Some(expected) = &self.cfg.remote_id {
                if expected != id_r {
                    return Err(Error::PeerIdMismatch {
                        expected: expected.to_string(),
                        got: id_r.to_string(),
                    });
                }
            }
            let expected = psk_auth(&*self.provider, prf, psk, &octets)?;
            if !auth_matches(&expected, &auth.data) {
                return Err(Error::PeerAuthenticationFailed {
                    remote_id: id_r.to_string(),
                });
            }
            return Ok(id_r.clone());
        }
        self.verify_gateway_certificate(now, payloads, id_r, auth, &octets)?;
        Ok(id_r.clone())
    }

    /// Validates the gateway's certificate chain and its signature AUTH.
    fn verify_gateway_certificate(
        &self,
        now: Instant,
        payloads: &[Payload],
        id_r: &Identification,
        auth: &Authentication,
        octets: &[u8],
    ) -> Result<(), Error> {
        let certs: Vec<Cert> = payloads
            .iter()
            .filter_map(|p| match p {
                Payload::Cert(c) if c.encoding == CERT_X509 => Some(c),
                _ => None,
            })
            .take(MAX_PEER_CERTS)
            .map(|c| Cert::from_der(&c.data))
            .collect::<Result<_, _>>()
            .map_err(|e| protocol(Stage::IkeAuth, &format!("gateway certificate: {e}")))?;
        let Some((leaf, intermediates)) = certs.split_first() else {
            return Err(Error::UntrustedCertificate {
                subject: id_r.to_string(),
                reason: "the gateway sent no certificate".into(),
            });
        };
        let wall = self
            .cfg
            .wall_clock
            .map(|w| w + now.saturating_duration_since(self.started));
        let Some(wall) = wall else {
            return Err(Error::UntrustedCertificate {
                subject: leaf.subject(),
                reason: "no wall-clock time was given to check its validity period".into(),
            });
        };
        let key = validate_chain(leaf, intermediates, &self.cfg.trust_anchors, wall)?;
        for claimed in std::iter::once(id_r).chain(self.cfg.remote_id.as_ref()) {
            if !leaf.matches_identity(claimed) {
                return Err(Error::IdentityMismatch {
                    claimed: claimed.to_string(),
                    certificate: leaf.names(),
                });
            }
        }
        let verified = match auth.method {
            auth_method::DIGITAL_SIGNATURE => split_digital_signature(&auth.data)
                .map_err(|e| Error::UnsupportedPeerAuth { detail: e })
                .map(|(scheme, sig)| key.verify(scheme, octets, sig))?,
            m => match classic_scheme(m) {
                Some(scheme) => key.verify(scheme, octets, &auth.data),
                None => {
                    return Err(Error::UnsupportedPeerAuth {
                        detail: format!("AUTH method {m}"),
                    })
                }
            },
        };
        if !verified {
            return Err(Error::PeerAuthenticationFailed {
                remote_id: id_r.to_string(),
            });
        }
        info!("the gateway's certificate {} is valid", leaf.names());
        Ok(())
    }

    /// One EAP round: feeds the gateway's EAP packet to the peer and answers.
    fn eap_round(
        &mut self,
        now: Instant,
        mut st: AuthState,
        mut peer: Box<EapPeer>,
        id_r: Identification,
        payloads: &[Payload],
    ) -> Result<(), Error> {
        let Some(eap) = payloads.iter().find_map(|p| match p {
            Payload::Eap(e) => Some(e),
            _ => None,
        }) else {
            return Err(match error_notify(payloads) {
                Some(_) => self.auth_error(payloads),
                None => protocol(
                    Stage::IkeAuth,
                    "the gateway did not start EAP; it may expect a certificate or pre-shared \
                     key instead of a password",
                ),
            });
        };
        let reply = match peer.handle(eap)? {
            EapStep::Reply(r) => {
                st.step = AuthStep::Eap { peer, id_r };
                vec![Payload::Eap(r)]
            }
            EapStep::Success(msk) => {
                let (prf, octets) = self.our_signed_octets(&st)?;
                let auth = psk_auth(&*self.provider, prf, &msk, &octets)?;
                info!("EAP succeeded; sending the final AUTH");
                st.step = AuthStep::Final { msk, id_r };
                vec![Payload::Auth(Authentication {
                    method: auth_method::SHARED_KEY_MIC,
                    data: auth.as_bytes().to_vec(),
                })]
            }
        };
        self.phase = Phase::Auth(st);
        self.send_request(
            now,
            ExchangeType::IkeAuth,
            &reply,
            Stage::IkeAuth,
            Pending::Auth,
        )
    }

    /// The IKE SA is authenticated: reports it and sets up the first child SA.
    fn established(
        &mut self,
        now: Instant,
        st: &AuthState,
        id_r: &Identification,
        payloads: &[Payload],
    ) -> Result<(), Error> {
        let keys = self
            .keys
            .as_ref()
            .ok_or(strait_crypto::CryptoError::Unsupported("keys"))?;
        let algorithms = keys.algs;
        info!("IKE SA established with `{id_r}` ({algorithms})");
        self.phase = Phase::Established;
        self.events.push_back(Event::IkeSaUp {
            algorithms,
            remote_id: id_r.to_string(),
        });
        self.ike_rekey_at = Some(self.rekey_time(now, self.cfg.ike_lifetime));
        self.ike_expire_at = Some(now + self.cfg.ike_lifetime.mul_f64(1.1));

        // The first child SA. Without it a VPN client has nothing to offer, so any failure
        // closes the IKE SA with the reason.
        if let Some(n) = error_notify(payloads) {
            return Err(self.child_error(n.notify_type, Stage::IkeAuth));
        }
        let info = self.first_child(now, st, payloads)?;
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
            peer_initiated: false,
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
                name: crate::event::notify_name(code),
            },
        }
    }
}

/// Certificate encoding "X.509 Certificate - Signature" (§3.6).
const CERT_X509: u8 = 4;
/// The most CERT payloads we look at (end entity and intermediates).
const MAX_PEER_CERTS: usize = 8;

fn find_auth(payloads: &[Payload]) -> Option<&Authentication> {
    payloads.iter().find_map(|p| match p {
        Payload::Auth(a) => Some(a),
        _ => None,
    })
}

fn find_idr(payloads: &[Payload]) -> Option<&Identification> {
    payloads.iter().find_map(|p| match p {
        Payload::IdR(i) => Some(i),
        _ => None,
    })
}

/// `rand_core` randomness from the provider. `fill_bytes` cannot fail, so a provider failure is
/// remembered and reported by [`ProviderRng::check`] after use (the output is then discarded).
struct ProviderRng<'a> {
    provider: &'a dyn strait_crypto::CryptoProvider,
    failed: bool,
}

impl<'a> ProviderRng<'a> {
    fn new(provider: &'a dyn strait_crypto::CryptoProvider) -> Self {
        ProviderRng {
            provider,
            failed: false,
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.failed {
            return Err(Error::Crypto(strait_crypto::CryptoError::Rng));
        }
        Ok(())
    }
}

impl rand_core::RngCore for ProviderRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if self.provider.fill_random(dest).is_err() {
            self.failed = true;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        if self.failed {
            return Err(rand_core::Error::from(
                std::num::NonZeroU32::new(rand_core::Error::CUSTOM_START)
                    .unwrap_or(std::num::NonZeroU32::MIN),
            ));
        }
        Ok(())
    }
}

impl rand_core::CryptoRng for ProviderRng<'_> {}

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
