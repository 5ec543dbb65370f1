//! Connected: the tunnel carries traffic; the IKE SA rekeys and checks liveness by itself. A
//! lost gateway leads to reconnecting, the user's disconnect to disconnecting.

use strait_ipc::ConnState;
use tracing::{info, warn};

use super::super::session::{Session, Step};
use super::super::Connection;
use super::{retryable, State};
use crate::convert;

pub(in super::super) async fn run(conn: &mut Connection, mut session: Box<Session>) -> State {
    info!("connected");
    let (ike_rekey, child_rekey) = session.rekey_in_secs();
    conn.publish(|s| {
        s.state = ConnState::Connected;
        s.reason = None;
        s.uptime_secs = Some(0);
        s.ike_rekey_in_secs = ike_rekey;
        s.child_rekey_in_secs = child_rekey;
    });
    loop {
        match session.step(conn).await {
            Step::Continue | Step::Up => {}
            Step::Disconnect => {
                session.close();
                return State::Disconnecting(session);
            }
            Step::Closed(error) => {
                session.finish(conn).await;
                return match error {
                    Some(e) if !retryable(&e) => {
                        warn!("connection failed: {e}");
                        State::Error(convert::connect_error(&e))
                    }
                    Some(e) => State::Reconnecting {
                        attempt: 1,
                        reason: e.to_string(),
                    },
                    None => State::Reconnecting {
                        attempt: 1,
                        reason: "the gateway closed the connection".into(),
                    },
                };
            }
        }
    }
}
