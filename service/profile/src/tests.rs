use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::*;

const FULL: &str = r#"name = "Acme HQ"                    # display name
gateway = "vpn.acme.example"
version = "ikev2"

[auth]
method = "psk"
local_id = "alice@acme.example"
remote_id = "vpn.acme.example"

[crypto]
ike = ["aes256gcm16-prfsha384-ecp384", "aes256-sha256-modp2048"]
esp = ["aes256gcm16-ecp384"]
allow_weak = false
ike_lifetime = "24h"
esp_lifetime = "1h"

[network]
mode = "tunnel"
routes = ["0.0.0.0/0"]
dns = "gateway"
dpd = "30s"
nat_keepalive = "20s"
kill_switch = false
"#;

fn parse_ok(text: &str) -> Profile {
    parse(text, "test.toml", Path::new("/profiles")).expect("profile parses")
}

fn parse_err(text: &str) -> ProfileError {
    parse(text, "test.toml", Path::new("/profiles")).expect_err("profile is rejected")
}

#[test]
fn the_design_example_parses() {
    let p = parse_ok(FULL);
    assert_eq!(p.name, "Acme HQ");
    assert_eq!(p.gateway.host, "vpn.acme.example");
    assert_eq!(p.gateway.port, 500);
    assert_eq!(p.version, IkeVersion::Ikev2);
    assert_eq!(p.auth.method, AuthMethod::Psk);
    assert_eq!(
        p.auth.local_id,
        Some(Identity::Email("alice@acme.example".into()))
    );
    assert_eq!(p.auth.remote_id, Identity::Fqdn("vpn.acme.example".into()));
    assert_eq!(p.crypto.ike.len(), 2);
    assert_eq!(p.crypto.esp.len(), 1);
    assert_eq!(p.crypto.ike_lifetime, Duration::from_secs(86400));
    assert_eq!(p.crypto.esp_lifetime, Duration::from_secs(3600));
    assert_eq!(p.network.mode, Mode::Tunnel);
    assert_eq!(p.network.routes, vec!["0.0.0.0/0".parse().unwrap()]);
    assert_eq!(p.network.dns, Dns::Gateway);
    assert_eq!(p.network.dpd, Some(Duration::from_secs(30)));
    assert_eq!(p.network.nat_keepalive, Some(Duration::from_secs(20)));
    assert!(!p.network.kill_switch);
}

#[test]
fn defaults_are_filled_in() {
    let p = parse_ok("name = \"x\"\ngateway = \"198.18.0.1\"\n[auth]\nmethod = \"psk\"\n");
    assert_eq!(p.version, IkeVersion::Ikev2);
    assert_eq!(p.auth.local_id, None);
    // The gateway's address is the identity it must prove unless the profile says otherwise.
    assert_eq!(
        p.auth.remote_id,
        Identity::Ip("198.18.0.1".parse().unwrap())
    );
    assert!(!p.crypto.ike.is_empty(), "a modern default IKE set");
    assert!(!p.crypto.esp.is_empty(), "a modern default ESP set");
    assert!(p.crypto.ike_text.is_empty());
    assert_eq!(p.crypto.ike_lifetime, Duration::from_secs(86400));
    assert_eq!(p.network.routes, vec![]);
    assert_eq!(p.network.dns, Dns::Gateway);
    assert_eq!(p.network.dpd, Some(Duration::from_secs(30)));
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = FULL.replace("remote_id = ", "remote_idd = ");
    let e = parse_err(&text);
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("remote_idd"), "{e}");
    assert!(e.to_string().starts_with("test.toml:8: "), "{e}");
}

#[test]
fn unknown_top_level_key_is_an_error() {
    let e = parse_err("name = \"x\"\ngatway = \"a\"\n[auth]\nmethod = \"psk\"\n");
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("gatway"));
}

#[test]
fn bad_proposal_points_at_its_line() {
    let text = FULL.replace("aes256-sha256-modp2048", "aes512-sha256-modp2048");
    let e = parse_err(&text);
    assert_eq!(e.line, Some(11), "{e}");
    assert!(e.message.contains("aes512"), "{e}");
}

#[test]
fn weak_proposals_need_allow_weak() {
    let weak = FULL.replace("aes256-sha256-modp2048", "3des-sha1-modp1024");
    let e = parse_err(&weak);
    assert_eq!(e.line, Some(11), "{e}");
    let allowed = weak.replace("allow_weak = false", "allow_weak = true");
    let p = parse_ok(&allowed);
    assert!(p.crypto.allow_weak);
}

#[test]
fn gateway_forms() {
    for (text, host, port) in [
        ("vpn.example.com", "vpn.example.com", 500),
        ("vpn.example.com:4500", "vpn.example.com", 4500),
        ("198.18.0.1", "198.18.0.1", 500),
        ("198.18.0.1:1500", "198.18.0.1", 1500),
        ("2001:db8::1", "2001:db8::1", 500),
        ("[2001:db8::1]:4500", "2001:db8::1", 4500),
    ] {
        let p = parse_ok(&format!(
            "name = \"x\"\ngateway = \"{text}\"\n[auth]\nmethod = \"psk\"\n"
        ));
        assert_eq!(
            (p.gateway.host.as_str(), p.gateway.port),
            (host, port),
            "{text}"
        );
    }
    for bad in [
        "",
        "vpn.example.com:0",
        "vpn.example.com:99999",
        "[::1",
        "bad host",
        "-a.example",
    ] {
        let e = parse_err(&format!(
            "name = \"x\"\ngateway = \"{bad}\"\n[auth]\nmethod = \"psk\"\n"
        ));
        assert_eq!(e.line, Some(2), "{bad}: {e}");
    }
}

#[test]
fn identities_follow_strongswan_spelling() {
    assert_eq!(
        Identity::parse("keyid:sales").unwrap(),
        Identity::KeyId(b"sales".to_vec())
    );
    assert_eq!(
        Identity::parse("CN=alice, O=Acme").unwrap(),
        Identity::DistinguishedName("CN=alice, O=Acme".into())
    );
    assert_eq!(
        Identity::parse("2001:db8::2").unwrap(),
        Identity::Ip("2001:db8::2".parse::<IpAddr>().unwrap())
    );
    assert!(Identity::parse("").is_err());
    assert!(Identity::parse("keyid:").is_err());
}

#[test]
fn methods_must_match_the_version() {
    let e = parse_err("name = \"x\"\ngateway = \"g\"\nversion = \"ikev1-main\"\n[auth]\nmethod = \"eap-mschapv2\"\nusername = \"u\"\n");
    assert_eq!(e.line, Some(5));
    assert!(e.message.contains("IKEv2"), "{e}");
    let e = parse_err(
        "name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = \"xauth-psk\"\nusername = \"u\"\n",
    );
    assert!(e.message.contains("IKEv1"), "{e}");
    let e = parse_err("name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = \"eap-mschapv2\"\n");
    assert!(e.message.contains("username"), "{e}");
    let e = parse_err("name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = \"cert\"\n");
    assert!(e.message.contains("certificate"), "{e}");
}

#[test]
fn relative_paths_resolve_against_the_profile() {
    let p = parse_ok("name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = \"cert\"\ncertificate = \"me.pem\"\nca = [\"/etc/ca.pem\", \"root.pem\"]\n");
    assert_eq!(
        p.auth.certificate.as_deref(),
        Some(Path::new("/profiles/me.pem"))
    );
    assert_eq!(
        p.auth.ca,
        vec![
            Path::new("/etc/ca.pem").to_path_buf(),
            Path::new("/profiles/root.pem").to_path_buf()
        ]
    );
}

#[test]
fn network_values_are_checked() {
    let base = "name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = \"psk\"\n[network]\n";
    let p = parse_ok(&format!("{base}routes = [\"10.1.2.3/16\", \"2001:db8::/32\", \"192.0.2.7\"]\ndns = [\"10.0.0.53\"]\ndpd = \"0\"\n"));
    assert_eq!(
        p.network.routes,
        vec![
            "10.1.0.0/16".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
            "192.0.2.7/32".parse().unwrap()
        ]
    );
    assert_eq!(
        p.network.dns,
        Dns::Servers(vec!["10.0.0.53".parse().unwrap()])
    );
    assert_eq!(p.network.dpd, None);
    for (bad, line) in [
        ("routes = [\"10.0.0.0/33\"]", 6),
        ("dns = \"auto\"", 6),
        ("dns = [\"resolver\"]", 6),
        ("dpd = \"soon\"", 6),
        ("mode = \"tunel\"", 6),
        ("kill_switch = \"yes\"", 6),
    ] {
        let e = parse_err(&format!("{base}{bad}\n"));
        assert_eq!(e.line, Some(line), "{bad}: {e}");
    }
}

#[test]
fn missing_required_keys_say_what_to_add() {
    let e = parse_err("gateway = \"g\"\n[auth]\nmethod = \"psk\"\n");
    assert!(e.message.contains("name"), "{e}");
    let e = parse_err("name = \"x\"\n[auth]\nmethod = \"psk\"\n");
    assert!(e.message.contains("gateway"), "{e}");
    let e = parse_err("name = \"x\"\ngateway = \"g\"\n");
    assert!(e.message.contains("[auth]"), "{e}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for text in [
        "\u{0}\u{1}",
        "[[[",
        "name = 1",
        "name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = [1]\n",
        "a = \"\\u{D800}\"",
    ] {
        let _ = parse(text, "t", Path::new("."));
    }
}

#[test]
fn store_imports_lists_and_removes_with_referenced_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("root.pem"), "ROOT").unwrap();
    std::fs::write(src.join("me.pem"), "ME").unwrap();
    std::fs::write(
        src.join("acme-hq.toml"),
        "# comment kept\nname = \"Acme\"\ngateway = \"g\"\n[auth]\nmethod = \"cert\"\ncertificate = \"me.pem\"\nca = [\"root.pem\"]\n",
    )
    .unwrap();
    let store = ProfileStore::new(dir.path().join("store"));
    assert_eq!(store.ids().unwrap(), Vec::<String>::new());
    let imported = store.import(&src.join("acme-hq.toml")).unwrap();
    assert_eq!(imported.id, "acme-hq");
    assert!(!imported.replaced);
    // The originals can go away: the store has its own copies.
    std::fs::remove_dir_all(&src).unwrap();
    let p = store.get("acme-hq").unwrap();
    let cert = p.auth.certificate.unwrap();
    assert!(cert.starts_with(store.root()));
    assert_eq!(std::fs::read_to_string(cert).unwrap(), "ME");
    assert_eq!(std::fs::read_to_string(&p.auth.ca[0]).unwrap(), "ROOT");
    let stored = std::fs::read_to_string(store.root().join("acme-hq/profile.toml")).unwrap();
    assert!(stored.starts_with("# comment kept"), "{stored}");
    assert_eq!(store.ids().unwrap(), vec!["acme-hq".to_string()]);
    store.remove("acme-hq").unwrap();
    assert!(matches!(store.get("acme-hq"), Err(StoreError::NotFound(_))));
}

#[test]
fn store_refuses_bad_ids_and_missing_files_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(dir.path().join("store"));
    let bad = dir.path().join("bad id.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = \"psk\"\n",
    )
    .unwrap();
    assert!(matches!(store.import(&bad), Err(StoreError::BadId { .. })));
    let missing = dir.path().join("cert.toml");
    std::fs::write(
        &missing,
        "name = \"x\"\ngateway = \"g\"\n[auth]\nmethod = \"cert\"\ncertificate = \"nope.pem\"\n",
    )
    .unwrap();
    assert!(matches!(
        store.import(&missing),
        Err(StoreError::MissingFile { .. })
    ));
    assert_eq!(store.ids().unwrap(), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(store.root()).unwrap().count(), 0);
    assert!(validate_id("../etc").is_err());
    assert!(validate_id(".hidden").is_err());
}
