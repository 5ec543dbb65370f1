//! Errors of ESP processing.

use strait_crypto::CryptoError;

/// Why an ESP operation failed. Inbound, every error means "drop the packet"; the variants let
/// the service count and log what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EspError {
    /// The packet is shorter than the header, IV, trailer and ICV it must hold.
    #[error("ESP packet truncated")]
    Truncated,
    /// The ciphertext length is not a multiple of the cipher's block size.
    #[error("ESP ciphertext is not a whole number of cipher blocks")]
    Misaligned,
    /// The packet's SPI is not this SA's.
    #[error("ESP packet for SPI {got:#010x}, SA has SPI {expected:#010x}")]
    SpiMismatch {
        /// This SA's SPI.
        expected: u32,
        /// The packet's SPI.
        got: u32,
    },
    /// The sequence number was seen already, is zero, or is older than the anti-replay window.
    #[error("ESP packet replayed or too old (sequence number {seq})")]
    Replay {
        /// The (inferred 64-bit) sequence number.
        seq: u64,
    },
    /// The ICV did not verify: wrong key, or the packet was modified.
    #[error("ESP integrity check failed")]
    AuthFailed,
    /// The padding bytes are not 1, 2, 3, … or the pad length exceeds the payload.
    #[error("ESP padding is invalid")]
    BadPadding,
    /// A tunnel-mode SA decrypted something that is not an IP packet of the version the
    /// Next Header field says (or the field names neither IPv4 nor IPv6).
    #[error("ESP tunnel payload is not an IP packet (next header {next_header})")]
    BadInnerPacket {
        /// The Next Header field.
        next_header: u8,
    },
    /// Every sequence number of this SA is used: it must be rekeyed (numbers never wrap).
    #[error("ESP sequence numbers exhausted: the SA must be rekeyed")]
    SequenceExhausted,
    /// The SA reached its hard byte or packet lifetime: it must be replaced.
    #[error("ESP SA reached its hard lifetime")]
    LifetimeExpired,
    /// The caller's buffer cannot hold the result.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A key had the wrong length for the transform.
    #[error("{what} key is {got} bytes, the transform takes {expected}")]
    KeyLength {
        /// Which key ("encryption", "integrity").
        what: &'static str,
        /// The length the transform takes.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The SA configuration is not valid.
    #[error("invalid ESP SA configuration: {0}")]
    InvalidConfig(&'static str),
    /// The cryptography provider failed (an unsupported algorithm, no randomness).
    #[error("cryptography provider: {0}")]
    Crypto(#[from] CryptoError),
}
