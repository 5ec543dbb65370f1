//! Translations between the layers: a profile and its secrets into an IKE configuration,
//! negotiated algorithms into ESP SAs, and protocol failures into what a user reads.

use std::net::{IpAddr, SocketAddr};

use strait_esp::{EspAlgorithms, EspEncryption, EspIntegrity};
use strait_ike::v2::proposal_wire::{encr_id, integ_id, NegotiatedEsp};
use strait_ike::v2::wire::{id_type, Identification, TrafficSelector};
use strait_ike::v2::{Config, LocalAuth};
use strait_ipc::{ErrorKind, IpcError};
use strait_profile::{Dns, Identity, Mode, Profile};
use zeroize::Zeroizing;

/// The secrets of one connection, zeroized when the connection ends.
#[derive(Default)]
pub struct ConnSecrets {
    /// Pre-shared key.
    pub psk: Option<Zeroizing<Vec<u8>>>,
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
        // ASN.1 encoding of distinguished names comes with certificate support; until then the
        // text form is sent as a KEY_ID, which is what strongSwan does for unparsable DNs.
        Identity::DistinguishedName(s) => Identification {
            id_type: id_type::KEY_ID,
            data: s.as_bytes().to_vec(),
        },
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
    let psk = secrets.psk.take().ok_or_else(|| {
        IpcError::new(
            ErrorKind::MissingSecret,
            "this profile authenticates with a pre-shared key, but none was given; store it with \
             `strait secret set <profile> psk`",
        )
    })?;
    let local_id = match &profile.auth.local_id {
        Some(id) => identity(id),
        // Like strongSwan: our address when nothing else is configured.
        None => identity(&Identity::Ip(local.ip())),
    };
    let mut cfg = Config::new(local_id, LocalAuth::Psk(psk), local, remote);
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
