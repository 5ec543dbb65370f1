//! The IKEv2 wire format (RFC 7296 §3): the header and every payload we send or receive.
//!
//! Two layers, in smoltcp's manner:
//! * checked views ([`HeaderView`], [`GenericPayloadView`]) over borrowed bytes, created with
//!   `new_checked`, after which no accessor can index out of bounds; [`sk_aad`] uses them to
//!   split a received encrypted message into associated data and ciphertext;
//! * typed representations ([`Header`], [`Payload`] and the payload structs) with `parse` and
//!   `emit`, which the state machine works with.
//!
//! Malformed input is always a [`WireError`], never a panic. Unknown payloads are kept as
//! [`Payload::Unknown`] so the caller can answer UNSUPPORTED_CRITICAL_PAYLOAD when the critical
//! bit is set and skip them otherwise.
//!
//! The SK payload (§3.14) and the SKF payload (RFC 7383) are kept encrypted here
//! ([`Payload::Encrypted`], [`Payload::EncryptedFragment`]); `super::sk` decrypts them and hands
//! the plaintext to [`parse_payload_chain`].

mod body;
mod chain;
mod header;
mod payload;
mod reader;
#[cfg(test)]
mod tests;

pub use chain::*;
pub use header::*;
pub use payload::*;

/// A whole IKEv2 message: the header and its payload chain in order. The header's
/// `next_payload` and `length` are recomputed by `emit`, so callers only set the other fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The payloads in wire order. An SK payload, if present, is the last one.
    pub payloads: Vec<Payload>,
}

/// Why bytes could not be parsed as IKEv2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than the structure needs.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A length field disagrees with the data (too small, too large, or not matching).
    #[error("bad length in {0}")]
    BadLength(&'static str),
    /// Not IKE version 2.
    #[error("unsupported IKE major version {0}")]
    UnsupportedVersion(u8),
    /// A field holds a value the RFC forbids.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// More payloads, proposals, transforms or selectors than we accept from a peer.
    #[error("too many {0}")]
    TooMany(&'static str),
}

/// Payload type numbers (IANA "IKEv2 Payload Types").
#[allow(missing_docs)]
pub mod payload_type {
    pub const NONE: u8 = 0;
    pub const SA: u8 = 33;
    pub const KE: u8 = 34;
    pub const IDI: u8 = 35;
    pub const IDR: u8 = 36;
    pub const CERT: u8 = 37;
    pub const CERTREQ: u8 = 38;
    pub const AUTH: u8 = 39;
    pub const NONCE: u8 = 40;
    pub const NOTIFY: u8 = 41;
    pub const DELETE: u8 = 42;
    pub const VENDOR_ID: u8 = 43;
    pub const TSI: u8 = 44;
    pub const TSR: u8 = 45;
    pub const SK: u8 = 46;
    pub const CP: u8 = 47;
    pub const EAP: u8 = 48;
    pub const SKF: u8 = 53;
}

/// Limits on what a peer can make us hold; anything beyond is [`WireError::TooMany`].
pub mod limits {
    /// Payloads in one message (or one decrypted SK chain).
    pub const MAX_PAYLOADS: usize = 64;
    /// Proposals in one SA payload.
    pub const MAX_PROPOSALS: usize = 64;
    /// Transforms in one proposal.
    pub const MAX_TRANSFORMS: usize = 64;
    /// Traffic selectors in one TS payload.
    pub const MAX_SELECTORS: usize = 64;
    /// Configuration attributes in one CP payload.
    pub const MAX_ATTRIBUTES: usize = 128;
    /// SPIs in one Delete payload.
    pub const MAX_DELETE_SPIS: usize = 256;
    /// Largest IKE message we accept (RFC 7296 §2 requires at least 1280; 64 KiB is the UDP max).
    pub const MAX_MESSAGE_LEN: usize = 65_535;
}
