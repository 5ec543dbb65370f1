//! The IKEv1 key schedule (RFC 2409 §5, Appendix B): SKEYID and its three children, the
//! phase 1 encryption key, the CBC IVs, and Quick Mode KEYMAT.
//!
//! Everything is computed with the negotiated PRF (HMAC of the phase 1 hash) through the crypto
//! provider; secrets are held in [`SecretBytes`], which zeroizes on drop.

use strait_crypto::{CryptoError, CryptoProvider, HashAlg, SecretBytes};

/// `prf(key, parts...)`: HMAC with the phase 1 hash.
pub fn prf(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    key: &[u8],
    parts: &[&[u8]],
) -> Result<Vec<u8>, CryptoError> {
    Ok(p.hmac(hash, key)?.compute(parts).as_bytes().to_vec())
}

/// SKEYID for pre-shared keys: `prf(pre-shared-key, Ni_b | Nr_b)`.
pub fn skeyid_psk(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    psk: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Result<SecretBytes, CryptoError> {
    Ok(zeroize::Zeroizing::new(prf(p, hash, psk, &[ni, nr])?))
}

/// SKEYID for signatures: `prf(Ni_b | Nr_b, g^xy)`.
pub fn skeyid_sig(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    ni: &[u8],
    nr: &[u8],
    gxy: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let mut key = Vec::with_capacity(ni.len() + nr.len());
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    let out = prf(p, hash, &key, &[gxy]);
    zeroize::Zeroize::zeroize(&mut key);
    Ok(zeroize::Zeroizing::new(out?))
}

/// The keys of an ISAKMP SA.
pub struct Phase1Keys {
    /// SKEYID (HASH_I/HASH_R are computed with it).
    pub skeyid: SecretBytes,
    /// SKEYID_d: keying material for Quick Mode.
    pub skeyid_d: SecretBytes,
    /// SKEYID_a: the key of every phase 2 and informational HASH.
    pub skeyid_a: SecretBytes,
    /// The phase 1 encryption key, expanded from SKEYID_e as Appendix B says.
    pub enc_key: SecretBytes,
}

/// Derives SKEYID_d, _a, _e and the encryption key of `enc_len` bytes.
pub fn derive(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    skeyid: SecretBytes,
    gxy: &[u8],
    cky_i: u64,
    cky_r: u64,
    enc_len: usize,
) -> Result<Phase1Keys, CryptoError> {
    let ci = cky_i.to_be_bytes();
    let cr = cky_r.to_be_bytes();
    let k = skeyid.as_slice();
    let d = prf(p, hash, k, &[gxy, &ci, &cr, &[0]])?;
    let a = prf(p, hash, k, &[&d, gxy, &ci, &cr, &[1]])?;
    let e = prf(p, hash, k, &[&a, gxy, &ci, &cr, &[2]])?;
    let enc_key = if e.len() >= enc_len {
        e[..enc_len].to_vec()
    } else {
        // Appendix B: Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1).
        let mut out = Vec::with_capacity(enc_len + e.len());
        let mut block = prf(p, hash, &e, &[&[0]])?;
        out.extend_from_slice(&block);
        while out.len() < enc_len {
            block = prf(p, hash, &e, &[&block])?;
            out.extend_from_slice(&block);
        }
        zeroize::Zeroize::zeroize(&mut block);
        out.truncate(enc_len);
        out
    };
    let keys = Phase1Keys {
        skeyid_d: zeroize::Zeroizing::new(d),
        skeyid_a: zeroize::Zeroizing::new(a),
        enc_key: zeroize::Zeroizing::new(enc_key),
        skeyid,
    };
    drop(zeroize::Zeroizing::new(e));
    Ok(keys)
}

/// The first phase 1 IV: `hash(g^xi | g^xr)` cut to the block size.
pub fn phase1_iv(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    gxi: &[u8],
    gxr: &[u8],
    block: usize,
) -> Result<Vec<u8>, CryptoError> {
    let h = p.hash(hash, &[gxi, gxr])?;
    Ok(h.as_bytes()[..block.min(h.as_bytes().len())].to_vec())
}

/// The first IV of a phase 2 or informational exchange: `hash(last phase 1 block | M-ID)`.
pub fn message_iv(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    last_phase1_block: &[u8],
    msg_id: u32,
    block: usize,
) -> Result<Vec<u8>, CryptoError> {
    let h = p.hash(hash, &[last_phase1_block, &msg_id.to_be_bytes()])?;
    Ok(h.as_bytes()[..block.min(h.as_bytes().len())].to_vec())
}

/// Quick Mode KEYMAT for one direction (RFC 2409 §5.5): `K1 | K2 | ...` with
/// `K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)` and
/// `Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)`.
#[allow(clippy::too_many_arguments)]
pub fn keymat(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    skeyid_d: &[u8],
    gqm: Option<&[u8]>,
    protocol: u8,
    spi: u32,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let mac = p.hmac(hash, skeyid_d)?;
    let g = gqm.unwrap_or(&[]);
    let spi = spi.to_be_bytes();
    let mut out = Vec::with_capacity(len + 64);
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        let block = mac.compute(&[&prev, g, &[protocol], &spi, ni, nr]);
        prev = block.as_bytes().to_vec();
        out.extend_from_slice(&prev);
    }
    zeroize::Zeroize::zeroize(&mut prev);
    out.truncate(len);
    Ok(zeroize::Zeroizing::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> std::sync::Arc<dyn CryptoProvider> {
        strait_crypto::default_provider()
    }

    // Expected values computed independently with Python's hmac/hashlib (see the commit that
    // added them): psk = b"strait-psk", ni = 0x11*16, nr = 0x22*16, g^xy = 0x33*32,
    // CKY-I = 0x0102030405060708, CKY-R = 0x1112131415161718.
    const NI: [u8; 16] = [0x11; 16];
    const NR: [u8; 16] = [0x22; 16];
    const GXY: [u8; 32] = [0x33; 32];
    const CI: u64 = 0x0102030405060708;
    const CR: u64 = 0x1112131415161718;

    #[test]
    fn psk_key_schedule_sha1_expands_aes256_key() {
        let p = provider();
        let skeyid = skeyid_psk(&*p, HashAlg::Sha1, b"strait-psk", &NI, &NR).unwrap();
        assert_eq!(hex::encode(skeyid.as_slice()), SKEYID_SHA1);
        let k = derive(&*p, HashAlg::Sha1, skeyid, &GXY, CI, CR, 32).unwrap();
        assert_eq!(hex::encode(k.skeyid_d.as_slice()), SKEYID_D_SHA1);
        assert_eq!(hex::encode(k.skeyid_a.as_slice()), SKEYID_A_SHA1);
        // SHA-1 gives 20 bytes; AES-256 needs 32: Appendix B expansion.
        assert_eq!(hex::encode(k.enc_key.as_slice()), ENC_KEY_SHA1_32);
    }

    #[test]
    fn signature_skeyid_and_ivs_sha256() {
        let p = provider();
        let s = skeyid_sig(&*p, HashAlg::Sha256, &NI, &NR, &GXY).unwrap();
        assert_eq!(hex::encode(s.as_slice()), SKEYID_SIG_SHA256);
        let iv = phase1_iv(&*p, HashAlg::Sha256, &[0xaa; 8], &[0xbb; 8], 16).unwrap();
        assert_eq!(hex::encode(iv), IV_SHA256);
        let iv = message_iv(&*p, HashAlg::Sha256, &[0xcc; 16], 0x01020304, 16).unwrap();
        assert_eq!(hex::encode(iv), MSG_IV_SHA256);
    }

    #[test]
    fn keymat_with_and_without_pfs() {
        let p = provider();
        let d = [0x44u8; 32];
        let k = keymat(&*p, HashAlg::Sha256, &d, None, 3, 0xc0ffee01, &NI, &NR, 36).unwrap();
        assert_eq!(hex::encode(k.as_slice()), KEYMAT_SHA256_36);
        let k = keymat(
            &*p,
            HashAlg::Sha256,
            &d,
            Some(&GXY),
            3,
            0xc0ffee01,
            &NI,
            &NR,
            64,
        )
        .unwrap();
        assert_eq!(hex::encode(k.as_slice()), KEYMAT_PFS_SHA256_64);
    }

    include!("keys_vectors.rs");
}
