//! Error: final. The status keeps the plain-words reason until the next connect.

use strait_ipc::{ConnState, IpcError};
use tracing::warn;

use super::super::Connection;

pub(in super::super) fn enter(conn: &Connection, error: &IpcError) {
    warn!("connection failed: {}", error.message);
    conn.publish(|s| {
        s.state = ConnState::Error;
        s.reason = Some(error.message.clone());
        s.uptime_secs = None;
        s.ike_rekey_in_secs = None;
        s.child_rekey_in_secs = None;
    });
}
