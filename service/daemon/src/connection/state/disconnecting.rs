//! Disconnecting: delete the IKE SA and wait a little for the gateway to confirm, then remove
//! the tunnel, routes and DNS regardless — a user who disconnects is disconnected.

use std::time::Duration;

use strait_ipc::ConnState;
use tracing::info;

use super::super::session::{Session, Step};
use super::super::Connection;
use super::State;

/// How long the gateway gets to answer our DELETE.
const CONFIRM_WAIT: Duration = Duration::from_secs(3);

pub(in super::super) async fn run(conn: &mut Connection, mut session: Box<Session>) -> State {
    info!("disconnecting");
    conn.publish(|s| s.state = ConnState::Disconnecting);
    let deadline = tokio::time::Instant::now() + CONFIRM_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, session.step(conn)).await {
            Ok(Step::Closed(_)) => break,
            Ok(_) => {}
            Err(_) => {
                info!("the gateway did not confirm the disconnect; closing anyway");
                break;
            }
        }
    }
    session.finish(conn).await;
    State::Disconnected
}
