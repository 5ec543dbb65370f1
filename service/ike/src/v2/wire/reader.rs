//! Bounds-checked reading and length-checked writing of big-endian fields.
//!
//! Every parser in this module goes through [`Reader`], so no input can make it index out of
//! bounds: running short is a [`WireError::Truncated`] naming the structure being read. Writers go
//! through [`Enc`], which notes (instead of panicking or silently wrapping) when a value does not
//! fit its length or count field, so `try_emit` can refuse to produce a malformed message.

use super::WireError;

/// A cursor over borrowed bytes whose every read is checked.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the structure in [`WireError::Truncated`].
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next `n` bytes, or `Truncated` if there are fewer.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let (head, tail) = self
            .buf
            .split_at_checked(n)
            .ok_or(WireError::Truncated(self.what))?;
        self.buf = tail;
        Ok(head)
    }

    /// The next `n` bytes, or `BadLength(what)` if there are fewer: for lengths announced by a
    /// length field, where running short means the field lies rather than the buffer ends.
    pub(crate) fn take_len(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        self.take(n).map_err(|_| WireError::BadLength(what))
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf;
        self.buf = &[];
        rest
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| WireError::Truncated(self.what))
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    /// A big-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A fixed-size byte array (addresses).
    pub(crate) fn bytes<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.array()
    }
}

/// An output buffer that records when a length or count does not fit its field.
#[derive(Debug)]
pub(crate) struct Enc<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    /// Set when some value had to be clamped to fit its field; the bytes are then malformed.
    pub(crate) overflow: bool,
}

impl<'a> Enc<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Enc {
            out,
            overflow: false,
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
    }

    /// `n` as a one-byte count, clamped (and noted) if it does not fit.
    pub(crate) fn fit_u8(&mut self, n: usize) -> u8 {
        u8::try_from(n).unwrap_or_else(|_| {
            self.overflow = true;
            u8::MAX
        })
    }

    /// `n` as a two-byte length or count, clamped (and noted) if it does not fit.
    pub(crate) fn fit_u16(&mut self, n: usize) -> u16 {
        u16::try_from(n).unwrap_or_else(|_| {
            self.overflow = true;
            u16::MAX
        })
    }

    /// Current write position.
    pub(crate) fn pos(&self) -> usize {
        self.out.len()
    }

    /// Writes a two-byte placeholder and returns its position for [`Enc::patch_len16`].
    pub(crate) fn placeholder16(&mut self) -> usize {
        let pos = self.pos();
        self.u16(0);
        pos
    }

    /// Fills the placeholder at `pos` with the number of bytes written since `start`.
    pub(crate) fn patch_len16(&mut self, pos: usize, start: usize) {
        let len = self.pos().saturating_sub(start);
        let len = self.fit_u16(len);
        patch(self.out, pos, &len.to_be_bytes());
    }
}

/// Overwrites `out[pos..pos + value.len()]` if that range exists (it always does for positions
/// this module wrote itself); never panics.
pub(crate) fn patch(out: &mut [u8], pos: usize, value: &[u8]) {
    if let Some(slot) = pos
        .checked_add(value.len())
        .and_then(|end| out.get_mut(pos..end))
    {
        slot.copy_from_slice(value);
    }
}
