//! `strait-ike`: the IKE initiator of Strait, as a sans-IO library.
//!
//! This crate does **no I/O**: no sockets, no clocks, no threads, no async runtime. It is driven
//! the way quinn-proto is:
//!
//! ```text
//!            datagram + now                         now
//!   service ───────────────▶ handle_datagram   handle_timeout ◀── timer fires
//!      ▲                           │                 │
//!      │                     ┌─────▼─────────────────▼─────┐
//!      │  poll_transmit()    │      IKE SA state machine   │  poll_timeout(): next deadline
//!      └─────────────────────│  (one per connection, owns  │
//!         datagrams to send  │   its child SAs' keys)      │──▶ poll_event(): SA up, child SA
//!                            └─────────────────────────────┘    keys, rekeyed, deleted, failed
//! ```
//!
//! Cryptography comes from a [`strait_crypto::CryptoProvider`]; this crate never names a crypto
//! library. Version-specific code lives in [`v2`] and [`v1`]; what both versions share
//! (proposal strings, algorithm sets) lives at the top level.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod initiator;
pub mod proposal;
pub mod v1;
pub mod v2;

pub use initiator::{Initiator, RekeyTimes};
