//! One connection: a task that owns its IKE SA, its sockets, its tunnel device and the routes
//! and DNS it installed, and reports its state.
//!
//! States follow design.md: connecting → connected → (reconnecting →) disconnecting →
//! disconnected, or error with a reason in plain words. A connection that was up and lost its
//! gateway (no answer, dead peer detection, the gateway closed it) reconnects with backoff until
//! the user disconnects; a failure before the first success is reported and ends the attempt.

mod datapath;
mod session;
mod state;
mod tunnel;

use std::path::PathBuf;

use strait_ipc::{ConnState, ConnectionStatus, Event};
use strait_profile::Profile;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::Instrument;

use crate::convert::ConnSecrets;
use state::State;

/// What the service can tell a connection.
#[derive(Debug)]
pub enum Command {
    /// Delete the SAs and tear everything down.
    Disconnect,
}

/// The service's handle on a running connection.
pub struct ConnHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub status: watch::Receiver<ConnectionStatus>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Everything a connection needs to start.
pub struct ConnectParams {
    pub id: String,
    pub profile: Profile,
    pub secrets: ConnSecrets,
    pub state_dir: PathBuf,
    pub events: broadcast::Sender<Event>,
}

/// Starts a connection task.
pub fn spawn(params: ConnectParams) -> ConnHandle {
    let status = initial_status(&params);
    let (status_tx, status_rx) = watch::channel(status);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let span = tracing::info_span!("connection", profile = %params.id);
    let task = tokio::spawn(
        async move {
            let mut conn = Connection {
                status: status_tx,
                events: params.events.clone(),
                commands: cmd_rx,
                params,
            };
            conn.run().await;
        }
        .instrument(span),
    );
    ConnHandle {
        commands: cmd_tx,
        status: status_rx,
        task,
    }
}

fn initial_status(p: &ConnectParams) -> ConnectionStatus {
    ConnectionStatus {
        profile: p.id.clone(),
        state: ConnState::Connecting,
        gateway: p.profile.gateway.to_string(),
        gateway_address: None,
        virtual_ips: vec![],
        dns: vec![],
        dns_domains: vec![],
        routes: vec![],
        ike_algorithms: None,
        esp_algorithms: None,
        ike_spis: None,
        esp_spis: None,
        nat: false,
        counters: Default::default(),
        uptime_secs: None,
        ike_rekey_in_secs: None,
        child_rekey_in_secs: None,
        reason: None,
    }
}

pub(super) struct Connection {
    params: ConnectParams,
    status: watch::Sender<ConnectionStatus>,
    events: broadcast::Sender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
}

impl Connection {
    /// Updates the status and tells subscribed clients.
    fn publish(&self, f: impl FnOnce(&mut ConnectionStatus)) {
        self.status.send_modify(f);
        let status = self.status.borrow().clone();
        let _ = self.events.send(Event::State {
            status: Box::new(status),
        });
    }

    /// A copy of the secrets for one attempt (the copy is zeroized when the attempt is done).
    fn secrets(&self) -> ConnSecrets {
        self.params.secrets.clone()
    }

    /// Runs the state machine to a final state.
    async fn run(&mut self) {
        let mut state = State::Connecting { attempt: 0 };
        loop {
            state = match state {
                State::Connecting { attempt } => state::connecting::run(self, attempt).await,
                State::Connected(session) => state::connected::run(self, session).await,
                State::Reconnecting { attempt, reason } => {
                    state::reconnecting::run(self, attempt, reason).await
                }
                State::Disconnecting(session) => state::disconnecting::run(self, session).await,
                State::Disconnected => {
                    state::disconnected::enter(self);
                    break;
                }
                State::Error(error) => {
                    state::error::enter(self, &error);
                    break;
                }
            };
        }
        // Zeroize the secret now rather than whenever the task's memory is reused.
        self.params.secrets = ConnSecrets::default();
    }
}
