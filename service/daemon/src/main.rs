//! `straitd`: the Strait service.
//!
//! It owns everything privileged: the UDP sockets IKE and ESP travel on, the TUN device, routes
//! and DNS. Clients (the app, the `strait` CLI) talk to it over a local socket (see
//! `strait-ipc`); it never trusts them with more than their role allows.
//!
//! ```text
//! straitd [--socket PATH] [--state-dir DIR]
//! ```

mod connection;
mod convert;
mod logs;
mod server;
mod service;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};

/// Where profiles, network journals and the like live unless `--state-dir` says otherwise.
fn default_state_dir() -> PathBuf {
    #[cfg(windows)]
    {
        std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
            .join("Strait")
    }
    #[cfg(target_os = "macos")]
    {
        PathBuf::from("/Library/Application Support/Strait")
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        PathBuf::from("/var/lib/strait")
    }
}

struct Args {
    socket: PathBuf,
    state_dir: PathBuf,
}

const USAGE: &str = "usage: straitd [--socket PATH] [--state-dir DIR]";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        socket: strait_ipc::default_socket_path(),
        state_dir: default_state_dir(),
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--socket") => {
                args.socket = it.next().context("--socket needs a path")?.into();
            }
            Some("--state-dir") => {
                args.state_dir = it.next().context("--state-dir needs a directory")?.into();
            }
            Some("-h" | "--help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Some("--version") => {
                println!("straitd {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("straitd: {e:#}");
            std::process::exit(2);
        }
    };
    let (hub, _log_guard) = logs::init(&args.state_dir.join("log"));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("straitd")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("straitd: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(args, hub));
    if let Err(e) = result {
        tracing::error!("{e:#}");
        eprintln!("straitd: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args, hub: Arc<logs::LogHub>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.state_dir).with_context(|| {
        format!(
            "cannot create the state directory {}",
            args.state_dir.display()
        )
    })?;
    match strait_platform::recover(&args.state_dir) {
        Ok(0) => {}
        Ok(n) => tracing::warn!("undid {n} network changes a previous run left behind"),
        Err(e) => tracing::error!("cannot undo what a previous run left behind: {e}"),
    }
    let service = service::Service::new(args.state_dir.clone(), hub);
    let serve = server::serve(service.clone(), args.socket.clone());
    tokio::select! {
        r = serve => r?,
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    service.shutdown().await;
    let _ = std::fs::remove_file(&args.socket);
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
