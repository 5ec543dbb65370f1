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
//! library. Version-specific code lives in [`v2`] and [`v1`]; what both versions share lives at
//! the top level: proposal strings and algorithm sets ([`proposal`]), what the service
//! configures ([`config`]) and gets back ([`event`]), certificates and keys ([`cert`],
//! [`pkcs12`]), and the [`Initiator`] that drives either version.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cert;
pub mod config;
pub mod event;
pub mod initiator;
pub mod pkcs12;
pub mod proposal;
pub mod v1;
pub mod v2;

pub use config::{Config, LocalAuth, Retransmit};
pub use event::{ChildSaInfo, ConfigReply, Error, Event, Stage, Transmit};
pub use initiator::{Initiator, RekeyTimes};
