//! `cargo xtask setup`: the Debian/Ubuntu packages the tests need, installed with apt-get.
//!
//! Packages come in named groups (one row of [`GROUPS`] each), so a test step asks for exactly
//! what it uses and a new kind of test adds a row. Setup is idempotent: it asks dpkg what is
//! already installed and runs apt-get only for what is missing, so `cargo xtask test` can call
//! it every time at the cost of one `dpkg-query`.

use std::collections::BTreeSet;
use std::process::Command;

use crate::{cmd, reject_unknown_options, Error, Result};

/// A set of packages that one kind of test needs.
#[derive(Debug)]
pub struct Group {
    /// The name used on the command line (`cargo xtask setup NAME`).
    pub name: &'static str,
    /// What the group is for, shown by `setup --list`.
    pub purpose: &'static str,
    /// Debian package names.
    pub packages: &'static [&'static str],
    /// `debconf-set-selections` lines fed in before installing, so no package asks a question.
    pub preseed: &'static [&'static str],
}

/// Every package group, in the order `setup` with no arguments installs them.
pub const GROUPS: &[Group] = &[
    Group {
        name: "build",
        purpose: "building the workspace on Linux: D-Bus headers for the keychain (keyring's \
                  Secret Service backend in strait-cli)",
        packages: &["libdbus-1-dev", "pkg-config"],
        preseed: &[],
    },
    Group {
        name: "keychain",
        purpose: "the keychain test: a real Secret Service (gnome-keyring) on a private D-Bus",
        packages: &["gnome-keyring", "dbus-x11", "libsecret-tools"],
        preseed: &[],
    },
    Group {
        name: "cross",
        purpose: "Windows/macOS type-check: Debian's Rust 1.96 with its std sources (for \
                  -Zbuild-std), and clang/llvm-ar for C in build scripts",
        packages: &["rustc-web", "cargo-web", "rust-web-src", "clang", "llvm"],
        preseed: &[],
    },
    Group {
        name: "app",
        purpose: "building the Tauri v2 desktop app (strait-app): GTK 3, WebKitGTK 4.1, \
                  libsoup 3, the tray (Ayatana AppIndicator), librsvg, libxdo",
        packages: &[
            "build-essential",
            "pkg-config",
            "libssl-dev",
            "libgtk-3-dev",
            "libwebkit2gtk-4.1-dev",
            "libayatana-appindicator3-dev",
            "librsvg2-dev",
            "libxdo-dev",
            "libsoup-3.0-dev",
            "libjavascriptcoregtk-4.1-dev",
        ],
        preseed: &[],
    },
    Group {
        name: "node",
        purpose: "the app's web front end (ui/): Node.js and npm for Vite, TypeScript and \
                  Vitest (asked for only when `npm` is not on PATH, so a Node.js installed \
                  another way is left alone)",
        packages: &["nodejs", "npm"],
        preseed: &[],
    },
    Group {
        name: "app-e2e",
        purpose: "the app's end-to-end test: a virtual display (Xvfb) and WebKitWebDriver, \
                  which tauri-driver drives",
        packages: &["xvfb", "webkit2gtk-driver", "xauth"],
        preseed: &[],
    },
    Group {
        name: "interop",
        purpose: "interop lab: strongSwan gateway with userspace ESP, namespaces, nftables, \
                  iperf3 and tshark",
        packages: &[
            "strongswan-charon",
            "strongswan-swanctl",
            "strongswan-pki",
            "libstrongswan-standard-plugins",
            "libstrongswan-extra-plugins",
            "libcharon-extra-plugins",
            "libcharon-extauth-plugins",
            "iproute2",
            "nftables",
            "iperf3",
            "tshark",
            "iputils-ping",
            "tcpdump",
            // Libreswan's pluto, unpacked from its .deb by the lab (it conflicts with
            // strongSwan's packages), needs these libraries.
            "libldns3",
            "libevent-pthreads-2.1-7",
            "libnss3-tools",
            "libunbound8",
            "libcurl3-nss",
        ],
        // Otherwise wireshark-common asks whether non-root users may capture.
        preseed: &["wireshark-common wireshark-common/install-setuid boolean false"],
    },
];

/// Looks a group up by name; the error lists the groups that exist.
pub fn group(name: &str) -> Result<&'static Group> {
    GROUPS.iter().find(|g| g.name == name).ok_or_else(|| {
        let names: Vec<_> = GROUPS.iter().map(|g| g.name).collect();
        Error::msg(format!(
            "unknown package group `{name}` (groups: {})",
            names.join(", ")
        ))
    })
}

/// `cargo xtask setup [--list] [GROUP...]`.
pub fn main(args: &[String]) -> Result<()> {
    reject_unknown_options(args, &["--list"])?;
    if args.iter().any(|a| a == "--list") {
        for g in GROUPS {
            println!("{:<10} {}", g.name, g.purpose);
            println!("{:<10} packages: {}", "", g.packages.join(" "));
        }
        return Ok(());
    }
    let groups = if args.is_empty() {
        // A Node.js installed another way (nodesource) conflicts with Debian's npm: leave it.
        let have_npm = crate::test::which("npm").is_some();
        GROUPS
            .iter()
            .filter(|g| !(g.name == "node" && have_npm))
            .collect()
    } else {
        args.iter().map(|a| group(a)).collect::<Result<Vec<_>>>()?
    };
    ensure(&groups)
}

/// Makes sure every package of `groups` is installed, installing the missing ones.
pub fn ensure(groups: &[&Group]) -> Result<()> {
    let names: Vec<&str> = groups.iter().map(|g| g.name).collect();
    let wanted: BTreeSet<&str> = groups.iter().flat_map(|g| g.packages).copied().collect();
    let installed = installed_packages(&wanted)?;
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !installed.contains(*p))
        .collect();
    if missing.is_empty() {
        println!(
            "setup: all {} packages of {} are installed",
            wanted.len(),
            names.join(", ")
        );
        return Ok(());
    }
    println!("setup: missing: {}", missing.join(" "));
    if !is_root() {
        return Err(Error::msg(format!(
            "installing packages needs root; run\n    sudo \"$(command -v cargo)\" xtask setup {}\n\
             or install them yourself: sudo apt-get install {}",
            names.join(" "),
            missing.join(" ")
        )));
    }

    let preseed: Vec<&str> = groups
        .iter()
        .filter(|g| g.packages.iter().any(|p| missing.contains(p)))
        .flat_map(|g| g.preseed)
        .copied()
        .collect();
    if !preseed.is_empty() {
        preseed_debconf(&preseed)?;
    }

    // Wait for another apt (say, unattended-upgrades) instead of failing on its lock.
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-o", "DPkg::Lock::Timeout=600", "-q"])
            .args(args);
        c
    };
    cmd::run(&mut apt(&["update"]))?;
    cmd::run(apt(&["install", "-y", "--no-install-recommends"]).args(&missing))?;

    let installed = installed_packages(&wanted)?;
    let still: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !installed.contains(*p))
        .collect();
    if still.is_empty() {
        println!("setup: installed {}", missing.join(" "));
        Ok(())
    } else {
        Err(Error::msg(format!(
            "apt-get succeeded but these are still not installed: {}",
            still.join(" ")
        )))
    }
}

/// Which of `packages` dpkg reports as installed. dpkg-query exits non-zero when it knows
/// nothing about some package, but still reports the others, so its status is ignored and
/// only its output is read.
fn installed_packages(packages: &BTreeSet<&str>) -> Result<BTreeSet<String>> {
    let out = Command::new("dpkg-query")
        .arg("-W")
        .arg("-f=${Package} ${Status}\n")
        .args(packages)
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::msg(format!(
                "cannot run dpkg-query ({e}): `cargo xtask setup` supports Debian and Ubuntu; \
                 elsewhere install the equivalents of: {}",
                packages.iter().copied().collect::<Vec<_>>().join(" ")
            ))
        })?;
    Ok(parse_installed(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `${Package} ${Status}` lines: a package is installed when the status's last word
/// (the "current state") is `installed` — not `config-files`, `half-installed` and so on.
fn parse_installed(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let package = words.next()?;
            (words.last() == Some("installed")).then(|| package.to_string())
        })
        .collect()
}

fn preseed_debconf(lines: &[&str]) -> Result<()> {
    use std::io::Write;
    let mut c = Command::new("debconf-set-selections");
    println!("$ {} <<< {:?}", cmd::display(&c), lines.join("\n"));
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::msg(format!("cannot run debconf-set-selections: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        for line in lines {
            writeln!(stdin, "{line}")
                .map_err(|e| Error::msg(format!("writing to debconf-set-selections: {e}")))?;
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::msg(format!("waiting for debconf-set-selections: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "debconf-set-selections failed ({status})"
        )))
    }
}

/// Whether we run as root. Read from `/proc/self/status` (effective uid, the second number
/// of its `Uid:` line) so that no `unsafe` call to `geteuid` is needed; `id -u` elsewhere.
pub fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(euid) = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
        {
            return euid == "0";
        }
    }
    cmd::output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fully_installed_packages_count() {
        let out = "clang install ok installed\n\
                   llvm deinstall ok config-files\n\
                   tshark install ok half-installed\n\
                   iperf3 hold ok installed\n";
        let got = parse_installed(out);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            ["clang".to_string(), "iperf3".to_string()]
        );
    }

    #[test]
    fn group_names_are_unique_and_lookups_name_the_groups() {
        let names: BTreeSet<_> = GROUPS.iter().map(|g| g.name).collect();
        assert_eq!(names.len(), GROUPS.len());
        assert!(group("cross").is_ok());
        let err = group("tauri-typo").unwrap_err().to_string();
        assert!(err.contains("cross") && err.contains("interop"), "{err}");
    }

    #[test]
    fn root_detection_agrees_with_id() {
        let id = cmd::output(Command::new("id").arg("-u")).unwrap();
        assert_eq!(is_root(), id.trim() == "0");
    }
}
