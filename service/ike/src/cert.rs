//! X.509 certificates and digital signatures for IKEv2 authentication (RFC 7296 §2.15, RFC 7427).
//!
//! Parsing is done by `x509-cert` (no hand-rolled ASN.1 beyond the fixed RFC 7427 algorithm
//! identifiers); signatures by RustCrypto's `rsa`, `p256`, `p384` and `p521`. Validation is
//! what a VPN client needs for a gateway: a path from the gateway's certificate through the
//! intermediates it sent to one of the profile's trust anchors, every signature on it, the
//! validity periods at the wall-clock time the caller passes in (this crate reads no clock),
//! basic constraints of issuers, the key usage of the end entity, and the identity it claims.

use std::time::SystemTime;

use zeroize::{Zeroize, Zeroizing};

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier, RandomizedPrehashSigner};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use sha2::Digest;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, SubjectAltName, SubjectKeyIdentifier};
use x509_cert::Certificate as X509;

use super::event::Error;
use crate::v2::wire::{auth_method, id_type, Identification};

/// How long a chain may be (end entity, intermediates, anchor).
const MAX_DEPTH: usize = 8;

mod oid {
    use der::asn1::ObjectIdentifier as O;
    pub const RSA_ENCRYPTION: O = O::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA1_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.5");
    pub const SHA256_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.13");
    pub const RSASSA_PSS: O = O::new_unwrap("1.2.840.113549.1.1.10");
    pub const EC_PUBLIC_KEY: O = O::new_unwrap("1.2.840.10045.2.1");
    pub const SECP256R1: O = O::new_unwrap("1.2.840.10045.3.1.7");
    pub const SECP384R1: O = O::new_unwrap("1.3.132.0.34");
    pub const SECP521R1: O = O::new_unwrap("1.3.132.0.35");
    pub const ECDSA_SHA1: O = O::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: O = O::new_unwrap("1.2.840.10045.4.3.4");
    pub const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");
}

/// Hash functions of signatures, with their RFC 7427 SIGNATURE_HASH_ALGORITHMS numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigHash {
    /// SHA-1 (1): only for verifying legacy signatures.
    Sha1,
    /// SHA-256 (2).
    Sha256,
    /// SHA-384 (3).
    Sha384,
    /// SHA-512 (4).
    Sha512,
}

impl SigHash {
    /// The RFC 7427 hash algorithm number.
    pub fn iana_id(self) -> u16 {
        match self {
            SigHash::Sha1 => 1,
            SigHash::Sha256 => 2,
            SigHash::Sha384 => 3,
            SigHash::Sha512 => 4,
        }
    }

    /// From an RFC 7427 hash algorithm number.
    pub fn from_iana_id(id: u16) -> Option<SigHash> {
        match id {
            1 => Some(SigHash::Sha1),
            2 => Some(SigHash::Sha256),
            3 => Some(SigHash::Sha384),
            4 => Some(SigHash::Sha512),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            SigHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            SigHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            SigHash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            SigHash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn from_oid(o: ObjectIdentifier) -> Option<SigHash> {
        match o {
            oid::SHA1 => Some(SigHash::Sha1),
            oid::SHA256 => Some(SigHash::Sha256),
            oid::SHA384 => Some(SigHash::Sha384),
            oid::SHA512 => Some(SigHash::Sha512),
            _ => None,
        }
    }
}

/// A signature scheme: padding (for RSA) and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5.
    Pkcs1(SigHash),
    /// RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash.
    Pss(SigHash),
    /// ECDSA; `der` says whether the signature is a DER `ECDSA-Sig-Value` (X.509, RFC 7427)
    /// or the fixed-size `r ‖ s` of the classic IKEv2 methods 9–11 (RFC 4754).
    Ecdsa {
        /// The hash.
        hash: SigHash,
        /// DER or raw encoding of the signature.
        der: bool,
    },
}

/// A public key that can check signatures.
#[derive(Clone)]
pub enum PublicKey {
    /// RSA.
    Rsa(RsaPublicKey),
    /// ECDSA on P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// ECDSA on P-521.
    P521(p521::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicKey::Rsa(_) => "PublicKey::Rsa",
            PublicKey::P256(_) => "PublicKey::P256",
            PublicKey::P384(_) => "PublicKey::P384",
            PublicKey::P521(_) => "PublicKey::P521",
        })
    }
}

impl PublicKey {
    /// The key of a certificate.
    pub fn from_certificate(cert: &X509) -> Result<PublicKey, String> {
        let spki = &cert.tbs_certificate.subject_public_key_info;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or("the public key is not a whole number of bytes")?;
        match spki.algorithm.oid {
            oid::RSA_ENCRYPTION => RsaPublicKey::from_pkcs1_der(bits)
                .map(PublicKey::Rsa)
                .map_err(|e| format!("bad RSA key: {e}")),
            oid::EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .ok_or("EC key without a named curve")?
                    .decode_as()
                    .map_err(|e| format!("bad EC key parameters: {e}"))?;
                let bad = |e: ecdsa::Error| format!("bad EC key: {e}");
                match curve {
                    oid::SECP256R1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P256)
                        .map_err(bad),
                    oid::SECP384R1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P384)
                        .map_err(bad),
                    oid::SECP521R1 => p521::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                        .map(PublicKey::P521)
                        .map_err(bad),
                    c => Err(format!("unsupported elliptic curve {c}")),
                }
            }
            a => Err(format!("unsupported public key algorithm {a}")),
        }
    }

    /// Checks an IKEv1 RSA signature (PKCS#1 v1.5 without DigestInfo) over `hash`.
    pub fn verify_ikev1(&self, hash: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Rsa(k) => k.verify(Pkcs1v15Sign::new_unprefixed(), hash, sig).is_ok(),
            _ => false,
        }
    }

    /// Checks `sig` over `data` with `scheme`; false for any mismatch of key and scheme.
    pub fn verify(&self, scheme: Scheme, data: &[u8], sig: &[u8]) -> bool {
        match (self, scheme) {
            (PublicKey::Rsa(k), Scheme::Pkcs1(h)) => {
                let hashed = h.digest(data);
                let padding = match h {
                    SigHash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
                    SigHash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                    SigHash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                    SigHash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                k.verify(padding, &hashed, sig).is_ok()
            }
            (PublicKey::Rsa(k), Scheme::Pss(h)) => {
                let hashed = h.digest(data);
                let padding = match h {
                    SigHash::Sha1 => Pss::new::<sha1::Sha1>(),
                    SigHash::Sha256 => Pss::new::<sha2::Sha256>(),
                    SigHash::Sha384 => Pss::new::<sha2::Sha384>(),
                    SigHash::Sha512 => Pss::new::<sha2::Sha512>(),
                };
                k.verify(padding, &hashed, sig).is_ok()
            }
            (PublicKey::P256(k), Scheme::Ecdsa { hash, der }) => {
                let s = if der {
                    p256::ecdsa::Signature::from_der(sig)
                } else {
                    p256::ecdsa::Signature::from_slice(sig)
                };
                s.is_ok_and(|s| k.verify_prehash(&hash.digest(data), &s).is_ok())
            }
            (PublicKey::P384(k), Scheme::Ecdsa { hash, der }) => {
                let s = if der {
                    p384::ecdsa::Signature::from_der(sig)
                } else {
                    p384::ecdsa::Signature::from_slice(sig)
                };
                s.is_ok_and(|s| k.verify_prehash(&hash.digest(data), &s).is_ok())
            }
            (PublicKey::P521(k), Scheme::Ecdsa { hash, der }) => {
                let s = if der {
                    p521::ecdsa::Signature::from_der(sig)
                } else {
                    p521::ecdsa::Signature::from_slice(sig)
                };
                s.is_ok_and(|s| k.verify_prehash(&hash.digest(data), &s).is_ok())
            }
            _ => false,
        }
    }
}

/// The scheme of an X.509 `AlgorithmIdentifier` (certificate signatures and RFC 7427 AUTH).
fn scheme_of(alg: &spki::AlgorithmIdentifierOwned) -> Option<Scheme> {
    Some(match alg.oid {
        oid::SHA1_WITH_RSA => Scheme::Pkcs1(SigHash::Sha1),
        oid::SHA256_WITH_RSA => Scheme::Pkcs1(SigHash::Sha256),
        oid::SHA384_WITH_RSA => Scheme::Pkcs1(SigHash::Sha384),
        oid::SHA512_WITH_RSA => Scheme::Pkcs1(SigHash::Sha512),
        oid::ECDSA_SHA1 => Scheme::Ecdsa {
            hash: SigHash::Sha1,
            der: true,
        },
        oid::ECDSA_SHA256 => Scheme::Ecdsa {
            hash: SigHash::Sha256,
            der: true,
        },
        oid::ECDSA_SHA384 => Scheme::Ecdsa {
            hash: SigHash::Sha384,
            der: true,
        },
        oid::ECDSA_SHA512 => Scheme::Ecdsa {
            hash: SigHash::Sha512,
            der: true,
        },
        oid::RSASSA_PSS => {
            let params = alg.parameters.as_ref()?;
            let pss: rsa::pkcs1::RsaPssParams<'_> = params.decode_as().ok()?;
            let hash = SigHash::from_oid(pss.hash.oid)?;
            // We verify with MGF1 over the same hash and a salt as long as the hash, which
            // is what every IKE implementation sends (RFC 7427 Appendix A.4).
            let mgf_hash = pss.mask_gen.parameters.as_ref()?;
            if SigHash::from_oid(mgf_hash.oid) != Some(hash)
                || usize::from(pss.salt_len) != hash.digest(b"").len()
            {
                return None;
            }
            Scheme::Pss(hash)
        }
        _ => return None,
    })
}

/// The scheme of a classic IKEv2 AUTH method (1, 9, 10, 11).
pub fn classic_scheme(method: u8) -> Option<Scheme> {
    Some(match method {
        auth_method::RSA_SIG => Scheme::Pkcs1(SigHash::Sha1),
        auth_method::ECDSA_SHA256_P256 => Scheme::Ecdsa {
            hash: SigHash::Sha256,
            der: false,
        },
        auth_method::ECDSA_SHA384_P384 => Scheme::Ecdsa {
            hash: SigHash::Sha384,
            der: false,
        },
        auth_method::ECDSA_SHA512_P521 => Scheme::Ecdsa {
            hash: SigHash::Sha512,
            der: false,
        },
        _ => return None,
    })
}

/// Splits RFC 7427 AUTH data (method 14) into its scheme and signature.
pub fn split_digital_signature(data: &[u8]) -> Result<(Scheme, &[u8]), String> {
    let (&len, rest) = data.split_first().ok_or("empty AUTH data")?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err("AUTH data shorter than its algorithm identifier".into());
    }
    let (alg, sig) = rest.split_at(len);
    let alg = spki::AlgorithmIdentifierOwned::from_der(alg)
        .map_err(|e| format!("bad signature algorithm identifier: {e}"))?;
    let scheme =
        scheme_of(&alg).ok_or_else(|| format!("unsupported signature algorithm {}", alg.oid))?;
    Ok((scheme, sig))
}

/// The DER `AlgorithmIdentifier` of a scheme (RFC 7427 Appendix A), for AUTH method 14.
fn algorithm_identifier(scheme: Scheme) -> Option<&'static [u8]> {
    Some(match scheme {
        // sha256WithRSAEncryption, NULL parameters (A.1.2)
        Scheme::Pkcs1(SigHash::Sha256) => &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ],
        Scheme::Pkcs1(SigHash::Sha384) => &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05,
            0x00,
        ],
        Scheme::Pkcs1(SigHash::Sha512) => &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05,
            0x00,
        ],
        // ecdsa-with-SHA256/384/512, no parameters (A.3)
        Scheme::Ecdsa {
            hash: SigHash::Sha256,
            der: true,
        } => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
        ],
        Scheme::Ecdsa {
            hash: SigHash::Sha384,
            der: true,
        } => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
        ],
        Scheme::Ecdsa {
            hash: SigHash::Sha512,
            der: true,
        } => &[
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04,
        ],
        // RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (A.4.3)
        Scheme::Pss(SigHash::Sha256) => &[
            0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30,
            0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
            0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
            0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
            0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
        ],
        _ => return None,
    })
}

/// How RSA keys sign with AUTH method 14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RsaPadding {
    /// RSASSA-PKCS1-v1_5 (what most gateways expect).
    #[default]
    Pkcs1,
    /// RSASSA-PSS.
    Pss,
}

/// Our private key.
pub enum PrivateKey {
    /// RSA.
    Rsa(Box<RsaPrivateKey>),
    /// ECDSA on P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA on P-384.
    P384(p384::ecdsa::SigningKey),
    /// ECDSA on P-521.
    P521(p521::ecdsa::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrivateKey::Rsa(_) => "PrivateKey::Rsa(<redacted>)",
            PrivateKey::P256(_) => "PrivateKey::P256(<redacted>)",
            PrivateKey::P384(_) => "PrivateKey::P384(<redacted>)",
            PrivateKey::P521(_) => "PrivateKey::P521(<redacted>)",
        })
    }
}

impl PrivateKey {
    /// A key from DER: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). The RustCrypto key types zeroize
    /// themselves on drop.
    pub fn from_der(der: &[u8]) -> Result<PrivateKey, Error> {
        if let Ok(k) = RsaPrivateKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P384(k.into()));
        }
        if let Ok(k) = p521::SecretKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P521(p521_signing(&k)?));
        }
        if let Ok(k) = RsaPrivateKey::from_pkcs1_der(der) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P256(k.into()));
        }
        if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P384(k.into()));
        }
        if let Ok(k) = p521::SecretKey::from_sec1_der(der) {
            return Ok(PrivateKey::P521(p521_signing(&k)?));
        }
        Err(Error::BadCredential {
            what: "private key",
            detail: "not an RSA or ECDSA (P-256, P-384, P-521) key in PKCS#8, PKCS#1 or SEC1 form"
                .into(),
        })
    }

    /// An IKEv1 RSA signature (RFC 2409 §5.1): PKCS#1 v1.5 over the raw HASH_I bytes,
    /// without a DigestInfo, as IKEv1 gateways expect. Only RSA keys sign in IKEv1 here.
    pub fn sign_ikev1(&self, hash: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            PrivateKey::Rsa(k) => {
                k.sign(Pkcs1v15Sign::new_unprefixed(), hash)
                    .map_err(|e| Error::BadCredential {
                        what: "private key",
                        detail: format!("signing failed: {e}"),
                    })
            }
            _ => Err(Error::BadCredential {
                what: "private key",
                detail: "IKEv1 signatures need an RSA key; use IKEv2 for ECDSA certificates".into(),
            }),
        }
    }

    /// Whether `cert` holds the public half of this key.
    pub fn matches(&self, cert: &X509) -> bool {
        match (self, PublicKey::from_certificate(cert)) {
            (PrivateKey::Rsa(k), Ok(PublicKey::Rsa(p))) => k.to_public_key() == p,
            (PrivateKey::P256(k), Ok(PublicKey::P256(p))) => *k.verifying_key() == p,
            (PrivateKey::P384(k), Ok(PublicKey::P384(p))) => *k.verifying_key() == p,
            (PrivateKey::P521(k), Ok(PublicKey::P521(p))) => {
                p521::ecdsa::VerifyingKey::from(k).to_encoded_point(false)
                    == p.to_encoded_point(false)
            }
            _ => false,
        }
    }

    /// Builds our AUTH payload (method and data) over `octets`. With `hashes` (the gateway's
    /// SIGNATURE_HASH_ALGORITHMS) we use RFC 7427 method 14 with the strongest hash both
    /// support; without, the classic method for the key (1 for RSA, 9–11 for ECDSA).
    pub fn sign_auth(
        &self,
        hashes: Option<&[SigHash]>,
        rsa_padding: RsaPadding,
        octets: &[u8],
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<(u8, Vec<u8>), Error> {
        let pick = |prefs: &[SigHash]| -> Option<SigHash> {
            let h = hashes?;
            prefs.iter().copied().find(|p| h.contains(p))
        };
        let fail = |e: String| Error::BadCredential {
            what: "private key",
            detail: format!("signing failed: {e}"),
        };
        let (method, scheme) = match self {
            PrivateKey::Rsa(_) => {
                match pick(&[SigHash::Sha256, SigHash::Sha384, SigHash::Sha512]) {
                    Some(h) if rsa_padding == RsaPadding::Pss && h == SigHash::Sha256 => {
                        (auth_method::DIGITAL_SIGNATURE, Scheme::Pss(h))
                    }
                    Some(h) => (auth_method::DIGITAL_SIGNATURE, Scheme::Pkcs1(h)),
                    None => (auth_method::RSA_SIG, Scheme::Pkcs1(SigHash::Sha1)),
                }
            }
            PrivateKey::P256(_) | PrivateKey::P384(_) | PrivateKey::P521(_) => {
                let (classic, natural) = match self {
                    PrivateKey::P256(_) => (auth_method::ECDSA_SHA256_P256, SigHash::Sha256),
                    PrivateKey::P384(_) => (auth_method::ECDSA_SHA384_P384, SigHash::Sha384),
                    _ => (auth_method::ECDSA_SHA512_P521, SigHash::Sha512),
                };
                let prefs = [natural, SigHash::Sha512, SigHash::Sha384, SigHash::Sha256];
                match pick(&prefs) {
                    Some(h) => (
                        auth_method::DIGITAL_SIGNATURE,
                        Scheme::Ecdsa { hash: h, der: true },
                    ),
                    None => (
                        classic,
                        Scheme::Ecdsa {
                            hash: natural,
                            der: false,
                        },
                    ),
                }
            }
        };
        let sig = self.sign(scheme, octets, rng).map_err(fail)?;
        if method == auth_method::DIGITAL_SIGNATURE {
            let alg = algorithm_identifier(scheme)
                .ok_or_else(|| fail("no algorithm identifier".into()))?;
            let mut data = Vec::with_capacity(1 + alg.len() + sig.len());
            data.push(alg.len() as u8);
            data.extend_from_slice(alg);
            data.extend_from_slice(&sig);
            Ok((method, data))
        } else {
            Ok((method, sig))
        }
    }

    fn sign(
        &self,
        scheme: Scheme,
        data: &[u8],
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Vec<u8>, String> {
        let ecdsa_out = |der: bool, sig_der: Vec<u8>, raw: Vec<u8>| if der { sig_der } else { raw };
        match (self, scheme) {
            (PrivateKey::Rsa(k), Scheme::Pkcs1(h)) => {
                let hashed = h.digest(data);
                let padding = match h {
                    SigHash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
                    SigHash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                    SigHash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                    SigHash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                let mut rng = RngAdapter(rng);
                k.sign_with_rng(&mut rng, padding, &hashed)
                    .map_err(|e| e.to_string())
            }
            (PrivateKey::Rsa(k), Scheme::Pss(SigHash::Sha256)) => {
                let hashed = SigHash::Sha256.digest(data);
                let mut rng = RngAdapter(rng);
                k.sign_with_rng(&mut rng, Pss::new::<sha2::Sha256>(), &hashed)
                    .map_err(|e| e.to_string())
            }
            (PrivateKey::P256(k), Scheme::Ecdsa { hash, der }) => {
                let s: p256::ecdsa::Signature = k
                    .sign_prehash(&hash.digest(data))
                    .map_err(|e| e.to_string())?;
                Ok(ecdsa_out(der, s.to_der().as_bytes().to_vec(), s.to_vec()))
            }
            (PrivateKey::P384(k), Scheme::Ecdsa { hash, der }) => {
                let s: p384::ecdsa::Signature = k
                    .sign_prehash(&hash.digest(data))
                    .map_err(|e| e.to_string())?;
                Ok(ecdsa_out(der, s.to_der().as_bytes().to_vec(), s.to_vec()))
            }
            (PrivateKey::P521(k), Scheme::Ecdsa { hash, der }) => {
                // p521 0.13 has no RFC 6979 signer: a random nonce from the caller's RNG.
                let mut rng = RngAdapter(rng);
                let s: p521::ecdsa::Signature = k
                    .sign_prehash_with_rng(&mut rng, &hash.digest(data))
                    .map_err(|e| e.to_string())?;
                Ok(ecdsa_out(der, s.to_der().as_bytes().to_vec(), s.to_vec()))
            }
            _ => Err("the key cannot make this kind of signature".into()),
        }
    }
}

fn p521_signing(k: &p521::SecretKey) -> Result<p521::ecdsa::SigningKey, Error> {
    p521::ecdsa::SigningKey::from_bytes(&k.to_bytes()).map_err(|e| Error::BadCredential {
        what: "private key",
        detail: format!("bad P-521 key: {e}"),
    })
}

/// `rand_core` randomness from a `dyn CryptoRngCore` (the `rsa` crate wants a sized RNG).
struct RngAdapter<'a>(&'a mut dyn rand_core::CryptoRngCore);

impl rand_core::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl rand_core::CryptoRng for RngAdapter<'_> {}

/// A parsed certificate with its DER.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: X509,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cert({})", self.subject())
    }
}

impl Cert {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        let cert = X509::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        Ok(Cert {
            der: der.to_vec(),
            cert,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed certificate.
    pub fn x509(&self) -> &X509 {
        &self.cert
    }

    /// The subject DN in RFC 4514 notation.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    /// The subject DN, DER-encoded (what an ID_DER_ASN1_DN identity carries).
    pub fn subject_der(&self) -> Vec<u8> {
        self.cert
            .tbs_certificate
            .subject
            .to_der()
            .unwrap_or_default()
    }

    /// SHA-1 of the DER SubjectPublicKeyInfo: what a CERTREQ names a CA by (§3.7).
    pub fn spki_sha1(&self) -> Vec<u8> {
        let spki = self
            .cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap_or_default();
        sha1::Sha1::digest(spki).to_vec()
    }

    /// The public key.
    pub fn public_key(&self) -> Result<PublicKey, String> {
        PublicKey::from_certificate(&self.cert)
    }

    fn alt_names(&self) -> Vec<GeneralName> {
        match self.cert.tbs_certificate.get::<SubjectAltName>() {
            Ok(Some((_, san))) => san.0,
            _ => Vec::new(),
        }
    }

    /// The subject and alternative names, readable (for messages).
    pub fn names(&self) -> String {
        let mut out = format!("`{}`", self.subject());
        let alts: Vec<String> = self
            .alt_names()
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(d) => Some(d.to_string()),
                GeneralName::Rfc822Name(e) => Some(e.to_string()),
                GeneralName::IpAddress(ip) => ip_text(ip.as_bytes()),
                _ => None,
            })
            .collect();
        if !alts.is_empty() {
            out.push_str(" (alternative names: ");
            out.push_str(&alts.join(", "));
            out.push(')');
        }
        out
    }

    /// Whether this certificate names `id` (§3.5: the identity must be "bound" to the key).
    pub fn matches_identity(&self, id: &Identification) -> bool {
        let alts = self.alt_names();
        match id.id_type {
            id_type::FQDN => alts.iter().any(|n| match n {
                GeneralName::DnsName(d) => d.as_str().as_bytes().eq_ignore_ascii_case(&id.data),
                _ => false,
            }),
            id_type::RFC822_ADDR => alts.iter().any(|n| match n {
                GeneralName::Rfc822Name(e) => e.as_str().as_bytes().eq_ignore_ascii_case(&id.data),
                _ => false,
            }),
            id_type::IPV4_ADDR | id_type::IPV6_ADDR => alts.iter().any(|n| match n {
                GeneralName::IpAddress(ip) => ip.as_bytes() == id.data.as_slice(),
                _ => false,
            }),
            id_type::DER_ASN1_DN => {
                self.subject_der() == id.data
                    || x509_cert::name::Name::from_der(&id.data)
                        .is_ok_and(|n| names_equal(&n, &self.cert.tbs_certificate.subject))
            }
            id_type::KEY_ID => match self.cert.tbs_certificate.get::<SubjectKeyIdentifier>() {
                Ok(Some((_, ski))) => ski.0.as_bytes() == id.data.as_slice(),
                _ => false,
            },
            _ => false,
        }
    }

    fn check_validity(&self, now: SystemTime) -> Result<(), Error> {
        let v = &self.cert.tbs_certificate.validity;
        if now < v.not_before.to_system_time() {
            return Err(Error::CertificateNotYetValid {
                subject: self.subject(),
                not_before: v.not_before.to_string(),
            });
        }
        if now > v.not_after.to_system_time() {
            return Err(Error::CertificateExpired {
                subject: self.subject(),
                not_after: v.not_after.to_string(),
            });
        }
        Ok(())
    }

    fn is_ca(&self) -> bool {
        matches!(
            self.cert.tbs_certificate.get::<BasicConstraints>(),
            Ok(Some((_, bc))) if bc.ca
        )
    }

    /// Whether `issuer` signed this certificate.
    fn signed_by(&self, issuer: &Cert) -> bool {
        if self.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return false;
        }
        let Some(scheme) = scheme_of(&self.cert.signature_algorithm) else {
            return false;
        };
        let Ok(key) = issuer.public_key() else {
            return false;
        };
        let Ok(tbs) = self.cert.tbs_certificate.to_der() else {
            return false;
        };
        let Some(sig) = self.cert.signature.as_bytes() else {
            return false;
        };
        key.verify(scheme, &tbs, sig)
    }
}

/// Whether two names are the same, attribute by attribute, ignoring the string type
/// (PrintableString vs UTF8String) that different tools choose for the same text.
fn names_equal(a: &x509_cert::name::Name, b: &x509_cert::name::Name) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(b.0.iter()).all(|(x, y)| {
            x.0.len() == y.0.len()
                && x.0.iter().zip(y.0.iter()).all(|(p, q)| {
                    p.oid == q.oid && p.value.value().eq_ignore_ascii_case(q.value.value())
                })
        })
}

fn ip_text(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| std::net::Ipv4Addr::from(a).to_string()),
        16 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| std::net::Ipv6Addr::from(a).to_string()),
        _ => None,
    }
}

/// Validates the gateway's certificate `end_entity` with the `intermediates` it sent against
/// our `anchors` at wall-clock time `now`; returns its public key.
///
/// Checks: every signature along the path, validity periods (with a clock-skew hint for a
/// certificate not yet valid), `cA` on every issuer but the anchor, and that the end entity's
/// key usage (if present) allows digital signatures.
pub fn validate_chain(
    end_entity: &Cert,
    intermediates: &[Cert],
    anchors: &[Cert],
    now: SystemTime,
) -> Result<PublicKey, Error> {
    let untrusted = |reason: &str| Error::UntrustedCertificate {
        subject: end_entity.subject(),
        reason: reason.to_string(),
    };
    if anchors.is_empty() {
        return Err(untrusted(
            "the profile names no CA certificate to check it with",
        ));
    }
    if let Ok(Some((_, ku))) = end_entity.cert.tbs_certificate.get::<KeyUsage>() {
        if !ku.digital_signature() && !ku.non_repudiation() {
            return Err(untrusted("its key usage does not allow signatures"));
        }
    }
    let key = end_entity
        .public_key()
        .map_err(|e| untrusted(&format!("its key cannot be used: {e}")))?;
    let mut current = end_entity;
    for depth in 0..MAX_DEPTH {
        current.check_validity(now)?;
        if anchors.iter().any(|a| a.der == current.der) {
            return Ok(key);
        }
        if let Some(anchor) = anchors.iter().find(|a| current.signed_by(a)) {
            anchor.check_validity(now)?;
            return Ok(key);
        }
        let next = intermediates
            .iter()
            .filter(|c| c.der != current.der)
            .find(|c| current.signed_by(c));
        match next {
            Some(c) if c.is_ca() => current = c,
            Some(_) => {
                return Err(untrusted(
                    "an intermediate certificate in its chain is not a CA certificate",
                ))
            }
            None if depth == 0 => {
                return Err(untrusted(&format!(
                    "it was issued by `{}`, which is not one of the profile's CAs",
                    current.cert.tbs_certificate.issuer
                )))
            }
            None => {
                return Err(untrusted(&format!(
                    "its chain ends at `{}`, which is not one of the profile's CAs",
                    current.subject()
                )))
            }
        }
    }
    Err(untrusted("its chain is too long"))
}

/// An ID_DER_ASN1_DN identity from a distinguished name in text. Both spellings in use are
/// accepted: RFC 4514 (`CN=vpn.example.net, O=Example, C=CH`, least significant first) and the
/// X.500/strongSwan order (`C=CH, O=Example, CN=vpn.example.net`), recognized by a leading
/// `C=` or `DC=`.
pub fn dn_identity(text: &str) -> Option<Identification> {
    use std::str::FromStr;
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    let rfc4514 = if upper.starts_with("C=") || upper.starts_with("DC=") {
        let parts: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        parts.into_iter().rev().collect::<Vec<_>>().join(",")
    } else {
        trimmed
            .split(',')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(",")
    };
    let name = x509_cert::name::Name::from_str(&rfc4514).ok()?;
    Some(Identification {
        id_type: id_type::DER_ASN1_DN,
        data: name.to_der().ok()?,
    })
}

/// Whether two DER-encoded distinguished names are the same, attribute by attribute, ignoring
/// the string type (PrintableString or UTF8String) that different tools choose.
pub fn dn_equal(a: &[u8], b: &[u8]) -> bool {
    match (
        x509_cert::name::Name::from_der(a),
        x509_cert::name::Name::from_der(b),
    ) {
        (Ok(x), Ok(y)) => names_equal(&x, &y),
        _ => a == b,
    }
}

/// Certificates from a file's contents: PEM (any number of `CERTIFICATE` blocks, in order),
/// one DER certificate, or the certificates of a PKCS#12 file without a password (in the
/// file's order; see [`super::pkcs12`]).
pub fn certs_from_pem_or_der(bytes: &[u8]) -> Result<Vec<Cert>, Error> {
    let bad = |detail: String| Error::BadCredential {
        what: "certificate",
        detail,
    };
    if bytes.first() == Some(&0x30) {
        return match Cert::from_der(bytes) {
            Ok(c) => Ok(vec![c]),
            Err(_) if super::pkcs12::is_pkcs12(bytes) => {
                let certs = super::pkcs12::parse(bytes, "certificate")?.certs;
                if certs.is_empty() {
                    return Err(bad("the PKCS#12 file holds no certificate".into()));
                }
                Ok(certs)
            }
            Err(e) => Err(bad(e)),
        };
    }
    let mut reader = bytes;
    let mut out = Vec::new();
    for item in rustls_pemfile::certs(&mut reader) {
        let der = item.map_err(|e| bad(format!("bad PEM: {e}")))?;
        out.push(Cert::from_der(der.as_ref()).map_err(bad)?);
    }
    if out.is_empty() {
        return Err(bad("no certificate found (expected PEM or DER)".into()));
    }
    Ok(out)
}

/// A private key from a file's contents: PEM (PKCS#8, PKCS#1 or SEC1), DER (the same), or the
/// key of a PKCS#12 file without a password (see [`super::pkcs12`]).
pub fn private_key_from_pem_or_der(bytes: &[u8]) -> Result<PrivateKey, Error> {
    if bytes.first() == Some(&0x30) {
        return match PrivateKey::from_der(bytes) {
            Ok(k) => Ok(k),
            Err(_) if super::pkcs12::is_pkcs12(bytes) => {
                match super::pkcs12::parse(bytes, "private key")?.key {
                    Some(der) => PrivateKey::from_der(&der),
                    None => Err(Error::BadCredential {
                        what: "private key",
                        detail: "the PKCS#12 file holds no private key".into(),
                    }),
                }
            }
            Err(e) => Err(e),
        };
    }
    if pem_key_is_encrypted(bytes) {
        return Err(Error::BadCredential {
            what: "private key",
            detail: ENCRYPTED_KEY.into(),
        });
    }
    let mut reader = bytes;
    match rustls_pemfile::private_key(&mut reader) {
        Ok(Some(k)) => PrivateKey::from_der(k.secret_der()),
        Ok(None) => Err(Error::BadCredential {
            what: "private key",
            detail: "no private key found (expected PEM, DER or PKCS#12)".into(),
        }),
        Err(e) => Err(Error::BadCredential {
            what: "private key",
            detail: format!("bad PEM: {e}"),
        }),
    }
}

/// What a user reads about an encrypted key where no password can be asked for (the service).
pub const ENCRYPTED_KEY: &str = "this private key is encrypted with a password; import it with \
     `strait secret set PROFILE key --from-file FILE` or the app (both ask for the password \
     and store the key decrypted in your keychain)";

const ENCRYPTED_PEM_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// Whether PEM text holds an encrypted key: PKCS#8 (`ENCRYPTED PRIVATE KEY`) or OpenSSL's
/// traditional form (`Proc-Type: 4,ENCRYPTED`).
fn pem_key_is_encrypted(bytes: &[u8]) -> bool {
    contains(bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || contains(bytes, b"Proc-Type: 4,ENCRYPTED")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first PEM block labelled `label` in `bytes`, decoded.
fn pem_block(bytes: &[u8], label: &str) -> Option<Result<Vec<u8>, String>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = bytes
        .windows(begin.len())
        .position(|w| w == begin.as_bytes())?;
    let rest = &bytes[start..];
    let Some(stop) = rest.windows(end.len()).position(|w| w == end.as_bytes()) else {
        return Some(Err(format!("the PEM block `{label}` has no END line")));
    };
    // The decoder wants the END line's line ending too.
    let mut block = rest[..stop + end.len()].to_vec();
    block.push(b'\n');
    Some(
        der::pem::decode_vec(&block)
            .map(|(_, der)| der)
            .map_err(|e| format!("bad PEM: {e}")),
    )
}

/// Why a key file could not be turned into a key secret ([`key_secret_from_file`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file is encrypted and no password was given: ask for one.
    #[error("the file is protected by a password")]
    PasswordNeeded,
    /// The password given does not open the file.
    #[error("the password is wrong")]
    WrongPassword,
    /// The file holds no usable key (damaged, unsupported, or not a key at all).
    #[error(transparent)]
    Invalid(#[from] Error),
}

/// Whether a key file can only be opened with a password: an encrypted PKCS#8 key (PEM or
/// DER), an OpenSSL traditional encrypted PEM key, or a PKCS#12 file the empty password does
/// not open. Lets the CLI and the app ask for the password only when it is needed.
pub fn key_file_needs_password(bytes: &[u8]) -> bool {
    matches!(
        key_secret_from_file(bytes, None),
        Err(KeyFileError::PasswordNeeded)
    )
}

/// What the keychain stores for a private key imported from a file, so that the service never
/// needs a password: the key as unencrypted PEM (PKCS#8 `PRIVATE KEY`; a PKCS#1 or SEC1 key
/// that was given unencrypted keeps its form), then the certificates that came with it as
/// `CERTIFICATE` blocks (a PKCS#12 file's chain, or those in the same PEM file), which the
/// service uses when the profile's certificate file cannot be read without a password.
///
/// `password` opens a password-protected PKCS#12 file or an encrypted PKCS#8 key (PBES2 with
/// PBKDF2 and AES or 3DES, or the PKCS#12 PBEs); `None` tries the empty password. The key is
/// checked (an RSA or ECDSA key this crate can sign with) before it is returned.
pub fn key_secret_from_file(
    bytes: &[u8],
    password: Option<&str>,
) -> Result<Zeroizing<String>, KeyFileError> {
    use super::pkcs12::{self, OpenError};
    let bad = |detail: String| {
        KeyFileError::Invalid(Error::BadCredential {
            what: "private key",
            detail,
        })
    };
    // (PEM label, DER) of the key, and the certificates.
    let (label, key, certs): (&str, Zeroizing<Vec<u8>>, Vec<Vec<u8>>) =
        if bytes.first() == Some(&0x30) {
            if PrivateKey::from_der(bytes).is_ok() {
                (der_key_label(bytes), Zeroizing::new(bytes.to_vec()), vec![])
            } else if pkcs12::is_pkcs12(bytes) {
                let contents = match pkcs12::open(bytes, "private key", password) {
                    Ok(c) => c,
                    Err(OpenError::Password { .. }) if password.is_none_or(str::is_empty) => {
                        return Err(KeyFileError::PasswordNeeded)
                    }
                    Err(OpenError::Password { .. }) => return Err(KeyFileError::WrongPassword),
                    Err(OpenError::Bad(e)) => return Err(e.into()),
                };
                let key = contents
                    .key
                    .ok_or_else(|| bad("the PKCS#12 file holds no private key".into()))?;
                let certs = contents.certs.iter().map(|c| c.der().to_vec()).collect();
                (der_key_label(&key), key, certs)
            } else {
                ("PRIVATE KEY", decrypt_pkcs8(bytes, password)?, Vec::new())
            }
        } else if contains(bytes, b"Proc-Type: 4,ENCRYPTED") {
            return Err(bad(
                "this PEM key is encrypted the old OpenSSL way (Proc-Type/DEK-Info), which is \
                 not supported; convert it with `openssl pkcs8 -topk8 -in KEY -out KEY.p8` \
                 (that asks for the password and keeps the key encrypted, the modern way)"
                    .into(),
            ));
        } else {
            let certs = certs_in_pem(bytes);
            let mut reader = bytes;
            match rustls_pemfile::private_key(&mut reader) {
                Ok(Some(k)) => {
                    let label = der_key_label(k.secret_der());
                    (label, Zeroizing::new(k.secret_der().to_vec()), certs)
                }
                Ok(None) => match pem_block(bytes, ENCRYPTED_PEM_LABEL) {
                    Some(Ok(der)) => ("PRIVATE KEY", decrypt_pkcs8(&der, password)?, certs),
                    Some(Err(e)) => return Err(bad(e)),
                    None => {
                        return Err(bad(
                            "no private key found (expected PEM, DER or PKCS#12)".into()
                        ))
                    }
                },
                Err(e) => return Err(bad(format!("bad PEM: {e}"))),
            }
        };
    // Only a key this crate can sign with is worth storing.
    PrivateKey::from_der(&key)?;
    let pem = |label: &str, der: &[u8]| {
        der::pem::encode_string(label, der::pem::LineEnding::LF, der)
            .map(Zeroizing::new)
            .map_err(|e| bad(format!("cannot write PEM: {e}")))
    };
    let mut out = pem(label, &key)?;
    let cert_pems = certs
        .iter()
        .map(|c| pem("CERTIFICATE", c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut secret = Zeroizing::new(String::with_capacity(
        out.len() + cert_pems.iter().map(|c| c.len()).sum::<usize>(),
    ));
    secret.push_str(&out);
    for c in &cert_pems {
        secret.push_str(c);
    }
    out.zeroize();
    Ok(secret)
}

/// The PEM label of a DER key: PKCS#8, or PKCS#1 / SEC1.
fn der_key_label(der: &[u8]) -> &'static str {
    if RsaPrivateKey::from_pkcs8_der(der).is_ok()
        || p256::SecretKey::from_pkcs8_der(der).is_ok()
        || p384::SecretKey::from_pkcs8_der(der).is_ok()
        || p521::SecretKey::from_pkcs8_der(der).is_ok()
    {
        "PRIVATE KEY"
    } else if RsaPrivateKey::from_pkcs1_der(der).is_ok() {
        "RSA PRIVATE KEY"
    } else {
        "EC PRIVATE KEY"
    }
}

/// The `CERTIFICATE` blocks of PEM text (unparsable ones are left out: they are not ours to
/// judge here, the key is what is being imported).
fn certs_in_pem(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = bytes;
    rustls_pemfile::certs(&mut reader)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect()
}

/// Decrypts an encrypted PKCS#8 key (`EncryptedPrivateKeyInfo`, RFC 5958) with the schemes of
/// [`super::pkcs12`]: PBES2 takes the password as UTF-8, the PKCS#12 PBEs as a BMPString.
fn decrypt_pkcs8(der: &[u8], password: Option<&str>) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    use super::pkcs12::{decrypt, Failure, Password};
    let info = pkcs12::pbe_params::EncryptedPrivateKeyInfo::from_der(der).map_err(|e| {
        KeyFileError::Invalid(Error::BadCredential {
            what: "private key",
            detail: format!("not a private key in a form Strait reads: {e}"),
        })
    })?;
    let Some(text) = password.filter(|p| !p.is_empty()) else {
        return Err(KeyFileError::PasswordNeeded);
    };
    let key = match decrypt(
        &info.encryption_algorithm,
        info.encrypted_data.as_bytes(),
        &Password::new(text),
    ) {
        Ok(k) => k,
        Err(Failure::Password) => return Err(KeyFileError::WrongPassword),
        Err(Failure::Bad(detail)) => {
            return Err(KeyFileError::Invalid(Error::BadCredential {
                what: "private key",
                detail: detail.replace("PKCS#12", "encrypted key"),
            }))
        }
    };
    // A wrong password that slipped past the padding check decrypts to garbage.
    if PrivateKey::from_der(&key).is_err() {
        return Err(KeyFileError::WrongPassword);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    //! Fixtures in `testdata/` were made with strongSwan's `pki`: an ECDSA root valid
    //! 2024–2044, a gateway certificate it issued valid 2025–2035 for `vpn.example.net`,
    //! `admin@example.net` and `192.0.2.1` (with the gateway's test-only key), and an
    //! unrelated root.
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const CA: &[u8] = include_bytes!("testdata/ca.der");
    const GW: &[u8] = include_bytes!("testdata/gw.der");
    const GW_KEY: &[u8] = include_bytes!("testdata/gw.key");
    const OTHER: &[u8] = include_bytes!("testdata/other.der");

    fn year(y: u64) -> SystemTime {
        // Mid-year, far from the validity boundaries.
        UNIX_EPOCH + Duration::from_secs((y - 1970) * 365 * 86400 + 180 * 86400)
    }

    fn id(t: &str) -> Identification {
        Identification::from_text(t)
    }

    #[test]
    fn chain_validity_and_trust() {
        let ca = Cert::from_der(CA).unwrap();
        let gw = Cert::from_der(GW).unwrap();
        let other = Cert::from_der(OTHER).unwrap();
        let key = validate_chain(&gw, &[], std::slice::from_ref(&ca), year(2030)).unwrap();
        assert!(matches!(key, PublicKey::P256(_)));
        match validate_chain(&gw, &[], std::slice::from_ref(&ca), year(2024)) {
            Err(e @ Error::CertificateNotYetValid { .. }) => {
                assert!(e.to_string().contains("check this computer's clock"), "{e}");
                assert!(e.to_string().contains("2025-01-01"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            validate_chain(&gw, &[], std::slice::from_ref(&ca), year(2036)),
            Err(Error::CertificateExpired { .. })
        ));
        match validate_chain(&gw, &[], std::slice::from_ref(&other), year(2030)) {
            Err(e @ Error::UntrustedCertificate { .. }) => {
                assert!(e.to_string().contains("Test Root"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            validate_chain(&gw, &[], &[], year(2030)),
            Err(Error::UntrustedCertificate { .. })
        ));
        // A certificate that claims to be issued by the CA but is not signed by it.
        let mut forged = GW.to_vec();
        let n = forged.len();
        forged[n - 5] ^= 0x55;
        if let Ok(f) = Cert::from_der(&forged) {
            assert!(validate_chain(&f, &[], std::slice::from_ref(&ca), year(2030)).is_err());
        }
        // An "intermediate" that is not a CA cannot extend the chain.
        assert!(validate_chain(&other, std::slice::from_ref(&gw), &[ca], year(2030)).is_err());
    }

    #[test]
    fn identities_against_the_certificate() {
        let gw = Cert::from_der(GW).unwrap();
        assert!(gw.matches_identity(&id("vpn.example.net")));
        assert!(gw.matches_identity(&id("VPN.Example.NET")));
        assert!(gw.matches_identity(&id("admin@example.net")));
        assert!(gw.matches_identity(&id("192.0.2.1")));
        assert!(gw.matches_identity(&Identification {
            id_type: id_type::DER_ASN1_DN,
            data: gw.subject_der(),
        }));
        assert!(!gw.matches_identity(&id("vpn.other.example")));
        assert!(!gw.matches_identity(&id("192.0.2.2")));
        assert!(!gw.matches_identity(&id("2001:db8::1")));
        for dn in [
            "C=CH, O=Strait Test, CN=vpn.example.net",
            "CN=vpn.example.net,O=Strait Test,C=CH",
        ] {
            assert!(gw.matches_identity(&dn_identity(dn).unwrap()), "{dn}");
        }
        assert!(!gw.matches_identity(&dn_identity("C=CH, O=Strait Test, CN=other").unwrap()));
        assert!(dn_identity("not a dn").is_none());
        assert!(gw.names().contains("vpn.example.net"));
        assert!(gw.names().contains("192.0.2.1"));
    }

    #[test]
    fn sign_and_verify_every_way() {
        let gw = Cert::from_der(GW).unwrap();
        let key = private_key_from_pem_or_der(GW_KEY).unwrap();
        assert!(key.matches(gw.x509()));
        let public = gw.public_key().unwrap();
        let mut rng = rand_core::OsRng;
        let octets = b"signed octets";
        // RFC 7427 with each hash, and the classic method without SIGNATURE_HASH_ALGORITHMS.
        for hashes in [
            Some(&[SigHash::Sha256][..]),
            Some(&[SigHash::Sha384][..]),
            Some(&[SigHash::Sha512][..]),
            None,
        ] {
            let (method, data) = key
                .sign_auth(hashes, RsaPadding::Pkcs1, octets, &mut rng)
                .unwrap();
            let ok = if method == auth_method::DIGITAL_SIGNATURE {
                let (scheme, sig) = split_digital_signature(&data).unwrap();
                public.verify(scheme, octets, sig) && !public.verify(scheme, b"other", sig)
            } else {
                assert_eq!(method, auth_method::ECDSA_SHA256_P256);
                let scheme = classic_scheme(method).unwrap();
                public.verify(scheme, octets, &data)
            };
            assert!(ok, "{hashes:?}");
        }
        // Garbage AUTH data never panics.
        for bad in [&[][..], &[200, 1, 2], &[2, 0x30, 0x00, 1, 2, 3]] {
            assert!(split_digital_signature(bad).is_err());
        }
        assert!(PrivateKey::from_der(b"\x30\x03\x02\x01\x00").is_err());
        assert!(certs_from_pem_or_der(b"-----BEGIN NOTHING-----\n").is_err());
    }
}
