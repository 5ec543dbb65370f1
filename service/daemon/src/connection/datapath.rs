//! The datapath of one connection: packets between the TUN device and the UDP 4500 socket,
//! through the ESP SAs.
//!
//! Two tasks, one per direction, each with one buffer it reuses for every packet; neither waits
//! on the control plane. The control task only swaps SAs in the [`SaTable`] (make-before-break:
//! a rekey adds the new inbound SA before the old one is removed, and switches the outbound SA
//! in one step — at once for our own rekeys, and for the gateway's only once the gateway shows it
//! has the new SA, see [`Datapath::install`]). IKE messages that arrive on port 4500 are handed
//! to the control task.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use strait_esp::{classify_udp4500, spi_of, EspError, InboundSa, Opened, OutboundSa, Udp4500Kind};
use strait_platform::TunDevice;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Room before a packet read from TUN for the ESP header and IV.
const HEADROOM: usize = 64;
/// Largest packet we read or receive.
const MAX_PACKET: usize = 65_535;
/// Room after a packet for padding, trailer and ICV.
const TAILROOM: usize = 64;

/// The SAs the datapath uses.
#[derive(Default)]
pub struct SaTable {
    outbound: Mutex<Option<OutboundSa>>,
    inbound: Mutex<Vec<InboundSa>>,
    /// The outbound SA of a rekey the gateway started, waiting for the first packet on the
    /// inbound SA with this SPI (or the old SA's deletion) before it is used.
    pending: Mutex<Option<(u32, OutboundSa)>>,
    /// The inbound SPI of `pending` (0: none), so the receive path checks it without a lock.
    pending_spi: AtomicU32,
}

impl SaTable {
    /// Makes the pending outbound SA the current one, if its inbound SPI is `spi_in` (or any).
    fn promote(&self, spi_in: Option<u32>) {
        let mut pending = lock(&self.pending);
        if pending
            .as_ref()
            .is_some_and(|(spi, _)| spi_in.is_none_or(|s| s == *spi))
        {
            if let Some((spi, sa)) = pending.take() {
                debug!(
                    "sending on the new outbound SA {:08x} (inbound {spi:08x})",
                    sa.spi()
                );
                *lock(&self.outbound) = Some(sa);
            }
            self.pending_spi.store(0, Ordering::Relaxed);
        }
    }
}

/// Traffic counters, cumulative over rekeys.
#[derive(Default)]
pub struct Counters {
    pub bytes_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub packets_out: AtomicU64,
    pub packets_in: AtomicU64,
    pub replay_drops: AtomicU64,
    pub auth_failures: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> strait_ipc::Counters {
        strait_ipc::Counters {
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            packets_out: self.packets_out.load(Ordering::Relaxed),
            packets_in: self.packets_in.load(Ordering::Relaxed),
            replay_drops: self.replay_drops.load(Ordering::Relaxed),
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running datapath of one connection; its tasks stop when it is dropped.
pub struct Datapath {
    sas: Arc<SaTable>,
    pub counters: Arc<Counters>,
    tun: Arc<OnceLock<Arc<TunDevice>>>,
    natt: Arc<UdpSocket>,
    tasks: Vec<JoinHandle<()>>,
}

impl Datapath {
    /// Starts receiving on the NAT-T socket; IKE messages go to `ike_tx`.
    pub fn start(natt: Arc<UdpSocket>, ike_tx: mpsc::Sender<Vec<u8>>) -> Datapath {
        let sas = Arc::new(SaTable::default());
        let counters = Arc::new(Counters::default());
        let tun = Arc::new(OnceLock::new());
        let rx = tokio::spawn(receive(
            natt.clone(),
            sas.clone(),
            counters.clone(),
            tun.clone(),
            ike_tx,
        ));
        Datapath {
            sas,
            counters,
            tun,
            natt,
            tasks: vec![rx],
        }
    }

    /// Starts forwarding packets from the tunnel device (once).
    pub fn attach_tun(&mut self, tun: Arc<TunDevice>) {
        if self.tun.set(tun.clone()).is_ok() {
            self.tasks.push(tokio::spawn(transmit(
                tun,
                self.natt.clone(),
                self.sas.clone(),
                self.counters.clone(),
            )));
        }
    }

    /// Installs a child SA: the inbound SA joins the ones accepted, and the outbound SA
    /// replaces the current one — at once, or, when `wait_for_peer` (a rekey the gateway
    /// started, which it completes only after processing our answer), once the first packet
    /// arrives on the new inbound SA or the old SA is removed. Until then the old outbound SA,
    /// which the gateway still accepts, carries our packets, so none are lost to a gateway that
    /// has not installed the new one yet.
    pub fn install(&self, outbound: OutboundSa, inbound: InboundSa, wait_for_peer: bool) {
        let spi_in = inbound.spi();
        lock(&self.sas.inbound).push(inbound);
        let have_current = lock(&self.sas.outbound).is_some();
        if wait_for_peer && have_current {
            // A still older pending SA is superseded: the newest is the one to wait for.
            *lock(&self.sas.pending) = Some((spi_in, outbound));
            self.sas.pending_spi.store(spi_in, Ordering::Relaxed);
        } else {
            *lock(&self.sas.pending) = None;
            self.sas.pending_spi.store(0, Ordering::Relaxed);
            *lock(&self.sas.outbound) = Some(outbound);
        }
    }

    /// Removes the SAs of a deleted child SA; a pending outbound SA takes over from it.
    pub fn remove(&self, spi_in: u32, spi_out: u32) {
        lock(&self.sas.inbound).retain(|sa| sa.spi() != spi_in);
        let removed_current = {
            let mut out = lock(&self.sas.outbound);
            let current = out.as_ref().is_some_and(|sa| sa.spi() == spi_out);
            if current {
                *out = None;
            }
            current
        };
        if removed_current {
            self.sas.promote(None);
        } else if self.sas.pending_spi.load(Ordering::Relaxed) == spi_in {
            // The pending SA itself is gone before it was used.
            *lock(&self.sas.pending) = None;
            self.sas.pending_spi.store(0, Ordering::Relaxed);
        }
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// UDP 4500 → ESP → TUN, and IKE → control task.
async fn receive(
    natt: Arc<UdpSocket>,
    sas: Arc<SaTable>,
    counters: Arc<Counters>,
    tun: Arc<OnceLock<Arc<TunDevice>>>,
    ike_tx: mpsc::Sender<Vec<u8>>,
) {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        let n = match natt.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                // ICMP errors (port unreachable) surface here; the control plane notices a
                // dead gateway by itself.
                debug!("receive on UDP 4500: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let packet = &mut buf[..n];
        match classify_udp4500(packet) {
            Udp4500Kind::Ike(m) => {
                if ike_tx.try_send(m.to_vec()).is_err() {
                    debug!("control task busy; dropping an IKE message (it will be resent)");
                }
            }
            Udp4500Kind::Esp => {
                let Some(spi) = spi_of(packet) else {
                    continue;
                };
                let opened = {
                    let mut inbound = lock(&sas.inbound);
                    match inbound.iter_mut().find(|sa| sa.spi() == spi) {
                        Some(sa) => sa.open_in_place(packet),
                        None => {
                            debug!("ESP for unknown SPI {spi:08x}");
                            continue;
                        }
                    }
                };
                if opened.is_ok() && sas.pending_spi.load(Ordering::Relaxed) == spi {
                    // The gateway sends on the new SA, so it has installed it: we may too.
                    sas.promote(Some(spi));
                }
                match opened {
                    Ok(Opened::Packet(d)) => {
                        counters.packets_in.fetch_add(1, Ordering::Relaxed);
                        counters.bytes_in.fetch_add(d.len as u64, Ordering::Relaxed);
                        if let Some(tun) = tun.get() {
                            if let Err(e) = tun.send(&packet[d.range()]).await {
                                debug!("write to the tunnel device: {e}");
                            }
                        }
                    }
                    Ok(Opened::Dummy { .. }) => {}
                    Err(EspError::Replay { .. }) => {
                        counters.replay_drops.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(EspError::AuthFailed) => {
                        counters.auth_failures.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => debug!("dropping an inbound ESP packet: {e}"),
                }
            }
            Udp4500Kind::NatKeepalive | Udp4500Kind::Invalid => {}
        }
    }
}

/// TUN → ESP → UDP 4500.
async fn transmit(
    tun: Arc<TunDevice>,
    natt: Arc<UdpSocket>,
    sas: Arc<SaTable>,
    counters: Arc<Counters>,
) {
    let mut buf = vec![0u8; HEADROOM + MAX_PACKET + TAILROOM];
    loop {
        let n = match tun.recv(&mut buf[HEADROOM..HEADROOM + MAX_PACKET]).await {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e) => {
                warn!("reading the tunnel device failed: {e}");
                return;
            }
        };
        let sealed = {
            let mut out = lock(&sas.outbound);
            let Some(sa) = out.as_mut() else {
                continue;
            };
            let start = HEADROOM - sa.header_len();
            sa.seal_tunnel_in_place(&mut buf[start..], n)
                .map(|len| (start, len))
        };
        match sealed {
            Ok((start, len)) => {
                if let Err(e) = natt.send(&buf[start..start + len]).await {
                    debug!("send on UDP 4500: {e}");
                    continue;
                }
                counters.packets_out.fetch_add(1, Ordering::Relaxed);
                counters.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => debug!("dropping an outbound packet: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_esp::{EspAlgorithms, EspEncryption, SaConfig};

    fn pair(spi_in: u32, spi_out: u32) -> (OutboundSa, InboundSa) {
        let p = strait_crypto::default_provider();
        let algs = EspAlgorithms::aead(EspEncryption::AesGcm16_128);
        let key = [7u8; 20];
        (
            OutboundSa::new(&*p, &SaConfig::new(spi_out, algs), &key, &[]).unwrap(),
            InboundSa::new(&*p, &SaConfig::new(spi_in, algs), &key, &[]).unwrap(),
        )
    }

    fn current_out(dp: &Datapath) -> Option<u32> {
        lock(&dp.sas.outbound).as_ref().map(OutboundSa::spi)
    }

    async fn datapath() -> Datapath {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Datapath::start(Arc::new(sock), mpsc::channel(1).0)
    }

    #[tokio::test]
    async fn our_rekeys_switch_at_once() {
        let dp = datapath().await;
        let (o, i) = pair(0x101, 0x201);
        dp.install(o, i, false);
        let (o, i) = pair(0x102, 0x202);
        dp.install(o, i, false);
        assert_eq!(current_out(&dp), Some(0x202));
    }

    #[tokio::test]
    async fn the_gateways_rekey_switches_once_it_uses_the_new_sa_or_drops_the_old() {
        let dp = datapath().await;
        let (o, i) = pair(0x101, 0x201);
        dp.install(o, i, true); // nothing to keep sending on: at once
        assert_eq!(current_out(&dp), Some(0x201));

        // The gateway's rekey: keep the old outbound SA until it shows it has the new one.
        let (o, i) = pair(0x102, 0x202);
        dp.install(o, i, true);
        assert_eq!(current_out(&dp), Some(0x201));
        dp.sas.promote(Some(0x999));
        assert_eq!(
            current_out(&dp),
            Some(0x201),
            "a packet on another SA changes nothing"
        );
        dp.sas.promote(Some(0x102));
        assert_eq!(
            current_out(&dp),
            Some(0x202),
            "its first packet on the new SA"
        );
        assert_eq!(dp.sas.pending_spi.load(Ordering::Relaxed), 0);

        // Or when it deletes the old child first.
        let (o, i) = pair(0x103, 0x203);
        dp.install(o, i, true);
        assert_eq!(current_out(&dp), Some(0x202));
        dp.remove(0x102, 0x202);
        assert_eq!(current_out(&dp), Some(0x203));

        // A pending SA deleted before it was used is forgotten; the current one stays.
        let (o, i) = pair(0x104, 0x204);
        dp.install(o, i, true);
        dp.remove(0x104, 0x204);
        assert_eq!(current_out(&dp), Some(0x203));
        assert!(lock(&dp.sas.pending).is_none());
    }
}
