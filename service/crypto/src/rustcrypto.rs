//! The pure-Rust provider (RustCrypto).
