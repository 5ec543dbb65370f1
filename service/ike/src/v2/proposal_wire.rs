//! Proposals on the wire (RFC 7296 §3.3): turning our [`IkeProposal`]s and [`EspProposal`]s into
//! SA payload proposals, and checking that the responder's answer is one of them.
//!
//! The responder must answer with exactly one proposal holding one transform of each type, all
//! taken from one proposal we offered (§2.7). Anything else is a protocol error: accepting it
//! would let a broken or malicious gateway pick an algorithm we never agreed to.

use strait_crypto::DhGroup;

use super::wire::{transform_type, Proposal, ProtocolId, Transform};
use crate::proposal::{Encr, EspProposal, IkeProposal, Integ, Prf};

/// The IKEv2 transform ID and key length attribute of an encryption algorithm.
pub const fn encr_id(e: Encr) -> (u16, Option<u16>) {
    match e {
        Encr::Des => (2, None),
        Encr::TripleDes => (3, None),
        Encr::AesCbc(bits) => (12, Some(bits)),
        Encr::AesGcm16(bits) => (20, Some(bits)),
        Encr::ChaCha20Poly1305 => (28, None),
    }
}

/// The IKEv2 transform ID of a PRF.
pub const fn prf_id(p: Prf) -> u16 {
    match p {
        Prf::HmacMd5 => 1,
        Prf::HmacSha1 => 2,
        Prf::HmacSha256 => 5,
        Prf::HmacSha384 => 6,
        Prf::HmacSha512 => 7,
    }
}

/// The IKEv2 transform ID of an integrity algorithm.
pub const fn integ_id(i: Integ) -> u16 {
    match i {
        Integ::HmacMd5_96 => 1,
        Integ::HmacSha1_96 => 2,
        Integ::HmacSha256_128 => 12,
        Integ::HmacSha384_192 => 13,
        Integ::HmacSha512_256 => 14,
    }
}

fn transform(transform_type: u8, (id, key_length): (u16, Option<u16>)) -> Transform {
    match key_length {
        Some(bits) => Transform::with_key_length(transform_type, id, bits),
        None => Transform::new(transform_type, id),
    }
}

/// What was agreed for an IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedIke {
    /// Encryption.
    pub encr: Encr,
    /// Integrity (`None` for AEAD).
    pub integ: Option<Integ>,
    /// PRF.
    pub prf: Prf,
    /// Diffie-Hellman group.
    pub dh: DhGroup,
}

impl std::fmt::Display for NegotiatedIke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.encr)?;
        if let Some(i) = self.integ {
            write!(f, "/{i}")?;
        }
        write!(f, "/{}/{}", self.prf, crate::proposal::dh_name(self.dh))
    }
}

/// What was agreed for a child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedEsp {
    /// Encryption.
    pub encr: Encr,
    /// Integrity (`None` for AEAD).
    pub integ: Option<Integ>,
    /// PFS group, if any.
    pub dh: Option<DhGroup>,
    /// Extended sequence numbers.
    pub esn: bool,
    /// The responder's SPI (the SPI of our outbound SA).
    pub peer_spi: u32,
}

impl std::fmt::Display for NegotiatedEsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.encr)?;
        if let Some(i) = self.integ {
            write!(f, "/{i}")?;
        }
        if let Some(g) = self.dh {
            write!(f, "/{}", crate::proposal::dh_name(g))?;
        }
        if self.esn {
            f.write_str("/ESN")?;
        }
        Ok(())
    }
}

/// IKE proposals for an SA payload. `spi` is empty in IKE_SA_INIT and our new 8-byte SPI when
/// rekeying the IKE SA.
pub fn ike_to_wire(offered: &[IkeProposal], spi: &[u8]) -> Vec<Proposal> {
    offered
        .iter()
        .zip(1u8..)
        .map(|(p, number)| {
            let mut t: Vec<Transform> = p
                .encr
                .iter()
                .map(|e| transform(transform_type::ENCR, encr_id(*e)))
                .collect();
            t.extend(
                p.prf
                    .iter()
                    .map(|x| transform(transform_type::PRF, (prf_id(*x), None))),
            );
            t.extend(
                p.integ
                    .iter()
                    .map(|x| transform(transform_type::INTEG, (integ_id(*x), None))),
            );
            t.extend(
                p.dh.iter()
                    .map(|g| transform(transform_type::DH, (g.iana_id(), None))),
            );
            Proposal {
                number,
                protocol: ProtocolId::Ike,
                spi: spi.to_vec(),
                transforms: t,
            }
        })
        .collect()
}

/// ESP proposals for an SA payload with our inbound SPI. `with_dh` is false in IKE_AUTH, where
/// no key exchange happens and strongSwan (like RFC 7296 §1.2 suggests) expects no DH transform;
/// `forced_dh` replaces the groups when the responder asked for another one (INVALID_KE_PAYLOAD).
pub fn esp_to_wire(
    offered: &[EspProposal],
    spi: u32,
    with_dh: bool,
    forced_dh: Option<DhGroup>,
) -> Vec<Proposal> {
    offered
        .iter()
        .zip(1u8..)
        .map(|(p, number)| {
            let mut t: Vec<Transform> = p
                .encr
                .iter()
                .map(|e| transform(transform_type::ENCR, encr_id(*e)))
                .collect();
            t.extend(
                p.integ
                    .iter()
                    .map(|x| transform(transform_type::INTEG, (integ_id(*x), None))),
            );
            if with_dh && p.has_pfs() {
                let groups = match forced_dh {
                    Some(g) if p.dh.contains(&g) => vec![g],
                    _ => p.dh.clone(),
                };
                t.extend(
                    groups
                        .iter()
                        .map(|g| transform(transform_type::DH, (g.iana_id(), None))),
                );
            }
            t.extend(
                p.esn
                    .iter()
                    .map(|e| transform(transform_type::ESN, (u16::from(*e), None))),
            );
            Proposal {
                number,
                protocol: ProtocolId::Esp,
                spi: spi.to_be_bytes().to_vec(),
                transforms: t,
            }
        })
        .collect()
}

/// Why the responder's SA payload was not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Not exactly one proposal.
    #[error("the gateway answered with {0} proposals instead of one")]
    ProposalCount(usize),
    /// Wrong protocol or SPI size.
    #[error("the gateway's proposal has the wrong protocol or SPI")]
    BadProtocol,
    /// The chosen transforms are not one of our proposals.
    #[error("the gateway chose algorithms we did not offer")]
    NotOffered,
}

/// The one transform of each type in a chosen proposal; `None` for a missing type, error for
/// a type given twice.
fn single(p: &Proposal, ty: u8) -> Result<Option<&Transform>, SelectError> {
    if p.transforms.iter().any(|t| !t.other_attributes.is_empty()) {
        return Err(SelectError::NotOffered);
    }
    let mut it = p.transforms.iter().filter(|t| t.transform_type == ty);
    let first = it.next();
    if it.next().is_some() {
        return Err(SelectError::NotOffered);
    }
    Ok(first)
}

fn chosen_encr(p: &Proposal, offered: &[Encr]) -> Result<Encr, SelectError> {
    let t = single(p, transform_type::ENCR)?.ok_or(SelectError::NotOffered)?;
    offered
        .iter()
        .copied()
        .find(|e| encr_id(*e) == (t.id, t.key_length))
        .ok_or(SelectError::NotOffered)
}

fn chosen_integ(p: &Proposal, offered: &[Integ]) -> Result<Option<Integ>, SelectError> {
    match single(p, transform_type::INTEG)? {
        // Some responders send INTEG NONE (id 0) with AEAD.
        None => Ok(None),
        Some(t) if t.id == 0 && offered.is_empty() => Ok(None),
        Some(t) => offered
            .iter()
            .copied()
            .find(|i| integ_id(*i) == t.id)
            .map(Some)
            .ok_or(SelectError::NotOffered),
    }
    .and_then(|i| {
        if i.is_none() != offered.is_empty() {
            Err(SelectError::NotOffered)
        } else {
            Ok(i)
        }
    })
}

fn chosen_dh(p: &Proposal, offered: &[DhGroup]) -> Result<Option<DhGroup>, SelectError> {
    match single(p, transform_type::DH)? {
        None => Ok(None),
        Some(t) if t.id == 0 => Ok(None),
        Some(t) => offered
            .iter()
            .copied()
            .find(|g| g.iana_id() == t.id)
            .map(Some)
            .ok_or(SelectError::NotOffered),
    }
}

fn the_one(response: &[Proposal]) -> Result<&Proposal, SelectError> {
    match response {
        [p] => Ok(p),
        other => Err(SelectError::ProposalCount(other.len())),
    }
}

/// Checks the responder's IKE SA payload against what we offered. `spi_len` is 0 in
/// IKE_SA_INIT and 8 for an IKE SA rekey. Returns the agreement and the responder's SPI bytes.
pub fn select_ike(
    offered: &[IkeProposal],
    response: &[Proposal],
    spi_len: usize,
) -> Result<(NegotiatedIke, Vec<u8>), SelectError> {
    let p = the_one(response)?;
    if p.protocol != ProtocolId::Ike || p.spi.len() != spi_len {
        return Err(SelectError::BadProtocol);
    }
    // Prefer the proposal with the number the responder echoed, but accept any that matches:
    // some gateways renumber.
    let candidates = offered
        .get(usize::from(p.number).wrapping_sub(1))
        .into_iter()
        .chain(offered.iter());
    for o in candidates {
        let pick = || -> Result<NegotiatedIke, SelectError> {
            let prf_t = single(p, transform_type::PRF)?.ok_or(SelectError::NotOffered)?;
            let prf = o
                .prf
                .iter()
                .copied()
                .find(|x| prf_id(*x) == prf_t.id)
                .ok_or(SelectError::NotOffered)?;
            Ok(NegotiatedIke {
                encr: chosen_encr(p, &o.encr)?,
                integ: chosen_integ(p, &o.integ)?,
                prf,
                dh: chosen_dh(p, &o.dh)?.ok_or(SelectError::NotOffered)?,
            })
        };
        if let Ok(n) = pick() {
            return Ok((n, p.spi.clone()));
        }
    }
    Err(SelectError::NotOffered)
}

/// Checks the responder's ESP SA payload against what we offered. `with_dh` says whether we
/// sent a KE payload (PFS): then a proposal with PFS must come back with its group.
pub fn select_esp(
    offered: &[EspProposal],
    response: &[Proposal],
    with_dh: bool,
) -> Result<NegotiatedEsp, SelectError> {
    let p = the_one(response)?;
    if p.protocol != ProtocolId::Esp {
        return Err(SelectError::BadProtocol);
    }
    let peer_spi = <[u8; 4]>::try_from(p.spi.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| SelectError::BadProtocol)?;
    let candidates = offered
        .get(usize::from(p.number).wrapping_sub(1))
        .into_iter()
        .chain(offered.iter());
    for o in candidates {
        let pick = || -> Result<NegotiatedEsp, SelectError> {
            let dh = if with_dh { chosen_dh(p, &o.dh)? } else { None };
            if with_dh && o.has_pfs() && dh.is_none() {
                return Err(SelectError::NotOffered);
            }
            let esn = match single(p, transform_type::ESN)? {
                None => false,
                Some(t) => {
                    let e = t.id == 1;
                    if t.id > 1 || !o.esn.contains(&e) {
                        return Err(SelectError::NotOffered);
                    }
                    e
                }
            };
            Ok(NegotiatedEsp {
                encr: chosen_encr(p, &o.encr)?,
                integ: chosen_integ(p, &o.integ)?,
                dh,
                esn,
                peer_spi,
            })
        };
        if let Ok(n) = pick() {
            return Ok(n);
        }
    }
    Err(SelectError::NotOffered)
}

/// The transforms of type `ty` in a peer's proposal.
fn of_type(p: &Proposal, ty: u8) -> impl Iterator<Item = &Transform> {
    p.transforms
        .iter()
        .filter(move |t| t.transform_type == ty && t.other_attributes.is_empty())
}

/// The DH group to pick from a peer's proposal: the one its KE payload uses if we accept it,
/// else the first we accept (which then needs INVALID_KE_PAYLOAD). `None` inside means the
/// proposal has no DH transform.
fn pick_dh(p: &Proposal, ours: &[DhGroup], ke_group: Option<u16>) -> Option<Option<DhGroup>> {
    let theirs: Vec<u16> = of_type(p, transform_type::DH)
        .map(|t| t.id)
        .filter(|id| *id != 0)
        .collect();
    if theirs.is_empty() {
        return if ours.is_empty() { Some(None) } else { None };
    }
    let accept = |id: u16| ours.iter().copied().find(|g| g.iana_id() == id);
    if let Some(g) = ke_group.filter(|k| theirs.contains(k)).and_then(accept) {
        return Some(Some(g));
    }
    theirs.iter().find_map(|id| accept(*id)).map(Some)
}

/// As responder (the gateway rekeys): picks the first of the peer's ESP proposals that one of
/// ours accepts. Returns the answer proposal (one transform per type, the peer's SPI still in
/// it) and the agreement.
pub fn choose_esp(
    ours: &[EspProposal],
    theirs: &[Proposal],
    ke_group: Option<u16>,
) -> Option<(Proposal, NegotiatedEsp)> {
    for p in theirs {
        if p.protocol != ProtocolId::Esp {
            continue;
        }
        let Ok(spi) = <[u8; 4]>::try_from(p.spi.as_slice()).map(u32::from_be_bytes) else {
            continue;
        };
        for o in ours {
            let Some(encr) = of_type(p, transform_type::ENCR).find_map(|t| {
                o.encr
                    .iter()
                    .copied()
                    .find(|e| encr_id(*e) == (t.id, t.key_length))
            }) else {
                continue;
            };
            let integ = if o.integ.is_empty() {
                if of_type(p, transform_type::INTEG).any(|t| t.id != 0) {
                    continue;
                }
                None
            } else {
                match of_type(p, transform_type::INTEG)
                    .find_map(|t| o.integ.iter().copied().find(|i| integ_id(*i) == t.id))
                {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            let Some(dh) = pick_dh(p, &o.dh, ke_group) else {
                continue;
            };
            let esn_offered: Vec<bool> = of_type(p, transform_type::ESN)
                .filter(|t| t.id <= 1)
                .map(|t| t.id == 1)
                .collect();
            let esn = if esn_offered.is_empty() {
                if !o.esn.contains(&false) {
                    continue;
                }
                None
            } else {
                match esn_offered.iter().copied().find(|e| o.esn.contains(e)) {
                    Some(e) => Some(e),
                    None => continue,
                }
            };
            let mut transforms = vec![transform(transform_type::ENCR, encr_id(encr))];
            if let Some(i) = integ {
                transforms.push(transform(transform_type::INTEG, (integ_id(i), None)));
            }
            if let Some(g) = dh {
                transforms.push(transform(transform_type::DH, (g.iana_id(), None)));
            }
            if let Some(e) = esn {
                transforms.push(transform(transform_type::ESN, (u16::from(e), None)));
            }
            let chosen = Proposal {
                number: p.number,
                protocol: ProtocolId::Esp,
                spi: p.spi.clone(),
                transforms,
            };
            let agreed = NegotiatedEsp {
                encr,
                integ,
                dh,
                esn: esn.unwrap_or(false),
                peer_spi: spi,
            };
            return Some((chosen, agreed));
        }
    }
    None
}

/// As responder (the gateway rekeys the IKE SA): picks the first of the peer's IKE proposals
/// that one of ours accepts, preferring the group of the peer's KE payload.
pub fn choose_ike(
    ours: &[IkeProposal],
    theirs: &[Proposal],
    ke_group: Option<u16>,
) -> Option<(Proposal, NegotiatedIke)> {
    for p in theirs {
        if p.protocol != ProtocolId::Ike || p.spi.len() != 8 {
            continue;
        }
        for o in ours {
            let Some(encr) = of_type(p, transform_type::ENCR).find_map(|t| {
                o.encr
                    .iter()
                    .copied()
                    .find(|e| encr_id(*e) == (t.id, t.key_length))
            }) else {
                continue;
            };
            let Some(prf) = of_type(p, transform_type::PRF)
                .find_map(|t| o.prf.iter().copied().find(|x| prf_id(*x) == t.id))
            else {
                continue;
            };
            let integ = if o.integ.is_empty() {
                if of_type(p, transform_type::INTEG).any(|t| t.id != 0) {
                    continue;
                }
                None
            } else {
                match of_type(p, transform_type::INTEG)
                    .find_map(|t| o.integ.iter().copied().find(|i| integ_id(*i) == t.id))
                {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            let Some(Some(dh)) = pick_dh(p, &o.dh, ke_group) else {
                continue;
            };
            let mut transforms = vec![
                transform(transform_type::ENCR, encr_id(encr)),
                transform(transform_type::PRF, (prf_id(prf), None)),
            ];
            if let Some(i) = integ {
                transforms.push(transform(transform_type::INTEG, (integ_id(i), None)));
            }
            transforms.push(transform(transform_type::DH, (dh.iana_id(), None)));
            let chosen = Proposal {
                number: p.number,
                protocol: ProtocolId::Ike,
                spi: p.spi.clone(),
                transforms,
            };
            return Some((
                chosen,
                NegotiatedIke {
                    encr,
                    integ,
                    prf,
                    dh,
                },
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(mut p: Proposal, keep: &[(u8, u16)]) -> Proposal {
        p.transforms
            .retain(|t| keep.contains(&(t.transform_type, t.id)));
        p
    }

    #[test]
    fn ike_round_trip_through_selection() {
        let offered = IkeProposal::default_set();
        let wire = ike_to_wire(&offered, &[]);
        assert_eq!(wire.len(), 2);
        assert_eq!(wire[0].number, 1);
        let chosen = answer(wire[1].clone(), &[(1, 12), (2, 5), (3, 12), (4, 14)]);
        // Two AES-CBC key lengths share id 12; keep only the 256-bit one.
        let mut chosen = chosen;
        chosen
            .transforms
            .retain(|t| !(t.transform_type == 1 && t.key_length == Some(128)));
        let (n, spi) = select_ike(&offered, &[chosen], 0).unwrap();
        assert!(spi.is_empty());
        assert_eq!(n.encr, Encr::AesCbc(256));
        assert_eq!(n.integ, Some(Integ::HmacSha256_128));
        assert_eq!(n.prf, Prf::HmacSha256);
        assert_eq!(n.dh, DhGroup::Modp2048);
        assert_eq!(
            n.to_string(),
            "AES-256-CBC/HMAC-SHA-256/PRF-HMAC-SHA-256/MODP-2048"
        );
    }

    #[test]
    fn ike_rejects_what_we_did_not_offer() {
        let offered = vec![IkeProposal::parse("aes256gcm16-prfsha384-ecp384", false).unwrap()];
        let wire = ike_to_wire(&offered, &[]);
        let mut bad = wire[0].clone();
        bad.transforms[0].key_length = Some(128);
        assert_eq!(
            select_ike(&offered, &[bad], 0),
            Err(SelectError::NotOffered)
        );
        assert_eq!(
            select_ike(&offered, &[], 0),
            Err(SelectError::ProposalCount(0))
        );
        let mut two_dh = wire[0].clone();
        two_dh.transforms.push(transform(4, (19, None)));
        assert!(select_ike(&offered, &[two_dh], 0).is_err());
        assert!(select_ike(&offered, &wire, 8).is_err(), "SPI size checked");
        assert!(select_ike(&offered, &wire, 0).is_ok());
    }

    #[test]
    fn responder_choice_mirrors_initiator_selection() {
        let ours = vec![EspProposal::parse("aes128gcm16-ecp256-modp2048", false).unwrap()];
        let theirs = esp_to_wire(
            &[EspProposal::parse("aes256gcm16-aes128gcm16-modp2048-ecp256", false).unwrap()],
            0xabcd0001,
            true,
            None,
        );
        let (chosen, agreed) = choose_esp(&ours, &theirs, Some(14)).unwrap();
        assert_eq!(agreed.encr, Encr::AesGcm16(128));
        assert_eq!(agreed.dh, Some(DhGroup::Modp2048), "KE group preferred");
        assert_eq!(agreed.peer_spi, 0xabcd0001);
        assert_eq!(chosen.transforms.len(), 3);
        // What we answer is what an initiator accepts.
        let initiator_view =
            [EspProposal::parse("aes256gcm16-aes128gcm16-modp2048-ecp256", false).unwrap()];
        assert!(select_esp(&initiator_view, &[chosen], true).is_ok());
        // We insist on PFS: a proposal without DH is refused.
        let no_pfs = esp_to_wire(
            &[EspProposal::parse("aes128gcm16", false).unwrap()],
            1,
            true,
            None,
        );
        assert!(choose_esp(&ours, &no_pfs, None).is_none());

        let ike_ours = IkeProposal::default_set();
        let ike_theirs = ike_to_wire(
            &[IkeProposal::parse("aes256-sha384-modp3072-ecp384", false).unwrap()],
            &7u64.to_be_bytes(),
        );
        let (chosen, agreed) = choose_ike(&ike_ours, &ike_theirs, Some(20)).unwrap();
        assert_eq!(agreed.dh, DhGroup::Ecp384);
        assert_eq!(agreed.prf, Prf::HmacSha384);
        assert_eq!(chosen.spi, 7u64.to_be_bytes());
        assert!(choose_ike(&ike_ours, &ike_theirs[..0], None).is_none());
    }

    #[test]
    fn esp_with_and_without_pfs() {
        let offered = vec![EspProposal::parse("aes256-sha256-ecp256", false).unwrap()];
        let in_auth = esp_to_wire(&offered, 0xc0ffee01, false, None);
        assert!(in_auth[0].transforms.iter().all(|t| t.transform_type != 4));
        assert_eq!(in_auth[0].spi, [0xc0, 0xff, 0xee, 0x01]);
        let mut resp = in_auth[0].clone();
        resp.spi = vec![1, 2, 3, 4];
        let n = select_esp(&offered, &[resp.clone()], false).unwrap();
        assert_eq!(n.peer_spi, 0x01020304);
        assert_eq!(n.dh, None);
        assert!(!n.esn);
        // In a rekey with PFS the group must come back.
        assert!(select_esp(&offered, &[resp], true).is_err());
        let rekey = esp_to_wire(&offered, 7, true, None);
        let mut resp = rekey[0].clone();
        resp.spi = vec![0, 0, 0, 9];
        assert_eq!(
            select_esp(&offered, &[resp], true).unwrap().dh,
            Some(DhGroup::Ecp256)
        );
    }
}
