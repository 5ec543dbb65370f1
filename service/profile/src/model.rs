//! The validated profile model: what the service works with after a profile file was read.
//!
//! Every field here has already been checked; defaults from the design are filled in, so the
//! service never re-validates or guesses.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use strait_ike::proposal::{EspProposal, IkeProposal};

/// Default IKE port (RFC 7296 §2).
pub const IKE_PORT: u16 = 500;

/// One connection profile (one TOML file; its file stem is its id).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Display name.
    pub name: String,
    /// Where the gateway is.
    pub gateway: Gateway,
    /// IKE version and, for IKEv1, the phase 1 mode.
    pub version: IkeVersion,
    /// How we authenticate and what the gateway must prove.
    pub auth: Auth,
    /// Algorithms and lifetimes.
    pub crypto: Crypto,
    /// What goes through the tunnel and how it is kept alive.
    pub network: Network,
}

/// The gateway's address as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Host name or IP address literal (without brackets).
    pub host: String,
    /// UDP port for IKE (500 unless the profile says otherwise).
    pub port: u16,
}

impl Gateway {
    /// The address if `host` is an IP literal (no DNS lookup needed).
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl std::fmt::Display for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.ip(), self.port) {
            (_, IKE_PORT) => f.write_str(&self.host),
            (Some(IpAddr::V6(_)), port) => write!(f, "[{}]:{port}", self.host),
            (_, port) => write!(f, "{}:{port}", self.host),
        }
    }
}

/// IKE version and phase 1 mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeVersion {
    /// IKEv2 (RFC 7296).
    Ikev2,
    /// IKEv1 Main Mode (6 messages).
    Ikev1Main,
    /// IKEv1 Aggressive Mode (3 messages; with a PSK the user is warned).
    Ikev1Aggressive,
}

/// Authentication methods a profile can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Pre-shared key (keychain account `<id>/psk`).
    Psk,
    /// Certificate; the private key is in the keychain (`<id>/key`).
    Cert,
    /// EAP-MSCHAPv2 with `username` and a password (`<id>/password`).
    EapMschapv2,
    /// IKEv1 XAuth after a PSK phase 1.
    XauthPsk,
    /// IKEv1 XAuth after a certificate phase 1.
    XauthCert,
}

impl AuthMethod {
    /// Whether this method needs a username and password.
    pub fn needs_password(self) -> bool {
        matches!(
            self,
            AuthMethod::EapMschapv2 | AuthMethod::XauthPsk | AuthMethod::XauthCert
        )
    }
    /// Whether this method uses our own certificate.
    pub fn needs_certificate(self) -> bool {
        matches!(self, AuthMethod::Cert | AuthMethod::XauthCert)
    }
    /// Whether this method uses a pre-shared key.
    pub fn needs_psk(self) -> bool {
        matches!(self, AuthMethod::Psk | AuthMethod::XauthPsk)
    }
    /// The profile spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Psk => "psk",
            AuthMethod::Cert => "cert",
            AuthMethod::EapMschapv2 => "eap-mschapv2",
            AuthMethod::XauthPsk => "xauth-psk",
            AuthMethod::XauthCert => "xauth-cert",
        }
    }
}

/// An IKE identity as written in a profile.
///
/// The spelling follows strongSwan's, which IT administrators already use: `keyid:group` for a
/// KEY_ID (IKEv1 group names), an IP literal, `user@domain` for an e-mail (RFC822) identity,
/// a distinguished name when it contains `=` (`CN=alice, O=Acme`), otherwise an FQDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// FQDN.
    Fqdn(String),
    /// RFC822 e-mail address.
    Email(String),
    /// IPv4 or IPv6 address.
    Ip(IpAddr),
    /// Distinguished name, as text (encoded to DER by the IKE layer).
    DistinguishedName(String),
    /// Opaque key identifier (group name).
    KeyId(Vec<u8>),
}

impl Identity {
    /// Parses the profile spelling. Only an empty string is an error.
    pub fn parse(s: &str) -> Result<Identity, &'static str> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an identity cannot be empty");
        }
        if let Some(rest) = s.strip_prefix("keyid:") {
            if rest.is_empty() {
                return Err("'keyid:' needs a group name after the colon");
            }
            return Ok(Identity::KeyId(rest.as_bytes().to_vec()));
        }
        if let Some(rest) = s.strip_prefix("fqdn:") {
            return Ok(Identity::Fqdn(rest.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("email:") {
            return Ok(Identity::Email(rest.to_owned()));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Identity::Ip(ip));
        }
        if s.contains('=') {
            return Ok(Identity::DistinguishedName(s.to_owned()));
        }
        if s.contains('@') {
            return Ok(Identity::Email(s.to_owned()));
        }
        Ok(Identity::Fqdn(s.to_owned()))
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Fqdn(s) | Identity::Email(s) | Identity::DistinguishedName(s) => {
                f.write_str(s)
            }
            Identity::Ip(ip) => write!(f, "{ip}"),
            Identity::KeyId(k) => write!(f, "keyid:{}", String::from_utf8_lossy(k)),
        }
    }
}

/// The `[auth]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The method.
    pub method: AuthMethod,
    /// Our identity; `None` = our address, or our certificate's subject.
    pub local_id: Option<Identity>,
    /// The identity the gateway must prove; defaults to the gateway host name.
    pub remote_id: Identity,
    /// For password methods.
    pub username: Option<String>,
    /// Our certificate chain (absolute path, resolved against the profile's directory).
    pub certificate: Option<PathBuf>,
    /// Trust anchors for the gateway's certificate (absolute paths).
    pub ca: Vec<PathBuf>,
}

/// The `[crypto]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Crypto {
    /// IKE proposals in order of preference.
    pub ike: Vec<IkeProposal>,
    /// ESP proposals; a DH group in one means PFS for child SAs.
    pub esp: Vec<EspProposal>,
    /// The strings as written (empty when the defaults are used), for display and export.
    pub ike_text: Vec<String>,
    /// The ESP strings as written.
    pub esp_text: Vec<String>,
    /// Whether legacy algorithms were allowed (and a warning is due).
    pub allow_weak: bool,
    /// IKE SA lifetime.
    pub ike_lifetime: Duration,
    /// Child SA lifetime.
    pub esp_lifetime: Duration,
}

/// ESP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tunnel mode: the virtual IP inside, whole packets encapsulated.
    Tunnel,
    /// Transport mode: host to host.
    Transport,
}

/// Where DNS queries go while connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dns {
    /// Use the servers (and domains) the gateway pushes.
    Gateway,
    /// Leave the system's DNS alone.
    None,
    /// Use these servers.
    Servers(Vec<IpAddr>),
}

/// The `[network]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Tunnel or transport.
    pub mode: Mode,
    /// What goes through the tunnel; empty = what the gateway pushes, else everything.
    pub routes: Vec<IpNet>,
    /// DNS handling.
    pub dns: Dns,
    /// Liveness check interval; `None` when disabled ("0s").
    pub dpd: Option<Duration>,
    /// NAT keepalive interval; `None` when disabled.
    pub nat_keepalive: Option<Duration>,
    /// Block traffic outside the tunnel while connected or connecting.
    pub kill_switch: bool,
}
