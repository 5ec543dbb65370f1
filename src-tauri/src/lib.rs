//! `strait-app`: the Strait desktop app (Tauri v2).
//!
//! A tray icon and one window on top of the service's IPC. The app never links the daemon:
//! it reaches `straitd` through `strait-ipc` only ([`service`]), reads and writes secrets in the
//! user's OS keychain ([`keychain`]), and shows what the service reports.
//!
//! ```text
//!  web view (ui/) ──commands──▶ commands ──▶ service ──strait-ipc──▶ straitd
//!        ▲                          │            │ (events)
//!        └───── snapshot events ────┴── model ◀──┘──▶ tray (icon, tooltip, menu)
//!                                   keychain (connect reads, set_secret writes)
//! ```
//!
//! Closing the window hides it (the tray keeps the app); "Quit" in the tray menu ends the app,
//! not the tunnels: the service owns those. A second launch focuses the first instance and
//! imports the profile files it was given.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod commands;
pub mod import;
pub mod keychain;
pub mod keyfile;
pub mod model;
pub mod service;
pub mod tray;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tauri::{AppHandle, DragDropEvent, Emitter, Manager, WindowEvent};

/// The main window's label.
pub const MAIN_WINDOW: &str = "main";

/// Shows, unminimizes and focuses the main window.
pub fn show_main_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Imports the profile files among command-line arguments (relative to `cwd`), reporting
/// each result to the window.
fn import_files(app: &AppHandle, paths: Vec<PathBuf>) {
    for path in paths {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            match service::import(&app, path).await {
                Ok(imported) => {
                    let _ = app.emit(service::IMPORTED_EVENT, &imported);
                }
                Err(e) => service::report(&app, &e),
            }
        });
    }
}

fn profile_args(args: &[String], cwd: &Path) -> Vec<PathBuf> {
    args.iter()
        .map(|a| cwd.join(a))
        .filter(|p| p.to_str().is_some_and(import::is_profile_arg))
        .collect()
}

/// Runs the app until the user quits it.
pub fn run() {
    let app = tauri::Builder::default()
        // First, so a second launch never gets further than handing over its arguments.
        .plugin(tauri_plugin_single_instance::init(|app, argv, cwd| {
            show_main_window(app);
            let args = argv.get(1..).unwrap_or_default();
            import_files(app, profile_args(args, Path::new(&cwd)));
        }))
        .plugin(tauri_plugin_dialog::init())
        // Used from Rust only (state changes, login items): the web view is granted none of
        // their commands, it asks through `autostart_enabled`/`set_autostart`.
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .manage(Arc::new(service::Shared::default()))
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::logs,
            commands::import_profile,
            commands::remove_profile,
            commands::set_secret,
            commands::forget_secret,
            commands::import_key,
            commands::connect,
            commands::disconnect,
            commands::autostart_enabled,
            commands::set_autostart,
        ])
        .setup(|app| {
            let handle = app.handle().clone();
            tray::create(&handle)?;
            tauri::async_runtime::spawn(service::watch(handle.clone()));
            let args: Vec<String> = std::env::args().skip(1).collect();
            let cwd = std::env::current_dir().unwrap_or_default();
            import_files(&handle, profile_args(&args, &cwd));
            Ok(())
        })
        .on_window_event(|window, event| match event {
            // Close to the tray: the app keeps running and the tunnels stay up.
            WindowEvent::CloseRequested { api, .. } => {
                api.prevent_close();
                let _ = window.hide();
            }
            WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) => {
                import_files(window.app_handle(), paths.clone());
            }
            _ => {}
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(e) => {
            eprintln!("strait-app: cannot start: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command is granted by name to the main window, and nothing else of the app is.
    #[test]
    fn capabilities_grant_exactly_the_commands() {
        let build = include_str!("../build.rs");
        let caps: serde_json::Value =
            serde_json::from_str(include_str!("../capabilities/main.json")).unwrap();
        let perms: Vec<&str> = caps["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str())
            .collect();
        for name in commands::NAMES {
            assert!(
                build.contains(&format!("\"{name}\"")),
                "{name} not in build.rs"
            );
            let perm = format!("allow-{}", name.replace('_', "-"));
            assert!(perms.contains(&perm.as_str()), "{perm} not granted");
        }
        let app_perms = perms.iter().filter(|p| p.starts_with("allow-")).count();
        assert_eq!(app_perms, commands::NAMES.len(), "{perms:?}");
        assert!(
            perms
                .iter()
                .all(|p| !p.ends_with(":default") || *p == "core:event:default"),
            "no broad default sets: {perms:?}"
        );
    }

    #[test]
    fn the_csp_is_strict() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        let csp = conf["app"]["security"]["csp"].as_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("object-src 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-eval") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(conf["app"]["withGlobalTauri"], false);
    }

    #[test]
    fn only_existing_files_are_imported_from_arguments() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "x").unwrap();
        let args = vec![
            "a.toml".to_owned(),
            "--flag".to_owned(),
            "b.toml".to_owned(),
        ];
        assert_eq!(
            profile_args(&args, dir.path()),
            vec![dir.path().join("a.toml")]
        );
    }
}
