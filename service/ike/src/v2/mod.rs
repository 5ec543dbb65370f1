//! IKEv2 (RFC 7296): wire format, key schedule, and the initiator's SA state machine.

pub mod auth;
pub mod cert;
pub mod config;
pub mod eap;
pub mod event;
pub mod keys;
#[cfg(test)]
mod keys_kat;
pub mod pkcs12;
pub mod proposal_wire;
pub mod sa;
pub mod sk;
pub mod ts;
pub mod wire;

pub use config::{Config, LocalAuth, Retransmit};
pub use event::{ChildSaInfo, ConfigReply, Error, Event, Stage};
pub use sa::{IkeSa, Transmit};
