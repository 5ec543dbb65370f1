//! DNS on Linux, one backend per real-world setup (Mullvad's talpid-dns idea), chosen at run
//! time: systemd-resolved when it runs (per-link servers and routing domains, so split DNS
//! works and nothing global is touched), else `/etc/resolv.conf`, whose original content goes
//! into the journal first and is written back on disconnect or after a crash.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use crate::journal::{Change, Journal};
use crate::{DnsSettings, PlatformError};

const RESOLV_CONF: &str = "/etc/resolv.conf";

fn resolved_is_running() -> bool {
    Path::new("/run/systemd/resolve/io.systemd.Resolve").exists()
        && Command::new("resolvectl")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn resolvectl(args: &[&str]) -> Result<(), PlatformError> {
    let out = Command::new("resolvectl")
        .args(args)
        .output()
        .map_err(|e| PlatformError::Command {
            command: format!("resolvectl {}", args.join(" ")),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PlatformError::Command {
            command: format!("resolvectl {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

pub(super) fn apply(
    journal: &mut Journal,
    link: &str,
    dns: &DnsSettings,
) -> Result<(), PlatformError> {
    if dns.servers.is_empty() {
        return Ok(());
    }
    if resolved_is_running() {
        journal.record(Change::Resolved {
            link: link.to_owned(),
        })?;
        let servers: Vec<String> = dns.servers.iter().map(ToString::to_string).collect();
        let mut args = vec!["dns", link];
        args.extend(servers.iter().map(String::as_str));
        resolvectl(&args)?;
        // Routing domains ("~example.com") send only those names here; with none, "~." makes
        // this link the DNS default route (full-tunnel DNS).
        let domains: Vec<String> = if dns.domains.is_empty() {
            vec!["~.".to_owned()]
        } else {
            dns.domains.iter().map(|d| format!("~{d}")).collect()
        };
        let mut args = vec!["domain", link];
        args.extend(domains.iter().map(String::as_str));
        resolvectl(&args)?;
        return resolvectl(&[
            "default-route",
            link,
            if dns.domains.is_empty() { "yes" } else { "no" },
        ]);
    }
    let path = Path::new(RESOLV_CONF);
    let original = fs::read_to_string(path).unwrap_or_default();
    journal.record(Change::ResolvConf {
        path: RESOLV_CONF.to_owned(),
        original: original.clone(),
    })?;
    write_in_place(path, &render_resolv_conf(&original, dns))
}

/// The new resolv.conf: our servers first, our domains first in the search list, the original's
/// options kept (they describe the machine, not the network).
pub(super) fn render_resolv_conf(original: &str, dns: &DnsSettings) -> String {
    let mut out = String::from("# Written by Strait while a VPN connection is up; the original is restored on disconnect.\n");
    for s in &dns.servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let old_search: Vec<&str> = original
        .lines()
        .filter_map(|l| l.trim().strip_prefix("search"))
        .flat_map(str::split_whitespace)
        .collect();
    let mut search: Vec<&str> = dns.domains.iter().map(String::as_str).collect();
    search.extend(
        old_search
            .iter()
            .filter(|d| !search_contains(&dns.domains, d)),
    );
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for line in original.lines() {
        if line.trim_start().starts_with("options") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn search_contains(domains: &[String], d: &str) -> bool {
    domains.iter().any(|x| x == d)
}

/// Writes over the file's content rather than renaming a new file into place: resolv.conf is
/// often a bind mount (`ip netns exec`, containers) or a symlink target that must stay put.
fn write_in_place(path: &Path, content: &str) -> Result<(), PlatformError> {
    let io = |source| PlatformError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    f.write_all(content.as_bytes()).map_err(io)
}

pub(super) fn undo(change: &Change) -> Result<(), PlatformError> {
    match change {
        Change::ResolvConf { path, original } => write_in_place(Path::new(path), original),
        Change::Resolved { link } => match resolvectl(&["revert", link]) {
            // The link disappears with the tunnel device, and resolved forgets it then.
            Err(PlatformError::Command { message, .. })
                if message.contains("not found") || message.contains("No such") =>
            {
                Ok(())
            }
            other => other,
        },
        Change::Route { .. } | Change::Firewall { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_puts_ours_first_and_keeps_options() {
        let original = "nameserver 192.0.2.53\nsearch home.example\noptions edns0 trust-ad\n";
        let dns = DnsSettings {
            servers: vec!["198.19.0.53".parse().unwrap()],
            domains: vec!["corp.example".into()],
        };
        assert_eq!(
            render_resolv_conf(original, &dns),
            "# Written by Strait while a VPN connection is up; the original is restored on disconnect.\n\
             nameserver 198.19.0.53\nsearch corp.example home.example\noptions edns0 trust-ad\n"
        );
    }
}
