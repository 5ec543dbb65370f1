//! Port 4500 demultiplexing for UDP-encapsulated ESP (RFC 3948).
//!
//! The service owns the socket. On port 4500 three things arrive as UDP payloads: ESP packets
//! as they are (the SPI is never zero), IKE messages behind a four-byte zero "non-ESP marker",
//! and one-byte NAT keepalives. [`classify_udp4500`] tells them apart without copying.

use crate::algorithms::ESP_HEADER_LEN;

/// The marker in front of IKE messages on port 4500 (RFC 3948 §2.2): four zero bytes where an
/// ESP packet has its (never zero) SPI.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// A NAT keepalive (RFC 3948 §2.3): a UDP payload of one 0xFF byte.
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

/// Length of the IKE header (RFC 7296 §3.1): an IKE message behind the marker is at least this.
pub const IKE_HEADER_LEN: usize = 28;

/// What a UDP payload received on port 4500 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Udp4500Kind<'a> {
    /// An ESP packet: the whole payload, from the SPI on (demultiplex with
    /// [`spi_of`](crate::spi_of)).
    Esp,
    /// An IKE message: the bytes after the non-ESP marker.
    Ike(&'a [u8]),
    /// A NAT keepalive, to be ignored.
    NatKeepalive,
    /// Too short for any of these: drop it.
    Invalid,
}

/// Classifies a UDP payload received on the NAT-T port (RFC 3948 §2).
pub fn classify_udp4500(payload: &[u8]) -> Udp4500Kind<'_> {
    if payload == NAT_KEEPALIVE {
        return Udp4500Kind::NatKeepalive;
    }
    match payload.split_first_chunk::<4>() {
        Some((marker, ike)) if *marker == NON_ESP_MARKER => {
            if ike.len() >= IKE_HEADER_LEN {
                Udp4500Kind::Ike(ike)
            } else {
                Udp4500Kind::Invalid
            }
        }
        Some(_) if payload.len() >= ESP_HEADER_LEN => Udp4500Kind::Esp,
        _ => Udp4500Kind::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify() {
        assert_eq!(classify_udp4500(&[0xff]), Udp4500Kind::NatKeepalive);
        assert_eq!(classify_udp4500(&[]), Udp4500Kind::Invalid);
        assert_eq!(classify_udp4500(&[0xfe]), Udp4500Kind::Invalid);
        assert_eq!(classify_udp4500(&[0, 0, 0, 0]), Udp4500Kind::Invalid);
        let mut ike = vec![0u8; 4 + 28];
        ike[4] = 0xaa;
        assert_eq!(classify_udp4500(&ike), Udp4500Kind::Ike(&ike[4..]));
        assert_eq!(classify_udp4500(&ike[..31]), Udp4500Kind::Invalid);
        let esp = [0, 0, 1, 0, 0, 0, 0, 1];
        assert_eq!(classify_udp4500(&esp), Udp4500Kind::Esp);
        assert_eq!(classify_udp4500(&esp[..7]), Udp4500Kind::Invalid);
        for n in 0..64 {
            let _ = classify_udp4500(&vec![0; n]);
            let _ = classify_udp4500(&vec![0xff; n]);
        }
    }
}
