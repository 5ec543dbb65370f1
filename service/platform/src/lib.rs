//! `strait-platform`: everything Strait needs from the operating system, behind one interface.
//!
//! * [`create_tun`] makes the tunnel device (Linux tun, macOS utun, Windows Wintun — all through
//!   tun-rs, so this part is the same code everywhere).
//! * A [`NetworkConfigurator`] installs routes and DNS for a connection and removes them again.
//!   There is one implementation per OS, each in its own module; everything above this crate is
//!   the same on every OS.
//! * A [`Firewall`] is the kill switch: while a connection with `kill_switch = true` is
//!   connecting, connected, reconnecting or failed, nothing leaves or enters the machine outside
//!   the tunnel except what the tunnel itself needs ([`FirewallPolicy`] says what that is).
//!   Linux loads one nftables table per connection; macOS and Windows refuse plainly
//!   ([`kill_switch`] returns [`PlatformError::KillSwitchUnsupported`]) rather than connect
//!   without the protection the user asked for.
//! * Every change is written to a [`journal`] in the service's state directory *before* it is
//!   made, so [`recover`] can undo what a crashed service left behind at the next start: a crash
//!   must never leave a user's routes or DNS pointing into a dead tunnel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use ipnet::IpNet;

pub mod journal;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(windows)]
mod windows;

/// The tunnel device as the datapath uses it (async reads and writes of whole IP packets).
pub use tun_rs::AsyncDevice as TunDevice;

/// Why the OS refused something. Messages say what was attempted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// The tunnel device could not be created (no permission, no /dev/net/tun, no Wintun).
    #[error("cannot create the tunnel device: {0} (the Strait service must run with administrator rights)")]
    Tun(#[source] std::io::Error),
    /// A system command failed.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not implemented on this OS yet.
    #[error("{0} is not supported on this operating system yet")]
    Unsupported(&'static str),
    /// The profile asks for the kill switch and this OS has no backend for it yet. Connecting
    /// without it would leave the user believing they are protected, so we refuse.
    #[error(
        "the kill switch is not available on this operating system yet; set kill_switch = false \
         to connect without it"
    )]
    KillSwitchUnsupported,
}

/// What the tunnel device looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunSettings {
    /// Interface name; `None` lets the OS choose.
    pub name: Option<String>,
    /// MTU: the path MTU minus the ESP overhead.
    pub mtu: u16,
    /// Virtual IPv4 address and prefix length.
    pub ipv4: Option<(Ipv4Addr, u8)>,
    /// Virtual IPv6 addresses and prefix lengths.
    pub ipv6: Vec<(Ipv6Addr, u8)>,
}

/// Creates the tunnel device and assigns the virtual addresses.
pub fn create_tun(settings: &TunSettings) -> Result<TunDevice, PlatformError> {
    let mut builder = tun_rs::DeviceBuilder::new().mtu(settings.mtu);
    if let Some(name) = &settings.name {
        builder = builder.name(name.clone());
    }
    if let Some((addr, prefix)) = settings.ipv4 {
        builder = builder.ipv4(addr, prefix, None);
    }
    for (addr, prefix) in &settings.ipv6 {
        builder = builder.ipv6(*addr, *prefix);
    }
    builder.build_async().map_err(PlatformError::Tun)
}

/// DNS while connected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsSettings {
    /// Servers to use.
    pub servers: Vec<IpAddr>,
    /// Domains resolved through them (split DNS); empty = all names.
    pub domains: Vec<String>,
}

/// Routes and DNS for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    /// The tunnel device's name.
    pub tun_name: String,
    /// Destinations that go through the tunnel. `0.0.0.0/0` and `::/0` are installed as two
    /// halves each, so the default route stays untouched and is back the moment they go.
    pub routes: Vec<IpNet>,
    /// The gateway's address: pinned to the current physical route so that IKE and ESP never
    /// loop into the tunnel itself.
    pub gateway: IpAddr,
    /// DNS; `None` leaves DNS alone.
    pub dns: Option<DnsSettings>,
}

/// Installs and removes a connection's routes and DNS. One per connection.
pub trait NetworkConfigurator: Send {
    /// Installs `settings`. On error, whatever was already installed is still recorded and
    /// [`NetworkConfigurator::revert`] removes it.
    fn apply(&mut self, settings: &NetworkSettings) -> Result<(), PlatformError>;
    /// Removes everything `apply` installed. Safe to call twice.
    fn revert(&mut self) -> Result<(), PlatformError>;
}

/// The configurator for this OS; its journal lives in `state_dir`.
pub fn configurator(state_dir: &Path, connection: &str) -> Box<dyn NetworkConfigurator> {
    #[cfg(target_os = "linux")]
    {
        Box::new(linux::LinuxNetwork::new(state_dir, connection))
    }
    #[cfg(target_os = "macos")]
    {
        Box::new(macos::MacNetwork::new(state_dir, connection))
    }
    #[cfg(windows)]
    {
        Box::new(windows::WindowsNetwork::new(state_dir, connection))
    }
}

/// What the kill switch lets through; everything else, in and out and forwarded, IPv4 and
/// IPv6, is dropped — also flows that were established before it went on.
///
/// Always allowed besides: loopback, DHCP and DHCPv6 (so the physical link keeps its lease),
/// and ICMPv6 neighbour discovery and router solicitation on links (hop limit 255, so never
/// from beyond a router), without which IPv6 on the link stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallPolicy {
    /// The tunnel device: everything through it passes. Matched by name, so the rule holds
    /// before the device exists and keeps holding when it is re-created on a reconnect.
    pub tunnel_interface: String,
    /// The gateway's address, resolved *before* the block goes on (DNS is blocked after).
    /// `None` while no address is known: then nothing but the basics above passes.
    pub gateway: Option<IpAddr>,
    /// The gateway's IKE port (500 unless the profile names another). NAT-T (UDP 4500) and
    /// plain ESP with the gateway pass too.
    pub ike_port: u16,
}

/// The kill switch of one connection. One per connection; it outlives single attempts (the
/// block stays up through reconnects and failures until the user disconnects).
pub trait Firewall: Send + Sync {
    /// Puts `policy` in place, replacing the previous one of this connection atomically (no
    /// moment without a block in between). Journaled before it is applied.
    fn apply(&mut self, policy: &FirewallPolicy) -> Result<(), PlatformError>;
    /// Lifts the block. Safe to call twice, and when nothing was applied.
    fn revert(&mut self) -> Result<(), PlatformError>;
}

/// The kill switch for `connection` on this OS, journaled in `state_dir`; an error on an OS
/// without a backend, so the caller refuses to connect instead of silently not blocking.
pub fn kill_switch(state_dir: &Path, connection: &str) -> Result<Box<dyn Firewall>, PlatformError> {
    #[cfg(target_os = "linux")]
    {
        Ok(Box::new(linux::NftKillSwitch::new(state_dir, connection)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (state_dir, connection);
        Err(PlatformError::KillSwitchUnsupported)
    }
}

/// Undoes what a previous run of the service left installed (after a crash or power loss).
/// Returns how many changes were undone.
///
/// This includes a kill-switch block: it is *removed*, not kept. A kill switch is tied to a
/// connection the user started and can end ("blocked until you disconnect"); after a crash
/// that connection no longer exists, so no status would show the block and no `disconnect`
/// could lift it — the machine would be offline with no visible reason and no way out but
/// deleting firewall tables by hand. The service's clean stop lifts the block the same way.
pub fn recover(state_dir: &Path) -> Result<usize, PlatformError> {
    let leftovers = journal::Journal::leftovers(state_dir)?;
    #[cfg(target_os = "linux")]
    {
        let mut undone = 0;
        for entry in leftovers {
            undone += linux::undo_journal(entry)?;
        }
        Ok(undone)
    }
    #[cfg(not(target_os = "linux"))]
    {
        // The macOS and Windows backends journal nothing yet, so there is nothing to undo.
        let _ = leftovers;
        Ok(0)
    }
}

/// Splits default routes into halves (RFC-less but universal VPN practice: more specific than
/// the default route, so it wins without being deleted).
pub fn expand_routes(routes: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for r in routes {
        match r {
            IpNet::V4(n) if n.prefix_len() == 0 => {
                out.extend(
                    ["0.0.0.0/1", "128.0.0.0/1"]
                        .iter()
                        .filter_map(|s| s.parse::<IpNet>().ok()),
                );
            }
            IpNet::V6(n) if n.prefix_len() == 0 => {
                out.extend(
                    ["::/1", "8000::/1"]
                        .iter()
                        .filter_map(|s| s.parse::<IpNet>().ok()),
                );
            }
            other => out.push(other.trunc()),
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_routes_become_halves() {
        let r: Vec<IpNet> = vec![
            "0.0.0.0/0".parse().unwrap(),
            "10.1.2.3/16".parse().unwrap(),
            "::/0".parse().unwrap(),
        ];
        let e: Vec<String> = expand_routes(&r).iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            [
                "0.0.0.0/1",
                "128.0.0.0/1",
                "10.1.0.0/16",
                "::/1",
                "8000::/1"
            ]
        );
    }
}
