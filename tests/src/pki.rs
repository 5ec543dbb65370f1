//! A test PKI made with strongSwan's `pki` tool: a CA, and gateway and client
//! certificates (RSA or ECDSA) issued by it, each written as PEM and DER.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::run_checked;

/// The `pki` binary.
pub const PKI: &str = "/usr/bin/pki";

/// A key type `pki --gen` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA with this many bits.
    Rsa(u32),
    /// ECDSA on the NIST curve of this size (256, 384, 521).
    Ecdsa(u32),
}

impl KeyType {
    fn args(self) -> (&'static str, String) {
        match self {
            KeyType::Rsa(bits) => ("rsa", bits.to_string()),
            KeyType::Ecdsa(bits) => ("ecdsa", bits.to_string()),
        }
    }
}

/// Files of one issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: PathBuf,
    /// The certificate, DER.
    pub cert_der: PathBuf,
    /// The private key, PEM (PKCS#1 or SEC1, as `pki` writes it).
    pub key_pem: PathBuf,
    /// The private key, DER.
    pub key_der: PathBuf,
}

/// What to put into an issued certificate.
#[derive(Debug, Clone, Default)]
pub struct IssueOptions {
    /// Subject alternative names (`pki --san`).
    pub sans: Vec<String>,
    /// Extended key usage flags (`pki --flag`).
    pub flags: Vec<String>,
    /// `--not-before` in `%d.%m.%y %T`.
    pub not_before: Option<String>,
    /// `--not-after` in `%d.%m.%y %T`.
    pub not_after: Option<String>,
    /// Issue a CA certificate (intermediate).
    pub ca: bool,
}

fn pki(args: &[&str], out: &Path) -> Result<()> {
    let mut cmd = Command::new(PKI);
    cmd.args(args);
    let o = run_checked(cmd, Duration::from_secs(60))
        .with_context(|| format!("pki {}", args.join(" ")))?;
    std::fs::write(out, o.stdout).with_context(|| format!("writing {}", out.display()))
}

/// Generates a key `name.key.{pem,der}` in `dir`.
fn gen_key(dir: &Path, name: &str, key: KeyType) -> Result<(PathBuf, PathBuf)> {
    let (t, size) = key.args();
    let der = dir.join(format!("{name}.key.der"));
    let pem = dir.join(format!("{name}.key.pem"));
    pki(
        &["--gen", "--type", t, "--size", &size, "--outform", "der"],
        &der,
    )?;
    // PEM of the same key (`pki --gen` cannot convert, so generate PEM from DER by hand).
    let bytes = std::fs::read(&der)?;
    let label = match key {
        KeyType::Rsa(_) => "RSA PRIVATE KEY",
        KeyType::Ecdsa(_) => "EC PRIVATE KEY",
    };
    std::fs::write(&pem, pem_encode(label, &bytes))?;
    Ok((pem, der))
}

/// PEM-encodes `der` with `label`.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                b.push(B64[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A CA in a directory.
#[derive(Debug, Clone)]
pub struct Ca {
    dir: PathBuf,
    /// The CA's own files.
    pub issued: Issued,
}

impl Ca {
    /// Makes a self-signed CA `name` with subject `dn` in `dir`.
    pub fn new(dir: &Path, name: &str, key: KeyType, dn: &str) -> Result<Ca> {
        std::fs::create_dir_all(dir)?;
        let (key_pem, key_der) = gen_key(dir, name, key)?;
        let (t, _) = key.args();
        let cert_der = dir.join(format!("{name}.der"));
        pki(
            &[
                "--self",
                "--ca",
                "--lifetime",
                "3650",
                "--in",
                &key_der.display().to_string(),
                "--type",
                t,
                "--dn",
                dn,
                "--outform",
                "der",
            ],
            &cert_der,
        )?;
        let cert_pem = dir.join(format!("{name}.pem"));
        std::fs::write(
            &cert_pem,
            pem_encode("CERTIFICATE", &std::fs::read(&cert_der)?),
        )?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            issued: Issued {
                cert_pem,
                cert_der,
                key_pem,
                key_der,
            },
        })
    }

    /// Issues a certificate `name` with subject `dn`.
    pub fn issue(&self, name: &str, key: KeyType, dn: &str, opts: &IssueOptions) -> Result<Issued> {
        let (key_pem, key_der) = gen_key(&self.dir, name, key)?;
        let pub_der = self.dir.join(format!("{name}.pub.der"));
        pki(
            &[
                "--pub",
                "--in",
                &key_der.display().to_string(),
                "--outform",
                "der",
            ],
            &pub_der,
        )?;
        let cert_der = self.dir.join(format!("{name}.der"));
        let mut args: Vec<String> = [
            "--issue",
            "--lifetime",
            "365",
            "--in",
            &pub_der.display().to_string(),
            "--type",
            "pub",
            "--cacert",
            &self.issued.cert_der.display().to_string(),
            "--cakey",
            &self.issued.key_der.display().to_string(),
            "--dn",
            dn,
            "--outform",
            "der",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in &opts.sans {
            args.extend(["--san".into(), s.clone()]);
        }
        for f in &opts.flags {
            args.extend(["--flag".into(), f.clone()]);
        }
        if let Some(t) = &opts.not_before {
            args.extend(["--not-before".into(), t.clone()]);
        }
        if let Some(t) = &opts.not_after {
            args.extend(["--not-after".into(), t.clone()]);
        }
        if opts.ca {
            args.push("--ca".into());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        pki(&a, &cert_der)?;
        let cert_pem = self.dir.join(format!("{name}.pem"));
        std::fs::write(
            &cert_pem,
            pem_encode("CERTIFICATE", &std::fs::read(&cert_der)?),
        )?;
        Ok(Issued {
            cert_pem,
            cert_der,
            key_pem,
            key_der,
        })
    }

    /// A CA whose own certificate is `issued` (an intermediate), issuing into `dir`.
    pub fn from_issued(dir: &Path, issued: Issued) -> Ca {
        Ca {
            dir: dir.to_path_buf(),
            issued,
        }
    }
}

/// How a certificate-authenticated lab gateway wants the client to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// EAP-MSCHAPv2 (any EAP identity; the user is [`EAP_USER`]).
    Eap,
    /// A certificate issued by the lab CA, for the identity given to [`gateway_swanctl`].
    Certificate,
}

/// The EAP user the certificate gateway knows.
pub const EAP_USER: &str = "alice";
/// Its password.
pub const EAP_PASSWORD: &str = "correct horse battery staple";

/// A swanctl.conf for the lab gateway authenticating with `gateway_cert` as `gateway_id` (its
/// private key must be in the charon's `private/` dir), pushing `pool` and `dns`, protecting
/// `lan`, and expecting `client` auth; `ca` issued the client certificates.
#[allow(clippy::too_many_arguments)]
pub fn gateway_swanctl(
    addr: std::net::Ipv4Addr,
    gateway_cert: &Path,
    gateway_id: &str,
    ca: &Path,
    client: ClientAuth,
    client_id: &str,
    lan: &str,
    pool: &str,
    dns: std::net::Ipv4Addr,
) -> String {
    let gw = gateway_cert.display();
    let ca = ca.display();
    let remote = match client {
        ClientAuth::Eap => "      auth = eap-mschapv2\n      eap_id = %any\n".to_string(),
        ClientAuth::Certificate => {
            format!("      auth = pubkey\n      id = {client_id}\n      cacerts = {ca}\n")
        }
    };
    format!(
        "connections {{
  lab {{
    version = 2
    proposals = aes256gcm16-prfsha256-ecp256
    local_addrs = {addr}
    pools = lab-pool
    local {{
      auth = pubkey
      certs = {gw}
      id = {gateway_id}
    }}
    remote {{
{remote}    }}
    children {{
      lan {{
        local_ts = {lan}
        esp_proposals = aes256gcm16
      }}
    }}
  }}
}}
pools {{
  lab-pool {{
    addrs = {pool}
    dns = {dns}
  }}
}}
secrets {{
  eap-alice {{
    id = {EAP_USER}
    secret = \"{EAP_PASSWORD}\"
  }}
}}
authorities {{
  lab-ca {{
    cacert = {ca}
  }}
}}
"
    )
}
