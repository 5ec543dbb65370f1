//! End-to-end interop lab for Strait: a small network of Linux network
//! namespaces with a **real strongSwan gateway**.
//!
//! ```text
//!                 Topology { nat: false }
//!   client ns                 gateway ns                    lan ns
//!  198.18.1.2/24 ── veth ── 198.18.1.1/24  charon
//!                           198.19.1.1/24 ── veth ── 198.19.1.2/24 (LAN host)
//!
//!                 Topology { nat: true }
//!   client ns               nat ns (masquerade)          gateway ns
//!  198.18.2.2/24 ── veth ── 198.18.2.1 | 198.18.1.2 ── veth ── 198.18.1.1 …
//! ```
//!
//! Virtual IPs come from 198.19.100.0/24; every address is in the
//! benchmarking range 198.18.0.0/15 and exists only inside the lab's own
//! namespaces, so labs never interfere with each other or the host (names are
//! unique per lab: `st<pid>n<counter>`). The gateway forwards only tunnel
//! traffic to the LAN (an nftables rule drops plain forwarding from the outside
//! veth), so a ping that reaches the LAN host proves the tunnel carried it.
//!
//! The kernel here has no ESP, so strongSwan runs with `kernel-libipsec`
//! (userspace ESP over TUN, always UDP-encapsulated on port 4500).
//!
//! Everything the lab creates — processes, namespaces, veths, its directory,
//! `/etc/netns/<ns>` — is removed when the [`Lab`] is dropped, also when a test
//! panics; when it panicked, the logs and the packet capture are kept (see
//! [`ARTIFACTS_ENV`]). [`cleanup_stale`] removes what a crashed run left behind.
//!
//! Interop tests need root and the packages `cargo xtask setup` installs; they
//! are `#[ignore]`d so `cargo test --workspace` stays fast and rootless, and
//! `cargo xtask test` runs them with `--ignored`.

#![forbid(unsafe_code)]

pub mod driver;
pub mod ikev1;
mod lab;
pub mod libreswan;
pub mod pki;
mod process;
mod strait;
mod strongswan;
mod template;

pub use lab::{
    cleanup_stale, Lab, Node, ProcessHandle, Throughput, Topology, ARTIFACTS_ENV, LAB_ROOT,
};
pub use process::{run_checked, run_with_timeout, wait_until};
pub use strait::{strait_binary, StraitService};
pub use strongswan::{
    available_plugins, parse_list_sas, Charon, ChildSa, GatewayConfig, IkeSa, InitiatorConfig,
    CHILD, CONNECTION, PLUGINS,
};

use std::net::Ipv4Addr;

/// The gateway's outside address (where clients send IKE).
pub const GATEWAY_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
/// The client's address when it is directly attached to the gateway.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
/// The client's address behind the NAT namespace.
pub const CLIENT_ADDR_BEHIND_NAT: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 2);
/// The NAT's inside address (the client's next hop behind the NAT).
pub const NAT_INSIDE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
/// The NAT's outside address: what the gateway sees as the client's address behind the NAT.
pub const NAT_OUTSIDE_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 2);
/// The gateway's address on the protected LAN.
pub const GATEWAY_LAN_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
/// The LAN host, reachable only through the tunnel.
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 2);
/// The protected subnet behind the gateway.
pub const LAN_SUBNET: &str = "198.19.1.0/24";
/// The pool the gateway assigns virtual IPs from.
pub const VIP_POOL: &str = "198.19.100.0/24";
