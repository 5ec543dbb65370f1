//! What the commands print: the stable `--json` shapes and the human-readable forms.
//!
//! The JSON shapes are the CLI's own (not the IPC structs serialized as they are), so the IPC
//! protocol can evolve without breaking scripts. They are documented in the crate's README:
//! fields are only ever added, never renamed or removed.
//!
//! `strait list --json`:
//! ```json
//! {"profiles": [{"id": "acme", "name": "Acme HQ", "gateway": "vpn.acme.example",
//!                "version": "ikev2", "method": "psk", "managed": false,
//!                "local_id": "alice@acme.example", "remote_id": "vpn.acme.example",
//!                "username": null, "routes": ["10.0.0.0/8"], "ike": [], "esp": []}]}
//! ```
//!
//! `strait status --json`:
//! ```json
//! {"connections": [{"profile": "acme", "state": "connected",
//!   "gateway": "vpn.acme.example", "gateway_address": "198.18.0.1:4500",
//!   "virtual_ips": ["10.0.0.2"], "dns": ["10.0.0.1"], "dns_domains": ["corp.example"],
//!   "routes": ["0.0.0.0/0"], "ike": "AES-256-GCM/PRF-HMAC-SHA-384/ECP-384",
//!   "esp": "AES-256-GCM", "ike_spis": "0123456789abcdef/fedcba9876543210",
//!   "spi_in": "c0ffee01", "spi_out": "0badf00d", "nat": false,
//!   "bytes_in": 0, "bytes_out": 0, "packets_in": 0, "packets_out": 0,
//!   "replay_drops": 0, "auth_failures": 0, "uptime_secs": 42,
//!   "ike_rekey_in_secs": 14358, "child_rekey_in_secs": 3558, "kill_switch": false,
//!   "reason": null}]}
//! ```
//!
//! The rekey times are seconds from the moment the status was taken (rounded down), `null`
//! when not connected.
//! ```

use serde::Serialize;
use strait_ipc::{ConnState, ConnectionStatus, LogLine, ProfileSummary};

/// `strait list --json`.
#[derive(Debug, Serialize)]
pub struct ListJson {
    /// The stored profiles, sorted by id.
    pub profiles: Vec<ProfileJson>,
}

/// One profile in `strait list --json`.
#[derive(Debug, Serialize)]
pub struct ProfileJson {
    /// The id (file stem of the imported file).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Gateway as written in the profile.
    pub gateway: String,
    /// "ikev2", "ikev1-main" or "ikev1-aggressive".
    pub version: String,
    /// "psk", "cert", "eap-mschapv2", "xauth-psk" or "xauth-cert".
    pub method: String,
    /// Whether IT provisioned it.
    pub managed: bool,
    /// Our identity as written (`null`: our address or the certificate's subject).
    pub local_id: Option<String>,
    /// The gateway's identity we expect.
    pub remote_id: Option<String>,
    /// The user name of EAP / XAuth methods.
    pub username: Option<String>,
    /// Subnets sent through the tunnel (empty: the routes the gateway pushes).
    pub routes: Vec<String>,
    /// IKE proposals as written (empty: the defaults).
    pub ike: Vec<String>,
    /// ESP proposals as written (empty: the defaults).
    pub esp: Vec<String>,
}

impl From<&ProfileSummary> for ProfileJson {
    fn from(p: &ProfileSummary) -> Self {
        ProfileJson {
            id: p.id.clone(),
            name: p.name.clone(),
            gateway: p.gateway.clone(),
            version: p.version.clone(),
            method: p.method.clone(),
            managed: p.managed,
            local_id: p.local_id.clone(),
            remote_id: p.remote_id.clone(),
            username: p.username.clone(),
            routes: p.routes.clone(),
            ike: p.ike.clone(),
            esp: p.esp.clone(),
        }
    }
}

/// `strait status --json`.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    /// One entry per connection that is not disconnected.
    pub connections: Vec<ConnectionJson>,
}

/// One connection in `strait status --json`.
#[derive(Debug, Serialize)]
pub struct ConnectionJson {
    /// Profile id.
    pub profile: String,
    /// "disconnected", "connecting", "connected", "reconnecting", "disconnecting" or "error".
    pub state: &'static str,
    /// Gateway as written in the profile.
    pub gateway: String,
    /// The address the service talks to, when known.
    pub gateway_address: Option<String>,
    /// Virtual IP addresses assigned by the gateway.
    pub virtual_ips: Vec<String>,
    /// DNS servers in use.
    pub dns: Vec<String>,
    /// DNS search/routing domains.
    pub dns_domains: Vec<String>,
    /// Routes through the tunnel.
    pub routes: Vec<String>,
    /// IKE algorithms.
    pub ike: Option<String>,
    /// ESP algorithms.
    pub esp: Option<String>,
    /// IKE SPIs, "initiator/responder" in hex.
    pub ike_spis: Option<String>,
    /// Inbound ESP SPI in hex.
    pub spi_in: Option<String>,
    /// Outbound ESP SPI in hex.
    pub spi_out: Option<String>,
    /// Whether NAT was detected.
    pub nat: bool,
    /// Plaintext bytes received from the tunnel.
    pub bytes_in: u64,
    /// Plaintext bytes sent into the tunnel.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Packets dropped as replays.
    pub replay_drops: u64,
    /// Packets dropped because authentication failed.
    pub auth_failures: u64,
    /// Seconds since the tunnel came up.
    pub uptime_secs: Option<u64>,
    /// Seconds until the next IKE SA rekey, from the time of the status.
    pub ike_rekey_in_secs: Option<u64>,
    /// Seconds until the next child SA rekey, from the time of the status.
    pub child_rekey_in_secs: Option<u64>,
    /// The kill switch blocks traffic outside the tunnel while this connection exists.
    pub kill_switch: bool,
    /// Why it is in `error` or `reconnecting`.
    pub reason: Option<String>,
}

/// The stable name of a state.
pub fn state_name(state: ConnState) -> &'static str {
    match state {
        ConnState::Disconnected => "disconnected",
        ConnState::Connecting => "connecting",
        ConnState::Connected => "connected",
        ConnState::Reconnecting => "reconnecting",
        ConnState::Disconnecting => "disconnecting",
        ConnState::Error => "error",
    }
}

impl From<&ConnectionStatus> for ConnectionJson {
    fn from(c: &ConnectionStatus) -> Self {
        let (spi_in, spi_out) = match &c.esp_spis {
            Some((i, o)) => (Some(i.clone()), Some(o.clone())),
            None => (None, None),
        };
        ConnectionJson {
            profile: c.profile.clone(),
            state: state_name(c.state),
            gateway: c.gateway.clone(),
            gateway_address: c.gateway_address.clone(),
            virtual_ips: c.virtual_ips.iter().map(ToString::to_string).collect(),
            dns: c.dns.iter().map(ToString::to_string).collect(),
            dns_domains: c.dns_domains.clone(),
            routes: c.routes.clone(),
            ike: c.ike_algorithms.clone(),
            esp: c.esp_algorithms.clone(),
            ike_spis: c.ike_spis.clone(),
            spi_in,
            spi_out,
            nat: c.nat,
            bytes_in: c.counters.bytes_in,
            bytes_out: c.counters.bytes_out,
            packets_in: c.counters.packets_in,
            packets_out: c.counters.packets_out,
            replay_drops: c.counters.replay_drops,
            auth_failures: c.counters.auth_failures,
            uptime_secs: c.uptime_secs,
            ike_rekey_in_secs: c.ike_rekey_in_secs,
            child_rekey_in_secs: c.child_rekey_in_secs,
            kill_switch: c.kill_switch,
            reason: c.reason.clone(),
        }
    }
}

/// Pretty JSON with a final newline.
pub fn to_json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// `strait list`: a table, or a hint when there is nothing.
pub fn profiles_table(profiles: &[ProfileSummary]) -> String {
    if profiles.is_empty() {
        return "no profiles; add one with `strait import FILE`\n".to_owned();
    }
    let rows: Vec<[String; 6]> = profiles
        .iter()
        .map(|p| {
            [
                p.id.clone(),
                p.name.clone(),
                p.gateway.clone(),
                p.version.clone(),
                p.method.clone(),
                if p.managed { "managed" } else { "" }.to_owned(),
            ]
        })
        .collect();
    table(
        ["ID", "NAME", "GATEWAY", "VERSION", "AUTH", "MANAGED"],
        &rows,
    )
}

fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// `strait status`: one block per connection.
pub fn status_text(connections: &[ConnectionStatus]) -> String {
    if connections.is_empty() {
        return "not connected\n".to_owned();
    }
    let mut out = String::new();
    for (i, c) in connections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}: {}\n", c.profile, state_name(c.state)));
        let mut field = |name: &str, value: String| {
            out.push_str(&format!("  {name:<12}{value}\n"));
        };
        let mut gateway = c.gateway.clone();
        if let Some(addr) = &c.gateway_address {
            gateway.push_str(&format!(" ({addr})"));
        }
        if c.nat {
            gateway.push_str(", behind NAT (ESP in UDP 4500)");
        }
        field("gateway", gateway);
        if let Some(reason) = &c.reason {
            field("reason", reason.clone());
        }
        if c.kill_switch {
            field(
                "kill switch",
                "on: traffic outside the tunnel is blocked".into(),
            );
        }
        if !c.virtual_ips.is_empty() {
            field("virtual IP", join(&c.virtual_ips));
        }
        if !c.dns.is_empty() || !c.dns_domains.is_empty() {
            let mut dns = join(&c.dns);
            if !c.dns_domains.is_empty() {
                if !dns.is_empty() {
                    dns.push(' ');
                }
                dns.push_str(&format!("(domains: {})", c.dns_domains.join(", ")));
            }
            field("DNS", dns);
        }
        if !c.routes.is_empty() {
            field("routes", c.routes.join(", "));
        }
        if c.ike_algorithms.is_some() || c.ike_spis.is_some() {
            let mut ike = c.ike_algorithms.clone().unwrap_or_else(|| "?".into());
            if let Some(spis) = &c.ike_spis {
                ike.push_str(&format!(", SPIs {spis}"));
            }
            field("IKE", ike);
        }
        if c.esp_algorithms.is_some() || c.esp_spis.is_some() {
            let mut esp = c.esp_algorithms.clone().unwrap_or_else(|| "?".into());
            if let Some((spi_in, spi_out)) = &c.esp_spis {
                esp.push_str(&format!(", SPIs in {spi_in} out {spi_out}"));
            }
            field("ESP", esp);
        }
        let k = &c.counters;
        field(
            "received",
            format!("{} ({} packets)", bytes(k.bytes_in), k.packets_in),
        );
        field(
            "sent",
            format!("{} ({} packets)", bytes(k.bytes_out), k.packets_out),
        );
        if k.replay_drops > 0 || k.auth_failures > 0 {
            field(
                "dropped",
                format!(
                    "{} replayed, {} failed authentication",
                    k.replay_drops, k.auth_failures
                ),
            );
        }
        if let Some(up) = c.uptime_secs {
            field("uptime", duration(up));
        }
        if let Some(secs) = c.ike_rekey_in_secs {
            out.push_str(&format!("  IKE rekey in {}\n", short_duration(secs)));
        }
        if let Some(secs) = c.child_rekey_in_secs {
            out.push_str(&format!("  ESP rekey in {}\n", short_duration(secs)));
        }
    }
    out
}

/// The one line `strait connect` prints on success.
pub fn connected_line(profile: &str, status: Option<&ConnectionStatus>) -> String {
    let Some(c) = status else {
        return format!("connected to {profile}\n");
    };
    let mut s = format!("connected to {profile}");
    if !c.virtual_ips.is_empty() {
        s.push_str(&format!(": virtual IP {}", join(&c.virtual_ips)));
    }
    s.push_str(&format!(" via {}", c.gateway));
    if let Some(addr) = &c.gateway_address {
        s.push_str(&format!(" ({addr})"));
    }
    s.push('\n');
    s
}

/// A log line: `2024-05-01 12:34:56.789Z  info  [acme] message`.
pub fn log_line(line: &LogLine, with_profile: bool) -> String {
    let mut s = format!("{}  {:<5}  ", timestamp(line.time_ms), line.level);
    if with_profile {
        if let Some(p) = &line.profile {
            s.push_str(&format!("[{p}] "));
        }
    }
    s.push_str(&line.message);
    s.push('\n');
    s
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bytes in binary units: "512 B", "1.5 KiB", "3.2 GiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// Seconds as "1d 2h 3m 4s", leaving out leading zero units.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m {s}s")
    } else if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// A time to come, to the minute once it is an hour or more away: "3h 59m", "12m 5s",
/// "42s", "1d 3h".
pub fn short_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Milliseconds since the Unix epoch as UTC "YYYY-MM-DD HH:MM:SS.mmmZ".
pub fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29 00:00:00.123Z");
        assert_eq!(timestamp(1_700_000_000_000), "2023-11-14 22:13:20.000Z");
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(3_723), "1h 2m 3s");
        assert_eq!(duration(90_061), "1d 1h 1m 1s");
        assert_eq!(short_duration(14_358), "3h 59m");
        assert_eq!(short_duration(725), "12m 5s");
        assert_eq!(short_duration(42), "42s");
        assert_eq!(short_duration(97_200), "1d 3h");
    }
}
