//! The connection states of design.md, one file each. Every state runs until something
//! happens and returns the next state; [`super::Connection::run`] loops until a final one.
//!
//! ```text
//!   connecting ──up──▶ connected ──lost gateway──▶ reconnecting ──▶ connecting
//!       │                  │                            │
//!       │ failed           │ disconnect                 │ disconnect
//!       ▼                  ▼                            ▼
//!     error           disconnecting ──────────────▶ disconnected
//! ```

pub(super) mod connected;
pub(super) mod connecting;
pub(super) mod disconnected;
pub(super) mod disconnecting;
pub(super) mod error;
pub(super) mod reconnecting;

use strait_ike::Error as IkeError;
use strait_ipc::IpcError;

use super::session::Session;

/// Where a connection is.
pub(super) enum State {
    /// Opening a session; `attempt` 0 is the user's connect, later ones are reconnects.
    Connecting { attempt: u32 },
    /// The tunnel is up.
    Connected(Box<Session>),
    /// Waiting before the next attempt, after losing the gateway.
    Reconnecting { attempt: u32, reason: String },
    /// Deleting the SAs on the user's request.
    Disconnecting(Box<Session>),
    /// Final: closed on purpose.
    Disconnected,
    /// Final: failed, with the reason.
    Error(IpcError),
}

/// Failures that come from the network or the gateway going away, which a reconnect can fix
/// (unlike wrong credentials or proposals).
pub(super) fn retryable(e: &IkeError) -> bool {
    matches!(
        e,
        IkeError::DeadPeer
            | IkeError::PeerDeleted
            | IkeError::Timeout { .. }
            | IkeError::Expired(_)
    )
}
