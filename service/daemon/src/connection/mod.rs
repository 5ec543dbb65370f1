//! One connection: a task that owns its IKE SA, its sockets, its tunnel device and the routes
//! and DNS it installed, and reports its state.
//!
//! States follow design.md: connecting → connected → (reconnecting →) disconnecting →
//! disconnected, or error with a reason in plain words. A connection that was up and lost its
//! gateway (no answer, dead peer detection, the gateway closed it) reconnects with backoff until
//! the user disconnects; a failure before the first success is reported and ends the attempt.

mod datapath;
mod tunnel;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use strait_ike::v2::{Error as IkeError, Event as IkeEvent, IkeSa};
use strait_ipc::{ConnState, ConnectionStatus, ErrorKind, Event, IpcError};
use strait_profile::Profile;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn, Instrument};

use crate::convert::{self, ConnSecrets};
use datapath::Datapath;
use tunnel::Tunnel;

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
        reason: None,
    }
}

/// How one attempt ended.
enum Outcome {
    /// The user disconnected.
    Closed,
    /// It failed; `was_up` if the tunnel had been established.
    Failed {
        error: IpcError,
        was_up: bool,
        retry: bool,
    },
}

struct Connection {
    params: ConnectParams,
    status: watch::Sender<ConnectionStatus>,
    events: broadcast::Sender<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
}

const RECONNECT_BACKOFF: [u64; 6] = [1, 2, 5, 10, 20, 30];

impl Connection {
    fn publish(&self, f: impl FnOnce(&mut ConnectionStatus)) {
        self.status.send_modify(f);
        let status = self.status.borrow().clone();
        let _ = self.events.send(Event::State {
            status: Box::new(status),
        });
    }

    async fn run(&mut self) {
        info!("connecting to {}", self.params.profile.gateway);
        let mut psk = self.params.secrets.psk.take();
        let mut failures = 0usize;
        loop {
            let secrets = ConnSecrets { psk: psk.clone() };
            match self.attempt(secrets).await {
                Outcome::Closed => {
                    self.publish(|s| {
                        *s = ConnectionStatus {
                            state: ConnState::Disconnected,
                            ..s.clone()
                        };
                        s.uptime_secs = None;
                    });
                    info!("disconnected");
                    break;
                }
                Outcome::Failed {
                    error,
                    was_up,
                    retry,
                } => {
                    if was_up {
                        failures = 0;
                    }
                    if !(retry && (was_up || failures > 0)) {
                        warn!("connection failed: {}", error.message);
                        self.publish(|s| {
                            s.state = ConnState::Error;
                            s.reason = Some(error.message.clone());
                            s.uptime_secs = None;
                        });
                        break;
                    }
                    let wait = RECONNECT_BACKOFF[failures.min(RECONNECT_BACKOFF.len() - 1)];
                    failures += 1;
                    warn!("{}; reconnecting in {wait} s", error.message);
                    self.publish(|s| {
                        s.state = ConnState::Reconnecting;
                        s.reason = Some(error.message.clone());
                        s.uptime_secs = None;
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
                        cmd = self.commands.recv() => {
                            let _ = cmd;
                            self.publish(|s| {
                                s.state = ConnState::Disconnected;
                                s.reason = None;
                            });
                            break;
                        }
                    }
                }
            }
        }
        // Zeroize the secret now rather than whenever the task's memory is reused.
        psk.take();
    }

    async fn resolve(&self) -> Result<SocketAddr, IpcError> {
        let gw = &self.params.profile.gateway;
        let addrs = tokio::net::lookup_host((gw.host.as_str(), gw.port))
            .await
            .map_err(|e| {
                IpcError::new(
                    ErrorKind::ConnectFailed,
                    format!(
                        "cannot resolve the gateway name `{}`: {e}; check the name and your \
                         network connection",
                        gw.host
                    ),
                )
            })?;
        let addrs: Vec<SocketAddr> = addrs.collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| {
                IpcError::new(
                    ErrorKind::ConnectFailed,
                    format!("the gateway name `{}` has no address", gw.host),
                )
            })
    }

    async fn attempt(&mut self, mut secrets: ConnSecrets) -> Outcome {
        let failed = |error, was_up, retry| Outcome::Failed {
            error,
            was_up,
            retry,
        };
        let remote = match self.resolve().await {
            Ok(r) => r,
            Err(e) => return failed(e, false, true),
        };
        self.publish(|s| {
            s.state = ConnState::Connecting;
            s.gateway_address = Some(remote.ip().to_string());
        });
        let (ike_sock, natt_sock) = match sockets(remote).await {
            Ok(s) => s,
            Err(e) => {
                let err = IpcError::new(
                    ErrorKind::ConnectFailed,
                    format!("cannot open UDP sockets towards {remote}: {e}"),
                );
                return failed(err, false, true);
            }
        };
        let local = match ike_sock.local_addr() {
            Ok(a) => a,
            Err(e) => {
                return failed(
                    IpcError::new(ErrorKind::Internal, e.to_string()),
                    false,
                    false,
                )
            }
        };
        let config = match convert::ike_config(&self.params.profile, &mut secrets, local, remote) {
            Ok(c) => c,
            Err(e) => return failed(e, false, false),
        };
        for p in &self.params.profile.crypto.ike {
            for w in p.weak_algorithms() {
                warn!("the profile allows the weak algorithm {w}");
            }
        }
        let provider = strait_crypto::default_provider();
        let mut sa = match IkeSa::new(config, provider.clone(), Instant::now()) {
            Ok(sa) => sa,
            Err(e) => return failed(convert::connect_error(&e), false, false),
        };
        let natt_sock = Arc::new(natt_sock);
        let (ike_tx, mut ike_rx) = mpsc::channel(64);
        let mut datapath = Datapath::start(natt_sock.clone(), ike_tx);
        let mut tunnel: Option<Tunnel> = None;
        let mut up_since: Option<SystemTime> = None;
        let mut user_closed = false;
        // After a disconnect we wait this long for the gateway to confirm, then go anyway.
        let mut close_deadline: Option<tokio::time::Instant> = None;
        let mut nat_keepalive: Option<tokio::time::Interval> = None;
        let mut counters_tick = tokio::time::interval(Duration::from_secs(2));
        let mut buf = vec![0u8; 65_536];
        let outcome = loop {
            while let Some(t) = sa.poll_transmit() {
                let r = if t.udp_encap {
                    let mut d = Vec::with_capacity(4 + t.data.len());
                    d.extend_from_slice(&strait_esp::NON_ESP_MARKER);
                    d.extend_from_slice(&t.data);
                    natt_sock.send(&d).await
                } else {
                    ike_sock.send(&t.data).await
                };
                if let Err(e) = r {
                    tracing::debug!("sending IKE: {e}");
                }
            }
            let mut closed: Option<Option<IkeError>> = None;
            while let Some(ev) = sa.poll_event() {
                match ev {
                    IkeEvent::NatDetected {
                        local_behind_nat,
                        remote_behind_nat,
                    } => {
                        self.publish(|s| s.nat = local_behind_nat || remote_behind_nat);
                        if let Some(every) = self.params.profile.network.nat_keepalive {
                            let mut iv = tokio::time::interval(every);
                            iv.reset();
                            nat_keepalive = Some(iv);
                        }
                    }
                    IkeEvent::IkeSaUp {
                        algorithms,
                        remote_id,
                    } => {
                        info!("authenticated the gateway as `{remote_id}`");
                        let spi = sa.local_spi();
                        self.publish(|s| {
                            s.ike_algorithms = Some(algorithms.to_string());
                            s.ike_spis = Some(format!("{spi:016x}"));
                        });
                    }
                    IkeEvent::IkeSaRekeyed { algorithms } => {
                        let spi = sa.local_spi();
                        self.publish(|s| {
                            s.ike_algorithms = Some(algorithms.to_string());
                            s.ike_spis = Some(format!("{spi:016x}"));
                        });
                    }
                    IkeEvent::ChildSaUp(info) => {
                        let first = tunnel.is_none();
                        if first {
                            match Tunnel::open(&self.params, &info, remote) {
                                Ok(t) => {
                                    datapath.attach_tun(t.device.clone());
                                    let (vips, dns, domains, routes) = t.summary();
                                    self.publish(|s| {
                                        s.virtual_ips = vips;
                                        s.dns = dns;
                                        s.dns_domains = domains;
                                        s.routes = routes;
                                    });
                                    tunnel = Some(t);
                                }
                                Err(e) => {
                                    warn!("{e}");
                                    sa.close(Instant::now());
                                    closed = Some(Some(IkeError::Protocol {
                                        stage: strait_ike::v2::Stage::IkeAuth,
                                        detail: e.to_string(),
                                    }));
                                    continue;
                                }
                            }
                        }
                        match tunnel::esp_sas(&*provider, &info) {
                            Ok((out, inb)) => datapath.install(out, inb),
                            Err(e) => warn!("cannot install the child SA: {e}"),
                        }
                        self.publish(|s| {
                            s.esp_algorithms = Some(info.algorithms.to_string());
                            s.esp_spis = Some((
                                format!("{:08x}", info.spi_in),
                                format!("{:08x}", info.spi_out),
                            ));
                        });
                        if first {
                            up_since = Some(SystemTime::now());
                            info!("connected");
                            self.publish(|s| {
                                s.state = ConnState::Connected;
                                s.reason = None;
                                s.uptime_secs = Some(0);
                            });
                        }
                    }
                    IkeEvent::ChildSaDeleted { spi_in, spi_out } => {
                        datapath.remove(spi_in, spi_out);
                    }
                    IkeEvent::Closed { error } => closed = Some(error),
                }
            }
            if let Some(error) = closed {
                break match error {
                    None if user_closed => Outcome::Closed,
                    None => failed(
                        IpcError::new(ErrorKind::ConnectFailed, "the connection was closed"),
                        up_since.is_some(),
                        true,
                    ),
                    Some(e) => {
                        let retry = matches!(
                            e,
                            IkeError::DeadPeer
                                | IkeError::PeerDeleted
                                | IkeError::Timeout { .. }
                                | IkeError::Expired(_)
                        );
                        if user_closed {
                            Outcome::Closed
                        } else {
                            failed(convert::connect_error(&e), up_since.is_some(), retry)
                        }
                    }
                };
            }
            if close_deadline.is_some_and(|t| tokio::time::Instant::now() >= t) {
                info!("the gateway did not confirm the disconnect; closing anyway");
                break Outcome::Closed;
            }
            let mut deadline = sa
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            if let Some(t) = close_deadline {
                deadline = deadline.min(t);
            }
            tokio::select! {
                r = ike_sock.recv(&mut buf) => {
                    if let Ok(n) = r {
                        sa.handle_datagram(Instant::now(), &buf[..n]);
                    }
                }
                Some(m) = ike_rx.recv() => sa.handle_datagram(Instant::now(), &m),
                _ = tokio::time::sleep_until(deadline) => sa.handle_timeout(Instant::now()),
                cmd = self.commands.recv() => {
                    // A dropped handle means the service is going away: disconnect too.
                    let _ = cmd;
                    if !user_closed {
                        info!("disconnecting");
                        user_closed = true;
                        close_deadline =
                            Some(tokio::time::Instant::now() + Duration::from_secs(3));
                        self.publish(|s| s.state = ConnState::Disconnecting);
                        sa.close(Instant::now());
                    }
                }
                _ = async {
                    match &mut nat_keepalive {
                        Some(iv) => { iv.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {
                    let _ = natt_sock.send(&strait_esp::NAT_KEEPALIVE).await;
                }
                _ = counters_tick.tick() => {
                    if let Some(since) = up_since {
                        let counters = datapath.counters.snapshot();
                        let uptime = since.elapsed().map_or(0, |d| d.as_secs());
                        self.status.send_modify(|s| {
                            s.counters = counters;
                            s.uptime_secs = Some(uptime);
                        });
                        let _ = self.events.send(Event::Counters {
                            profile: self.params.id.clone(),
                            counters,
                        });
                    }
                }
            }
        };
        // Flush the last messages (our DELETE) before the sockets close.
        while let Some(t) = sa.poll_transmit() {
            let mut d = Vec::new();
            if t.udp_encap {
                d.extend_from_slice(&strait_esp::NON_ESP_MARKER);
                d.extend_from_slice(&t.data);
                let _ = natt_sock.send(&d).await;
            } else {
                let _ = ike_sock.send(&t.data).await;
            }
        }
        let counters = datapath.counters.snapshot();
        self.status.send_modify(|s| s.counters = counters);
        drop(datapath);
        if let Some(mut t) = tunnel {
            t.close();
        }
        outcome
    }
}

/// The IKE socket (towards the gateway's port 500) and the NAT-T socket (towards 4500), on
/// ephemeral local ports so that Strait coexists with other IKE software on the machine.
async fn sockets(remote: SocketAddr) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let any: SocketAddr = if remote.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let ike = UdpSocket::bind(any).await?;
    ike.connect(remote).await?;
    let natt = UdpSocket::bind(any).await?;
    natt.connect(SocketAddr::new(remote.ip(), 4500)).await?;
    Ok((ike, natt))
}
