//! Connecting: resolve the gateway, negotiate the IKE SA and the first child SA, bring the
//! tunnel up.

use strait_ipc::{ConnState, ErrorKind, IpcError};
use tracing::info;

use super::super::session::{Session, Step};
use super::super::Connection;
use super::{retryable, State};
use crate::convert;

pub(in super::super) async fn run(conn: &mut Connection, attempt: u32) -> State {
    info!("connecting to {}", conn.params.profile.gateway);
    conn.publish(|s| {
        s.state = ConnState::Connecting;
        s.uptime_secs = None;
        s.ike_rekey_in_secs = None;
        s.child_rekey_in_secs = None;
    });
    let secrets = conn.secrets();
    let mut session = match Session::open(conn, secrets).await {
        Ok(s) => s,
        Err(e) => return failed(e.error, e.retry, attempt),
    };
    loop {
        match session.step(conn).await {
            Step::Continue => {}
            Step::Up => return State::Connected(Box::new(session)),
            Step::Closed(error) => {
                session.finish(conn).await;
                return match error {
                    Some(e) => {
                        let retry = retryable(&e);
                        failed(convert::connect_error(&e), retry, attempt)
                    }
                    None => failed(
                        IpcError::new(ErrorKind::ConnectFailed, "the connection was closed"),
                        true,
                        attempt,
                    ),
                };
            }
            Step::Disconnect => {
                session.close();
                return State::Disconnecting(Box::new(session));
            }
        }
    }
}

/// A failed attempt: the user's first attempt reports the error; a reconnect keeps trying
/// while the failure is one that time can fix.
fn failed(error: IpcError, retry: bool, attempt: u32) -> State {
    if retry && attempt > 0 {
        State::Reconnecting {
            attempt: attempt + 1,
            reason: error.message,
        }
    } else {
        State::Error(error)
    }
}
