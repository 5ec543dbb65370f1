//! The pure-Rust provider (RustCrypto).
//!
//! Builds for every target without a C toolchain. It implements every algorithm of the
//! interface: AES-GCM and ChaCha20-Poly1305 (`aes-gcm`, `chacha20poly1305`), AES/3DES/DES in
//! CBC mode (`aes`, `des`, `cbc`), HMAC and hashes (`hmac`, `sha1`, `sha2`, `md-5`), ECDH on
//! the NIST curves (`p256`, `p384`, `p521`), X25519 (`x25519-dalek`) and the MODP groups
//! (constant-time modular exponentiation from `crypto-bigint`).

use std::sync::OnceLock;

use aes_gcm::aead::generic_array::typenum::Unsigned;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadCore, AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, BlockSizeUser,
    InnerIvInit,
};
use chacha20poly1305::ChaCha20Poly1305;
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Integer, Limb, Uint, Word, U1024, U1536, U2048, U3072, U4096, U768};
use hmac::Hmac;
use p256::elliptic_curve::ecdh::diffie_hellman;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ModulusSize, ToEncodedPoint};
use p256::elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytesSize, PublicKey, SecretKey};
use rand_core::{OsRng, RngCore};
use sha1::Digest;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::{
    Aead, AeadAlg, CbcCipher, CipherAlg, CryptoError, CryptoProvider, DhGroup, HashAlg,
    KeyExchange, Mac, Output, SecretBytes,
};

/// The pure-Rust provider. Stateless: every keyed object it returns owns its own state.
#[derive(Debug, Default, Clone, Copy)]
pub struct RustCryptoProvider;

impl CryptoProvider for RustCryptoProvider {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn aead(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::InvalidLength("AEAD key"));
        }
        match alg {
            AeadAlg::Aes128Gcm16 => RcAead::<Aes128Gcm>::boxed(alg, key),
            AeadAlg::Aes256Gcm16 => RcAead::<Aes256Gcm>::boxed(alg, key),
            AeadAlg::ChaCha20Poly1305 => RcAead::<ChaCha20Poly1305>::boxed(alg, key),
        }
    }

    fn cbc(&self, alg: CipherAlg, key: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::InvalidLength("CBC key"));
        }
        match alg {
            CipherAlg::Aes128Cbc => RcCbc::<aes::Aes128>::boxed(alg, key),
            CipherAlg::Aes192Cbc => RcCbc::<aes::Aes192>::boxed(alg, key),
            CipherAlg::Aes256Cbc => RcCbc::<aes::Aes256>::boxed(alg, key),
            CipherAlg::TripleDesCbc => RcCbc::<des::TdesEde3>::boxed(alg, key),
            CipherAlg::DesCbc => RcCbc::<des::Des>::boxed(alg, key),
        }
    }

    fn hmac(&self, alg: HashAlg, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        match alg {
            HashAlg::Md5 => RcMac::<Hmac<md5::Md5>>::boxed(alg, key),
            HashAlg::Sha1 => RcMac::<Hmac<sha1::Sha1>>::boxed(alg, key),
            HashAlg::Sha256 => RcMac::<Hmac<sha2::Sha256>>::boxed(alg, key),
            HashAlg::Sha384 => RcMac::<Hmac<sha2::Sha384>>::boxed(alg, key),
            HashAlg::Sha512 => RcMac::<Hmac<sha2::Sha512>>::boxed(alg, key),
        }
    }

    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Result<Output, CryptoError> {
        Ok(match alg {
            HashAlg::Md5 => digest_parts::<md5::Md5>(parts),
            HashAlg::Sha1 => digest_parts::<sha1::Sha1>(parts),
            HashAlg::Sha256 => digest_parts::<sha2::Sha256>(parts),
            HashAlg::Sha384 => digest_parts::<sha2::Sha384>(parts),
            HashAlg::Sha512 => digest_parts::<sha2::Sha512>(parts),
        })
    }

    fn key_exchange(&self, group: DhGroup) -> Result<Box<dyn KeyExchange>, CryptoError> {
        key_exchange_with_private(group, None)
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        fill_random(out)
    }
}

/// Fills `out` from the operating system's generator, without panicking when it fails.
pub(crate) fn fill_random(out: &mut [u8]) -> Result<(), CryptoError> {
    OsRng.try_fill_bytes(out).map_err(|_| CryptoError::Rng)
}

// ---------------------------------------------------------------------------------------------
// AEAD

/// A keyed RustCrypto AEAD (12-byte nonce, 16-byte tag).
struct RcAead<A> {
    alg: AeadAlg,
    cipher: A,
}

impl<A> RcAead<A>
where
    A: KeyInit + AeadInPlace + Send + Sync + 'static,
{
    fn boxed(alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
        let cipher = A::new_from_slice(key).map_err(|_| CryptoError::InvalidLength("AEAD key"))?;
        Ok(Box::new(RcAead { alg, cipher }))
    }

    fn check(nonce: &[u8], tag_len: usize) -> Result<(), CryptoError> {
        if nonce.len() != <A as AeadCore>::NonceSize::to_usize() {
            return Err(CryptoError::InvalidLength("AEAD nonce"));
        }
        if tag_len != <A as AeadCore>::TagSize::to_usize() {
            return Err(CryptoError::InvalidLength("AEAD tag"));
        }
        Ok(())
    }
}

impl<A> Aead for RcAead<A>
where
    A: KeyInit + AeadInPlace + Send + Sync + 'static,
{
    fn alg(&self) -> AeadAlg {
        self.alg
    }

    fn seal_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        Self::check(nonce, tag.len())?;
        let computed = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, in_out)
            .map_err(|_| CryptoError::InvalidLength("AEAD plaintext"))?;
        tag.copy_from_slice(&computed);
        Ok(())
    }

    fn open_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        Self::check(nonce, tag.len())?;
        // Both aes-gcm and chacha20poly1305 check the tag before decrypting, so on failure
        // `in_out` still holds the ciphertext.
        self.cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                aad,
                in_out,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| CryptoError::AuthenticationFailed)
    }
}

// ---------------------------------------------------------------------------------------------
// CBC

/// A keyed block cipher in CBC mode. The key schedule is expanded once; each call clones it
/// (the copy is zeroized on drop with the `zeroize` features of `aes` and `des`).
struct RcCbc<C> {
    alg: CipherAlg,
    cipher: C,
}

impl<C> RcCbc<C>
where
    C: BlockCipher + BlockEncrypt + BlockDecrypt + KeyInit + Clone + Send + Sync + 'static,
{
    fn boxed(alg: CipherAlg, key: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError> {
        let cipher = C::new_from_slice(key).map_err(|_| CryptoError::InvalidLength("CBC key"))?;
        Ok(Box::new(RcCbc { alg, cipher }))
    }

    fn check(iv: &[u8], data: &[u8]) -> Result<(), CryptoError> {
        let block = <C as BlockSizeUser>::BlockSize::to_usize();
        if iv.len() != block {
            return Err(CryptoError::InvalidLength("CBC IV"));
        }
        if data.len() % block != 0 {
            return Err(CryptoError::InvalidLength(
                "CBC data is not a whole number of blocks",
            ));
        }
        Ok(())
    }
}

impl<C> CbcCipher for RcCbc<C>
where
    C: BlockCipher + BlockEncrypt + BlockDecrypt + KeyInit + Clone + Send + Sync + 'static,
{
    fn alg(&self) -> CipherAlg {
        self.alg
    }

    fn encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        Self::check(iv, data)?;
        let len = data.len();
        cbc::Encryptor::<C>::inner_iv_slice_init(self.cipher.clone(), iv)
            .map_err(|_| CryptoError::InvalidLength("CBC IV"))?
            .encrypt_padded_mut::<NoPadding>(data, len)
            .map_err(|_| CryptoError::InvalidLength("CBC data is not a whole number of blocks"))?;
        Ok(())
    }

    fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), CryptoError> {
        Self::check(iv, data)?;
        cbc::Decryptor::<C>::inner_iv_slice_init(self.cipher.clone(), iv)
            .map_err(|_| CryptoError::InvalidLength("CBC IV"))?
            .decrypt_padded_mut::<NoPadding>(data)
            .map_err(|_| CryptoError::InvalidLength("CBC data is not a whole number of blocks"))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// HMAC and hashes

/// A keyed HMAC: the inner and outer pads are absorbed once, each computation clones the state.
struct RcMac<M> {
    alg: HashAlg,
    mac: M,
}

impl<M> RcMac<M>
where
    M: hmac::Mac + KeyInit + Clone + Send + Sync + 'static,
{
    fn boxed(alg: HashAlg, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        let mac = <M as KeyInit>::new_from_slice(key)
            .map_err(|_| CryptoError::InvalidLength("HMAC key"))?;
        Ok(Box::new(RcMac { alg, mac }))
    }

    fn run(&self, parts: &[&[u8]]) -> Output {
        let mut mac = self.mac.clone();
        for part in parts {
            hmac::Mac::update(&mut mac, part);
        }
        let bytes = hmac::Mac::finalize(mac).into_bytes();
        Output::new(&bytes)
    }
}

impl<M> Mac for RcMac<M>
where
    M: hmac::Mac + KeyInit + Clone + Send + Sync + 'static,
{
    fn alg(&self) -> HashAlg {
        self.alg
    }

    fn compute(&self, parts: &[&[u8]]) -> Output {
        self.run(parts)
    }

    fn verify_truncated(&self, parts: &[&[u8]], expected: &[u8]) -> Result<(), CryptoError> {
        verify_truncated(self.run(parts).as_bytes(), expected)
    }
}

/// Constant-time comparison of the first `expected.len()` bytes of `full` with `expected`.
/// An empty `expected`, or one longer than the MAC, never verifies.
pub(crate) fn verify_truncated(full: &[u8], expected: &[u8]) -> Result<(), CryptoError> {
    if expected.is_empty() || expected.len() > full.len() {
        return Err(CryptoError::AuthenticationFailed);
    }
    if bool::from(full[..expected.len()].ct_eq(expected)) {
        Ok(())
    } else {
        Err(CryptoError::AuthenticationFailed)
    }
}

fn digest_parts<D: Digest>(parts: &[&[u8]]) -> Output {
    let mut hasher = D::new();
    for part in parts {
        hasher.update(part);
    }
    Output::new(&hasher.finalize())
}

// ---------------------------------------------------------------------------------------------
// Key exchange

/// Starts a key exchange; with `private` the private key is given (known-answer tests, and the
/// cross-provider tests), otherwise it is drawn from the operating system.
pub(crate) fn key_exchange_with_private(
    group: DhGroup,
    private: Option<&[u8]>,
) -> Result<Box<dyn KeyExchange>, CryptoError> {
    match group {
        // The Montgomery parameters of each prime are computed once per process.
        DhGroup::Modp768 => {
            static PARAMS: OnceLock<DynResidueParams<{ U768::LIMBS }>> = OnceLock::new();
            ModpKex::boxed(group, &PARAMS, private)
        }
        DhGroup::Modp1024 => {
            static PARAMS: OnceLock<DynResidueParams<{ U1024::LIMBS }>> = OnceLock::new();
            ModpKex::boxed(group, &PARAMS, private)
        }
        DhGroup::Modp1536 => {
            static PARAMS: OnceLock<DynResidueParams<{ U1536::LIMBS }>> = OnceLock::new();
            ModpKex::boxed(group, &PARAMS, private)
        }
        DhGroup::Modp2048 => {
            static PARAMS: OnceLock<DynResidueParams<{ U2048::LIMBS }>> = OnceLock::new();
            ModpKex::boxed(group, &PARAMS, private)
        }
        DhGroup::Modp3072 => {
            static PARAMS: OnceLock<DynResidueParams<{ U3072::LIMBS }>> = OnceLock::new();
            ModpKex::boxed(group, &PARAMS, private)
        }
        DhGroup::Modp4096 => {
            static PARAMS: OnceLock<DynResidueParams<{ U4096::LIMBS }>> = OnceLock::new();
            ModpKex::boxed(group, &PARAMS, private)
        }
        DhGroup::Ecp256 => EcKex::<p256::NistP256>::boxed(group, private, 0xff),
        DhGroup::Ecp384 => EcKex::<p384::NistP384>::boxed(group, private, 0xff),
        // The P-521 field element is 66 bytes of which only 521 bits count.
        DhGroup::Ecp521 => EcKex::<p521::NistP521>::boxed(group, private, 0x01),
        DhGroup::Curve25519 => X25519Kex::boxed(private),
    }
}

/// How many times a fresh private key is drawn before we give up (a rejected draw has a
/// negligible probability; this bound only guards against a broken generator).
const MAX_DRAWS: usize = 64;

/// ECDH on a NIST curve (RFC 5903): public value x ‖ y, shared secret x.
struct EcKex<C>
where
    C: CurveArithmetic,
{
    group: DhGroup,
    /// Zeroized on drop by `elliptic-curve`.
    secret: SecretKey<C>,
    public: Vec<u8>,
}

impl<C> EcKex<C>
where
    C: CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
{
    fn boxed(
        group: DhGroup,
        private: Option<&[u8]>,
        top_mask: u8,
    ) -> Result<Box<dyn KeyExchange>, CryptoError> {
        let secret = match private {
            Some(bytes) => SecretKey::<C>::from_slice(bytes)
                .map_err(|_| CryptoError::InvalidLength("private key"))?,
            None => Self::generate(group, top_mask)?,
        };
        let point = secret.public_key().to_encoded_point(false);
        let public = point
            .as_bytes()
            .get(1..)
            .filter(|xy| xy.len() == group.public_len())
            .ok_or(CryptoError::InvalidLength("ECP public value"))?
            .to_vec();
        Ok(Box::new(EcKex {
            group,
            secret,
            public,
        }))
    }

    fn generate(group: DhGroup, top_mask: u8) -> Result<SecretKey<C>, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; group.public_len() / 2]);
        for _ in 0..MAX_DRAWS {
            fill_random(&mut bytes)?;
            if let Some(first) = bytes.first_mut() {
                *first &= top_mask;
            }
            // Rejects zero and values not below the group order.
            if let Ok(secret) = SecretKey::<C>::from_slice(&bytes) {
                return Ok(secret);
            }
        }
        Err(CryptoError::Rng)
    }
}

impl<C> KeyExchange for EcKex<C>
where
    C: CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromEncodedPoint<C> + ToEncodedPoint<C>,
{
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer_public.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPublicKey);
        }
        let mut sec1 = Vec::with_capacity(peer_public.len() + 1);
        sec1.push(0x04);
        sec1.extend_from_slice(peer_public);
        // Checks that the point is on the curve (the identity has no uncompressed encoding).
        let peer =
            PublicKey::<C>::from_sec1_bytes(&sec1).map_err(|_| CryptoError::InvalidPublicKey)?;
        let mut scalar = self.secret.to_nonzero_scalar();
        let shared = diffie_hellman(scalar, peer.as_affine());
        scalar.zeroize();
        Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
    }
}

/// X25519 (RFC 7748, RFC 8031).
struct X25519Kex {
    /// Zeroized on drop by `x25519-dalek`.
    secret: x25519_dalek::StaticSecret,
    public: [u8; 32],
}

impl X25519Kex {
    fn boxed(private: Option<&[u8]>) -> Result<Box<dyn KeyExchange>, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        match private {
            Some(given) if given.len() == 32 => bytes.copy_from_slice(given),
            Some(_) => return Err(CryptoError::InvalidLength("private key")),
            None => fill_random(bytes.as_mut())?,
        }
        let secret = x25519_dalek::StaticSecret::from(*bytes);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        Ok(Box::new(X25519Kex { secret, public }))
    }
}

impl KeyExchange for X25519Kex {
    fn group(&self) -> DhGroup {
        DhGroup::Curve25519
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        let peer: [u8; 32] = peer_public
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        if !shared.was_contributory() {
            // An all-zero result: the peer sent a small-order point (RFC 8031 §2.1).
            return Err(CryptoError::InvalidPublicKey);
        }
        Ok(Zeroizing::new(shared.as_bytes().to_vec()))
    }
}

/// The prime of a MODP group (generator 2), big-endian hex.
fn modp_prime_hex(group: DhGroup) -> Option<&'static str> {
    Some(match group {
        DhGroup::Modp768 => MODP_768,
        DhGroup::Modp1024 => MODP_1024,
        DhGroup::Modp1536 => MODP_1536,
        DhGroup::Modp2048 => MODP_2048,
        DhGroup::Modp3072 => MODP_3072,
        DhGroup::Modp4096 => MODP_4096,
        _ => return None,
    })
}

/// The prime of a MODP group, big-endian, as long as the group's public value.
pub(crate) fn modp_prime_bytes(group: DhGroup) -> Option<Vec<u8>> {
    decode_hex(modp_prime_hex(group)?).filter(|p| p.len() == group.public_len())
}

/// Length in bytes of the random private exponent, as strongSwan chooses it (twice the
/// group's estimated strength, at least 256 bits).
fn modp_exponent_len(group: DhGroup) -> usize {
    match group {
        DhGroup::Modp2048 => 48,
        DhGroup::Modp3072 | DhGroup::Modp4096 => 64,
        _ => 32,
    }
}

/// Finite-field Diffie-Hellman in a MODP group with generator 2 (RFC 2409, RFC 3526).
struct ModpKex<const L: usize> {
    group: DhGroup,
    params: DynResidueParams<L>,
    /// The private exponent; zeroized on drop.
    exponent: Uint<L>,
    /// How many low bits of `exponent` are used (bounds the exponentiation's running time,
    /// which depends on this public number only).
    exponent_bits: usize,
    public: Vec<u8>,
}

impl<const L: usize> Drop for ModpKex<L> {
    fn drop(&mut self) {
        self.exponent.zeroize();
    }
}

impl<const L: usize> ModpKex<L> {
    /// The Montgomery parameters of the group's prime.
    fn params(group: DhGroup) -> Result<DynResidueParams<L>, CryptoError> {
        let prime_bytes = modp_prime_bytes(group).ok_or(CryptoError::Unsupported("MODP group"))?;
        let prime =
            uint_from_be::<L>(&prime_bytes).ok_or(CryptoError::Unsupported("MODP prime"))?;
        if !bool::from(prime.is_odd()) {
            return Err(CryptoError::Unsupported("MODP prime"));
        }
        Ok(DynResidueParams::new(&prime))
    }

    fn boxed(
        group: DhGroup,
        cache: &OnceLock<DynResidueParams<L>>,
        private: Option<&[u8]>,
    ) -> Result<Box<dyn KeyExchange>, CryptoError> {
        let byte_len = group.public_len();
        let params = match cache.get() {
            Some(params) => *params,
            None => {
                let params = Self::params(group)?;
                *cache.get_or_init(|| params)
            }
        };

        let mut exp_bytes = Zeroizing::new(vec![0u8; byte_len]);
        let exponent_bits;
        match private {
            Some(given) => {
                if given.is_empty() || given.len() > byte_len {
                    return Err(CryptoError::InvalidLength("private exponent"));
                }
                let start = byte_len - given.len();
                exp_bytes[start..].copy_from_slice(given);
                exponent_bits = given.len() * 8;
            }
            None => {
                let len = modp_exponent_len(group);
                let start = byte_len - len;
                exponent_bits = len * 8;
                let mut drawn = false;
                for _ in 0..MAX_DRAWS {
                    fill_random(&mut exp_bytes[start..])?;
                    // Refuse the degenerate exponents 0 and 1.
                    if exp_bytes[start..byte_len - 1].iter().any(|&b| b != 0)
                        || exp_bytes[byte_len - 1] > 1
                    {
                        drawn = true;
                        break;
                    }
                }
                if !drawn {
                    return Err(CryptoError::Rng);
                }
            }
        }
        let exponent =
            uint_from_be::<L>(&exp_bytes).ok_or(CryptoError::InvalidLength("private exponent"))?;
        // From here on `kex` owns the exponent and zeroizes it on every way out.
        let mut kex = ModpKex {
            group,
            params,
            exponent,
            exponent_bits,
            public: Vec::new(),
        };
        let generator = DynResidue::new(&Uint::<L>::from_u64(2), params);
        let public_value = generator
            .pow_bounded_exp(&kex.exponent, kex.exponent_bits)
            .retrieve();
        kex.public = uint_to_be(&public_value);
        if kex.public.len() != byte_len {
            return Err(CryptoError::InvalidLength("MODP public value"));
        }
        Ok(Box::new(kex))
    }
}

impl<const L: usize> KeyExchange for ModpKex<L> {
    fn group(&self) -> DhGroup {
        self.group
    }

    fn public_key(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer_public: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer_public.len() != self.group.public_len() {
            return Err(CryptoError::InvalidPublicKey);
        }
        let peer = uint_from_be::<L>(peer_public).ok_or(CryptoError::InvalidPublicKey)?;
        let prime = self.params.modulus();
        let p_minus_1 = prime.wrapping_sub(&Uint::ONE);
        // 1 < y < p - 1 (RFC 2631 §2.1.5, NIST SP 800-56A 5.6.2.3.1): refuses 0, 1, p - 1
        // and anything not reduced modulo p.
        if peer <= Uint::ONE || peer >= p_minus_1 {
            return Err(CryptoError::InvalidPublicKey);
        }
        let mut shared = DynResidue::new(&peer, self.params)
            .pow_bounded_exp(&self.exponent, self.exponent_bits)
            .retrieve();
        let degenerate = shared <= Uint::ONE;
        let bytes = Zeroizing::new(uint_to_be(&shared));
        shared.zeroize();
        if degenerate {
            return Err(CryptoError::InvalidPublicKey);
        }
        Ok(bytes)
    }
}

/// Parses exactly `L` limbs of big-endian bytes.
fn uint_from_be<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
    if bytes.len() != L * Limb::BYTES {
        return None;
    }
    let mut words = [0 as Word; L];
    for (word, chunk) in words.iter_mut().rev().zip(bytes.chunks_exact(Limb::BYTES)) {
        let mut buf = [0u8; Limb::BYTES];
        buf.copy_from_slice(chunk);
        *word = Word::from_be_bytes(buf);
        buf.zeroize();
    }
    let value = Uint::from_words(words);
    words.zeroize();
    Some(value)
}

/// Big-endian bytes of all `L` limbs (left-padded with zeros).
fn uint_to_be<const L: usize>(value: &Uint<L>) -> Vec<u8> {
    let mut out = Vec::with_capacity(L * Limb::BYTES);
    for word in value.as_words().iter().rev() {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out
}

/// Decodes hex digits (no separators); `None` on anything else.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// RFC 2409 §6.1, the First Oakley Group (768 bits).
const MODP_768: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF",
);
/// RFC 2409 §6.2, the Second Oakley Group (1024 bits).
const MODP_1024: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
);
/// RFC 3526 §2, 1536-bit MODP group.
const MODP_1536: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
);
/// RFC 3526 §3, 2048-bit MODP group.
const MODP_2048: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
);
/// RFC 3526 §4, 3072-bit MODP group.
const MODP_3072: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);
/// RFC 3526 §5, 4096-bit MODP group.
const MODP_4096: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33",
    "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864",
    "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2",
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7",
    "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8",
    "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2",
    "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9",
    "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF",
);
