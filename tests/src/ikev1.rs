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
//!   ([`crate::pki`]), and [`V1Scenario::main_cert_xauth`] with XAuth after it.
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

/// How the client authenticates in phase 1.
#[derive(Clone)]
pub enum V1Auth {
    /// A pre-shared key between the client's identity (a group name is `keyid:<group>`) and
    /// the gateway's.
    Psk {
        /// The client's identity as strongSwan spells it.
        client_id: String,
        /// The key.
        psk: String,
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

/// The XAuth login the gateway asks for after phase 1 (a second authentication round).
#[derive(Clone)]
pub struct XauthLogin {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for XauthLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XauthLogin")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
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
    /// The client's phase 1 authentication.
    pub auth: V1Auth,
    /// XAuth after phase 1.
    pub xauth: Option<XauthLogin>,
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
            xauth: None,
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
            auth: V1Auth::Psk {
                client_id: format!("keyid:{GROUP}"),
                psk: GROUP_PSK.into(),
            },
            xauth: Some(xauth_login()),
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

    /// [`V1Scenario::main_cert`] with XAuth as [`XAUTH_USER`] after phase 1 (strongSwan's
    /// XAuthInitRSA, Strait's `xauth-cert`).
    pub fn main_cert_xauth(gateway_cert: PathBuf, client_cert: PathBuf, ca: PathBuf) -> V1Scenario {
        V1Scenario {
            xauth: Some(xauth_login()),
            ..V1Scenario::main_cert(gateway_cert, client_cert, ca)
        }
    }

    /// Whether the gateway's charon needs
    /// `charon.i_dont_care_about_security_and_use_aggressive_mode_psk` (the
    /// `aggressive_mode_psk` of [`crate::GatewayConfig`], set when the charon starts).
    pub fn needs_aggressive_psk(&self) -> bool {
        self.aggressive && matches!(self.auth, V1Auth::Psk { .. })
    }

    /// The client's IKE identity as strongSwan spells it (`keyid:<group>` for a group).
    pub fn client_id(&self) -> String {
        match &self.auth {
            V1Auth::Psk { client_id, .. } | V1Auth::Certificates { client_id, .. } => {
                client_id.clone()
            }
        }
    }

    /// The gateway's swanctl.conf, listening on `local_addr`.
    pub fn gateway_swanctl(&self, local_addr: Ipv4Addr) -> Result<String> {
        let mut vars = self.common_vars();
        vars.extend([
            ("LOCAL_ADDR", Some(local_addr.to_string())),
            ("POOL", Some(self.pool.clone())),
            ("DNS", Some(self.dns.to_string())),
            ("SPLIT_INCLUDE", self.split_include.clone()),
        ]);
        let cert = matches!(self.auth, V1Auth::Certificates { .. });
        let mut rounds = String::new();
        rounds.push_str(if cert { GATEWAY_CERT } else { GATEWAY_PSK });
        rounds.push_str(if cert {
            CLIENT_CERT_AS_REMOTE
        } else {
            CLIENT_PSK_AS_REMOTE
        });
        if self.xauth.is_some() {
            // A second round for the client, after phase 1 (any user with an xauth secret).
            rounds.push_str("    remote-2 {\n      auth = xauth\n    }\n");
        }
        let template = GATEWAY_TEMPLATE
            .replace("@@ROUNDS@@\n", &rounds)
            .replace("@@SECRETS@@\n", &self.secrets());
        render(&template, &vars)
    }

    /// swanctl.conf for strongSwan as the reference initiator towards `remote_addr`, matching
    /// this scenario exactly (for certificates: the client's key must be in its `private/`).
    pub fn initiator_swanctl(&self, remote_addr: Ipv4Addr) -> Result<String> {
        let mut vars = self.common_vars();
        vars.push(("REMOTE_ADDR", Some(remote_addr.to_string())));
        let cert = matches!(self.auth, V1Auth::Certificates { .. });
        let mut rounds = String::new();
        rounds.push_str(if cert {
            CLIENT_CERT_AS_LOCAL
        } else {
            CLIENT_PSK_AS_LOCAL
        });
        if self.xauth.is_some() {
            rounds.push_str(
                "    local-xauth {\n      auth = xauth\n      xauth_id = @XAUTH_USER@\n    }\n",
            );
        }
        rounds.push_str(if cert {
            GATEWAY_CERT_AS_REMOTE
        } else {
            GATEWAY_PSK_AS_REMOTE
        });
        let template = INITIATOR_TEMPLATE
            .replace("@@ROUNDS@@\n", &rounds)
            .replace("@@SECRETS@@\n", &self.secrets());
        render(&template, &vars)
    }

    /// `secrets` (the PSK for both identities, the XAuth password) and `authorities` (the CA).
    fn secrets(&self) -> String {
        let mut secrets = String::new();
        if matches!(self.auth, V1Auth::Psk { .. }) {
            // Listed for both identities, so it cannot tie with another secret.
            secrets.push_str(
                "  ike-lab {\n    id-gateway = @GATEWAY_ID@\n    id-client = @CLIENT_ID@\n    \
                 secret = 0x@PSK_HEX@\n  }\n",
            );
        }
        if self.xauth.is_some() {
            secrets.push_str(
                "  xauth-user {\n    id = @XAUTH_USER@\n    secret = 0x@XAUTH_PASSWORD_HEX@\n  }\n",
            );
        }
        let mut out = String::new();
        if !secrets.is_empty() {
            out = format!("secrets {{\n{secrets}}}\n");
        }
        if matches!(self.auth, V1Auth::Certificates { .. }) {
            out.push_str("authorities {\n  lab-ca {\n    cacert = @CA@\n  }\n}\n");
        }
        out
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
            ("LAN", Some(self.lan.clone())),
        ];
        match &self.auth {
            V1Auth::Psk { psk, .. } => vars.push(("PSK_HEX", Some(hex(psk.as_bytes())))),
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
        if let Some(x) = &self.xauth {
            vars.extend([
                ("XAUTH_USER", Some(x.user.clone())),
                ("XAUTH_PASSWORD_HEX", Some(hex(x.password.as_bytes()))),
            ]);
        }
        vars
    }
}

fn xauth_login() -> XauthLogin {
    XauthLogin {
        user: XAUTH_USER.into(),
        password: XAUTH_PASSWORD.into(),
    }
}

/// The gateway (responder). `@@…@@` lines are replaced by the authentication rounds and the
/// secrets before rendering; `split_include` is a Cisco Unity attribute (the `unity` plugin).
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
@@ROUNDS@@
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
@@ROUNDS@@
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

const GATEWAY_PSK: &str = "    local {\n      auth = psk\n      id = @GATEWAY_ID@\n    }\n";
const GATEWAY_PSK_AS_REMOTE: &str =
    "    remote {\n      auth = psk\n      id = @GATEWAY_ID@\n    }\n";
const CLIENT_PSK_AS_REMOTE: &str =
    "    remote {\n      auth = psk\n      id = @CLIENT_ID@\n    }\n";
const CLIENT_PSK_AS_LOCAL: &str = "    local {\n      auth = psk\n      id = @CLIENT_ID@\n    }\n";
const GATEWAY_CERT: &str = "    local {
      auth = pubkey
      certs = @GATEWAY_CERT@
      id = @GATEWAY_ID@
    }
";
const GATEWAY_CERT_AS_REMOTE: &str = "    remote {
      auth = pubkey
      id = @GATEWAY_ID@
      cacerts = @CA@
    }
";
const CLIENT_CERT_AS_REMOTE: &str = "    remote {
      auth = pubkey
      id = @CLIENT_ID@
      cacerts = @CA@
    }
";
const CLIENT_CERT_AS_LOCAL: &str = "    local {
      auth = pubkey
      certs = @CLIENT_CERT@
      id = @CLIENT_ID@
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
        assert!(!init.contains("xauth"));
    }

    #[test]
    fn certificates_with_xauth_add_the_second_round_and_its_secret_only() {
        let s =
            V1Scenario::main_cert_xauth("/gw.pem".into(), "/client.pem".into(), "/ca.pem".into());
        let gw = s.gateway_swanctl(GW).unwrap();
        assert!(gw.contains("      auth = pubkey\n      id = client.lab.strait\n"));
        assert!(gw.contains("    remote-2 {\n      auth = xauth\n"));
        assert!(gw.contains(&format!("  xauth-user {{\n    id = {XAUTH_USER}\n")));
        assert!(!gw.contains("ike-lab"), "no PSK with certificates");
        assert!(gw.contains("authorities {"));
        let init = s.initiator_swanctl(GW).unwrap();
        assert!(init.contains("    local-xauth {\n      auth = xauth\n"));
        assert!(!format!("{s:?}").contains(XAUTH_PASSWORD));
    }

    #[test]
    fn values_cannot_change_the_structure() {
        let mut s = V1Scenario::main_psk_pfs();
        s.gateway_id = "x\n}\nsecrets {".into();
        assert!(s.gateway_swanctl(GW).is_err());
        assert!(s.initiator_swanctl(GW).is_err());
    }
}
