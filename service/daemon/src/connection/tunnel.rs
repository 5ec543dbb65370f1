//! The tunnel side of a connection: the TUN device with the virtual IP, and the routes and DNS
//! that send traffic into it. Everything is undone by [`Tunnel::close`] (and, after a crash,
//! by the platform journal at the next start).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use strait_crypto::CryptoProvider;
use strait_esp::{EspError, InboundSa, OutboundSa, OuterIp, SaConfig, UdpEncap};
use strait_ike::ChildSaInfo;
use strait_platform::{NetworkConfigurator, NetworkSettings, TunDevice, TunSettings};
use tracing::{info, warn};

use super::ConnectParams;
use crate::convert;

/// Ethernet-sized path MTU assumed until path MTU discovery says otherwise.
const PATH_MTU: usize = 1500;
/// UDP header in front of encapsulated ESP.
const UDP_HEADER: usize = 8;

/// A connection's TUN device and network configuration.
pub struct Tunnel {
    pub device: Arc<TunDevice>,
    network: Box<dyn NetworkConfigurator>,
    settings: NetworkSettings,
    vips: Vec<IpAddr>,
}

/// Why the tunnel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("the gateway assigned no virtual IP address")]
    NoAddress,
    #[error("the negotiated ESP algorithms are not supported by the datapath")]
    Algorithms,
    #[error("transport mode is not supported by the service yet; use mode = \"tunnel\"")]
    Transport,
    #[error(transparent)]
    Platform(#[from] strait_platform::PlatformError),
}

/// Interface name for a profile (at most 15 bytes on Linux). Known before the device exists,
/// so the kill switch can let it through from the start.
pub(super) fn tun_name(id: &str) -> String {
    let clean: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(12)
        .collect();
    format!("st-{clean}")
}

impl Tunnel {
    /// Creates the device and installs routes and DNS for the first child SA.
    pub fn open(
        params: &ConnectParams,
        child: &ChildSaInfo,
        gateway: SocketAddr,
    ) -> Result<Tunnel, TunnelError> {
        if child.transport_mode {
            return Err(TunnelError::Transport);
        }
        let config = child.config.clone().unwrap_or_default();
        let ipv4 = config.ipv4.first().map(|a| (*a, 32));
        if ipv4.is_none() && config.ipv6.is_empty() {
            return Err(TunnelError::NoAddress);
        }
        let algs = convert::esp_algorithms(&child.algorithms).ok_or(TunnelError::Algorithms)?;
        let outer = if gateway.is_ipv4() {
            OuterIp::V4
        } else {
            OuterIp::V6
        };
        let mtu = PATH_MTU - outer.header_len() - UDP_HEADER - algs.esp_overhead();
        let name = tun_name(&params.id);
        let device = strait_platform::create_tun(&TunSettings {
            name: Some(name.clone()),
            mtu: mtu as u16,
            ipv4,
            ipv6: config.ipv6.clone(),
        })?;
        let routes = routes_for(params, child);
        let settings = NetworkSettings {
            tun_name: name.clone(),
            routes,
            gateway: gateway.ip(),
            dns: convert::dns_settings(&params.profile, child.config.as_ref()),
        };
        let mut network = strait_platform::configurator(&params.state_dir, &params.id);
        if let Err(e) = network.apply(&settings) {
            if let Err(e2) = network.revert() {
                warn!("undoing a partial network setup failed: {e2}");
            }
            return Err(e.into());
        }
        let vips: Vec<IpAddr> = config
            .ipv4
            .iter()
            .map(|a| IpAddr::V4(*a))
            .chain(config.ipv6.iter().map(|(a, _)| IpAddr::V6(*a)))
            .collect();
        info!(
            "tunnel device {name} (MTU {mtu}) with {}; routes {}",
            vips.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            settings
                .routes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(dns) = &settings.dns {
            info!(
                "DNS {}{}",
                dns.servers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                if dns.domains.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", dns.domains.join(", "))
                }
            );
        }
        Ok(Tunnel {
            device: Arc::new(device),
            network,
            settings,
            vips,
        })
    }

    /// Virtual IPs, DNS servers, DNS domains and routes, for the status.
    pub fn summary(&self) -> (Vec<IpAddr>, Vec<IpAddr>, Vec<String>, Vec<String>) {
        let (dns, domains) = self
            .settings
            .dns
            .as_ref()
            .map(|d| (d.servers.clone(), d.domains.clone()))
            .unwrap_or_default();
        (
            self.vips.clone(),
            dns,
            domains,
            self.settings
                .routes
                .iter()
                .map(ToString::to_string)
                .collect(),
        )
    }

    /// Removes routes and DNS; the device goes when the last reference is dropped.
    pub fn close(&mut self) {
        if let Err(e) = self.network.revert() {
            warn!("removing routes and DNS failed: {e}");
        }
    }
}

/// What goes into the tunnel: the profile's routes if it names any, else the subnets the
/// gateway pushed, else its traffic selectors (a gateway that protects 0.0.0.0/0 gets all
/// traffic, installed as two halves).
fn routes_for(params: &ConnectParams, child: &ChildSaInfo) -> Vec<IpNet> {
    if !params.profile.network.routes.is_empty() {
        return params.profile.network.routes.clone();
    }
    let pushed: Vec<IpNet> = child
        .config
        .iter()
        .flat_map(|c| c.subnets.iter())
        .filter_map(|(a, l)| IpNet::new(*a, *l).ok())
        .collect();
    if !pushed.is_empty() {
        return pushed;
    }
    child
        .ts_remote
        .iter()
        .flat_map(|ts| ts.to_prefixes())
        .filter_map(|(a, l)| IpNet::new(a, l).ok())
        .collect()
}

/// The ESP SAs of a child SA, always UDP-encapsulated (see `convert::ike_config`).
pub fn esp_sas(
    provider: &dyn CryptoProvider,
    child: &ChildSaInfo,
) -> Result<(OutboundSa, InboundSa), EspError> {
    let algs = convert::esp_algorithms(&child.algorithms)
        .ok_or(EspError::InvalidConfig("unsupported algorithms"))?;
    let mut out = SaConfig::new(child.spi_out, algs);
    out.esn = child.algorithms.esn;
    out.encap = Some(UdpEncap::nat_t());
    let mut inb = SaConfig::new(child.spi_in, algs);
    inb.esn = child.algorithms.esn;
    inb.encap = Some(UdpEncap::nat_t());
    Ok((
        OutboundSa::new(provider, &out, &child.encr_out, &child.integ_out)?,
        InboundSa::new(provider, &inb, &child.encr_in, &child.integ_in)?,
    ))
}
