//! `straitd` and the `strait` CLI with certificate-authenticated gateways: a profile with
//! `method = "eap-mschapv2"` (password from `--secret password=FILE`) and one with
//! `method = "cert"` (private key from `--secret key=FILE`), both trusting the lab CA through
//! the profile's `ca`, which `strait import` copies into the store. The certificate and its key
//! may also come as a PKCS#12 file (made with `openssl pkcs12 -export`), also one protected
//! by a password, whose key `strait secret set … key --from-file` stores decrypted in a real
//! keychain (gnome-keyring on a private D-Bus session).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use strait_interop::pki::{
    gateway_swanctl, Ca, ClientAuth, IssueOptions, Issued, KeyType, EAP_PASSWORD, EAP_USER,
};
use strait_interop::{
    wait_until, GatewayConfig, Lab, Node, StraitService, Topology, LAN_HOST, LAN_SUBNET, VIP_POOL,
};

const GATEWAY_ID: &str = "gateway.lab.strait";
const CLIENT_ID: &str = "client.lab.strait";

fn cli(svc: &StraitService, args: &[&str]) -> std::process::Output {
    let out = svc.cli(args).unwrap();
    eprintln!(
        "$ strait {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A lab whose gateway has an ECDSA certificate from a fresh RSA CA; returns the CA and the
/// client's certificate.
fn lab(client: ClientAuth) -> (Lab, Issued, Issued) {
    let lab = Lab::start(Topology::default(), &GatewayConfig::default()).unwrap();
    let ca = Ca::new(
        &lab.dir().join("pki"),
        "ca",
        KeyType::Rsa(2048),
        "C=CH, O=Strait Lab, CN=Strait Lab Root CA",
    )
    .unwrap();
    let opts = |san: &str| IssueOptions {
        sans: vec![san.into()],
        ..Default::default()
    };
    let gw_cert = ca
        .issue(
            "gateway",
            KeyType::Ecdsa(256),
            &format!("C=CH, O=Strait Lab, CN={GATEWAY_ID}"),
            &opts(GATEWAY_ID),
        )
        .unwrap();
    let client_cert = ca
        .issue(
            "client",
            KeyType::Rsa(2048),
            &format!("C=CH, O=Strait Lab, CN={CLIENT_ID}"),
            &opts(CLIENT_ID),
        )
        .unwrap();
    let gw = lab.gateway().unwrap();
    std::fs::copy(
        &gw_cert.key_der,
        gw.swanctl_dir().join("private").join("gateway.der"),
    )
    .unwrap();
    gw.load_config(&gateway_swanctl(
        lab.gateway_addr(),
        &gw_cert.cert_pem,
        GATEWAY_ID,
        &ca.issued.cert_pem,
        client,
        CLIENT_ID,
        LAN_SUBNET,
        VIP_POOL,
        LAN_HOST,
    ))
    .unwrap();
    (lab, ca.issued, client_cert)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn profile(lab: &Lab, id: &str, auth: &str) -> String {
    write(
        lab.dir(),
        &format!("{id}.toml"),
        &format!(
            "name = \"Cert lab\"\ngateway = \"198.18.1.1\"\nversion = \"ikev2\"\n\n[auth]\n\
             {auth}remote_id = \"{GATEWAY_ID}\"\nca = [\"pki/ca.pem\"]\n"
        ),
    )
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn eap_mschapv2_profile_connects_and_wrong_password_is_explained() {
    let (lab, _ca, _) = lab(ClientAuth::Eap);
    let svc = StraitService::start(&lab).unwrap();
    let p = profile(
        &lab,
        "eap",
        &format!("method = \"eap-mschapv2\"\nusername = \"{EAP_USER}\"\n"),
    );
    assert!(cli(&svc, &["import", &p]).status.success());

    let wrong = write(lab.dir(), "wrong", "not the password\n");
    let out = cli(
        &svc,
        &["connect", "eap", "--secret", &format!("password={wrong}")],
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("wrong username or password"), "{text}");
    assert!(
        !text.contains("not the password"),
        "the password leaked: {text}"
    );

    let right = write(lab.dir(), "right", &format!("{EAP_PASSWORD}\n"));
    let out = cli(
        &svc,
        &["connect", "eap", "--secret", &format!("password={right}")],
    );
    assert!(
        out.status.success(),
        "connect failed; service log:\n{}",
        svc.handle.output()
    );
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the tunnel; service log:\n{}",
        svc.handle.output()
    );
    assert!(cli(&svc, &["disconnect", "eap"]).status.success());
    assert!(
        !svc.handle.output().contains(EAP_PASSWORD),
        "the password is in the service log"
    );
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn certificate_profile_connects() {
    let (lab, _ca, client) = lab(ClientAuth::Certificate);
    let svc = StraitService::start(&lab).unwrap();
    std::fs::copy(&client.cert_pem, lab.dir().join("client.pem")).unwrap();
    let p = profile(
        &lab,
        "cert",
        &format!("method = \"cert\"\nlocal_id = \"{CLIENT_ID}\"\ncertificate = \"client.pem\"\n"),
    );
    assert!(cli(&svc, &["import", &p]).status.success());
    let key = client.key_pem.display().to_string();
    let out = cli(
        &svc,
        &["connect", "cert", "--secret", &format!("key={key}")],
    );
    assert!(
        out.status.success(),
        "connect failed; service log:\n{}",
        svc.handle.output()
    );
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the tunnel; service log:\n{}",
        svc.handle.output()
    );
    assert!(cli(&svc, &["disconnect", "cert"]).status.success());
}

/// `openssl pkcs12 -export` of the client's key and certificate with the lab CA, under
/// `password` (empty: none).
fn pkcs12(dir: &Path, name: &str, client: &Issued, ca: &Issued, password: &str) -> String {
    let out = dir.join(name);
    let status = std::process::Command::new("openssl")
        .arg("pkcs12")
        .arg("-export")
        .arg("-inkey")
        .arg(&client.key_pem)
        .arg("-in")
        .arg(&client.cert_pem)
        .arg("-certfile")
        .arg(&ca.cert_pem)
        .arg("-out")
        .arg(&out)
        .arg("-passout")
        .arg(format!("pass:{password}"))
        .status()
        .unwrap();
    assert!(status.success(), "openssl pkcs12 -export failed");
    out.display().to_string()
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn pkcs12_and_der_keys_connect_and_password_protected_pkcs12_is_explained() {
    let (lab, ca, client) = lab(ClientAuth::Certificate);
    let svc = StraitService::start(&lab).unwrap();
    // The profile's certificate is the PKCS#12 file too: the chain comes from it, in whatever
    // order it lists the client's certificate and the CA.
    let p12 = pkcs12(lab.dir(), "client.p12", &client, &ca, "");
    let p = profile(
        &lab,
        "p12",
        &format!("method = \"cert\"\nlocal_id = \"{CLIENT_ID}\"\ncertificate = \"client.p12\"\n"),
    );
    assert!(cli(&svc, &["import", &p]).status.success());

    // A password-protected file with no password on stdin: said plainly, nothing sent.
    let locked = pkcs12(lab.dir(), "locked.p12", &client, &ca, "hunter2");
    let out = cli(
        &svc,
        &["connect", "p12", "--secret", &format!("key={locked}")],
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("locked.p12 is protected by a password, and none was given"),
        "{text}"
    );

    let out = cli(&svc, &["connect", "p12", "--secret", &format!("key={p12}")]);
    assert!(
        out.status.success(),
        "connect failed; service log:\n{}",
        svc.handle.output()
    );
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the tunnel; service log:\n{}",
        svc.handle.output()
    );
    assert!(cli(&svc, &["disconnect", "p12"]).status.success());

    // The key alone as DER (binary, so base64 over IPC), with the chain still from the PKCS#12.
    let der = client.key_der.display().to_string();
    let out = cli(&svc, &["connect", "p12", "--secret", &format!("key={der}")]);
    assert!(
        out.status.success(),
        "connect with a DER key failed; service log:\n{}",
        svc.handle.output()
    );
    assert!(cli(&svc, &["disconnect", "p12"]).status.success());
}

/// Starts gnome-keyring on the private session bus and waits until it owns
/// `org.freedesktop.secrets` (a call before that would make D-Bus start a second, locked
/// daemon); then: a wrong password (its message kept in `$WRONG_OUT`), the right one piped
/// in, the stored key as another program sees it (`$KEY_OUT`), connect, status.
const KEYCHAIN_SCRIPT: &str = r#"
set -e
echo -n test-login | gnome-keyring-daemon --components=secrets --daemonize --unlock >/dev/null
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q 'boolean true'; do
    i=$((i + 1)); [ "$i" -lt 100 ] || { echo "gnome-keyring did not start" >&2; exit 90; }
    sleep 0.1
done
if printf 'not-it\n' | "$STRAIT" secret set locked key --from-file "$LOCKED" 2>"$WRONG_OUT"; then
    echo "a wrong password was accepted" >&2; exit 91
fi
echo "$P12_PASSWORD" | "$STRAIT" secret set locked key --from-file "$LOCKED"
secret-tool lookup service strait username locked/key > "$KEY_OUT"
"$STRAIT" connect locked
"$STRAIT" status
"$STRAIT" list --json
"#;

#[test]
#[ignore = "needs root, strongSwan and gnome-keyring (cargo xtask test runs it)"]
fn password_protected_pkcs12_is_imported_into_the_keychain_and_connects() {
    const P12_PASSWORD: &str = "correct horse battery";
    let (lab, ca, client) = lab(ClientAuth::Certificate);
    let svc = StraitService::start(&lab).unwrap();
    // The profile's certificate is the locked file itself: the service cannot open it, and
    // uses the certificates stored with the key instead.
    let locked = pkcs12(lab.dir(), "locked.p12", &client, &ca, P12_PASSWORD);
    let p = profile(
        &lab,
        "locked",
        &format!("method = \"cert\"\nlocal_id = \"{CLIENT_ID}\"\ncertificate = \"locked.p12\"\n"),
    );
    assert!(cli(&svc, &["import", &p]).status.success());

    let home = lab.dir().join("keychain-home");
    std::fs::create_dir_all(home.join("run")).unwrap();
    let wrong_out = lab.dir().join("wrong.out");
    let key_out = lab.dir().join("key.out");
    let out = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", KEYCHAIN_SCRIPT])
        .env("STRAIT", strait_interop::strait_binary("strait").unwrap())
        .env("STRAIT_SOCKET", &svc.socket)
        .env("LOCKED", &locked)
        .env("P12_PASSWORD", P12_PASSWORD)
        .env("WRONG_OUT", &wrong_out)
        .env("KEY_OUT", &key_out)
        // gnome-keyring keeps its keyrings under $XDG_DATA_HOME: a fresh one per run.
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("dbus-run-session (cargo xtask setup keychain)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        out.status.success(),
        "the keychain import or the connect failed; service log:\n{}",
        svc.handle.output()
    );

    // The wrong password, in plain words.
    let wrong = std::fs::read_to_string(&wrong_out).unwrap();
    assert!(
        wrong.contains("the password for locked.p12 is wrong"),
        "{wrong}"
    );
    // The keychain holds the key decrypted, with the chain, and never the password.
    let key = std::fs::read_to_string(&key_out).unwrap();
    assert!(
        key.starts_with("-----BEGIN PRIVATE KEY-----"),
        "not a PEM key"
    );
    assert_eq!(key.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert!(!key.contains(P12_PASSWORD));
    for text in [&*stdout, &*stderr, &*wrong, &*svc.handle.output()] {
        assert!(!text.contains(P12_PASSWORD), "the password leaked: {text}");
    }
    assert!(
        svc.handle
            .output()
            .contains("using the certificates stored with the key"),
        "{}",
        svc.handle.output()
    );

    // The tunnel carries traffic; status shows the rekey times, list the profile's details.
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the tunnel; service log:\n{}",
        svc.handle.output()
    );
    assert!(stdout.contains("locked: connected"), "{stdout}");
    assert!(stdout.contains("IKE rekey in "), "{stdout}");
    assert!(stdout.contains("ESP rekey in "), "{stdout}");
    assert!(
        stdout.contains(&format!("\"local_id\": \"{CLIENT_ID}\"")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\"remote_id\": \"{GATEWAY_ID}\"")),
        "{stdout}"
    );
    let status = cli(&svc, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let ike_rekey = doc["connections"][0]["ike_rekey_in_secs"].as_u64();
    assert!(ike_rekey.is_some_and(|s| s > 0), "{doc}");
    assert!(cli(&svc, &["disconnect", "locked"]).status.success());
}
