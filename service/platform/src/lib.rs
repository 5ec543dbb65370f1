//! `strait-platform`: everything Strait needs from the operating system, behind one interface.
//!
//! * [`create_tun`] makes the tunnel device (Linux tun, macOS utun, Windows Wintun — all through
//!   tun-rs, so this part is the same code everywhere).
//! * A [`NetworkConfigurator`] installs routes and DNS for a connection and removes them again.
//!   There is one implementation per OS, each in its own module; everything above this crate is
//!   the same on every OS.
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

/// Undoes what a previous run of the service left installed (after a crash or power loss).
/// Returns how many changes were undone.
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
