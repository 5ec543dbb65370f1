//! IKEv2 (RFC 7296): wire format, key schedule, EAP, and the initiator's SA state machine.
//! What IKEv1 uses too (configuration, events and errors, certificates, PKCS#12) lives at the
//! crate's top level.

pub mod auth;
pub mod eap;
pub mod keys;
#[cfg(test)]
mod keys_kat;
pub mod proposal_wire;
pub mod sa;
pub mod sk;
pub mod ts;
pub mod wire;

pub use sa::IkeSa;
