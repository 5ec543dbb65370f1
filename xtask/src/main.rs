//! `cargo xtask`: Strait's own automation, in plain Rust so it runs wherever `cargo` does.
//!
//! The subcommands are the project's single entry points: `cargo xtask test` is the one
//! command that CI and developers run, and everything it needs (apt packages, the foreign
//! standard libraries for the Windows/macOS type-check) it sets up itself. Each external
//! command is printed before it runs, so a failing step can be re-run by copy and paste.
//!
//! The crate uses only `std`: it is built before every test run and must build in seconds.

mod bench;
mod cmd;
mod cross;
mod demo;
mod setup;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo xtask <COMMAND> [OPTIONS]

Commands:
  setup [GROUP...]          install the Debian/Ubuntu packages the tests need (as root);
                            with no GROUP, every group; `setup --list` shows the groups
  test [--no-cross] [--no-interop]
                            the one test command: setup, fmt, clippy, all tests, the
                            interop lab and the Windows/macOS type-check
  demo [--once]             Strait for real: a strongSwan gateway in a network namespace
                            and a live tunnel to it (as root; --once: no waiting)
  bench [--seconds N]       Strait against strongSwan's initiator: connect time and
                            tunnel throughput, with ratios (release build, as root)
  check-targets [TARGET...] type-check the workspace for Windows and macOS with Debian's
                            Rust and -Zbuild-std (default: every target below)
  help                      this text

Options of `test`:
  --no-cross                skip the Windows/macOS type-check (fast local loop, no root)
  --no-interop              skip the strongSwan interop lab (needs root and namespaces)
";

/// An error that ends a subcommand: a sentence for the user, printed as `xtask: error: …`.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The result of an xtask operation.
pub type Result<T> = std::result::Result<T, Error>;

/// The workspace root: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match command.as_str() {
        "setup" => setup::main(rest).map(|()| ExitCode::SUCCESS),
        "test" => test::main(rest),
        "demo" => demo::main(rest),
        "bench" => bench::main(rest),
        "check-targets" => cross::main(rest).map(|()| ExitCode::SUCCESS),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("xtask: unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Rejects any option in `args` that is not in `known`, naming it, so a typo such as
/// `--no-corss` never silently runs the slow path.
pub fn reject_unknown_options(args: &[String], known: &[&str]) -> Result<()> {
    match args
        .iter()
        .find(|a| a.starts_with('-') && !known.contains(&a.as_str()))
    {
        Some(bad) => Err(Error::msg(format!(
            "unknown option `{bad}` (see `cargo xtask help`)"
        ))),
        None => Ok(()),
    }
}
