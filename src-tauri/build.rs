//! Tauri's build step, with the app's commands declared so that `capabilities/main.json` can
//! grant them one by one.
//!
//! `tauri::generate_context!` embeds the built web front end (`ui/dist`, `frontendDist`) and
//! fails to compile when that directory is missing. So that `cargo check/clippy/test
//! --workspace` work on a machine that has not run `npm run build` (and the Windows/macOS
//! type-check, which never does), a missing `ui/dist` gets a one-page placeholder that says how
//! to build the real one. `cargo xtask test` builds the real UI before it compiles the
//! workspace; `vite build` replaces the placeholder, and the `rerun-if-changed` below makes
//! cargo embed the new files.

use std::path::Path;

/// Must match `src/commands.rs` (a unit test checks).
const COMMANDS: &[&str] = &[
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

const PLACEHOLDER: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Strait</title></head><body><h1>Strait</h1><p>This build of the app has no user \
interface: the web front end was not built. Run <code>npm ci &amp;&amp; npm run build</code> \
in <code>ui/</code>, then build the app again.</p></body></html>\n";

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.join("index.html").exists() {
        println!(
            "cargo:warning=ui/dist is missing: embedding a placeholder page (run `npm ci && npm run build` in ui/ for the real UI)"
        );
        if let Err(e) = std::fs::create_dir_all(&dist)
            .and_then(|()| std::fs::write(dist.join("index.html"), PLACEHOLDER))
        {
            println!(
                "cargo:warning=cannot write a placeholder into {}: {e}",
                dist.display()
            );
        }
    }
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        eprintln!("tauri-build failed: {e:#}");
        std::process::exit(1);
    }
}
