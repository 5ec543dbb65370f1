//! `strait-profile`: Strait's connection profiles.
//!
//! A profile is one TOML file whose file stem is its id (see `design.md`, "Profile format").
//! This crate reads and validates it ([`load`], [`parse`]) into the [`Profile`] model with every
//! default filled in, and keeps imported profiles in a [`ProfileStore`]. Secrets are never in a
//! profile: they live in the OS keychain, keyed by the profile id.
//!
//! Errors name the file, the line and the key, and say what is allowed, because profiles are
//! written by hand by administrators and mailed to users who cannot read our source.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod model;
mod parse;
mod store;

pub use model::*;
pub use parse::{load, parse, ProfileError, MAX_PROFILE_LEN};
pub use store::{validate_id, Imported, ProfileStore, StoreError, MAX_ID_LEN};

#[cfg(test)]
mod tests;
