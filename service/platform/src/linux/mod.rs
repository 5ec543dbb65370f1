//! Linux: routes through iproute2, DNS through systemd-resolved when it runs, else
//! `/etc/resolv.conf` (backed up in the journal and restored), the kill switch through
//! nftables (`nft`).
//!
//! iproute2 (`ip`) is on every Linux desktop and is what NetworkManager's and strongSwan's own
//! scripts use; driving it keeps this file small and its effects easy to reproduce by hand.

mod dns;
mod firewall;
mod route;

use std::path::Path;

use crate::journal::{Change, Journal};
pub(crate) use firewall::NftKillSwitch;

use crate::{expand_routes, NetworkConfigurator, NetworkSettings, PlatformError};

/// Routes and DNS of one connection on Linux.
pub(crate) struct LinuxNetwork {
    journal: Journal,
}

impl LinuxNetwork {
    pub(crate) fn new(state_dir: &Path, connection: &str) -> Self {
        LinuxNetwork {
            journal: Journal::new(state_dir, connection),
        }
    }
}

impl NetworkConfigurator for LinuxNetwork {
    fn apply(&mut self, settings: &NetworkSettings) -> Result<(), PlatformError> {
        // Pin the gateway to today's physical path first, so that no route below can capture
        // the IKE/ESP packets themselves.
        if let Some((via, dev)) = route::current_path(settings.gateway)? {
            let dest = ipnet::IpNet::from(settings.gateway).to_string();
            let change = Change::Route { dest, via, dev };
            self.journal.record(change.clone())?;
            route::install(&change)?;
        }
        for net in expand_routes(&settings.routes) {
            let change = Change::Route {
                dest: net.to_string(),
                via: None,
                dev: settings.tun_name.clone(),
            };
            self.journal.record(change.clone())?;
            route::install(&change)?;
        }
        if let Some(dns_settings) = &settings.dns {
            dns::apply(&mut self.journal, &settings.tun_name, dns_settings)?;
        }
        Ok(())
    }

    fn revert(&mut self) -> Result<(), PlatformError> {
        let mut first_error = None;
        for change in self.journal.drain_for_undo()? {
            if let Err(e) = undo(&change) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn undo(change: &Change) -> Result<(), PlatformError> {
    match change {
        Change::Route { .. } => route::remove(change),
        Change::ResolvConf { .. } | Change::Resolved { .. } => dns::undo(change),
        Change::Firewall { .. } => firewall::undo(change),
    }
}

/// Undoes a journal left by a crashed run; returns how many changes it held.
pub(crate) fn undo_journal(mut journal: Journal) -> Result<usize, PlatformError> {
    let changes = journal.drain_for_undo()?;
    let n = changes.len();
    for change in &changes {
        undo(change)?;
    }
    Ok(n)
}
