//! Secrets: the kinds a profile can need, reading them from files or stdin, and the OS
//! keychain (service `strait`, account `<profile-id>/<kind>`; design.md).
//!
//! Secret text only ever lives in [`Secret`] (zeroized on drop, redacted in `Debug`) or in a
//! [`Zeroizing`] buffer, and is never printed.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use strait_ipc::{Secret, Secrets};
use zeroize::{Zeroize, Zeroizing};

/// The keychain service name of every Strait entry.
pub const KEYCHAIN_SERVICE: &str = "strait";

/// A kind of secret a profile can need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Pre-shared key.
    Psk,
    /// Password (EAP-MSCHAPv2, XAuth).
    Password,
    /// Private key of the profile's certificate (PEM; DER or PKCS#12 stored as base64).
    Key,
}

impl Kind {
    /// Every kind, in the order they are looked up.
    pub const ALL: [Kind; 3] = [Kind::Psk, Kind::Password, Kind::Key];

    /// The name used on the command line and in keychain accounts.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Psk => "psk",
            Kind::Password => "password",
            Kind::Key => "key",
        }
    }

    /// Parses a name as used on the command line.
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kinds an authentication method (as `ProfileSummary::method` spells it) needs;
    /// every kind for a method this client does not know.
    pub fn needed_by(method: &str) -> Vec<Kind> {
        match method {
            "psk" => vec![Kind::Psk],
            "cert" => vec![Kind::Key],
            "eap-mschapv2" => vec![Kind::Password],
            "xauth-psk" => vec![Kind::Psk, Kind::Password],
            "xauth-cert" => vec![Kind::Key, Kind::Password],
            _ => Kind::ALL.to_vec(),
        }
    }
}

/// The secret of `kind` in `secrets`.
pub fn slot(secrets: &mut Secrets, kind: Kind) -> &mut Option<Secret> {
    match kind {
        Kind::Psk => &mut secrets.psk,
        Kind::Password => &mut secrets.password,
        Kind::Key => &mut secrets.key,
    }
}

/// Parses a `--secret KIND=FILE` argument.
pub fn parse_secret_arg(s: &str) -> Result<(Kind, PathBuf), String> {
    let (kind, file) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KIND=FILE (e.g. psk=/path/to/file)"))?;
    let kind = Kind::from_name(kind)
        .ok_or_else(|| format!("unknown secret kind `{kind}`: use psk, password or key"))?;
    if file.is_empty() {
        return Err(format!("no file after `{}=`", kind.as_str()));
    }
    Ok((kind, PathBuf::from(file)))
}

/// Turns raw bytes into secret text: trailing newlines are trimmed; a key that is binary (DER
/// or PKCS#12: not UTF-8, or starting like a DER SEQUENCE) is base64-encoded, as the IPC
/// protocol expects and `straitd` decodes.
pub fn secret_from_bytes(kind: Kind, bytes: Zeroizing<Vec<u8>>) -> anyhow::Result<Secret> {
    let mut bytes = bytes;
    if kind == Kind::Key && bytes.first() == Some(&0x30) {
        // DER can be valid UTF-8 by chance, and may end in a byte that looks like a newline.
        return Ok(Secret::new(base64(&bytes)));
    }
    let text = match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => text,
        Err(e) => {
            let mut raw = Zeroizing::new(e.into_bytes());
            if kind != Kind::Key {
                return Err(anyhow!(
                    "the {} is not text (UTF-8); a {} must be text",
                    kind.as_str(),
                    kind.as_str()
                ));
            }
            let encoded = base64(&raw);
            raw.zeroize();
            return Ok(Secret::new(encoded));
        }
    };
    let mut text = Zeroizing::new(text);
    let len = text.trim_end_matches(['\r', '\n']).len();
    text.truncate(len);
    if text.is_empty() {
        return Err(anyhow!("the {} is empty", kind.as_str()));
    }
    Ok(Secret::new(std::mem::take(&mut *text)))
}

/// Reads a secret from a file (`--secret KIND=FILE`, `--from-file FILE`).
pub fn read_secret_file(kind: Kind, path: &Path) -> anyhow::Result<Secret> {
    let bytes =
        Zeroizing::new(std::fs::read(path).with_context(|| {
            format!("cannot read the {} file {}", kind.as_str(), path.display())
        })?);
    secret_from_bytes(kind, bytes).with_context(|| format!("in {}", path.display()))
}

/// Reads a secret from standard input: one line when it is a terminal (a key: until end of
/// input), everything otherwise.
pub fn read_secret_stdin(kind: Kind, profile: &str) -> anyhow::Result<Secret> {
    use std::io::IsTerminal;
    let stdin = std::io::stdin();
    let mut buf = Zeroizing::new(Vec::new());
    if stdin.is_terminal() && kind != Kind::Key {
        eprint!("{} for {profile} (then Enter): ", kind.as_str());
        let mut line = Zeroizing::new(String::new());
        stdin
            .read_line(&mut line)
            .context("cannot read standard input")?;
        buf.extend_from_slice(line.as_bytes());
    } else {
        if stdin.is_terminal() {
            eprintln!("paste the private key for {profile}, then press Ctrl-D:");
        }
        stdin
            .lock()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
    }
    secret_from_bytes(kind, buf)
}

/// The keychain account of a profile's secret.
pub fn account(profile: &str, kind: Kind) -> String {
    format!("{profile}/{}", kind.as_str())
}

/// Stores a secret in the OS keychain, replacing any earlier one.
pub fn store(profile: &str, kind: Kind, secret: &Secret) -> Result<(), keyring::Error> {
    keyring::Entry::new(KEYCHAIN_SERVICE, &account(profile, kind))?.set_password(secret.expose())
}

/// Reads a secret from the OS keychain; `Ok(None)` when there is no such entry.
pub fn load(profile: &str, kind: Kind) -> Result<Option<Secret>, keyring::Error> {
    let entry = keyring::Entry::new(KEYCHAIN_SERVICE, &account(profile, kind))?;
    match entry.get_password() {
        Ok(s) => Ok(Some(Secret::new(s))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Standard base64 with padding (allocated once at its final size, so no copy of the
/// secret is left behind by a reallocation; callers move it into a [`Secret`]).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn trailing_newlines_are_trimmed_and_binary_keys_encoded() {
        let s = secret_from_bytes(Kind::Psk, Zeroizing::new(b"s3cret\r\n".to_vec())).unwrap();
        assert_eq!(s.expose(), "s3cret");
        let k = secret_from_bytes(Kind::Key, Zeroizing::new(vec![0xff, 0x00, 0x10])).unwrap();
        assert_eq!(k.expose(), "/wAQ");
        // DER that happens to be UTF-8 and ends in a newline byte is encoded whole.
        let k = secret_from_bytes(Kind::Key, Zeroizing::new(vec![0x30, 0x01, 0x0a])).unwrap();
        assert_eq!(k.expose(), "MAEK");
        assert!(secret_from_bytes(Kind::Psk, Zeroizing::new(vec![0xff])).is_err());
        assert!(secret_from_bytes(Kind::Password, Zeroizing::new(b"\n".to_vec())).is_err());
    }

    #[test]
    fn secret_args_parse() {
        assert_eq!(
            parse_secret_arg("psk=/tmp/x").unwrap(),
            (Kind::Psk, PathBuf::from("/tmp/x"))
        );
        assert!(parse_secret_arg("psk").is_err());
        assert!(parse_secret_arg("token=/x").is_err());
        assert!(parse_secret_arg("key=").is_err());
    }

    #[test]
    fn methods_map_to_kinds() {
        assert_eq!(
            Kind::needed_by("xauth-cert"),
            vec![Kind::Key, Kind::Password]
        );
        assert_eq!(Kind::needed_by("something-new"), Kind::ALL.to_vec());
    }
}
