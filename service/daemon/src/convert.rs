//! Translations between the layers: a profile and its secrets into an IKE configuration,
//! negotiated algorithms into ESP SAs, and protocol failures into what a user reads.

use std::net::{IpAddr, SocketAddr};

use strait_esp::{EspAlgorithms, EspEncryption, EspIntegrity};
use strait_ike::v2::cert::{self, RsaPadding};
use strait_ike::v2::proposal_wire::{encr_id, integ_id, NegotiatedEsp};
use strait_ike::v2::wire::{id_type, Identification, TrafficSelector};
use strait_ike::v2::{Config, LocalAuth};
use strait_ipc::{ErrorKind, IpcError};
use strait_profile::{AuthMethod, Dns, Identity, Mode, Profile};
use zeroize::Zeroizing;

/// The secrets of one connection, zeroized when the connection ends.
#[derive(Default)]
pub struct ConnSecrets {
    /// The one secret the profile's authentication method needs: the pre-shared key (`psk`),
    /// the EAP password as UTF-8 (`eap-mschapv2`), or the private key as PEM or DER (`cert`).
    pub secret: Option<Zeroizing<Vec<u8>>>,
}

fn identity(id: &Identity) -> Identification {
    match id {
        Identity::Fqdn(s) => Identification {
            id_type: id_type::FQDN,
            data: s.as_bytes().to_vec(),
        },
        Identity::Email(s) => Identification {
            id_type: id_type::RFC822_ADDR,
            data: s.as_bytes().to_vec(),
        },
        Identity::Ip(IpAddr::V4(a)) => Identification {
            id_type: id_type::IPV4_ADDR,
            data: a.octets().to_vec(),
        },
        Identity::Ip(IpAddr::V6(a)) => Identification {
            id_type: id_type::IPV6_ADDR,
            data: a.octets().to_vec(),
        },
        // DER-encoded (ID_DER_ASN1_DN); a name that does not parse is sent as a KEY_ID, which
        // is what strongSwan does for unparsable DNs.
        Identity::DistinguishedName(s) => cert::dn_identity(s).unwrap_or(Identification {
            id_type: id_type::KEY_ID,
            data: s.as_bytes().to_vec(),
        }),
        Identity::KeyId(k) => Identification {
            id_type: id_type::KEY_ID,
            data: k.clone(),
        },
    }
}

/// The IKEv2 configuration for a profile. `local` is our socket's address (for NAT
/// detection), `remote` the gateway's.
pub fn ike_config(
    profile: &Profile,
    secrets: &mut ConnSecrets,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Config, IpcError> {
    let secret = secrets.secret.take();
    let mut cert_subject = None;
    let auth = match profile.auth.method {
        AuthMethod::EapMschapv2 => {
            let password = secret.ok_or_else(|| {
                IpcError::new(
                    ErrorKind::MissingSecret,
                    "this profile logs in with a password (EAP-MSCHAPv2), but none was given; \
                     store it with `strait secret set <profile> password`",
                )
            })?;
            let password = String::from_utf8(password.to_vec()).map_err(|_| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "the password is not valid UTF-8 text",
                )
            })?;
            let username = profile.auth.username.clone().ok_or_else(|| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "this profile logs in with EAP-MSCHAPv2 but has no username; add `username` \
                     to its [auth] section",
                )
            })?;
            LocalAuth::Eap {
                identity: username.as_bytes().to_vec(),
                username,
                password: Zeroizing::new(password),
            }
        }
        AuthMethod::Cert => {
            let key = secret.ok_or_else(|| {
                IpcError::new(
                    ErrorKind::MissingSecret,
                    "this profile authenticates with a certificate, but its private key was not \
                     given; store it with `strait secret set <profile> key --from-file KEY.pem`",
                )
            })?;
            let key = cert::private_key_from_pem_or_der(&key).map_err(bad_credential)?;
            let path = profile.auth.certificate.as_ref().ok_or_else(|| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "this profile authenticates with a certificate but names none; add \
                     `certificate` to its [auth] section",
                )
            })?;
            let chain = read_certs(path)?;
            let leaf = chain.first().ok_or_else(|| {
                IpcError::new(ErrorKind::BadRequest, "the certificate file is empty")
            })?;
            if !key.matches(leaf.x509()) {
                return Err(IpcError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "the stored private key does not belong to the certificate `{}` in {}; \
                         store the matching key with `strait secret set <profile> key`",
                        leaf.subject(),
                        path.display()
                    ),
                ));
            }
            cert_subject = Some(Identification {
                id_type: id_type::DER_ASN1_DN,
                data: leaf.subject_der(),
            });
            LocalAuth::Certificate {
                chain,
                key,
                rsa_padding: RsaPadding::Pkcs1,
            }
        }
        _ => {
            let psk = secret.ok_or_else(|| {
                IpcError::new(
                    ErrorKind::MissingSecret,
                    "this profile authenticates with a pre-shared key, but none was given; store \
                     it with `strait secret set <profile> psk`",
                )
            })?;
            LocalAuth::Psk(psk)
        }
    };
    let local_id = match (&profile.auth.local_id, cert_subject) {
        // Our certificate's subject named in the profile: send its exact encoding.
        (Some(id @ Identity::DistinguishedName(_)), Some(subject))
            if dn_matches(&identity(id), &subject) =>
        {
            subject
        }
        (Some(id), _) => identity(id),
        // Like strongSwan: our certificate's subject, else our address.
        (None, Some(subject)) => subject,
        (None, None) => identity(&Identity::Ip(local.ip())),
    };
    let mut cfg = Config::new(local_id, auth, local, remote);
    for path in &profile.auth.ca {
        cfg.trust_anchors.extend(read_certs(path)?);
    }
    // strait-ike reads no clock: certificate validity is checked against this.
    cfg.wall_clock = Some(std::time::SystemTime::now());
    cfg.remote_id = Some(identity(&profile.auth.remote_id));
    cfg.ike_proposals = profile.crypto.ike.clone();
    cfg.esp_proposals = profile.crypto.esp.clone();
    cfg.ike_lifetime = profile.crypto.ike_lifetime;
    cfg.child_lifetime = profile.crypto.esp_lifetime;
    cfg.dpd_interval = profile.network.dpd;
    if let Some(dpd) = profile.network.dpd {
        cfg.dpd_timeout = (dpd * 3).max(std::time::Duration::from_secs(15));
    }
    cfg.transport_mode = profile.network.mode == Mode::Transport;
    // ESP always travels in UDP 4500: it passes every NAT and firewall that lets IKE through,
    // and needs no raw sockets (RFC 3948; strongSwan's `encap = yes`).
    cfg.force_udp_encap = true;
    let v4_routes: Vec<_> = profile
        .network
        .routes
        .iter()
        .filter(|r| r.addr().is_ipv4())
        .collect();
    let v6_routes: Vec<_> = profile
        .network
        .routes
        .iter()
        .filter(|r| r.addr().is_ipv6())
        .collect();
    cfg.request_ipv4 = true;
    cfg.request_ipv6 = !v6_routes.is_empty();
    cfg.ts_local = vec![TrafficSelector::any(false)];
    if cfg.request_ipv6 {
        cfg.ts_local.push(TrafficSelector::any(true));
    }
    cfg.ts_remote = if profile.network.routes.is_empty() {
        // Ask for everything; the gateway narrows it to what it protects.
        vec![TrafficSelector::any(false)]
    } else {
        v4_routes
            .iter()
            .chain(v6_routes.iter())
            .map(|r| TrafficSelector::prefix(r.addr(), r.prefix_len()))
            .collect()
    };
    Ok(cfg)
}

/// Whether two ID_DER_ASN1_DN identities name the same DN (string types aside).
fn dn_matches(a: &Identification, b: &Identification) -> bool {
    a.id_type == id_type::DER_ASN1_DN
        && b.id_type == id_type::DER_ASN1_DN
        && cert::dn_equal(&a.data, &b.data)
}

/// Certificates from a profile's file (PEM or DER).
fn read_certs(path: &std::path::Path) -> Result<Vec<cert::Cert>, IpcError> {
    let bytes = std::fs::read(path).map_err(|e| {
        IpcError::new(
            ErrorKind::BadRequest,
            format!("cannot read the certificate file {}: {e}", path.display()),
        )
    })?;
    cert::certs_from_pem_or_der(&bytes)
        .map_err(|e| IpcError::new(ErrorKind::BadRequest, format!("{}: {e}", path.display())))
}

fn bad_credential(e: strait_ike::v2::Error) -> IpcError {
    IpcError::new(ErrorKind::BadRequest, e.to_string())
}

/// The ESP algorithms of a negotiated child SA.
pub fn esp_algorithms(n: &NegotiatedEsp) -> Option<EspAlgorithms> {
    let (id, bits) = encr_id(n.encr);
    let encr = EspEncryption::from_iana(id, bits)?;
    Some(match n.integ {
        None => EspAlgorithms::aead(encr),
        Some(i) => EspAlgorithms::cbc_hmac(encr, EspIntegrity::from_iana(integ_id(i))?),
    })
}

/// DNS servers and domains to install, per the profile's `dns` setting.
pub fn dns_settings(
    profile: &Profile,
    pushed: Option<&strait_ike::v2::ConfigReply>,
) -> Option<strait_platform::DnsSettings> {
    match &profile.network.dns {
        Dns::None => None,
        Dns::Servers(servers) => Some(strait_platform::DnsSettings {
            servers: servers.clone(),
            domains: vec![],
        }),
        Dns::Gateway => {
            let c = pushed?;
            (!c.dns.is_empty()).then(|| strait_platform::DnsSettings {
                servers: c.dns.clone(),
                domains: c.dns_domains.clone(),
            })
        }
    }
}

/// A failed connection attempt in words for the user; the protocol detail goes along.
pub fn connect_error(e: &strait_ike::v2::Error) -> IpcError {
    let mut err = IpcError::new(ErrorKind::ConnectFailed, e.to_string());
    err.detail = Some(format!("{e:?}"));
    err
}
