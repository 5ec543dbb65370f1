//! ESP transforms: which cipher and integrity algorithm an SA uses, and the lengths that
//! follow from them (KEYMAT to take, header, IV, ICV, padding alignment, overhead).

use std::fmt;

use strait_crypto::{AeadAlg, CipherAlg, HashAlg};

use crate::EspError;

/// Length of the ESP header (SPI and sequence number), RFC 4303 §2.
pub const ESP_HEADER_LEN: usize = 8;

/// Length of the ESP trailer's fixed part (Pad Length and Next Header), RFC 4303 §2.4.
pub const ESP_TRAILER_LEN: usize = 2;

/// Length of the salt that IPsec appends to an AEAD key in KEYMAT (RFC 4106 §8.1, RFC 7634 §2).
pub const AEAD_SALT_LEN: usize = 4;

/// Length of the explicit IV of the AEAD transforms (RFC 4106 §3.1, RFC 7634 §2.1).
pub const AEAD_IV_LEN: usize = 8;

/// Length of a UDP header (RFC 768), for UDP-encapsulated ESP (RFC 3948).
pub const UDP_HEADER_LEN: usize = 8;

/// An ESP encryption transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspEncryption {
    /// AES-GCM with a 16-byte ICV and a 128-bit key (RFC 4106, `ENCR_AES_GCM_16`).
    AesGcm16_128,
    /// AES-GCM with a 16-byte ICV and a 256-bit key (RFC 4106, `ENCR_AES_GCM_16`).
    AesGcm16_256,
    /// ChaCha20-Poly1305 (RFC 7634, `ENCR_CHACHA20_POLY1305`).
    ChaCha20Poly1305,
    /// AES-CBC with a 128-bit key (RFC 3602, `ENCR_AES_CBC`).
    AesCbc128,
    /// AES-CBC with a 192-bit key (RFC 3602, `ENCR_AES_CBC`).
    AesCbc192,
    /// AES-CBC with a 256-bit key (RFC 3602, `ENCR_AES_CBC`).
    AesCbc256,
    /// 3DES-CBC (RFC 2451, `ENCR_3DES`). Legacy: only for gateways that offer nothing better.
    TripleDesCbc,
}

/// The IANA "Transform Type 1" identifier of `ENCR_3DES`.
const IANA_ENCR_3DES: u16 = 3;
/// The IANA "Transform Type 1" identifier of `ENCR_AES_CBC`.
const IANA_ENCR_AES_CBC: u16 = 12;
/// The IANA "Transform Type 1" identifier of `ENCR_AES_GCM_16`.
const IANA_ENCR_AES_GCM_16: u16 = 20;
/// The IANA "Transform Type 1" identifier of `ENCR_CHACHA20_POLY1305`.
const IANA_ENCR_CHACHA20_POLY1305: u16 = 28;

impl EspEncryption {
    /// Every encryption transform, strongest first.
    pub const ALL: [EspEncryption; 7] = [
        EspEncryption::AesGcm16_256,
        EspEncryption::AesGcm16_128,
        EspEncryption::ChaCha20Poly1305,
        EspEncryption::AesCbc256,
        EspEncryption::AesCbc192,
        EspEncryption::AesCbc128,
        EspEncryption::TripleDesCbc,
    ];

    /// Whether this is a combined-mode (AEAD) transform, which takes no integrity transform.
    pub const fn is_aead(self) -> bool {
        self.aead().is_some()
    }

    /// The AEAD algorithm of a combined-mode transform.
    pub const fn aead(self) -> Option<AeadAlg> {
        match self {
            EspEncryption::AesGcm16_128 => Some(AeadAlg::Aes128Gcm16),
            EspEncryption::AesGcm16_256 => Some(AeadAlg::Aes256Gcm16),
            EspEncryption::ChaCha20Poly1305 => Some(AeadAlg::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The block cipher of a CBC transform.
    pub const fn cbc(self) -> Option<CipherAlg> {
        match self {
            EspEncryption::AesCbc128 => Some(CipherAlg::Aes128Cbc),
            EspEncryption::AesCbc192 => Some(CipherAlg::Aes192Cbc),
            EspEncryption::AesCbc256 => Some(CipherAlg::Aes256Cbc),
            EspEncryption::TripleDesCbc => Some(CipherAlg::TripleDesCbc),
            _ => None,
        }
    }

    /// How many bytes of KEYMAT the encryption key takes, including the 4-byte salt of the
    /// AEAD transforms (RFC 4106 §8.1, RFC 7634 §2; RFC 7296 §2.17 for the order).
    pub const fn key_len(self) -> usize {
        match self {
            EspEncryption::AesGcm16_128 => 16 + AEAD_SALT_LEN,
            EspEncryption::AesGcm16_256 | EspEncryption::ChaCha20Poly1305 => 32 + AEAD_SALT_LEN,
            EspEncryption::AesCbc128 => 16,
            EspEncryption::AesCbc192 | EspEncryption::TripleDesCbc => 24,
            EspEncryption::AesCbc256 => 32,
        }
    }

    /// Length of the IV carried in every packet: 8 for the AEAD transforms, one block for CBC.
    pub const fn iv_len(self) -> usize {
        match self.cbc() {
            Some(c) => c.block_len(),
            None => AEAD_IV_LEN,
        }
    }

    /// Length of the AEAD tag, 0 for CBC (whose ICV comes from the integrity transform).
    pub const fn tag_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            0
        }
    }

    /// The alignment the ciphertext (payload, padding and trailer) is padded to: the cipher's
    /// block size for CBC, 4 bytes for the stream-like AEADs (RFC 4303 §2.4).
    pub const fn pad_align(self) -> usize {
        match self.cbc() {
            // Both 8 and 16 are multiples of 4, so the 4-byte rule follows.
            Some(c) => c.block_len(),
            None => 4,
        }
    }

    /// Whether this transform is only for legacy gateways.
    pub const fn is_legacy(self) -> bool {
        matches!(self, EspEncryption::TripleDesCbc)
    }

    /// The IANA "Transform Type 1" identifier.
    pub const fn iana_id(self) -> u16 {
        match self {
            EspEncryption::AesGcm16_128 | EspEncryption::AesGcm16_256 => IANA_ENCR_AES_GCM_16,
            EspEncryption::ChaCha20Poly1305 => IANA_ENCR_CHACHA20_POLY1305,
            EspEncryption::AesCbc128 | EspEncryption::AesCbc192 | EspEncryption::AesCbc256 => {
                IANA_ENCR_AES_CBC
            }
            EspEncryption::TripleDesCbc => IANA_ENCR_3DES,
        }
    }

    /// The Key Length attribute in bits for transforms that carry one (AES), else `None`.
    pub const fn key_len_attribute(self) -> Option<u16> {
        match self {
            EspEncryption::AesGcm16_128 | EspEncryption::AesCbc128 => Some(128),
            EspEncryption::AesCbc192 => Some(192),
            EspEncryption::AesGcm16_256 | EspEncryption::AesCbc256 => Some(256),
            EspEncryption::ChaCha20Poly1305 | EspEncryption::TripleDesCbc => None,
        }
    }

    /// The transform for an IANA identifier and Key Length attribute, if implemented.
    pub const fn from_iana(id: u16, key_bits: Option<u16>) -> Option<EspEncryption> {
        match (id, key_bits) {
            (IANA_ENCR_AES_GCM_16, Some(128)) => Some(EspEncryption::AesGcm16_128),
            (IANA_ENCR_AES_GCM_16, Some(256)) => Some(EspEncryption::AesGcm16_256),
            (IANA_ENCR_CHACHA20_POLY1305, None) => Some(EspEncryption::ChaCha20Poly1305),
            (IANA_ENCR_AES_CBC, Some(128)) => Some(EspEncryption::AesCbc128),
            (IANA_ENCR_AES_CBC, Some(192)) => Some(EspEncryption::AesCbc192),
            (IANA_ENCR_AES_CBC, Some(256)) => Some(EspEncryption::AesCbc256),
            (IANA_ENCR_3DES, None) => Some(EspEncryption::TripleDesCbc),
            _ => None,
        }
    }
}

impl fmt::Display for EspEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EspEncryption::AesGcm16_128 => "AES-128-GCM-16",
            EspEncryption::AesGcm16_256 => "AES-256-GCM-16",
            EspEncryption::ChaCha20Poly1305 => "ChaCha20-Poly1305",
            EspEncryption::AesCbc128 => "AES-128-CBC",
            EspEncryption::AesCbc192 => "AES-192-CBC",
            EspEncryption::AesCbc256 => "AES-256-CBC",
            EspEncryption::TripleDesCbc => "3DES-CBC",
        })
    }
}

/// An ESP integrity transform (RFC 2404, RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspIntegrity {
    /// No separate integrity: required with, and only allowed with, an AEAD transform.
    None,
    /// HMAC-SHA1-96 (RFC 2404). Legacy.
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (RFC 4868).
    HmacSha256_128,
    /// HMAC-SHA2-384-192 (RFC 4868).
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (RFC 4868).
    HmacSha512_256,
}

impl EspIntegrity {
    /// Every integrity transform with an HMAC, strongest first.
    pub const ALL_HMAC: [EspIntegrity; 4] = [
        EspIntegrity::HmacSha512_256,
        EspIntegrity::HmacSha384_192,
        EspIntegrity::HmacSha256_128,
        EspIntegrity::HmacSha1_96,
    ];

    /// The hash inside the HMAC.
    pub const fn hash(self) -> Option<HashAlg> {
        match self {
            EspIntegrity::None => None,
            EspIntegrity::HmacSha1_96 => Some(HashAlg::Sha1),
            EspIntegrity::HmacSha256_128 => Some(HashAlg::Sha256),
            EspIntegrity::HmacSha384_192 => Some(HashAlg::Sha384),
            EspIntegrity::HmacSha512_256 => Some(HashAlg::Sha512),
        }
    }

    /// How many bytes of KEYMAT the integrity key takes (the hash's output length, RFC 4868 §2.1.1).
    pub const fn key_len(self) -> usize {
        match self.hash() {
            Some(h) => h.output_len(),
            None => 0,
        }
    }

    /// Length of the truncated ICV.
    pub const fn icv_len(self) -> usize {
        match self {
            EspIntegrity::None => 0,
            EspIntegrity::HmacSha1_96 => 12,
            EspIntegrity::HmacSha256_128 => 16,
            EspIntegrity::HmacSha384_192 => 24,
            EspIntegrity::HmacSha512_256 => 32,
        }
    }

    /// Whether this transform is only for legacy gateways.
    pub const fn is_legacy(self) -> bool {
        matches!(self, EspIntegrity::HmacSha1_96)
    }

    /// The IANA "Transform Type 3" identifier (`NONE` is 0).
    pub const fn iana_id(self) -> u16 {
        match self {
            EspIntegrity::None => 0,
            EspIntegrity::HmacSha1_96 => 2,
            EspIntegrity::HmacSha256_128 => 12,
            EspIntegrity::HmacSha384_192 => 13,
            EspIntegrity::HmacSha512_256 => 14,
        }
    }

    /// The transform for an IANA identifier, if implemented.
    pub const fn from_iana(id: u16) -> Option<EspIntegrity> {
        match id {
            0 => Some(EspIntegrity::None),
            2 => Some(EspIntegrity::HmacSha1_96),
            12 => Some(EspIntegrity::HmacSha256_128),
            13 => Some(EspIntegrity::HmacSha384_192),
            14 => Some(EspIntegrity::HmacSha512_256),
            _ => None,
        }
    }
}

impl fmt::Display for EspIntegrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EspIntegrity::None => "none",
            EspIntegrity::HmacSha1_96 => "HMAC-SHA1-96",
            EspIntegrity::HmacSha256_128 => "HMAC-SHA2-256-128",
            EspIntegrity::HmacSha384_192 => "HMAC-SHA2-384-192",
            EspIntegrity::HmacSha512_256 => "HMAC-SHA2-512-256",
        })
    }
}

/// The algorithms of one ESP SA: the negotiated transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspAlgorithms {
    /// The encryption transform.
    pub encryption: EspEncryption,
    /// The integrity transform ([`EspIntegrity::None`] with AEAD, an HMAC with CBC).
    pub integrity: EspIntegrity,
}

/// Another name for [`EspAlgorithms`], matching IKEv2's vocabulary ("transforms").
pub type EspTransform = EspAlgorithms;

impl EspAlgorithms {
    /// A combined-mode transform (no separate integrity).
    pub const fn aead(encryption: EspEncryption) -> EspAlgorithms {
        EspAlgorithms {
            encryption,
            integrity: EspIntegrity::None,
        }
    }

    /// A CBC cipher with an HMAC.
    pub const fn cbc_hmac(encryption: EspEncryption, integrity: EspIntegrity) -> EspAlgorithms {
        EspAlgorithms {
            encryption,
            integrity,
        }
    }

    /// AES-256-GCM-16.
    pub const AES256_GCM: EspAlgorithms = EspAlgorithms::aead(EspEncryption::AesGcm16_256);
    /// AES-128-GCM-16.
    pub const AES128_GCM: EspAlgorithms = EspAlgorithms::aead(EspEncryption::AesGcm16_128);
    /// ChaCha20-Poly1305.
    pub const CHACHA20_POLY1305: EspAlgorithms =
        EspAlgorithms::aead(EspEncryption::ChaCha20Poly1305);
    /// AES-256-CBC with HMAC-SHA2-256-128.
    pub const AES256_CBC_SHA256: EspAlgorithms =
        EspAlgorithms::cbc_hmac(EspEncryption::AesCbc256, EspIntegrity::HmacSha256_128);

    /// Checks the combination: AEAD must come without integrity, CBC with one (ESP without
    /// integrity is refused: RFC 4303 §3.2 allows it, but it is open to active attacks).
    pub const fn validate(&self) -> Result<(), EspError> {
        match (self.encryption.is_aead(), self.integrity) {
            (true, EspIntegrity::None) => Ok(()),
            (true, _) => Err(EspError::InvalidConfig(
                "an AEAD transform takes no integrity transform",
            )),
            (false, EspIntegrity::None) => Err(EspError::InvalidConfig(
                "a CBC transform needs an integrity transform",
            )),
            (false, _) => Ok(()),
        }
    }

    /// KEYMAT bytes for the encryption key (including the AEAD salt).
    pub const fn encr_key_len(&self) -> usize {
        self.encryption.key_len()
    }

    /// KEYMAT bytes for the integrity key (0 for AEAD).
    pub const fn integ_key_len(&self) -> usize {
        self.integrity.key_len()
    }

    /// KEYMAT bytes for one direction (encryption key then integrity key, RFC 7296 §2.17).
    pub const fn keymat_len(&self) -> usize {
        self.encr_key_len() + self.integ_key_len()
    }

    /// Length of the IV in every packet.
    pub const fn iv_len(&self) -> usize {
        self.encryption.iv_len()
    }

    /// Length of the ICV at the end of every packet.
    pub const fn icv_len(&self) -> usize {
        if self.encryption.is_aead() {
            self.encryption.tag_len()
        } else {
            self.integrity.icv_len()
        }
    }

    /// Bytes before the payload: the ESP header and the IV. This is the headroom
    /// [`OutboundSa::seal_in_place`](crate::OutboundSa::seal_in_place) needs.
    pub const fn header_len(&self) -> usize {
        ESP_HEADER_LEN + self.iv_len()
    }

    /// The alignment the padded payload and trailer meet.
    pub const fn pad_align(&self) -> usize {
        self.encryption.pad_align()
    }

    /// Length of the sealed ESP packet (header to ICV) for a payload of `payload_len` bytes,
    /// or `None` on overflow.
    pub const fn sealed_len(&self, payload_len: usize) -> Option<usize> {
        let align = self.pad_align();
        let Some(unpadded) = payload_len.checked_add(ESP_TRAILER_LEN) else {
            return None;
        };
        let Some(padded) = unpadded.checked_next_multiple_of(align) else {
            return None;
        };
        let Some(n) = padded.checked_add(self.header_len()) else {
            return None;
        };
        n.checked_add(self.icv_len())
    }

    /// Bytes after the payload at most: the largest padding, the trailer and the ICV. This is
    /// the tailroom [`OutboundSa::seal_in_place`](crate::OutboundSa::seal_in_place) needs.
    pub const fn max_tail_len(&self) -> usize {
        self.pad_align() - 1 + ESP_TRAILER_LEN + self.icv_len()
    }

    /// The most ESP adds to a payload: header, IV, largest padding, trailer, ICV.
    pub const fn esp_overhead(&self) -> usize {
        self.header_len() + self.max_tail_len()
    }

    /// Whether any part of the transform is only for legacy gateways.
    pub const fn is_legacy(&self) -> bool {
        self.encryption.is_legacy() || self.integrity.is_legacy()
    }
}

impl fmt::Display for EspAlgorithms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.integrity {
            EspIntegrity::None => write!(f, "{}", self.encryption),
            integ => write!(f, "{}/{}", self.encryption, integ),
        }
    }
}

/// The IP version of the outer (tunnel endpoint) header, for overhead computations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OuterIp {
    /// IPv4: a 20-byte header (no options).
    V4,
    /// IPv6: a 40-byte header (no extension headers).
    V6,
}

impl OuterIp {
    /// Length of the outer IP header.
    pub const fn header_len(self) -> usize {
        match self {
            OuterIp::V4 => 20,
            OuterIp::V6 => 40,
        }
    }
}

/// UDP encapsulation of ESP (RFC 3948), used behind NAT. The service owns the socket: the
/// ESP packet is the UDP payload as it is (no marker); this records the ports for the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpEncap {
    /// Our UDP port (normally 4500).
    pub local_port: u16,
    /// The peer's UDP port (4500, or what a NAT mapped it to).
    pub remote_port: u16,
}

impl UdpEncap {
    /// The IKE NAT-traversal port.
    pub const NAT_T_PORT: u16 = 4500;

    /// Encapsulation on port 4500 at both ends.
    pub const fn nat_t() -> UdpEncap {
        UdpEncap {
            local_port: Self::NAT_T_PORT,
            remote_port: Self::NAT_T_PORT,
        }
    }
}

/// The most bytes ESP adds to a payload on the wire, with the outer IP header and, when
/// encapsulated, the UDP header: path MTU minus this is a safe TUN MTU. See [`max_payload_len`]
/// for the exact largest payload (padding makes the worst case a little pessimistic).
pub const fn overhead(algs: &EspAlgorithms, outer: OuterIp, encap: Option<UdpEncap>) -> usize {
    let udp = if encap.is_some() { UDP_HEADER_LEN } else { 0 };
    outer.header_len() + udp + algs.esp_overhead()
}

/// The largest payload (inner IP packet in tunnel mode) whose ESP packet, with the outer IP
/// header and the UDP header if encapsulated, fits in `path_mtu` bytes; 0 if none does.
pub const fn max_payload_len(
    path_mtu: usize,
    algs: &EspAlgorithms,
    outer: OuterIp,
    encap: Option<UdpEncap>,
) -> usize {
    let udp = if encap.is_some() { UDP_HEADER_LEN } else { 0 };
    let fixed = outer.header_len() + udp + algs.header_len() + algs.icv_len();
    let Some(room) = path_mtu.checked_sub(fixed) else {
        return 0;
    };
    let align = algs.pad_align();
    let padded = room / align * align;
    padded.saturating_sub(ESP_TRAILER_LEN)
}
