//! Disconnected: final. Nothing of the connection is left installed.

use strait_ipc::ConnState;
use tracing::info;

use super::super::Connection;

pub(in super::super) fn enter(conn: &Connection) {
    conn.publish(|s| {
        s.state = ConnState::Disconnected;
        s.reason = None;
        s.uptime_secs = None;
        s.ike_rekey_in_secs = None;
        s.child_rekey_in_secs = None;
    });
    info!("disconnected");
}
