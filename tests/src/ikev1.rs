//! IKEv1 scenarios on the lab's strongSwan gateway (issue 6): swanctl.conf for the gateway
//! (responder) and for a strongSwan *reference initiator* in the client namespace, which
//! proves each gateway configuration right before our own IKEv1 client is measured against it.
//!
//! The scenarios are the legacy set Strait must speak:
//! - [`V1Scenario::main_psk_pfs`]: Main Mode with a pre-shared key, Mode Config (virtual IP and
//!   DNS from a pool), and Quick Mode with PFS (`aes256-sha256-modp2048` in both phases);
//! - [`V1Scenario::aggressive_group_xauth`]: Aggressive Mode with a group pre-shared key and the
//!   group name as identity (`keyid:<group>`), then XAuth (`remote-2 { auth = xauth }` and an
//!   `xauth-<user>` secret), Mode Config, and a Cisco Unity split include (the `unity` plugin);
//! - [`V1Scenario::main_cert`]: Main Mode with RSA certificates from the lab PKI
//!   ([`crate::pki`]).
//!
//! Every connection is named [`CONNECTION`] with the child [`CHILD`], like the IKEv2
//! scenarios, so [`crate::Charon::load_config`] and [`crate::Charon::initiate`] work
//! unchanged. Secrets are rendered hex-encoded, and every value goes through the same
//! line-checking renderer as the other lab templates, so no value can change the structure.

use std::fmt;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Result;

use crate::template::render;
use crate::{LAN_HOST, LAN_SUBNET, VIP_POOL};

/// The gateway's identity in every IKEv1 scenario.
pub const GATEWAY_ID: &str = "gateway.lab.strait";
/// The client's identity in the Main Mode scenarios.
pub const CLIENT_ID: &str = "client.lab.strait";
/// The group name of the Aggressive Mode scenario (the client's `keyid:` identity).
pub const GROUP: &str = "strait-lab-group";
/// The group's pre-shared key.
pub const GROUP_PSK: &str = "strait-lab-group-secret-4711";
/// The pre-shared key of the Main Mode scenario.
pub const MAIN_PSK: &str = "strait-lab-main-mode-psk-0815";
/// The XAuth user.
pub const XAUTH_USER: &str = "alice";
/// The XAuth user's password.
pub const XAUTH_PASSWORD: &str = "xauth correct horse 42";
/// The IKE and ESP proposal of the PSK scenarios: the ESP one names a DH group, so Quick Mode
/// runs with PFS.
pub const PFS_PROPOSAL: &str = "aes256-sha256-modp2048";
/// The subnet the Aggressive Mode gateway announces as a Cisco Unity split include (the lab
/// LAN: the reference initiator and our client both route it through the tunnel).
pub const SPLIT_INCLUDE: &str = LAN_SUBNET;

/// How the client authenticates in phase 1 (and after it).
#[derive(Clone)]
pub enum V1Auth {
    /// A pre-shared key between the client's identity and the gateway's.
    Psk {
        /// The client's identity.
        client_id: String,
        /// The key.
        psk: String,
    },
    /// A group pre-shared key with the group name as identity (`keyid:<group>`), then XAuth.
    GroupXauth {
        /// The group name.
        group: String,
        /// The group's key.
        psk: String,
        /// The XAuth user.
        user: String,
        /// The XAuth password.
        password: String,
    },
    /// RSA certificates on both sides.
    Certificates {
        /// The client's identity (in its certificate).
        client_id: String,
        /// The gateway's certificate (its key must be in the gateway's `private/`).
        gateway_cert: PathBuf,
        /// The client's certificate (its key must be in the reference initiator's `private/`).
        client_cert: PathBuf,
        /// The CA both trust.
        ca: PathBuf,
    },
}

impl fmt::Debug for V1Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            V1Auth::Psk { client_id, .. } => f
                .debug_struct("Psk")
                .field("client_id", client_id)
                .field("psk", &"<redacted>")
                .finish(),
            V1Auth::GroupXauth { group, user, .. } => f
                .debug_struct("GroupXauth")
                .field("group", group)
                .field("psk", &"<redacted>")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            V1Auth::Certificates {
                client_id,
                gateway_cert,
                client_cert,
                ca,
            } => f
                .debug_struct("Certificates")
                .field("client_id", client_id)
                .field("gateway_cert", gateway_cert)
                .field("client_cert", client_cert)
                .field("ca", ca)
                .finish(),
        }
    }
}

/// One IKEv1 scenario: what the gateway accepts, and what a matching initiator offers.
#[derive(Debug, Clone)]
pub struct V1Scenario {
    /// Aggressive Mode instead of Main Mode.
    pub aggressive: bool,
    /// Phase 1 proposals (strongSwan syntax, comma-separated).
    pub ike_proposals: String,
    /// Quick Mode proposals; a DH group here means PFS.
    pub esp_proposals: String,
    /// The gateway's identity.
    pub gateway_id: String,
    /// The client's authentication.
    pub auth: V1Auth,
    /// The protected subnet behind the gateway.
    pub lan: String,
    /// The Mode Config pool of virtual IPs.
    pub pool: String,
    /// The DNS server pushed in Mode Config.
    pub dns: Ipv4Addr,
    /// A Cisco Unity split include pushed in Mode Config (needs the `unity` plugin).
    pub split_include: Option<String>,
}

impl V1Scenario {
    /// Main Mode PSK, Mode Config, Quick Mode with PFS (`aes256-sha256-modp2048` both phases).
    pub fn main_psk_pfs() -> V1Scenario {
        V1Scenario {
            aggressive: false,
            ike_proposals: PFS_PROPOSAL.into(),
            esp_proposals: PFS_PROPOSAL.into(),
            gateway_id: GATEWAY_ID.into(),
            auth: V1Auth::Psk {
                client_id: CLIENT_ID.into(),
                psk: MAIN_PSK.into(),
            },
            lan: LAN_SUBNET.into(),
            pool: VIP_POOL.into(),
            dns: LAN_HOST,
            split_include: None,
        }
    }

    /// Aggressive Mode with the group name `keyid:<GROUP>` and the group PSK, XAuth as
    /// [`XAUTH_USER`], Mode Config with a Unity split include of the LAN. The gateway must be
    /// started with `aggressive_mode_psk` (strongSwan refuses Aggressive Mode PSK otherwise).
    pub fn aggressive_group_xauth() -> V1Scenario {
        V1Scenario {
            aggressive: true,
            auth: V1Auth::GroupXauth {
                group: GROUP.into(),
                psk: GROUP_PSK.into(),
                user: XAUTH_USER.into(),
                password: XAUTH_PASSWORD.into(),
            },
            split_include: Some(SPLIT_INCLUDE.into()),
            ..V1Scenario::main_psk_pfs()
        }
    }

    /// Main Mode with RSA certificates (the gateway's and the client's, issued by `ca`), Mode
    /// Config and Quick Mode with PFS.
    pub fn main_cert(gateway_cert: PathBuf, client_cert: PathBuf, ca: PathBuf) -> V1Scenario {
        V1Scenario {
            auth: V1Auth::Certificates {
                client_id: CLIENT_ID.into(),
                gateway_cert,
                client_cert,
                ca,
            },
            ..V1Scenario::main_psk_pfs()
        }
    }

    /// Whether the gateway's charon needs
    /// `charon.i_dont_care_about_security_and_use_aggressive_mode_psk` (the
    /// `aggressive_mode_psk` of [`crate::GatewayConfig`], set when the charon starts).
    pub fn needs_aggressive_psk(&self) -> bool {
        self.aggressive && !matches!(self.auth, V1Auth::Certificates { .. })
    }

    /// The client's IKE identity as strongSwan spells it (`keyid:<group>` for a group).
    pub fn client_id(&self) -> String {
        match &self.auth {
            V1Auth::Psk { client_id, .. } | V1Auth::Certificates { client_id, .. } => {
                client_id.clone()
            }
            V1Auth::GroupXauth { group, .. } => format!("keyid:{group}"),
        }
    }

    /// The gateway's swanctl.conf, listening on `local_addr`.
    pub fn gateway_swanctl(&self, local_addr: Ipv4Addr) -> Result<String> {
        let mut vars = self.common_vars();
        vars.extend([
            ("LOCAL_ADDR", Some(local_addr.to_string())),
            ("LAN", Some(self.lan.clone())),
            ("POOL", Some(self.pool.clone())),
            ("DNS", Some(self.dns.to_string())),
            ("SPLIT_INCLUDE", self.split_include.clone()),
        ]);
        let (local, remote, secrets) = match &self.auth {
            V1Auth::Psk { .. } => (PSK_LOCAL, PSK_REMOTE, PSK_SECRETS),
            V1Auth::GroupXauth { .. } => (PSK_LOCAL, GATEWAY_XAUTH_REMOTE, XAUTH_SECRETS),
            V1Auth::Certificates { .. } => (GATEWAY_CERT_LOCAL, GATEWAY_CERT_REMOTE, CA_SECTION),
        };
        let template = GATEWAY_TEMPLATE
            .replace("@@LOCAL@@\n", local)
            .replace("@@REMOTE@@\n", remote)
            .replace("@@SECRETS@@\n", secrets);
        render(&template, &vars)
    }

    /// swanctl.conf for strongSwan as the reference initiator towards `remote_addr`, matching
    /// this scenario exactly (for certificates: the client's key must be in its `private/`).
    pub fn initiator_swanctl(&self, remote_addr: Ipv4Addr) -> Result<String> {
        let mut vars = self.common_vars();
        vars.extend([
            ("REMOTE_ADDR", Some(remote_addr.to_string())),
            ("LAN", Some(self.lan.clone())),
        ]);
        let (local, remote, secrets) = match &self.auth {
            V1Auth::Psk { .. } => (PSK_REMOTE, PSK_LOCAL, PSK_SECRETS),
            V1Auth::GroupXauth { .. } => (INITIATOR_XAUTH_LOCAL, PSK_LOCAL, XAUTH_SECRETS),
            V1Auth::Certificates { .. } => {
                (INITIATOR_CERT_LOCAL, INITIATOR_CERT_REMOTE, CA_SECTION)
            }
        };
        // The initiator's `local` is the client's side: the shared PSK sections are written
        // from the gateway's point of view, so their section names swap.
        let local = local.replacen("remote {", "local {", 1);
        let remote = remote.replacen("local {", "remote {", 1);
        let template = INITIATOR_TEMPLATE
            .replace("@@LOCAL@@\n", &local)
            .replace("@@REMOTE@@\n", &remote)
            .replace("@@SECRETS@@\n", secrets);
        render(&template, &vars)
    }

    fn common_vars(&self) -> Vec<(&'static str, Option<String>)> {
        let mut vars = vec![
            ("IKE_PROPOSALS", Some(self.ike_proposals.clone())),
            ("ESP_PROPOSALS", Some(self.esp_proposals.clone())),
            (
                "AGGRESSIVE",
                Some(if self.aggressive { "yes" } else { "no" }.into()),
            ),
            ("GATEWAY_ID", Some(self.gateway_id.clone())),
            ("CLIENT_ID", Some(self.client_id())),
        ];
        match &self.auth {
            V1Auth::Psk { psk, .. } => vars.push(("PSK_HEX", Some(hex(psk.as_bytes())))),
            V1Auth::GroupXauth {
                psk,
                user,
                password,
                ..
            } => vars.extend([
                ("PSK_HEX", Some(hex(psk.as_bytes()))),
                ("XAUTH_USER", Some(user.clone())),
                ("XAUTH_PASSWORD_HEX", Some(hex(password.as_bytes()))),
            ]),
            V1Auth::Certificates {
                gateway_cert,
                client_cert,
                ca,
                ..
            } => vars.extend([
                ("GATEWAY_CERT", Some(gateway_cert.display().to_string())),
                ("CLIENT_CERT", Some(client_cert.display().to_string())),
                ("CA", Some(ca.display().to_string())),
            ]),
        }
        vars
    }
}

/// The gateway (responder). `@@…@@` lines are replaced by the auth-specific sections below
/// before rendering; `split_include` is a Cisco Unity attribute (the `unity` plugin).
const GATEWAY_TEMPLATE: &str = "\
# swanctl.conf of the lab gateway for an IKEv1 scenario, rendered by strait-interop
# (tests/src/ikev1.rs).
connections {
  lab {
    version = 1
    aggressive = @AGGRESSIVE@
    proposals = @IKE_PROPOSALS@
    local_addrs = @LOCAL_ADDR@
    pools = lab-pool
@@LOCAL@@
@@REMOTE@@
    children {
      lan {
        local_ts = @LAN@
        esp_proposals = @ESP_PROPOSALS@
        dpd_action = clear
      }
    }
  }
}
pools {
  lab-pool {
    addrs = @POOL@
    dns = @DNS@
    split_include = @SPLIT_INCLUDE@
  }
}
@@SECRETS@@
";

/// strongSwan as an IKEv1 client: a virtual IP by Mode Config, the LAN through the tunnel.
const INITIATOR_TEMPLATE: &str = "\
# swanctl.conf of strongSwan as the IKEv1 reference initiator, rendered by strait-interop
# (tests/src/ikev1.rs).
connections {
  lab {
    version = 1
    aggressive = @AGGRESSIVE@
    proposals = @IKE_PROPOSALS@
    remote_addrs = @REMOTE_ADDR@
    vips = 0.0.0.0
@@LOCAL@@
@@REMOTE@@
    children {
      lan {
        remote_ts = @LAN@
        esp_proposals = @ESP_PROPOSALS@
      }
    }
  }
}
@@SECRETS@@
";

/// The gateway's own PSK section (also the initiator's view of the gateway).
const PSK_LOCAL: &str = "    local {
      auth = psk
      id = @GATEWAY_ID@
    }
";
/// The client's PSK section as the gateway expects it.
const PSK_REMOTE: &str = "    remote {
      auth = psk
      id = @CLIENT_ID@
    }
";
/// The group PSK, then a second round: XAuth (any user with an `xauth-…` secret).
const GATEWAY_XAUTH_REMOTE: &str = "    remote {
      auth = psk
      id = @CLIENT_ID@
    }
    remote-2 {
      auth = xauth
    }
";
/// The reference initiator's group PSK and XAuth rounds.
const INITIATOR_XAUTH_LOCAL: &str = "    local {
      auth = psk
      id = @CLIENT_ID@
    }
    local-xauth {
      auth = xauth
      xauth_id = @XAUTH_USER@
    }
";
const GATEWAY_CERT_LOCAL: &str = "    local {
      auth = pubkey
      certs = @GATEWAY_CERT@
      id = @GATEWAY_ID@
    }
";
const GATEWAY_CERT_REMOTE: &str = "    remote {
      auth = pubkey
      id = @CLIENT_ID@
      cacerts = @CA@
    }
";
const INITIATOR_CERT_LOCAL: &str = "    local {
      auth = pubkey
      certs = @CLIENT_CERT@
      id = @CLIENT_ID@
    }
";
const INITIATOR_CERT_REMOTE: &str = "    remote {
      auth = pubkey
      id = @GATEWAY_ID@
      cacerts = @CA@
    }
";
/// The PSK, listed for both identities (so it cannot tie with another secret).
const PSK_SECRETS: &str = "secrets {
  ike-lab {
    id-gateway = @GATEWAY_ID@
    id-client = @CLIENT_ID@
    secret = 0x@PSK_HEX@
  }
}
";
const XAUTH_SECRETS: &str = "secrets {
  ike-group {
    id-gateway = @GATEWAY_ID@
    id-group = @CLIENT_ID@
    secret = 0x@PSK_HEX@
  }
  xauth-user {
    id = @XAUTH_USER@
    secret = 0x@XAUTH_PASSWORD_HEX@
  }
}
";
const CA_SECTION: &str = "authorities {
  lab-ca {
    cacert = @CA@
  }
}
";

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GW: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

    #[test]
    fn main_psk_gateway_and_initiator_match() {
        let s = V1Scenario::main_psk_pfs();
        let gw = s.gateway_swanctl(GW).unwrap();
        assert!(gw.contains("version = 1\n"));
        assert!(gw.contains("aggressive = no\n"));
        assert!(gw.contains("proposals = aes256-sha256-modp2048\n"));
        assert!(gw.contains("esp_proposals = aes256-sha256-modp2048\n"));
        assert!(gw.contains("    remote {\n      auth = psk\n      id = client.lab.strait\n"));
        assert!(!gw.contains("split_include"), "unset options are left out");
        assert!(
            !gw.contains(MAIN_PSK),
            "the PSK is only rendered hex-encoded"
        );
        assert!(gw.contains(&format!("secret = 0x{}\n", hex(MAIN_PSK.as_bytes()))));
        let init = s.initiator_swanctl(GW).unwrap();
        assert!(init.contains("remote_addrs = 198.18.1.1\n"));
        assert!(init.contains("vips = 0.0.0.0\n"));
        assert!(init.contains("    local {\n      auth = psk\n      id = client.lab.strait\n"));
        assert!(init.contains("    remote {\n      auth = psk\n      id = gateway.lab.strait\n"));
        assert!(
            !format!("{s:?}").contains(MAIN_PSK),
            "Debug must not print the PSK"
        );
    }

    #[test]
    fn aggressive_group_xauth_has_the_group_id_a_second_round_and_a_split_include() {
        let s = V1Scenario::aggressive_group_xauth();
        assert!(s.needs_aggressive_psk());
        let gw = s.gateway_swanctl(GW).unwrap();
        assert!(gw.contains("aggressive = yes\n"));
        assert!(gw.contains(&format!("id = keyid:{GROUP}\n")));
        assert!(gw.contains("    remote-2 {\n      auth = xauth\n"));
        assert!(gw.contains(&format!("split_include = {LAN_SUBNET}\n")));
        assert!(gw.contains(&format!("  xauth-user {{\n    id = {XAUTH_USER}\n")));
        assert!(!gw.contains(XAUTH_PASSWORD) && !gw.contains(GROUP_PSK));
        let init = s.initiator_swanctl(GW).unwrap();
        assert!(init.contains(&format!(
            "    local-xauth {{\n      auth = xauth\n      xauth_id = {XAUTH_USER}\n"
        )));
        assert!(init.contains(&format!(
            "    local {{\n      auth = psk\n      id = keyid:{GROUP}\n"
        )));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(XAUTH_PASSWORD) && !dbg.contains(GROUP_PSK));
    }

    #[test]
    fn certificates_name_both_certificates_and_the_ca() {
        let s = V1Scenario::main_cert("/gw.pem".into(), "/client.pem".into(), "/ca.pem".into());
        assert!(!s.needs_aggressive_psk());
        let gw = s.gateway_swanctl(GW).unwrap();
        assert!(gw.contains("      auth = pubkey\n      certs = /gw.pem\n"));
        assert!(gw.contains("      cacerts = /ca.pem\n"));
        assert!(gw.contains("    cacert = /ca.pem\n"));
        let init = s.initiator_swanctl(GW).unwrap();
        assert!(init.contains("    local {\n      auth = pubkey\n      certs = /client.pem\n"));
        assert!(init.contains("    remote {\n      auth = pubkey\n      id = gateway.lab.strait\n"));
        assert!(!init.contains("secrets"));
    }

    #[test]
    fn values_cannot_change_the_structure() {
        let mut s = V1Scenario::main_psk_pfs();
        s.gateway_id = "x\n}\nsecrets {".into();
        assert!(s.gateway_swanctl(GW).is_err());
        assert!(s.initiator_swanctl(GW).is_err());
    }
}
