//! ISAKMP data attributes (RFC 2408 §3.3): the type/value pairs inside transforms (SA
//! attributes) and Attribute payloads (XAuth and Mode Config).
//!
//! The top bit of the type says whether the value is a basic 2-byte value (TV) or carries its
//! own length (TLV). We keep values as bytes and read them as integers where a type is numeric.

/// One data attribute.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute type without the format bit.
    pub kind: u16,
    /// The value: 2 bytes for a basic attribute, anything for a variable one.
    pub value: Vec<u8>,
    /// Encoded as a basic (TV) attribute.
    pub basic: bool,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values can be XAuth passwords: print only their length.
        write!(f, "Attribute({}, {} bytes)", self.kind, self.value.len())
    }
}

impl Drop for Attribute {
    fn drop(&mut self) {
        // XAuth passwords travel in attribute values.
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

const AF_BIT: u16 = 0x8000;

impl Attribute {
    /// A basic (TV) attribute with a 16-bit value.
    pub fn basic(kind: u16, value: u16) -> Attribute {
        Attribute {
            kind,
            value: value.to_be_bytes().to_vec(),
            basic: true,
        }
    }

    /// A variable-length (TLV) attribute.
    pub fn variable(kind: u16, value: Vec<u8>) -> Attribute {
        Attribute {
            kind,
            value,
            basic: false,
        }
    }

    /// A numeric attribute: basic if it fits 16 bits, else a 4-byte variable one (life
    /// durations may need that).
    pub fn number(kind: u16, value: u32) -> Attribute {
        match u16::try_from(value) {
            Ok(v) => Attribute::basic(kind, v),
            Err(_) => Attribute::variable(kind, value.to_be_bytes().to_vec()),
        }
    }

    /// The value as an unsigned integer (up to 8 bytes), if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        if self.value.len() > 8 {
            return None;
        }
        Some(
            self.value
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )
    }

    /// The value as a 16-bit number.
    pub fn as_u16(&self) -> Option<u16> {
        self.as_u64().and_then(|v| u16::try_from(v).ok())
    }
}

/// Serialises attributes.
pub fn emit(attrs: &[Attribute]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in attrs {
        if a.basic && a.value.len() == 2 {
            out.extend_from_slice(&(a.kind | AF_BIT).to_be_bytes());
            out.extend_from_slice(&a.value);
        } else {
            out.extend_from_slice(&(a.kind & !AF_BIT).to_be_bytes());
            let len = u16::try_from(a.value.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&a.value[..usize::from(len)]);
        }
    }
    out
}

/// Parses a run of attributes; `None` if one is cut short. Fewer than four bytes left over
/// (too short for any attribute) are padding: Libreswan pads Attribute payloads to a
/// multiple of four.
pub fn parse(data: &[u8]) -> Option<Vec<Attribute>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while data.len().saturating_sub(pos) >= 4 {
        let hdr = data.get(pos..pos + 4)?;
        let raw = u16::from_be_bytes([hdr[0], hdr[1]]);
        if raw & AF_BIT != 0 {
            out.push(Attribute {
                kind: raw & !AF_BIT,
                value: hdr[2..4].to_vec(),
                basic: true,
            });
            pos += 4;
        } else {
            let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
            let value = data.get(pos + 4..pos + 4 + len)?;
            out.push(Attribute {
                kind: raw,
                value: value.to_vec(),
                basic: false,
            });
            pos += 4 + len;
        }
    }
    Some(out)
}

/// The first attribute of `kind`.
pub fn find(attrs: &[Attribute], kind: u16) -> Option<&Attribute> {
    attrs.iter().find(|a| a.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_basic_and_variable() {
        let attrs = vec![
            Attribute::basic(1, 7),
            Attribute::number(12, 86400),
            Attribute::variable(16521, b"alice".to_vec()),
            Attribute::variable(1, vec![]),
        ];
        let bytes = emit(&attrs);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed, attrs);
        assert_eq!(parsed[1].as_u64(), Some(86400));
        assert!(!parsed[1].basic, "86400 needs a variable attribute");
        assert_eq!(parsed[0].as_u16(), Some(7));
    }

    #[test]
    fn truncated_or_lying_lengths_are_none() {
        let bytes = emit(&[Attribute::variable(16522, b"secret".to_vec())]);
        for n in 4..bytes.len() {
            assert!(parse(&bytes[..n]).is_none(), "{n}");
        }
        // Up to three bytes of padding after the last attribute are ignored.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0, 0]);
        assert_eq!(parse(&padded).unwrap().len(), 1);
        assert_eq!(parse(&bytes[..3]), Some(vec![]));
        assert!(parse(&[0x00, 0x01, 0xff, 0xff, 1]).is_none());
        assert_eq!(parse(&[]), Some(vec![]));
    }

    #[test]
    fn debug_hides_values() {
        let a = Attribute::variable(16522, b"hunter2".to_vec());
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
