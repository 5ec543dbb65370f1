//! IKEv2 payloads (RFC 7296 §3.2–§3.16, RFC 7383 §2.5) as typed representations.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::reader::Reader;
use super::{payload_type, WireError};

/// Every payload the initiator sends or receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association (33).
    Sa(Vec<Proposal>),
    /// Key Exchange (34).
    Ke(KeyExchangePayload),
    /// Identification of the initiator (35).
    IdI(Identification),
    /// Identification of the responder (36).
    IdR(Identification),
    /// Certificate (37).
    Cert(Certificate),
    /// Certificate request (38).
    CertReq(Certificate),
    /// Authentication (39).
    Auth(Authentication),
    /// Nonce (40): 16..=256 bytes.
    Nonce(Vec<u8>),
    /// Notify (41).
    Notify(Notify),
    /// Delete (42).
    Delete(Delete),
    /// Vendor ID (43).
    VendorId(Vec<u8>),
    /// Traffic selectors of the initiator (44).
    TsI(Vec<TrafficSelector>),
    /// Traffic selectors of the responder (45).
    TsR(Vec<TrafficSelector>),
    /// Encrypted and authenticated (46), still encrypted: `data` is IV ‖ ciphertext ‖ padding ‖
    /// pad length ‖ ICV exactly as on the wire.
    Encrypted(Encrypted),
    /// Encrypted fragment (53, RFC 7383), still encrypted.
    EncryptedFragment(EncryptedFragment),
    /// Configuration (47).
    Config(Configuration),
    /// Extensible Authentication (48): the EAP packet, parsed by the EAP layer.
    Eap(Vec<u8>),
    /// A payload type we do not know. If `critical` is set the message must be rejected with
    /// UNSUPPORTED_CRITICAL_PAYLOAD naming `payload_type`; otherwise it is ignored.
    Unknown {
        /// The payload type number.
        payload_type: u8,
        /// The critical bit of the generic payload header.
        critical: bool,
        /// The payload body.
        data: Vec<u8>,
    },
}

/// Protocol IDs (SA proposals, Notify, Delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolId {
    /// IKE (1).
    Ike,
    /// AH (2).
    Ah,
    /// ESP (3).
    Esp,
    /// None (0) or anything else.
    Other(u8),
}

impl ProtocolId {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            ProtocolId::Ike => 1,
            ProtocolId::Ah => 2,
            ProtocolId::Esp => 3,
            ProtocolId::Other(v) => v,
        }
    }
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            1 => ProtocolId::Ike,
            2 => ProtocolId::Ah,
            3 => ProtocolId::Esp,
            other => ProtocolId::Other(other),
        }
    }
}

/// One proposal of an SA payload (§3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal number (1-based, as the initiator numbered them).
    pub number: u8,
    /// Protocol.
    pub protocol: ProtocolId,
    /// SPI: empty in IKE_SA_INIT, 8 bytes for IKE rekeying, 4 bytes for ESP/AH.
    pub spi: Vec<u8>,
    /// The transforms.
    pub transforms: Vec<Transform>,
}

/// Transform types (§3.3.2).
#[allow(missing_docs)]
pub mod transform_type {
    pub const ENCR: u8 = 1;
    pub const PRF: u8 = 2;
    pub const INTEG: u8 = 3;
    pub const DH: u8 = 4;
    pub const ESN: u8 = 5;
}

/// One transform (§3.3.2) with its optional Key Length attribute (the only attribute IKEv2
/// defines, §3.3.5; others are kept so a response can be compared exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform type ([`transform_type`]).
    pub transform_type: u8,
    /// Transform ID.
    pub id: u16,
    /// Key Length attribute in bits, if present.
    pub key_length: Option<u16>,
    /// Any other attributes, in wire order. IKEv2 defines none, so a peer sending one is
    /// proposing something we do not understand (§3.3.6); keeping them lets the proposal layer
    /// reject such a transform instead of silently treating it as a plain one.
    pub other_attributes: Vec<TransformAttribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(transform_type: u8, id: u16) -> Self {
        Transform {
            transform_type,
            id,
            key_length: None,
            other_attributes: Vec::new(),
        }
    }

    /// A transform with a Key Length attribute (AES-CBC, AES-GCM, … need one, §3.3.5).
    pub fn with_key_length(transform_type: u8, id: u16, bits: u16) -> Self {
        Transform {
            key_length: Some(bits),
            ..Transform::new(transform_type, id)
        }
    }
}

/// Transform attribute type of the Key Length attribute (§3.3.5), always in TV format.
pub const ATTR_KEY_LENGTH: u16 = 14;

/// A transform attribute other than Key Length (§3.3.5), kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformAttribute {
    /// Attribute type, without the AF bit.
    pub attr_type: u16,
    /// The value, in the format it was sent in.
    pub value: AttributeValue,
}

/// The two attribute formats of §3.3.5, selected by the AF bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// Type/Value (AF = 1): a two-byte value.
    Tv(u16),
    /// Type/Length/Value (AF = 0): a variable-length value.
    Tlv(Vec<u8>),
}

/// Key Exchange payload (§3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyExchangePayload {
    /// Diffie-Hellman group number.
    pub group: u16,
    /// The public value.
    pub data: Vec<u8>,
}

/// ID types (§3.5).
#[allow(missing_docs)]
pub mod id_type {
    pub const IPV4_ADDR: u8 = 1;
    pub const FQDN: u8 = 2;
    pub const RFC822_ADDR: u8 = 3;
    pub const IPV6_ADDR: u8 = 5;
    pub const DER_ASN1_DN: u8 = 9;
    pub const DER_ASN1_GN: u8 = 10;
    pub const KEY_ID: u8 = 11;
}

/// Identification payload body (§3.5). The AUTH computation signs the body exactly as sent
/// (type, three reserved bytes, data), which [`Identification::auth_bytes`] reproduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// ID type ([`id_type`]).
    pub id_type: u8,
    /// Identification data.
    pub data: Vec<u8>,
}

/// Certificate and certificate request payloads (§3.6, §3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Certificate encoding (4 = X.509 signature).
    pub encoding: u8,
    /// DER certificate, or for CERTREQ the concatenated SHA-1 hashes of CA public keys.
    pub data: Vec<u8>,
}

/// Authentication methods (§3.8, RFC 7427).
#[allow(missing_docs)]
pub mod auth_method {
    pub const RSA_SIG: u8 = 1;
    pub const SHARED_KEY_MIC: u8 = 2;
    pub const DSS_SIG: u8 = 3;
    pub const ECDSA_SHA256_P256: u8 = 9;
    pub const ECDSA_SHA384_P384: u8 = 10;
    pub const ECDSA_SHA512_P521: u8 = 11;
    pub const DIGITAL_SIGNATURE: u8 = 14;
}

/// Authentication payload (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// Method ([`auth_method`]).
    pub method: u8,
    /// Authentication data.
    pub data: Vec<u8>,
}

/// Notify message types we act on (§3.10.1 and later RFCs).
#[allow(missing_docs)]
pub mod notify_type {
    // Errors (< 16384).
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = 1;
    pub const INVALID_IKE_SPI: u16 = 4;
    pub const INVALID_MAJOR_VERSION: u16 = 5;
    pub const INVALID_SYNTAX: u16 = 7;
    pub const INVALID_MESSAGE_ID: u16 = 9;
    pub const INVALID_SPI: u16 = 11;
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    pub const AUTHENTICATION_FAILED: u16 = 24;
    pub const SINGLE_PAIR_REQUIRED: u16 = 34;
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    pub const INTERNAL_ADDRESS_FAILURE: u16 = 36;
    pub const FAILED_CP_REQUIRED: u16 = 37;
    pub const TS_UNACCEPTABLE: u16 = 38;
    pub const INVALID_SELECTORS: u16 = 39;
    pub const TEMPORARY_FAILURE: u16 = 43;
    pub const CHILD_SA_NOT_FOUND: u16 = 44;
    // Status (>= 16384).
    pub const INITIAL_CONTACT: u16 = 16384;
    pub const SET_WINDOW_SIZE: u16 = 16385;
    pub const ADDITIONAL_TS_POSSIBLE: u16 = 16386;
    pub const IPCOMP_SUPPORTED: u16 = 16387;
    pub const NAT_DETECTION_SOURCE_IP: u16 = 16388;
    pub const NAT_DETECTION_DESTINATION_IP: u16 = 16389;
    pub const COOKIE: u16 = 16390;
    pub const USE_TRANSPORT_MODE: u16 = 16391;
    pub const HTTP_CERT_LOOKUP_SUPPORTED: u16 = 16392;
    pub const REKEY_SA: u16 = 16393;
    pub const ESP_TFC_PADDING_NOT_SUPPORTED: u16 = 16394;
    pub const NON_FIRST_FRAGMENTS_ALSO: u16 = 16395;
    pub const MOBIKE_SUPPORTED: u16 = 16396;
    pub const REDIRECT_SUPPORTED: u16 = 16406;
    pub const REDIRECT: u16 = 16407;
    pub const IKEV2_FRAGMENTATION_SUPPORTED: u16 = 16430;
    pub const SIGNATURE_HASH_ALGORITHMS: u16 = 16431;
}

/// Notify payload (§3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol the SPI belongs to (IKE, ESP, AH) or `Other(0)` when there is no SPI.
    pub protocol: ProtocolId,
    /// SPI (may be empty).
    pub spi: Vec<u8>,
    /// Notify message type ([`notify_type`]).
    pub notify_type: u16,
    /// Notification data.
    pub data: Vec<u8>,
}

/// Delete payload (§3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// IKE (no SPIs: the whole IKE SA), ESP or AH.
    pub protocol: ProtocolId,
    /// SPIs of the SAs to delete (4 bytes each for ESP/AH; none for IKE).
    pub spis: Vec<Vec<u8>>,
}

/// A traffic selector (§3.13.1). Only IPv4/IPv6 address ranges are defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSelector {
    /// IP protocol (0 = any).
    pub ip_protocol: u8,
    /// First port (0 for any).
    pub start_port: u16,
    /// Last port (65535 for any).
    pub end_port: u16,
    /// The address range.
    pub addresses: AddressRange,
}

/// The address range of a traffic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRange {
    /// TS_IPV4_ADDR_RANGE (7).
    V4 {
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE (8).
    V6 {
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
}

/// An SK payload as received, not yet decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// Type of the first payload inside.
    pub first_inner: u8,
    /// IV ‖ encrypted payloads ‖ padding ‖ pad length ‖ ICV.
    pub data: Vec<u8>,
}

/// An SKF payload (RFC 7383 §2.5) as received, not yet decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Type of the first inner payload (only meaningful in fragment 1, zero otherwise).
    pub first_inner: u8,
    /// Fragment number, 1-based.
    pub fragment_number: u16,
    /// Total number of fragments.
    pub total_fragments: u16,
    /// IV ‖ encrypted content ‖ padding ‖ pad length ‖ ICV.
    pub data: Vec<u8>,
}

/// Configuration payload types (§3.15).
#[allow(missing_docs)]
pub mod cfg_type {
    pub const CFG_REQUEST: u8 = 1;
    pub const CFG_REPLY: u8 = 2;
    pub const CFG_SET: u8 = 3;
    pub const CFG_ACK: u8 = 4;
}

/// Configuration attribute types (§3.15.1, RFC 4306, IANA).
#[allow(missing_docs)]
pub mod cfg_attr {
    pub const INTERNAL_IP4_ADDRESS: u16 = 1;
    pub const INTERNAL_IP4_NETMASK: u16 = 2;
    pub const INTERNAL_IP4_DNS: u16 = 3;
    pub const INTERNAL_IP4_NBNS: u16 = 4;
    pub const INTERNAL_IP4_DHCP: u16 = 6;
    pub const APPLICATION_VERSION: u16 = 7;
    pub const INTERNAL_IP6_ADDRESS: u16 = 8;
    pub const INTERNAL_IP6_DNS: u16 = 10;
    pub const INTERNAL_IP6_DHCP: u16 = 12;
    pub const INTERNAL_IP4_SUBNET: u16 = 13;
    pub const SUPPORTED_ATTRIBUTES: u16 = 14;
    pub const INTERNAL_IP6_SUBNET: u16 = 15;
    pub const INTERNAL_DNS_DOMAIN: u16 = 25;
}

/// Configuration payload (§3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// CFG_REQUEST, CFG_REPLY, CFG_SET or CFG_ACK ([`cfg_type`]).
    pub cfg_type: u8,
    /// The attributes in order.
    pub attributes: Vec<ConfigAttribute>,
}

/// One configuration attribute (§3.15.1): the raw value; typed views live with the state
/// machine, which knows what each attribute means. An empty value in a request asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAttribute {
    /// Attribute type ([`cfg_attr`]), without the reserved top bit.
    pub attr_type: u16,
    /// The value.
    pub value: Vec<u8>,
}

/// A configuration attribute value decoded by its type (§3.15.1 table, RFC 8598), so the state
/// machine does not re-parse addresses. An empty value (`None`, or an empty list) is how a
/// CFG_REQUEST asks for an attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigValue {
    /// INTERNAL_IP4_ADDRESS, _NETMASK, _DNS, _NBNS, _DHCP: 0 or 4 bytes.
    Ip4(Option<Ipv4Addr>),
    /// INTERNAL_IP4_SUBNET: 0 or 8 bytes (address, netmask).
    Ip4Subnet(Option<(Ipv4Addr, Ipv4Addr)>),
    /// INTERNAL_IP6_DNS, _DHCP: 0 or 16 bytes.
    Ip6(Option<Ipv6Addr>),
    /// INTERNAL_IP6_ADDRESS, INTERNAL_IP6_SUBNET: 0 or 17 bytes (address, prefix length ≤ 128).
    Ip6Prefix(Option<(Ipv6Addr, u8)>),
    /// APPLICATION_VERSION, INTERNAL_DNS_DOMAIN: bytes (printable ASCII / a DNS name; checked by
    /// whoever uses them).
    Text(Vec<u8>),
    /// SUPPORTED_ATTRIBUTES: a list of attribute types (even length).
    SupportedAttributes(Vec<u16>),
    /// Any attribute type without a defined layout.
    Raw(Vec<u8>),
}

impl ConfigValue {
    /// Decodes `value` as attribute `attr_type`. A length the RFC does not allow for that type
    /// is `BadLength`; a prefix length above 128 is `Invalid`.
    pub fn decode(attr_type: u16, value: &[u8]) -> Result<ConfigValue, WireError> {
        const WHAT: &str = "configuration attribute";
        let bad = || WireError::BadLength(WHAT);
        Ok(match attr_type {
            cfg_attr::INTERNAL_IP4_ADDRESS
            | cfg_attr::INTERNAL_IP4_NETMASK
            | cfg_attr::INTERNAL_IP4_DNS
            | cfg_attr::INTERNAL_IP4_NBNS
            | cfg_attr::INTERNAL_IP4_DHCP => match value.len() {
                0 => ConfigValue::Ip4(None),
                4 => ConfigValue::Ip4(Some(Ipv4Addr::from(Reader::new(value, WHAT).bytes::<4>()?))),
                _ => return Err(bad()),
            },
            cfg_attr::INTERNAL_IP4_SUBNET => match value.len() {
                0 => ConfigValue::Ip4Subnet(None),
                8 => {
                    let mut r = Reader::new(value, WHAT);
                    let addr = Ipv4Addr::from(r.bytes::<4>()?);
                    let mask = Ipv4Addr::from(r.bytes::<4>()?);
                    ConfigValue::Ip4Subnet(Some((addr, mask)))
                }
                _ => return Err(bad()),
            },
            cfg_attr::INTERNAL_IP6_DNS | cfg_attr::INTERNAL_IP6_DHCP => match value.len() {
                0 => ConfigValue::Ip6(None),
                16 => ConfigValue::Ip6(Some(Ipv6Addr::from(
                    Reader::new(value, WHAT).bytes::<16>()?,
                ))),
                _ => return Err(bad()),
            },
            cfg_attr::INTERNAL_IP6_ADDRESS | cfg_attr::INTERNAL_IP6_SUBNET => match value.len() {
                0 => ConfigValue::Ip6Prefix(None),
                17 => {
                    let mut r = Reader::new(value, WHAT);
                    let addr = Ipv6Addr::from(r.bytes::<16>()?);
                    let prefix = r.u8()?;
                    if prefix > 128 {
                        return Err(WireError::Invalid("IPv6 prefix length"));
                    }
                    ConfigValue::Ip6Prefix(Some((addr, prefix)))
                }
                _ => return Err(bad()),
            },
            cfg_attr::APPLICATION_VERSION | cfg_attr::INTERNAL_DNS_DOMAIN => {
                ConfigValue::Text(value.to_vec())
            }
            cfg_attr::SUPPORTED_ATTRIBUTES => {
                if value.len() % 2 != 0 {
                    return Err(bad());
                }
                let mut r = Reader::new(value, WHAT);
                let mut types = Vec::with_capacity(value.len() / 2);
                while !r.is_empty() {
                    types.push(r.u16()? & 0x7fff);
                }
                ConfigValue::SupportedAttributes(types)
            }
            _ => ConfigValue::Raw(value.to_vec()),
        })
    }

    /// The wire bytes of this value.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ConfigValue::Ip4(a) => a.map(|a| a.octets().to_vec()).unwrap_or_default(),
            ConfigValue::Ip4Subnet(s) => s
                .map(|(a, m)| [a.octets(), m.octets()].concat())
                .unwrap_or_default(),
            ConfigValue::Ip6(a) => a.map(|a| a.octets().to_vec()).unwrap_or_default(),
            ConfigValue::Ip6Prefix(p) => p
                .map(|(a, len)| {
                    let mut v = a.octets().to_vec();
                    v.push(len);
                    v
                })
                .unwrap_or_default(),
            ConfigValue::Text(v) | ConfigValue::Raw(v) => v.clone(),
            ConfigValue::SupportedAttributes(types) => types
                .iter()
                .flat_map(|t| (t & 0x7fff).to_be_bytes())
                .collect(),
        }
    }
}

impl ConfigAttribute {
    /// An attribute with an empty value: how a CFG_REQUEST asks for `attr_type`.
    pub fn request(attr_type: u16) -> Self {
        ConfigAttribute {
            attr_type,
            value: Vec::new(),
        }
    }

    /// An attribute carrying a typed value.
    pub fn with_value(attr_type: u16, value: &ConfigValue) -> Self {
        ConfigAttribute {
            attr_type,
            value: value.encode(),
        }
    }

    /// The value decoded by type (see [`ConfigValue::decode`]). Received CP payloads have
    /// already been checked this way, so this only fails on locally built attributes.
    pub fn typed(&self) -> Result<ConfigValue, WireError> {
        ConfigValue::decode(self.attr_type, &self.value)
    }
}

impl Identification {
    /// The ID payload body after the generic payload header — ID type, three zero reserved
    /// bytes, identification data — which is what RFC 7296 §2.15 feeds into the AUTH
    /// computation (`MACedIDForI = prf(SK_pi, RestOfInitIDPayload)`).
    ///
    /// Received reserved bytes are not kept (receivers must ignore them), so a peer that sent
    /// nonzero ones would not verify; every known implementation sends zeros.
    pub fn auth_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        out.push(self.id_type);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
        out
    }
}

impl Payload {
    /// The payload type number ([`payload_type`]) this payload is sent as: what the previous
    /// payload's (or the header's) Next Payload field must say.
    pub fn payload_type(&self) -> u8 {
        match self {
            Payload::Sa(_) => payload_type::SA,
            Payload::Ke(_) => payload_type::KE,
            Payload::IdI(_) => payload_type::IDI,
            Payload::IdR(_) => payload_type::IDR,
            Payload::Cert(_) => payload_type::CERT,
            Payload::CertReq(_) => payload_type::CERTREQ,
            Payload::Auth(_) => payload_type::AUTH,
            Payload::Nonce(_) => payload_type::NONCE,
            Payload::Notify(_) => payload_type::NOTIFY,
            Payload::Delete(_) => payload_type::DELETE,
            Payload::VendorId(_) => payload_type::VENDOR_ID,
            Payload::TsI(_) => payload_type::TSI,
            Payload::TsR(_) => payload_type::TSR,
            Payload::Encrypted(_) => payload_type::SK,
            Payload::EncryptedFragment(_) => payload_type::SKF,
            Payload::Config(_) => payload_type::CP,
            Payload::Eap(_) => payload_type::EAP,
            Payload::Unknown { payload_type, .. } => *payload_type,
        }
    }
}
