//! The tray icon: applies what [`crate::model`]'s pure functions say, and turns menu clicks
//! into actions.

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Runtime};

use crate::model::{tray_icon, tray_menu, tray_state, tray_tooltip, MenuAction, MenuEntry};
use crate::model::{Snapshot, TrayState};
use crate::service;

/// The tray icon's id.
pub const TRAY_ID: &str = "strait";

/// What the tray shows, as last applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    state: TrayState,
    tooltip: String,
    menu: Vec<MenuEntry>,
}

fn applied(s: &Snapshot) -> Applied {
    Applied {
        state: tray_state(s),
        tooltip: tray_tooltip(s),
        menu: tray_menu(s),
    }
}

fn build_menu<R: Runtime>(app: &AppHandle<R>, entries: &[MenuEntry]) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for entry in entries {
        match entry {
            MenuEntry::Item { id, label, enabled } => {
                menu.append(&MenuItem::with_id(
                    app,
                    id.as_str(),
                    label,
                    *enabled,
                    None::<&str>,
                )?)?;
            }
            MenuEntry::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
        }
    }
    Ok(menu)
}

/// Creates the tray icon for the current snapshot.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let state = service::shared(app);
    let snapshot = state.snapshot();
    let now = applied(&snapshot);
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(Image::from_bytes(tray_icon(now.state))?)
        .tooltip(&now.tooltip)
        .menu(&build_menu(app, &now.menu)?)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                one_click(tray.app_handle());
            }
        })
        .build(app)?;
    *state.tray() = Some(now);
    Ok(())
}

/// Applies a snapshot to the tray, touching only what changed.
pub fn update(app: &AppHandle, snapshot: &Snapshot) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let state = service::shared(app);
    let mut last = state.tray();
    let now = applied(snapshot);
    let before = last.as_ref();
    let result = (|| -> tauri::Result<()> {
        if before.map(|b| b.state) != Some(now.state) {
            tray.set_icon(Some(Image::from_bytes(tray_icon(now.state))?))?;
        }
        if before.map(|b| &b.tooltip) != Some(&now.tooltip) {
            tray.set_tooltip(Some(&now.tooltip))?;
        }
        if before.map(|b| &b.menu) != Some(&now.menu) {
            tray.set_menu(Some(build_menu(app, &now.menu)?))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => *last = Some(now),
        Err(e) => eprintln!("strait-app: cannot update the tray icon: {e}"),
    }
}

fn on_menu(app: &AppHandle, id: &str) {
    match MenuAction::parse(id) {
        Some(MenuAction::Connect(profile)) => spawn_connect(app, profile),
        Some(MenuAction::Disconnect(profile)) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = service::disconnect_profile(profile).await {
                    service::report(&app, &e);
                }
            });
        }
        Some(MenuAction::Open) => crate::show_main_window(app),
        Some(MenuAction::Quit) => app.exit(0),
        None => {}
    }
}

fn spawn_connect(app: &AppHandle, profile: String) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = service::connect_profile(&app, profile).await {
            if e.kind == "missing_secret" {
                crate::show_main_window(&app);
            }
            service::report(&app, &e);
        }
    });
}

/// One click on the icon: connect the default profile when nothing is up, else open the
/// window. (Linux tray hosts send no clicks; the menu does everything there.)
fn one_click(app: &AppHandle) {
    let snapshot = service::shared(app).snapshot();
    match (tray_state(&snapshot), snapshot.default_profile()) {
        (TrayState::Disconnected | TrayState::Error, Some(profile)) => {
            spawn_connect(app, profile.to_owned());
        }
        _ => crate::show_main_window(app),
    }
}
