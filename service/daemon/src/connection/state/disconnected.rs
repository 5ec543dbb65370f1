//! Disconnected: final. Nothing of the connection is left installed; the kill switch, if it
//! was on, is lifted here — the user's disconnect is what ends it.

use strait_ipc::ConnState;
use tracing::info;

use super::super::Connection;

pub(in super::super) fn enter(conn: &mut Connection) {
    conn.lift_kill_switch();
    conn.publish(|s| {
        s.state = ConnState::Disconnected;
        s.reason = None;
        s.uptime_secs = None;
        s.ike_rekey_in_secs = None;
        s.child_rekey_in_secs = None;
    });
    info!("disconnected");
}
