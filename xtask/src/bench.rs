//! `cargo xtask bench [--seconds N]`: Strait against strongSwan's own initiator in one run —
//! time from connect to tunnel up, and iperf3 throughput through the tunnel, per ESP proposal —
//! with the ratios (see `tests/src/bin/strait-bench.rs`). Release build; runs as root.

use std::process::ExitCode;

use crate::{cmd, setup, workspace_root, Error, Result};

/// `cargo xtask bench [--seconds N]`.
pub fn main(args: &[String]) -> Result<ExitCode> {
    if !setup::is_root() {
        return Err(Error::msg(
            "the benchmark runs gateways in network namespaces: run it as root",
        ));
    }
    setup::ensure(&[setup::group("build")?, setup::group("interop")?])?;
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "straitd",
        "-p",
        "strait-cli",
        "-p",
        "strait-interop",
        "--bin",
        "straitd",
        "--bin",
        "strait",
        "--bin",
        "strait-bench",
    ]))?;
    let mut c = std::process::Command::new(workspace_root().join("target/release/strait-bench"));
    c.args(args);
    cmd::run(&mut c)?;
    Ok(ExitCode::SUCCESS)
}
