//! The transaction exchange (draft-dukes-ike-mode-cfg, draft-beaulieu-ike-xauth): the
//! Attribute payload that carries XAuth logins and Mode Config, and what a Mode Config reply
//! means for the service ([`ConfigReply`]), including Cisco Unity split tunnelling.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::attributes::{self, Attribute};
use crate::ConfigReply;

/// Attribute payload message types.
pub mod cfg_type {
    /// ISAKMP_CFG_REQUEST.
    pub const REQUEST: u8 = 1;
    /// ISAKMP_CFG_REPLY.
    pub const REPLY: u8 = 2;
    /// ISAKMP_CFG_SET.
    pub const SET: u8 = 3;
    /// ISAKMP_CFG_ACK.
    pub const ACK: u8 = 4;
}

/// Attribute types.
pub mod attr {
    /// INTERNAL_IP4_ADDRESS.
    pub const IP4_ADDRESS: u16 = 1;
    /// INTERNAL_IP4_NETMASK.
    pub const IP4_NETMASK: u16 = 2;
    /// INTERNAL_IP4_DNS.
    pub const IP4_DNS: u16 = 3;
    /// INTERNAL_IP6_ADDRESS.
    pub const IP6_ADDRESS: u16 = 8;
    /// INTERNAL_IP6_DNS.
    pub const IP6_DNS: u16 = 10;
    /// INTERNAL_IP4_SUBNET.
    pub const IP4_SUBNET: u16 = 13;
    /// XAUTH_TYPE.
    pub const XAUTH_TYPE: u16 = 16520;
    /// XAUTH_USER_NAME.
    pub const XAUTH_USER_NAME: u16 = 16521;
    /// XAUTH_USER_PASSWORD.
    pub const XAUTH_USER_PASSWORD: u16 = 16522;
    /// XAUTH_PASSCODE.
    pub const XAUTH_PASSCODE: u16 = 16523;
    /// XAUTH_MESSAGE.
    pub const XAUTH_MESSAGE: u16 = 16524;
    /// XAUTH_STATUS.
    pub const XAUTH_STATUS: u16 = 16527;
    /// UNITY_BANNER.
    pub const UNITY_BANNER: u16 = 28672;
    /// UNITY_DEF_DOMAIN.
    pub const UNITY_DEF_DOMAIN: u16 = 28674;
    /// UNITY_SPLITDNS_NAME.
    pub const UNITY_SPLITDNS_NAME: u16 = 28675;
    /// UNITY_SPLIT_INCLUDE.
    pub const UNITY_SPLIT_INCLUDE: u16 = 28676;
}

/// An Attribute payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributePayload {
    /// REQUEST, REPLY, SET or ACK.
    pub cfg_type: u8,
    /// Identifier that pairs a reply with its request.
    pub identifier: u16,
    /// The attributes.
    pub attrs: Vec<Attribute>,
}

impl AttributePayload {
    /// Parses an Attribute payload body.
    pub fn parse(body: &[u8]) -> Option<AttributePayload> {
        let f = body.get(..4)?;
        Some(AttributePayload {
            cfg_type: f[0],
            identifier: u16::from_be_bytes([f[2], f[3]]),
            attrs: attributes::parse(&body[4..])?,
        })
    }

    /// Serialises the body.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![self.cfg_type, 0];
        out.extend_from_slice(&self.identifier.to_be_bytes());
        out.extend_from_slice(&attributes::emit(&self.attrs));
        out
    }
}

/// Our Mode Config request: an IPv4 address, netmask, DNS, and the Unity split-tunnel and
/// domain attributes (sent empty: "tell me").
pub fn mode_config_request(identifier: u16, ipv4: bool, ipv6: bool) -> AttributePayload {
    let mut attrs = Vec::new();
    if ipv4 {
        attrs.push(Attribute::variable(attr::IP4_ADDRESS, vec![]));
        attrs.push(Attribute::variable(attr::IP4_NETMASK, vec![]));
        attrs.push(Attribute::variable(attr::IP4_DNS, vec![]));
    }
    if ipv6 {
        attrs.push(Attribute::variable(attr::IP6_ADDRESS, vec![]));
        attrs.push(Attribute::variable(attr::IP6_DNS, vec![]));
    }
    for a in [
        attr::UNITY_SPLIT_INCLUDE,
        attr::UNITY_SPLITDNS_NAME,
        attr::UNITY_DEF_DOMAIN,
        attr::UNITY_BANNER,
    ] {
        attrs.push(Attribute::variable(a, vec![]));
    }
    AttributePayload {
        cfg_type: cfg_type::REQUEST,
        identifier,
        attrs,
    }
}

fn v4(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b.get(..4)?).ok().map(Ipv4Addr::from)
}

fn prefix_len(mask: Ipv4Addr) -> u8 {
    u32::from(mask).leading_ones() as u8
}

/// What a REPLY or SET assigned. Unknown attributes are ignored; malformed known ones too
/// (with the rest of the reply still used).
pub fn config_reply(attrs: &[Attribute]) -> ConfigReply {
    let mut c = ConfigReply::default();
    for a in attrs {
        match a.kind {
            attr::IP4_ADDRESS => c.ipv4.extend(v4(&a.value)),
            attr::IP4_NETMASK => c.ipv4_netmask = v4(&a.value),
            attr::IP4_DNS => c.dns.extend(v4(&a.value).map(IpAddr::V4)),
            attr::IP6_ADDRESS => {
                if let Some(b) = a.value.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
                    let len = a.value.get(16).copied().unwrap_or(128).min(128);
                    c.ipv6.push((Ipv6Addr::from(b), len));
                }
            }
            attr::IP6_DNS => {
                if let Some(b) = a.value.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
                    c.dns.push(IpAddr::V6(Ipv6Addr::from(b)));
                }
            }
            attr::IP4_SUBNET => {
                if let (Some(n), Some(m)) = (v4(&a.value), a.value.get(4..8).and_then(v4)) {
                    c.subnets.push((IpAddr::V4(n), prefix_len(m)));
                }
            }
            attr::UNITY_SPLIT_INCLUDE => {
                // 14-byte entries: network, mask, protocol, source port, destination port.
                for e in a.value.chunks_exact(14) {
                    if let (Some(n), Some(m)) = (v4(&e[..4]), v4(&e[4..8])) {
                        let entry = (IpAddr::V4(n), prefix_len(m));
                        if !c.subnets.contains(&entry) {
                            c.subnets.push(entry);
                        }
                    }
                }
            }
            attr::UNITY_SPLITDNS_NAME => {
                for name in String::from_utf8_lossy(&a.value).split([',', ' ', '\0']) {
                    if !name.is_empty() && !c.dns_domains.iter().any(|d| d == name) {
                        c.dns_domains.push(name.to_string());
                    }
                }
            }
            attr::UNITY_DEF_DOMAIN => {
                let d = String::from_utf8_lossy(&a.value)
                    .trim_end_matches('\0')
                    .to_string();
                if !d.is_empty() && !c.dns_domains.contains(&d) {
                    c.dns_domains.push(d);
                }
            }
            _ => {}
        }
    }
    c
}

/// The attributes to acknowledge a SET with: the types we accepted, empty.
pub fn ack_attributes(set: &[Attribute]) -> Vec<Attribute> {
    set.iter()
        .filter(|a| {
            matches!(
                a.kind,
                attr::IP4_ADDRESS
                    | attr::IP4_NETMASK
                    | attr::IP4_DNS
                    | attr::IP6_ADDRESS
                    | attr::IP6_DNS
                    | attr::IP4_SUBNET
                    | attr::UNITY_SPLIT_INCLUDE
                    | attr::UNITY_SPLITDNS_NAME
                    | attr::UNITY_DEF_DOMAIN
                    | attr::UNITY_BANNER
            )
        })
        .map(|a| Attribute::variable(a.kind, vec![]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_with_unity_split_tunnel() {
        let mut split = vec![198, 19, 1, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0];
        split.push(0);
        split.extend_from_slice(&[10, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let reply = AttributePayload {
            cfg_type: cfg_type::REPLY,
            identifier: 7,
            attrs: vec![
                Attribute::variable(attr::IP4_ADDRESS, vec![198, 19, 100, 1]),
                Attribute::variable(attr::IP4_NETMASK, vec![255, 255, 255, 0]),
                Attribute::variable(attr::IP4_DNS, vec![198, 19, 1, 10]),
                Attribute::variable(attr::UNITY_SPLIT_INCLUDE, split),
                Attribute::variable(
                    attr::UNITY_SPLITDNS_NAME,
                    b"lab.strait,corp.example".to_vec(),
                ),
                Attribute::variable(attr::UNITY_DEF_DOMAIN, b"lab.strait".to_vec()),
                Attribute::variable(attr::IP4_ADDRESS, vec![1, 2]),
            ],
        };
        let parsed = AttributePayload::parse(&reply.emit()).unwrap();
        assert_eq!(parsed, reply);
        let c = config_reply(&parsed.attrs);
        assert_eq!(c.ipv4, vec![Ipv4Addr::new(198, 19, 100, 1)]);
        assert_eq!(c.ipv4_netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(c.dns, vec![IpAddr::V4(Ipv4Addr::new(198, 19, 1, 10))]);
        assert_eq!(
            c.subnets,
            vec![
                (IpAddr::V4(Ipv4Addr::new(198, 19, 1, 0)), 24),
                (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8)
            ]
        );
        assert_eq!(c.dns_domains, vec!["lab.strait", "corp.example"]);
    }

    #[test]
    fn truncated_attribute_payloads_are_none() {
        let r = mode_config_request(1, true, false).emit();
        assert!(AttributePayload::parse(&r[..3]).is_none());
        let reply = AttributePayload {
            cfg_type: cfg_type::REPLY,
            identifier: 1,
            attrs: vec![Attribute::variable(attr::IP4_ADDRESS, vec![10, 0, 0, 1])],
        }
        .emit();
        assert!(AttributePayload::parse(&reply[..reply.len() - 1]).is_none());
        let acks = ack_attributes(&mode_config_request(1, true, true).attrs);
        assert!(acks.iter().all(|a| a.value.is_empty()));
    }
}
