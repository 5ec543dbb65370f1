//! IKEv1 SA payloads (RFC 2407 §4.5, RFC 2409 Appendix A) built from the shared
//! [`IkeProposal`]s and [`EspProposal`]s, and the responder's choice checked against them.
//!
//! IKEv1 cannot say everything a strongSwan proposal string can: phase 1 has no AEAD ciphers
//! and no separate PRF (the PRF is the HMAC of the negotiated hash). Each phase 1 transform
//! is one complete combination, so an IKEv2-style proposal becomes the cross product of its
//! alternatives. Whatever cannot be expressed is skipped; if nothing is left, a plain-words
//! error says what to write instead.

use std::time::Duration;

use strait_crypto::DhGroup;

use super::attributes::{self, Attribute};
use super::wire::{emit_chain, parse_chain, payload};
use crate::proposal::{Encr, EspProposal, IkeProposal, Integ, Prf};
use crate::v2::proposal_wire::{NegotiatedEsp, NegotiatedIke};

/// IPsec DOI.
pub const DOI_IPSEC: u32 = 1;
/// SIT_IDENTITY_ONLY.
pub const SIT_IDENTITY_ONLY: u32 = 1;
/// Protocol ID of ISAKMP.
pub const PROTO_ISAKMP: u8 = 1;
/// Protocol ID of ESP.
pub const PROTO_ESP: u8 = 3;
/// Transform ID of phase 1 transforms.
const KEY_IKE: u8 = 1;
/// The most transforms one proposal payload can count.
const MAX_TRANSFORMS: usize = 255;

/// Phase 1 attribute types (RFC 2409 Appendix A).
pub mod p1 {
    /// Encryption algorithm.
    pub const ENCRYPTION: u16 = 1;
    /// Hash algorithm.
    pub const HASH: u16 = 2;
    /// Authentication method.
    pub const AUTH_METHOD: u16 = 3;
    /// Group description.
    pub const GROUP: u16 = 4;
    /// Life type.
    pub const LIFE_TYPE: u16 = 11;
    /// Life duration.
    pub const LIFE_DURATION: u16 = 12;
    /// Key length.
    pub const KEY_LENGTH: u16 = 14;
}

/// Phase 2 (IPsec DOI) attribute types (RFC 2407 §4.5).
pub mod p2 {
    /// SA life type.
    pub const LIFE_TYPE: u16 = 1;
    /// SA life duration.
    pub const LIFE_DURATION: u16 = 2;
    /// Group description (PFS).
    pub const GROUP: u16 = 3;
    /// Encapsulation mode.
    pub const ENCAP_MODE: u16 = 4;
    /// Authentication algorithm.
    pub const AUTH_ALG: u16 = 5;
    /// Key length.
    pub const KEY_LENGTH: u16 = 6;
}

/// Life type seconds.
pub const LIFE_SECONDS: u16 = 1;
/// Life type kilobytes.
pub const LIFE_KILOBYTES: u16 = 2;

/// Phase 1 authentication methods.
pub mod auth_method {
    /// Pre-shared key.
    pub const PSK: u16 = 1;
    /// RSA signatures.
    pub const RSA_SIG: u16 = 3;
    /// XAuth after a PSK phase 1, initiator side.
    pub const XAUTH_INIT_PSK: u16 = 65001;
    /// XAuth after an RSA phase 1, initiator side.
    pub const XAUTH_INIT_RSA: u16 = 65005;
}

/// Encapsulation modes (RFC 2407, RFC 3947, NAT-T drafts).
pub mod encap {
    /// Tunnel.
    pub const TUNNEL: u16 = 1;
    /// Transport.
    pub const TRANSPORT: u16 = 2;
    /// UDP-encapsulated tunnel (RFC 3947).
    pub const UDP_TUNNEL: u16 = 3;
    /// UDP-encapsulated transport (RFC 3947).
    pub const UDP_TRANSPORT: u16 = 4;
    /// UDP-encapsulated tunnel (drafts).
    pub const UDP_TUNNEL_DRAFT: u16 = 61443;
    /// UDP-encapsulated transport (drafts).
    pub const UDP_TRANSPORT_DRAFT: u16 = 61444;
}

/// Why an SA payload could not be built or the answer is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Nothing in the profile can be said in IKEv1.
    #[error("{0}")]
    Inexpressible(String),
    /// The responder's SA payload is malformed or names something we did not offer.
    #[error("{0}")]
    BadChoice(&'static str),
}

const fn p1_encr(e: Encr) -> Option<(u16, Option<u16>)> {
    match e {
        Encr::Des => Some((1, None)),
        Encr::TripleDes => Some((5, None)),
        Encr::AesCbc(bits) => Some((7, Some(bits))),
        _ => None,
    }
}

const fn p1_hash(i: Integ) -> u16 {
    match i {
        Integ::HmacMd5_96 => 1,
        Integ::HmacSha1_96 => 2,
        Integ::HmacSha256_128 => 4,
        Integ::HmacSha384_192 => 5,
        Integ::HmacSha512_256 => 6,
    }
}

const fn esp_encr(e: Encr) -> Option<(u8, Option<u16>)> {
    match e {
        Encr::Des => Some((2, None)),
        Encr::TripleDes => Some((3, None)),
        Encr::AesCbc(bits) => Some((12, Some(bits))),
        Encr::AesGcm16(bits) => Some((20, Some(bits))),
        Encr::ChaCha20Poly1305 => None,
    }
}

const fn esp_auth(i: Integ) -> u16 {
    match i {
        Integ::HmacMd5_96 => 1,
        Integ::HmacSha1_96 => 2,
        Integ::HmacSha256_128 => 5,
        Integ::HmacSha384_192 => 6,
        Integ::HmacSha512_256 => 7,
    }
}

/// One phase 1 transform: a complete combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P1Transform {
    /// Encryption.
    pub encr: Encr,
    /// Hash (and, as HMAC, the PRF).
    pub hash: Integ,
    /// DH group.
    pub dh: DhGroup,
}

impl P1Transform {
    /// The algorithms in the shared form the service shows.
    pub fn negotiated(&self) -> NegotiatedIke {
        NegotiatedIke {
            encr: self.encr,
            integ: Some(self.hash),
            prf: self.prf(),
            dh: self.dh,
        }
    }

    /// The PRF: HMAC with the negotiated hash (RFC 2409 §4).
    pub fn prf(&self) -> Prf {
        self.hash.matching_prf()
    }
}

/// Phase 1 transforms for `offered`, in order of preference.
pub fn phase1_transforms(offered: &[IkeProposal]) -> Result<Vec<P1Transform>, ProposalError> {
    let mut out = Vec::new();
    for p in offered {
        for e in p.encr.iter().copied().filter(|e| p1_encr(*e).is_some()) {
            for h in &p.integ {
                for g in &p.dh {
                    let t = P1Transform {
                        encr: e,
                        hash: *h,
                        dh: *g,
                    };
                    if !out.contains(&t) && out.len() < MAX_TRANSFORMS {
                        out.push(t);
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(ProposalError::Inexpressible(
            "IKEv1 phase 1 has no AEAD ciphers (AES-GCM, ChaCha20-Poly1305) and needs an \
             integrity algorithm; add a CBC proposal such as aes256-sha256-modp2048 to [crypto] \
             ike in the profile"
                .into(),
        ));
    }
    Ok(out)
}

fn p1_attributes(t: &P1Transform, auth: u16, lifetime: Duration) -> Vec<Attribute> {
    let mut a = Vec::new();
    if let Some((id, bits)) = p1_encr(t.encr) {
        a.push(Attribute::basic(p1::ENCRYPTION, id));
        if let Some(bits) = bits {
            a.push(Attribute::basic(p1::KEY_LENGTH, bits));
        }
    }
    a.push(Attribute::basic(p1::HASH, p1_hash(t.hash)));
    a.push(Attribute::basic(p1::AUTH_METHOD, auth));
    a.push(Attribute::basic(p1::GROUP, t.dh.iana_id()));
    a.push(Attribute::basic(p1::LIFE_TYPE, LIFE_SECONDS));
    a.push(Attribute::number(
        p1::LIFE_DURATION,
        u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX),
    ));
    a
}

/// A proposal to serialise: number, protocol, SPI, and transforms (ID and attributes).
type ProposalSpec = (u8, u8, Vec<u8>, Vec<(u8, Vec<Attribute>)>);

fn sa_body(proposals: &[ProposalSpec]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&DOI_IPSEC.to_be_bytes());
    out.extend_from_slice(&SIT_IDENTITY_ONLY.to_be_bytes());
    let props: Vec<(u8, Vec<u8>)> = proposals
        .iter()
        .map(|(number, protocol, spi, transforms)| {
            let ts: Vec<(u8, Vec<u8>)> = transforms
                .iter()
                .zip(1u8..)
                .map(|((id, attrs), n)| {
                    let mut body = vec![n, *id, 0, 0];
                    body.extend_from_slice(&attributes::emit(attrs));
                    (payload::TRANSFORM, body)
                })
                .collect();
            let mut body = vec![*number, *protocol, spi.len() as u8, ts.len() as u8];
            body.extend_from_slice(spi);
            body.extend_from_slice(&emit_chain(&ts).1);
            (payload::PROPOSAL, body)
        })
        .collect();
    out.extend_from_slice(&emit_chain(&props).1);
    out
}

/// The phase 1 SA payload body: one proposal, one transform per combination.
pub fn phase1_sa(transforms: &[P1Transform], auth: u16, lifetime: Duration) -> Vec<u8> {
    let ts = transforms
        .iter()
        .map(|t| (KEY_IKE, p1_attributes(t, auth, lifetime)))
        .collect();
    sa_body(&[(1, PROTO_ISAKMP, Vec::new(), ts)])
}

/// One proposal of an SA payload.
struct WireProposal {
    number: u8,
    protocol: u8,
    spi: Vec<u8>,
    transforms: Vec<(u8, Vec<Attribute>)>,
}

fn parse_sa(body: &[u8]) -> Result<Vec<WireProposal>, ProposalError> {
    let bad = ProposalError::BadChoice;
    let fixed = body.get(..8).ok_or(bad("the SA payload is truncated"))?;
    if fixed[..4] != DOI_IPSEC.to_be_bytes() {
        return Err(bad("the SA payload is not for the IPsec DOI"));
    }
    let (props, _) = parse_chain(payload::PROPOSAL, &body[8..])
        .map_err(|_| bad("the SA payload is malformed"))?;
    let mut out = Vec::new();
    for p in props {
        if p.kind != payload::PROPOSAL {
            return Err(bad("the SA payload holds something other than proposals"));
        }
        let f = p.body.get(..4).ok_or(bad("a proposal is truncated"))?;
        let spi_len = usize::from(f[2]);
        let spi = p
            .body
            .get(4..4 + spi_len)
            .ok_or(bad("a proposal is truncated"))?
            .to_vec();
        let (ts, _) = parse_chain(payload::TRANSFORM, &p.body[4 + spi_len..])
            .map_err(|_| bad("a proposal is malformed"))?;
        let mut transforms = Vec::new();
        for t in ts {
            if t.kind != payload::TRANSFORM || t.body.len() < 4 {
                return Err(bad("a transform is malformed"));
            }
            let attrs =
                attributes::parse(&t.body[4..]).ok_or(bad("transform attributes are malformed"))?;
            transforms.push((t.body[1], attrs));
        }
        out.push(WireProposal {
            number: f[0],
            protocol: f[1],
            spi,
            transforms,
        });
    }
    Ok(out)
}

fn only_one(props: Vec<WireProposal>) -> Result<(WireProposal, Vec<Attribute>, u8), ProposalError> {
    let mut props = props;
    if props.len() != 1 || props[0].transforms.len() != 1 {
        return Err(ProposalError::BadChoice(
            "the gateway must choose exactly one proposal with one transform",
        ));
    }
    let mut p = props.remove(0);
    let (id, attrs) = p.transforms.remove(0);
    Ok((p, attrs, id))
}

/// The lifetime in seconds among `attrs` (type/duration pairs; kilobyte lifetimes skipped).
pub fn lifetime_seconds(attrs: &[Attribute], life_type: u16, duration: u16) -> Option<Duration> {
    life_seconds(attrs, life_type, duration)
}

fn life_seconds(attrs: &[Attribute], life_type: u16, duration: u16) -> Option<Duration> {
    // Types and durations come in pairs; seconds is what we plan rekeys with.
    let mut kind = None;
    let mut secs = None;
    for a in attrs {
        if a.kind == life_type {
            kind = a.as_u16();
        } else if a.kind == duration && kind == Some(LIFE_SECONDS) {
            secs = a.as_u64().map(Duration::from_secs);
        }
    }
    secs
}

/// What the gateway chose in phase 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P1Choice {
    /// The algorithms.
    pub transform: P1Transform,
    /// The authentication method.
    pub auth: u16,
    /// The lifetime in seconds, if the gateway named one.
    pub lifetime: Option<Duration>,
}

/// Checks the gateway's phase 1 SA payload against what we offered.
pub fn phase1_choice(
    body: &[u8],
    offered: &[P1Transform],
    auth: u16,
) -> Result<P1Choice, ProposalError> {
    let bad = ProposalError::BadChoice;
    let (p, attrs, id) = only_one(parse_sa(body)?)?;
    if p.protocol != PROTO_ISAKMP || id != KEY_IKE {
        return Err(bad("the chosen proposal is not an ISAKMP one"));
    }
    let num = |k| attributes::find(&attrs, k).and_then(Attribute::as_u16);
    let got_auth = num(p1::AUTH_METHOD).ok_or(bad("the chosen transform has no auth method"))?;
    if got_auth != auth {
        return Err(bad(
            "the gateway chose another authentication method than ours",
        ));
    }
    let t = offered
        .iter()
        .find(|t| {
            let (e, bits) = p1_encr(t.encr).unwrap_or((0, None));
            num(p1::ENCRYPTION) == Some(e)
                && num(p1::KEY_LENGTH) == bits
                && num(p1::HASH) == Some(p1_hash(t.hash))
                && num(p1::GROUP) == Some(t.dh.iana_id())
        })
        .ok_or(bad("the gateway chose a transform we did not offer"))?;
    Ok(P1Choice {
        transform: *t,
        auth,
        lifetime: life_seconds(&attrs, p1::LIFE_TYPE, p1::LIFE_DURATION),
    })
}

/// One ESP transform: a complete combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspTransform {
    /// Encryption.
    pub encr: Encr,
    /// Integrity (`None` for AEAD).
    pub integ: Option<Integ>,
}

/// ESP proposals for Quick Mode: proposal number and its transforms.
pub fn esp_transforms(offered: &[EspProposal]) -> Result<Vec<Vec<EspTransform>>, ProposalError> {
    let mut out = Vec::new();
    for p in offered {
        let mut ts = Vec::new();
        for e in p.encr.iter().copied().filter(|e| esp_encr(*e).is_some()) {
            if e.is_aead() {
                ts.push(EspTransform {
                    encr: e,
                    integ: None,
                });
            } else {
                for i in &p.integ {
                    ts.push(EspTransform {
                        encr: e,
                        integ: Some(*i),
                    });
                }
            }
        }
        ts.truncate(MAX_TRANSFORMS);
        if !ts.is_empty() {
            out.push(ts);
        }
    }
    if out.is_empty() {
        return Err(ProposalError::Inexpressible(
            "IKEv1 cannot negotiate ChaCha20-Poly1305 for ESP; add a proposal such as \
             aes256gcm16 or aes256-sha256 to [crypto] esp in the profile"
                .into(),
        ));
    }
    Ok(out)
}

/// The Quick Mode SA payload body with our inbound SPI.
pub fn quick_sa(
    proposals: &[Vec<EspTransform>],
    spi: u32,
    pfs: Option<DhGroup>,
    encap_mode: u16,
    lifetime: Duration,
) -> Vec<u8> {
    let props: Vec<_> = proposals
        .iter()
        .zip(1u8..)
        .map(|(ts, number)| {
            let transforms = ts
                .iter()
                .map(|t| {
                    let (id, bits) = esp_encr(t.encr).unwrap_or((0, None));
                    let mut a = vec![
                        Attribute::basic(p2::LIFE_TYPE, LIFE_SECONDS),
                        Attribute::number(
                            p2::LIFE_DURATION,
                            u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX),
                        ),
                    ];
                    if let Some(g) = pfs {
                        a.push(Attribute::basic(p2::GROUP, g.iana_id()));
                    }
                    a.push(Attribute::basic(p2::ENCAP_MODE, encap_mode));
                    if let Some(i) = t.integ {
                        a.push(Attribute::basic(p2::AUTH_ALG, esp_auth(i)));
                    }
                    if let Some(bits) = bits {
                        a.push(Attribute::basic(p2::KEY_LENGTH, bits));
                    }
                    (id, a)
                })
                .collect();
            (number, PROTO_ESP, spi.to_be_bytes().to_vec(), transforms)
        })
        .collect();
    sa_body(&props)
}

/// What the gateway chose in Quick Mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspChoice {
    /// The algorithms in IKEv2 terms, with the gateway's SPI.
    pub negotiated: NegotiatedEsp,
    /// The gateway's lifetime, if it named one in the transform.
    pub lifetime: Option<Duration>,
    /// The encapsulation mode it accepted.
    pub encap_mode: u16,
}

/// Checks the gateway's Quick Mode SA payload against what we offered.
pub fn quick_choice(
    body: &[u8],
    offered: &[Vec<EspTransform>],
    pfs: Option<DhGroup>,
) -> Result<EspChoice, ProposalError> {
    let bad = ProposalError::BadChoice;
    let (p, attrs, id) = only_one(parse_sa(body)?)?;
    if p.protocol != PROTO_ESP || p.spi.len() != 4 {
        return Err(bad(
            "the chosen proposal is not an ESP one with a 4-byte SPI",
        ));
    }
    let num = |k| attributes::find(&attrs, k).and_then(Attribute::as_u16);
    let ts = offered
        .get(usize::from(p.number).wrapping_sub(1))
        .ok_or(bad("the gateway chose a proposal number we did not send"))?;
    let t = ts
        .iter()
        .find(|t| {
            let (e, bits) = esp_encr(t.encr).unwrap_or((0, None));
            e == id && num(p2::KEY_LENGTH) == bits && num(p2::AUTH_ALG) == t.integ.map(esp_auth)
        })
        .ok_or(bad("the gateway chose an ESP transform we did not offer"))?;
    let group = num(p2::GROUP);
    if group != pfs.map(DhGroup::iana_id) {
        return Err(bad("the gateway's PFS group differs from ours"));
    }
    let mut spi = [0u8; 4];
    spi.copy_from_slice(&p.spi);
    Ok(EspChoice {
        negotiated: NegotiatedEsp {
            encr: t.encr,
            integ: t.integ,
            dh: pfs,
            esn: false,
            peer_spi: u32::from_be_bytes(spi),
        },
        lifetime: life_seconds(&attrs, p2::LIFE_TYPE, p2::LIFE_DURATION),
        encap_mode: num(p2::ENCAP_MODE).unwrap_or(encap::TUNNEL),
    })
}

/// Whether the gateway's own Quick Mode offer (it rekeys) contains transform `t` with PFS
/// group `pfs`.
pub fn gateway_offers(body: &[u8], t: &EspTransform, pfs: Option<DhGroup>) -> bool {
    let Ok(props) = parse_sa(body) else {
        return false;
    };
    let (e, bits) = esp_encr(t.encr).unwrap_or((0, None));
    props
        .iter()
        .filter(|p| p.protocol == PROTO_ESP && p.spi.len() == 4)
        .any(|p| {
            p.transforms.iter().any(|(id, attrs)| {
                let num = |k| attributes::find(attrs, k).and_then(Attribute::as_u16);
                *id == e
                    && num(p2::KEY_LENGTH) == bits
                    && num(p2::AUTH_ALG) == t.integ.map(esp_auth)
                    && num(p2::GROUP) == pfs.map(DhGroup::iana_id)
            })
        })
}

/// The SPI of the gateway's first ESP proposal (its inbound SPI when it starts Quick Mode).
pub fn first_spi(body: &[u8]) -> Option<u32> {
    let props = parse_sa(body).ok()?;
    let p = props.iter().find(|p| p.protocol == PROTO_ESP)?;
    Some(u32::from_be_bytes(
        <[u8; 4]>::try_from(p.spi.as_slice()).ok()?,
    ))
}

/// Readable list of what we offered, for NO-PROPOSAL-CHOSEN errors.
pub fn describe_p1(offered: &[P1Transform]) -> String {
    let mut v: Vec<String> = offered.iter().map(|t| t.negotiated().to_string()).collect();
    v.dedup();
    v.join(", ")
}

/// Readable list of what we offered in Quick Mode.
pub fn describe_esp(offered: &[Vec<EspTransform>], pfs: Option<DhGroup>) -> String {
    let mut v = Vec::new();
    for t in offered.iter().flatten() {
        let mut s = t.encr.to_string();
        if let Some(i) = t.integ {
            s.push('/');
            s.push_str(&i.to_string());
        }
        if let Some(g) = pfs {
            s.push('/');
            s.push_str(crate::proposal::dh_name(g));
        }
        v.push(s);
    }
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p1_answer(t: &P1Transform, auth: u16) -> Vec<u8> {
        phase1_sa(std::slice::from_ref(t), auth, Duration::from_secs(28800))
    }

    #[test]
    fn phase1_cross_product_and_choice() {
        let offered =
            phase1_transforms(&[
                IkeProposal::parse("aes256-aes128-sha256-modp2048-ecp256", false).unwrap(),
            ])
            .unwrap();
        assert_eq!(offered.len(), 4);
        let chosen = offered[3];
        let answer = p1_answer(&chosen, auth_method::PSK);
        let c = phase1_choice(&answer, &offered, auth_method::PSK).unwrap();
        assert_eq!(c.transform, chosen);
        assert_eq!(c.lifetime, Some(Duration::from_secs(28800)));
        assert!(phase1_choice(&answer, &offered, auth_method::RSA_SIG).is_err());
        let other = P1Transform {
            encr: Encr::AesCbc(192),
            ..chosen
        };
        assert!(phase1_choice(&p1_answer(&other, 1), &offered, 1).is_err());
        // The whole offer is not a choice.
        let all = phase1_sa(&offered, 1, Duration::from_secs(10));
        assert!(phase1_choice(&all, &offered, 1).is_err());
    }

    #[test]
    fn aead_only_phase1_is_refused_in_plain_words() {
        let e =
            phase1_transforms(
                &[IkeProposal::parse("aes256gcm16-prfsha256-ecp256", false).unwrap()],
            )
            .unwrap_err();
        assert!(e.to_string().contains("aes256-sha256-modp2048"), "{e}");
    }

    #[test]
    fn quick_mode_choice_maps_to_ikev2_numbers() {
        let offered = esp_transforms(&[
            EspProposal::parse("aes256gcm16", false).unwrap(),
            EspProposal::parse("aes128-sha256", false).unwrap(),
        ])
        .unwrap();
        let answer = quick_sa(
            &[vec![offered[1][0]]],
            0xdeadbeef,
            Some(DhGroup::Modp2048),
            encap::UDP_TUNNEL,
            Duration::from_secs(3600),
        );
        // Our proposal 1 is GCM; an answer numbered 1 naming AES-CBC does not match it.
        assert!(quick_choice(&answer, &offered, Some(DhGroup::Modp2048)).is_err());
        let mut renumbered = answer.clone();
        renumbered[8 + 4] = 2; // proposal number
        let c = quick_choice(&renumbered, &offered, Some(DhGroup::Modp2048)).unwrap();
        assert_eq!(c.negotiated.peer_spi, 0xdeadbeef);
        assert_eq!(c.negotiated.encr, Encr::AesCbc(128));
        assert_eq!(c.negotiated.integ, Some(Integ::HmacSha256_128));
        assert_eq!(c.encap_mode, encap::UDP_TUNNEL);
        assert!(
            quick_choice(&renumbered, &offered, None).is_err(),
            "PFS mismatch"
        );
    }

    #[test]
    fn malformed_sa_payloads_are_errors() {
        let offered = phase1_transforms(&IkeProposal::default_set()).unwrap();
        let good = p1_answer(&offered[0], 1);
        for n in 0..good.len() {
            assert!(phase1_choice(&good[..n], &offered, 1).is_err());
        }
        let mut lying = good.clone();
        lying[8 + 3] = 0xff; // proposal length
        assert!(phase1_choice(&lying, &offered, 1).is_err());
    }
}
