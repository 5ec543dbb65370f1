//! One connection: a task that owns its IKE SA, its sockets, its tunnel device and the routes
//! and DNS it installed, and reports its state.
//!
//! States follow design.md: connecting → connected → (reconnecting →) disconnecting →
//! disconnected, or error with a reason in plain words. A connection that was up and lost its
//! gateway (no answer, dead peer detection, the gateway closed it) reconnects with backoff until
//! the user disconnects; a failure before the first success is reported and ends the attempt.
//!
//! The kill switch (`kill_switch = true`) belongs to the connection, not to one attempt: it goes
//! on when connecting starts (right after the gateway's name is resolved, since DNS is blocked
//! after), stays on through connected, reconnecting and error, and only the user's disconnect
//! (or removing the profile, or the service stopping) lifts it. A connection that failed with
//! its kill switch on therefore stays alive in the error state, holding the block, until the
//! user disconnects or connects again (which reuses it, so the block never lifts in between).

mod datapath;
mod session;
mod state;
mod tunnel;

use std::net::SocketAddr;
use std::path::PathBuf;

use strait_ipc::{ConnState, ConnectionStatus, ErrorKind, Event, IpcError};
use strait_platform::{Firewall, FirewallPolicy};
use strait_profile::Profile;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn, Instrument};

use crate::convert::ConnSecrets;
use state::State;

/// What the status says while a kill switch holds traffic after a failure.
pub const KILL_SWITCH_NOTE: &str =
    "; traffic stays blocked because this profile's kill switch is on; disconnect to unblock";

/// What the service can tell a connection.
pub enum Command {
    /// Delete the SAs and tear everything down (and lift the kill switch).
    Disconnect,
    /// Connect again (only sent to a connection that failed and holds its kill switch):
    /// the possibly re-imported profile and fresh secrets.
    Connect {
        profile: Box<Profile>,
        secrets: ConnSecrets,
    },
}

/// The service's handle on a running connection.
pub struct ConnHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub status: watch::Receiver<ConnectionStatus>,
    pub task: tokio::task::JoinHandle<()>,
    /// The profile asked for the kill switch (such a connection cannot share the machine with
    /// another one: each kill switch lets traffic through its own tunnel only).
    pub kill_switch: bool,
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
    let kill_switch = params.profile.network.kill_switch;
    let task = tokio::spawn(
        async move {
            let mut conn = Connection {
                status: status_tx,
                events: params.events.clone(),
                commands: cmd_rx,
                params,
                kill_switch: None,
                block: None,
                gateway: None,
            };
            conn.run().await;
        }
        .instrument(span),
    );
    ConnHandle {
        commands: cmd_tx,
        status: status_rx,
        task,
        kill_switch,
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
        kill_switch: p.profile.network.kill_switch,
        reason: None,
    }
}

pub(super) struct Connection {
    params: ConnectParams,
    status: watch::Sender<ConnectionStatus>,
    events: broadcast::Sender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// The kill switch while it is on (from the start of connecting until the user
    /// disconnects).
    kill_switch: Option<Box<dyn Firewall>>,
    /// The policy the kill switch last put in place (to log only changes: every reconnect
    /// attempt re-applies it, which also heals a table someone deleted).
    block: Option<FirewallPolicy>,
    /// The gateway's address as last resolved: a reconnect behind the kill switch cannot ask
    /// DNS outside the tunnel, and falls back to it.
    gateway: Option<SocketAddr>,
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

    /// The first state: connecting, once the kill switch is ready if the profile wants one.
    fn start(&mut self) -> State {
        self.prepare_kill_switch()
            .map_or_else(State::Error, |()| State::Connecting { attempt: 0 })
    }

    /// Makes the kill switch ready when the profile asks for one (and lifts one it no longer
    /// asks for). An OS without a backend refuses here, before anything is sent.
    fn prepare_kill_switch(&mut self) -> Result<(), IpcError> {
        if !self.params.profile.network.kill_switch {
            self.lift_kill_switch();
            return Ok(());
        }
        if self.kill_switch.is_none() {
            let ks = strait_platform::kill_switch(&self.params.state_dir, &self.params.id)
                .map_err(|e| IpcError::new(ErrorKind::InvalidProfile, e.to_string()))?;
            self.kill_switch = Some(ks);
        }
        Ok(())
    }

    /// Puts the kill switch's block in place (or updates it) for the gateway at `gateway`
    /// (`None`: not known, so only the basics pass). No-op without a kill switch.
    fn block(&mut self, gateway: Option<SocketAddr>) -> Result<(), IpcError> {
        let Some(ks) = self.kill_switch.as_mut() else {
            return Ok(());
        };
        let policy = FirewallPolicy {
            tunnel_interface: tunnel::tun_name(&self.params.id),
            gateway: gateway.map(|g| g.ip()),
            ike_port: gateway.map_or(500, |g| g.port()),
        };
        ks.apply(&policy).map_err(|e| {
            IpcError::new(
                ErrorKind::ConnectFailed,
                format!(
                    "cannot turn on the kill switch: {e}; nothing was sent (set \
                     kill_switch = false to connect without it)"
                ),
            )
        })?;
        if self.block.as_ref() != Some(&policy) {
            match gateway {
                Some(g) => info!(
                    "kill switch on: only the tunnel and IKE/ESP with {} pass",
                    g.ip()
                ),
                None => info!("kill switch on: all traffic outside the tunnel is blocked"),
            }
        }
        self.block = Some(policy);
        Ok(())
    }

    /// Lifts the kill switch's block, if one is on.
    fn lift_kill_switch(&mut self) {
        self.block = None;
        if let Some(mut ks) = self.kill_switch.take() {
            match ks.revert() {
                Ok(()) => info!("kill switch off: traffic outside the tunnel flows again"),
                Err(e) => warn!("cannot lift the kill switch: {e}"),
            }
        }
    }

    /// The text the status shows after `reason` (a failure): the kill-switch note while the
    /// block holds.
    fn with_block_note(&self, reason: &str) -> String {
        if self.kill_switch.is_some() {
            format!("{reason}{KILL_SWITCH_NOTE}")
        } else {
            reason.to_owned()
        }
    }

    /// Runs the state machine to a final state.
    async fn run(&mut self) {
        let mut state = self.start();
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
                State::Error(error) => match state::error::run(self, &error).await {
                    Some(next) => next,
                    None => break,
                },
            };
        }
        // Zeroize the secret now rather than whenever the task's memory is reused.
        self.params.secrets = ConnSecrets::default();
    }
}

impl Drop for Connection {
    /// A task that ends without passing through disconnected (the service's runtime stops)
    /// still lifts its block: stopping the service is a way of disconnecting.
    fn drop(&mut self) {
        self.lift_kill_switch();
    }
}
