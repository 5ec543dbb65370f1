//! IKEv1 (RFC 2407, 2408, 2409) for legacy gateways: ISAKMP wire format, phase 1 in Main or
//! Aggressive Mode, XAuth and Mode Config, Quick Mode, informational exchanges (DPD, DELETE)
//! and NAT traversal (RFC 3947).
//!
//! What IKEv1 shares with IKEv2 is not repeated here: proposal strings ([`crate::proposal`]),
//! the crypto provider, identities, the [`crate::v2::Config`] the service fills in, and the
//! [`crate::v2::Event`]s, errors and [`crate::v2::Transmit`]s it hands out — so the child SAs
//! that come out go through the same `strait-esp` as IKEv2's.

pub mod sa;

pub use sa::{Mode, Options, Sa, Xauth};
