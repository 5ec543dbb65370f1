//! NAT traversal for IKEv1 (RFC 3947): NAT-D hashes and which payload and encapsulation
//! numbers the negotiated variant (RFC or draft) uses.

use std::net::{IpAddr, SocketAddr};

use strait_crypto::{CryptoError, CryptoProvider, HashAlg};

use super::proposal::encap;
use super::vendor::PeerVendors;
use super::wire::payload;

/// `HASH(CKY-I | CKY-R | IP | Port)` with the phase 1 hash.
pub fn nat_d(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    cky_i: u64,
    cky_r: u64,
    addr: SocketAddr,
) -> Result<Vec<u8>, CryptoError> {
    let ip = match addr.ip() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    Ok(p.hash(
        hash,
        &[
            &cky_i.to_be_bytes(),
            &cky_r.to_be_bytes(),
            &ip,
            &addr.port().to_be_bytes(),
        ],
    )?
    .as_bytes()
    .to_vec())
}

/// The NAT-D payload type for what the gateway announced.
pub fn nat_d_payload(v: &PeerVendors) -> u8 {
    if v.natt_rfc {
        payload::NAT_D
    } else {
        payload::NAT_D_DRAFT
    }
}

/// The ESP encapsulation mode to ask for in Quick Mode.
pub fn encap_mode(v: &PeerVendors, udp: bool, transport: bool) -> u16 {
    match (udp, transport, v.natt_rfc) {
        (false, false, _) => encap::TUNNEL,
        (false, true, _) => encap::TRANSPORT,
        (true, false, true) => encap::UDP_TUNNEL,
        (true, true, true) => encap::UDP_TRANSPORT,
        (true, false, false) => encap::UDP_TUNNEL_DRAFT,
        (true, true, false) => encap::UDP_TRANSPORT_DRAFT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_d_matches_python() {
        // hashlib.sha1(bytes.fromhex('0102030405060708' '1112131415161718' 'c6120001' '01f4'))
        let p = strait_crypto::default_provider();
        let h = nat_d(
            &*p,
            HashAlg::Sha1,
            0x0102030405060708,
            0x1112131415161718,
            "198.18.0.1:500".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(hex::encode(h), NAT_D_SHA1);
    }

    #[test]
    fn modes_follow_the_variant() {
        let rfc = PeerVendors {
            natt_rfc: true,
            ..Default::default()
        };
        let draft = PeerVendors {
            natt_draft: true,
            ..Default::default()
        };
        assert_eq!(encap_mode(&rfc, true, false), encap::UDP_TUNNEL);
        assert_eq!(encap_mode(&draft, true, false), encap::UDP_TUNNEL_DRAFT);
        assert_eq!(encap_mode(&draft, false, true), encap::TRANSPORT);
        assert_eq!(nat_d_payload(&draft), payload::NAT_D_DRAFT);
    }

    const NAT_D_SHA1: &str = "8cdeb44b23012b6edb868e170393544d5de1bbd8";
}
