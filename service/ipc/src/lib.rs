//! `strait-ipc`: how `straitd` and its clients (the `strait` CLI, the desktop app) talk.
//!
//! One local stream socket (a Unix socket, or a named pipe on Windows) carries length-prefixed
//! JSON frames ([`frame`]) of two enums ([`ClientMsg`], [`ServerMsg`]), Firezone's shape:
//! a `Hello` with the protocol version first, then requests with ids, responses, and a stream
//! of events for subscribed clients. The service checks who is calling from the kernel's
//! account of the peer, not from anything the peer says ([`Peer`], [`Role`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod frame;
mod peer;
mod proto;
mod secret;
pub mod server;
#[cfg(unix)]
pub mod unix;

pub use client::{Client, ClientError};
pub use peer::{Peer, Role};
pub use proto::*;
pub use secret::Secret;

/// The named pipe the Windows service listens on.
pub const WINDOWS_PIPE: &str = r"\\.\pipe\strait";

/// The path clients and the service use unless told otherwise (`STRAIT_SOCKET` overrides it).
pub fn default_socket_path() -> std::path::PathBuf {
    #[cfg(unix)]
    {
        unix::default_socket_path()
    }
    #[cfg(not(unix))]
    {
        std::env::var_os("STRAIT_SOCKET")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from(WINDOWS_PIPE))
    }
}
