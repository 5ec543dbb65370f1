//! AUTH payload computation (RFC 7296 §2.15).
//!
//! Both peers sign (or MAC) their first message, the other side's nonce and a MAC of their own
//! identity; with a pre-shared key the "signature" is
//! `prf(prf(PSK, "Key Pad for IKEv2"), <SignedOctets>)`.

use strait_crypto::{CryptoError, CryptoProvider, Output};

use super::keys::prf;
use crate::proposal::Prf;

/// The constant of §2.15 that keys the PSK with the PRF.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The octets one side authenticates: its own first message, the peer's nonce, and
/// `prf(SK_p, ID payload body)` (`SK_pi` for the initiator, `SK_pr` for the responder).
pub fn signed_octets(
    provider: &dyn CryptoProvider,
    alg: Prf,
    first_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let maced_id = prf(provider, alg, sk_p, &[id_body])?;
    Ok([first_message, peer_nonce, maced_id.as_bytes()].concat())
}

/// The shared-key AUTH data over `signed_octets` (also what EAP methods use, with the MSK in
/// place of the PSK, §2.16).
pub fn psk_auth(
    provider: &dyn CryptoProvider,
    alg: Prf,
    psk: &[u8],
    signed_octets: &[u8],
) -> Result<Output, CryptoError> {
    let key = prf(provider, alg, psk, &[KEY_PAD])?;
    prf(provider, alg, key.as_bytes(), &[signed_octets])
}

/// Constant-time comparison of a received AUTH value with the expected one.
pub fn auth_matches(expected: &Output, received: &[u8]) -> bool {
    let e = expected.as_bytes();
    if e.len() != received.len() {
        return false;
    }
    e.iter()
        .zip(received)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psk_auth_is_nested_prf() {
        let p = strait_crypto::default_provider();
        let octets = signed_octets(
            &*p,
            Prf::HmacSha256,
            b"msg1",
            b"nr",
            b"skpi",
            b"\x02\0\0\0a",
        )
        .unwrap();
        let maced = prf(&*p, Prf::HmacSha256, b"skpi", &[b"\x02\0\0\0a"]).unwrap();
        assert_eq!(octets, [b"msg1" as &[u8], b"nr", maced.as_bytes()].concat());
        let auth = psk_auth(&*p, Prf::HmacSha256, b"secret", &octets).unwrap();
        let inner = prf(&*p, Prf::HmacSha256, b"secret", &[b"Key Pad for IKEv2"]).unwrap();
        let outer = prf(&*p, Prf::HmacSha256, inner.as_bytes(), &[&octets]).unwrap();
        assert_eq!(auth, outer);
        assert!(auth_matches(&auth, outer.as_bytes()));
        assert!(!auth_matches(&auth, &outer.as_bytes()[1..]));
        let mut wrong = outer.as_bytes().to_vec();
        wrong[0] ^= 1;
        assert!(!auth_matches(&auth, &wrong));
    }
}
