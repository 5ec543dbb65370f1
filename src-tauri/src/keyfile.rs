//! Importing a private key file (PKCS#12, PEM, DER) into the keychain from the window.
//!
//! The file is opened here, on the Rust side, with `strait-ike`'s
//! [`key_secret_from_file`](strait_ike::cert::key_secret_from_file) (the same function the
//! CLI's `strait secret set … key --from-file` uses): a password-protected file is decrypted
//! with the password the user typed, and the keychain gets the key unencrypted as PEM followed
//! by the certificates that came with it. The password is never stored, logged or sent back to
//! the web view; it lives in a [`Zeroizing`] buffer only as long as the decryption.

use std::path::Path;

use strait_ike::cert::{key_file_needs_password, key_secret_from_file, KeyFileError};
use strait_ipc::Secret;
use zeroize::Zeroizing;

use crate::service::UiError;

/// The largest key file read (real ones are a few kilobytes; a chain in PKCS#12 a few tens).
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// The file name as the user knows it.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// An error that makes the window ask for the file's password (again).
fn password_error(profile: &str, message: String) -> UiError {
    UiError {
        kind: "key_password",
        message,
        detail: None,
        secret: Some((profile.to_owned(), "key")),
    }
}

/// The key secret for `profile` from a key file's contents: `password` is used only when the
/// file needs one; without it such a file yields a `key_password` error so the window asks.
pub fn key_secret(
    profile: &str,
    name: &str,
    bytes: &[u8],
    password: Option<&str>,
) -> Result<Secret, UiError> {
    let needs = key_file_needs_password(bytes);
    let password = if needs {
        match password.filter(|p| !p.is_empty()) {
            Some(p) => Some(p),
            None => {
                return Err(password_error(
                    profile,
                    format!("{name} is protected by a password. Type it to unlock the key."),
                ))
            }
        }
    } else {
        None
    };
    match key_secret_from_file(bytes, password) {
        Ok(mut pem) => Ok(Secret::new(std::mem::take(&mut *pem))),
        Err(KeyFileError::WrongPassword) => Err(password_error(
            profile,
            format!("The password for {name} is wrong. Check it and try again."),
        )),
        Err(KeyFileError::PasswordNeeded) => Err(password_error(
            profile,
            format!("{name} is protected by a password. Type it to unlock the key."),
        )),
        Err(e) => Err(UiError {
            kind: "key_file",
            message: format!(
                "{name} holds no private key Strait can use. Choose the .p12, .pfx or .pem file \
                 your IT department gave you with your certificate."
            ),
            detail: Some(e.to_string()),
            secret: None,
        }),
    }
}

/// Reads a key file the user chose and turns it into the key secret (see [`key_secret`]).
pub fn read_key_secret(
    profile: &str,
    path: &Path,
    password: Option<&str>,
) -> Result<Secret, UiError> {
    let name = file_name(path);
    let cannot_read = |e: std::io::Error| UiError {
        kind: "key_file",
        message: format!("Cannot read {name}."),
        detail: Some(e.to_string()),
        secret: None,
    };
    let len = std::fs::metadata(path).map_err(cannot_read)?.len();
    if len > MAX_KEY_FILE {
        return Err(UiError::new(
            "key_file",
            format!("{name} is too large to be a key file ({len} bytes)."),
        ));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(cannot_read)?);
    key_secret(profile, &name, &bytes, password)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A self-signed certificate and key, and `alice.p12` protected by `password`.
    fn files(dir: &Path, password: &str) {
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
                "alice.key",
                "-out",
                "alice.pem",
                "-subj",
                "/CN=alice",
                "-days",
                "3",
            ],
        );
        let pass = format!("pass:{password}");
        openssl(
            dir,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                "alice.key",
                "-in",
                "alice.pem",
                "-out",
                "alice.p12",
                "-passout",
                &pass,
            ],
        );
    }

    #[test]
    fn a_protected_file_asks_for_its_password_and_stores_the_key_decrypted() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path(), "s3cret");
        let p12 = dir.path().join("alice.p12");

        let e = read_key_secret("hq", &p12, None).unwrap_err();
        assert_eq!(e.kind, "key_password");
        assert_eq!(e.secret, Some(("hq".to_owned(), "key")));
        assert!(
            e.message.contains("alice.p12 is protected by a password"),
            "{e:?}"
        );

        let e = read_key_secret("hq", &p12, Some("wrong")).unwrap_err();
        assert_eq!(e.kind, "key_password");
        assert_eq!(
            e.message,
            "The password for alice.p12 is wrong. Check it and try again."
        );

        let s = read_key_secret("hq", &p12, Some("s3cret")).unwrap();
        assert!(s.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(s.expose().contains("-----BEGIN CERTIFICATE-----"));
        assert!(!s.expose().contains("s3cret"));
    }

    #[test]
    fn unprotected_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path(), "");
        // No password needed: one given is not even looked at.
        let s = read_key_secret("hq", &dir.path().join("alice.p12"), Some("ignored")).unwrap();
        assert!(s.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
        let s = read_key_secret("hq", &dir.path().join("alice.key"), None).unwrap();
        assert!(s.expose().contains("PRIVATE KEY-----"));

        let e = read_key_secret("hq", &dir.path().join("alice.pem"), None).unwrap_err();
        assert_eq!(e.kind, "key_file");
        assert!(
            e.message.starts_with("alice.pem holds no private key"),
            "{e:?}"
        );
        let e = read_key_secret("hq", &dir.path().join("nope.p12"), None).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            ("key_file", "Cannot read nope.p12.")
        );
    }
}
