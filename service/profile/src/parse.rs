//! Reading a profile file: TOML → raw serde structs (with source spans) → validated [`Profile`].
//!
//! Spans are kept on every value so that each error names the file, the line and the key, and
//! says what is allowed — a typo in a profile an administrator mailed out must be fixable
//! without reading our source.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use strait_ike::proposal::{EspProposal, IkeProposal};
use toml::Spanned;

use crate::model::{
    Auth, AuthMethod, Crypto, Dns, Gateway, Identity, IkeVersion, Mode, Network, Profile, IKE_PORT,
};

/// Largest profile file we read; real ones are a few hundred bytes.
pub const MAX_PROFILE_LEN: usize = 256 * 1024;

const DEFAULT_IKE_LIFETIME: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_ESP_LIFETIME: Duration = Duration::from_secs(3600);
const DEFAULT_DPD: Duration = Duration::from_secs(30);
const DEFAULT_NAT_KEEPALIVE: Duration = Duration::from_secs(20);

/// A profile that could not be read, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ProfileError {
    /// The file (as given by the caller).
    pub file: String,
    /// 1-based line, when the error has a place in the file.
    pub line: Option<usize>,
    /// What is wrong and what is allowed.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: Option<Spanned<String>>,
    gateway: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    auth: Option<Spanned<RawAuth>>,
    #[serde(default)]
    crypto: RawCrypto,
    #[serde(default)]
    network: RawNetwork,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    method: Option<Spanned<String>>,
    local_id: Option<Spanned<String>>,
    remote_id: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    certificate: Option<Spanned<String>>,
    #[serde(default)]
    ca: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCrypto {
    #[serde(default)]
    ike: Vec<Spanned<String>>,
    #[serde(default)]
    esp: Vec<Spanned<String>>,
    #[serde(default)]
    allow_weak: bool,
    ike_lifetime: Option<Spanned<String>>,
    esp_lifetime: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    mode: Option<Spanned<String>>,
    #[serde(default)]
    routes: Vec<Spanned<String>>,
    dns: Option<Spanned<RawDns>>,
    dpd: Option<Spanned<String>>,
    nat_keepalive: Option<Spanned<String>>,
    #[serde(default)]
    kill_switch: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDns {
    Keyword(String),
    Servers(Vec<String>),
}

/// Turns byte offsets into 1-based line numbers and builds errors for one file.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ProfileError {
        ProfileError {
            file: self.file.to_owned(),
            line: Some(self.line_of(value.span().start)),
            message: message.into(),
        }
    }

    fn nowhere(&self, message: impl Into<String>) -> ProfileError {
        ProfileError {
            file: self.file.to_owned(),
            line: None,
            message: message.into(),
        }
    }
}

/// Reads and validates a profile file. Relative paths in it are resolved against its directory.
pub fn load(path: &Path) -> Result<Profile, ProfileError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| ProfileError {
        file: file.clone(),
        line: None,
        message: format!("cannot read the profile: {e}"),
    })?;
    if meta.len() > MAX_PROFILE_LEN as u64 {
        return Err(ProfileError {
            file,
            line: None,
            message: format!(
                "the file is {} bytes; a profile is at most {MAX_PROFILE_LEN} bytes — is this the right file?",
                meta.len()
            ),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
        file: file.clone(),
        line: None,
        message: format!("cannot read the profile as UTF-8 text: {e}"),
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    parse(&text, &file, base)
}

/// Parses and validates profile text. `file` names it in errors; relative paths are resolved
/// against `base_dir`.
pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Profile, ProfileError> {
    let src = Source { file, text };
    if text.len() > MAX_PROFILE_LEN {
        return Err(src.nowhere(format!("a profile is at most {MAX_PROFILE_LEN} bytes")));
    }
    let raw: RawProfile = toml::from_str(text).map_err(|e| ProfileError {
        file: file.to_owned(),
        line: e.span().map(|s| src.line_of(s.start)),
        message: explain_toml_error(e.message()),
    })?;

    let name = required(
        &src,
        raw.name,
        "name",
        "a display name, e.g. name = \"Acme HQ\"",
    )?;
    let name_text = name.get_ref().trim().to_owned();
    if name_text.is_empty() {
        return Err(src.at(&name, "`name` cannot be empty"));
    }
    let gateway_raw = required(
        &src,
        raw.gateway,
        "gateway",
        "the gateway's host name or IP address, e.g. gateway = \"vpn.example.com\"",
    )?;
    let gateway = parse_gateway(gateway_raw.get_ref())
        .map_err(|why| src.at(&gateway_raw, format!("`gateway`: {why}")))?;

    let version = match &raw.version {
        None => IkeVersion::Ikev2,
        Some(v) => match v.get_ref().as_str() {
            "ikev2" => IkeVersion::Ikev2,
            "ikev1-main" => IkeVersion::Ikev1Main,
            "ikev1-aggressive" => IkeVersion::Ikev1Aggressive,
            other => {
                return Err(src.at(
                    v,
                    format!(
                        "`version = \"{other}\"` is not known; use \"ikev2\", \"ikev1-main\" or \"ikev1-aggressive\""
                    ),
                ))
            }
        },
    };

    let auth_raw = raw.auth.ok_or_else(|| {
        src.nowhere("the [auth] table is missing; it needs at least method = \"psk\" (or cert, eap-mschapv2, xauth-psk, xauth-cert)")
    })?;
    let auth = validate_auth(&src, &auth_raw, version, &gateway, base_dir)?;
    let crypto = validate_crypto(&src, raw.crypto)?;
    let network = validate_network(&src, raw.network)?;

    Ok(Profile {
        name: name_text,
        gateway,
        version,
        auth,
        crypto,
        network,
    })
}

fn required<T>(
    src: &Source<'_>,
    value: Option<Spanned<T>>,
    key: &str,
    what: &str,
) -> Result<Spanned<T>, ProfileError> {
    value.ok_or_else(|| src.nowhere(format!("`{key}` is missing: add {what}")))
}

/// serde's messages are terse ("unknown field `gatway`, expected one of ..."); make them say
/// what to do.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!("unknown key {rest} — check the spelling; unknown keys are not ignored so that typos are caught");
    }
    message.to_owned()
}

/// `host`, `host:port`, `1.2.3.4:port`, `::1`, `[::1]:port`.
fn parse_gateway(s: &str) -> Result<Gateway, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("cannot be empty".into());
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Gateway {
            host: ip.to_string(),
            port: IKE_PORT,
        });
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address in brackets needs the closing ']'")?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("'{host}' is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("after ']' only ':port' may follow")?,
            ),
        };
        (host, port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => IKE_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("'{p}' is not a port number (1-65535)"))?,
    };
    if host.parse::<IpAddr>().is_err() && !is_host_name(host) {
        return Err(format!(
            "'{host}' is neither an IP address nor a valid host name"
        ));
    }
    Ok(Gateway {
        host: host.to_owned(),
        port,
    })
}

fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn validate_auth(
    src: &Source<'_>,
    raw: &Spanned<RawAuth>,
    version: IkeVersion,
    gateway: &Gateway,
    base_dir: &Path,
) -> Result<Auth, ProfileError> {
    let a = raw.get_ref();
    let method_raw = a.method.as_ref().ok_or_else(|| {
        src.at(
            raw,
            "[auth] needs `method`: one of psk, cert, eap-mschapv2, xauth-psk, xauth-cert",
        )
    })?;
    let method = match method_raw.get_ref().as_str() {
        "psk" => AuthMethod::Psk,
        "cert" => AuthMethod::Cert,
        "eap-mschapv2" => AuthMethod::EapMschapv2,
        "xauth-psk" => AuthMethod::XauthPsk,
        "xauth-cert" => AuthMethod::XauthCert,
        other => {
            return Err(src.at(
                method_raw,
                format!("method \"{other}\" is not known; use psk, cert, eap-mschapv2, xauth-psk or xauth-cert"),
            ))
        }
    };
    let is_v1 = version != IkeVersion::Ikev2;
    match (method, is_v1) {
        (AuthMethod::EapMschapv2, true) => {
            return Err(src.at(
                method_raw,
                "eap-mschapv2 exists only in IKEv2; for an IKEv1 gateway with a username and password use xauth-psk or xauth-cert",
            ))
        }
        (AuthMethod::XauthPsk | AuthMethod::XauthCert, false) => {
            return Err(src.at(
                method_raw,
                "XAuth exists only in IKEv1; set version = \"ikev1-main\" or \"ikev1-aggressive\", or use eap-mschapv2 with IKEv2",
            ))
        }
        _ => {}
    }
    let identity = |v: &Spanned<String>, key: &str| {
        Identity::parse(v.get_ref()).map_err(|why| src.at(v, format!("`{key}`: {why}")))
    };
    let local_id = a
        .local_id
        .as_ref()
        .map(|v| identity(v, "local_id"))
        .transpose()?;
    let remote_id = match &a.remote_id {
        Some(v) => identity(v, "remote_id")?,
        None => Identity::parse(&gateway.host).map_err(|why| src.nowhere(why))?,
    };
    let username = a.username.as_ref().map(|u| u.get_ref().trim().to_owned());
    if method.needs_password() && username.as_deref().is_none_or(str::is_empty) {
        return Err(src.at(
            method_raw,
            format!(
                "method \"{}\" needs `username` in [auth] (the password goes in the keychain: strait secret set <profile> password)",
                method.as_str()
            ),
        ));
    }
    let resolve = |p: &Spanned<String>| {
        let text = p.get_ref().trim();
        if text.is_empty() {
            return Err(src.at(p, "a file path cannot be empty"));
        }
        let path = PathBuf::from(text);
        Ok(if path.is_absolute() {
            path
        } else {
            base_dir.join(path)
        })
    };
    let certificate = a.certificate.as_ref().map(resolve).transpose()?;
    if method.needs_certificate() && certificate.is_none() {
        return Err(src.at(
            method_raw,
            format!(
                "method \"{}\" needs `certificate` in [auth]: our certificate chain (PEM or PKCS#12)",
                method.as_str()
            ),
        ));
    }
    let ca = a.ca.iter().map(resolve).collect::<Result<Vec<_>, _>>()?;
    Ok(Auth {
        method,
        local_id,
        remote_id,
        username,
        certificate,
        ca,
    })
}

fn validate_crypto(src: &Source<'_>, raw: RawCrypto) -> Result<Crypto, ProfileError> {
    let allow_weak = raw.allow_weak;
    let ike = if raw.ike.is_empty() {
        IkeProposal::default_set()
    } else {
        raw.ike
            .iter()
            .map(|s| {
                IkeProposal::parse(s.get_ref(), allow_weak)
                    .map_err(|e| src.at(s, format!("[crypto] ike: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let esp = if raw.esp.is_empty() {
        EspProposal::default_set()
    } else {
        raw.esp
            .iter()
            .map(|s| {
                EspProposal::parse(s.get_ref(), allow_weak)
                    .map_err(|e| src.at(s, format!("[crypto] esp: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let ike_lifetime = duration_or(
        src,
        raw.ike_lifetime.as_ref(),
        "ike_lifetime",
        DEFAULT_IKE_LIFETIME,
    )?
    .ok_or_else(|| src.nowhere("`ike_lifetime` cannot be 0"))?;
    let esp_lifetime = duration_or(
        src,
        raw.esp_lifetime.as_ref(),
        "esp_lifetime",
        DEFAULT_ESP_LIFETIME,
    )?
    .ok_or_else(|| src.nowhere("`esp_lifetime` cannot be 0"))?;
    for (value, key, d) in [
        (&raw.ike_lifetime, "ike_lifetime", ike_lifetime),
        (&raw.esp_lifetime, "esp_lifetime", esp_lifetime),
    ] {
        if d < Duration::from_secs(60) {
            let message = format!("`{key}` must be at least 1 minute (rekeying more often than that would interrupt traffic)");
            return Err(match value {
                Some(v) => src.at(v, message),
                None => src.nowhere(message),
            });
        }
    }
    Ok(Crypto {
        ike,
        esp,
        ike_text: raw.ike.iter().map(|s| s.get_ref().clone()).collect(),
        esp_text: raw.esp.iter().map(|s| s.get_ref().clone()).collect(),
        allow_weak,
        ike_lifetime,
        esp_lifetime,
    })
}

/// A duration such as "30s", "1h", "24h", "1h 30m"; "0"/"0s" means off (`None`).
fn duration_or(
    src: &Source<'_>,
    value: Option<&Spanned<String>>,
    key: &str,
    default: Duration,
) -> Result<Option<Duration>, ProfileError> {
    let Some(v) = value else {
        return Ok(Some(default));
    };
    let text = v.get_ref().trim();
    if text == "0" {
        return Ok(None);
    }
    let d = humantime::parse_duration(text).map_err(|e| {
        src.at(
            v,
            format!("`{key} = \"{text}\"` is not a duration ({e}); write it like \"30s\", \"20m\", \"1h\" or \"24h\""),
        )
    })?;
    if d > Duration::from_secs(30 * 24 * 3600) {
        return Err(src.at(v, format!("`{key}` is longer than 30 days")));
    }
    Ok((!d.is_zero()).then_some(d))
}

fn validate_network(src: &Source<'_>, raw: RawNetwork) -> Result<Network, ProfileError> {
    let mode = match &raw.mode {
        None => Mode::Tunnel,
        Some(m) => match m.get_ref().as_str() {
            "tunnel" => Mode::Tunnel,
            "transport" => Mode::Transport,
            other => {
                return Err(src.at(
                    m,
                    format!("mode \"{other}\" is not known; use \"tunnel\" or \"transport\""),
                ))
            }
        },
    };
    let routes = raw
        .routes
        .iter()
        .map(|r| {
            let text = r.get_ref().trim();
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    src.at(
                        r,
                        format!("route \"{text}\" is not a subnet; write it like \"10.0.0.0/8\" or \"2001:db8::/32\""),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dns = match &raw.dns {
        None => Dns::Gateway,
        Some(d) => match d.get_ref() {
            RawDns::Keyword(k) if k == "gateway" => Dns::Gateway,
            RawDns::Keyword(k) if k == "none" => Dns::None,
            RawDns::Keyword(k) => {
                return Err(src.at(
                    d,
                    format!("dns = \"{k}\" is not known; use \"gateway\", \"none\" or a list of addresses like [\"10.0.0.53\"]"),
                ))
            }
            RawDns::Servers(list) => {
                let servers = list
                    .iter()
                    .map(|s| {
                        s.trim().parse::<IpAddr>().map_err(|_| {
                            src.at(d, format!("DNS server \"{s}\" is not an IP address"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if servers.is_empty() {
                    return Err(src.at(d, "dns = [] lists no servers; use dns = \"none\" to leave DNS alone"));
                }
                Dns::Servers(servers)
            }
        },
    };
    let dpd = duration_or(src, raw.dpd.as_ref(), "dpd", DEFAULT_DPD)?;
    let nat_keepalive = duration_or(
        src,
        raw.nat_keepalive.as_ref(),
        "nat_keepalive",
        DEFAULT_NAT_KEEPALIVE,
    )?;
    Ok(Network {
        mode,
        routes,
        dns,
        dpd,
        nat_keepalive,
        kill_switch: raw.kill_switch,
    })
}
