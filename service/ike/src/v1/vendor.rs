//! Vendor ID payloads (RFC 2408 §3.16): how IKEv1 peers announce extensions. We send the ones
//! for what we implement and recognise the gateway's by name for the log and to enable
//! NAT-T, DPD and XAuth/Unity behaviour.

use tracing::info;

/// RFC 3947 NAT traversal.
pub const NATT_RFC3947: [u8; 16] = hex16("4a131c81070358455c5728f20e95452f");
/// draft-ietf-ipsec-nat-t-ike-02.
pub const NATT_DRAFT_02: [u8; 16] = hex16("cd60464335df21f87cfdb2fc68b6a448");
/// draft-ietf-ipsec-nat-t-ike-02 with the newline typo ("02\n").
pub const NATT_DRAFT_02N: [u8; 16] = hex16("90cb80913ebb696e086381b5ec427b1f");
/// draft-ietf-ipsec-nat-t-ike-03.
pub const NATT_DRAFT_03: [u8; 16] = hex16("7d9419a65310ca6f2c179d9215529d56");
/// XAuth (draft-beaulieu-ike-xauth).
pub const XAUTH: [u8; 8] = [0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12];
/// Cisco Unity.
pub const UNITY: [u8; 16] = hex16("12f5f28c457168a9702d9fe274cc0100");
/// Dead Peer Detection (RFC 3706).
pub const DPD: [u8; 16] = hex16("afcad71368a1f1c96b8696fc77570100");
/// IKE fragmentation (Cisco/strongSwan proprietary).
pub const FRAGMENTATION: [u8; 16] = hex16("4048b7d56ebce88525e7de7f00d6c2d3");

const fn hex16(s: &str) -> [u8; 16] {
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

/// The extensions a gateway's vendor IDs announce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerVendors {
    /// RFC 3947 NAT-T.
    pub natt_rfc: bool,
    /// One of the NAT-T drafts.
    pub natt_draft: bool,
    /// DPD.
    pub dpd: bool,
    /// XAuth.
    pub xauth: bool,
    /// Cisco Unity.
    pub unity: bool,
}

impl PeerVendors {
    /// Whether NAT-T was negotiated in either form.
    pub fn natt(&self) -> bool {
        self.natt_rfc || self.natt_draft
    }
}

/// The vendor IDs we send: NAT-T (RFC and drafts), XAuth, Cisco Unity, DPD.
pub fn ours(xauth: bool) -> Vec<Vec<u8>> {
    let mut v = vec![
        NATT_RFC3947.to_vec(),
        NATT_DRAFT_03.to_vec(),
        NATT_DRAFT_02N.to_vec(),
        NATT_DRAFT_02.to_vec(),
        DPD.to_vec(),
        UNITY.to_vec(),
    ];
    if xauth {
        v.push(XAUTH.to_vec());
    }
    v
}

/// A name for a vendor ID we know, matched by prefix where vendors append versions or flags.
pub fn name(vid: &[u8]) -> Option<&'static str> {
    let known: [(&[u8], &str, bool); 11] = [
        (&NATT_RFC3947, "NAT-T (RFC 3947)", false),
        (&NATT_DRAFT_02, "NAT-T draft-02", false),
        (&NATT_DRAFT_02N, "NAT-T draft-02n", false),
        (&NATT_DRAFT_03, "NAT-T draft-03", false),
        (&XAUTH, "XAuth", false),
        (&UNITY, "Cisco Unity", false),
        (&DPD, "DPD", false),
        (&FRAGMENTATION, "IKE fragmentation", true),
        // MD5("strongSwan"), sent with charon.send_vendor_id.
        (
            &hex16("882fe56d6fd20dbc2251613b2ebe5beb"),
            "strongSwan",
            false,
        ),
        // Libreswan sends the plain string "OE-Libreswan-<version>".
        (b"OE-Libreswan", "Libreswan", true),
        // Cisco-specific "CISCO-UNITY" and IOS versions share this prefix.
        (
            &[0x1f, 0x07, 0xf7, 0x0e, 0xaa, 0x65, 0x14, 0xd3],
            "Cisco VPN Concentrator",
            true,
        ),
    ];
    known.iter().find_map(|(bytes, n, prefix)| {
        let hit = if *prefix {
            vid.starts_with(bytes)
        } else {
            vid == *bytes
        };
        hit.then_some(*n)
    })
}

/// Records and logs the gateway's vendor IDs.
pub fn recognise(vids: &[&[u8]]) -> PeerVendors {
    let mut v = PeerVendors::default();
    for vid in vids {
        match name(vid) {
            Some(n) => info!(vendor_id = n, "the gateway sent a vendor ID"),
            None => info!(
                vendor_id = %vid.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>(),
                "the gateway sent an unknown vendor ID"
            ),
        }
        match *vid {
            x if x == NATT_RFC3947 => v.natt_rfc = true,
            x if x == NATT_DRAFT_02 || x == NATT_DRAFT_02N || x == NATT_DRAFT_03 => {
                v.natt_draft = true
            }
            x if x == DPD => v.dpd = true,
            x if x == XAUTH => v.xauth = true,
            x if x == UNITY => v.unity = true,
            _ => {}
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_flags() {
        assert_eq!(name(&NATT_RFC3947), Some("NAT-T (RFC 3947)"));
        let mut frag = FRAGMENTATION.to_vec();
        frag.extend_from_slice(&[0xc0, 0, 0, 0]);
        assert_eq!(name(&frag), Some("IKE fragmentation"));
        assert_eq!(name(b"OE-Libreswan-4.12"), Some("Libreswan"));
        assert_eq!(
            name(&hex16("882fe56d6fd20dbc2251613b2ebe5beb")),
            Some("strongSwan")
        );
        assert_eq!(name(&[1, 2, 3]), None);
        let v = recognise(&[&NATT_DRAFT_03, &DPD]);
        assert!(v.natt() && !v.natt_rfc && v.dpd && !v.xauth);
    }
}
