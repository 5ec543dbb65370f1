//! ISAKMP wire format (RFC 2408 §3): the fixed header and the generic payload chain.
//!
//! IKEv1 payloads have no critical bit and no common body layout, so this module only splits
//! a message into `(type, body)` pairs and remembers where each payload sat in the message:
//! the Quick Mode and transaction hashes cover the raw payload bytes after the HASH payload.
//! Parsing never panics and never allocates more than the datagram it was given.

use thiserror::Error;

/// ISAKMP header length.
pub const HEADER_LEN: usize = 28;
/// ISAKMP version 1.0 (major 1, minor 0).
pub const VERSION: u8 = 0x10;
/// The most payloads one message may carry before we call it a loop or an attack.
pub const MAX_PAYLOADS: usize = 64;

/// Exchange types (RFC 2408 §3.1, RFC 2409 §5, draft-dukes-ike-mode-cfg).
pub mod exchange {
    /// Identity Protection, i.e. Main Mode.
    pub const MAIN: u8 = 2;
    /// Aggressive Mode.
    pub const AGGRESSIVE: u8 = 4;
    /// Informational.
    pub const INFORMATIONAL: u8 = 5;
    /// Transaction (XAuth and Mode Config).
    pub const TRANSACTION: u8 = 6;
    /// Quick Mode.
    pub const QUICK: u8 = 32;
}

/// Header flags.
pub mod flags {
    /// The payloads after the header are encrypted.
    pub const ENCRYPTION: u8 = 1;
    /// Commit bit (RFC 2408 §3.1): the sender wants a CONNECTED notify before using the SA.
    pub const COMMIT: u8 = 2;
}

/// Payload types (RFC 2408 §3.1, RFC 3947, draft-ietf-ipsec-nat-t-ike-02/03).
pub mod payload {
    /// Security Association.
    pub const SA: u8 = 1;
    /// Proposal.
    pub const PROPOSAL: u8 = 2;
    /// Transform.
    pub const TRANSFORM: u8 = 3;
    /// Key Exchange.
    pub const KE: u8 = 4;
    /// Identification.
    pub const ID: u8 = 5;
    /// Certificate.
    pub const CERT: u8 = 6;
    /// Certificate Request.
    pub const CR: u8 = 7;
    /// Hash.
    pub const HASH: u8 = 8;
    /// Signature.
    pub const SIG: u8 = 9;
    /// Nonce.
    pub const NONCE: u8 = 10;
    /// Notification.
    pub const NOTIFY: u8 = 11;
    /// Delete.
    pub const DELETE: u8 = 12;
    /// Vendor ID.
    pub const VENDOR_ID: u8 = 13;
    /// Attribute (transaction exchange).
    pub const ATTRIBUTE: u8 = 14;
    /// NAT-D (RFC 3947).
    pub const NAT_D: u8 = 20;
    /// NAT-OA (RFC 3947).
    pub const NAT_OA: u8 = 21;
    /// NAT-D of the NAT-T drafts.
    pub const NAT_D_DRAFT: u8 = 130;
    /// NAT-OA of the NAT-T drafts.
    pub const NAT_OA_DRAFT: u8 = 131;
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// Shorter than its header or than a length field says.
    #[error("the message is truncated")]
    Truncated,
    /// A length field is impossible.
    #[error("a length field is inconsistent ({0})")]
    BadLength(&'static str),
    /// Not ISAKMP version 1.
    #[error("not an ISAKMP 1.0 message (version byte {0:#04x})")]
    Version(u8),
    /// Too many payloads.
    #[error("more than {MAX_PAYLOADS} payloads")]
    TooManyPayloads,
}

/// The ISAKMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator cookie.
    pub icookie: u64,
    /// Responder cookie (zero in the first message).
    pub rcookie: u64,
    /// Type of the first payload.
    pub next: u8,
    /// Exchange type.
    pub exchange: u8,
    /// Flags.
    pub flags: u8,
    /// Message ID (zero in phase 1).
    pub msg_id: u32,
    /// Length of the whole message.
    pub length: u32,
}

impl Header {
    /// Parses the header and checks that the datagram holds `length` bytes; returns the
    /// header and the message trimmed to `length` (anything after it is ignored).
    pub fn parse(data: &[u8]) -> Result<(Header, &[u8]), WireError> {
        if data.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if data[17] != VERSION {
            return Err(WireError::Version(data[17]));
        }
        let length = u32::from_be_bytes([data[24], data[25], data[26], data[27]]);
        let len = usize::try_from(length).map_err(|_| WireError::BadLength("header"))?;
        if len < HEADER_LEN {
            return Err(WireError::BadLength("header"));
        }
        if len > data.len() {
            return Err(WireError::Truncated);
        }
        let mut ic = [0u8; 8];
        ic.copy_from_slice(&data[0..8]);
        let mut rc = [0u8; 8];
        rc.copy_from_slice(&data[8..16]);
        Ok((
            Header {
                icookie: u64::from_be_bytes(ic),
                rcookie: u64::from_be_bytes(rc),
                next: data[16],
                exchange: data[18],
                flags: data[19],
                msg_id: u32::from_be_bytes([data[20], data[21], data[22], data[23]]),
                length,
            },
            &data[..len],
        ))
    }

    /// Serialises the header with `length` set to `HEADER_LEN + body_len`.
    pub fn emit(&self, body_len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + body_len);
        out.extend_from_slice(&self.icookie.to_be_bytes());
        out.extend_from_slice(&self.rcookie.to_be_bytes());
        out.push(self.next);
        out.push(VERSION);
        out.push(self.exchange);
        out.push(self.flags);
        out.extend_from_slice(&self.msg_id.to_be_bytes());
        let len = u32::try_from(HEADER_LEN + body_len).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out
    }
}

/// One payload of a parsed chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPayload {
    /// Payload type.
    pub kind: u8,
    /// Body without the generic header.
    pub body: Vec<u8>,
    /// Offset of the generic header within the chain's buffer.
    pub start: usize,
    /// Offset just past the payload.
    pub end: usize,
}

/// Splits a payload chain that starts with type `first`. Bytes after the last payload (CBC
/// padding) are ignored; returns the payloads and where the chain ended.
pub fn parse_chain(first: u8, data: &[u8]) -> Result<(Vec<RawPayload>, usize), WireError> {
    let mut out = Vec::new();
    let mut next = first;
    let mut pos = 0usize;
    while next != 0 {
        if out.len() >= MAX_PAYLOADS {
            return Err(WireError::TooManyPayloads);
        }
        let hdr = data.get(pos..pos + 4).ok_or(WireError::Truncated)?;
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        if len < 4 {
            return Err(WireError::BadLength("payload"));
        }
        let body = data.get(pos + 4..pos + len).ok_or(WireError::Truncated)?;
        out.push(RawPayload {
            kind: next,
            body: body.to_vec(),
            start: pos,
            end: pos + len,
        });
        next = hdr[0];
        pos += len;
    }
    Ok((out, pos))
}

/// Serialises payloads `(type, body)` into a chain; returns the first type and the bytes.
pub fn emit_chain(payloads: &[(u8, Vec<u8>)]) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    for (i, (_, body)) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(0, |p| p.0);
        out.push(next);
        out.push(0);
        let len = u16::try_from(body.len() + 4).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(body);
    }
    (payloads.first().map_or(0, |p| p.0), out)
}

/// A Notification payload (RFC 2408 §3.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol ID (1 ISAKMP, 3 ESP).
    pub protocol: u8,
    /// Notify message type.
    pub notify_type: u16,
    /// SPI (cookies for ISAKMP, 4 bytes for ESP).
    pub spi: Vec<u8>,
    /// Notification data.
    pub data: Vec<u8>,
}

/// Notify message types we act on.
pub mod notify_type {
    /// INVALID-PAYLOAD-TYPE.
    pub const INVALID_PAYLOAD_TYPE: u16 = 1;
    /// PAYLOAD-MALFORMED.
    pub const PAYLOAD_MALFORMED: u16 = 16;
    /// INVALID-ID-INFORMATION.
    pub const INVALID_ID_INFORMATION: u16 = 18;
    /// NO-PROPOSAL-CHOSEN.
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    /// AUTHENTICATION-FAILED.
    pub const AUTHENTICATION_FAILED: u16 = 24;
    /// INVALID-HASH-INFORMATION.
    pub const INVALID_HASH_INFORMATION: u16 = 23;
    /// INVALID-SIGNATURE.
    pub const INVALID_SIGNATURE: u16 = 25;
    /// CONNECTED (RFC 2408 §3.14.1, the commit bit's answer).
    pub const CONNECTED: u16 = 16384;
    /// RESPONDER-LIFETIME (RFC 2407 §4.6.3.1).
    pub const RESPONDER_LIFETIME: u16 = 24576;
    /// INITIAL-CONTACT (RFC 2407 §4.6.3.3).
    pub const INITIAL_CONTACT: u16 = 24578;
    /// R-U-THERE (RFC 3706).
    pub const R_U_THERE: u16 = 36136;
    /// R-U-THERE-ACK (RFC 3706).
    pub const R_U_THERE_ACK: u16 = 36137;
}

/// A readable name for an IKEv1 notify type.
pub fn notify_name(code: u16) -> &'static str {
    match code {
        1 => "INVALID-PAYLOAD-TYPE",
        2 => "DOI-NOT-SUPPORTED",
        3 => "SITUATION-NOT-SUPPORTED",
        4 => "INVALID-COOKIE",
        5 => "INVALID-MAJOR-VERSION",
        7 => "INVALID-EXCHANGE-TYPE",
        9 => "INVALID-MESSAGE-ID",
        11 => "INVALID-SPI",
        12 => "INVALID-TRANSFORM-ID",
        13 => "ATTRIBUTES-NOT-SUPPORTED",
        14 => "NO-PROPOSAL-CHOSEN",
        16 => "PAYLOAD-MALFORMED",
        17 => "INVALID-KEY-INFORMATION",
        18 => "INVALID-ID-INFORMATION",
        19 => "INVALID-CERT-ENCODING",
        20 => "INVALID-CERTIFICATE",
        23 => "INVALID-HASH-INFORMATION",
        24 => "AUTHENTICATION-FAILED",
        25 => "INVALID-SIGNATURE",
        _ => "an unknown error",
    }
}

impl Notify {
    /// Parses a Notification body: DOI (4), protocol (1), SPI size (1), type (2), SPI, data.
    pub fn parse(body: &[u8]) -> Option<Notify> {
        let fixed = body.get(..8)?;
        let spi_len = usize::from(fixed[5]);
        let spi = body.get(8..8 + spi_len)?.to_vec();
        Some(Notify {
            protocol: fixed[4],
            notify_type: u16::from_be_bytes([fixed[6], fixed[7]]),
            spi,
            data: body.get(8 + spi_len..)?.to_vec(),
        })
    }

    /// Serialises the body (DOI IPsec).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![0, 0, 0, 1, self.protocol, self.spi.len() as u8];
        out.extend_from_slice(&self.notify_type.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        out
    }
}

/// A Delete payload (RFC 2408 §3.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Protocol ID (1 ISAKMP, 3 ESP).
    pub protocol: u8,
    /// The SPIs (16-byte cookie pairs for ISAKMP).
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    /// Parses a Delete body.
    pub fn parse(body: &[u8]) -> Option<Delete> {
        let fixed = body.get(..8)?;
        let spi_len = usize::from(fixed[5]);
        let count = usize::from(u16::from_be_bytes([fixed[6], fixed[7]]));
        if spi_len == 0 {
            return None;
        }
        let rest = &body[8..];
        if rest.len() < spi_len.checked_mul(count)? {
            return None;
        }
        Some(Delete {
            protocol: fixed[4],
            spis: rest
                .chunks_exact(spi_len)
                .take(count)
                .map(<[u8]>::to_vec)
                .collect(),
        })
    }

    /// Serialises the body (DOI IPsec).
    pub fn emit(&self) -> Vec<u8> {
        let spi_len = self.spis.first().map_or(0, Vec::len);
        let mut out = vec![0, 0, 0, 1, self.protocol, spi_len as u8];
        out.extend_from_slice(&(self.spis.len() as u16).to_be_bytes());
        for s in &self.spis {
            out.extend_from_slice(s);
        }
        out
    }
}

/// An Identification payload body (RFC 2407 §4.6.2): type, protocol, port, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPayload {
    /// ID type (the numbers IKEv2 reuses: 1 IPv4, 2 FQDN, 3 USER_FQDN, 4 IPv4 subnet, ...).
    pub id_type: u8,
    /// IP protocol (0 any).
    pub protocol: u8,
    /// Port (0 any).
    pub port: u16,
    /// Identification data.
    pub data: Vec<u8>,
}

/// ID types used as Quick Mode selectors (RFC 2407 §4.6.2.1).
pub mod id_type {
    /// A single IPv4 address.
    pub const IPV4_ADDR: u8 = 1;
    /// IPv4 address and netmask.
    pub const IPV4_ADDR_SUBNET: u8 = 4;
    /// A single IPv6 address.
    pub const IPV6_ADDR: u8 = 5;
    /// IPv6 address and netmask.
    pub const IPV6_ADDR_SUBNET: u8 = 6;
    /// IPv4 first and last address.
    pub const IPV4_ADDR_RANGE: u8 = 7;
    /// IPv6 first and last address.
    pub const IPV6_ADDR_RANGE: u8 = 8;
}

impl IdPayload {
    /// Parses an ID body.
    pub fn parse(body: &[u8]) -> Option<IdPayload> {
        let fixed = body.get(..4)?;
        Some(IdPayload {
            id_type: fixed[0],
            protocol: fixed[1],
            port: u16::from_be_bytes([fixed[2], fixed[3]]),
            data: body[4..].to_vec(),
        })
    }

    /// Serialises the body.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![self.id_type, self.protocol];
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            icookie: 0x0102030405060708,
            rcookie: 0,
            next: payload::SA,
            exchange: exchange::MAIN,
            flags: 0,
            msg_id: 0,
            length: 0,
        }
    }

    #[test]
    fn header_round_trip() {
        let mut msg = header().emit(0);
        let (h, m) = Header::parse(&msg).unwrap();
        assert_eq!(h.icookie, 0x0102030405060708);
        assert_eq!(h.length as usize, HEADER_LEN);
        assert_eq!(m.len(), HEADER_LEN);
        msg[17] = 0x20;
        assert_eq!(Header::parse(&msg), Err(WireError::Version(0x20)));
    }

    #[test]
    fn header_lengths_that_lie_are_refused() {
        let mut msg = header().emit(10);
        assert_eq!(Header::parse(&msg), Err(WireError::Truncated));
        msg[27] = 3;
        assert_eq!(Header::parse(&msg), Err(WireError::BadLength("header")));
        assert_eq!(Header::parse(&msg[..20]), Err(WireError::Truncated));
    }

    #[test]
    fn chain_round_trip_ignores_padding() {
        let payloads = vec![
            (payload::HASH, vec![1; 20]),
            (payload::NONCE, vec![2; 16]),
            (payload::VENDOR_ID, vec![]),
        ];
        let (first, mut bytes) = emit_chain(&payloads);
        let end = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 7]);
        let (parsed, chain_end) = parse_chain(first, &bytes).unwrap();
        assert_eq!(chain_end, end);
        let got: Vec<(u8, Vec<u8>)> = parsed.into_iter().map(|p| (p.kind, p.body)).collect();
        assert_eq!(got, payloads);
    }

    #[test]
    fn malformed_chains_are_errors_not_panics() {
        // Length below the generic header.
        assert!(parse_chain(payload::SA, &[0, 0, 0, 2]).is_err());
        // Length beyond the buffer.
        assert!(parse_chain(payload::SA, &[0, 0, 0, 200, 1, 2]).is_err());
        // Truncated generic header.
        assert!(parse_chain(payload::SA, &[0, 0]).is_err());
        // A chain that never ends: every payload names a next one.
        let mut looping = Vec::new();
        for _ in 0..100 {
            looping.extend_from_slice(&[payload::VENDOR_ID, 0, 0, 4]);
        }
        assert_eq!(
            parse_chain(payload::VENDOR_ID, &looping),
            Err(WireError::TooManyPayloads)
        );
        // Every prefix of a valid message parses or fails cleanly.
        let (first, bytes) =
            emit_chain(&[(payload::NONCE, vec![9; 30]), (payload::KE, vec![3; 8])]);
        for n in 0..bytes.len() {
            let _ = parse_chain(first, &bytes[..n]);
        }
    }

    #[test]
    fn notify_delete_id_round_trip_and_truncation() {
        let n = Notify {
            protocol: 1,
            notify_type: notify_type::R_U_THERE,
            spi: vec![7; 16],
            data: vec![0, 0, 0, 5],
        };
        assert_eq!(Notify::parse(&n.emit()), Some(n.clone()));
        let e = n.emit();
        for k in 0..24 {
            assert!(Notify::parse(&e[..k]).is_none(), "{k}");
        }
        let d = Delete {
            protocol: 3,
            spis: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]],
        };
        assert_eq!(Delete::parse(&d.emit()), Some(d.clone()));
        let mut lying = d.emit();
        lying[7] = 200;
        assert!(Delete::parse(&lying).is_none());
        let id = IdPayload {
            id_type: 2,
            protocol: 0,
            port: 0,
            data: b"gw".to_vec(),
        };
        assert_eq!(IdPayload::parse(&id.emit()), Some(id));
        assert!(IdPayload::parse(&[1, 2]).is_none());
    }
}
