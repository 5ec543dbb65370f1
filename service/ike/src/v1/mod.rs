//! IKEv1 (RFC 2407, 2408, 2409) for legacy gateways: ISAKMP wire format, phase 1 in Main or
//! Aggressive Mode, XAuth and Mode Config, Quick Mode, informational exchanges (DPD, DELETE)
//! and NAT traversal (RFC 3947).
//!
//! What IKEv1 shares with IKEv2 is not repeated here: proposal strings ([`crate::proposal`]),
//! the crypto provider, identities, certificates ([`crate::cert`]), the [`crate::Config`] the
//! service fills in, and the [`crate::Event`]s, errors and [`crate::Transmit`]s it hands out —
//! so the child SAs that come out go through the same `strait-esp` as IKEv2's.
//!
//! Layout: [`wire`] (ISAKMP header and payload chain), [`attributes`] (data attributes),
//! [`proposal`] (SA payloads ↔ the shared proposals), [`keys`] (SKEYID, IVs, KEYMAT),
//! [`crypt`] (CBC with the IV chains), [`vendor`] (vendor IDs), [`natt`] (NAT-D and
//! encapsulation modes), [`transaction`] (XAuth/Mode Config attributes), and [`sa`] (the state
//! machine, split by exchange).
//!
//! Not done yet: answering a phase 1 the gateway starts (we re-key phase 1 ourselves before
//! any gateway would, see `sa::MAX_PHASE1_LIFETIME`), IKEv1 fragmentation, NAT-OA (transport
//! mode behind a NAT), and ECDSA signatures (phase 1 signs with RSA only).

pub mod attributes;
pub mod crypt;
pub mod keys;
pub mod natt;
pub mod proposal;
pub mod sa;
pub mod transaction;
pub mod vendor;
pub mod wire;

pub use sa::{Mode, Options, Sa, Xauth};
