//! One attempt's machinery: the UDP sockets, the IKE SA, the datapath and (once the first child
//! SA is up) the tunnel device with its routes and DNS. The states drive it one [`Step`] at a
//! time; it reports the moments they care about.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use strait_crypto::CryptoProvider;
use strait_ike::v2::IkeSa;
use strait_ike::{v1, Initiator};
use strait_ike::{Error as IkeError, Event as IkeEvent, Stage};
use strait_ipc::{ErrorKind, Event, IpcError};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::datapath::Datapath;
use super::tunnel::{self, Tunnel};
use super::Connection;
use crate::convert::{self, ConnSecrets};

/// What happened in one step.
pub(super) enum Step {
    /// Nothing a state has to act on.
    Continue,
    /// The first child SA is installed and the tunnel is up.
    Up,
    /// The IKE SA is gone (`None`: closed on purpose or without a reason).
    Closed(Option<IkeError>),
    /// The service asked to disconnect (the only command a live session gets: `Connect` goes
    /// to connections in the error state only).
    Disconnect,
}

/// Why a session could not even start.
pub(super) struct OpenError {
    pub error: IpcError,
    /// Worth trying again later (network trouble), unlike a configuration problem.
    pub retry: bool,
}

pub(super) struct Session {
    sa: Initiator,
    provider: Arc<dyn CryptoProvider>,
    remote: SocketAddr,
    ike_sock: UdpSocket,
    natt_sock: Arc<UdpSocket>,
    ike_rx: mpsc::Receiver<Vec<u8>>,
    datapath: Datapath,
    tunnel: Option<Tunnel>,
    /// When the tunnel came up.
    pub up_since: Option<SystemTime>,
    nat_keepalive: Option<tokio::time::Interval>,
    counters_tick: tokio::time::Interval,
    buf: Vec<u8>,
}

impl Session {
    /// Resolves the gateway, turns the kill switch on (if the profile has one), opens the
    /// sockets and sends IKE_SA_INIT.
    pub async fn open(
        conn: &mut Connection,
        mut secrets: ConnSecrets,
    ) -> Result<Session, OpenError> {
        let remote = match (resolve(conn).await, conn.gateway) {
            (Ok(remote), _) => remote,
            // Behind the kill switch DNS outside the tunnel is blocked: reconnect to the
            // address the name had.
            (Err(error), Some(last)) if conn.kill_switch.is_some() => {
                warn!("{}; trying its last known address {last}", error.message);
                last
            }
            (Err(error), _) => {
                // Nothing to connect to; still block, the profile wants no leak meanwhile.
                conn.block(None).map_err(|error| OpenError {
                    error,
                    retry: false,
                })?;
                return Err(OpenError { error, retry: true });
            }
        };
        conn.gateway = Some(remote);
        conn.block(Some(remote)).map_err(|error| OpenError {
            error,
            retry: false,
        })?;
        conn.publish(|s| s.gateway_address = Some(remote.ip().to_string()));
        let (ike_sock, natt_sock) = sockets(remote).await.map_err(|e| OpenError {
            error: IpcError::new(
                ErrorKind::ConnectFailed,
                format!("cannot open UDP sockets towards {remote}: {e}"),
            ),
            retry: true,
        })?;
        let local = ike_sock.local_addr().map_err(|e| OpenError {
            error: IpcError::new(ErrorKind::Internal, e.to_string()),
            retry: false,
        })?;
        let profile = &conn.params.profile;
        let config =
            convert::ike_config(profile, &mut secrets, local, remote).map_err(|error| {
                OpenError {
                    error,
                    retry: false,
                }
            })?;
        for p in &profile.crypto.ike {
            for w in p.weak_algorithms() {
                warn!("the profile allows the weak algorithm {w}");
            }
        }
        let v1_options = convert::v1_options(profile, &mut secrets).map_err(|error| OpenError {
            error,
            retry: false,
        })?;
        let provider = strait_crypto::default_provider();
        let sa = match v1_options {
            None => IkeSa::new(config, provider.clone(), Instant::now())
                .map(|sa| Initiator::V2(Box::new(sa))),
            Some(opts) => v1::Sa::new(config, opts, provider.clone(), Instant::now())
                .map(|sa| Initiator::V1(Box::new(sa))),
        }
        .map_err(|e| OpenError {
            error: convert::connect_error(&e),
            retry: false,
        })?;
        let natt_sock = Arc::new(natt_sock);
        let (ike_tx, ike_rx) = mpsc::channel(64);
        let datapath = Datapath::start(natt_sock.clone(), ike_tx);
        Ok(Session {
            sa,
            provider,
            remote,
            ike_sock,
            natt_sock,
            ike_rx,
            datapath,
            tunnel: None,
            up_since: None,
            nat_keepalive: None,
            counters_tick: tokio::time::interval(Duration::from_secs(2)),
            buf: vec![0u8; 65_536],
        })
    }

    /// Starts deleting the IKE SA (the user disconnects).
    pub fn close(&mut self) {
        self.sa.close(Instant::now());
    }

    async fn flush(&mut self) {
        while let Some(t) = self.sa.poll_transmit() {
            let r = if t.udp_encap {
                let mut d = Vec::with_capacity(4 + t.data.len());
                d.extend_from_slice(&strait_esp::NON_ESP_MARKER);
                d.extend_from_slice(&t.data);
                self.natt_sock.send(&d).await
            } else {
                self.ike_sock.send(&t.data).await
            };
            if let Err(e) = r {
                debug!("sending IKE: {e}");
            }
        }
    }

    /// Sends what is due, handles the IKE SA's events, then waits for the next input.
    pub async fn step(&mut self, conn: &mut Connection) -> Step {
        self.flush().await;
        let mut up = false;
        let mut closed: Option<Option<IkeError>> = None;
        while let Some(ev) = self.sa.poll_event() {
            match ev {
                IkeEvent::NatDetected {
                    local_behind_nat,
                    remote_behind_nat,
                } => {
                    conn.publish(|s| s.nat = local_behind_nat || remote_behind_nat);
                    if let Some(every) = conn.params.profile.network.nat_keepalive {
                        let mut iv = tokio::time::interval(every);
                        iv.reset();
                        self.nat_keepalive = Some(iv);
                    }
                }
                IkeEvent::IkeSaUp {
                    algorithms,
                    remote_id,
                } => {
                    info!("authenticated the gateway as `{remote_id}`");
                    let spi = self.sa.local_spi();
                    conn.publish(|s| {
                        s.ike_algorithms = Some(algorithms.to_string());
                        s.ike_spis = Some(format!("{spi:016x}"));
                    });
                }
                IkeEvent::IkeSaRekeyed { algorithms } => {
                    let spi = self.sa.local_spi();
                    conn.publish(|s| {
                        s.ike_algorithms = Some(algorithms.to_string());
                        s.ike_spis = Some(format!("{spi:016x}"));
                    });
                }
                IkeEvent::ChildSaUp(info) => {
                    if self.tunnel.is_none() {
                        match Tunnel::open(&conn.params, &info, self.remote) {
                            Ok(t) => {
                                self.datapath.attach_tun(t.device.clone());
                                let (vips, dns, domains, routes) = t.summary();
                                conn.publish(|s| {
                                    s.virtual_ips = vips;
                                    s.dns = dns;
                                    s.dns_domains = domains;
                                    s.routes = routes;
                                });
                                self.tunnel = Some(t);
                                self.up_since = Some(SystemTime::now());
                                up = true;
                            }
                            Err(e) => {
                                warn!("{e}");
                                self.sa.close(Instant::now());
                                closed = Some(Some(IkeError::Protocol {
                                    stage: Stage::IkeAuth,
                                    detail: e.to_string(),
                                }));
                                continue;
                            }
                        }
                    }
                    match tunnel::esp_sas(&*self.provider, &info) {
                        Ok((out, inb)) => self.datapath.install(
                            out,
                            inb,
                            info.peer_initiated && info.replaces.is_some(),
                        ),
                        Err(e) => warn!("cannot install the child SA: {e}"),
                    }
                    conn.publish(|s| {
                        s.esp_algorithms = Some(info.algorithms.to_string());
                        s.esp_spis = Some((
                            format!("{:08x}", info.spi_in),
                            format!("{:08x}", info.spi_out),
                        ));
                    });
                }
                IkeEvent::ChildSaDeleted { spi_in, spi_out } => {
                    self.datapath.remove(spi_in, spi_out);
                }
                IkeEvent::Closed { error } => closed = Some(error),
            }
        }
        if let Some(error) = closed {
            return Step::Closed(error);
        }
        if up {
            return Step::Up;
        }
        let deadline = self
            .sa
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = self.ike_sock.recv(&mut self.buf) => {
                if let Ok(n) = r {
                    self.sa.handle_datagram(Instant::now(), &self.buf[..n]);
                }
            }
            Some(m) = self.ike_rx.recv() => self.sa.handle_datagram(Instant::now(), &m),
            _ = tokio::time::sleep_until(deadline) => self.sa.handle_timeout(Instant::now()),
            // A dropped handle means the service is going away: disconnect too.
            _ = conn.commands.recv() => return Step::Disconnect,
            _ = async {
                match &mut self.nat_keepalive {
                    Some(iv) => { iv.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                let _ = self.natt_sock.send(&strait_esp::NAT_KEEPALIVE).await;
            }
            _ = self.counters_tick.tick() => {
                if let Some(since) = self.up_since {
                    let counters = self.datapath.counters.snapshot();
                    let uptime = since.elapsed().map_or(0, |d| d.as_secs());
                    let (ike_rekey, child_rekey) = self.rekey_in_secs();
                    conn.status.send_modify(|s| {
                        s.counters = counters;
                        s.uptime_secs = Some(uptime);
                        s.ike_rekey_in_secs = ike_rekey;
                        s.child_rekey_in_secs = child_rekey;
                    });
                    let _ = conn.events.send(Event::Counters {
                        profile: conn.params.id.clone(),
                        counters,
                        ike_rekey_in_secs: ike_rekey,
                        child_rekey_in_secs: child_rekey,
                    });
                }
            }
        }
        Step::Continue
    }

    /// Seconds from now until the next IKE SA and child SA rekeys (rounded down, 0 once
    /// due), for the status: relative times need no clock agreement with the UI.
    pub fn rekey_in_secs(&self) -> (Option<u64>, Option<u64>) {
        let now = Instant::now();
        let rekey = self.sa.rekey_times();
        let secs_until = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(now).as_secs());
        (secs_until(rekey.ike), secs_until(rekey.child))
    }

    /// Sends the last messages (our DELETE), and removes the tunnel, its routes and DNS.
    pub async fn finish(mut self, conn: &Connection) {
        self.flush().await;
        let counters = self.datapath.counters.snapshot();
        conn.status.send_modify(|s| s.counters = counters);
        drop(self.datapath);
        if let Some(mut t) = self.tunnel.take() {
            t.close();
        }
    }
}

async fn resolve(conn: &Connection) -> Result<SocketAddr, IpcError> {
    let gw = &conn.params.profile.gateway;
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
