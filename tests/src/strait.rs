//! Strait's own service and CLI in a lab: `straitd` in the client namespace, driven by the
//! `strait` CLI over its Unix socket (a file, so the CLI needs no namespace).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{wait_until, Lab, Node, ProcessHandle};

/// A Strait binary built next to the running executable: `target/<profile>/<name>`, also from
/// a test binary in `target/<profile>/deps/`.
pub fn strait_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("executable without a directory")?;
    for candidate in [dir.join(name), dir.parent().unwrap_or(dir).join(name)] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    bail!(
        "{name} is not built next to {}: run `cargo build -p straitd -p strait-cli` \
         (`cargo xtask test` does)",
        exe.display()
    )
}

/// A running `straitd` in the client namespace of a lab, stopped with the lab.
pub struct StraitService {
    /// Its IPC socket.
    pub socket: PathBuf,
    /// Its state directory (profiles, network journal, logs).
    pub state_dir: PathBuf,
    /// The process (its output is the service log).
    pub handle: ProcessHandle,
    strait: PathBuf,
}

impl StraitService {
    /// Starts `straitd` (with debug logging) and waits until it listens.
    pub fn start(lab: &Lab) -> Result<StraitService> {
        let socket = lab.dir().join("straitd.sock");
        let state_dir = lab.dir().join("straitd-state");
        let straitd = strait_binary("straitd")?;
        let strait = strait_binary("strait")?;
        let handle = lab.spawn(
            Node::Client,
            "straitd",
            &[
                "env",
                "STRAIT_LOG=debug",
                straitd.to_str().context("path")?,
                "--socket",
                socket.to_str().context("path")?,
                "--state-dir",
                state_dir.to_str().context("path")?,
            ],
        )?;
        if !wait_until(Duration::from_secs(10), || socket.exists()) {
            bail!("straitd did not start:\n{}", handle.output());
        }
        Ok(StraitService {
            socket,
            state_dir,
            handle,
            strait,
        })
    }

    /// Runs the CLI against this service.
    pub fn cli(&self, args: &[&str]) -> Result<Output> {
        Command::new(&self.strait)
            .args(args)
            .env("STRAIT_SOCKET", &self.socket)
            .output()
            .with_context(|| format!("running strait {}", args.join(" ")))
    }

    /// A `strait` command line for a person to copy (with the socket set).
    pub fn cli_hint(&self, args: &str) -> String {
        format!(
            "STRAIT_SOCKET={} {} {args}",
            self.socket.display(),
            self.strait.display()
        )
    }
}
