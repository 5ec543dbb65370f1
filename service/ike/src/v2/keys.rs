//! The IKEv2 key schedule (RFC 7296 §2.13, §2.14, §2.17, §2.18).
//!
//! Everything here is a pure function of negotiated algorithms, nonces, SPIs and the DH shared
//! secret, so it is checked against test vectors without a network.

use strait_crypto::{CryptoError, CryptoProvider, Output, SecretBytes};
use zeroize::Zeroizing;

use super::proposal_wire::{NegotiatedEsp, NegotiatedIke};
use crate::proposal::Prf;

/// `prf(key, parts…)`: one HMAC over the concatenated parts.
pub fn prf(
    provider: &dyn CryptoProvider,
    alg: Prf,
    key: &[u8],
    parts: &[&[u8]],
) -> Result<Output, CryptoError> {
    Ok(provider.hmac(alg.hash(), key)?.compute(parts))
}

/// `prf+(key, seed)` truncated to `len` bytes (§2.13). At most 255 iterations are allowed, so
/// `len` must not exceed 255 times the PRF output length.
pub fn prf_plus(
    provider: &dyn CryptoProvider,
    alg: Prf,
    key: &[u8],
    seed: &[u8],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    if len > 255 * alg.output_len() {
        return Err(CryptoError::InvalidLength("prf+ output"));
    }
    let mac = provider.hmac(alg.hash(), key)?;
    let mut out = Zeroizing::new(Vec::with_capacity(len + alg.output_len()));
    let mut previous: Option<Output> = None;
    let mut counter = 1u8;
    while out.len() < len {
        let t = match &previous {
            None => mac.compute(&[seed, &[counter]]),
            Some(prev) => mac.compute(&[prev.as_bytes(), seed, &[counter]]),
        };
        out.extend_from_slice(t.as_bytes());
        previous = Some(t);
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    Ok(out)
}

/// The keys of an IKE SA (§2.14), each zeroized on drop.
pub struct IkeKeys {
    /// What they were derived for.
    pub algs: NegotiatedIke,
    /// SK_d: seeds child SA and rekeyed IKE SA keys.
    pub sk_d: SecretBytes,
    /// SK_ai: integrity, initiator → responder (empty for AEAD).
    pub sk_ai: SecretBytes,
    /// SK_ar: integrity, responder → initiator.
    pub sk_ar: SecretBytes,
    /// SK_ei: encryption (with salt for AEAD), initiator → responder.
    pub sk_ei: SecretBytes,
    /// SK_er: encryption, responder → initiator.
    pub sk_er: SecretBytes,
    /// SK_pi: for the initiator's AUTH.
    pub sk_pi: SecretBytes,
    /// SK_pr: for the responder's AUTH.
    pub sk_pr: SecretBytes,
}

impl std::fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeKeys")
            .field("algs", &self.algs)
            .finish_non_exhaustive()
    }
}

impl IkeKeys {
    /// Keys of a new IKE SA: `SKEYSEED = prf(Ni | Nr, g^ir)`.
    pub fn derive(
        provider: &dyn CryptoProvider,
        algs: NegotiatedIke,
        shared: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<IkeKeys, CryptoError> {
        let nonces = [ni, nr].concat();
        let skeyseed = prf(provider, algs.prf, &nonces, &[shared])?;
        Self::expand(provider, algs, skeyseed.as_bytes(), ni, nr, spi_i, spi_r)
    }

    /// Keys of the IKE SA that replaces this one (§2.18):
    /// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`, with the new SA's algorithms.
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekey(
        &self,
        provider: &dyn CryptoProvider,
        algs: NegotiatedIke,
        shared: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<IkeKeys, CryptoError> {
        // The old SA's PRF keys the new SKEYSEED.
        let skeyseed = prf(provider, self.algs.prf, &self.sk_d, &[shared, ni, nr])?;
        Self::expand(provider, algs, skeyseed.as_bytes(), ni, nr, spi_i, spi_r)
    }

    fn expand(
        provider: &dyn CryptoProvider,
        algs: NegotiatedIke,
        skeyseed: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<IkeKeys, CryptoError> {
        let prf_len = algs.prf.output_len();
        let integ_len = algs.integ.map_or(0, |i| i.key_len());
        let encr_len = algs.encr.keymat_len();
        let total = 3 * prf_len + 2 * integ_len + 2 * encr_len;
        let seed = [ni, nr, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()].concat();
        let km = prf_plus(provider, algs.prf, skeyseed, &seed, total)?;
        let mut at = 0;
        let mut take = |n: usize| {
            let part = Zeroizing::new(km[at..at + n].to_vec());
            at += n;
            part
        };
        Ok(IkeKeys {
            algs,
            sk_d: take(prf_len),
            sk_ai: take(integ_len),
            sk_ar: take(integ_len),
            sk_ei: take(encr_len),
            sk_er: take(encr_len),
            sk_pi: take(prf_len),
            sk_pr: take(prf_len),
        })
    }

    /// Keying material for a child SA (§2.17): `prf+(SK_d, [g^ir (new)] | Ni | Nr)`.
    pub fn child_keys(
        &self,
        provider: &dyn CryptoProvider,
        esp: &NegotiatedEsp,
        pfs_shared: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<ChildKeys, CryptoError> {
        let encr_len = esp.encr.keymat_len();
        let integ_len = esp.integ.map_or(0, |i| i.key_len());
        let seed = [pfs_shared.unwrap_or(&[]), ni, nr].concat();
        let km = prf_plus(
            provider,
            self.algs.prf,
            &self.sk_d,
            &seed,
            2 * (encr_len + integ_len),
        )?;
        let mut at = 0;
        let mut take = |n: usize| {
            let part = Zeroizing::new(km[at..at + n].to_vec());
            at += n;
            part
        };
        // Initiator-to-responder keys come first, encryption before integrity.
        Ok(ChildKeys {
            encr_i: take(encr_len),
            integ_i: take(integ_len),
            encr_r: take(encr_len),
            integ_r: take(integ_len),
        })
    }
}

/// The keys of one child SA pair. "i" protects initiator → responder traffic (our outbound SA),
/// "r" responder → initiator (our inbound SA).
pub struct ChildKeys {
    /// Encryption key (with salt for AEAD), outbound.
    pub encr_i: SecretBytes,
    /// Integrity key, outbound (empty for AEAD).
    pub integ_i: SecretBytes,
    /// Encryption key (with salt for AEAD), inbound.
    pub encr_r: SecretBytes,
    /// Integrity key, inbound (empty for AEAD).
    pub integ_r: SecretBytes,
}

impl std::fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChildKeys { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::{Encr, Integ};
    use strait_crypto::DhGroup;

    fn provider() -> std::sync::Arc<dyn CryptoProvider> {
        strait_crypto::default_provider()
    }

    #[test]
    fn prf_plus_is_the_iterated_hmac() {
        let p = provider();
        let key = b"key";
        let seed = b"seed";
        let out = prf_plus(&*p, Prf::HmacSha256, key, seed, 80).unwrap();
        let t1 = prf(&*p, Prf::HmacSha256, key, &[seed, &[1]]).unwrap();
        let t2 = prf(&*p, Prf::HmacSha256, key, &[t1.as_bytes(), seed, &[2]]).unwrap();
        let t3 = prf(&*p, Prf::HmacSha256, key, &[t2.as_bytes(), seed, &[3]]).unwrap();
        let expected = [t1.as_bytes(), t2.as_bytes(), &t3.as_bytes()[..16]].concat();
        assert_eq!(&out[..], &expected[..]);
        assert!(prf_plus(&*p, Prf::HmacSha256, key, seed, 255 * 32 + 1).is_err());
    }

    /// Test vector from RFC 4231 §4.2 run through `prf` so the HMAC plumbing is anchored to a
    /// published value.
    #[test]
    fn prf_matches_rfc4231() {
        let p = provider();
        let out = prf(&*p, Prf::HmacSha256, &[0x0b; 20], &[b"Hi ", b"There"]).unwrap();
        assert_eq!(
            hex::encode(out.as_bytes()),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn lengths_follow_the_algorithms() {
        let p = provider();
        let algs = NegotiatedIke {
            encr: Encr::AesGcm16(256),
            integ: None,
            prf: Prf::HmacSha384,
            dh: DhGroup::Ecp384,
        };
        let k = IkeKeys::derive(&*p, algs, &[7; 48], &[1; 32], &[2; 32], 1, 2).unwrap();
        assert_eq!(k.sk_d.len(), 48);
        assert_eq!(k.sk_ai.len(), 0);
        assert_eq!(k.sk_ei.len(), 36);
        assert_eq!(k.sk_pr.len(), 48);
        assert_ne!(k.sk_ei, k.sk_er);
        let esp = NegotiatedEsp {
            encr: Encr::AesCbc(128),
            integ: Some(Integ::HmacSha256_128),
            dh: None,
            esn: false,
            peer_spi: 1,
        };
        let c = k.child_keys(&*p, &esp, None, &[1; 32], &[2; 32]).unwrap();
        assert_eq!(c.encr_i.len(), 16);
        assert_eq!(c.integ_r.len(), 32);
        let with_pfs = k
            .child_keys(&*p, &esp, Some(&[9; 32]), &[1; 32], &[2; 32])
            .unwrap();
        assert_ne!(c.encr_i, with_pfs.encr_i);
    }
}
