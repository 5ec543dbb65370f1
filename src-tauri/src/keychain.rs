//! Profile secrets in the user's OS keychain, the same entries the `strait` CLI uses
//! (service `strait`, account `<profile-id>/<kind>`; design.md), so a secret stored by one is
//! found by the other.
//!
//! Secret text only lives in [`Secret`] (zeroized on drop, redacted in `Debug`) and is never
//! logged, returned to the web view, or written anywhere else.

use strait_ipc::{Secret, Secrets};

/// The keychain service name of every Strait entry.
pub const KEYCHAIN_SERVICE: &str = "strait";

/// A kind of secret a profile can need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Pre-shared key.
    Psk,
    /// Password (EAP-MSCHAPv2, XAuth).
    Password,
    /// Private key of the profile's certificate.
    Key,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Psk, Kind::Password, Kind::Key];

    /// The name used in keychain accounts and by the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Psk => "psk",
            Kind::Password => "password",
            Kind::Key => "key",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kinds an authentication method needs (every kind for a method we do not know).
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

    /// What the user calls it.
    pub fn human(self) -> &'static str {
        match self {
            Kind::Psk => "pre-shared key",
            Kind::Password => "password",
            Kind::Key => "private key",
        }
    }
}

/// The keychain account of a profile's secret.
pub fn account(profile: &str, kind: Kind) -> String {
    format!("{profile}/{}", kind.as_str())
}

fn entry(profile: &str, kind: Kind) -> Result<keyring::Entry, keyring::Error> {
    keyring::Entry::new(KEYCHAIN_SERVICE, &account(profile, kind))
}

/// Stores a secret, replacing any earlier one.
pub fn store(profile: &str, kind: Kind, secret: &Secret) -> Result<(), keyring::Error> {
    entry(profile, kind)?.set_password(secret.expose())
}

/// Reads a secret; `Ok(None)` when there is none.
pub fn load(profile: &str, kind: Kind) -> Result<Option<Secret>, keyring::Error> {
    match entry(profile, kind)?.get_password() {
        Ok(s) => Ok(Some(Secret::new(s))),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a secret is stored (a keychain that cannot be read counts as "no").
pub fn has(profile: &str, kind: Kind) -> bool {
    matches!(load(profile, kind), Ok(Some(_)))
}

/// Deletes a secret; deleting one that is not there is not an error.
pub fn delete(profile: &str, kind: Kind) -> Result<(), keyring::Error> {
    match entry(profile, kind)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The secrets a profile's method needs, read from the keychain for a connect request.
/// Fails with the kind that is missing, so the UI can ask for it.
pub fn secrets_for(profile: &str, method: &str) -> Result<Secrets, MissingSecret> {
    let mut secrets = Secrets::default();
    for kind in Kind::needed_by(method) {
        let secret = match load(profile, kind) {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(MissingSecret {
                    kind,
                    keychain_error: None,
                })
            }
            Err(e) => {
                return Err(MissingSecret {
                    kind,
                    keychain_error: Some(e.to_string()),
                })
            }
        };
        let slot = match kind {
            Kind::Psk => &mut secrets.psk,
            Kind::Password => &mut secrets.password,
            Kind::Key => &mut secrets.key,
        };
        *slot = Some(secret);
    }
    Ok(secrets)
}

/// A secret a connect needs is not in the keychain (or the keychain could not be read).
#[derive(Debug)]
pub struct MissingSecret {
    /// Which.
    pub kind: Kind,
    /// Why it could not be read, when the keychain failed.
    pub keychain_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_match_the_cli_and_the_design() {
        assert_eq!(account("acme-hq", Kind::Psk), "acme-hq/psk");
        assert_eq!(account("acme-hq", Kind::Password), "acme-hq/password");
        assert_eq!(account("acme-hq", Kind::Key), "acme-hq/key");
        assert_eq!(Kind::from_name("password"), Some(Kind::Password));
        assert_eq!(Kind::from_name("token"), None);
        assert_eq!(Kind::needed_by("xauth-psk"), [Kind::Psk, Kind::Password]);
    }

    /// Starts gnome-keyring on the private session bus, waits until it owns
    /// `org.freedesktop.secrets` (a call before that would make D-Bus start a second, locked
    /// daemon), then runs this test binary again inside the session.
    const SESSION: &str = r#"
set -e
echo -n test-login | gnome-keyring-daemon --components=secrets --daemonize --unlock >/dev/null
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q 'boolean true'; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "gnome-keyring did not start" >&2; exit 90; }
    sleep 0.1
done
exec "$TEST_EXE" --ignored --exact --nocapture keychain::tests::real_secret_service_round_trip
"#;

    /// Against a real Secret Service: gnome-keyring on a private `dbus-run-session`, so the
    /// developer's own keychain is never touched. Store, read back (also with `secret-tool`,
    /// as another program sees it), replace, delete.
    #[test]
    #[ignore = "needs gnome-keyring, dbus-x11 and libsecret-tools; run with --ignored"]
    fn real_secret_service_round_trip() {
        if std::env::var_os("STRAIT_APP_KEYCHAIN_SESSION").is_none() {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("run")).unwrap();
            let out = std::process::Command::new("dbus-run-session")
                .args(["--", "sh", "-c", SESSION])
                .env("TEST_EXE", std::env::current_exe().unwrap())
                .env("STRAIT_APP_KEYCHAIN_SESSION", "1")
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_RUNTIME_DIR", dir.path().join("run"))
                .env_remove("DBUS_SESSION_BUS_ADDRESS")
                .output()
                .expect("dbus-run-session (apt-get install dbus)");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
            assert!(
                stdout.contains("1 passed"),
                "the inner test did not run:\n{stdout}"
            );
            assert!(!stdout.contains("first secret") && !stderr.contains("first secret"));
            return;
        }
        let profile = "acme-hq";
        let lookup = || {
            let out = std::process::Command::new("secret-tool")
                .args(["lookup", "service", "strait", "username", "acme-hq/psk"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert!(!has(profile, Kind::Psk));
        store(profile, Kind::Psk, &Secret::new("first secret")).unwrap();
        assert_eq!(
            load(profile, Kind::Psk).unwrap().unwrap().expose(),
            "first secret"
        );
        assert_eq!(lookup(), "first secret");
        store(profile, Kind::Psk, &Secret::new("second secret")).unwrap();
        let secrets = secrets_for(profile, "psk").unwrap();
        assert_eq!(
            secrets.psk.as_ref().map(Secret::expose),
            Some("second secret")
        );
        assert!(!format!("{secrets:?}").contains("second secret"));
        let missing = secrets_for(profile, "xauth-psk").unwrap_err();
        assert_eq!(missing.kind, Kind::Password);
        assert!(missing.keychain_error.is_none());
        delete(profile, Kind::Psk).unwrap();
        assert!(!has(profile, Kind::Psk));
        assert_eq!(lookup(), "");
        delete(profile, Kind::Psk).unwrap();
    }
}
