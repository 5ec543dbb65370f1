//! The Encrypted and Authenticated payload (RFC 7296 §3.14, RFC 5282 for AEAD ciphers).
//!
//! One [`SkCrypter`] protects one direction of an IKE SA. Sealing takes the plaintext payload
//! chain and the bytes that precede the IV (the IKE header and the SK generic payload header,
//! which [`super::wire::emit_sk_prefix`] builds) and returns IV ‖ ciphertext ‖ ICV. Opening takes
//! the same two parts of a received message and returns the plaintext payload chain.
//!
//! AEAD ciphers use an 8-byte explicit IV that is a per-direction message counter, so a nonce
//! never repeats under one key (RFC 5282 §3); CBC ciphers use a fresh random IV per message as
//! §3.14 requires.

use strait_crypto::{Aead, CbcCipher, CryptoError, CryptoProvider, Mac};

use crate::proposal::{Encr, Integ};

enum Cipher {
    Aead {
        aead: Box<dyn Aead>,
        salt: [u8; 4],
        counter: u64,
    },
    Cbc {
        cipher: Box<dyn CbcCipher>,
        block: usize,
        mac: Box<dyn Mac>,
        icv_len: usize,
    },
}

/// Seals or opens SK payloads for one direction of an IKE SA.
pub struct SkCrypter {
    cipher: Cipher,
    provider: std::sync::Arc<dyn CryptoProvider>,
}

impl std::fmt::Debug for SkCrypter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SkCrypter { .. }")
    }
}

/// Why an SK payload could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkError {
    /// Too short for IV, padding and ICV, or not a whole number of blocks.
    #[error("malformed encrypted payload")]
    Malformed,
    /// The integrity check failed: wrong keys, or the message was changed on the way.
    #[error("integrity check of an encrypted payload failed")]
    Integrity,
    /// The provider refused.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl SkCrypter {
    /// A crypter for `encr` (+ `integ` for non-AEAD ciphers) with SK_e (and SK_a).
    pub fn new(
        provider: std::sync::Arc<dyn CryptoProvider>,
        encr: Encr,
        integ: Option<Integ>,
        sk_e: &[u8],
        sk_a: &[u8],
    ) -> Result<SkCrypter, CryptoError> {
        let cipher = if let Some(alg) = encr.aead() {
            let split = sk_e
                .len()
                .checked_sub(4)
                .ok_or(CryptoError::InvalidLength("SK_e"))?;
            let (key, salt) = sk_e.split_at(split);
            let mut s = [0u8; 4];
            s.copy_from_slice(salt);
            Cipher::Aead {
                aead: provider.aead(alg, key)?,
                salt: s,
                counter: 0,
            }
        } else {
            let alg = encr.cbc().ok_or(CryptoError::Unsupported("cipher"))?;
            let integ = integ.ok_or(CryptoError::Unsupported("CBC without integrity"))?;
            Cipher::Cbc {
                cipher: provider.cbc(alg, sk_e)?,
                block: alg.block_len(),
                mac: provider.hmac(integ.hash(), sk_a)?,
                icv_len: integ.icv_len(),
            }
        };
        Ok(SkCrypter { cipher, provider })
    }

    fn iv_len(&self) -> usize {
        match &self.cipher {
            Cipher::Aead { .. } => 8,
            Cipher::Cbc { block, .. } => *block,
        }
    }

    fn icv_len(&self) -> usize {
        match &self.cipher {
            Cipher::Aead { .. } => 16,
            Cipher::Cbc { icv_len, .. } => *icv_len,
        }
    }

    fn padded_len(&self, plain_len: usize) -> usize {
        match &self.cipher {
            // AEAD needs no alignment; only the Pad Length byte is added.
            Cipher::Aead { .. } => plain_len + 1,
            Cipher::Cbc { block, .. } => (plain_len + 1).div_ceil(*block) * block,
        }
    }

    /// Length of the SK payload body (IV ‖ ciphertext ‖ ICV) for `plain_len` bytes of payloads,
    /// which the caller needs to build the header before sealing.
    pub fn sealed_len(&self, plain_len: usize) -> usize {
        self.iv_len() + self.padded_len(plain_len) + self.icv_len()
    }

    /// Encrypts `plain` (a payload chain) and returns IV ‖ ciphertext ‖ ICV. `prefix` is every
    /// byte of the message before the IV, built for [`SkCrypter::sealed_len`] bytes of body.
    pub fn seal(&mut self, prefix: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let padded = self.padded_len(plain.len());
        let pad = padded - plain.len() - 1;
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let mut out = Vec::with_capacity(iv_len + padded + icv_len);
        match &mut self.cipher {
            Cipher::Aead {
                aead,
                salt,
                counter,
            } => {
                *counter = counter
                    .checked_add(1)
                    .ok_or(CryptoError::Unsupported("IV space exhausted"))?;
                let iv = counter.to_be_bytes();
                out.extend_from_slice(&iv);
                out.extend_from_slice(plain);
                out.extend(std::iter::repeat_n(0u8, pad));
                out.push(pad as u8);
                let nonce = [&salt[..], &iv].concat();
                let mut tag = [0u8; 16];
                aead.seal_in_place(&nonce, prefix, &mut out[iv_len..], &mut tag)?;
                out.extend_from_slice(&tag);
            }
            Cipher::Cbc { cipher, mac, .. } => {
                let mut iv = vec![0u8; iv_len];
                self.provider.fill_random(&mut iv)?;
                out.extend_from_slice(&iv);
                out.extend_from_slice(plain);
                out.extend(std::iter::repeat_n(0u8, pad));
                out.push(pad as u8);
                cipher.encrypt(&iv, &mut out[iv_len..])?;
                let icv = mac.compute(&[prefix, &out]);
                out.extend_from_slice(&icv.as_bytes()[..icv_len]);
            }
        }
        Ok(out)
    }

    /// Checks and decrypts a received SK body (IV ‖ ciphertext ‖ ICV) whose preceding bytes are
    /// `prefix`; returns the plaintext payload chain without padding.
    pub fn open(&self, prefix: &[u8], body: &[u8]) -> Result<Vec<u8>, SkError> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        let ct_len = body
            .len()
            .checked_sub(iv_len + icv_len)
            .filter(|n| *n >= 1)
            .ok_or(SkError::Malformed)?;
        let (iv, rest) = body.split_at(iv_len);
        let (ct, icv) = rest.split_at(ct_len);
        let mut plain = ct.to_vec();
        match &self.cipher {
            Cipher::Aead { aead, salt, .. } => {
                let nonce = [&salt[..], iv].concat();
                aead.open_in_place(&nonce, prefix, &mut plain, icv)
                    .map_err(|_| SkError::Integrity)?;
            }
            Cipher::Cbc {
                cipher, mac, block, ..
            } => {
                mac.verify_truncated(&[prefix, iv, ct], icv)
                    .map_err(|_| SkError::Integrity)?;
                if ct_len % *block != 0 {
                    return Err(SkError::Malformed);
                }
                cipher.decrypt(iv, &mut plain)?;
            }
        }
        let pad = usize::from(*plain.last().ok_or(SkError::Malformed)?);
        let keep = plain.len().checked_sub(pad + 1).ok_or(SkError::Malformed)?;
        plain.truncate(keep);
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(encr: Encr, integ: Option<Integ>) -> (SkCrypter, SkCrypter) {
        let p = strait_crypto::default_provider();
        let ek = vec![0x42; encr.keymat_len()];
        let ak = vec![0x17; integ.map_or(0, |i| i.key_len())];
        (
            SkCrypter::new(p.clone(), encr, integ, &ek, &ak).unwrap(),
            SkCrypter::new(p, encr, integ, &ek, &ak).unwrap(),
        )
    }

    #[test]
    fn round_trip_every_cipher() {
        for (encr, integ) in [
            (Encr::AesGcm16(128), None),
            (Encr::AesGcm16(256), None),
            (Encr::ChaCha20Poly1305, None),
            (Encr::AesCbc(128), Some(Integ::HmacSha256_128)),
            (Encr::AesCbc(256), Some(Integ::HmacSha512_256)),
            (Encr::TripleDes, Some(Integ::HmacSha1_96)),
        ] {
            let (mut tx, rx) = pair(encr, integ);
            for len in [0usize, 1, 15, 16, 17, 100] {
                let plain: Vec<u8> = (0..len as u8).collect();
                let prefix = b"header and SK generic header";
                let body = tx.seal(prefix, &plain).unwrap();
                assert_eq!(body.len(), tx.sealed_len(len), "{encr:?}");
                assert_eq!(rx.open(prefix, &body).unwrap(), plain, "{encr:?} {len}");
                // Any change to the header or body is caught.
                assert_eq!(
                    rx.open(b"header and SK generic heades", &body),
                    Err(SkError::Integrity)
                );
                for i in 0..body.len() {
                    let mut bad = body.clone();
                    bad[i] ^= 1;
                    assert!(rx.open(prefix, &bad).is_err(), "{encr:?} byte {i}");
                }
                for cut in 0..body.len() {
                    assert!(rx.open(prefix, &body[..cut]).is_err());
                }
            }
        }
    }

    #[test]
    fn aead_ivs_never_repeat() {
        let (mut tx, _) = pair(Encr::AesGcm16(256), None);
        let a = tx.seal(b"p", b"x").unwrap();
        let b = tx.seal(b"p", b"x").unwrap();
        assert_ne!(a[..8], b[..8]);
        assert_ne!(a, b);
    }
}
