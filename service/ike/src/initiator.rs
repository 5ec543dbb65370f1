//! One type for the service to drive, whichever IKE version a profile speaks.
//!
//! IKEv1 and IKEv2 differ on the wire but not in what the service needs from them: datagrams
//! and time in; datagrams, a deadline and [`Event`]s out. [`Initiator`] is that common face, so
//! the service's connection task has one code path for both.

use std::time::Instant;

use crate::{v1, v2};
use crate::{Event, Transmit};

/// When the SA plans its next rekeys (for the status shown to users).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekeyTimes {
    /// The next IKE SA (phase 1) rekey.
    pub ike: Option<Instant>,
    /// The next child SA (phase 2) rekey.
    pub child: Option<Instant>,
}

/// The IKE initiator of one connection.
#[derive(Debug)]
pub enum Initiator {
    /// IKEv1 (Main or Aggressive Mode, then Quick Mode).
    V1(Box<v1::Sa>),
    /// IKEv2.
    V2(Box<v2::IkeSa>),
}

macro_rules! delegate {
    ($self:ident, $sa:ident => $e:expr) => {
        match $self {
            Initiator::V1($sa) => $e,
            Initiator::V2($sa) => $e,
        }
    };
}

impl Initiator {
    /// Our SPI (IKEv1: initiator cookie) of the current IKE SA.
    pub fn local_spi(&self) -> u64 {
        delegate!(self, sa => sa.local_spi())
    }

    /// Whether IKE and ESP use UDP encapsulation on port 4500.
    pub fn udp_encap(&self) -> bool {
        delegate!(self, sa => sa.udp_encap())
    }

    /// Whether the IKE SA is authenticated and not closing.
    pub fn is_established(&self) -> bool {
        delegate!(self, sa => sa.is_established())
    }

    /// Whether the SA is gone.
    pub fn is_closed(&self) -> bool {
        delegate!(self, sa => sa.is_closed())
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        delegate!(self, sa => sa.poll_transmit())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        delegate!(self, sa => sa.poll_event())
    }

    /// When [`Initiator::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        delegate!(self, sa => sa.poll_timeout())
    }

    /// When the next rekeys are planned.
    pub fn rekey_times(&self) -> RekeyTimes {
        delegate!(self, sa => sa.rekey_times())
    }

    /// Deletes the SA (the user disconnects); [`Event::Closed`] follows.
    pub fn close(&mut self, now: Instant) {
        delegate!(self, sa => sa.close(now))
    }

    /// Handles an expired timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        delegate!(self, sa => sa.handle_timeout(now))
    }

    /// Handles a datagram from the gateway (non-ESP marker already removed).
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        delegate!(self, sa => sa.handle_datagram(now, data))
    }
}
