//! The generic payload header (§3.2), payload chains, whole messages, and the SK/SKF framing
//! that encryption and decryption need (§3.14, RFC 5282 §5.1, RFC 7383 §2.5).

use super::body::{emit_body, parse_body};
use super::reader::{patch, Enc, Reader};
use super::{
    limits, payload_type, Encrypted, EncryptedFragment, Header, HeaderView, Message, Payload,
    WireError, HEADER_LEN,
};

/// Length of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;
/// Length of the SKF payload header: generic header, Fragment Number, Total Fragments.
pub const SKF_HEADER_LEN: usize = 8;
/// The critical bit in the second byte of the generic payload header.
const CRITICAL: u8 = 0x80;

/// A checked view of one payload: the generic payload header (§3.2) and its body.
///
/// [`GenericPayloadView::new_checked`] verifies that the four header bytes are present and that
/// the Payload Length (at least 4) fits in the buffer, so the accessors cannot fail. Used to
/// walk a chain without decoding bodies, e.g. to locate the SK payload.
#[derive(Debug, Clone, Copy)]
pub struct GenericPayloadView<'a> {
    header: &'a [u8; GENERIC_HEADER_LEN],
    body: &'a [u8],
}

impl<'a> GenericPayloadView<'a> {
    /// Checks the payload at the start of `bytes`. `Truncated` if fewer than 4 bytes,
    /// `BadLength` if the length field is below 4 or runs past the end of `bytes`.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, WireError> {
        let header = bytes
            .get(..GENERIC_HEADER_LEN)
            .and_then(|h| <&[u8; GENERIC_HEADER_LEN]>::try_from(h).ok())
            .ok_or(WireError::Truncated("generic payload header"))?;
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if len < GENERIC_HEADER_LEN {
            return Err(WireError::BadLength("payload"));
        }
        let body = bytes
            .get(GENERIC_HEADER_LEN..len)
            .ok_or(WireError::BadLength("payload"))?;
        Ok(GenericPayloadView { header, body })
    }

    /// The Next Payload field (for SK/SKF: the type of the first inner payload).
    pub fn next_payload(&self) -> u8 {
        self.header[0]
    }

    /// The critical bit.
    pub fn critical(&self) -> bool {
        self.header[1] & CRITICAL != 0
    }

    /// The Payload Length field: header plus body.
    pub fn payload_length(&self) -> usize {
        usize::from(u16::from_be_bytes([self.header[2], self.header[3]]))
    }

    /// The body after the generic header.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// Parses a payload chain: the payloads after an IKE header whose Next Payload is `first`, or
/// the decrypted content of an SK payload whose Next Payload was `first`.
///
/// The chain ends at Next Payload 0, or at an SK/SKF payload, which must be the last payload
/// (§3.14): its Next Payload field is kept as `first_inner` and the walk stops. Bytes left
/// after the end of the chain are `BadLength`, more than [`limits::MAX_PAYLOADS`] payloads
/// `TooMany`. Unknown types become [`Payload::Unknown`] with their critical bit.
pub fn parse_payload_chain(first: u8, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut rest = bytes;
    let mut next = first;
    let mut payloads = Vec::new();
    while next != payload_type::NONE {
        if payloads.len() >= limits::MAX_PAYLOADS {
            return Err(WireError::TooMany("payloads"));
        }
        let this = next;
        let view = GenericPayloadView::new_checked(rest)?;
        rest = rest.get(view.payload_length()..).unwrap_or(&[]);
        next = view.next_payload();
        match this {
            payload_type::SK => {
                payloads.push(Payload::Encrypted(Encrypted {
                    first_inner: next,
                    data: view.body().to_vec(),
                }));
                next = payload_type::NONE;
            }
            payload_type::SKF => {
                let (fragment_number, total_fragments, data) = parse_skf_fields(view.body())?;
                payloads.push(Payload::EncryptedFragment(EncryptedFragment {
                    first_inner: next,
                    fragment_number,
                    total_fragments,
                    data: data.to_vec(),
                }));
                next = payload_type::NONE;
            }
            _ => payloads.push(parse_body(this, view.critical(), view.body())?),
        }
    }
    if !rest.is_empty() {
        return Err(WireError::BadLength(
            "payload chain: data after last payload",
        ));
    }
    Ok(payloads)
}

/// Fragment Number, Total Fragments and the rest of an SKF body (RFC 7383 §2.5). Fragment
/// numbers start at 1 and cannot exceed the total (§2.6: such fragments are discarded).
fn parse_skf_fields(body: &[u8]) -> Result<(u16, u16, &[u8]), WireError> {
    let mut r = Reader::new(body, "SKF payload");
    let number = r.u16()?;
    let total = r.u16()?;
    if number == 0 || total == 0 || number > total {
        return Err(WireError::Invalid("SKF fragment number"));
    }
    Ok((number, total, r.rest()))
}

/// Appends `payloads` as a chain and returns the type of the first one
/// ([`payload_type::NONE`] if empty), which goes into the IKE header or the SK payload's Next
/// Payload field.
///
/// Each Next Payload field names the following payload, except in an SK/SKF payload, where it
/// is `first_inner` (so an SK payload belongs last). Known payloads are sent with the critical
/// bit clear (§3.2); [`Payload::Unknown`] keeps its own. Values that do not fit their fields
/// (a body over 65,531 bytes, more than 255 transforms, a nonce outside 16..=256 bytes, …)
/// are clamped; [`Message::try_emit`] reports them instead.
pub fn emit_payload_chain(payloads: &[Payload], out: &mut Vec<u8>) -> u8 {
    let mut enc = Enc::new(out);
    emit_chain(payloads, &mut enc)
}

fn emit_chain(payloads: &[Payload], enc: &mut Enc<'_>) -> u8 {
    for (i, payload) in payloads.iter().enumerate() {
        let next = match payload {
            Payload::Encrypted(sk) => sk.first_inner,
            Payload::EncryptedFragment(skf) => skf.first_inner,
            _ => payloads
                .get(i + 1)
                .map_or(payload_type::NONE, Payload::payload_type),
        };
        let flags = match payload {
            Payload::Unknown { critical: true, .. } => CRITICAL,
            _ => 0,
        };
        let start = enc.pos();
        enc.u8(next);
        enc.u8(flags);
        let len_pos = enc.placeholder16();
        emit_body(payload, enc);
        enc.patch_len16(len_pos, start);
    }
    payloads
        .first()
        .map_or(payload_type::NONE, Payload::payload_type)
}

impl Message {
    /// Parses a whole IKE message (non-ESP marker already removed): header, then the payload
    /// chain, stopping at an SK/SKF payload, which stays encrypted. Bytes after the header's
    /// length are ignored; a length above [`limits::MAX_MESSAGE_LEN`] is `BadLength`.
    pub fn parse(bytes: &[u8]) -> Result<Message, WireError> {
        let view = HeaderView::new_checked(bytes)?;
        if view.message().len() > limits::MAX_MESSAGE_LEN {
            return Err(WireError::BadLength("IKE message length"));
        }
        let header = view.header();
        let payloads = parse_payload_chain(header.next_payload, view.payload_bytes())?;
        Ok(Message { header, payloads })
    }

    /// Serializes the message, with `header.next_payload` and `header.length` recomputed from
    /// the payloads. Values that do not fit their fields are clamped (see
    /// [`emit_payload_chain`]); use [`Message::try_emit`] to have that reported.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = Enc::new(&mut out);
        self.emit_into(&mut enc);
        out
    }

    /// Like [`Message::emit`], but `BadLength` if any length or count did not fit its field or
    /// the message would exceed [`limits::MAX_MESSAGE_LEN`], instead of producing bytes the
    /// peer would reject.
    pub fn try_emit(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::new();
        let mut enc = Enc::new(&mut out);
        self.emit_into(&mut enc);
        if enc.overflow || out.len() > limits::MAX_MESSAGE_LEN {
            return Err(WireError::BadLength("message too large for its fields"));
        }
        Ok(out)
    }

    fn emit_into(&self, enc: &mut Enc<'_>) {
        let mut header = self.header;
        header.next_payload = payload_type::NONE;
        header.length = 0;
        header.emit(enc.out);
        let first = emit_chain(&self.payloads, enc);
        let len = u32::try_from(enc.pos()).unwrap_or_else(|_| {
            enc.overflow = true;
            u32::MAX
        });
        patch(enc.out, 16, &[first]);
        patch(enc.out, 24, &len.to_be_bytes());
    }
}

/// Largest SK body (IV ‖ ciphertext ‖ ICV) that fits in a message from [`emit_sk_prefix`].
pub const MAX_SK_BODY_LEN: usize = limits::MAX_MESSAGE_LEN - HEADER_LEN - GENERIC_HEADER_LEN;
/// Largest SKF body that fits in a message from [`emit_skf_prefix`].
pub const MAX_SKF_BODY_LEN: usize = limits::MAX_MESSAGE_LEN - HEADER_LEN - SKF_HEADER_LEN;

/// The bytes of an outgoing encrypted message that precede the IV: the IKE header (Next Payload
/// = SK, Length = 28 + 4 + `body_len`) and the SK generic payload header (Next Payload =
/// `first_inner`, Length = 4 + `body_len`), where `body_len` is the length of IV ‖ ciphertext ‖
/// ICV that the caller appends.
///
/// These 32 bytes are the associated data of an AEAD cipher (RFC 5282 §5.1), and the start of
/// what the integrity checksum covers with a CBC cipher (§3.14: everything up to the ICV). The
/// caller's `header.next_payload` and `header.length` are ignored. A `body_len` above
/// [`MAX_SK_BODY_LEN`] cannot be expressed and yields clamped lengths: check it first.
pub fn emit_sk_prefix(header: &Header, first_inner: u8, body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + GENERIC_HEADER_LEN);
    let mut h = *header;
    h.next_payload = payload_type::SK;
    h.length = clamp_u32(HEADER_LEN + GENERIC_HEADER_LEN, body_len);
    h.emit(&mut out);
    out.push(first_inner);
    out.push(0);
    out.extend_from_slice(&clamp_u16(GENERIC_HEADER_LEN, body_len).to_be_bytes());
    out
}

/// The bytes of an outgoing fragment (RFC 7383 §2.5) that precede the IV: the IKE header (Next
/// Payload = SKF, Length = 28 + 8 + `body_len`) and the 8-byte SKF header (Next Payload =
/// `first_inner` — which RFC 7383 says is the first inner payload's type in fragment 1 and 0 in
/// the others —, Length = 8 + `body_len`, Fragment Number, Total Fragments).
///
/// RFC 7383 §2.5.3: these 36 bytes are the associated data of an AEAD cipher and the start of
/// the integrity-protected data otherwise. `body_len` above [`MAX_SKF_BODY_LEN`] yields
/// clamped lengths.
pub fn emit_skf_prefix(
    header: &Header,
    first_inner: u8,
    fragment_number: u16,
    total_fragments: u16,
    body_len: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + SKF_HEADER_LEN);
    let mut h = *header;
    h.next_payload = payload_type::SKF;
    h.length = clamp_u32(HEADER_LEN + SKF_HEADER_LEN, body_len);
    h.emit(&mut out);
    out.push(first_inner);
    out.push(0);
    out.extend_from_slice(&clamp_u16(SKF_HEADER_LEN, body_len).to_be_bytes());
    out.extend_from_slice(&fragment_number.to_be_bytes());
    out.extend_from_slice(&total_fragments.to_be_bytes());
    out
}

fn clamp_u32(fixed: usize, body_len: usize) -> u32 {
    u32::try_from(fixed.saturating_add(body_len)).unwrap_or(u32::MAX)
}

fn clamp_u16(fixed: usize, body_len: usize) -> u16 {
    u16::try_from(fixed.saturating_add(body_len)).unwrap_or(u16::MAX)
}

/// Fragment Number and Total Fragments of a received SKF payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentInfo {
    /// 1-based fragment number.
    pub number: u16,
    /// Total number of fragments.
    pub total: u16,
}

/// The parts of a received encrypted message that decryption needs, borrowed from the datagram.
///
/// `aad` and `body` are adjacent: `aad ‖ body == message`. With an AEAD cipher, `aad` is the
/// associated data (RFC 5282 §5.1, RFC 7383 §2.5.3); with a CBC cipher, the ICV at the end of
/// `body` covers `message` without its last ICV-length bytes (§3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkParts<'a> {
    /// The IKE header.
    pub header: Header,
    /// The whole message, cut at the header's length field.
    pub message: &'a [u8],
    /// From the start of the IKE header through the SK generic payload header (for SKF also
    /// Fragment Number and Total Fragments): everything before the IV, including any
    /// unencrypted payloads that precede the SK payload.
    pub aad: &'a [u8],
    /// IV ‖ ciphertext ‖ ICV.
    pub body: &'a [u8],
    /// The SK/SKF Next Payload field: type of the first payload inside (0 in SKF fragments
    /// other than the first).
    pub first_inner: u8,
    /// `Some` for an SKF payload.
    pub fragment: Option<FragmentInfo>,
}

/// Finds the SK or SKF payload of a received datagram (non-ESP marker already removed) and
/// splits the message into associated data and encrypted body.
///
/// The header is checked as by [`Message::parse`]; payloads before the SK/SKF payload are only
/// walked, not decoded. Errors: `Invalid` if the chain ends without an SK/SKF payload,
/// `BadLength` if the SK/SKF payload does not end exactly where the message ends (it must be
/// last), plus every header and generic-header error.
pub fn sk_aad(datagram: &[u8]) -> Result<SkParts<'_>, WireError> {
    let view = HeaderView::new_checked(datagram)?;
    let message = view.message();
    if message.len() > limits::MAX_MESSAGE_LEN {
        return Err(WireError::BadLength("IKE message length"));
    }
    let header = view.header();
    let mut offset = HEADER_LEN;
    let mut next = header.next_payload;
    for _ in 0..limits::MAX_PAYLOADS {
        if next == payload_type::NONE {
            return Err(WireError::Invalid("message without SK payload"));
        }
        let rest = message.get(offset..).unwrap_or(&[]);
        let payload = GenericPayloadView::new_checked(rest)?;
        let end = offset.saturating_add(payload.payload_length());
        let is_last = end == message.len();
        match next {
            payload_type::SK | payload_type::SKF => {
                if !is_last {
                    return Err(WireError::BadLength("SK payload is not last"));
                }
                let (fragment, header_len) = if next == payload_type::SKF {
                    let (number, total, _) = parse_skf_fields(payload.body())?;
                    (Some(FragmentInfo { number, total }), SKF_HEADER_LEN)
                } else {
                    (None, GENERIC_HEADER_LEN)
                };
                let split = offset.saturating_add(header_len);
                let (aad, body) = message
                    .split_at_checked(split)
                    .ok_or(WireError::Truncated("SK payload"))?;
                return Ok(SkParts {
                    header,
                    message,
                    aad,
                    body,
                    first_inner: payload.next_payload(),
                    fragment,
                });
            }
            _ => {
                offset = end;
                next = payload.next_payload();
            }
        }
    }
    Err(WireError::TooMany("payloads"))
}
