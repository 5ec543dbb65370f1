//! The IKEv1 initiator's state machine: one ISAKMP SA and its Quick Mode child SAs.

use std::sync::Arc;
use std::time::Instant;

use strait_crypto::CryptoProvider;
use zeroize::Zeroizing;

use crate::initiator::RekeyTimes;
use crate::v2::{Config, Error, Event, Transmit};

/// Phase 1 exchange type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Main Mode: six messages, identities protected.
    Main,
    /// Aggressive Mode: three messages; with a PSK the gateway's reply lets an eavesdropper
    /// brute-force the key offline.
    Aggressive,
}

/// XAuth credentials (draft-beaulieu-ike-xauth), asked for by the gateway after phase 1.
pub struct Xauth {
    /// User name.
    pub username: String,
    /// Password (zeroized on drop, never logged).
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Xauth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Xauth {{ username: {:?}, password: <redacted> }}",
            self.username
        )
    }
}

/// What IKEv1 needs beyond the shared [`Config`].
#[derive(Debug)]
pub struct Options {
    /// Main or Aggressive Mode.
    pub mode: Mode,
    /// XAuth user name and password, for `xauth-psk` and `xauth-cert` profiles.
    pub xauth: Option<Xauth>,
}

/// The IKEv1 SA of one connection (ISAKMP SA plus its IPsec SAs).
#[derive(Debug)]
pub struct Sa {
    _cfg: Config,
    _opts: Options,
    _provider: Arc<dyn CryptoProvider>,
}

impl Sa {
    /// Starts a connection: builds the first phase 1 message.
    pub fn new(
        cfg: Config,
        opts: Options,
        provider: Arc<dyn CryptoProvider>,
        _now: Instant,
    ) -> Result<Sa, Error> {
        let _ = (cfg, opts, provider);
        Err(Error::Protocol {
            stage: crate::v2::Stage::IkeSaInit,
            detail: "IKEv1 is not implemented yet".into(),
        })
    }

    /// Our initiator cookie.
    pub fn local_spi(&self) -> u64 {
        0
    }

    /// Whether IKE and ESP use UDP 4500.
    pub fn udp_encap(&self) -> bool {
        false
    }

    /// Whether phase 1 (and XAuth/Mode Config) completed and the SA is not closing.
    pub fn is_established(&self) -> bool {
        false
    }

    /// Whether the SA is gone.
    pub fn is_closed(&self) -> bool {
        true
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        None
    }

    /// When [`Sa::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// When the next rekeys are planned.
    pub fn rekey_times(&self) -> RekeyTimes {
        RekeyTimes::default()
    }

    /// Deletes the SAs (the user disconnects).
    pub fn close(&mut self, _now: Instant) {}

    /// Handles an expired timer.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// Handles a datagram (non-ESP marker already removed).
    pub fn handle_datagram(&mut self, _now: Instant, _data: &[u8]) {}
}
