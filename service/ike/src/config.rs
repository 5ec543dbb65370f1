//! What the service tells an IKE SA before it starts: identities, credentials, proposals,
//! selectors, lifetimes and timers.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use strait_crypto::SecretBytes;
use zeroize::Zeroizing;

use super::cert::{Cert, PrivateKey, RsaPadding};

use crate::proposal::{EspProposal, IkeProposal};
use crate::v2::wire::{id_type, Identification, TrafficSelector};

/// How we prove who we are.
pub enum LocalAuth {
    /// A pre-shared key (RFC 7296 §2.15); the gateway proves itself with the same key.
    Psk(SecretBytes),
    /// EAP-MSCHAPv2 with a user name and password (§2.16); the gateway proves itself with a
    /// certificate that must validate against [`Config::trust_anchors`].
    Eap {
        /// What we answer to EAP-Identity (usually the user name).
        identity: Vec<u8>,
        /// The MSCHAPv2 user name.
        username: String,
        /// The password (zeroized on drop, never logged).
        password: Zeroizing<String>,
    },
    /// A certificate and its private key; the gateway proves itself with a certificate too.
    Certificate {
        /// Our certificate first, then any intermediates to send along.
        chain: Vec<Cert>,
        /// The private key of the first certificate.
        key: PrivateKey,
        /// Padding for RSA keys with RFC 7427 signatures.
        rsa_padding: RsaPadding,
    },
}

impl std::fmt::Debug for LocalAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalAuth::Psk(_) => f.write_str("Psk(<redacted>)"),
            LocalAuth::Eap { username, .. } => {
                write!(f, "Eap {{ username: {username:?}, password: <redacted> }}")
            }
            LocalAuth::Certificate { chain, .. } => write!(
                f,
                "Certificate {{ subject: {:?}, key: <redacted> }}",
                chain.first().map(Cert::subject)
            ),
        }
    }
}

/// Retransmission schedule for requests (§2.1): `timeout × base^n` for n = 0..=tries, like
/// strongSwan's `retransmit_timeout`, `retransmit_base` and `retransmit_tries`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retransmit {
    /// First timeout.
    pub timeout: Duration,
    /// Growth factor.
    pub base: f64,
    /// Retransmissions after the first send before giving up.
    pub tries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit {
            timeout: Duration::from_secs(4),
            base: 1.8,
            tries: 5,
        }
    }
}

impl Retransmit {
    /// How long to wait after send number `n` (0 = the first send).
    pub fn wait(&self, n: u32) -> Duration {
        let factor = self.base.powi(n.min(30) as i32);
        self.timeout.mul_f64(factor.min(1e6))
    }
}

/// Configuration of one IKE SA and its first child SA.
#[derive(Debug)]
pub struct Config {
    /// Our identity (IDi).
    pub local_id: Identification,
    /// The identity the gateway must prove (IDr); `None` accepts whatever it sends.
    pub remote_id: Option<Identification>,
    /// Our credential.
    pub auth: LocalAuth,
    /// IKE proposals in order of preference.
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP proposals in order of preference.
    pub esp_proposals: Vec<EspProposal>,
    /// Our address and port as our socket sees them (for NAT detection).
    pub local_addr: SocketAddr,
    /// The gateway's address and port (for NAT detection).
    pub remote_addr: SocketAddr,
    /// Ask for an IPv4 virtual address (CP INTERNAL_IP4_ADDRESS).
    pub request_ipv4: bool,
    /// Ask for an IPv6 virtual address.
    pub request_ipv6: bool,
    /// Our traffic selectors (TSi).
    pub ts_local: Vec<TrafficSelector>,
    /// The gateway's traffic selectors (TSr): what we want to reach.
    pub ts_remote: Vec<TrafficSelector>,
    /// Ask for transport mode instead of tunnel mode.
    pub transport_mode: bool,
    /// Rekey the IKE SA after about this long.
    pub ike_lifetime: Duration,
    /// Rekey child SAs after about this long.
    pub child_lifetime: Duration,
    /// Send a liveness check after this long without hearing from the gateway.
    pub dpd_interval: Option<Duration>,
    /// How long a liveness check may go unanswered before the gateway counts as dead. Shorter
    /// than the full retransmission schedule: a VPN user wants to hear within seconds that the
    /// tunnel is gone, not minutes.
    pub dpd_timeout: Duration,
    /// Retransmission schedule.
    pub retransmit: Retransmit,
    /// Use UDP encapsulation (port 4500) even without a NAT, like strongSwan's `encap = yes`.
    pub force_udp_encap: bool,
    /// The CA certificates the gateway's certificate must chain to (the profile's `ca`).
    /// Needed whenever the gateway authenticates with a certificate.
    pub trust_anchors: Vec<Cert>,
    /// The wall-clock time that corresponds to the `now` passed to [`crate::v2::IkeSa::new`].
    /// This crate reads no clock: certificate validity is checked at this time plus the
    /// [`std::time::Instant`] time elapsed since. The service sets it to `SystemTime::now()`
    /// right before creating the SA; without it a gateway certificate is refused.
    pub wall_clock: Option<SystemTime>,
    /// Offer IKE fragmentation (RFC 7383) and fragment our encrypted messages above
    /// [`Config::fragment_size`] once the gateway agrees.
    pub fragmentation: bool,
    /// The largest IKE message we send unfragmented (IP and UDP headers and the non-ESP
    /// marker excluded). The default keeps the IP packet within 1280 bytes, the IPv6 minimum
    /// MTU that RFC 7383 §2.5.1 suggests.
    pub fragment_size: usize,
}

impl Config {
    /// A configuration with strongSwan-like defaults for everything but the essentials:
    /// default proposals, a virtual IPv4 address, all IPv4 traffic through the tunnel, 24 h IKE
    /// and 1 h child lifetimes, DPD every 30 s.
    pub fn new(
        local_id: Identification,
        auth: LocalAuth,
        local_addr: SocketAddr,
        remote_addr: SocketAddr,
    ) -> Config {
        Config {
            local_id,
            remote_id: None,
            auth,
            ike_proposals: IkeProposal::default_set(),
            esp_proposals: EspProposal::default_set(),
            local_addr,
            remote_addr,
            request_ipv4: true,
            request_ipv6: false,
            ts_local: vec![TrafficSelector::any(false)],
            ts_remote: vec![TrafficSelector::any(false)],
            transport_mode: false,
            ike_lifetime: Duration::from_secs(24 * 3600),
            child_lifetime: Duration::from_secs(3600),
            dpd_interval: Some(Duration::from_secs(30)),
            dpd_timeout: Duration::from_secs(60),
            retransmit: Retransmit::default(),
            force_udp_encap: false,
            trust_anchors: Vec::new(),
            wall_clock: None,
            fragmentation: true,
            // IPv6 header (40) + UDP (8) + non-ESP marker (4).
            fragment_size: 1280 - 48 - 4,
        }
    }
}

impl Identification {
    /// An identity in strongSwan's notation: an IP address, `user@domain` (RFC822), or a host
    /// name (FQDN). Distinguished names come with certificates.
    pub fn from_text(text: &str) -> Identification {
        if let Ok(ip) = text.parse::<std::net::IpAddr>() {
            return match ip {
                std::net::IpAddr::V4(a) => Identification {
                    id_type: id_type::IPV4_ADDR,
                    data: a.octets().to_vec(),
                },
                std::net::IpAddr::V6(a) => Identification {
                    id_type: id_type::IPV6_ADDR,
                    data: a.octets().to_vec(),
                },
            };
        }
        let id_type = if text.contains('@') {
            id_type::RFC822_ADDR
        } else {
            id_type::FQDN
        };
        Identification {
            id_type,
            data: text.as_bytes().to_vec(),
        }
    }
}

impl std::fmt::Display for Identification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.id_type, self.data.len()) {
            (id_type::IPV4_ADDR, 4) => {
                let mut a = [0u8; 4];
                a.copy_from_slice(&self.data);
                write!(f, "{}", std::net::Ipv4Addr::from(a))
            }
            (id_type::IPV6_ADDR, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&self.data);
                write!(f, "{}", std::net::Ipv6Addr::from(a))
            }
            (id_type::FQDN | id_type::RFC822_ADDR, _) => {
                f.write_str(&String::from_utf8_lossy(&self.data))
            }
            (t, _) => {
                write!(f, "ID type {t}: ")?;
                for b in self.data.iter().take(32) {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}
