//! Algorithm proposals in strongSwan's syntax, shared by IKEv2 and IKEv1.
//!
//! IT departments copy proposal strings from their gateway's configuration
//! (`aes256gcm16-prfsha384-ecp384`, `aes256-sha256-modp2048`), so profiles use the same syntax as
//! strongSwan's `swanctl.conf`: algorithm keywords joined by `-`. Several keywords of one kind
//! in one string are alternatives within one proposal (`aes128-aes256-sha256-ecp256-modp2048`).
//!
//! Weak algorithms (DES, 3DES, MD5, SHA-1 as the only integrity, MODP groups under 2048 bits) are
//! refused unless the caller passes `allow_weak`, so that a typo can never silently downgrade a
//! connection; [`IkeProposal::weak_algorithms`] lets the service warn when they are allowed.

use std::fmt;

use strait_crypto::{AeadAlg, CipherAlg, DhGroup, HashAlg};

/// An encryption algorithm for IKE or ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// AES-CBC with a 128-, 192- or 256-bit key.
    AesCbc(u16),
    /// AES-GCM with a 16-byte ICV (RFC 4106, RFC 5282), 128- or 256-bit key.
    AesGcm16(u16),
    /// ChaCha20-Poly1305 (RFC 7634).
    ChaCha20Poly1305,
    /// Triple DES (weak).
    TripleDes,
    /// Single DES (weak).
    Des,
}

impl Encr {
    /// Whether this is an AEAD cipher (then the proposal has no separate integrity algorithm).
    pub const fn is_aead(self) -> bool {
        matches!(self, Encr::AesGcm16(_) | Encr::ChaCha20Poly1305)
    }

    /// The AEAD algorithm, for AEAD ciphers.
    pub const fn aead(self) -> Option<AeadAlg> {
        match self {
            Encr::AesGcm16(128) => Some(AeadAlg::Aes128Gcm16),
            Encr::AesGcm16(_) => Some(AeadAlg::Aes256Gcm16),
            Encr::ChaCha20Poly1305 => Some(AeadAlg::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The block cipher, for CBC ciphers.
    pub const fn cbc(self) -> Option<CipherAlg> {
        match self {
            Encr::AesCbc(128) => Some(CipherAlg::Aes128Cbc),
            Encr::AesCbc(192) => Some(CipherAlg::Aes192Cbc),
            Encr::AesCbc(_) => Some(CipherAlg::Aes256Cbc),
            Encr::TripleDes => Some(CipherAlg::TripleDesCbc),
            Encr::Des => Some(CipherAlg::DesCbc),
            _ => None,
        }
    }

    /// Key length in bytes, including the 4-byte salt of AEAD ciphers (RFC 4106 §8.1,
    /// RFC 7634 §2), i.e. how much keying material this cipher takes from prf+.
    pub const fn keymat_len(self) -> usize {
        match self {
            Encr::AesCbc(bits) => bits as usize / 8,
            Encr::AesGcm16(bits) => bits as usize / 8 + 4,
            Encr::ChaCha20Poly1305 => 36,
            Encr::TripleDes => 24,
            Encr::Des => 8,
        }
    }

    /// Whether the algorithm is weak (needs `allow_weak`).
    pub const fn is_weak(self) -> bool {
        matches!(self, Encr::TripleDes | Encr::Des)
    }

    /// strongSwan's keyword.
    pub fn keyword(self) -> String {
        match self {
            Encr::AesCbc(bits) => format!("aes{bits}"),
            Encr::AesGcm16(bits) => format!("aes{bits}gcm16"),
            Encr::ChaCha20Poly1305 => "chacha20poly1305".into(),
            Encr::TripleDes => "3des".into(),
            Encr::Des => "des".into(),
        }
    }
}

impl fmt::Display for Encr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encr::AesCbc(bits) => write!(f, "AES-{bits}-CBC"),
            Encr::AesGcm16(bits) => write!(f, "AES-{bits}-GCM"),
            Encr::ChaCha20Poly1305 => f.write_str("ChaCha20-Poly1305"),
            Encr::TripleDes => f.write_str("3DES-CBC"),
            Encr::Des => f.write_str("DES-CBC"),
        }
    }
}

/// An integrity algorithm (HMAC truncated as the RFCs say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// HMAC-MD5-96 (weak).
    HmacMd5_96,
    /// HMAC-SHA1-96 (weak when it is the only choice).
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (RFC 4868).
    HmacSha256_128,
    /// HMAC-SHA2-384-192 (RFC 4868).
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (RFC 4868).
    HmacSha512_256,
}

impl Integ {
    /// The hash under the HMAC.
    pub const fn hash(self) -> HashAlg {
        match self {
            Integ::HmacMd5_96 => HashAlg::Md5,
            Integ::HmacSha1_96 => HashAlg::Sha1,
            Integ::HmacSha256_128 => HashAlg::Sha256,
            Integ::HmacSha384_192 => HashAlg::Sha384,
            Integ::HmacSha512_256 => HashAlg::Sha512,
        }
    }

    /// Key length in bytes (the hash output length, RFC 4868 §2.1.1).
    pub const fn key_len(self) -> usize {
        self.hash().output_len()
    }

    /// Length of the truncated ICV in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            Integ::HmacMd5_96 | Integ::HmacSha1_96 => 12,
            Integ::HmacSha256_128 => 16,
            Integ::HmacSha384_192 => 24,
            Integ::HmacSha512_256 => 32,
        }
    }

    /// The PRF strongSwan pairs with this integrity algorithm when a proposal names none.
    pub const fn matching_prf(self) -> Prf {
        match self {
            Integ::HmacMd5_96 => Prf::HmacMd5,
            Integ::HmacSha1_96 => Prf::HmacSha1,
            Integ::HmacSha256_128 => Prf::HmacSha256,
            Integ::HmacSha384_192 => Prf::HmacSha384,
            Integ::HmacSha512_256 => Prf::HmacSha512,
        }
    }

    /// strongSwan's keyword.
    pub const fn keyword(self) -> &'static str {
        match self {
            Integ::HmacMd5_96 => "md5",
            Integ::HmacSha1_96 => "sha1",
            Integ::HmacSha256_128 => "sha256",
            Integ::HmacSha384_192 => "sha384",
            Integ::HmacSha512_256 => "sha512",
        }
    }
}

impl fmt::Display for Integ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Integ::HmacMd5_96 => "HMAC-MD5-96",
            Integ::HmacSha1_96 => "HMAC-SHA1-96",
            Integ::HmacSha256_128 => "HMAC-SHA-256",
            Integ::HmacSha384_192 => "HMAC-SHA-384",
            Integ::HmacSha512_256 => "HMAC-SHA-512",
        })
    }
}

/// A pseudo-random function for the IKE key schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF-HMAC-MD5 (weak).
    HmacMd5,
    /// PRF-HMAC-SHA1.
    HmacSha1,
    /// PRF-HMAC-SHA2-256.
    HmacSha256,
    /// PRF-HMAC-SHA2-384.
    HmacSha384,
    /// PRF-HMAC-SHA2-512.
    HmacSha512,
}

impl Prf {
    /// The hash under the HMAC.
    pub const fn hash(self) -> HashAlg {
        match self {
            Prf::HmacMd5 => HashAlg::Md5,
            Prf::HmacSha1 => HashAlg::Sha1,
            Prf::HmacSha256 => HashAlg::Sha256,
            Prf::HmacSha384 => HashAlg::Sha384,
            Prf::HmacSha512 => HashAlg::Sha512,
        }
    }

    /// Output (and preferred key) length in bytes.
    pub const fn output_len(self) -> usize {
        self.hash().output_len()
    }

    /// strongSwan's keyword.
    pub const fn keyword(self) -> &'static str {
        match self {
            Prf::HmacMd5 => "prfmd5",
            Prf::HmacSha1 => "prfsha1",
            Prf::HmacSha256 => "prfsha256",
            Prf::HmacSha384 => "prfsha384",
            Prf::HmacSha512 => "prfsha512",
        }
    }
}

impl fmt::Display for Prf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Prf::HmacMd5 => "PRF-HMAC-MD5",
            Prf::HmacSha1 => "PRF-HMAC-SHA1",
            Prf::HmacSha256 => "PRF-HMAC-SHA-256",
            Prf::HmacSha384 => "PRF-HMAC-SHA-384",
            Prf::HmacSha512 => "PRF-HMAC-SHA-512",
        })
    }
}

/// strongSwan's keyword for a DH group.
pub const fn dh_keyword(group: DhGroup) -> &'static str {
    match group {
        DhGroup::Modp768 => "modp768",
        DhGroup::Modp1024 => "modp1024",
        DhGroup::Modp1536 => "modp1536",
        DhGroup::Modp2048 => "modp2048",
        DhGroup::Modp3072 => "modp3072",
        DhGroup::Modp4096 => "modp4096",
        DhGroup::Ecp256 => "ecp256",
        DhGroup::Ecp384 => "ecp384",
        DhGroup::Ecp521 => "ecp521",
        DhGroup::Curve25519 => "curve25519",
        _ => "unknown",
    }
}

/// A readable name for a DH group ("MODP-2048", "ECP-384", "Curve25519").
pub const fn dh_name(group: DhGroup) -> &'static str {
    match group {
        DhGroup::Modp768 => "MODP-768",
        DhGroup::Modp1024 => "MODP-1024",
        DhGroup::Modp1536 => "MODP-1536",
        DhGroup::Modp2048 => "MODP-2048",
        DhGroup::Modp3072 => "MODP-3072",
        DhGroup::Modp4096 => "MODP-4096",
        DhGroup::Ecp256 => "ECP-256",
        DhGroup::Ecp384 => "ECP-384",
        DhGroup::Ecp521 => "ECP-521",
        DhGroup::Curve25519 => "Curve25519",
        _ => "an unknown group",
    }
}

/// Whether a DH group is weak (under 2048 bits, RFC 8247 §2.4).
pub const fn dh_is_weak(group: DhGroup) -> bool {
    matches!(
        group,
        DhGroup::Modp768 | DhGroup::Modp1024 | DhGroup::Modp1536
    )
}

/// Why a proposal string was refused. The message names the keyword and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalError {
    /// Empty string or empty keyword (`aes256--sha256`).
    #[error("empty proposal or keyword in `{0}`")]
    Empty(String),
    /// A keyword we do not know.
    #[error("unknown algorithm `{keyword}`; {hint}")]
    Unknown {
        /// The keyword.
        keyword: String,
        /// What is allowed.
        hint: &'static str,
    },
    /// A keyword we know but that is weak, with `allow_weak` off.
    #[error(
        "`{keyword}` is a weak algorithm ({why}); set `allow_weak = true` in [crypto] only if \
         the gateway cannot do better"
    )]
    Weak {
        /// The keyword.
        keyword: String,
        /// Why it is weak.
        why: &'static str,
    },
    /// The combination is incomplete or contradictory.
    #[error("`{proposal}`: {problem}")]
    Invalid {
        /// The whole string.
        proposal: String,
        /// What is wrong.
        problem: &'static str,
    },
}

const ENCR_HINT: &str = "use e.g. aes128, aes256, aes128gcm16, aes256gcm16, chacha20poly1305 \
                         (and 3des or des only with allow_weak)";
const ALL_HINT: &str = "allowed: encryption aes128 aes192 aes256 aes128gcm16 aes256gcm16 \
                        chacha20poly1305, integrity sha1 sha256 sha384 sha512, PRF prfsha1 \
                        prfsha256 prfsha384 prfsha512, DH groups modp2048 modp3072 modp4096 \
                        ecp256 ecp384 ecp521 curve25519 (x25519), ESP esn/noesn";

/// One parsed keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Encr(Encr),
    Integ(Integ),
    Prf(Prf),
    Dh(DhGroup),
    Esn(bool),
}

fn parse_keyword(word: &str) -> Result<Keyword, ProposalError> {
    let unknown = |hint| ProposalError::Unknown {
        keyword: word.to_string(),
        hint,
    };
    let kw = match word {
        "aes" | "aes128" => Keyword::Encr(Encr::AesCbc(128)),
        "aes192" => Keyword::Encr(Encr::AesCbc(192)),
        "aes256" => Keyword::Encr(Encr::AesCbc(256)),
        "aes128gcm16" | "aes128gcm128" | "aes128gcm" => Keyword::Encr(Encr::AesGcm16(128)),
        "aes256gcm16" | "aes256gcm128" | "aes256gcm" => Keyword::Encr(Encr::AesGcm16(256)),
        "chacha20poly1305" => Keyword::Encr(Encr::ChaCha20Poly1305),
        "3des" => Keyword::Encr(Encr::TripleDes),
        "des" => Keyword::Encr(Encr::Des),
        "md5" | "md5_96" => Keyword::Integ(Integ::HmacMd5_96),
        "sha" | "sha1" | "sha1_96" => Keyword::Integ(Integ::HmacSha1_96),
        "sha256" | "sha2_256" => Keyword::Integ(Integ::HmacSha256_128),
        "sha384" | "sha2_384" => Keyword::Integ(Integ::HmacSha384_192),
        "sha512" | "sha2_512" => Keyword::Integ(Integ::HmacSha512_256),
        "prfmd5" => Keyword::Prf(Prf::HmacMd5),
        "prfsha1" => Keyword::Prf(Prf::HmacSha1),
        "prfsha256" => Keyword::Prf(Prf::HmacSha256),
        "prfsha384" => Keyword::Prf(Prf::HmacSha384),
        "prfsha512" => Keyword::Prf(Prf::HmacSha512),
        "modp768" => Keyword::Dh(DhGroup::Modp768),
        "modp1024" => Keyword::Dh(DhGroup::Modp1024),
        "modp1536" => Keyword::Dh(DhGroup::Modp1536),
        "modp2048" => Keyword::Dh(DhGroup::Modp2048),
        "modp3072" => Keyword::Dh(DhGroup::Modp3072),
        "modp4096" => Keyword::Dh(DhGroup::Modp4096),
        "ecp256" => Keyword::Dh(DhGroup::Ecp256),
        "ecp384" => Keyword::Dh(DhGroup::Ecp384),
        "ecp521" => Keyword::Dh(DhGroup::Ecp521),
        "curve25519" | "x25519" => Keyword::Dh(DhGroup::Curve25519),
        "esn" => Keyword::Esn(true),
        "noesn" => Keyword::Esn(false),
        w if w.starts_with("aes") && (w.contains("gcm8") || w.contains("gcm12")) => {
            return Err(unknown(
                "only the 16-byte ICV variants of AES-GCM are supported: use aes128gcm16 or \
                 aes256gcm16",
            ))
        }
        w if w.starts_with("aes") || w.starts_with("camellia") || w.starts_with("blowfish") => {
            return Err(unknown(ENCR_HINT))
        }
        _ => return Err(unknown(ALL_HINT)),
    };
    Ok(kw)
}

fn weak(keyword: &str, why: &'static str) -> ProposalError {
    ProposalError::Weak {
        keyword: keyword.to_string(),
        why,
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The keywords of one string, sorted by kind, with weak ones checked.
#[derive(Default)]
struct Parts {
    encr: Vec<Encr>,
    integ: Vec<Integ>,
    prf: Vec<Prf>,
    dh: Vec<DhGroup>,
    esn: Vec<bool>,
}

fn split(s: &str, allow_weak: bool) -> Result<Parts, ProposalError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ProposalError::Empty(s.to_string()));
    }
    let mut parts = Parts::default();
    for word in s.split('-') {
        let word = word.trim().to_ascii_lowercase();
        if word.is_empty() {
            return Err(ProposalError::Empty(s.to_string()));
        }
        match parse_keyword(&word)? {
            Keyword::Encr(e) => {
                if e.is_weak() && !allow_weak {
                    return Err(weak(
                        &word,
                        "DES and 3DES have 64-bit blocks and short keys",
                    ));
                }
                push_unique(&mut parts.encr, e);
            }
            Keyword::Integ(i) => {
                if i == Integ::HmacMd5_96 && !allow_weak {
                    return Err(weak(&word, "MD5 is broken"));
                }
                push_unique(&mut parts.integ, i);
            }
            Keyword::Prf(p) => {
                if p == Prf::HmacMd5 && !allow_weak {
                    return Err(weak(&word, "MD5 is broken"));
                }
                push_unique(&mut parts.prf, p);
            }
            Keyword::Dh(g) => {
                if dh_is_weak(g) && !allow_weak {
                    return Err(weak(
                        &word,
                        "Diffie-Hellman groups under 2048 bits are breakable",
                    ));
                }
                push_unique(&mut parts.dh, g);
            }
            Keyword::Esn(e) => push_unique(&mut parts.esn, e),
        }
    }
    let sha1_only = !parts.integ.is_empty()
        && parts
            .integ
            .iter()
            .all(|i| matches!(i, Integ::HmacSha1_96 | Integ::HmacMd5_96));
    if sha1_only && !allow_weak {
        return Err(weak(
            "sha1",
            "SHA-1 as the only integrity algorithm; add sha256 to the proposal",
        ));
    }
    let aead = parts.encr.iter().filter(|e| e.is_aead()).count();
    if aead != 0 && aead != parts.encr.len() {
        return Err(ProposalError::Invalid {
            proposal: s.to_string(),
            problem: "AEAD ciphers (gcm16, chacha20poly1305) and CBC ciphers cannot share one \
                      proposal; write them as two proposals",
        });
    }
    if parts.encr.is_empty() {
        return Err(ProposalError::Invalid {
            proposal: s.to_string(),
            problem: "no encryption algorithm",
        });
    }
    if aead != 0 && !parts.integ.is_empty() {
        return Err(ProposalError::Invalid {
            proposal: s.to_string(),
            problem: "AEAD ciphers need no integrity algorithm; remove it (use prfsha256 etc. \
                      to choose the PRF)",
        });
    }
    if aead == 0 && parts.integ.is_empty() {
        return Err(ProposalError::Invalid {
            proposal: s.to_string(),
            problem: "CBC ciphers need an integrity algorithm such as sha256",
        });
    }
    Ok(parts)
}

/// One IKE SA proposal: alternatives of each transform type, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IkeProposal {
    /// Encryption algorithms.
    pub encr: Vec<Encr>,
    /// Integrity algorithms (empty for AEAD).
    pub integ: Vec<Integ>,
    /// Pseudo-random functions.
    pub prf: Vec<Prf>,
    /// Diffie-Hellman groups; the first is the one whose KE we send first.
    pub dh: Vec<DhGroup>,
}

impl IkeProposal {
    /// Parse an IKE proposal in strongSwan syntax. When no PRF is named, the PRFs matching the
    /// integrity algorithms are used (for AEAD: SHA-256, SHA-384, SHA-512), as strongSwan does.
    pub fn parse(s: &str, allow_weak: bool) -> Result<IkeProposal, ProposalError> {
        let mut p = split(s, allow_weak)?;
        if !p.esn.is_empty() {
            return Err(ProposalError::Invalid {
                proposal: s.to_string(),
                problem: "esn/noesn belong in ESP proposals, not IKE ones",
            });
        }
        if p.dh.is_empty() {
            return Err(ProposalError::Invalid {
                proposal: s.to_string(),
                problem: "an IKE proposal needs a Diffie-Hellman group such as ecp256 or modp2048",
            });
        }
        if p.prf.is_empty() {
            if p.integ.is_empty() {
                p.prf = vec![Prf::HmacSha256, Prf::HmacSha384, Prf::HmacSha512];
            } else {
                for i in &p.integ {
                    push_unique(&mut p.prf, i.matching_prf());
                }
            }
        }
        Ok(IkeProposal {
            encr: p.encr,
            integ: p.integ,
            prf: p.prf,
            dh: p.dh,
        })
    }

    /// The modern set offered when a profile names none: AEAD first, then AES-CBC with SHA-2,
    /// each with the usual elliptic curves and MODP groups, so that every current gateway
    /// finds something it accepts.
    pub fn default_set() -> Vec<IkeProposal> {
        let dh = vec![
            DhGroup::Ecp256,
            DhGroup::Curve25519,
            DhGroup::Ecp384,
            DhGroup::Ecp521,
            DhGroup::Modp2048,
            DhGroup::Modp3072,
            DhGroup::Modp4096,
        ];
        vec![
            IkeProposal {
                encr: vec![
                    Encr::AesGcm16(256),
                    Encr::AesGcm16(128),
                    Encr::ChaCha20Poly1305,
                ],
                integ: vec![],
                prf: vec![Prf::HmacSha256, Prf::HmacSha384, Prf::HmacSha512],
                dh: dh.clone(),
            },
            IkeProposal {
                encr: vec![Encr::AesCbc(256), Encr::AesCbc(128)],
                integ: vec![
                    Integ::HmacSha256_128,
                    Integ::HmacSha384_192,
                    Integ::HmacSha512_256,
                ],
                prf: vec![Prf::HmacSha256, Prf::HmacSha384, Prf::HmacSha512],
                dh,
            },
        ]
    }

    /// The weak algorithms in this proposal (empty unless `allow_weak` let them through), for
    /// a warning in the connection log.
    pub fn weak_algorithms(&self) -> Vec<String> {
        weak_names(&self.encr, &self.integ, &self.prf, &self.dh)
    }

    /// The proposal in strongSwan syntax (what a user writes into a profile).
    pub fn keywords(&self) -> String {
        let mut words: Vec<String> = self.encr.iter().map(|e| e.keyword()).collect();
        words.extend(self.integ.iter().map(|i| i.keyword().to_string()));
        words.extend(self.prf.iter().map(|p| p.keyword().to_string()));
        words.extend(self.dh.iter().map(|g| dh_keyword(*g).to_string()));
        words.join("-")
    }
}

impl fmt::Display for IkeProposal {
    /// Readable form: `AES-256-GCM/PRF-HMAC-SHA-384/ECP-384`; alternatives joined with `|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, &self.encr)?;
        if !self.integ.is_empty() {
            f.write_str("/")?;
            write_list(f, &self.integ)?;
        }
        f.write_str("/")?;
        write_list(f, &self.prf)?;
        f.write_str("/")?;
        let names: Vec<&str> = self.dh.iter().map(|g| dh_name(*g)).collect();
        f.write_str(&names.join("|"))
    }
}

/// One ESP (child SA) proposal. A DH group means PFS for rekeyed child SAs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EspProposal {
    /// Encryption algorithms.
    pub encr: Vec<Encr>,
    /// Integrity algorithms (empty for AEAD).
    pub integ: Vec<Integ>,
    /// DH groups for PFS; empty means no PFS.
    pub dh: Vec<DhGroup>,
    /// Extended sequence numbers offered, in order (`false` = no ESN).
    pub esn: Vec<bool>,
}

impl EspProposal {
    /// Parse an ESP proposal in strongSwan syntax (`aes128gcm16`, `aes256-sha256-ecp256`).
    pub fn parse(s: &str, allow_weak: bool) -> Result<EspProposal, ProposalError> {
        let p = split(s, allow_weak)?;
        if !p.prf.is_empty() {
            return Err(ProposalError::Invalid {
                proposal: s.to_string(),
                problem: "ESP proposals have no PRF; remove the prf… keyword",
            });
        }
        Ok(EspProposal {
            encr: p.encr,
            integ: p.integ,
            dh: p.dh,
            esn: if p.esn.is_empty() { vec![false] } else { p.esn },
        })
    }

    /// The modern set offered when a profile names none (no PFS, like strongSwan's default).
    pub fn default_set() -> Vec<EspProposal> {
        vec![
            EspProposal {
                encr: vec![
                    Encr::AesGcm16(256),
                    Encr::AesGcm16(128),
                    Encr::ChaCha20Poly1305,
                ],
                integ: vec![],
                dh: vec![],
                esn: vec![false],
            },
            EspProposal {
                encr: vec![Encr::AesCbc(256), Encr::AesCbc(128)],
                integ: vec![
                    Integ::HmacSha256_128,
                    Integ::HmacSha384_192,
                    Integ::HmacSha512_256,
                ],
                dh: vec![],
                esn: vec![false],
            },
        ]
    }

    /// Whether this proposal asks for PFS.
    pub fn has_pfs(&self) -> bool {
        !self.dh.is_empty()
    }

    /// The weak algorithms in this proposal, for a warning in the connection log.
    pub fn weak_algorithms(&self) -> Vec<String> {
        weak_names(&self.encr, &self.integ, &[], &self.dh)
    }

    /// The proposal in strongSwan syntax.
    pub fn keywords(&self) -> String {
        let mut words: Vec<String> = self.encr.iter().map(|e| e.keyword()).collect();
        words.extend(self.integ.iter().map(|i| i.keyword().to_string()));
        words.extend(self.dh.iter().map(|g| dh_keyword(*g).to_string()));
        if self.esn != [false] {
            words.extend(
                self.esn
                    .iter()
                    .map(|e| if *e { "esn" } else { "noesn" }.to_string()),
            );
        }
        words.join("-")
    }
}

impl fmt::Display for EspProposal {
    /// Readable form: `AES-256-CBC/HMAC-SHA-256/ECP-256`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, &self.encr)?;
        if !self.integ.is_empty() {
            f.write_str("/")?;
            write_list(f, &self.integ)?;
        }
        if !self.dh.is_empty() {
            let names: Vec<&str> = self.dh.iter().map(|g| dh_name(*g)).collect();
            write!(f, "/{}", names.join("|"))?;
        }
        if self.esn.contains(&true) {
            f.write_str("/ESN")?;
        }
        Ok(())
    }
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            f.write_str("|")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn weak_names(encr: &[Encr], integ: &[Integ], prf: &[Prf], dh: &[DhGroup]) -> Vec<String> {
    let mut out: Vec<String> = encr
        .iter()
        .filter(|e| e.is_weak())
        .map(|e| e.to_string())
        .collect();
    out.extend(
        integ
            .iter()
            .filter(|i| matches!(i, Integ::HmacMd5_96 | Integ::HmacSha1_96))
            .map(|i| i.to_string()),
    );
    out.extend(
        prf.iter()
            .filter(|p| **p == Prf::HmacMd5)
            .map(|p| p.to_string()),
    );
    out.extend(
        dh.iter()
            .filter(|g| dh_is_weak(**g))
            .map(|g| dh_name(*g).to_string()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_examples() {
        let p = IkeProposal::parse("aes256gcm16-prfsha384-ecp384", false).unwrap();
        assert_eq!(p.encr, [Encr::AesGcm16(256)]);
        assert!(p.integ.is_empty());
        assert_eq!(p.prf, [Prf::HmacSha384]);
        assert_eq!(p.dh, [DhGroup::Ecp384]);
        assert_eq!(p.to_string(), "AES-256-GCM/PRF-HMAC-SHA-384/ECP-384");

        let p = IkeProposal::parse("aes256-sha256-modp2048", false).unwrap();
        assert_eq!(
            p.prf,
            [Prf::HmacSha256],
            "PRF follows the integrity algorithm"
        );
        assert_eq!(
            p.to_string(),
            "AES-256-CBC/HMAC-SHA-256/PRF-HMAC-SHA-256/MODP-2048"
        );
        assert_eq!(p.keywords(), "aes256-sha256-prfsha256-modp2048");

        let p = IkeProposal::parse("chacha20poly1305-prfsha256-x25519", false).unwrap();
        assert_eq!(p.dh, [DhGroup::Curve25519]);

        let e = EspProposal::parse("aes128gcm16", false).unwrap();
        assert!(!e.has_pfs());
        assert_eq!(e.esn, [false]);
        let e = EspProposal::parse("aes256-sha256-ecp256", false).unwrap();
        assert!(e.has_pfs());
        assert_eq!(e.to_string(), "AES-256-CBC/HMAC-SHA-256/ECP-256");
        let e = EspProposal::parse("aes256gcm16-esn-noesn", false).unwrap();
        assert_eq!(e.esn, [true, false]);
    }

    #[test]
    fn alternatives_in_one_string() {
        let p = IkeProposal::parse("aes128-aes256-sha256-sha384-ecp256-modp2048", false).unwrap();
        assert_eq!(p.encr.len(), 2);
        assert_eq!(p.prf, [Prf::HmacSha256, Prf::HmacSha384]);
        assert_eq!(p.dh, [DhGroup::Ecp256, DhGroup::Modp2048]);
    }

    #[test]
    fn aead_without_prf_gets_sha2_prfs() {
        let p = IkeProposal::parse("aes256gcm16-ecp256", false).unwrap();
        assert_eq!(p.prf.len(), 3);
    }

    #[test]
    fn weak_algorithms_need_opt_in() {
        for s in [
            "3des-sha256-modp2048",
            "des-sha256-modp2048",
            "aes128-md5-modp2048",
            "aes128-sha1-modp2048",
            "aes128-sha256-modp1024",
            "aes128-sha256-modp768",
        ] {
            let err = IkeProposal::parse(s, false).unwrap_err();
            assert!(matches!(err, ProposalError::Weak { .. }), "{s}: {err}");
            assert!(err.to_string().contains("allow_weak"), "{err}");
            let p = IkeProposal::parse(s, true).unwrap();
            assert!(!p.weak_algorithms().is_empty(), "{s}");
        }
        // SHA-1 next to SHA-256 is not "SHA-1 only".
        assert!(IkeProposal::parse("aes128-sha256-sha1-modp2048", false).is_ok());
        assert!(EspProposal::parse("3des-sha1", false).is_err());
        assert!(EspProposal::parse("3des-sha1", true).is_ok());
    }

    #[test]
    fn clear_errors() {
        let err = IkeProposal::parse("aes256-sha256", false).unwrap_err();
        assert!(err.to_string().contains("Diffie-Hellman"), "{err}");
        let err = IkeProposal::parse("aes256-sha265-modp2048", false).unwrap_err();
        assert!(err.to_string().contains("`sha265`"), "{err}");
        let err = IkeProposal::parse("aes256gcm16-sha256-ecp256", false).unwrap_err();
        assert!(err.to_string().contains("AEAD"), "{err}");
        let err = IkeProposal::parse("aes256gcm16-aes256-ecp256", false).unwrap_err();
        assert!(err.to_string().contains("two proposals"), "{err}");
        let err = EspProposal::parse("aes256", false).unwrap_err();
        assert!(err.to_string().contains("integrity"), "{err}");
        let err = EspProposal::parse("aes256gcm16-prfsha256", false).unwrap_err();
        assert!(err.to_string().contains("PRF"), "{err}");
        assert!(IkeProposal::parse("", false).is_err());
        assert!(IkeProposal::parse("aes256--sha256", false).is_err());
        assert!(IkeProposal::parse("aes128gcm8-ecp256", false)
            .unwrap_err()
            .to_string()
            .contains("aes128gcm16"));
        assert!(IkeProposal::parse("aes256-sha256-modp2048-esn", false).is_err());
    }

    #[test]
    fn keywords_round_trip() {
        for p in IkeProposal::default_set() {
            assert_eq!(IkeProposal::parse(&p.keywords(), false).unwrap(), p);
        }
        for p in EspProposal::default_set() {
            assert_eq!(EspProposal::parse(&p.keywords(), false).unwrap(), p);
        }
    }

    #[test]
    fn keymat_lengths() {
        assert_eq!(Encr::AesGcm16(256).keymat_len(), 36);
        assert_eq!(Encr::AesGcm16(128).keymat_len(), 20);
        assert_eq!(Encr::ChaCha20Poly1305.keymat_len(), 36);
        assert_eq!(Encr::AesCbc(192).keymat_len(), 24);
        assert_eq!(Integ::HmacSha384_192.key_len(), 48);
        assert_eq!(Integ::HmacSha512_256.icv_len(), 32);
    }
}
