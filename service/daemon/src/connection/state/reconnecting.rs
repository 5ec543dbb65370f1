//! Reconnecting: the gateway was lost; wait (backing off) and try again, until the user
//! disconnects. The reason stays visible in the status meanwhile (with the kill switch's note
//! when it holds traffic).

use std::time::Duration;

use strait_ipc::ConnState;
use tracing::warn;

use super::super::Connection;
use super::State;

/// Seconds to wait before reconnect attempt n (1-based); the last value repeats.
const BACKOFF: [u64; 6] = [1, 2, 5, 10, 20, 30];

pub(in super::super) async fn run(conn: &mut Connection, attempt: u32, reason: String) -> State {
    let index = (attempt.max(1) as usize - 1).min(BACKOFF.len() - 1);
    let wait = BACKOFF[index];
    warn!("{reason}; reconnecting in {wait} s");
    let shown = conn.with_block_note(&reason);
    conn.publish(|s| {
        s.state = ConnState::Reconnecting;
        s.reason = Some(shown);
        s.uptime_secs = None;
        s.ike_rekey_in_secs = None;
        s.child_rekey_in_secs = None;
    });
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(wait)) => State::Connecting { attempt },
        _ = conn.commands.recv() => State::Disconnected,
    }
}
