//! Talking to `straitd` through `strait-ipc`, the only way the app reaches the service (it
//! never links the daemon).
//!
//! One long-lived connection is subscribed to the service's events ([`watch`]) and keeps the
//! [`Snapshot`] current; each user action opens its own short connection, so a slow connect
//! never holds up the event stream. When the service cannot be reached the snapshot says so,
//! and the watcher tries again every [`RETRY`].

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use strait_ipc::{Client, ClientError, Event, LogLine, Request, Response};
use tauri::{AppHandle, Emitter, Manager};

use crate::keychain::{self, Kind};
use crate::model::{transition_notice, Notice, ProfileView, ServiceState, Snapshot};
use crate::tray;

/// How the app introduces itself to the service.
pub const CLIENT_NAME: &str = concat!("strait-app ", env!("CARGO_PKG_VERSION"));
/// How long to wait before looking for the service again.
pub const RETRY: Duration = Duration::from_secs(2);
/// Event carrying a new [`Snapshot`] to the web view.
pub const SNAPSHOT_EVENT: &str = "strait://snapshot";
/// Event carrying one [`LogLine`].
pub const LOG_EVENT: &str = "strait://log";
/// Event carrying a [`UiError`] from an action the web view did not start (tray, file open).
pub const ERROR_EVENT: &str = "strait://error";
/// Event carrying an [`Imported`] profile from a file opened with the app or dropped on it.
pub const IMPORTED_EVENT: &str = "strait://imported";
/// Log lines kept for the window.
const LOG_LINES: usize = 500;

#[cfg(unix)]
type Stream = tokio::net::UnixStream;
#[cfg(windows)]
type Stream = tokio::net::windows::named_pipe::NamedPipeClient;

/// A connection to the service.
pub type ServiceClient = Client<Stream>;

/// Where the service listens (`STRAIT_SOCKET` overrides it).
pub fn socket_path() -> PathBuf {
    strait_ipc::default_socket_path()
}

/// Connects to the service.
pub async fn connect() -> Result<ServiceClient, ClientError> {
    Client::connect(&socket_path(), CLIENT_NAME).await
}

/// What the app shares between the tray, the commands and the watcher.
#[derive(Debug, Default)]
pub struct Shared {
    snapshot: Mutex<Snapshot>,
    logs: Mutex<VecDeque<LogLine>>,
    tray: Mutex<Option<tray::Applied>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// A copy of the current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.snapshot).clone()
    }

    /// Changes the snapshot.
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut lock(&self.snapshot));
    }

    /// The recent log lines, oldest first.
    pub fn logs(&self) -> Vec<LogLine> {
        lock(&self.logs).iter().cloned().collect()
    }

    fn push_log(&self, line: LogLine) {
        let mut logs = lock(&self.logs);
        if logs.len() == LOG_LINES {
            logs.pop_front();
        }
        logs.push_back(line);
    }

    /// The tray as last applied (so it is rebuilt only when it changes).
    pub fn tray(&self) -> MutexGuard<'_, Option<tray::Applied>> {
        lock(&self.tray)
    }
}

/// The shared state of an app.
pub fn shared(app: &AppHandle) -> Arc<Shared> {
    app.state::<Arc<Shared>>().inner().clone()
}

/// Sends the snapshot to the window and applies it to the tray.
pub fn publish(app: &AppHandle) {
    let snapshot = shared(app).snapshot();
    if let Err(e) = app.emit(SNAPSHOT_EVENT, &snapshot) {
        eprintln!("strait-app: cannot send the state to the window: {e}");
    }
    tray::update(app, &snapshot);
}

/// Shows a desktop notification. Best effort: without a notification server (a bare X
/// server, a locked-down desktop) it is only logged, and the app carries on.
pub fn notify(app: &AppHandle, notice: &Notice) {
    use tauri_plugin_notification::NotificationExt;
    eprintln!("strait-app: notification: {}", notice.body);
    if let Err(e) = app
        .notification()
        .builder()
        .title(&notice.title)
        .body(&notice.body)
        .show()
    {
        eprintln!("strait-app: cannot show a notification: {e}");
    }
}

/// An error as the window shows it: plain words first, technical detail folded away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct UiError {
    /// "service_down", "missing_secret", "service", "import", "keychain", "autostart",
    /// "key_password" (a key file needs its password, or the one given is wrong), "key_file".
    pub kind: &'static str,
    /// Plain words, with what to do.
    pub message: String,
    /// Technical detail.
    pub detail: Option<String>,
    /// For `missing_secret`: the profile and the kind to ask for.
    pub secret: Option<(String, &'static str)>,
}

impl UiError {
    /// An error without detail.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        UiError {
            kind,
            message: message.into(),
            detail: None,
            secret: None,
        }
    }
}

/// What to do when the service is not reachable, for this OS.
pub fn service_down_hint() -> &'static str {
    if cfg!(windows) {
        "Start the “Strait” service in Services (or reinstall Strait), then try again."
    } else if cfg!(target_os = "macos") {
        "Start it with `sudo launchctl kickstart -k system/org.strait-vpn.straitd` (or reinstall \
         Strait), then try again."
    } else {
        "Start it with `sudo systemctl start straitd`. If it is running, add yourself to the \
         `strait` group (`sudo usermod -aG strait $USER`) and log in again."
    }
}

impl From<ClientError> for UiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unreachable { path, source } => UiError {
                kind: "service_down",
                message: format!("The Strait service is not running. {}", service_down_hint()),
                detail: Some(format!("{path}: {source}")),
                secret: None,
            },
            ClientError::Service(e) => UiError {
                kind: "service",
                message: e.message,
                detail: e.detail,
                secret: None,
            },
            other => UiError::new("service", other.to_string()),
        }
    }
}

/// A profile that was imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// Its id.
    pub id: String,
    /// Whether it replaced one with the same id.
    pub replaced: bool,
    /// What the user should read (weak algorithms, …).
    pub warnings: Vec<String>,
}

/// Watches the service for as long as the app runs.
pub async fn watch(app: AppHandle) {
    loop {
        let error = match watch_once(&app).await {
            Ok(()) => UiError::new(
                "service_down",
                format!("The Strait service stopped. {}", service_down_hint()),
            ),
            Err(e) => UiError::from(e),
        };
        let socket = socket_path().display().to_string();
        let state = shared(&app);
        let changed = {
            let mut changed = false;
            state.update(|s| {
                let next = ServiceState::Unreachable {
                    // The window's heading already says that the service is not running.
                    message: if error.kind == "service_down" {
                        service_down_hint().to_owned()
                    } else {
                        error.message.clone()
                    },
                    socket,
                };
                changed = s.service != next;
                s.service = next;
                // What the service reported is no longer known.
                s.connections.clear();
            });
            changed
        };
        if changed {
            publish(&app);
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn watch_once(app: &AppHandle) -> Result<(), ClientError> {
    let mut client = connect().await?;
    client.request(Request::Subscribe { logs: true }).await?;
    let profiles = list_profiles(&mut client).await?;
    let connections = match client.request(Request::Status).await? {
        Response::Status { connections } => connections,
        _ => Vec::new(),
    };
    let state = shared(app);
    if let Response::Logs { lines } = client.request(Request::Logs { limit: 200 }).await? {
        for line in lines {
            state.push_log(line);
        }
    }
    let version = client.server_version.clone();
    state.update(|s| {
        s.service = ServiceState::Running { version };
        s.profiles = profiles;
        s.connections = connections;
    });
    publish(app);
    while let Some(event) = client.next_event().await? {
        match event {
            Event::State { status } => {
                let mut notice = None;
                state.update(|s| {
                    notice = transition_notice(s, &status);
                    s.apply_status(*status);
                });
                publish(app);
                if let Some(notice) = notice {
                    notify(app, &notice);
                }
            }
            Event::Counters {
                profile,
                counters,
                ike_rekey_in_secs,
                child_rekey_in_secs,
            } => {
                state.update(|s| {
                    s.apply_counters(&profile, counters, (ike_rekey_in_secs, child_rekey_in_secs))
                });
                publish(app);
            }
            Event::Log(line) => {
                state.push_log(line.clone());
                if let Err(e) = app.emit(LOG_EVENT, &line) {
                    eprintln!("strait-app: cannot send a log line to the window: {e}");
                }
            }
        }
    }
    Ok(())
}

/// The service's profiles with which of their secrets the keychain holds.
async fn list_profiles(client: &mut ServiceClient) -> Result<Vec<ProfileView>, ClientError> {
    let Response::Profiles { profiles } = client.request(Request::ListProfiles).await? else {
        return Ok(Vec::new());
    };
    // The keychain calls block (D-Bus, or a prompt to unlock): off the async threads.
    let views = tauri::async_runtime::spawn_blocking(move || {
        profiles
            .into_iter()
            .map(|summary| {
                let needs = Kind::needed_by(&summary.method);
                let stored = needs
                    .iter()
                    .filter(|k| keychain::has(&summary.id, **k))
                    .map(|k| k.as_str())
                    .collect();
                ProfileView {
                    needs: needs.into_iter().map(Kind::as_str).collect(),
                    stored,
                    summary,
                }
            })
            .collect()
    })
    .await;
    Ok(views.unwrap_or_default())
}

/// Reads the profiles again (after an import, a removal or a secret change).
pub async fn refresh_profiles(app: &AppHandle) -> Result<(), UiError> {
    let mut client = connect().await?;
    let profiles = list_profiles(&mut client).await?;
    shared(app).update(|s| s.profiles = profiles);
    publish(app);
    Ok(())
}

/// Imports a profile file.
pub async fn import(app: &AppHandle, path: PathBuf) -> Result<Imported, UiError> {
    let request =
        tauri::async_runtime::spawn_blocking(move || crate::import::import_request(&path))
            .await
            .map_err(|e| UiError::new("import", e.to_string()))?
            .map_err(|m| UiError::new("import", m))?;
    let mut client = connect().await?;
    let imported = match client.request(request).await? {
        Response::Imported {
            id,
            replaced,
            warnings,
        } => Imported {
            id,
            replaced,
            warnings,
        },
        other => {
            return Err(UiError::new(
                "service",
                format!("the service answered an import with {other:?}"),
            ))
        }
    };
    refresh_profiles(app).await?;
    Ok(imported)
}

/// Connects a profile with the secrets from the keychain; returns when the tunnel is up.
pub async fn connect_profile(app: &AppHandle, profile: String) -> Result<(), UiError> {
    let snapshot = shared(app).snapshot();
    let Some(view) = snapshot.profiles.iter().find(|p| p.summary.id == profile) else {
        return Err(UiError::new(
            "service",
            format!("There is no profile `{profile}`: import it first."),
        ));
    };
    let name = view.summary.name.clone();
    let method = view.summary.method.clone();
    let id = profile.clone();
    let secrets = tauri::async_runtime::spawn_blocking(move || keychain::secrets_for(&id, &method))
        .await
        .map_err(|e| UiError::new("keychain", e.to_string()))?;
    let secrets = match secrets {
        Ok(s) => s,
        Err(missing) => {
            let message = match &missing.keychain_error {
                None if missing.kind == Kind::Key => format!(
                    "Import the private key of “{name}” first (“Import private key…”): Strait \
                     keeps it in your keychain."
                ),
                None => format!(
                    "Enter the {} of “{name}” first: Strait keeps it in your keychain.",
                    missing.kind.human()
                ),
                Some(_) => format!(
                    "Cannot read the {} of “{name}” from your keychain: unlock the keychain \
                     and try again.",
                    missing.kind.human()
                ),
            };
            return Err(UiError {
                kind: "missing_secret",
                message,
                detail: missing.keychain_error,
                secret: Some((profile, missing.kind.as_str())),
            });
        }
    };
    let mut client = connect().await?;
    client
        .request(Request::Connect { profile, secrets })
        .await?;
    Ok(())
}

/// Disconnects a profile.
pub async fn disconnect_profile(profile: String) -> Result<(), UiError> {
    let mut client = connect().await?;
    client
        .request(Request::Disconnect {
            profile: Some(profile),
        })
        .await?;
    Ok(())
}

/// Removes a profile and its secrets.
pub async fn remove_profile(app: &AppHandle, profile: String) -> Result<(), UiError> {
    let mut client = connect().await?;
    client
        .request(Request::RemoveProfile {
            profile: profile.clone(),
        })
        .await?;
    let id = profile.clone();
    // Best effort: a profile without secrets, or a locked keychain, must not fail the removal.
    let _ = tauri::async_runtime::spawn_blocking(move || {
        for kind in Kind::ALL {
            let _ = keychain::delete(&id, kind);
        }
    })
    .await;
    refresh_profiles(app).await
}

/// Reports an error of an action the window did not start (tray menu, opened file).
pub fn report(app: &AppHandle, error: &UiError) {
    eprintln!("strait-app: {}", error.message);
    if let Err(e) = app.emit(ERROR_EVENT, error) {
        eprintln!("strait-app: cannot send an error to the window: {e}");
    }
}
