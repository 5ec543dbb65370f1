//! The whole client — `straitd` and the `strait` CLI — against the lab's strongSwan gateway:
//! a profile is imported, the tunnel comes up through a real TUN device with routes and DNS,
//! traffic reaches the LAN host, status reports it, and disconnecting removes everything.
//!
//! The binaries come from the same `target/` directory as this test (`cargo xtask test` builds
//! them first). The service runs in the client namespace; the CLI talks to it over its Unix
//! socket, which is a file and so needs no namespace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use strait_interop::{wait_until, GatewayConfig, Lab, Node, ProcessHandle, Topology, LAN_HOST};

/// `target/<profile>/<name>`: the binaries next to this test's own executable.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p straitd -p strait-cli`; `cargo xtask test` does)",
        path.display()
    );
    path
}

/// A running service in the client namespace.
struct Service {
    socket: PathBuf,
    state: PathBuf,
    handle: ProcessHandle,
}

impl Service {
    fn start(lab: &Lab) -> Service {
        let socket = lab.dir().join("straitd.sock");
        let state = lab.dir().join("straitd-state");
        let straitd = binary("straitd");
        let handle = lab
            .spawn(
                Node::Client,
                "straitd",
                &[
                    "env",
                    "STRAIT_LOG=debug",
                    straitd.to_str().unwrap(),
                    "--socket",
                    socket.to_str().unwrap(),
                    "--state-dir",
                    state.to_str().unwrap(),
                ],
            )
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || socket.exists()),
            "straitd did not start:\n{}",
            handle.output()
        );
        Service {
            socket,
            state,
            handle,
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        let out = Command::new(binary("strait"))
            .args(args)
            .env("STRAIT_SOCKET", &self.socket)
            .output()
            .unwrap();
        eprintln!(
            "$ strait {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn status_json(&self) -> serde_json::Value {
        let out = self.cli(&["status", "--json"]);
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn write_profile(dir: &Path, id: &str, gateway: &GatewayConfig, extra: &str) -> PathBuf {
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = "Lab gateway"
gateway = "198.18.1.1"
version = "ikev2"

[auth]
method = "psk"
local_id = "{}"
remote_id = "{}"
{extra}"#,
            gateway.client_id, gateway.gateway_id
        ),
    )
    .unwrap();
    path
}

fn psk_file(dir: &Path, psk: &str) -> PathBuf {
    let path = dir.join("psk");
    std::fs::write(&path, format!("{psk}\n")).unwrap();
    path
}

fn routes(lab: &Lab) -> String {
    let out = lab.exec(Node::Client, &["ip", "route", "show"]).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn connect_carries_traffic_and_disconnect_cleans_up() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let svc = Service::start(&lab);
    let profile = write_profile(lab.dir(), "lab", &gw, "");
    let psk = psk_file(lab.dir(), &gw.psk);
    let resolv_before = std::fs::read_to_string(lab.client_resolv_conf().unwrap()).unwrap();

    let out = svc.cli(&["import", profile.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "lab");

    let started = Instant::now();
    let out = svc.cli(&[
        "connect",
        "lab",
        "--secret",
        &format!("psk={}", psk.display()),
    ]);
    assert!(
        out.status.success(),
        "connect failed; service log:\n{}",
        svc.handle.output()
    );
    eprintln!("connected in {:?}", started.elapsed());

    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the tunnel; routes:\n{}\nservice log:\n{}",
        routes(&lab),
        svc.handle.output()
    );
    let r = routes(&lab);
    assert!(r.contains("198.19.1.0/24 dev st-lab"), "split route: {r}");

    let status = svc.status_json();
    let c = &status["connections"][0];
    assert_eq!(c["profile"], "lab");
    assert_eq!(c["state"], "connected");
    let vip = c["virtual_ips"][0].as_str().unwrap();
    assert!(vip.starts_with("198.19.100."), "{status}");
    assert_eq!(c["dns"][0], LAN_HOST.to_string());

    let resolv = std::fs::read_to_string(lab.client_resolv_conf().unwrap()).unwrap();
    assert!(
        resolv.contains(&format!("nameserver {LAN_HOST}")),
        "DNS from the gateway installed: {resolv}"
    );

    // The gateway sees our virtual IP.
    let sas = lab.gateway().unwrap().list_sas().unwrap();
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].remote_vips, [vip.to_string()]);

    let out = svc.cli(&["disconnect", "lab"]);
    assert!(out.status.success());
    let r = routes(&lab);
    assert!(!r.contains("st-lab"), "routes left behind: {r}");
    assert!(
        !lab.ping(Node::Client, LAN_HOST),
        "LAN reachable after disconnect"
    );
    let resolv = std::fs::read_to_string(lab.client_resolv_conf().unwrap()).unwrap();
    assert_eq!(resolv, resolv_before, "resolv.conf restored");
    assert!(
        wait_until(Duration::from_secs(3), || lab
            .gateway()
            .unwrap()
            .list_sas()
            .unwrap()
            .is_empty()),
        "the gateway still has an SA"
    );
    let status = svc.status_json();
    assert_eq!(
        status["connections"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    let _ = &svc.state;
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn failures_are_explained() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let svc = Service::start(&lab);

    // Wrong pre-shared key.
    let profile = write_profile(lab.dir(), "lab", &gw, "");
    let bad = lab.dir().join("bad-psk");
    std::fs::write(&bad, "definitely wrong").unwrap();
    assert!(svc
        .cli(&["import", profile.to_str().unwrap()])
        .status
        .success());
    let out = svc.cli(&[
        "connect",
        "lab",
        "--secret",
        &format!("psk={}", bad.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rejected our authentication") && err.contains("client.lab.strait"),
        "{err}"
    );
    assert!(
        !err.contains("definitely wrong"),
        "the secret leaked into the message"
    );

    // Proposals the gateway refuses.
    let profile = write_profile(
        lab.dir(),
        "weakgw",
        &gw,
        "\n[crypto]\nike = [\"aes128-sha256-modp3072\"]\n",
    );
    assert!(svc
        .cli(&["import", profile.to_str().unwrap()])
        .status
        .success());
    let psk = psk_file(lab.dir(), &gw.psk);
    let out = svc.cli(&[
        "connect",
        "weakgw",
        "--secret",
        &format!("psk={}", psk.display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NO_PROPOSAL_CHOSEN") && err.contains("AES-128-CBC"),
        "{err}"
    );

    // A profile with a typo is refused with its line.
    let typo = lab.dir().join("typo.toml");
    std::fs::write(
        &typo,
        "name = \"x\"\ngateway = \"198.18.1.1\"\n[auth]\nmethod = \"psk\"\nremote_id = \"g\"\n[network]\nmode = \"tunel\"\n",
    )
    .unwrap();
    let out = svc.cli(&["import", typo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.toml:7"), "{err}");

    // The service log says what happened, per profile.
    let out = svc.cli(&["logs"]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        log.contains("AUTHENTICATION_FAILED") || log.contains("rejected our authentication"),
        "{log}"
    );
    assert!(!log.contains("definitely wrong"));
    assert!(
        !svc.handle.output().contains("definitely wrong"),
        "secret in the service's stderr"
    );
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn behind_nat_full_tunnel() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology { nat: true }, &gw).unwrap();
    let svc = Service::start(&lab);
    let profile = write_profile(
        lab.dir(),
        "natlab",
        &gw,
        "\n[network]\nroutes = [\"0.0.0.0/0\"]\nnat_keepalive = \"2s\"\n",
    );
    let psk = psk_file(lab.dir(), &gw.psk);
    assert!(svc
        .cli(&["import", profile.to_str().unwrap()])
        .status
        .success());
    let out = svc.cli(&[
        "connect",
        "natlab",
        "--secret",
        &format!("psk={}", psk.display()),
    ]);
    assert!(out.status.success(), "{}", svc.handle.output());
    let r = routes(&lab);
    assert!(
        r.contains("0.0.0.0/1 dev st-natlab") && r.contains("128.0.0.0/1 dev st-natlab"),
        "{r}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the full tunnel behind NAT:\n{}",
        svc.handle.output()
    );
    let status = svc.status_json();
    assert_eq!(status["connections"][0]["nat"], true, "{status}");
    assert!(svc.cli(&["disconnect"]).status.success());
    let r = routes(&lab);
    assert!(!r.contains("st-natlab"), "{r}");
}
