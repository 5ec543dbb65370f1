//! The cryptography provider interface of Strait.
//!
//! The protocol cores (`strait-ike`, `strait-esp`) never name a cryptography crate. They ask a
//! [`CryptoProvider`] for "AES-256-GCM with this key", "ECDH on P-256" or "HMAC-SHA-384", the
//! way rustls asks its `CryptoProvider`. This keeps three promises:
//!
//! * the fastest implementation measured here (ring) serves the ESP hot path,
//! * a pure-Rust provider (RustCrypto) builds for every target, so the Windows and macOS
//!   type-check never needs a foreign C SDK, and it fills what ring lacks (AES-CBC, MODP
//!   groups, P-521, legacy DES/3DES/MD5 for IKEv1),
//! * keys are expanded once, when an SA is created ([`CryptoProvider::aead`] and friends return
//!   keyed objects), never per packet.
//!
//! The crate does no I/O besides asking the operating system for random bytes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

/// Bytes that are secret (shared DH secrets, derived keys): zeroized when dropped.
pub type SecretBytes = Zeroizing<Vec<u8>>;

/// Why a cryptographic operation failed. Deliberately coarse: callers turn these into protocol
/// errors, and an attacker learns nothing from the difference between failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The provider does not implement this algorithm.
    #[error("algorithm {0} is not supported by this cryptography provider")]
    Unsupported(&'static str),
    /// A key, nonce, IV or buffer had the wrong length.
    #[error("invalid length: {0}")]
    InvalidLength(&'static str),
    /// Authentication of a ciphertext failed (wrong key, or the data was tampered with).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The peer's key-exchange value is not valid for the group (wrong length, not on the curve,
    /// a small-order or degenerate value).
    #[error("invalid peer public key")]
    InvalidPublicKey,
    /// The operating system could not give us random bytes.
    #[error("no randomness available")]
    Rng,
}

/// Authenticated encryption algorithms (combined mode), as used by ESP (RFC 4106, RFC 7634) and
/// the IKEv2 SK payload (RFC 5282).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AeadAlg {
    /// AES-GCM with a 16-byte ICV and a 16-byte key.
    Aes128Gcm16,
    /// AES-GCM with a 16-byte ICV and a 32-byte key.
    Aes256Gcm16,
    /// ChaCha20-Poly1305 (32-byte key, 16-byte tag).
    ChaCha20Poly1305,
}

impl AeadAlg {
    /// Key length in bytes, without the 4-byte salt that IPsec appends to the key material.
    pub const fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm16 => 16,
            AeadAlg::Aes256Gcm16 | AeadAlg::ChaCha20Poly1305 => 32,
        }
    }
    /// Tag (ICV) length in bytes.
    pub const fn tag_len(self) -> usize {
        16
    }
    /// Nonce length in bytes (salt ‖ explicit IV).
    pub const fn nonce_len(self) -> usize {
        12
    }
}

/// Block ciphers used in CBC mode (ESP RFC 3602, IKEv2 SK, IKEv1 phase 1 encryption).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherAlg {
    /// AES-128-CBC.
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC.
    Aes256Cbc,
    /// 3DES-CBC (legacy, weak: only with an explicit opt-in).
    TripleDesCbc,
    /// DES-CBC (legacy, broken: only with an explicit opt-in).
    DesCbc,
}

impl CipherAlg {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            CipherAlg::Aes128Cbc => 16,
            CipherAlg::Aes192Cbc | CipherAlg::TripleDesCbc => 24,
            CipherAlg::Aes256Cbc => 32,
            CipherAlg::DesCbc => 8,
        }
    }
    /// Block (and IV) length in bytes.
    pub const fn block_len(self) -> usize {
        match self {
            CipherAlg::Aes128Cbc | CipherAlg::Aes192Cbc | CipherAlg::Aes256Cbc => 16,
            CipherAlg::TripleDesCbc | CipherAlg::DesCbc => 8,
        }
    }
}

/// Hash functions, used bare (NAT detection, IKEv1, signatures) and inside HMAC (PRF, integrity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlg {
    /// MD5 (legacy: IKEv1 and MSCHAPv2 helpers only).
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Md5 => 16,
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
}

/// Diffie-Hellman groups by their IANA IKE transform ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DhGroup {
    /// 768-bit MODP (group 1), broken: legacy opt-in only.
    Modp768,
    /// 1024-bit MODP (group 2), weak: legacy opt-in only.
    Modp1024,
    /// 1536-bit MODP (group 5), weak: legacy opt-in only.
    Modp1536,
    /// 2048-bit MODP (group 14).
    Modp2048,
    /// 3072-bit MODP (group 15).
    Modp3072,
    /// 4096-bit MODP (group 16).
    Modp4096,
    /// NIST P-256 (group 19).
    Ecp256,
    /// NIST P-384 (group 20).
    Ecp384,
    /// NIST P-521 (group 21).
    Ecp521,
    /// Curve25519 (group 31).
    Curve25519,
}

impl DhGroup {
    /// The IANA "Transform Type 4" identifier.
    pub const fn iana_id(self) -> u16 {
        match self {
            DhGroup::Modp768 => 1,
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Modp3072 => 15,
            DhGroup::Modp4096 => 16,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Ecp521 => 21,
            DhGroup::Curve25519 => 31,
        }
    }
    /// The group for an IANA identifier, if we implement it.
    pub const fn from_iana_id(id: u16) -> Option<DhGroup> {
        Some(match id {
            1 => DhGroup::Modp768,
            2 => DhGroup::Modp1024,
            5 => DhGroup::Modp1536,
            14 => DhGroup::Modp2048,
            15 => DhGroup::Modp3072,
            16 => DhGroup::Modp4096,
            19 => DhGroup::Ecp256,
            20 => DhGroup::Ecp384,
            21 => DhGroup::Ecp521,
            31 => DhGroup::Curve25519,
            _ => return None,
        })
    }
    /// Length in bytes of the public value in an IKE KE payload (MODP: the prime's length,
    /// left-padded; ECP: x ‖ y without the 0x04 prefix, RFC 5903; Curve25519: 32, RFC 8031).
    pub const fn public_len(self) -> usize {
        match self {
            DhGroup::Modp768 => 96,
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 => 256,
            DhGroup::Modp3072 => 384,
            DhGroup::Modp4096 => 512,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Ecp521 => 132,
            DhGroup::Curve25519 => 32,
        }
    }
}

/// A keyed AEAD. Created once per SA; used for every packet without allocation.
pub trait Aead: Send + Sync {
    /// The algorithm.
    fn alg(&self) -> AeadAlg;
    /// Encrypts `in_out` in place and writes the tag into `tag` (exactly `tag_len` bytes).
    /// `nonce` is exactly 12 bytes.
    fn seal_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError>;
    /// Checks `tag` and decrypts `in_out` in place. On failure `in_out` holds no plaintext
    /// the caller may use.
    fn open_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError>;
}

/// A keyed block cipher in CBC mode. Created once per SA.
pub trait CbcCipher: Send + Sync {
    /// The algorithm.
    fn alg(&self) -> CipherAlg;
    /// Encrypts `data` (a whole number of blocks) in place with `iv` (one block).
    fn encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>;
    /// Decrypts `data` (a whole number of blocks) in place with `iv` (one block).
    fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError>;
}

/// Largest MAC or digest output (SHA-512).
pub const MAX_OUTPUT_LEN: usize = 64;

/// A MAC or hash output held on the stack, so the hot path never allocates.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    bytes: [u8; MAX_OUTPUT_LEN],
    len: usize,
}

impl Output {
    /// Wraps `bytes` (at most [`MAX_OUTPUT_LEN`] long; longer input is truncated).
    pub fn new(bytes: &[u8]) -> Self {
        let len = bytes.len().min(MAX_OUTPUT_LEN);
        let mut out = Output {
            bytes: [0; MAX_OUTPUT_LEN],
            len,
        };
        out.bytes[..len].copy_from_slice(&bytes[..len]);
        out
    }
    /// The output bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsRef<[u8]> for Output {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // MACs can be key material (prf outputs); never print them.
        write!(f, "Output({} bytes)", self.len)
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// A keyed HMAC. Created once per key (the inner/outer pads are precomputed).
pub trait Mac: Send + Sync {
    /// The hash inside the HMAC.
    fn alg(&self) -> HashAlg;
    /// HMAC over the concatenation of `parts`; the full-length output (callers truncate).
    fn compute(&self, parts: &[&[u8]]) -> Output;
    /// Constant-time check that the first `expected.len()` bytes of the HMAC over `parts` equal
    /// `expected` (truncated integrity checks such as HMAC-SHA2-256-128).
    fn verify_truncated(&self, parts: &[&[u8]], expected: &[u8]) -> Result<(), CryptoError>;
}

/// Our half of one Diffie-Hellman exchange. Kept until the peer's value arrives, so that a
/// COOKIE retry can resend a byte-identical KE payload.
pub trait KeyExchange: Send {
    /// The group.
    fn group(&self) -> DhGroup;
    /// Our public value in IKE KE payload encoding ([`DhGroup::public_len`] bytes).
    fn public_key(&self) -> &[u8];
    /// The shared secret g^ir for the peer's public value (IKE encoding): for MODP left-padded
    /// to the prime's length, for ECP the x coordinate only (RFC 5903), for Curve25519 the 32
    /// bytes of X25519 (an all-zero result is refused, RFC 8031).
    fn complete(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError>;
}

/// Everything the protocol cores need from cryptography. See the crate docs for why.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// A short name for logs and benchmarks ("ring", "rustcrypto").
    fn name(&self) -> &'static str;
    /// A keyed AEAD; `key` is exactly [`AeadAlg::key_len`] bytes (no salt).
    fn aead(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError>;
    /// A keyed CBC cipher; `key` is exactly [`CipherAlg::key_len`] bytes.
    fn cbc(&self, alg: CipherAlg, key: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError>;
    /// A keyed HMAC; any key length.
    fn hmac(&self, alg: HashAlg, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError>;
    /// The hash of the concatenation of `parts`.
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Result<Output, CryptoError>;
    /// Starts a key exchange in `group` with a fresh private key.
    fn key_exchange(&self, group: DhGroup) -> Result<Box<dyn KeyExchange>, CryptoError>;
    /// Fills `out` with cryptographically secure random bytes.
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError>;
}

/// The provider Strait uses unless told otherwise: ring where it is compiled in (measured
/// ≈ 3.5× faster than RustCrypto for AES-GCM here), with RustCrypto for what ring lacks;
/// RustCrypto alone otherwise.
pub fn default_provider() -> Arc<dyn CryptoProvider> {
    #[cfg(feature = "ring")]
    {
        Arc::new(ring_provider::RingProvider::default())
    }
    #[cfg(not(feature = "ring"))]
    {
        Arc::new(rustcrypto::RustCryptoProvider)
    }
}

pub mod rustcrypto;

#[cfg(feature = "ring")]
pub mod ring_provider;

#[cfg(test)]
mod tests;
