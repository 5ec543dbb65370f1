//! Framing: each message is a 4-byte big-endian length followed by that many bytes of JSON.
//!
//! Unlike a plain length-delimited codec, an oversized frame does not kill the connection: its
//! bytes are skipped and the reader gets [`FrameError::TooLarge`], so the service can answer
//! with an error and keep serving the same client (and never buffers more than
//! [`MAX_FRAME_LEN`] for anyone).

use std::io;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder, Framed};

/// Largest frame either side accepts: a profile with its certificates fits easily.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// A frame that arrived but could not be used; the connection is still in sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Longer than [`MAX_FRAME_LEN`]; its bytes were skipped.
    #[error("message of {0} bytes is larger than the limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(usize),
    /// Not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// The codec behind [`Connection`].
#[derive(Debug, Default)]
pub struct FrameCodec {
    /// Bytes of an oversized frame still to skip.
    skipping: usize,
}

impl Decoder for FrameCodec {
    type Item = Result<Bytes, FrameError>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        if self.skipping > 0 {
            let n = self.skipping.min(src.len());
            src.advance(n);
            self.skipping -= n;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        if src.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > MAX_FRAME_LEN {
            src.advance(4);
            let n = len.min(src.len());
            src.advance(n);
            self.skipping = len - n;
            return Ok(Some(Err(FrameError::TooLarge(len))));
        }
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(Ok(src.split_to(len).freeze())))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), io::Error> {
        let len = u32::try_from(item.len())
            .ok()
            .filter(|&l| l as usize <= MAX_FRAME_LEN)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "IPC message too large"))?;
        dst.reserve(4 + item.len());
        dst.put_u32(len);
        dst.extend_from_slice(&item);
        Ok(())
    }
}

/// A framed, typed message stream over any byte stream (Unix socket, named pipe, test duplex).
#[derive(Debug)]
pub struct Connection<S> {
    framed: Framed<S, FrameCodec>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps a stream.
    pub fn new(stream: S) -> Self {
        Connection {
            framed: Framed::new(stream, FrameCodec::default()),
        }
    }

    /// Sends one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
        self.framed.send(Bytes::from(bytes)).await
    }

    /// Receives one message: `Ok(None)` at end of stream, `Ok(Some(Err(_)))` for a frame that
    /// could not be used (the connection stays usable), `Err` when the stream itself failed.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<Result<T, FrameError>>> {
        match self.framed.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(Err(e))) => Ok(Some(Err(e))),
            Some(Ok(Ok(bytes))) => Ok(Some(
                serde_json::from_slice(&bytes).map_err(|e| FrameError::Malformed(e.to_string())),
            )),
        }
    }

    /// The underlying stream (for peer credentials).
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_frames_are_skipped_and_the_stream_stays_in_sync() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let big = MAX_FRAME_LEN + 10;
        buf.put_u32(big as u32);
        buf.extend_from_slice(&vec![b'x'; 1000]);
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Err(FrameError::TooLarge(big)))
        );
        // The rest of the big frame arrives in pieces, then a good frame.
        let mut rest = vec![b'x'; big - 1000];
        rest.extend_from_slice(&[0, 0, 0, 2, b'{', b'}']);
        for chunk in rest.chunks(4096) {
            buf.extend_from_slice(chunk);
            if let Some(item) = codec.decode(&mut buf).unwrap() {
                assert_eq!(item, Ok(Bytes::from_static(b"{}")));
                return;
            }
        }
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Ok(Bytes::from_static(b"{}")))
        );
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, b'a'][..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"bc");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Ok(Bytes::from_static(b"abc")))
        );
    }
}
