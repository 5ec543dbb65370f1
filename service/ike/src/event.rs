//! What an IKE SA reports to the service: events, child SA details, and typed failures.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use strait_crypto::SecretBytes;

use crate::v2::proposal_wire::{NegotiatedEsp, NegotiatedIke};
use crate::v2::wire::{notify_type, TrafficSelector};

/// Something the service must act on.
#[derive(Debug)]
pub enum Event {
    /// NAT detection finished; from now on IKE goes over UDP 4500 with the non-ESP marker and
    /// ESP is UDP-encapsulated if either flag (or forced encapsulation) is set.
    NatDetected {
        /// We are behind a NAT: send keepalives.
        local_behind_nat: bool,
        /// The gateway is behind a NAT.
        remote_behind_nat: bool,
    },
    /// The IKE SA is authenticated.
    IkeSaUp {
        /// The negotiated algorithms.
        algorithms: NegotiatedIke,
        /// The identity the gateway proved.
        remote_id: String,
    },
    /// A child SA is ready: install it. For a rekey, `replaces` names the inbound SPI of the
    /// old SA, which stays valid for inbound packets until [`Event::ChildSaDeleted`].
    ChildSaUp(Box<ChildSaInfo>),
    /// A child SA is gone: remove its SAs.
    ChildSaDeleted {
        /// Our inbound SPI.
        spi_in: u32,
        /// Our outbound SPI.
        spi_out: u32,
    },
    /// The IKE SA was replaced by a new one (the children live on).
    IkeSaRekeyed {
        /// The new SA's algorithms.
        algorithms: NegotiatedIke,
    },
    /// The IKE SA is gone; `error` says why unless we closed it on purpose.
    Closed {
        /// Why, if it was not asked for.
        error: Option<Error>,
    },
}

/// A datagram for the service to send to the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The IKE message.
    pub data: Vec<u8>,
    /// Send from/to UDP 4500 with the four-byte non-ESP marker in front (RFC 3948) instead of
    /// plain UDP 500.
    pub udp_encap: bool,
}

/// Keys and parameters of one child SA, in our directions.
pub struct ChildSaInfo {
    /// SPI of our inbound SA (chosen by us).
    pub spi_in: u32,
    /// SPI of our outbound SA (chosen by the gateway).
    pub spi_out: u32,
    /// Algorithms.
    pub algorithms: NegotiatedEsp,
    /// Encryption key (with salt for AEAD) for packets we send.
    pub encr_out: SecretBytes,
    /// Integrity key for packets we send (empty for AEAD).
    pub integ_out: SecretBytes,
    /// Encryption key for packets we receive.
    pub encr_in: SecretBytes,
    /// Integrity key for packets we receive.
    pub integ_in: SecretBytes,
    /// Our side's selectors as narrowed by the gateway.
    pub ts_local: Vec<TrafficSelector>,
    /// The gateway's side's selectors: what is reachable through the tunnel.
    pub ts_remote: Vec<TrafficSelector>,
    /// Transport mode instead of tunnel mode.
    pub transport_mode: bool,
    /// The configuration the gateway pushed (first child SA only).
    pub config: Option<ConfigReply>,
    /// Inbound SPI of the child SA this one replaces (rekey).
    pub replaces: Option<u32>,
    /// The gateway started this rekey, so it may install its side of the new SA only once it
    /// has processed our answer: send on the new outbound SA only after the first packet on
    /// the new inbound SA arrives or the old child SA is deleted, or the first packets are lost.
    pub peer_initiated: bool,
}

impl std::fmt::Debug for ChildSaInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSaInfo")
            .field("spi_in", &format_args!("{:08x}", self.spi_in))
            .field("spi_out", &format_args!("{:08x}", self.spi_out))
            .field("algorithms", &self.algorithms)
            .field("ts_local", &self.ts_local)
            .field("ts_remote", &self.ts_remote)
            .field("transport_mode", &self.transport_mode)
            .field("config", &self.config)
            .field("replaces", &self.replaces)
            .field("peer_initiated", &self.peer_initiated)
            .finish_non_exhaustive()
    }
}

/// What the gateway's CP(CFG_REPLY) assigned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigReply {
    /// Virtual IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// INTERNAL_IP4_NETMASK, if sent.
    pub ipv4_netmask: Option<Ipv4Addr>,
    /// Virtual IPv6 addresses with prefix lengths.
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// DNS servers (IPv4 and IPv6).
    pub dns: Vec<IpAddr>,
    /// Protected subnets (INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET) as prefixes.
    pub subnets: Vec<(IpAddr, u8)>,
    /// DNS domains for split DNS (INTERNAL_DNS_DOMAIN, RFC 8598).
    pub dns_domains: Vec<String>,
}

/// Which exchange a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// IKE_SA_INIT.
    IkeSaInit,
    /// IKE_AUTH.
    IkeAuth,
    /// CREATE_CHILD_SA rekeying a child SA.
    ChildRekey,
    /// CREATE_CHILD_SA rekeying the IKE SA.
    IkeRekey,
    /// INFORMATIONAL (liveness check or delete).
    Informational,
    /// IKEv1 phase 1 in Main Mode.
    MainMode,
    /// IKEv1 phase 1 in Aggressive Mode.
    AggressiveMode,
    /// IKEv1 XAuth login (transaction exchange).
    Xauth,
    /// IKEv1 Mode Config (transaction exchange).
    ModeConfig,
    /// IKEv1 Quick Mode (phase 2).
    QuickMode,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::IkeSaInit => "IKE_SA_INIT",
            Stage::IkeAuth => "IKE_AUTH",
            Stage::ChildRekey => "CREATE_CHILD_SA (child SA rekey)",
            Stage::IkeRekey => "CREATE_CHILD_SA (IKE SA rekey)",
            Stage::Informational => "INFORMATIONAL",
            Stage::MainMode => "IKEv1 Main Mode",
            Stage::AggressiveMode => "IKEv1 Aggressive Mode",
            Stage::Xauth => "IKEv1 XAuth",
            Stage::ModeConfig => "IKEv1 Mode Config",
            Stage::QuickMode => "IKEv1 Quick Mode",
        })
    }
}

/// Why an IKE SA failed. Each variant carries what the service needs to say what happened and
/// what to do; the wording here is already meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The gateway never answered.
    #[error(
        "no answer from the gateway to {stage} after {tries} tries over UDP port {port}; check \
         the gateway address, that it runs IKEv2, and that no firewall blocks UDP 500 and 4500"
    )]
    Timeout {
        /// The exchange.
        stage: Stage,
        /// Sends in total.
        tries: u32,
        /// 500 or 4500.
        port: u16,
    },
    /// The gateway accepted none of our proposals.
    #[error(
        "the gateway rejected our {what} proposals (NO_PROPOSAL_CHOSEN); we offered {offered}; \
         ask the gateway's administrator for its proposal and add it to [crypto] {key} in the \
         profile"
    )]
    NoProposalChosen {
        /// "IKE" or "ESP".
        what: &'static str,
        /// The profile key ("ike" or "esp").
        key: &'static str,
        /// What we offered, readable.
        offered: String,
    },
    /// The gateway asked for a DH group we did not offer, or kept asking.
    #[error(
        "the gateway wants Diffie-Hellman group {group} (INVALID_KE_PAYLOAD), which our \
         proposals do not include; add it to [crypto] {key} in the profile"
    )]
    InvalidKe {
        /// The group number the gateway named.
        group: u16,
        /// The profile key.
        key: &'static str,
    },
    /// The gateway did not accept our credentials.
    #[error(
        "the gateway rejected our authentication as `{local_id}` (AUTHENTICATION_FAILED); check \
         the pre-shared key or credentials and the local_id in the profile"
    )]
    AuthenticationFailed {
        /// The identity we used.
        local_id: String,
    },
    /// The gateway's own authentication did not verify.
    #[error(
        "the gateway `{remote_id}` could not prove its identity (its AUTH payload did not \
         verify); the pre-shared key differs, or someone is impersonating the gateway"
    )]
    PeerAuthenticationFailed {
        /// The identity the gateway claimed.
        remote_id: String,
    },
    /// The gateway proved a different identity from the one the profile requires.
    #[error(
        "the gateway identified as `{got}`, but the profile expects `{expected}`; fix \
         remote_id in the profile if the gateway is right"
    )]
    PeerIdMismatch {
        /// Configured remote_id.
        expected: String,
        /// What the gateway sent.
        got: String,
    },
    /// The gateway refused our traffic selectors.
    #[error(
        "the gateway refused the networks we asked for (TS_UNACCEPTABLE): ours {local}, \
         remote {remote}; set [network] routes to what the gateway allows"
    )]
    TsUnacceptable {
        /// Our selectors.
        local: String,
        /// Remote selectors.
        remote: String,
    },
    /// No virtual address available.
    #[error(
        "the gateway could not give us a virtual IP address (INTERNAL_ADDRESS_FAILURE); its \
         address pool may be exhausted"
    )]
    InternalAddressFailure,
    /// The gateway requires a configuration request.
    #[error("the gateway requires a virtual IP request (FAILED_CP_REQUIRED)")]
    FailedCpRequired,
    /// The gateway wants exactly one selector pair.
    #[error(
        "the gateway accepts only one network pair (SINGLE_PAIR_REQUIRED); list a single \
         route in the profile"
    )]
    SinglePairRequired,
    /// The gateway sent an error notify not covered above.
    #[error("the gateway reported {name} ({code}) during {stage}")]
    Notify {
        /// The exchange.
        stage: Stage,
        /// The notify type.
        code: u16,
        /// Its name.
        name: &'static str,
    },
    /// The gateway broke the protocol.
    #[error("the gateway sent an invalid {stage} message: {detail}")]
    Protocol {
        /// The exchange.
        stage: Stage,
        /// What was wrong.
        detail: String,
    },
    /// The gateway stopped answering liveness checks.
    #[error(
        "the gateway stopped answering (dead peer detection); the network or the gateway is down"
    )]
    DeadPeer,
    /// The gateway deleted the IKE SA.
    #[error("the gateway closed the connection")]
    PeerDeleted,
    /// The SA outlived its lifetime without a successful rekey.
    #[error("the {0} SA expired because rekeying failed")]
    Expired(&'static str),
    /// The gateway's certificate (or one in its chain) is not valid yet.
    #[error(
        "the gateway's certificate `{subject}` is not valid until {not_before} — check this \
         computer's clock (date and time zone)"
    )]
    CertificateNotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its notBefore time (UTC).
        not_before: String,
    },
    /// The gateway's certificate (or one in its chain) has expired.
    #[error(
        "the gateway's certificate `{subject}` expired on {not_after}; if this computer's clock \
         is right, the gateway's administrator must renew it"
    )]
    CertificateExpired {
        /// The certificate's subject.
        subject: String,
        /// Its notAfter time (UTC).
        not_after: String,
    },
    /// The gateway's certificate does not chain to a trusted CA.
    #[error(
        "the gateway's certificate `{subject}` is not trusted: {reason}; add the gateway's CA \
         certificate to `ca` in the profile's [auth] section"
    )]
    UntrustedCertificate {
        /// The certificate's subject.
        subject: String,
        /// Why, in plain words.
        reason: String,
    },
    /// The gateway's certificate does not name the identity the gateway claims or the profile
    /// requires.
    #[error(
        "the gateway claims to be `{claimed}`, but its certificate is for {certificate}; fix \
         remote_id in the profile if the certificate is right"
    )]
    IdentityMismatch {
        /// The identity claimed (IDr) or required (remote_id).
        claimed: String,
        /// The names the certificate holds (subject and alternative names).
        certificate: String,
    },
    /// The gateway refused our first IKE_AUTH request of an EAP login, before any password
    /// was checked: it has no configuration for the identities we named.
    #[error(
        "the gateway refused to start the login (AUTHENTICATION_FAILED) before checking the \
         password: it is not set up for us as `{local_id}`{remote}; check local_id and remote_id \
         in the profile"
    )]
    IdentitiesRefused {
        /// Our identity (IDi).
        local_id: String,
        /// ", talking to `<remote_id>`" when we named the gateway (IDr), else empty.
        remote: String,
    },
    /// The gateway authenticated with a method we cannot check.
    #[error(
        "the gateway authenticated in a way this profile cannot check ({detail}); check the \
         authentication method in the profile"
    )]
    UnsupportedPeerAuth {
        /// What it did.
        detail: String,
    },
    /// The EAP login failed.
    #[error(
        "the gateway refused the login for user `{username}`: wrong username or password \
         ({detail})"
    )]
    EapFailed {
        /// The user name sent.
        username: String,
        /// What the gateway said.
        detail: String,
    },
    /// Our own credential (certificate or private key) is unusable.
    #[error("our {what} cannot be used: {detail}")]
    BadCredential {
        /// "certificate" or "private key".
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The cryptography provider failed.
    #[error("cryptography failure: {0}")]
    Crypto(#[from] strait_crypto::CryptoError),
    /// IKEv1: the gateway never answered.
    #[error(
        "no answer from the gateway to {stage} after {tries} tries over UDP port {port}; check \
         the gateway address, that it runs IKEv1 (and accepts {stage}), and that no firewall \
         blocks UDP 500 and 4500"
    )]
    V1Timeout {
        /// The exchange.
        stage: Stage,
        /// Sends in total.
        tries: u32,
        /// 500 or 4500.
        port: u16,
    },
    /// IKEv1: phase 1 succeeded, but the gateway never answered the first Quick Mode.
    #[error(
        "the gateway accepted our login but never answered the tunnel set-up (IKEv1 Quick Mode) \
         after {tries} tries; it could not install the tunnel or does not accept the networks \
         or ESP proposals we asked for — the gateway's log says which"
    )]
    QuickModeUnanswered {
        /// Sends in total.
        tries: u32,
    },
    /// IKEv1: the pre-shared (group) key differs from the gateway's.
    #[error(
        "the pre-shared key (group secret) differs from the gateway's: {detail}; check the PSK \
         (and the group name) in the profile"
    )]
    V1PskMismatch {
        /// How it showed ("the gateway's HASH did not verify", ...).
        detail: String,
    },
    /// IKEv1: the XAuth login was refused.
    #[error(
        "the gateway refused the XAuth login for user `{username}`: wrong username or password"
    )]
    XauthFailed {
        /// The user name sent.
        username: String,
    },
    /// IKEv1: the gateway asks for an XAuth login, but the profile has no credentials.
    #[error(
        "the gateway asks for an XAuth username and password, but the profile has none; use an \
         xauth method (xauth-psk or xauth-cert) with a username in the profile"
    )]
    XauthNotConfigured,
    /// IKEv1 cannot do what the profile asks.
    #[error("{0}")]
    V1Unsupported(String),
}

/// A readable name for a notify type.
pub fn notify_name(code: u16) -> &'static str {
    use notify_type::*;
    match code {
        UNSUPPORTED_CRITICAL_PAYLOAD => "UNSUPPORTED_CRITICAL_PAYLOAD",
        INVALID_IKE_SPI => "INVALID_IKE_SPI",
        INVALID_MAJOR_VERSION => "INVALID_MAJOR_VERSION",
        INVALID_SYNTAX => "INVALID_SYNTAX",
        INVALID_MESSAGE_ID => "INVALID_MESSAGE_ID",
        INVALID_SPI => "INVALID_SPI",
        NO_PROPOSAL_CHOSEN => "NO_PROPOSAL_CHOSEN",
        INVALID_KE_PAYLOAD => "INVALID_KE_PAYLOAD",
        AUTHENTICATION_FAILED => "AUTHENTICATION_FAILED",
        SINGLE_PAIR_REQUIRED => "SINGLE_PAIR_REQUIRED",
        NO_ADDITIONAL_SAS => "NO_ADDITIONAL_SAS",
        INTERNAL_ADDRESS_FAILURE => "INTERNAL_ADDRESS_FAILURE",
        FAILED_CP_REQUIRED => "FAILED_CP_REQUIRED",
        TS_UNACCEPTABLE => "TS_UNACCEPTABLE",
        INVALID_SELECTORS => "INVALID_SELECTORS",
        TEMPORARY_FAILURE => "TEMPORARY_FAILURE",
        CHILD_SA_NOT_FOUND => "CHILD_SA_NOT_FOUND",
        _ => "an unknown error",
    }
}
