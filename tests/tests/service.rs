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

use strait_interop::{wait_until, GatewayConfig, Lab, Node, StraitService, Topology, LAN_HOST};

/// The service under test, with the CLI calls echoed into the test output.
struct Service {
    inner: StraitService,
    handle: strait_interop::ProcessHandle,
}

impl Service {
    fn start(lab: &Lab) -> Service {
        let inner = StraitService::start(lab).unwrap();
        Service {
            handle: inner.handle.clone(),
            inner,
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        let out = self.inner.cli(args).unwrap();
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
    no_tunnel_left(&lab);
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
    no_tunnel_left(&lab);
    assert_capture_clean(&lab);
}

/// Runs `f` on a thread inside the lab namespace of `node` (sockets it opens stay there).
fn in_netns<T: Send>(lab: &Lab, node: Node, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{}", lab.ns(node).unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(&path).unwrap();
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// Deterministic test data (xorshift), so both ends know what must arrive.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Sends `len` bytes over TCP from the client namespace to the LAN host through the tunnel,
/// spread over `duration`, and checks that exactly those bytes arrived.
fn tcp_transfer(lab: &Lab, len: usize, duration: Duration) {
    use std::io::{Read, Write};
    let data = pattern(0x5742_4149_5400, len);
    let listener = in_netns(lab, Node::Lan, || {
        std::net::TcpListener::bind((LAN_HOST, 5300)).unwrap()
    });
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            let (mut conn, _) = listener.accept().unwrap();
            let mut got = Vec::with_capacity(len);
            conn.read_to_end(&mut got).unwrap();
            got
        });
        in_netns(lab, Node::Client, || {
            let mut conn = std::net::TcpStream::connect((LAN_HOST, 5300)).unwrap();
            let chunks = 100;
            let chunk = len.div_ceil(chunks);
            for part in data.chunks(chunk) {
                conn.write_all(part).unwrap();
                std::thread::sleep(duration / chunks as u32);
            }
        });
        let got = server.join().unwrap();
        assert_eq!(got.len(), data.len(), "bytes lost in the tunnel");
        assert!(got == data, "bytes changed in the tunnel");
    });
}

/// Checks the client capture for packets Wireshark's IKEv2/ESP dissectors call malformed.
fn assert_capture_clean(lab: &Lab) {
    lab.stop_capture().unwrap();
    let Some(pcap) = lab.pcap_path() else {
        return;
    };
    let out = Command::new("tshark")
        .args(["-n", "-r", pcap.to_str().unwrap(), "-Y", "_ws.malformed"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let malformed = String::from_utf8_lossy(&out.stdout);
    assert!(
        malformed.trim().is_empty(),
        "malformed packets:\n{malformed}"
    );
    let out = Command::new("tshark")
        .args(["-n", "-r", pcap.to_str().unwrap(), "-Y", "isakmp"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "the capture holds no IKE at all"
    );
}

fn connect(svc: &Service, lab: &Lab, id: &str, gw: &GatewayConfig, extra: &str) {
    let profile = write_profile(lab.dir(), id, gw, extra);
    let psk = psk_file(lab.dir(), &gw.psk);
    assert!(svc
        .cli(&["import", profile.to_str().unwrap()])
        .status
        .success());
    let out = svc.cli(&["connect", id, "--secret", &format!("psk={}", psk.display())]);
    assert!(
        out.status.success(),
        "connect failed:\n{}",
        svc.handle.output()
    );
}

fn no_tunnel_left(lab: &Lab) {
    let links = lab
        .exec(Node::Client, &["ip", "-o", "link", "show"])
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains("st-"), "tunnel device left behind: {links}");
    let r = routes(lab);
    assert!(!r.contains("st-"), "routes left behind: {r}");
}

/// One scenario per algorithm set: the gateway offers only that set, the profile names it.
fn algorithms_scenario(ike: &str, esp: &str, expect: &str) {
    let gw = GatewayConfig {
        ike_proposals: ike.into(),
        esp_proposals: esp.into(),
        ..GatewayConfig::default()
    };
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let svc = Service::start(&lab);
    connect(
        &svc,
        &lab,
        "algs",
        &gw,
        &format!("\n[crypto]\nike = [\"{ike}\"]\nesp = [\"{esp}\"]\n"),
    );
    let sas = lab.gateway().unwrap().list_sas().unwrap();
    assert_eq!(sas[0].algorithms, expect);
    tcp_transfer(&lab, 2_000_000, Duration::from_millis(200));
    // Counters reach the status every two seconds.
    assert!(
        wait_until(Duration::from_secs(5), || {
            svc.status_json()["connections"][0]["bytes_out"]
                .as_u64()
                .unwrap_or(0)
                >= 2_000_000
        }),
        "counters: {}",
        svc.status_json()
    );
    assert!(svc.cli(&["disconnect"]).status.success());
    no_tunnel_left(&lab);
    assert_capture_clean(&lab);
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn aes_gcm_ecp256() {
    algorithms_scenario(
        "aes256gcm16-prfsha256-ecp256",
        "aes256gcm16",
        "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256",
    );
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn aes_cbc_sha256_modp2048() {
    algorithms_scenario(
        "aes256-sha256-modp2048",
        "aes256-sha256",
        "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
    );
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn chacha20poly1305_curve25519() {
    algorithms_scenario(
        "chacha20poly1305-prfsha256-curve25519",
        "chacha20poly1305",
        "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519",
    );
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn rekeys_during_a_transfer() {
    let gw = GatewayConfig {
        esp_proposals: "aes256gcm16-ecp256".into(),
        ..GatewayConfig::default()
    };
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let svc = Service::start(&lab);
    // PFS for child SAs. Profiles refuse lifetimes under a minute, so the gateway is told to
    // rekey (swanctl --rekey) while the transfer runs; our own rekeys, on timers, are covered
    // by tests/ike_initiator.rs.
    connect(
        &svc,
        &lab,
        "rekey",
        &gw,
        "\n[crypto]\nesp = [\"aes256gcm16-ecp256\"]\n",
    );
    let charon = lab.gateway().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for args in [
                ["--rekey", "--child", "lan"],
                ["--rekey", "--ike", "lab"],
                ["--rekey", "--child", "lan"],
            ] {
                std::thread::sleep(Duration::from_secs(3));
                let out = charon.swanctl(&args, Duration::from_secs(10)).unwrap();
                assert!(out.status.success(), "swanctl {args:?} failed");
            }
        });
        tcp_transfer(&lab, 20_000_000, Duration::from_secs(12));
    });
    let log = charon.log();
    let child_rekeys = log.matches("N(REKEY_SA) SA No KE TSi TSr ]").count();
    assert!(
        child_rekeys >= 2,
        "child SA rekeys with PFS: {child_rekeys}\n{log}"
    );
    assert!(log.contains("rekeyed between"), "no IKE SA rekey:\n{log}");
    let status = svc.status_json();
    assert_eq!(status["connections"][0]["state"], "connected", "{status}");
    assert!(lab.ping(Node::Client, LAN_HOST));
    assert!(svc.cli(&["disconnect"]).status.success());
    no_tunnel_left(&lab);
    assert_capture_clean(&lab);
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn dead_gateway_is_detected_and_the_tunnel_comes_back() {
    let gw = GatewayConfig::default();
    let mut lab = Lab::start(Topology::default(), &gw).unwrap();
    let svc = Service::start(&lab);
    connect(&svc, &lab, "dpd", &gw, "\n[network]\ndpd = \"2s\"\n");
    assert!(lab.ping(Node::Client, LAN_HOST));

    // The gateway vanishes without a word: its packets stop reaching us (so the DELETE it
    // sends while shutting down is lost too), then it stops.
    let gw_addr = lab.gateway_addr();
    lab.nft(
        Node::Client,
        &format!(
            "table inet strait_blackhole {{\n  chain input {{\n    type filter hook input priority -10;\n    ip saddr {gw_addr} udp sport {{ 500, 4500 }} drop\n  }}\n}}\n"
        ),
    )
    .unwrap();
    lab.stop_gateway().unwrap();
    let reconnecting = wait_until(Duration::from_secs(30), || {
        svc.status_json()["connections"][0]["state"] == "reconnecting"
    });
    let status = svc.status_json();
    assert!(
        reconnecting,
        "no reconnect after the gateway died: {status}"
    );
    let reason = status["connections"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("stopped answering"), "{reason}");

    lab.exec(
        Node::Client,
        &["nft", "delete", "table", "inet", "strait_blackhole"],
    )
    .unwrap();
    lab.start_gateway(&gw).unwrap();
    assert!(
        wait_until(Duration::from_secs(40), || {
            svc.status_json()["connections"][0]["state"] == "connected"
        }),
        "did not reconnect: {}\n{}",
        svc.status_json(),
        svc.handle.output()
    );
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no traffic after the reconnect"
    );
    assert!(svc.cli(&["disconnect"]).status.success());
    no_tunnel_left(&lab);
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn handshake_survives_20_percent_loss() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let ifname = lab.client_interface();
    lab.nft(
        Node::Client,
        &format!(
            "table inet strait_loss {{\n  chain input {{\n    type filter hook input priority -10;\n    iifname \"{ifname}\" numgen random mod 100 < 20 drop\n  }}\n  chain output {{\n    type filter hook output priority -10;\n    oifname \"{ifname}\" numgen random mod 100 < 20 drop\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let svc = Service::start(&lab);
    let started = Instant::now();
    connect(&svc, &lab, "lossy", &gw, "");
    eprintln!("connected through 20 % loss in {:?}", started.elapsed());
    assert!(
        wait_until(Duration::from_secs(10), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through a lossy tunnel"
    );
    assert!(svc.cli(&["disconnect"]).status.success());
    no_tunnel_left(&lab);
}
