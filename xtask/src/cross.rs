//! `cargo xtask check-targets`: type-check the workspace for Windows and macOS on Linux.
//!
//! Rust's standard library for those targets cannot be downloaded here, but Debian ships a
//! compiler (`rustc-web`, 1.96) together with the matching std sources (`rust-web-src`), and
//! `-Zbuild-std` compiles std for the foreign target from them. That checks `cfg(windows)` and
//! `cfg(target_os = "macos")` code for real (see `lab-notes.md`, "Type-checking Windows and
//! macOS code on Linux"). Compiler and sources must be the same version, so this always uses
//! Debian's `/usr/bin/cargo` and `/usr/bin/rustc`, never rustup's.
//!
//! It checks libraries and binaries (no tests, benches or examples), warnings denied, with
//! `--no-default-features`: the default `ring` feature of `strait-crypto` compiles C that needs
//! a Windows or macOS SDK, so there the pure-Rust provider is what gets checked.
//!
//! All targets share one target directory, `target/cross`, so the std builds (about a minute
//! per target) are cached between runs.

use std::path::Path;
use std::process::Command;

use crate::{cmd, reject_unknown_options, workspace_root, Error, Result};

/// A foreign target to type-check.
#[derive(Debug)]
pub struct Target {
    /// The target triple.
    pub triple: &'static str,
    /// C compiler and archiver for build scripts that compile C for this target (`cc` crate).
    pub c_tools: Option<(&'static str, &'static str)>,
}

/// The targets `check-targets` checks by default: what Strait ships on besides Linux.
pub const TARGETS: &[Target] = &[
    Target {
        triple: "x86_64-pc-windows-msvc",
        c_tools: None,
    },
    Target {
        triple: "aarch64-apple-darwin",
        c_tools: Some(("clang", "llvm-ar")),
    },
    Target {
        triple: "x86_64-apple-darwin",
        c_tools: Some(("clang", "llvm-ar")),
    },
];

/// Workspace members that are not checked, and why.
pub const EXCLUDED: &[(&str, &str)] = &[
    ("xtask", "host-only automation"),
    (
        "strait-interop",
        "the interop lab is Linux-only (network namespaces)",
    ),
    // The Tauri app does type-check for Windows this way (x86_64-pc-windows-msvc passed with
    // -Dwarnings on 2026-11-23: Tauri 2, tray-icon, keyring's windows-native, the named-pipe
    // client), but its dependency tree (WebView2/wry, tao, muda, the windows crate) costs
    // about 7 minutes on CI's two cores for the first target, well over the app's CI budget.
    // Remove this entry to check it again.
    (
        "strait-app",
        "the Tauri dependency tree takes ~7 min per cold check on CI; checked by hand",
    ),
];

/// The package groups (see [`crate::setup::GROUPS`]) this check needs.
pub const SETUP_GROUPS: &[&str] = &["cross"];

/// Debian's compiler and cargo: fixed paths, because rustup's proxies come first in `PATH`.
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// `cargo xtask check-targets [TARGET...]`.
pub fn main(args: &[String]) -> Result<()> {
    reject_unknown_options(args, &[])?;
    let targets = if args.is_empty() {
        TARGETS.iter().collect()
    } else {
        args.iter()
            .map(|a| {
                TARGETS.iter().find(|t| t.triple == a).ok_or_else(|| {
                    let known: Vec<_> = TARGETS.iter().map(|t| t.triple).collect();
                    Error::msg(format!(
                        "unknown target `{a}` (known: {})",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    check(&targets)
}

/// Checks every target, also after one fails, so one run shows every broken platform.
pub fn check(targets: &[&Target]) -> Result<()> {
    preflight()?;
    let mut failed = Vec::new();
    for target in targets {
        println!("--- check {}", target.triple);
        let (result, took) = cmd::timed(|| cmd::run(&mut check_command(target)));
        match result {
            Ok(()) => println!("--- {}: ok in {}", target.triple, cmd::human(took)),
            Err(e) => {
                println!("--- {}: FAILED in {}: {e}", target.triple, cmd::human(took));
                failed.push(target.triple);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "code does not compile for {}",
            failed.join(", ")
        )))
    }
}

/// Fails early, with the fix, when Debian's toolchain is not there.
fn preflight() -> Result<()> {
    let sysroot = cmd::output(Command::new(DEBIAN_RUSTC).args(["--print", "sysroot"]));
    let has_src = sysroot.as_deref().is_some_and(|s| {
        Path::new(s.trim())
            .join("lib/rustlib/src/rust/library/std")
            .is_dir()
    });
    if !Path::new(DEBIAN_CARGO).exists() || !has_src {
        return Err(Error::msg(format!(
            "Debian's Rust with std sources is missing ({DEBIAN_CARGO}, {DEBIAN_RUSTC} and \
             its lib/rustlib/src); run `cargo xtask setup {}` as root",
            SETUP_GROUPS.join(" ")
        )));
    }
    Ok(())
}

/// The `cargo check` of one target, with Debian's toolchain and a clean environment.
fn check_command(target: &Target) -> Command {
    let root = workspace_root();
    let mut c = Command::new(DEBIAN_CARGO);
    c.current_dir(&root);
    // `cargo xtask` runs us under rustup: drop what would steer the child to rustup's
    // toolchain (cargo re-exports `CARGO` to build scripts; rustup's proxies honour
    // `RUSTUP_TOOLCHAIN`), and put /usr/bin first for build scripts that run `rustc`.
    for var in [
        "CARGO",
        "RUSTUP_TOOLCHAIN",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        c.env_remove(var);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![std::path::PathBuf::from("/usr/bin")];
    dirs.extend(std::env::split_paths(&path));
    if let Ok(joined) = std::env::join_paths(dirs) {
        c.env("PATH", joined);
    }
    // Warnings are errors, as in the clippy step: an import or function that only the Linux
    // build uses shows up only here. A fixed RUSTFLAGS also keeps `target/cross` reusable (a
    // change of flags would rebuild std).
    c.env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", "-Dwarnings")
        .env("RUSTC", DEBIAN_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1");
    if let Some((cc, ar)) = target.c_tools {
        let suffix = target.triple.replace('-', "_");
        c.env(format!("CC_{suffix}"), cc)
            .env(format!("AR_{suffix}"), ar);
    }
    c.args(["check", "-Zbuild-std=std,panic_abort", "--target"])
        .arg(target.triple)
        .arg("--target-dir")
        .arg(root.join("target").join("cross"))
        // Keep going past a crate that fails, so one run reports every broken crate.
        .args(["--workspace", "--no-default-features", "--keep-going"]);
    for (package, _why) in EXCLUDED {
        c.args(["--exclude", package]);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_uses_debian_toolchain_and_one_shared_target_dir() {
        let mac = &TARGETS[1];
        let shown = cmd::display(&check_command(mac));
        assert!(shown.contains("RUSTC=/usr/bin/rustc"), "{shown}");
        assert!(shown.contains("PATH=\"/usr/bin:$PATH\" "), "{shown}");
        assert!(shown.contains("RUSTC_BOOTSTRAP=1"), "{shown}");
        assert!(shown.contains("RUSTFLAGS=-Dwarnings"), "{shown}");
        assert!(shown.contains("CC_aarch64_apple_darwin=clang"), "{shown}");
        assert!(shown.contains("AR_aarch64_apple_darwin=llvm-ar"), "{shown}");
        assert!(
            shown.contains(
                "/usr/bin/cargo check -Zbuild-std=std,panic_abort --target aarch64-apple-darwin"
            ),
            "{shown}"
        );
        assert!(shown.contains("--exclude xtask"), "{shown}");
        assert!(shown.contains("--no-default-features"), "{shown}");

        let dirs: Vec<_> = TARGETS
            .iter()
            .map(|t| {
                let c = check_command(t);
                let args: Vec<_> = c.get_args().collect();
                let i = args.iter().position(|a| *a == "--target-dir").unwrap();
                args[i + 1].to_owned()
            })
            .collect();
        assert!(dirs.windows(2).all(|w| w[0] == w[1]), "{dirs:?}");
    }
}
