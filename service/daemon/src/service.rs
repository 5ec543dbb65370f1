//! The service's state and request handling: profiles, connections, status and logs.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strait_ipc::{
    Attachment, ConnState, ErrorKind, Event, IpcError, ProfileSummary, Request, Response, Role,
    Secrets,
};
use strait_profile::ProfileStore;
use strait_profile::{AuthMethod, IkeVersion, Profile};
use tokio::sync::{broadcast, Mutex};
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::connection::{self, Command, ConnHandle, ConnectParams};
use crate::convert::{self, ConnSecrets};
use crate::logs::LogHub;

/// Largest number of log lines one request may ask for.
const MAX_LOG_LINES: u32 = 5000;
/// How long a disconnect may take before we stop waiting (the SA is dropped anyway).
const DISCONNECT_WAIT: Duration = Duration::from_secs(10);

/// Shared by every client connection.
pub struct Service {
    state_dir: PathBuf,
    store: ProfileStore,
    connections: Mutex<HashMap<String, ConnHandle>>,
    events: broadcast::Sender<Event>,
    pub logs: Arc<LogHub>,
}

fn not_found(id: &str) -> IpcError {
    IpcError::new(
        ErrorKind::NotFound,
        format!("there is no profile `{id}`; `strait list` shows the profiles, `strait import` adds one"),
    )
}

fn denied(what: &str) -> IpcError {
    IpcError::new(
        ErrorKind::PermissionDenied,
        format!("you may not {what}: ask an administrator to add you to the `strait` group"),
    )
}

fn version_name(v: IkeVersion) -> &'static str {
    match v {
        IkeVersion::Ikev2 => "ikev2",
        IkeVersion::Ikev1Main => "ikev1-main",
        IkeVersion::Ikev1Aggressive => "ikev1-aggressive",
    }
}

impl Service {
    /// The service with its profile store under `state_dir`.
    pub fn new(state_dir: PathBuf, logs: Arc<LogHub>) -> Arc<Service> {
        let (events, _) = broadcast::channel(1024);
        Arc::new(Service {
            store: ProfileStore::new(state_dir.join("profiles")),
            state_dir,
            connections: Mutex::new(HashMap::new()),
            events,
            logs,
        })
    }

    /// Events for a subscribed client.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Answers one request from a client with `role`.
    pub async fn handle(&self, role: Role, request: Request) -> Result<Response, IpcError> {
        if role == Role::None {
            return Err(denied("use the Strait service"));
        }
        match request {
            Request::ListProfiles => self.list(),
            Request::ImportProfile {
                file_name,
                contents,
                attachments,
            } => self.import(&file_name, &contents, &attachments),
            Request::RemoveProfile { profile } => {
                if self.is_active(&profile).await {
                    return Err(IpcError::new(
                        ErrorKind::BadRequest,
                        format!("`{profile}` is connected; disconnect it first"),
                    ));
                }
                // A failed connection may still hold its kill switch: it ends with its profile.
                if self.connections.lock().await.contains_key(&profile) {
                    let _ = self.disconnect(Some(profile.clone())).await;
                }
                self.store
                    .remove(&profile)
                    .map_err(|e| store_error(&profile, e))?;
                info!("removed profile {profile}");
                Ok(Response::Ok)
            }
            Request::Connect { profile, secrets } => self.connect(profile, secrets).await,
            Request::Disconnect { profile } => self.disconnect(profile).await,
            Request::Status => Ok(Response::Status {
                connections: self.statuses().await,
            }),
            Request::Logs { limit } => Ok(Response::Logs {
                lines: self.logs.recent(limit.min(MAX_LOG_LINES) as usize),
            }),
            // Subscriptions are per client; the server handles them before calling us.
            Request::Subscribe { .. } => Ok(Response::Ok),
        }
    }

    fn list(&self) -> Result<Response, IpcError> {
        let ids = self
            .store
            .ids()
            .map_err(|e| IpcError::new(ErrorKind::Internal, e.to_string()))?;
        let profiles = ids
            .into_iter()
            .map(|id| match self.store.get(&id) {
                Ok(p) => ProfileSummary {
                    id,
                    name: p.name.clone(),
                    gateway: p.gateway.to_string(),
                    version: version_name(p.version).to_owned(),
                    method: p.auth.method.as_str().to_owned(),
                    managed: false,
                    local_id: p.auth.local_id.as_ref().map(|i| i.to_string()),
                    remote_id: Some(p.auth.remote_id.to_string()),
                    username: p.auth.username.clone(),
                    routes: p.network.routes.iter().map(|r| r.to_string()).collect(),
                    ike: p.crypto.ike_text.clone(),
                    esp: p.crypto.esp_text.clone(),
                },
                Err(e) => ProfileSummary {
                    name: format!("(invalid: {e})"),
                    id,
                    gateway: String::new(),
                    version: String::new(),
                    method: String::new(),
                    managed: false,
                    local_id: None,
                    remote_id: None,
                    username: None,
                    routes: Vec::new(),
                    ike: Vec::new(),
                    esp: Vec::new(),
                },
            })
            .collect();
        Ok(Response::Profiles { profiles })
    }

    fn import(
        &self,
        file_name: &str,
        contents: &str,
        attachments: &[Attachment],
    ) -> Result<Response, IpcError> {
        let bad = |m: String| IpcError::new(ErrorKind::InvalidProfile, m);
        let name = safe_relative(file_name)
            .filter(|p| p.components().count() == 1)
            .ok_or_else(|| bad(format!("`{file_name}` is not a plain file name")))?;
        let staging = tempfile::tempdir()
            .map_err(|e| IpcError::new(ErrorKind::Internal, format!("temporary directory: {e}")))?;
        let write = |rel: &Path, data: &[u8]| -> Result<(), IpcError> {
            let path = staging.path().join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| IpcError::new(ErrorKind::Internal, e.to_string()))?;
            }
            std::fs::write(&path, data)
                .map_err(|e| IpcError::new(ErrorKind::Internal, e.to_string()))
        };
        write(&name, contents.as_bytes())?;
        for a in attachments {
            let rel = safe_relative(&a.name)
                .ok_or_else(|| bad(format!("attachment `{}` has an unsafe path", a.name)))?;
            write(&rel, &a.contents)?;
        }
        // Errors name the file as the user knows it, not our staging copy.
        let staged = format!("{}/", staging.path().display());
        let imported = self
            .store
            .import(&staging.path().join(&name))
            .map_err(|e| {
                let mut err = store_error(file_name, e);
                err.message = err.message.replace(&staged, "");
                err
            })?;
        let profile = self
            .store
            .get(&imported.id)
            .map_err(|e| store_error(file_name, e))?;
        info!("imported profile {}", imported.id);
        Ok(Response::Imported {
            id: imported.id,
            replaced: imported.replaced,
            warnings: warnings(&profile),
        })
    }

    async fn is_active(&self, id: &str) -> bool {
        let conns = self.connections.lock().await;
        conns.get(id).is_some_and(|h| {
            !matches!(
                h.status.borrow().state,
                ConnState::Disconnected | ConnState::Error
            )
        })
    }

    async fn connect(&self, id: String, secrets: Secrets) -> Result<Response, IpcError> {
        let profile = self.store.get(&id).map_err(|_| not_found(&id))?;
        let missing = |kind: &str, what: &str| {
            IpcError::new(
                ErrorKind::MissingSecret,
                format!(
                    "profile `{id}` needs {what}: store it with `strait secret set {id} {kind}` \
                     or pass `--secret {kind}=FILE`"
                ),
            )
        };
        let bytes = |s: &strait_ipc::Secret| Zeroizing::new(s.expose().as_bytes().to_vec());
        let (secret, kind, what) = match profile.auth.method {
            AuthMethod::Psk | AuthMethod::XauthPsk => {
                (secrets.psk.as_ref(), "psk", "its pre-shared key")
            }
            AuthMethod::EapMschapv2 => (secrets.password.as_ref(), "password", "the password"),
            AuthMethod::Cert | AuthMethod::XauthCert => (
                secrets.key.as_ref(),
                "key",
                "the private key of its certificate",
            ),
        };
        let secret = secret.map(bytes).ok_or_else(|| missing(kind, what))?;
        // XAuth asks for the user's password on top of the PSK or certificate.
        let xauth_password = match profile.auth.method {
            AuthMethod::XauthPsk | AuthMethod::XauthCert => Some(
                secrets
                    .password
                    .as_ref()
                    .map(bytes)
                    .ok_or_else(|| missing("password", "the XAuth password"))?,
            ),
            _ => None,
        };
        let kill_switch = profile.network.kill_switch;
        let mut reused = false;
        let mut status = {
            let mut conns = self.connections.lock().await;
            if let Some(h) = conns.get(&id) {
                let state = h.status.borrow().state;
                if state == ConnState::Connected {
                    return Ok(Response::Status {
                        connections: vec![h.status.borrow().clone()],
                    });
                }
                if !matches!(state, ConnState::Disconnected | ConnState::Error) {
                    return Err(IpcError::new(
                        ErrorKind::BadRequest,
                        format!("`{id}` is already {state:?}; wait or disconnect it first")
                            .to_lowercase(),
                    ));
                }
            }
            if let Some(refusal) = kill_switch_clash(&conns, &id, kill_switch) {
                return Err(refusal);
            }
            if let Some(warning) = convert::aggressive_psk_warning(&profile) {
                // Once per connect (not per reconnect attempt), tagged with the profile like
                // the connection's own lines, so `strait logs` and the app show it with them.
                tracing::info_span!("connection", profile = %id).in_scope(|| warn!("{warning}"));
            }
            let secrets = ConnSecrets {
                secret: Some(secret),
                xauth_password,
            };
            match conns.get_mut(&id) {
                // A failed connection that still holds its kill switch: connect again through
                // it, so the block never lifts in between.
                Some(h) if !h.task.is_finished() => {
                    let mut rx = h.status.clone();
                    rx.mark_unchanged();
                    h.kill_switch = kill_switch;
                    let command = Command::Connect {
                        profile: Box::new(profile),
                        secrets,
                    };
                    if h.commands.send(command).is_err() {
                        return Err(IpcError::new(
                            ErrorKind::Internal,
                            "the previous attempt was still ending; connect again",
                        ));
                    }
                    reused = true;
                    rx
                }
                _ => {
                    let handle = connection::spawn(ConnectParams {
                        id: id.clone(),
                        profile,
                        secrets,
                        state_dir: self.state_dir.clone(),
                        events: self.events.clone(),
                    });
                    let rx = handle.status.clone();
                    conns.insert(id.clone(), handle);
                    rx
                }
            }
        };
        // A reused connection still shows its old failure until it starts over.
        if reused && status.changed().await.is_err() {
            return Err(IpcError::new(
                ErrorKind::Internal,
                "the connection task ended",
            ));
        }
        loop {
            let s = status.borrow_and_update().clone();
            match s.state {
                ConnState::Connected => {
                    return Ok(Response::Status {
                        connections: vec![s],
                    })
                }
                ConnState::Error | ConnState::Disconnected => {
                    return Err(IpcError::new(
                        ErrorKind::ConnectFailed,
                        s.reason
                            .unwrap_or_else(|| "the connection was closed".into()),
                    ))
                }
                ConnState::Reconnecting => {
                    // A first attempt that needs a retry (name resolution, say) keeps going in
                    // the background; tell the caller why it is not up yet.
                    return Err(IpcError::new(
                        ErrorKind::ConnectFailed,
                        format!(
                            "{} (Strait keeps trying; `strait disconnect {id}` stops it)",
                            s.reason.unwrap_or_default()
                        ),
                    ));
                }
                _ => {}
            }
            if status.changed().await.is_err() {
                return Err(IpcError::new(
                    ErrorKind::Internal,
                    "the connection task ended",
                ));
            }
        }
    }

    async fn disconnect(&self, id: Option<String>) -> Result<Response, IpcError> {
        let handles: Vec<(String, ConnHandle)> = {
            let mut conns = self.connections.lock().await;
            match id {
                Some(id) => {
                    let h = conns.remove(&id).ok_or_else(|| {
                        if self.store.get(&id).is_ok() {
                            IpcError::new(ErrorKind::BadRequest, format!("`{id}` is not connected"))
                        } else {
                            not_found(&id)
                        }
                    })?;
                    vec![(id, h)]
                }
                None => conns.drain().collect(),
            }
        };
        for (_, h) in &handles {
            let _ = h.commands.send(Command::Disconnect);
        }
        for (id, h) in handles {
            if tokio::time::timeout(DISCONNECT_WAIT, h.task).await.is_err() {
                tracing::warn!("{id}: the gateway did not confirm the disconnect in time");
            }
        }
        Ok(Response::Ok)
    }

    async fn statuses(&self) -> Vec<strait_ipc::ConnectionStatus> {
        let conns = self.connections.lock().await;
        let mut v: Vec<_> = conns
            .values()
            .map(|h| h.status.borrow().clone())
            .filter(|s| s.state != ConnState::Disconnected)
            .collect();
        v.sort_by(|a, b| a.profile.cmp(&b.profile));
        v
    }

    /// Disconnects everything (service stop).
    pub async fn shutdown(&self) {
        let _ = self.disconnect(None).await;
    }
}

/// Why `id` may not connect now: each kill switch lets traffic through its own tunnel only,
/// so a connection with one cannot share the machine with any other active connection.
fn kill_switch_clash(
    conns: &HashMap<String, ConnHandle>,
    id: &str,
    kill_switch: bool,
) -> Option<IpcError> {
    let (other, h) = conns.iter().find(|(other, h)| {
        other.as_str() != id
            && (kill_switch || h.kill_switch)
            && !h.task.is_finished()
            && h.status.borrow().state != ConnState::Disconnected
    })?;
    let holder = if h.kill_switch { other.as_str() } else { id };
    Some(IpcError::new(
        ErrorKind::BadRequest,
        format!(
            "`{holder}` has its kill switch on, which blocks all traffic outside its own \
             tunnel, so `{id}` cannot connect while `{other}` is active; disconnect `{other}` \
             first"
        ),
    ))
}

/// A relative path without `..`, root or prefix components.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    let ok = !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

fn store_error(what: &str, e: strait_profile::StoreError) -> IpcError {
    use strait_profile::StoreError;
    match e {
        StoreError::NotFound(_) => not_found(what),
        other => IpcError::new(ErrorKind::InvalidProfile, other.to_string()),
    }
}

/// What a user should read after importing `p`.
fn warnings(p: &Profile) -> Vec<String> {
    let mut w = Vec::new();
    let weak: Vec<String> = p
        .crypto
        .ike
        .iter()
        .flat_map(|x| x.weak_algorithms())
        .chain(p.crypto.esp.iter().flat_map(|x| x.weak_algorithms()))
        .collect();
    if !weak.is_empty() {
        w.push(format!(
            "this profile allows weak algorithms ({}); an eavesdropper may be able to decrypt the \
             traffic",
            weak.join(", ")
        ));
    }
    if let Some(warning) = convert::aggressive_psk_warning(p) {
        w.push(warning.into());
    }
    w
}
