//! Routes with iproute2.

use std::net::IpAddr;
use std::process::Command;

use crate::journal::Change;
use crate::PlatformError;

/// Runs `ip ARGS`, returning its standard output.
pub(super) fn run_ip(args: &[&str]) -> Result<String, PlatformError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| PlatformError::Command {
            command: format!("ip {}", args.join(" ")),
            message: format!("cannot run iproute2's `ip`: {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(PlatformError::Command {
            command: format!("ip {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The next hop and device the kernel uses for `dest` right now (`ip route get`), or `None`
/// when `dest` is on a directly connected network without a gateway and on no device we know.
pub(crate) fn current_path(
    dest: IpAddr,
) -> Result<Option<(Option<String>, String)>, PlatformError> {
    let out = run_ip(&["route", "get", &dest.to_string()])?;
    Ok(parse_route_get(&out))
}

/// Parses `ip route get` output such as
/// `198.18.0.1 via 198.18.5.1 dev eth0 src 198.18.5.2 uid 0`.
pub(crate) fn parse_route_get(out: &str) -> Option<(Option<String>, String)> {
    let line = out.lines().next()?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .map(|s| (*s).to_owned())
    };
    let dev = after("dev")?;
    if dev == "lo" {
        return None;
    }
    Some((after("via"), dev))
}

fn route_args(change: &Change) -> Option<Vec<String>> {
    let Change::Route { dest, via, dev } = change else {
        return None;
    };
    let mut args = vec![dest.clone()];
    if let Some(via) = via {
        args.extend(["via".to_owned(), via.clone()]);
    }
    args.extend(["dev".to_owned(), dev.clone()]);
    Some(args)
}

/// `ip route replace …`: replace, so a leftover of ours from a crash is taken over, not an error.
pub(crate) fn install(change: &Change) -> Result<(), PlatformError> {
    let Some(rest) = route_args(change) else {
        return Ok(());
    };
    let mut args = vec!["route", "replace"];
    args.extend(rest.iter().map(String::as_str));
    run_ip(&args).map(drop)
}

/// `ip route del …`; a route that is already gone (its device vanished with the tunnel) is fine.
pub(crate) fn remove(change: &Change) -> Result<(), PlatformError> {
    let Some(rest) = route_args(change) else {
        return Ok(());
    };
    let mut args = vec!["route", "del"];
    args.extend(rest.iter().map(String::as_str));
    match run_ip(&args) {
        Ok(_) => Ok(()),
        Err(PlatformError::Command { message, .. })
            if message.contains("No such process")
                || message.contains("Cannot find device")
                || message.contains("No such device") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_get_output_is_understood() {
        assert_eq!(
            parse_route_get(
                "198.18.0.1 via 198.18.5.1 dev eth0 src 198.18.5.2 uid 0 \n    cache \n"
            ),
            Some((Some("198.18.5.1".into()), "eth0".into()))
        );
        assert_eq!(
            parse_route_get("198.18.5.1 dev veth0 src 198.18.5.2 uid 0\n"),
            Some((None, "veth0".into()))
        );
        assert_eq!(
            parse_route_get("local 127.0.0.1 dev lo table local src 127.0.0.1\n"),
            None
        );
        assert_eq!(parse_route_get(""), None);
    }
}
