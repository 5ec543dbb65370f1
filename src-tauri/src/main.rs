//! The Strait desktop app's entry point; everything lives in the library ([`strait_app::run`]).

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    strait_app::run();
}
