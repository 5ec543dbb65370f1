//! Error: the attempt failed; the status keeps the plain-words reason until the next connect.
//!
//! Without a kill switch this state is final. With one, the block stays (that is the point of
//! a kill switch: a failed VPN must not fall back to the open network), the status says so, and
//! the connection waits here for the user: a disconnect lifts the block, a connect tries again
//! behind it.

use strait_ipc::{ConnState, IpcError};
use tracing::warn;

use super::super::{Command, Connection};
use super::State;
use crate::convert::ConnSecrets;

/// Publishes the failure; returns the next state, or `None` when the connection is over.
pub(in super::super) async fn run(conn: &mut Connection, error: &IpcError) -> Option<State> {
    let reason = conn.with_block_note(&error.message);
    warn!("connection failed: {reason}");
    conn.publish(|s| {
        s.state = ConnState::Error;
        s.reason = Some(reason);
        s.uptime_secs = None;
        s.ike_rekey_in_secs = None;
        s.child_rekey_in_secs = None;
    });
    conn.kill_switch.as_ref()?;
    // Nothing needs the secret while we wait, possibly for days.
    conn.params.secrets = ConnSecrets::default();
    match conn.commands.recv().await {
        Some(Command::Connect { profile, secrets }) => {
            conn.params.profile = *profile;
            conn.params.secrets = secrets;
            Some(
                conn.prepare_kill_switch()
                    .map_or_else(State::Error, |()| State::Connecting { attempt: 0 }),
            )
        }
        // A dropped handle means the service is going away: disconnect too.
        Some(Command::Disconnect) | None => Some(State::Disconnected),
    }
}
