//! Payload bodies (everything after the 4-byte generic payload header), RFC 7296 §3.3–§3.16.
//!
//! `parse_body` turns the body of one payload into its typed form; `emit_body` writes it back.
//! Reserved fields are written as zero and ignored on receipt (§3.2: "MUST be ignored").

use std::net::{Ipv4Addr, Ipv6Addr};

use super::reader::{Enc, Reader};
use super::{
    limits, payload_type, AddressRange, AttributeValue, Authentication, Certificate,
    ConfigAttribute, ConfigValue, Configuration, Delete, Identification, KeyExchangePayload,
    Notify, Payload, Proposal, ProtocolId, TrafficSelector, Transform, TransformAttribute,
    WireError, ATTR_KEY_LENGTH,
};

/// Proposal substructure "more" marker (§3.3.1).
const PROPOSAL_MORE: u8 = 2;
/// Transform substructure "more" marker (§3.3.2).
const TRANSFORM_MORE: u8 = 3;
/// Last substructure marker.
const LAST: u8 = 0;
/// TS_IPV4_ADDR_RANGE (§3.13.1).
pub(crate) const TS_IPV4_ADDR_RANGE: u8 = 7;
/// TS_IPV6_ADDR_RANGE (§3.13.1).
pub(crate) const TS_IPV6_ADDR_RANGE: u8 = 8;
/// Smallest nonce (§3.9).
pub(crate) const NONCE_MIN: usize = 16;
/// Largest nonce (§3.9).
pub(crate) const NONCE_MAX: usize = 256;

/// Parses the body of a payload of type `ptype` (anything but SK and SKF, which the chain
/// parser handles because their Next Payload field means something else).
pub(crate) fn parse_body(ptype: u8, critical: bool, body: &[u8]) -> Result<Payload, WireError> {
    Ok(match ptype {
        payload_type::SA => Payload::Sa(parse_sa(body)?),
        payload_type::KE => Payload::Ke(parse_ke(body)?),
        payload_type::IDI => Payload::IdI(parse_id(body)?),
        payload_type::IDR => Payload::IdR(parse_id(body)?),
        payload_type::CERT => Payload::Cert(parse_cert(body, "CERT payload")?),
        payload_type::CERTREQ => Payload::CertReq(parse_cert(body, "CERTREQ payload")?),
        payload_type::AUTH => Payload::Auth(parse_auth(body)?),
        payload_type::NONCE => Payload::Nonce(parse_nonce(body)?),
        payload_type::NOTIFY => Payload::Notify(parse_notify(body)?),
        payload_type::DELETE => Payload::Delete(parse_delete(body)?),
        payload_type::VENDOR_ID => Payload::VendorId(body.to_vec()),
        payload_type::TSI => Payload::TsI(parse_ts(body)?),
        payload_type::TSR => Payload::TsR(parse_ts(body)?),
        payload_type::CP => Payload::Config(parse_cp(body)?),
        payload_type::EAP => Payload::Eap(body.to_vec()),
        other => Payload::Unknown {
            payload_type: other,
            critical,
            data: body.to_vec(),
        },
    })
}

/// Writes the body of `payload` (for SK/SKF: everything after the generic header).
pub(crate) fn emit_body(payload: &Payload, enc: &mut Enc<'_>) {
    match payload {
        Payload::Sa(proposals) => emit_sa(proposals, enc),
        Payload::Ke(ke) => {
            enc.u16(ke.group);
            enc.u16(0);
            enc.bytes(&ke.data);
        }
        Payload::IdI(id) | Payload::IdR(id) => enc.bytes(&id.auth_bytes()),
        Payload::Cert(c) | Payload::CertReq(c) => {
            enc.u8(c.encoding);
            enc.bytes(&c.data);
        }
        Payload::Auth(a) => {
            enc.u8(a.method);
            enc.bytes(&[0, 0, 0]);
            enc.bytes(&a.data);
        }
        Payload::Nonce(n) => {
            if !(NONCE_MIN..=NONCE_MAX).contains(&n.len()) {
                enc.overflow = true;
            }
            enc.bytes(n);
        }
        Payload::Notify(n) => {
            enc.u8(n.protocol.to_u8());
            let spi_size = enc.fit_u8(n.spi.len());
            enc.u8(spi_size);
            enc.u16(n.notify_type);
            enc.bytes(&n.spi);
            enc.bytes(&n.data);
        }
        Payload::Delete(d) => emit_delete(d, enc),
        Payload::VendorId(v) | Payload::Eap(v) => enc.bytes(v),
        Payload::TsI(ts) | Payload::TsR(ts) => emit_ts(ts, enc),
        Payload::Encrypted(sk) => enc.bytes(&sk.data),
        Payload::EncryptedFragment(skf) => {
            enc.u16(skf.fragment_number);
            enc.u16(skf.total_fragments);
            enc.bytes(&skf.data);
        }
        Payload::Config(cp) => emit_cp(cp, enc),
        Payload::Unknown { data, .. } => enc.bytes(data),
    }
}

// --- SA (§3.3) -----------------------------------------------------------------------------

fn parse_sa(body: &[u8]) -> Result<Vec<Proposal>, WireError> {
    let mut r = Reader::new(body, "proposal");
    if r.is_empty() {
        return Err(WireError::Invalid("SA payload without proposals"));
    }
    let mut proposals = Vec::new();
    loop {
        if proposals.len() >= limits::MAX_PROPOSALS {
            return Err(WireError::TooMany("proposals"));
        }
        let last_more = r.u8()?;
        let _reserved = r.u8()?;
        let len = usize::from(r.u16()?);
        if len < 8 {
            return Err(WireError::BadLength("proposal"));
        }
        let sub = r.take_len(len - 4, "proposal")?;
        proposals.push(parse_proposal(sub)?);
        match last_more {
            LAST => break,
            PROPOSAL_MORE if !r.is_empty() => {}
            PROPOSAL_MORE => return Err(WireError::Truncated("SA payload: more proposals")),
            _ => return Err(WireError::Invalid("proposal last substructure")),
        }
    }
    if !r.is_empty() {
        return Err(WireError::BadLength("SA payload: data after last proposal"));
    }
    Ok(proposals)
}

/// `sub` is the proposal after its 4-byte substructure header.
fn parse_proposal(sub: &[u8]) -> Result<Proposal, WireError> {
    let mut r = Reader::new(sub, "proposal");
    let number = r.u8()?;
    let protocol = ProtocolId::from_u8(r.u8()?);
    let spi_size = usize::from(r.u8()?);
    let count = usize::from(r.u8()?);
    if count > limits::MAX_TRANSFORMS {
        return Err(WireError::TooMany("transforms"));
    }
    let spi = r.take_len(spi_size, "proposal SPI")?.to_vec();
    let mut transforms = Vec::with_capacity(count);
    for i in 0..count {
        let last_more = r
            .u8()
            .map_err(|_| WireError::BadLength("proposal: fewer transforms than announced"))?;
        let _reserved = r.u8()?;
        let len = usize::from(r.u16()?);
        if len < 8 {
            return Err(WireError::BadLength("transform"));
        }
        let t = r.take_len(len - 4, "transform")?;
        let expected = if i + 1 == count { LAST } else { TRANSFORM_MORE };
        if last_more != expected {
            return Err(WireError::Invalid("transform last substructure"));
        }
        transforms.push(parse_transform(t)?);
    }
    if !r.is_empty() {
        return Err(WireError::BadLength(
            "proposal: more transforms than announced",
        ));
    }
    Ok(Proposal {
        number,
        protocol,
        spi,
        transforms,
    })
}

/// `t` is the transform after its 4-byte substructure header.
fn parse_transform(t: &[u8]) -> Result<Transform, WireError> {
    let mut r = Reader::new(t, "transform");
    let transform_type = r.u8()?;
    let _reserved = r.u8()?;
    let id = r.u16()?;
    let mut transform = Transform::new(transform_type, id);
    let mut count = 0usize;
    let mut a = Reader::new(r.rest(), "transform attribute");
    while !a.is_empty() {
        count += 1;
        if count > limits::MAX_ATTRIBUTES {
            return Err(WireError::TooMany("transform attributes"));
        }
        let word = a.u16()?;
        let attr_type = word & 0x7fff;
        if word & 0x8000 != 0 {
            let value = a.u16()?;
            if attr_type == ATTR_KEY_LENGTH {
                if transform.key_length.is_some() {
                    return Err(WireError::Invalid("duplicate key length attribute"));
                }
                transform.key_length = Some(value);
            } else {
                transform.other_attributes.push(TransformAttribute {
                    attr_type,
                    value: AttributeValue::Tv(value),
                });
            }
        } else {
            let len = usize::from(a.u16()?);
            let value = a.take_len(len, "transform attribute")?.to_vec();
            transform.other_attributes.push(TransformAttribute {
                attr_type,
                value: AttributeValue::Tlv(value),
            });
        }
    }
    Ok(transform)
}

fn emit_sa(proposals: &[Proposal], enc: &mut Enc<'_>) {
    if proposals.is_empty() {
        enc.overflow = true;
    }
    for (i, p) in proposals.iter().enumerate() {
        let start = enc.pos();
        enc.u8(if i + 1 == proposals.len() {
            LAST
        } else {
            PROPOSAL_MORE
        });
        enc.u8(0);
        let len_pos = enc.placeholder16();
        enc.u8(p.number);
        enc.u8(p.protocol.to_u8());
        let spi_size = enc.fit_u8(p.spi.len());
        enc.u8(spi_size);
        let count = enc.fit_u8(p.transforms.len());
        enc.u8(count);
        enc.bytes(&p.spi);
        for (j, t) in p.transforms.iter().enumerate() {
            let t_start = enc.pos();
            enc.u8(if j + 1 == p.transforms.len() {
                LAST
            } else {
                TRANSFORM_MORE
            });
            enc.u8(0);
            let t_len_pos = enc.placeholder16();
            enc.u8(t.transform_type);
            enc.u8(0);
            enc.u16(t.id);
            if let Some(bits) = t.key_length {
                enc.u16(0x8000 | ATTR_KEY_LENGTH);
                enc.u16(bits);
            }
            for attr in &t.other_attributes {
                match &attr.value {
                    AttributeValue::Tv(v) => {
                        enc.u16(0x8000 | (attr.attr_type & 0x7fff));
                        enc.u16(*v);
                    }
                    AttributeValue::Tlv(v) => {
                        enc.u16(attr.attr_type & 0x7fff);
                        let len = enc.fit_u16(v.len());
                        enc.u16(len);
                        enc.bytes(v);
                    }
                }
            }
            enc.patch_len16(t_len_pos, t_start);
        }
        enc.patch_len16(len_pos, start);
    }
}

// --- KE, ID, CERT, AUTH, Nonce (§3.4–§3.9) ---------------------------------------------------

fn parse_ke(body: &[u8]) -> Result<KeyExchangePayload, WireError> {
    let mut r = Reader::new(body, "KE payload");
    let group = r.u16()?;
    let _reserved = r.u16()?;
    Ok(KeyExchangePayload {
        group,
        data: r.rest().to_vec(),
    })
}

fn parse_id(body: &[u8]) -> Result<Identification, WireError> {
    let mut r = Reader::new(body, "ID payload");
    let id_type = r.u8()?;
    let _reserved = r.take(3)?;
    Ok(Identification {
        id_type,
        data: r.rest().to_vec(),
    })
}

fn parse_cert(body: &[u8], what: &'static str) -> Result<Certificate, WireError> {
    let mut r = Reader::new(body, what);
    let encoding = r.u8()?;
    Ok(Certificate {
        encoding,
        data: r.rest().to_vec(),
    })
}

fn parse_auth(body: &[u8]) -> Result<Authentication, WireError> {
    let mut r = Reader::new(body, "AUTH payload");
    let method = r.u8()?;
    let _reserved = r.take(3)?;
    Ok(Authentication {
        method,
        data: r.rest().to_vec(),
    })
}

fn parse_nonce(body: &[u8]) -> Result<Vec<u8>, WireError> {
    if !(NONCE_MIN..=NONCE_MAX).contains(&body.len()) {
        return Err(WireError::Invalid("nonce length"));
    }
    Ok(body.to_vec())
}

// --- Notify, Delete (§3.10, §3.11) -----------------------------------------------------------

fn parse_notify(body: &[u8]) -> Result<Notify, WireError> {
    let mut r = Reader::new(body, "Notify payload");
    let protocol = ProtocolId::from_u8(r.u8()?);
    let spi_size = usize::from(r.u8()?);
    let notify_type = r.u16()?;
    let spi = r.take_len(spi_size, "Notify SPI")?.to_vec();
    Ok(Notify {
        protocol,
        spi,
        notify_type,
        data: r.rest().to_vec(),
    })
}

fn parse_delete(body: &[u8]) -> Result<Delete, WireError> {
    let mut r = Reader::new(body, "Delete payload");
    let protocol = ProtocolId::from_u8(r.u8()?);
    let spi_size = usize::from(r.u8()?);
    let count = usize::from(r.u16()?);
    let rest = r.rest();
    if spi_size == 0 {
        // Deleting an IKE SA: the SPIs are in the header. The count is meaningless (and 0 in
        // practice), but SPI bytes that no size describes are a malformed payload.
        if !rest.is_empty() {
            return Err(WireError::BadLength("Delete payload"));
        }
        return Ok(Delete {
            protocol,
            spis: Vec::new(),
        });
    }
    if count > limits::MAX_DELETE_SPIS {
        return Err(WireError::TooMany("SPIs to delete"));
    }
    if count.checked_mul(spi_size) != Some(rest.len()) {
        return Err(WireError::BadLength("Delete payload: SPI count"));
    }
    Ok(Delete {
        protocol,
        spis: rest.chunks(spi_size).map(<[u8]>::to_vec).collect(),
    })
}

fn emit_delete(d: &Delete, enc: &mut Enc<'_>) {
    let spi_size = d.spis.first().map_or(0, Vec::len);
    if d.spis.iter().any(|s| s.len() != spi_size) || (spi_size == 0 && !d.spis.is_empty()) {
        enc.overflow = true;
    }
    enc.u8(d.protocol.to_u8());
    let size = enc.fit_u8(spi_size);
    enc.u8(size);
    let count = enc.fit_u16(if spi_size == 0 { 0 } else { d.spis.len() });
    enc.u16(count);
    for spi in &d.spis {
        enc.bytes(spi);
    }
}

// --- Traffic selectors (§3.13) ---------------------------------------------------------------

fn parse_ts(body: &[u8]) -> Result<Vec<TrafficSelector>, WireError> {
    let mut r = Reader::new(body, "TS payload");
    let count = usize::from(r.u8()?);
    let _reserved = r.take(3)?;
    if count > limits::MAX_SELECTORS {
        return Err(WireError::TooMany("traffic selectors"));
    }
    let mut selectors = Vec::with_capacity(count);
    for _ in 0..count {
        let ts_type = r
            .u8()
            .map_err(|_| WireError::BadLength("TS payload: fewer selectors than announced"))?;
        let ip_protocol = r.u8()?;
        let len = usize::from(r.u16()?);
        let expected = match ts_type {
            TS_IPV4_ADDR_RANGE => 16,
            TS_IPV6_ADDR_RANGE => 40,
            _ => return Err(WireError::Invalid("traffic selector type")),
        };
        if len != expected {
            return Err(WireError::BadLength("traffic selector"));
        }
        let mut s = Reader::new(r.take_len(len - 4, "traffic selector")?, "traffic selector");
        let start_port = s.u16()?;
        let end_port = s.u16()?;
        let addresses = if ts_type == TS_IPV4_ADDR_RANGE {
            AddressRange::V4 {
                start: Ipv4Addr::from(s.bytes::<4>()?),
                end: Ipv4Addr::from(s.bytes::<4>()?),
            }
        } else {
            AddressRange::V6 {
                start: Ipv6Addr::from(s.bytes::<16>()?),
                end: Ipv6Addr::from(s.bytes::<16>()?),
            }
        };
        selectors.push(TrafficSelector {
            ip_protocol,
            start_port,
            end_port,
            addresses,
        });
    }
    if !r.is_empty() {
        return Err(WireError::BadLength(
            "TS payload: more selectors than announced",
        ));
    }
    Ok(selectors)
}

fn emit_ts(selectors: &[TrafficSelector], enc: &mut Enc<'_>) {
    let count = enc.fit_u8(selectors.len());
    enc.u8(count);
    enc.bytes(&[0, 0, 0]);
    for ts in selectors {
        let (ts_type, len) = match ts.addresses {
            AddressRange::V4 { .. } => (TS_IPV4_ADDR_RANGE, 16),
            AddressRange::V6 { .. } => (TS_IPV6_ADDR_RANGE, 40),
        };
        enc.u8(ts_type);
        enc.u8(ts.ip_protocol);
        enc.u16(len);
        enc.u16(ts.start_port);
        enc.u16(ts.end_port);
        match ts.addresses {
            AddressRange::V4 { start, end } => {
                enc.bytes(&start.octets());
                enc.bytes(&end.octets());
            }
            AddressRange::V6 { start, end } => {
                enc.bytes(&start.octets());
                enc.bytes(&end.octets());
            }
        }
    }
}

// --- Configuration (§3.15) -------------------------------------------------------------------

fn parse_cp(body: &[u8]) -> Result<Configuration, WireError> {
    let mut r = Reader::new(body, "CP payload");
    let cfg_type = r.u8()?;
    let _reserved = r.take(3)?;
    let mut a = Reader::new(r.rest(), "configuration attribute");
    let mut attributes = Vec::new();
    while !a.is_empty() {
        if attributes.len() >= limits::MAX_ATTRIBUTES {
            return Err(WireError::TooMany("configuration attributes"));
        }
        let attr_type = a.u16()? & 0x7fff;
        let len = usize::from(a.u16()?);
        let value = a.take_len(len, "configuration attribute")?;
        // Reject values whose length the RFC forbids for their type, so that
        // `ConfigAttribute::typed` cannot fail on anything received.
        ConfigValue::decode(attr_type, value)?;
        attributes.push(ConfigAttribute {
            attr_type,
            value: value.to_vec(),
        });
    }
    Ok(Configuration {
        cfg_type,
        attributes,
    })
}

fn emit_cp(cp: &Configuration, enc: &mut Enc<'_>) {
    enc.u8(cp.cfg_type);
    enc.bytes(&[0, 0, 0]);
    for attr in &cp.attributes {
        enc.u16(attr.attr_type & 0x7fff);
        let len = enc.fit_u16(attr.value.len());
        enc.u16(len);
        enc.bytes(&attr.value);
    }
}
