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
    /// Private key of the profile's certificate (PEM, DER or PKCS#12, stored decrypted as
    /// PEM with the certificates that came with it).
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

/// Reads a secret from a file (`--secret KIND=FILE`, `--from-file FILE`). A key file that
/// needs a password gets it from [`read_password`]; see [`key_secret`].
pub fn read_secret_file(kind: Kind, path: &Path) -> anyhow::Result<Secret> {
    let bytes =
        Zeroizing::new(std::fs::read(path).with_context(|| {
            format!("cannot read the {} file {}", kind.as_str(), path.display())
        })?);
    if kind == Kind::Key {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        return key_secret(&bytes, &name, || read_password(&name));
    }
    secret_from_bytes(kind, bytes).with_context(|| format!("in {}", path.display()))
}

/// The key secret the keychain stores for a key file (`name` in messages): the key decrypted
/// as PEM, then the certificates that came with it, so the password is never stored and the
/// service never needs it. `ask` is called only when the file needs a password.
pub fn key_secret(
    bytes: &[u8],
    name: &str,
    ask: impl FnOnce() -> anyhow::Result<Zeroizing<String>>,
) -> anyhow::Result<Secret> {
    use strait_ike::cert::{key_file_needs_password, key_secret_from_file, KeyFileError};
    let password = if key_file_needs_password(bytes) {
        Some(ask()?)
    } else {
        None
    };
    match key_secret_from_file(bytes, password.as_ref().map(|p| p.as_str())) {
        Ok(mut pem) => Ok(Secret::new(std::mem::take(&mut *pem))),
        Err(KeyFileError::WrongPassword) => Err(anyhow!(
            "the password for {name} is wrong; try again (check the keyboard layout)"
        )),
        Err(KeyFileError::PasswordNeeded) => Err(anyhow!(
            "{name} is protected by a password, and none was given; type it when asked, or \
             pipe it in: `echo PASSWORD | strait secret set PROFILE key --from-file {name}`"
        )),
        Err(e) => Err(anyhow!("{name}: {e}")),
    }
}

/// A key file's password: asked on the terminal without echo, or the first line of standard
/// input when that is not a terminal (so scripts can pipe it in).
pub fn read_password(name: &str) -> anyhow::Result<Zeroizing<String>> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let pw = rpassword::prompt_password(format!("password for {name}: "))
            .context("cannot read the password from the terminal")?;
        return Ok(Zeroizing::new(pw));
    }
    // Room for any real password up front, so growing leaves no copy behind; a longer "line"
    // is not a password and is cut off rather than read without end.
    const MAX_PASSWORD: u64 = 1024;
    let mut line = Zeroizing::new(String::with_capacity(MAX_PASSWORD as usize));
    std::io::Read::take(stdin.lock(), MAX_PASSWORD)
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let len = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(len);
    Ok(line)
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
        if kind == Kind::Key {
            // The password of an encrypted key cannot follow on the same input; ask the
            // terminal, or say to use a file.
            let terminal = stdin.is_terminal();
            return key_secret(&buf, "the key", || {
                if terminal {
                    let pw = rpassword::prompt_password("password for the key: ")
                        .context("cannot read the password from the terminal")?;
                    Ok(Zeroizing::new(pw))
                } else {
                    Err(anyhow!(
                        "the key is protected by a password, which cannot come from the same \
                         standard input; save the key to a file and use `--from-file FILE` \
                         (the password can then be piped in)"
                    ))
                }
            });
        }
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

    /// `openssl` in a temporary directory (the files are made at test time).
    fn openssl(dir: &Path, args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn p12(dir: &Path, password: &str) -> Vec<u8> {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "me.key",
                "-out",
                "me.pem",
                "-subj",
                "/CN=me.test",
                "-days",
                "3",
            ],
        );
        let pass = format!("pass:{password}");
        openssl(
            dir,
            &[
                "pkcs12", "-export", "-inkey", "me.key", "-in", "me.pem", "-out", "me.p12",
                "-passout", &pass,
            ],
        );
        std::fs::read(dir.join("me.p12")).unwrap()
    }

    #[test]
    fn key_files_are_stored_decrypted_and_the_password_only_asked_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let locked = p12(dir.path(), "hunter2");
        let s = key_secret(&locked, "me.p12", || Ok(Zeroizing::new("hunter2".into()))).unwrap();
        assert!(s.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(s.expose().contains("-----BEGIN CERTIFICATE-----"));
        assert!(!s.expose().contains("hunter2"));
        let e = key_secret(&locked, "me.p12", || Ok(Zeroizing::new("hunter3".into())))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("the password for me.p12 is wrong"), "{e}");
        let e = key_secret(&locked, "me.p12", || Ok(Zeroizing::new(String::new())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("me.p12 is protected by a password"), "{e}");

        // Without a password nothing is asked.
        let open = p12(dir.path(), "");
        let s = key_secret(&open, "me.p12", || panic!("asked for a password")).unwrap();
        assert!(s.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
        let pem = std::fs::read(dir.path().join("me.key")).unwrap();
        let s = key_secret(&pem, "me.key", || panic!("asked for a password")).unwrap();
        assert!(s.expose().contains("PRIVATE KEY-----"));
        let e = key_secret(b"not a key", "x.pem", || panic!("asked")).unwrap_err();
        assert!(e.to_string().starts_with("x.pem: "), "{e}");
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
