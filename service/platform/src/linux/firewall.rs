//! The kill switch with nftables: one table `inet strait_<connection>` per connection, loaded
//! with `nft -f -` from text generated here (Mullvad's and wg-quick's approach).
//!
//! Base chains for input, output and forward with policy drop. A packet must be accepted by
//! every base chain on its hook, so our drop wins whatever other tables accept; the priority
//! (`filter - 10`) only puts us before the usual filter chains, so other tables never see what
//! we drop. The whole table is replaced in one nft transaction, so a changed policy (a new
//! gateway address on a reconnect) never leaves a moment without a block.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::journal::{Change, Journal};
use crate::{Firewall, FirewallPolicy, PlatformError};

/// The UDP port of NAT traversal (RFC 3948), where encapsulated ESP and IKE go after NAT-T.
const NAT_T_PORT: u16 = 4500;

/// The kill switch of one connection on Linux.
pub(crate) struct NftKillSwitch {
    journal: Journal,
    table: String,
}

impl NftKillSwitch {
    pub(crate) fn new(state_dir: &Path, connection: &str) -> Self {
        NftKillSwitch {
            journal: Journal::new_part(state_dir, connection, ".firewall"),
            table: table_name(connection),
        }
    }
}

impl Firewall for NftKillSwitch {
    fn apply(&mut self, policy: &FirewallPolicy) -> Result<(), PlatformError> {
        let text = ruleset(&self.table, policy)?;
        if self.journal.changes().is_empty() {
            self.journal.record(Change::Firewall {
                table: self.table.clone(),
            })?;
        }
        nft(&text)
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

/// The table's name for a connection id: `strait_` and the id with every byte that is not an
/// ASCII letter or digit written as `_xx` (hex), so different ids never share a table.
pub(crate) fn table_name(connection: &str) -> String {
    let mut name = String::from("strait_");
    for b in connection.bytes() {
        if b.is_ascii_alphanumeric() {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("_{b:02x}"));
        }
    }
    name
}

/// An interface name as an nft string: Linux names are at most 15 bytes of printable ASCII,
/// and ours never hold quotes, but a name that could break out of the string is refused.
fn quoted_interface(name: &str) -> Result<String, PlatformError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(format!("\"{name}\""))
    } else {
        Err(PlatformError::Command {
            command: "nft -f -".into(),
            message: format!(
                "`{name}` is not a tunnel interface name the kill switch can match; \
                 rename the profile to letters, digits, `-` and `_`"
            ),
        })
    }
}

/// The complete nft script for `policy`: create the table if missing (so the delete cannot
/// fail), delete it, and load it afresh — one atomic transaction.
pub(crate) fn ruleset(table: &str, policy: &FirewallPolicy) -> Result<String, PlatformError> {
    let tun = quoted_interface(&policy.tunnel_interface)?;
    let ports = if policy.ike_port == NAT_T_PORT {
        format!("{NAT_T_PORT}")
    } else {
        format!("{{ {}, {NAT_T_PORT} }}", policy.ike_port)
    };
    let (gw_in, gw_out) = match policy.gateway {
        Some(gw) => {
            let family = match gw {
                IpAddr::V4(_) => "ip",
                IpAddr::V6(_) => "ip6",
            };
            (
                format!(
                    "\t\t{family} saddr {gw} udp sport {ports} accept\n\
                     \t\t{family} saddr {gw} meta l4proto esp accept\n"
                ),
                format!(
                    "\t\t{family} daddr {gw} udp dport {ports} accept\n\
                     \t\t{family} daddr {gw} meta l4proto esp accept\n"
                ),
            )
        }
        None => (String::new(), String::new()),
    };
    let ndp = "\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, \
               nd-neighbor-advert, nd-redirect } ip6 hoplimit 255 accept\n";
    let hook =
        |name: &str| format!("\t\ttype filter hook {name} priority filter - 10; policy drop;\n");
    Ok(format!(
        "table inet {table} {{}}\n\
         delete table inet {table}\n\
         table inet {table} {{\n\
         \tchain input {{\n{input_hook}\
         \t\tiifname \"lo\" accept\n\
         \t\tiifname {tun} accept\n\
         {gw_in}\
         \t\tudp sport 67 udp dport 68 accept\n\
         \t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept\n\
         {ndp}\
         \t}}\n\
         \tchain output {{\n{output_hook}\
         \t\toifname \"lo\" accept\n\
         \t\toifname {tun} accept\n\
         {gw_out}\
         \t\tudp sport 68 udp dport 67 accept\n\
         \t\tip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept\n\
         {ndp}\
         \t}}\n\
         \tchain forward {{\n{forward_hook}\
         \t\tiifname {tun} accept\n\
         \t\toifname {tun} accept\n\
         \t}}\n\
         }}\n",
        input_hook = hook("input"),
        output_hook = hook("output"),
        forward_hook = hook("forward"),
    ))
}

/// Runs `nft -f -` with `script` on standard input.
fn nft(script: &str) -> Result<(), PlatformError> {
    let command = "nft -f -".to_owned();
    let failed = |message: String| PlatformError::Command {
        command: command.clone(),
        message,
    };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            failed(format!(
                "cannot run nftables' `nft` (install nftables): {e}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

/// Deletes a kill-switch table; one that is already gone is fine.
pub(super) fn undo(change: &Change) -> Result<(), PlatformError> {
    let Change::Firewall { table } = change else {
        return Ok(());
    };
    let valid = table
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        // Only names from `table_name` are ever journaled; anything else was not ours.
        return Ok(());
    }
    // "Create if missing, then delete" cannot fail on a table that is already gone.
    nft(&format!(
        "table inet {table} {{}}\ndelete table inet {table}\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_distinct_and_safe() {
        assert_eq!(table_name("acme"), "strait_acme");
        assert_eq!(table_name("acme-hq"), "strait_acme_2dhq");
        assert_eq!(table_name("acme_hq"), "strait_acme_5fhq");
        assert_eq!(table_name("a.b"), "strait_a_2eb");
    }

    #[test]
    fn ruleset_blocks_all_but_the_tunnel_and_its_gateway() {
        let policy = FirewallPolicy {
            tunnel_interface: "st-acme".into(),
            gateway: Some("198.18.1.1".parse().unwrap()),
            ike_port: 500,
        };
        let text = ruleset("strait_acme", &policy).unwrap();
        assert_eq!(
            text,
            "table inet strait_acme {}\n\
             delete table inet strait_acme\n\
             table inet strait_acme {\n\
             \tchain input {\n\
             \t\ttype filter hook input priority filter - 10; policy drop;\n\
             \t\tiifname \"lo\" accept\n\
             \t\tiifname \"st-acme\" accept\n\
             \t\tip saddr 198.18.1.1 udp sport { 500, 4500 } accept\n\
             \t\tip saddr 198.18.1.1 meta l4proto esp accept\n\
             \t\tudp sport 67 udp dport 68 accept\n\
             \t\tip6 saddr fe80::/10 udp sport 547 udp dport 546 accept\n\
             \t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, \
             nd-neighbor-advert, nd-redirect } ip6 hoplimit 255 accept\n\
             \t}\n\
             \tchain output {\n\
             \t\ttype filter hook output priority filter - 10; policy drop;\n\
             \t\toifname \"lo\" accept\n\
             \t\toifname \"st-acme\" accept\n\
             \t\tip daddr 198.18.1.1 udp dport { 500, 4500 } accept\n\
             \t\tip daddr 198.18.1.1 meta l4proto esp accept\n\
             \t\tudp sport 68 udp dport 67 accept\n\
             \t\tip6 daddr ff02::1:2 udp sport 546 udp dport 547 accept\n\
             \t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, \
             nd-neighbor-advert, nd-redirect } ip6 hoplimit 255 accept\n\
             \t}\n\
             \tchain forward {\n\
             \t\ttype filter hook forward priority filter - 10; policy drop;\n\
             \t\tiifname \"st-acme\" accept\n\
             \t\toifname \"st-acme\" accept\n\
             \t}\n\
             }\n"
        );
    }

    #[test]
    fn ipv6_gateway_and_unknown_gateway() {
        let mut policy = FirewallPolicy {
            tunnel_interface: "st-x".into(),
            gateway: Some("2001:db8::1".parse().unwrap()),
            ike_port: 4500,
        };
        let text = ruleset("strait_x", &policy).unwrap();
        assert!(text.contains("ip6 daddr 2001:db8::1 udp dport 4500 accept\n"));
        assert!(!text.contains("ip daddr"));
        policy.gateway = None;
        let text = ruleset("strait_x", &policy).unwrap();
        assert!(!text.contains("udp dport 4500"), "{text}");
        policy.tunnel_interface = "x\" accept #".into();
        assert!(ruleset("strait_x", &policy).is_err());
    }
}
