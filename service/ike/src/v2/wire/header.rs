//! The IKE header (RFC 7296 §3.1).

use super::WireError;

/// Length of the fixed IKE header.
pub const HEADER_LEN: usize = 28;

/// Exchange types (IANA "IKEv2 Exchange Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeType {
    /// IKE_SA_INIT (34).
    IkeSaInit,
    /// IKE_AUTH (35).
    IkeAuth,
    /// CREATE_CHILD_SA (36).
    CreateChildSa,
    /// INFORMATIONAL (37).
    Informational,
    /// Any other value, kept so that a response can be matched and the message rejected politely.
    Other(u8),
}

impl ExchangeType {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            ExchangeType::IkeSaInit => 34,
            ExchangeType::IkeAuth => 35,
            ExchangeType::CreateChildSa => 36,
            ExchangeType::Informational => 37,
            ExchangeType::Other(v) => v,
        }
    }
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            34 => ExchangeType::IkeSaInit,
            35 => ExchangeType::IkeAuth,
            36 => ExchangeType::CreateChildSa,
            37 => ExchangeType::Informational,
            other => ExchangeType::Other(other),
        }
    }
}

/// Header flag: the sender is the original initiator of the IKE SA.
pub const FLAG_INITIATOR: u8 = 0x08;
/// Header flag: the sender can speak a higher major version.
pub const FLAG_VERSION: u8 = 0x10;
/// Header flag: this message is a response.
pub const FLAG_RESPONSE: u8 = 0x20;

/// The typed IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Initiator's SPI (never zero).
    pub spi_i: u64,
    /// Responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: u8,
    /// Minor version (we send 0, accept any).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags byte ([`FLAG_INITIATOR`], [`FLAG_RESPONSE`], [`FLAG_VERSION`]).
    pub flags: u8,
    /// Message ID.
    pub message_id: u32,
    /// Total message length including the header.
    pub length: u32,
}

/// A checked view of the IKE header at the start of a datagram.
///
/// [`HeaderView::new_checked`] validates everything the other accessors rely on (28 bytes
/// present, major version 2, length field between 28 and the buffer size), so they cannot
/// fail. Useful when only the SPIs or the message ID are needed, e.g. to find the IKE SA a
/// datagram belongs to before decrypting anything.
#[derive(Debug, Clone, Copy)]
pub struct HeaderView<'a> {
    fixed: &'a [u8; HEADER_LEN],
    message: &'a [u8],
}

impl<'a> HeaderView<'a> {
    /// Checks `bytes` (a whole datagram, non-ESP marker already removed) and returns a view.
    ///
    /// Errors: `Truncated` below 28 bytes, `UnsupportedVersion` when the major version is not 2
    /// (the caller may answer INVALID_MAJOR_VERSION), `BadLength` when the length field is below
    /// 28 or claims more bytes than were received. Bytes beyond the length field are ignored.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, WireError> {
        let fixed = bytes
            .get(..HEADER_LEN)
            .and_then(|b| <&[u8; HEADER_LEN]>::try_from(b).ok())
            .ok_or(WireError::Truncated("IKE header"))?;
        let major = fixed[17] >> 4;
        if major != 2 {
            return Err(WireError::UnsupportedVersion(major));
        }
        let length = u32::from_be_bytes([fixed[24], fixed[25], fixed[26], fixed[27]]);
        let length = usize::try_from(length).map_err(|_| WireError::BadLength("IKE header"))?;
        if length < HEADER_LEN {
            return Err(WireError::BadLength("IKE header"));
        }
        let message = bytes
            .get(..length)
            .ok_or(WireError::BadLength("IKE header"))?;
        Ok(HeaderView { fixed, message })
    }

    /// Initiator's SPI.
    pub fn spi_i(&self) -> u64 {
        let f = self.fixed;
        u64::from_be_bytes([f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]])
    }

    /// Responder's SPI.
    pub fn spi_r(&self) -> u64 {
        let f = self.fixed;
        u64::from_be_bytes([f[8], f[9], f[10], f[11], f[12], f[13], f[14], f[15]])
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> u8 {
        self.fixed[16]
    }

    /// Minor version (low nibble of the version byte).
    pub fn minor_version(&self) -> u8 {
        self.fixed[17] & 0x0f
    }

    /// Exchange type.
    pub fn exchange(&self) -> ExchangeType {
        ExchangeType::from_u8(self.fixed[18])
    }

    /// Flags byte, all bits as received (unknown bits must be ignored, not rejected).
    pub fn flags(&self) -> u8 {
        self.fixed[19]
    }

    /// Message ID.
    pub fn message_id(&self) -> u32 {
        let f = self.fixed;
        u32::from_be_bytes([f[20], f[21], f[22], f[23]])
    }

    /// The length field (already checked against the buffer).
    pub fn length(&self) -> u32 {
        let f = self.fixed;
        u32::from_be_bytes([f[24], f[25], f[26], f[27]])
    }

    /// The whole message, header included, cut at the length field.
    pub fn message(&self) -> &'a [u8] {
        self.message
    }

    /// The bytes after the header, up to the length field: the payload chain.
    pub fn payload_bytes(&self) -> &'a [u8] {
        self.message.get(HEADER_LEN..).unwrap_or(&[])
    }

    /// The typed header.
    pub fn header(&self) -> Header {
        Header {
            spi_i: self.spi_i(),
            spi_r: self.spi_r(),
            next_payload: self.next_payload(),
            minor_version: self.minor_version(),
            exchange: self.exchange(),
            flags: self.flags(),
            message_id: self.message_id(),
            length: self.length(),
        }
    }
}

impl Header {
    /// Parses the IKE header at the start of `bytes` (see [`HeaderView::new_checked`] for the
    /// checks), so a datagram can be dispatched by SPI, message ID and flags.
    pub fn parse(bytes: &[u8]) -> Result<Header, WireError> {
        HeaderView::new_checked(bytes).map(|v| v.header())
    }

    /// Appends the 28 header bytes exactly as the fields say (major version 2). `next_payload`
    /// and `length` are written as they are; [`super::Message::emit`] recomputes them.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload);
        out.push(0x20 | (self.minor_version & 0x0f));
        out.push(self.exchange.to_u8());
        out.push(self.flags);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Whether the Initiator flag is set.
    pub fn is_initiator(&self) -> bool {
        self.flags & FLAG_INITIATOR != 0
    }

    /// Whether the Response flag is set.
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_RESPONSE != 0
    }
}
