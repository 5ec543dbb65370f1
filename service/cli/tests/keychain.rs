//! The OS keychain for real: `strait secret set` stores into a Secret Service (gnome-keyring
//! on a private D-Bus session) and `strait connect` reads from it.
//!
//! Ignored by default because it needs packages a plain build machine lacks:
//!
//! ```sh
//! apt-get install -y gnome-keyring dbus-x11 libsecret-tools   # (cargo xtask setup keychain)
//! cargo test -p strait-cli --test keychain -- --ignored
//! ```
//!
//! The test starts its own `dbus-run-session` with an unlocked gnome-keyring inside, so it
//! never touches the developer's own keychain and needs no desktop session.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{connected, profile, write, Fake};
use strait_ipc::{Request, Response, Secret};

/// Starts gnome-keyring in the session and waits until it owns `org.freedesktop.secrets` (a
/// call before that would make D-Bus start a second, locked daemon); then runs the steps.
const SCRIPT: &str = r#"
set -e
echo -n test-login | gnome-keyring-daemon --components=secrets --daemonize --unlock >/dev/null
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q 'boolean true'; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "gnome-keyring did not start" >&2; exit 90; }
    sleep 0.1
done
printf 's3cret\n' | "$STRAIT" secret set acme psk
"$STRAIT" secret set acme password --from-file "$PASSWORD_FILE"
echo "psk=$(secret-tool lookup service strait username acme/psk)"
echo "password=$(secret-tool lookup service strait username acme/password)"
printf 'p12-pass\n' | "$STRAIT" secret set acme key --from-file "$P12_FILE"
secret-tool lookup service strait username acme/key > "$KEY_OUT"
"$STRAIT" connect acme
"#;

#[test]
#[ignore = "needs gnome-keyring, dbus-x11 and libsecret-tools; run with --ignored"]
fn secrets_stored_with_secret_set_are_sent_by_connect() {
    let fake = Fake::start(|req, _| match req {
        Request::ListProfiles => Ok(Response::Profiles {
            profiles: vec![profile("acme", "xauth-psk")],
        }),
        Request::Connect { .. } => Ok(Response::Status {
            connections: vec![connected("acme")],
        }),
        _ => Ok(Response::Ok),
    });
    let dir = tempfile::tempdir().unwrap();
    let password = write(dir.path(), "password", b"hunter2\n");
    // A PKCS#12 file protected by a password, as `openssl pkcs12 -export` writes it.
    let d = dir.path();
    for args in [
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
        ][..],
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
            "pass:p12-pass",
        ][..],
    ] {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let key_out = d.join("key.out");
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", SCRIPT])
        .env("STRAIT", env!("CARGO_BIN_EXE_strait"))
        .env("STRAIT_SOCKET", &fake.path)
        .env("PASSWORD_FILE", &password)
        .env("P12_FILE", d.join("alice.p12"))
        .env("KEY_OUT", &key_out)
        // gnome-keyring keeps its keyrings under $XDG_DATA_HOME: a fresh one per run.
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_RUNTIME_DIR", dir.path().join("run"))
        .output()
        .expect("dbus-run-session (apt-get install dbus)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // Stored under service `strait`, account `<profile>/<kind>` (design.md).
    assert!(stdout.contains("psk=s3cret\n"), "{stdout}");
    assert!(stdout.contains("password=hunter2\n"), "{stdout}");
    assert!(stdout.contains("connected to acme"), "{stdout}");
    assert!(stderr.contains("stored the psk for acme"), "{stderr}");
    assert!(!stderr.contains("s3cret") && !stderr.contains("hunter2"));

    // The key is stored decrypted as PEM with its certificate; the password is not stored.
    let key = std::fs::read_to_string(&key_out).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    assert!(key.contains("-----BEGIN CERTIFICATE-----"));
    assert!(!key.contains("ENCRYPTED") && !key.contains("p12-pass"));
    assert!(stderr.contains("stored the key for acme"), "{stderr}");
    assert!(!stderr.contains("p12-pass") && !stdout.contains("p12-pass"));

    // connect read both from the keychain, and nothing the method does not need.
    let connect = fake
        .requests()
        .into_iter()
        .find_map(|r| match r {
            Request::Connect { secrets, .. } => Some(secrets),
            _ => None,
        })
        .expect("a Connect request");
    assert_eq!(connect.psk.as_ref().map(Secret::expose), Some("s3cret"));
    assert_eq!(
        connect.password.as_ref().map(Secret::expose),
        Some("hunter2")
    );
    assert!(connect.key.is_none());
}
