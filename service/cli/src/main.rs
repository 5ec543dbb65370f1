//! `strait`: the command-line client of the Strait VPN service.
//!
//! A thin client: every command is one or a few requests to `straitd` over its local socket
//! (`STRAIT_SOCKET` or `--socket` overrides the path). The only thing it does itself is read
//! what the service must not: profile files a user names, and secrets from files or the OS
//! keychain. Exit codes are listed in [`error`]; the `--json` shapes in [`output`] and the
//! crate's README.

mod error;
mod import;
mod output;
mod secrets;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use strait_ipc::{ErrorKind, Event, Request, Response, Secrets};

use crate::error::{describe_service_error, CliError, EXIT_FAILED, EXIT_OK};
use crate::secrets::Kind;

/// What the client calls itself in the Hello.
const CLIENT_NAME: &str = concat!("strait-cli ", env!("CARGO_PKG_VERSION"));

/// How many lines `strait logs` shows by default.
const DEFAULT_LOG_LINES: u32 = 200;

#[cfg(unix)]
type Stream = tokio::net::UnixStream;
#[cfg(windows)]
type Stream = tokio::net::windows::named_pipe::NamedPipeClient;
type Client = strait_ipc::Client<Stream>;

/// Strait VPN: connect to IPsec gateways through the Strait service.
#[derive(Debug, Parser)]
#[command(name = "strait", version, about, propagate_version = true)]
struct Cli {
    /// The service's socket (default: $STRAIT_SOCKET, else the system's socket).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate and add profiles; prints the new ids, one per line.
    Import {
        /// Profile files (Strait TOML or another supported format).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the stored profiles.
    List {
        /// Print JSON (a stable, documented shape).
        #[arg(long)]
        json: bool,
    },
    /// Manage the secrets of profiles in the OS keychain.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Connect, and wait until the tunnel is up.
    Connect {
        /// Profile id.
        profile: String,
        /// Take a secret from a file instead of the keychain (trailing newline trimmed).
        #[arg(long = "secret", value_name = "KIND=FILE", value_parser = secrets::parse_secret_arg)]
        secrets: Vec<(Kind, PathBuf)>,
    },
    /// Show the state of every connection.
    Status {
        /// Print JSON (a stable, documented shape).
        #[arg(long)]
        json: bool,
    },
    /// Disconnect one profile, or every connection.
    Disconnect {
        /// Profile id (default: all).
        profile: Option<String>,
    },
    /// Probe a gateway without connecting.
    Diagnose {
        /// Profile id.
        profile: String,
    },
    /// Show the service's recent log lines.
    Logs {
        /// Keep printing new lines until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
        /// How many recent lines to show.
        #[arg(long, short = 'n', value_name = "N", default_value_t = DEFAULT_LOG_LINES)]
        lines: u32,
    },
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Store a secret in the keychain (read from stdin unless --from-file).
    Set {
        /// Profile id.
        profile: String,
        /// Which secret.
        #[arg(value_enum)]
        kind: Kind,
        /// Read the secret from this file (trailing newline trimmed). A key file (PEM, DER,
        /// PKCS#12) that has a password is opened with it (asked on the terminal, or the
        /// first line of stdin) and stored decrypted: the password is never stored.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strait: cannot start: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let path = cli
        .socket
        .clone()
        .unwrap_or_else(strait_ipc::default_socket_path);
    match cli.command {
        Command::Import { files } => import(&path, &files).await,
        Command::List { json } => list(&path, json).await,
        Command::Secret {
            command:
                SecretCommand::Set {
                    profile,
                    kind,
                    from_file,
                },
        } => secret_set(&path, &profile, kind, from_file.as_deref()).await,
        Command::Connect { profile, secrets } => connect(&path, &profile, &secrets).await,
        Command::Status { json } => status(&path, json).await,
        Command::Disconnect { profile } => disconnect(&path, profile).await,
        Command::Diagnose { profile } => Err(CliError::Usage(format!(
            "diagnose {profile}: not implemented yet (this service has no diagnose request)"
        ))),
        Command::Logs { follow, lines } => logs(&path, follow, lines).await,
    }
}

async fn open(path: &Path) -> Result<Client, CliError> {
    Ok(Client::connect(path, CLIENT_NAME).await?)
}

/// Writes to stdout; a closed pipe (`strait logs | head`) ends the command quietly.
fn out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::Reported(EXIT_OK)),
        Err(e) => Err(CliError::Failed(e.into())),
    }
}

fn unexpected(response: &Response) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "the Strait service gave an unexpected answer: {response:?}"
    ))
}

async fn import(path: &Path, files: &[PathBuf]) -> Result<(), CliError> {
    let mut client = open(path).await?;
    let mut failed = false;
    for file in files {
        let request = match import::import_request(file) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
                continue;
            }
        };
        match client.request(request).await {
            Ok(Response::Imported {
                id,
                replaced,
                warnings,
            }) => {
                for w in &warnings {
                    eprintln!("warning: {}: {w}", file.display());
                }
                if replaced {
                    eprintln!("{}: replaced the existing profile `{id}`", file.display());
                }
                out(&format!("{id}\n"))?;
            }
            Ok(other) => return Err(unexpected(&other)),
            Err(strait_ipc::ClientError::Service(e)) => {
                eprint!("{}", describe_service_error(&e));
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if failed {
        Err(CliError::Reported(EXIT_FAILED))
    } else {
        Ok(())
    }
}

async fn list(path: &Path, json: bool) -> Result<(), CliError> {
    let mut client = open(path).await?;
    let profiles = match client.request(Request::ListProfiles).await? {
        Response::Profiles { profiles } => profiles,
        other => return Err(unexpected(&other)),
    };
    if json {
        let doc = output::ListJson {
            profiles: profiles.iter().map(output::ProfileJson::from).collect(),
        };
        out(&output::to_json(&doc)?)
    } else {
        out(&output::profiles_table(&profiles))
    }
}

async fn secret_set(
    path: &Path,
    profile: &str,
    kind: Kind,
    from_file: Option<&Path>,
) -> Result<(), CliError> {
    if profile.is_empty() || profile.contains(['/', '\\']) {
        return Err(CliError::Usage(format!(
            "`{profile}` is not a profile id (`strait list` shows them)"
        )));
    }
    // A typo in the id would store a secret nobody reads: check it when the service is there.
    if let Ok(mut client) = open(path).await {
        if let Ok(Response::Profiles { profiles }) = client.request(Request::ListProfiles).await {
            if !profiles.iter().any(|p| p.id == profile) {
                return Err(CliError::Failed(anyhow::anyhow!(
                    "there is no profile `{profile}`; `strait list` shows the ids"
                )));
            }
        }
    }
    let secret = match from_file {
        Some(file) => secrets::read_secret_file(kind, file)?,
        None => secrets::read_secret_stdin(kind, profile)?,
    };
    secrets::store(profile, kind, &secret).map_err(|e| {
        CliError::Failed(anyhow::anyhow!(
            "cannot store the {} in the keychain: {e}",
            kind.as_str()
        ))
    })?;
    eprintln!(
        "stored the {} for {profile} in the keychain (service `{}`, account `{}`)",
        kind.as_str(),
        secrets::KEYCHAIN_SERVICE,
        secrets::account(profile, kind)
    );
    Ok(())
}

async fn connect(path: &Path, profile: &str, given: &[(Kind, PathBuf)]) -> Result<(), CliError> {
    let mut secrets = Secrets::default();
    for (kind, file) in given {
        *secrets::slot(&mut secrets, *kind) = Some(secrets::read_secret_file(*kind, file)?);
    }
    let mut control = open(path).await?;

    // Which secrets the profile needs, so only those are read from the keychain.
    let needed = match control.request(Request::ListProfiles).await {
        Ok(Response::Profiles { profiles }) => profiles
            .iter()
            .find(|p| p.id == profile)
            .map(|p| Kind::needed_by(&p.method))
            // Not stored: the service says so in its answer to Connect.
            .unwrap_or_default(),
        Ok(_) | Err(strait_ipc::ClientError::Service(_)) => Kind::ALL.to_vec(),
        Err(e) => return Err(e.into()),
    };
    let mut keychain_error = None;
    for kind in needed {
        let slot = secrets::slot(&mut secrets, kind);
        if slot.is_some() {
            continue;
        }
        match secrets::load(profile, kind) {
            Ok(found) => *slot = found,
            Err(e) => keychain_error = Some(e),
        }
    }
    if let Some(e) = &keychain_error {
        eprintln!("warning: cannot read the keychain: {e}");
    }

    // Progress comes as log events on a second connection, so it can be printed while the
    // first one waits for the answer to Connect.
    let mut events = match open(path).await {
        Ok(mut c) => match c.request(Request::Subscribe { logs: true }).await {
            Ok(_) => Some(c),
            Err(_) => None,
        },
        Err(_) => None,
    };

    let request = Request::Connect {
        profile: profile.to_owned(),
        secrets,
    };
    let answer = {
        let connecting = control.request(request);
        tokio::pin!(connecting);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                answer = &mut connecting => break answer,
                event = next_event(&mut events) => {
                    match event {
                        Some(event) => print_progress(profile, &event),
                        None => events = None,
                    }
                }
                _ = &mut ctrl_c => {
                    eprintln!("interrupted; disconnecting {profile}");
                    if let Ok(mut c) = open(path).await {
                        let _ = c.request(Request::Disconnect { profile: Some(profile.to_owned()) }).await;
                    }
                    return Err(CliError::Interrupted);
                }
            }
        }
    };
    // Log lines sent just before the answer may still be on their way (they travel on the
    // event connection): print what arrives within a short grace, but do not keep a connected
    // user waiting for silence.
    let grace = tokio::time::Instant::now() + Duration::from_millis(30);
    while let Ok(Some(event)) = tokio::time::timeout_at(grace, next_event(&mut events)).await {
        print_progress(profile, &event);
    }
    match answer {
        Ok(Response::Status { connections }) => {
            let ours = connections.iter().find(|c| c.profile == profile);
            out(&output::connected_line(profile, ours))
        }
        Ok(_) => out(&output::connected_line(profile, None)),
        Err(strait_ipc::ClientError::Service(e)) => {
            eprint!("{}", describe_service_error(&e));
            if e.kind == ErrorKind::MissingSecret {
                eprintln!(
                    "hint: store it with `strait secret set {profile} psk|password|key`, \
                     or pass it with --secret KIND=FILE"
                );
                if keychain_error.is_some() {
                    eprintln!("      (the keychain could not be read, see the warning above)");
                }
            }
            Err(CliError::Reported(EXIT_FAILED))
        }
        Err(e) => Err(e.into()),
    }
}

/// The next event of an optional subscription; never ready without one. `None` when the
/// subscription ended.
async fn next_event(events: &mut Option<Client>) -> Option<Event> {
    match events {
        Some(client) => client.next_event().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

/// Log lines about `profile` while connecting, on stderr.
fn print_progress(profile: &str, event: &Event) {
    if let Event::Log(line) = event {
        if line.profile.as_deref() == Some(profile) {
            eprint!("{}", output::log_line(line, false));
        }
    }
}

async fn status(path: &Path, json: bool) -> Result<(), CliError> {
    let mut client = open(path).await?;
    let connections = match client.request(Request::Status).await? {
        Response::Status { connections } => connections,
        other => return Err(unexpected(&other)),
    };
    if json {
        let doc = output::StatusJson {
            connections: connections
                .iter()
                .map(output::ConnectionJson::from)
                .collect(),
        };
        out(&output::to_json(&doc)?)
    } else {
        out(&output::status_text(&connections))
    }
}

async fn disconnect(path: &Path, profile: Option<String>) -> Result<(), CliError> {
    let mut client = open(path).await?;
    client
        .request(Request::Disconnect {
            profile: profile.clone(),
        })
        .await?;
    match profile {
        Some(p) => out(&format!("disconnected {p}\n")),
        None => out("disconnected\n"),
    }
}

async fn logs(path: &Path, follow: bool, limit: u32) -> Result<(), CliError> {
    let mut client = open(path).await?;
    if follow {
        // Subscribe first so nothing falls between the backlog and the stream.
        client.request(Request::Subscribe { logs: true }).await?;
    }
    let lines = match client.request(Request::Logs { limit }).await? {
        Response::Logs { lines } => lines,
        other => return Err(unexpected(&other)),
    };
    for line in &lines {
        out(&output::log_line(line, true))?;
    }
    if !follow {
        return Ok(());
    }
    // Lines that arrived as events while the backlog was fetched may be in both.
    let last = lines.last().map(|l| l.time_ms).unwrap_or(0);
    let seen_at_last: Vec<_> = lines.iter().filter(|l| l.time_ms == last).collect();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            event = client.next_event() => match event? {
                Some(Event::Log(line)) => {
                    let old = line.time_ms < last
                        || (line.time_ms == last && seen_at_last.contains(&&line));
                    if !old {
                        out(&output::log_line(&line, true))?;
                    }
                }
                Some(_) => {}
                None => {
                    return Err(CliError::Unreachable(
                        "the Strait service closed the connection".to_owned(),
                    ))
                }
            },
            _ = &mut ctrl_c => return Ok(()),
        }
    }
}
