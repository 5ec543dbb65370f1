//! The commands the web view may call (each one allowed by name in `capabilities/main.json`).
//!
//! Secrets go one way: the window hands a PSK or password to [`set_secret`], or a key file's
//! path (and its password) to [`import_key`], which put them in the keychain; no command
//! returns one.

use std::path::PathBuf;
use std::sync::Arc;

use strait_ipc::{LogLine, Secret};
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;
use zeroize::Zeroizing;

use crate::keychain::{self, Kind};
use crate::keyfile;
use crate::model::Snapshot;
use crate::service::{self, Imported, Shared, UiError};

/// The commands, for `generate_handler!` and the build script's app manifest.
pub const NAMES: &[&str] = &[
    "snapshot",
    "logs",
    "import_profile",
    "remove_profile",
    "set_secret",
    "forget_secret",
    "import_key",
    "connect",
    "disconnect",
    "autostart_enabled",
    "set_autostart",
];

/// The current state.
#[tauri::command]
pub fn snapshot(state: State<'_, Arc<Shared>>) -> Snapshot {
    state.snapshot()
}

/// Recent log lines of the service, oldest first.
#[tauri::command]
pub fn logs(state: State<'_, Arc<Shared>>) -> Vec<LogLine> {
    state.logs()
}

/// Imports a profile file chosen in the open dialog.
#[tauri::command]
pub async fn import_profile(app: AppHandle, path: PathBuf) -> Result<Imported, UiError> {
    service::import(&app, path).await
}

/// Removes a profile and its keychain entries.
#[tauri::command]
pub async fn remove_profile(app: AppHandle, profile: String) -> Result<(), UiError> {
    service::remove_profile(&app, profile).await
}

fn kind(name: &str) -> Result<Kind, UiError> {
    Kind::from_name(name)
        .ok_or_else(|| UiError::new("keychain", format!("unknown secret `{name}`")))
}

/// Stores a profile's secret in the OS keychain.
#[tauri::command]
pub async fn set_secret(
    app: AppHandle,
    profile: String,
    kind: String,
    value: String,
) -> Result<(), UiError> {
    let value = Zeroizing::new(value);
    let k = self::kind(&kind)?;
    let trimmed = value.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(UiError::new(
            "keychain",
            format!("The {} is empty.", k.human()),
        ));
    }
    let secret = Secret::new(trimmed);
    let id = profile.clone();
    tauri::async_runtime::spawn_blocking(move || keychain::store(&id, k, &secret))
        .await
        .map_err(|e| UiError::new("keychain", e.to_string()))?
        .map_err(|e| UiError {
            kind: "keychain",
            message: format!(
                "Cannot store the {} in your keychain: unlock it (or set one up) and try again.",
                k.human()
            ),
            detail: Some(e.to_string()),
            secret: None,
        })?;
    service::refresh_profiles(&app).await
}

/// Deletes a profile's secret from the keychain.
#[tauri::command]
pub async fn forget_secret(app: AppHandle, profile: String, kind: String) -> Result<(), UiError> {
    let k = self::kind(&kind)?;
    tauri::async_runtime::spawn_blocking(move || keychain::delete(&profile, k))
        .await
        .map_err(|e| UiError::new("keychain", e.to_string()))?
        .map_err(|e| UiError::new("keychain", e.to_string()))?;
    service::refresh_profiles(&app).await
}

/// Stores the private key of a key file the user chose (PKCS#12, PEM or DER) in the keychain
/// under `<profile>/key`, decrypted with `password` when the file has one. Fails with a
/// `key_password` error when the file needs a password (none or a wrong one given), so the
/// window can ask.
#[tauri::command]
pub async fn import_key(
    app: AppHandle,
    profile: String,
    path: PathBuf,
    password: Option<String>,
) -> Result<(), UiError> {
    let password = password.map(Zeroizing::new);
    let id = profile.clone();
    // Decryption (up to a few thousand KDF rounds) and the keychain both block.
    tauri::async_runtime::spawn_blocking(move || {
        let secret = keyfile::read_key_secret(&id, &path, password.as_ref().map(|p| p.as_str()))?;
        keychain::store(&id, Kind::Key, &secret).map_err(|e| UiError {
            kind: "keychain",
            message: "Cannot store the private key in your keychain: unlock it (or set one up) \
                      and try again."
                .to_owned(),
            detail: Some(e.to_string()),
            secret: None,
        })
    })
    .await
    .map_err(|e| UiError::new("keychain", e.to_string()))??;
    service::refresh_profiles(&app).await
}

/// Connects a profile; returns when the tunnel is up (state changes arrive as events).
#[tauri::command]
pub async fn connect(app: AppHandle, profile: String) -> Result<(), UiError> {
    service::connect_profile(&app, profile).await
}

/// Disconnects a profile.
#[tauri::command]
pub async fn disconnect(profile: String) -> Result<(), UiError> {
    service::disconnect_profile(profile).await
}

fn autostart_error(e: tauri_plugin_autostart::Error) -> UiError {
    UiError {
        kind: "autostart",
        message: "Cannot change whether Strait starts when you log in.".to_owned(),
        detail: Some(e.to_string()),
        secret: None,
    }
}

/// Whether the app starts when the user logs in.
#[tauri::command]
pub fn autostart_enabled(app: AppHandle) -> Result<bool, UiError> {
    app.autolaunch().is_enabled().map_err(autostart_error)
}

/// Makes the app start (or not) when the user logs in; returns the setting as it now is.
#[tauri::command]
pub fn set_autostart(app: AppHandle, enabled: bool) -> Result<bool, UiError> {
    let launcher = app.autolaunch();
    if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    }
    .map_err(autostart_error)?;
    launcher.is_enabled().map_err(autostart_error)
}
