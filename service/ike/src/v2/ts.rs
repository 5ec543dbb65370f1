//! Traffic selectors (RFC 7296 §2.9): building them from prefixes and checking the responder's
//! narrowing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::wire::{AddressRange, TrafficSelector};

impl TrafficSelector {
    /// All traffic of one address family.
    pub fn any(v6: bool) -> TrafficSelector {
        if v6 {
            Self::prefix(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            Self::prefix(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        }
    }

    /// All protocols and ports to and from `addr/len` (longer prefixes are clamped).
    pub fn prefix(addr: IpAddr, len: u8) -> TrafficSelector {
        let addresses = match addr {
            IpAddr::V4(a) => {
                let len = u32::from(len.min(32));
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                let start = u32::from(a) & mask;
                AddressRange::V4 {
                    start: start.into(),
                    end: (start | !mask).into(),
                }
            }
            IpAddr::V6(a) => {
                let len = u32::from(len.min(128));
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                let start = u128::from(a) & mask;
                AddressRange::V6 {
                    start: start.into(),
                    end: (start | !mask).into(),
                }
            }
        };
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            addresses,
        }
    }

    /// Whether this selector is a subset of `outer` (what narrowing may produce).
    pub fn is_within(&self, outer: &TrafficSelector) -> bool {
        let proto_ok = outer.ip_protocol == 0 || outer.ip_protocol == self.ip_protocol;
        let ports_ok = self.start_port >= outer.start_port
            && self.end_port <= outer.end_port
            && self.start_port <= self.end_port;
        let addr_ok = match (self.addresses, outer.addresses) {
            (AddressRange::V4 { start, end }, AddressRange::V4 { start: s, end: e }) => {
                start >= s && end <= e && start <= end
            }
            (AddressRange::V6 { start, end }, AddressRange::V6 { start: s, end: e }) => {
                start >= s && end <= e && start <= end
            }
            _ => false,
        };
        proto_ok && ports_ok && addr_ok
    }

    /// The selector as CIDR prefixes covering its address range (routes to install).
    pub fn to_prefixes(&self) -> Vec<(IpAddr, u8)> {
        match self.addresses {
            AddressRange::V4 { start, end } => {
                range_to_prefixes(u32::from(start).into(), u32::from(end).into(), 32)
                    .into_iter()
                    .map(|(a, l)| (IpAddr::V4(Ipv4Addr::from(a as u32)), l))
                    .collect()
            }
            AddressRange::V6 { start, end } => {
                range_to_prefixes(u128::from(start), u128::from(end), 128)
                    .into_iter()
                    .map(|(a, l)| (IpAddr::V6(Ipv6Addr::from(a)), l))
                    .collect()
            }
        }
    }
}

impl std::fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefixes = self.to_prefixes();
        if prefixes.len() == 1 {
            let (a, l) = prefixes[0];
            write!(f, "{a}/{l}")?;
        } else {
            match self.addresses {
                AddressRange::V4 { start, end } => write!(f, "{start}..{end}")?,
                AddressRange::V6 { start, end } => write!(f, "{start}..{end}")?,
            }
        }
        if self.ip_protocol != 0 {
            write!(f, "[proto {}", self.ip_protocol)?;
            if (self.start_port, self.end_port) != (0, u16::MAX) {
                write!(f, " ports {}-{}", self.start_port, self.end_port)?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// The fewest CIDR blocks covering `start..=end` in a `bits`-wide address space.
fn range_to_prefixes(start: u128, end: u128, bits: u32) -> Vec<(u128, u8)> {
    let span = |k: u32| {
        if k >= 128 {
            u128::MAX
        } else {
            (1u128 << k) - 1
        }
    };
    let mut out = Vec::new();
    let mut cur = start;
    while cur <= end {
        // The largest block aligned at `cur` that does not pass `end`.
        let mut k = if cur == 0 {
            bits
        } else {
            cur.trailing_zeros().min(bits)
        };
        while k > 0 && cur.checked_add(span(k)).is_none_or(|last| last > end) {
            k -= 1;
        }
        out.push((cur, (bits - k) as u8));
        match cur.checked_add(span(k)) {
            Some(last) if last < end => cur = last + 1,
            _ => break,
        }
    }
    out
}

/// Checks that every selector the responder chose lies within one we proposed.
pub fn narrowed_ok(offered: &[TrafficSelector], chosen: &[TrafficSelector]) -> bool {
    !chosen.is_empty()
        && chosen
            .iter()
            .all(|c| offered.iter().any(|o| c.is_within(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_narrowing() {
        let any = TrafficSelector::any(false);
        let lan = TrafficSelector::prefix("198.19.1.77".parse().unwrap(), 24);
        assert_eq!(lan.to_string(), "198.19.1.0/24");
        assert_eq!(any.to_string(), "0.0.0.0/0");
        assert!(lan.is_within(&any));
        assert!(!any.is_within(&lan));
        assert!(!TrafficSelector::any(true).is_within(&any));
        assert!(narrowed_ok(
            std::slice::from_ref(&any),
            std::slice::from_ref(&lan)
        ));
        assert!(!narrowed_ok(
            std::slice::from_ref(&lan),
            std::slice::from_ref(&any)
        ));
        assert!(!narrowed_ok(&[any], &[]));
        let v6 = TrafficSelector::any(true);
        assert_eq!(v6.to_string(), "::/0");
        assert_eq!(
            TrafficSelector::prefix("fd00::1".parse().unwrap(), 64).to_string(),
            "fd00::/64"
        );
    }

    #[test]
    fn ranges_become_cidr_blocks() {
        let ts = TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            addresses: AddressRange::V4 {
                start: "10.0.0.1".parse().unwrap(),
                end: "10.0.0.6".parse().unwrap(),
            },
        };
        let p: Vec<String> = ts
            .to_prefixes()
            .iter()
            .map(|(a, l)| format!("{a}/{l}"))
            .collect();
        assert_eq!(
            p,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        let host = TrafficSelector::prefix("198.19.100.1".parse().unwrap(), 32);
        assert_eq!(host.to_prefixes().len(), 1);
    }
}
