//! The ring provider.
//!
//! ring's assembly serves the hot path: AES-GCM, ChaCha20-Poly1305, HMAC-SHA-1/2, SHA-1/2 and
//! ECDH on P-256, P-384 and X25519. What ring does not have (CBC ciphers, MD5, the MODP groups,
//! P-521) is served by an inner [`RustCryptoProvider`].
//!
//! One limit: ring keeps its ECDH private keys to itself and does not promise to zeroize them
//! when they are dropped; use [`RustCryptoProvider`] for key exchange where that matters.

use ring::aead::{self, LessSafeKey, UnboundKey};
use ring::agreement;
use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::rustcrypto::{verify_truncated, RustCryptoProvider};
use crate::{
    Aead, AeadAlg, CbcCipher, CipherAlg, CryptoError, CryptoProvider, DhGroup, HashAlg,
    KeyExchange, Mac, Output, SecretBytes,
};

/// The ring provider, with RustCrypto for what ring lacks.
#[derive(Debug)]
pub struct RingProvider {
    rng: SystemRandom,
    inner: RustCryptoProvider,
}

impl Default for RingProvider {
    fn default() -> Self {
        RingProvider {
            rng: SystemRandom::new(),
            inner: RustCryptoProvider,
        }
    }
}

impl CryptoProvider for RingProvider {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn aead(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn Aead>, CryptoError> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::InvalidLength("AEAD key"));
        }
        let algorithm = match alg {
            AeadAlg::Aes128Gcm16 => &aead::AES_128_GCM,
            AeadAlg::Aes256Gcm16 => &aead::AES_256_GCM,
            AeadAlg::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        };
        let key =
            UnboundKey::new(algorithm, key).map_err(|_| CryptoError::InvalidLength("AEAD key"))?;
        Ok(Box::new(RingAead {
            alg,
            key: LessSafeKey::new(key),
        }))
    }

    fn cbc(&self, alg: CipherAlg, key: &[u8]) -> Result<Box<dyn CbcCipher>, CryptoError> {
        self.inner.cbc(alg, key)
    }

    fn hmac(&self, alg: HashAlg, key: &[u8]) -> Result<Box<dyn Mac>, CryptoError> {
        let algorithm = match alg {
            HashAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => hmac::HMAC_SHA256,
            HashAlg::Sha384 => hmac::HMAC_SHA384,
            HashAlg::Sha512 => hmac::HMAC_SHA512,
            HashAlg::Md5 => return self.inner.hmac(alg, key),
        };
        Ok(Box::new(RingMac {
            alg,
            key: hmac::Key::new(algorithm, key),
        }))
    }

    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Result<Output, CryptoError> {
        let algorithm = match alg {
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
            HashAlg::Md5 => return self.inner.hash(alg, parts),
        };
        let mut ctx = digest::Context::new(algorithm);
        for part in parts {
            ctx.update(part);
        }
        Ok(Output::new(ctx.finish().as_ref()))
    }

    fn key_exchange(&self, group: DhGroup) -> Result<Box<dyn KeyExchange>, CryptoError> {
        let algorithm = match group {
            DhGroup::Ecp256 => &agreement::ECDH_P256,
            DhGroup::Ecp384 => &agreement::ECDH_P384,
            DhGroup::Curve25519 => &agreement::X25519,
            _ => return self.inner.key_exchange(group),
        };
        let private = agreement::EphemeralPrivateKey::generate(algorithm, &self.rng)
            .map_err(|_| CryptoError::Rng)?;
        let computed = private.compute_public_key().map_err(|_| CryptoError::Rng)?;
        let computed = computed.as_ref();
        // ring encodes NIST points as 0x04 ‖ x ‖ y (SEC 1); IKEv2 sends x ‖ y (RFC 5903).
        let public = if group == DhGroup::Curve25519 {
            computed
        } else {
            computed
                .strip_prefix(&[0x04])
                .ok_or(CryptoError::InvalidLength("ECP public value"))?
        };
        if public.len() != group.public_len() {
            return Err(CryptoError::InvalidLength("public value"));
        }
        Ok(Box::new(RingKex {
            group,
            algorithm,
            private,
            public: public.to_vec(),
        }))
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.rng.fill(out).map_err(|_| CryptoError::Rng)
    }
}

/// A keyed ring AEAD.
struct RingAead {
    alg: AeadAlg,
    key: LessSafeKey,
}

fn ring_nonce(nonce: &[u8]) -> Result<aead::Nonce, CryptoError> {
    aead::Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| CryptoError::InvalidLength("AEAD nonce"))
}

impl Aead for RingAead {
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
        let nonce = ring_nonce(nonce)?;
        if tag.len() != self.alg.tag_len() {
            return Err(CryptoError::InvalidLength("AEAD tag"));
        }
        let computed = self
            .key
            .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), in_out)
            .map_err(|_| CryptoError::InvalidLength("AEAD plaintext"))?;
        tag.copy_from_slice(computed.as_ref());
        Ok(())
    }

    fn open_in_place(
        &self,
        nonce: &[u8],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        let nonce = ring_nonce(nonce)?;
        let tag = aead::Tag::try_from(tag).map_err(|_| CryptoError::InvalidLength("AEAD tag"))?;
        // On failure ring zeroes the (already decrypted) buffer; we make sure of it.
        match self
            .key
            .open_in_place_separate_tag(nonce, aead::Aad::from(aad), tag, in_out, 0..)
        {
            Ok(_) => Ok(()),
            Err(_) => {
                in_out.fill(0);
                Err(CryptoError::AuthenticationFailed)
            }
        }
    }
}

/// A keyed ring HMAC.
struct RingMac {
    alg: HashAlg,
    key: hmac::Key,
}

impl RingMac {
    fn run(&self, parts: &[&[u8]]) -> Output {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in parts {
            ctx.update(part);
        }
        Output::new(ctx.sign().as_ref())
    }
}

impl Mac for RingMac {
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

/// ECDH with ring (P-256, P-384, X25519).
struct RingKex {
    group: DhGroup,
    algorithm: &'static agreement::Algorithm,
    private: agreement::EphemeralPrivateKey,
    public: Vec<u8>,
}

impl KeyExchange for RingKex {
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
        let mut encoded = Vec::with_capacity(peer_public.len() + 1);
        if self.group != DhGroup::Curve25519 {
            encoded.push(0x04);
        }
        encoded.extend_from_slice(peer_public);
        let peer = agreement::UnparsedPublicKey::new(self.algorithm, encoded);
        // ring validates the point (on the curve, not the identity) and refuses an all-zero
        // X25519 result.
        agreement::agree_ephemeral(self.private, &peer, |shared| {
            Zeroizing::new(shared.to_vec())
        })
        .map_err(|_| CryptoError::InvalidPublicKey)
    }
}
