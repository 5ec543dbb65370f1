//! `cargo xtask demo [--once]`: Strait for real — a strongSwan gateway in a network namespace
//! and a live tunnel to it through `straitd` and the `strait` CLI (see
//! `tests/src/bin/strait-demo.rs`). Installs the packages it needs; runs as root.

use std::process::ExitCode;

use crate::{cmd, reject_unknown_options, setup, workspace_root, Error, Result};

/// `cargo xtask demo [--once]`.
pub fn main(args: &[String]) -> Result<ExitCode> {
    reject_unknown_options(args, &["--once"])?;
    if !setup::is_root() {
        return Err(Error::msg(
            "the demo creates network namespaces and a TUN device: run it as root \
             (sudo \"$(command -v cargo)\" xtask demo)",
        ));
    }
    setup::ensure(&[setup::group("build")?, setup::group("interop")?])?;
    cmd::run(cmd::cargo().args([
        "build",
        "-p",
        "straitd",
        "-p",
        "strait-cli",
        "-p",
        "strait-interop",
        "--bin",
        "strait-demo",
        "--bin",
        "straitd",
        "--bin",
        "strait",
    ]))?;
    let demo = workspace_root().join("target/debug/strait-demo");
    let mut c = std::process::Command::new(demo);
    c.args(args);
    cmd::run(&mut c)?;
    Ok(ExitCode::SUCCESS)
}
