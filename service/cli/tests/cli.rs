//! The `strait` binary against a fake service: argument parsing, what it sends, what it prints,
//! JSON shapes and exit codes. (The real service is tested end to end elsewhere.)
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{connected, log, profile, strait, write, Fake};
use strait_ipc::{Attachment, ErrorKind, Event, IpcError, Request, Response, Secret};

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn not_found(what: &str) -> IpcError {
    IpcError::new(ErrorKind::NotFound, format!("no profile `{what}`"))
}

/// Answers ListProfiles with `acme` (psk) and `corp` (xauth-cert), managed.
fn two_profiles(req: &Request) -> Option<Result<Response, IpcError>> {
    match req {
        Request::ListProfiles => {
            let mut corp = profile("corp", "xauth-cert");
            corp.managed = true;
            corp.local_id = Some("CN=alice, O=Corp".into());
            corp.username = Some("alice".into());
            corp.routes = vec!["10.0.0.0/8".into(), "192.168.0.0/16".into()];
            corp.ike = vec!["aes256gcm16-prfsha384-ecp384".into()];
            Some(Ok(Response::Profiles {
                profiles: vec![profile("acme", "psk"), corp],
            }))
        }
        _ => None,
    }
}

#[test]
fn list_prints_a_table_and_stable_json() {
    let fake = Fake::start(|req, _| two_profiles(req).unwrap_or(Ok(Response::Ok)));

    let run = fake.run(&["list"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(lines[0].starts_with("ID "), "{run:?}");
    assert!(lines[1].starts_with("acme ") && lines[1].contains("vpn.acme.example"));
    assert!(lines[2].starts_with("corp ") && lines[2].ends_with("managed"));

    let run = fake.run(&["list", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(keys(&doc), set(&["profiles"]));
    let profiles = doc["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2);
    assert_eq!(
        keys(&profiles[0]),
        set(&[
            "id",
            "name",
            "gateway",
            "version",
            "method",
            "managed",
            "local_id",
            "remote_id",
            "username",
            "routes",
            "ike",
            "esp"
        ])
    );
    assert_eq!(
        profiles[1],
        serde_json::json!({
            "id": "corp", "name": "corp office", "gateway": "vpn.corp.example",
            "version": "ikev2", "method": "xauth-cert", "managed": true,
            "local_id": "CN=alice, O=Corp", "remote_id": "vpn.corp.example",
            "username": "alice", "routes": ["10.0.0.0/8", "192.168.0.0/16"],
            "ike": ["aes256gcm16-prfsha384-ecp384"], "esp": []
        })
    );
}

#[test]
fn list_with_no_profiles_says_how_to_add_one() {
    let fake = Fake::start(|_, _| Ok(Response::Profiles { profiles: vec![] }));
    let run = fake.run(&["list"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("strait import"), "{run:?}");
    let run = fake.run(&["list", "--json"]);
    assert_eq!(run.stdout.trim(), "{\n  \"profiles\": []\n}");
}

#[test]
fn import_sends_the_file_and_its_attachments_and_prints_the_id() {
    let fake = Fake::start(|req, _| match req {
        Request::ImportProfile { file_name, .. } => Ok(Response::Imported {
            id: file_name.trim_end_matches(".toml").to_owned(),
            replaced: false,
            warnings: vec!["3DES is weak".into()],
        }),
        _ => Ok(Response::Ok),
    });
    let dir = tempfile::tempdir().unwrap();
    let text = "name = \"Acme\"\ngateway = \"vpn.acme.example\"\n[auth]\nmethod = \"cert\"\n\
                certificate = \"certs/alice.pem\"\nca = [\"root.pem\"]\n";
    let file = write(dir.path(), "profiles/acme.toml", text.as_bytes());
    write(dir.path(), "profiles/certs/alice.pem", b"ALICE CERT");
    write(dir.path(), "profiles/root.pem", b"ROOT CA");
    let plain = write(
        dir.path(),
        "other.toml",
        b"name = \"Other\"\ngateway = \"gw\"\n",
    );

    let run = fake.run(&["import", file.to_str().unwrap(), plain.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "acme\nother\n");
    assert!(run.stderr.contains("3DES is weak"), "{run:?}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        requests[0],
        Request::ImportProfile {
            file_name: "acme.toml".into(),
            contents: text.into(),
            attachments: vec![
                Attachment {
                    name: "certs/alice.pem".into(),
                    contents: b"ALICE CERT".to_vec()
                },
                Attachment {
                    name: "root.pem".into(),
                    contents: b"ROOT CA".to_vec()
                },
            ],
        }
    );
    assert!(
        matches!(&requests[1], Request::ImportProfile { file_name, attachments, .. }
            if file_name == "other.toml" && attachments.is_empty())
    );
}

#[test]
fn import_prints_validation_errors_and_exits_1() {
    let fake = Fake::start(|req, _| match req {
        Request::ImportProfile { file_name, .. } if file_name == "bad.toml" => Err(IpcError::new(
            ErrorKind::InvalidProfile,
            "bad.toml:3: unknown key `gatway`; did you mean `gateway`?",
        )),
        Request::ImportProfile { .. } => Ok(Response::Imported {
            id: "good".into(),
            replaced: true,
            warnings: vec![],
        }),
        _ => Ok(Response::Ok),
    });
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.toml", b"name = \"x\"\n\ngatway = \"y\"\n");
    let good = write(dir.path(), "good.toml", b"name = \"x\"\ngateway = \"y\"\n");
    let run = fake.run(&["import", bad.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("bad.toml:3: unknown key `gatway`; did you mean `gateway`?"),
        "{run:?}"
    );
    assert!(run.stderr.contains("replaced"), "{run:?}");
    assert_eq!(run.stdout, "good\n");
}

#[test]
fn import_of_a_profile_whose_certificate_is_missing_fails_before_sending() {
    let fake = Fake::start(|_, _| Ok(Response::Ok));
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "acme.toml",
        b"name = \"x\"\n[auth]\ncertificate = \"gone.pem\"\n",
    );
    let run = fake.run(&["import", file.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("gone.pem"), "{run:?}");
    assert!(fake.requests().is_empty());
    let run = fake.run(&["import", dir.path().join("nope.toml").to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("nope.toml"), "{run:?}");
}

/// Connect with `--secret psk=FILE`: success path.
#[test]
fn connect_sends_the_secret_from_the_file_prints_progress_and_exits_0() {
    let fake = Fake::start(|req, events| {
        if let Some(r) = two_profiles(req) {
            return r;
        }
        match req {
            Request::Connect { profile, secrets } => {
                assert_eq!(secrets.psk.as_ref().map(Secret::expose), Some("s3cret"));
                events
                    .send(Event::Log(log(Some(profile), 1, "sending IKE_SA_INIT")))
                    .unwrap();
                events
                    .send(Event::Log(log(Some("other"), 2, "not about us")))
                    .unwrap();
                std::thread::sleep(Duration::from_millis(200));
                Ok(Response::Status {
                    connections: vec![connected("corp"), connected(profile)],
                })
            }
            _ => Ok(Response::Ok),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let psk = write(dir.path(), "psk", b"s3cret\n");
    let arg = format!("psk={}", psk.display());
    let run = fake.run(&["connect", "acme", "--secret", &arg]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "connected to acme: virtual IP 10.10.0.2 via vpn.acme.example (198.18.0.1:4500)\n"
    );
    assert!(run.stderr.contains("sending IKE_SA_INIT"), "{run:?}");
    assert!(!run.stderr.contains("not about us"), "{run:?}");
    assert!(!run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"));
    let connects: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| matches!(r, Request::Connect { .. }))
        .collect();
    assert_eq!(connects.len(), 1);
    let Request::Connect { profile, secrets } = &connects[0] else {
        unreachable!()
    };
    assert_eq!(profile, "acme");
    assert!(secrets.password.is_none() && secrets.key.is_none());
    // It subscribed to progress before connecting.
    assert!(fake.requests().contains(&Request::Subscribe { logs: true }));
}

#[test]
fn connect_failure_prints_the_reason_and_exits_1() {
    let fake = Fake::start(|req, _| {
        if let Some(r) = two_profiles(req) {
            return r;
        }
        match req {
            Request::Connect { .. } => {
                let mut e = IpcError::new(
                    ErrorKind::ConnectFailed,
                    "The gateway did not accept our pre-shared key: check it with your IT department",
                );
                e.detail = Some("AUTHENTICATION_FAILED (24)".into());
                Err(e)
            }
            _ => Ok(Response::Ok),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let psk = write(dir.path(), "psk", b"wrong");
    let run = fake.run(&[
        "connect",
        "acme",
        "--secret",
        &format!("psk={}", psk.display()),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("The gateway did not accept our pre-shared key"),
        "{run:?}"
    );
    assert!(run.stderr.contains("AUTHENTICATION_FAILED"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[test]
fn connect_without_a_secret_reports_the_missing_secret_with_a_hint() {
    // The keychain is unreachable in tests (no session bus), so nothing is found there.
    let fake = Fake::start(|req, _| {
        if let Some(r) = two_profiles(req) {
            return r;
        }
        match req {
            Request::Connect { secrets, .. } => {
                assert!(secrets.psk.is_none());
                Err(IpcError::new(
                    ErrorKind::MissingSecret,
                    "profile `acme` needs a pre-shared key",
                ))
            }
            _ => Ok(Response::Ok),
        }
    });
    let run = fake.run(&["connect", "acme"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("needs a pre-shared key"), "{run:?}");
    assert!(run.stderr.contains("strait secret set acme"), "{run:?}");
}

#[test]
fn connect_to_an_unknown_profile_passes_the_services_answer_on() {
    let fake = Fake::start(|req, _| {
        if let Some(r) = two_profiles(req) {
            return r;
        }
        match req {
            Request::Connect { profile, .. } => Err(not_found(profile)),
            _ => Ok(Response::Ok),
        }
    });
    let run = fake.run(&["connect", "nosuch"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no profile `nosuch`"), "{run:?}");
    // No keychain look-up warnings for a profile that does not exist.
    assert!(!run.stderr.contains("keychain"), "{run:?}");
}

#[test]
fn connect_secret_files_are_checked_before_anything_is_sent() {
    let fake = Fake::start(|_, _| Ok(Response::Ok));
    let run = fake.run(&["connect", "acme", "--secret", "psk=/nonexistent/psk"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/psk"), "{run:?}");
    assert!(fake.requests().is_empty());
}

#[test]
fn status_json_has_the_documented_shape() {
    let fake = Fake::start(|_, _| {
        Ok(Response::Status {
            connections: vec![connected("acme")],
        })
    });
    let run = fake.run(&["status", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(keys(&doc), set(&["connections"]));
    assert_eq!(
        doc["connections"][0],
        serde_json::json!({
            "profile": "acme",
            "state": "connected",
            "gateway": "vpn.acme.example",
            "gateway_address": "198.18.0.1:4500",
            "virtual_ips": ["10.10.0.2"],
            "dns": ["10.10.0.1"],
            "dns_domains": ["corp.example"],
            "routes": ["0.0.0.0/0"],
            "ike": "AES-256-GCM/PRF-HMAC-SHA-384/ECP-384",
            "esp": "AES-256-GCM",
            "ike_spis": "0123456789abcdef/fedcba9876543210",
            "spi_in": "c0ffee01",
            "spi_out": "0badf00d",
            "nat": true,
            "bytes_in": 2048,
            "bytes_out": 1000,
            "packets_in": 20,
            "packets_out": 10,
            "replay_drops": 0,
            "auth_failures": 0,
            "uptime_secs": 3723,
            "ike_rekey_in_secs": 14358,
            "child_rekey_in_secs": 725,
            "kill_switch": false,
            "reason": null
        })
    );
}

#[test]
fn status_prints_every_field_for_people() {
    let fake = Fake::start(|_, _| {
        let mut failed = connected("corp");
        failed.state = strait_ipc::ConnState::Error;
        failed.reason = Some("the gateway stopped answering".into());
        failed.kill_switch = true;
        Ok(Response::Status {
            connections: vec![connected("acme"), failed],
        })
    });
    let run = fake.run(&["status"]);
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        "acme: connected",
        "vpn.acme.example (198.18.0.1:4500)",
        "NAT",
        "10.10.0.2",
        "10.10.0.1",
        "corp.example",
        "0.0.0.0/0",
        "AES-256-GCM/PRF-HMAC-SHA-384/ECP-384",
        "0123456789abcdef/fedcba9876543210",
        "in c0ffee01 out 0badf00d",
        "2.0 KiB (20 packets)",
        "1000 B (10 packets)",
        "1h 2m 3s",
        "IKE rekey in 3h 59m",
        "ESP rekey in 12m 5s",
        "corp: error",
        "the gateway stopped answering",
        "kill switch on: traffic outside the tunnel is blocked",
    ] {
        assert!(run.stdout.contains(expected), "{expected:?} in {run:?}");
    }
    assert_eq!(
        run.stdout.matches("kill switch").count(),
        1,
        "only the connection with the kill switch says so: {run:?}"
    );

    let empty = Fake::start(|_, _| {
        Ok(Response::Status {
            connections: vec![],
        })
    });
    let run = empty.run(&["status"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "not connected\n"));
    let run = empty.run(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc, serde_json::json!({"connections": []}));
}

#[test]
fn disconnect_one_or_all() {
    let fake = Fake::start(|req, _| match req {
        Request::Disconnect {
            profile: Some(p), ..
        } if p == "nosuch" => Err(not_found(p)),
        _ => Ok(Response::Ok),
    });
    assert_eq!(fake.run(&["disconnect", "acme"]).code, 0);
    assert_eq!(fake.run(&["disconnect"]).code, 0);
    assert_eq!(
        fake.requests(),
        vec![
            Request::Disconnect {
                profile: Some("acme".into())
            },
            Request::Disconnect { profile: None },
        ]
    );
    let run = fake.run(&["disconnect", "nosuch"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no profile `nosuch`"));
}

#[test]
fn logs_prints_recent_lines() {
    let fake = Fake::start(|req, _| match req {
        Request::Logs { limit } => {
            assert_eq!(*limit, 5);
            Ok(Response::Logs {
                lines: vec![
                    log(Some("acme"), 1_700_000_000_000, "IKE SA established"),
                    log(None, 1_700_000_001_500, "service started"),
                ],
            })
        }
        _ => Ok(Response::Ok),
    });
    let run = fake.run(&["logs", "-n", "5"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "2023-11-14 22:13:20.000Z  info   [acme] IKE SA established\n\
         2023-11-14 22:13:21.500Z  info   service started\n"
    );
}

#[test]
fn logs_follow_prints_new_lines_as_they_come() {
    let fake = Fake::start(|_, _| {
        Ok(Response::Logs {
            lines: vec![log(Some("acme"), 1000, "old line")],
        })
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_strait"))
        .args(["logs", "--follow"])
        .env("STRAIT_SOCKET", &fake.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.ends_with("[acme] old line"), "{first}");
    // The backlog was printed, so the subscription is in place.
    fake.events
        .send(Event::Log(log(Some("acme"), 1000, "old line")))
        .unwrap();
    fake.events
        .send(Event::Log(log(Some("acme"), 2000, "new line")))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(lines.next().map(Result::unwrap));
    });
    let next = rx.recv_timeout(Duration::from_secs(10));
    child.kill().unwrap();
    child.wait().unwrap();
    let next = next.unwrap().unwrap();
    assert!(next.ends_with("[acme] new line"), "{next}");
    assert!(fake.requests().contains(&Request::Subscribe { logs: true }));
}

#[test]
fn an_unreachable_service_exits_3_and_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-here.sock");
    for args in [
        vec!["list"],
        vec!["status", "--json"],
        vec!["connect", "acme"],
        vec!["disconnect"],
        vec!["logs"],
    ] {
        let run = strait(&args, &[("STRAIT_SOCKET", path.as_os_str())]);
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(
            run.stderr
                .contains(&format!("cannot reach straitd at {}: ", path.display()))
                && run.stderr.contains("is the service running?"),
            "{run:?}"
        );
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn the_socket_option_wins_over_the_environment() {
    let fake = Fake::start(|req, _| two_profiles(req).unwrap_or(Ok(Response::Ok)));
    let run = strait(
        &["--socket", fake.path.to_str().unwrap(), "list", "--json"],
        &[("STRAIT_SOCKET", std::ffi::OsStr::new("/nonexistent/sock"))],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // Also after the subcommand.
    let run = strait(
        &["list", "--socket", fake.path.to_str().unwrap()],
        &[("STRAIT_SOCKET", std::ffi::OsStr::new("/nonexistent/sock"))],
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["import"],
        vec!["connect"],
        vec!["connect", "acme", "--secret", "token=/x"],
        vec!["connect", "acme", "--secret", "psk"],
        vec!["list", "--jsn"],
        vec!["secret", "set", "acme", "pin"],
        vec!["secret", "set", "acme"],
    ] {
        let run = strait(&args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
    let run = strait(&["--help"], &[]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("connect"));
}

#[test]
fn diagnose_is_not_implemented_yet() {
    let run = strait(&["diagnose", "acme"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("not implemented yet"), "{run:?}");
}

#[test]
fn secret_set_refuses_an_unknown_profile() {
    let fake = Fake::start(|req, _| two_profiles(req).unwrap_or(Ok(Response::Ok)));
    let dir = tempfile::tempdir().unwrap();
    let psk = write(dir.path(), "psk", b"s3cret");
    let run = fake.run(&[
        "secret",
        "set",
        "acmee",
        "psk",
        "--from-file",
        psk.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no profile `acmee`"), "{run:?}");
}

#[test]
fn a_wrong_key_file_password_is_said_plainly_and_nothing_is_stored() {
    let fake = Fake::start(|req, _| two_profiles(req).unwrap_or(Ok(Response::Ok)));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
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
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        "alice.key",
        "-in",
        "alice.pem",
        "-out",
        "alice.p12",
        "-passout",
        "pass:hunter2",
    ]);
    let p12 = d.join("alice.p12");
    let args = [
        "secret",
        "set",
        "acme",
        "key",
        "--from-file",
        p12.to_str().unwrap(),
    ];
    let run = fake.run_with_stdin(&args, b"hunter3\n");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("the password for alice.p12 is wrong"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("hunter"), "{run:?}");
    // No password at all.
    let run = fake.run_with_stdin(&args, b"");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("alice.p12 is protected by a password"),
        "{run:?}"
    );
    // The right one gets as far as the keychain (pointed nowhere in these tests).
    let run = fake.run_with_stdin(&args, b"hunter2\n");
    assert!(!run.stderr.contains("password"), "{run:?}");
    assert!(run.stderr.contains("keychain"), "{run:?}");
}
