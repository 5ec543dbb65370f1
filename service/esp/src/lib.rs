//! `strait-esp`: ESP security associations for Strait (RFC 4303, RFC 3948), sans-IO.
//!
//! No sockets, clocks or threads: an [`OutboundSa`] seals payloads into ESP packets and an
//! [`InboundSa`] authenticates, replay-checks and decrypts them, both in buffers the caller
//! owns and without allocating per packet. Cryptography comes from a
//! [`strait_crypto::CryptoProvider`]; keys are expanded once, when the SA is created.
//!
//! Transforms: AES-GCM-16 (RFC 4106), ChaCha20-Poly1305 (RFC 7634), AES-CBC (RFC 3602) and,
//! for legacy gateways, 3DES-CBC (RFC 2451), with HMAC-SHA2 (RFC 4868) or HMAC-SHA1-96
//! (RFC 2404). Extended sequence numbers (RFC 4303 §2.2.1, Appendix A), a 2048-packet
//! anti-replay window by default (RFC 6479 style), dummy packets (§2.6).
//!
//! The datapath, outbound: read from TUN into `buf[sa.header_len()..]` with
//! [`EspAlgorithms::max_tail_len`] bytes of tailroom, [`OutboundSa::seal_tunnel_in_place`],
//! send `buf[..n]` (as the UDP payload on port 4500 when encapsulated, RFC 3948). Inbound:
//! [`classify_udp4500`] the datagram, [`spi_of`] the ESP packet to find its SA,
//! [`InboundSa::open_in_place`], write the payload to TUN.
//!
//! ```
//! use strait_esp::{EspAlgorithms, InboundSa, Opened, OutboundSa, SaConfig};
//!
//! let provider = strait_crypto::default_provider();
//! let algs = EspAlgorithms::AES256_GCM;
//! let config = SaConfig::new(0x1000_0001, algs);
//! let keymat = [7u8; 36]; // from IKE: algs.encr_key_len() + algs.integ_key_len() bytes
//! let mut out = OutboundSa::new(&*provider, &config, &keymat, &[])?;
//! let mut inb = InboundSa::new(&*provider, &config, &keymat, &[])?;
//!
//! // Outbound: the inner packet sits after `header_len` bytes of headroom.
//! let inner = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let hl = out.header_len();
//! let mut buf = vec![0u8; hl + inner.len() + algs.max_tail_len()];
//! buf[hl..hl + inner.len()].copy_from_slice(&inner);
//! let n = out.seal_tunnel_in_place(&mut buf, inner.len())?;
//!
//! // Inbound: find the SA by SPI, open in place.
//! assert_eq!(strait_esp::spi_of(&buf[..n]), Some(0x1000_0001));
//! match inb.open_in_place(&mut buf[..n])? {
//!     Opened::Packet(d) => assert_eq!(&buf[d.range()], &inner[..]),
//!     Opened::Dummy { .. } => unreachable!(),
//! }
//! # Ok::<(), strait_esp::EspError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod algorithms;
mod error;
mod replay;
mod sa;
mod udp;

pub use algorithms::{
    max_payload_len, overhead, EspAlgorithms, EspEncryption, EspIntegrity, EspTransform, OuterIp,
    UdpEncap, AEAD_IV_LEN, AEAD_SALT_LEN, ESP_HEADER_LEN, ESP_TRAILER_LEN, UDP_HEADER_LEN,
};
pub use error::EspError;
pub use replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW};
pub use sa::{
    spi_of, Decrypted, InboundSa, Lifetime, LifetimeStatus, Mode, Opened, OutboundSa, SaConfig,
    SaStats, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6, NEXT_HEADER_NO_NEXT,
};
pub use udp::{classify_udp4500, Udp4500Kind, IKE_HEADER_LEN, NAT_KEEPALIVE, NON_ESP_MARKER};

#[cfg(test)]
mod tests;
