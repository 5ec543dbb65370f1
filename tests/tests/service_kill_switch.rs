//! The kill switch end to end — `straitd` and the `strait` CLI against the lab's strongSwan
//! gateway, with a profile that says `kill_switch = true`:
//!
//! * connected: the LAN host answers through the tunnel, the gateway's outer address (outside
//!   the tunnel) does not;
//! * the gateway dies: the service notices (short DPD), the block stays, and the status says
//!   why in plain words;
//! * `strait disconnect`: the block is lifted (the gateway's address answers again) and no
//!   `strait_*` nftables table is left in the client namespace;
//! * a failed first attempt keeps the block, and connecting again goes through it;
//! * stopping the service lifts the block; a crashed service's block is removed at its next
//!   start;
//! * a profile without the kill switch leaves nftables untouched.
//!
//! Needs root and strongSwan; everything happens in the lab's namespaces:
//! `cargo build -p straitd -p strait-cli && cargo test -p strait-interop --test
//! service_kill_switch -- --ignored --test-threads 2`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

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

    /// Imports a PSK profile for the lab's gateway and connects it.
    fn connect(&self, lab: &Lab, id: &str, gw: &GatewayConfig, network: &str) {
        let out = self.try_connect(lab, id, gw, network, &gw.psk);
        assert!(
            out.status.success(),
            "connect failed; service log:\n{}",
            self.handle.output()
        );
    }

    /// Imports a PSK profile for the lab's gateway and tries to connect it with `psk`.
    fn try_connect(
        &self,
        lab: &Lab,
        id: &str,
        gw: &GatewayConfig,
        network: &str,
        psk: &str,
    ) -> Output {
        let path = lab.dir().join(format!("{id}.toml"));
        std::fs::write(
            &path,
            format!(
                "name = \"Lab gateway\"\ngateway = \"198.18.1.1\"\nversion = \"ikev2\"\n\n\
                 [auth]\nmethod = \"psk\"\nlocal_id = \"{}\"\nremote_id = \"{}\"\n\n\
                 [network]\n{network}",
                gw.client_id, gw.gateway_id
            ),
        )
        .unwrap();
        assert!(self
            .cli(&["import", path.to_str().unwrap()])
            .status
            .success());
        let psk = psk_file(lab.dir(), psk);
        self.cli(&["connect", id, "--secret", &format!("psk={}", psk.display())])
    }
}

fn psk_file(dir: &Path, psk: &str) -> PathBuf {
    let path = dir.join("psk");
    std::fs::write(&path, format!("{psk}\n")).unwrap();
    path
}

/// What the status and errors say while the kill switch holds traffic.
const BLOCKED: &str =
    "traffic stays blocked because this profile's kill switch is on; disconnect to unblock";

/// The client namespace's whole nftables ruleset.
fn ruleset(lab: &Lab) -> String {
    let out = lab.exec(Node::Client, &["nft", "list", "ruleset"]).unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn kill_switch_blocks_outside_the_tunnel_until_disconnect() {
    let gw = GatewayConfig::default();
    let mut lab = Lab::start(Topology::default(), &gw).unwrap();
    let gateway = lab.gateway_addr();
    let svc = Service::start(&lab);
    assert!(
        lab.ping(Node::Client, gateway),
        "the gateway answers pings before we connect"
    );
    let before = ruleset(&lab);
    assert!(!before.contains("strait_"), "{before}");

    svc.connect(&lab, "ks", &gw, "kill_switch = true\ndpd = \"2s\"\n");
    let rules = ruleset(&lab);
    assert!(rules.contains("table inet strait_ks"), "{rules}");
    assert!(
        wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)),
        "no ping through the tunnel behind the kill switch; rules:\n{rules}\nservice log:\n{}",
        svc.handle.output()
    );
    assert!(
        !lab.ping(Node::Client, gateway),
        "the gateway's outer address (outside the tunnel) answered through the kill switch"
    );

    // The gateway vanishes without a word: its packets stop reaching us (so the DELETE it
    // sends while shutting down is lost too), then it stops. Dead peer detection notices,
    // the connection goes to reconnecting, and the block stays.
    lab.nft(
        Node::Client,
        &format!(
            "table inet lab_blackhole {{\n  chain input {{\n    type filter hook input priority -20;\n    ip saddr {gateway} udp sport {{ 500, 4500 }} drop\n  }}\n}}\n"
        ),
    )
    .unwrap();
    lab.stop_gateway().unwrap();
    let noticed = wait_until(Duration::from_secs(40), || {
        let s = svc.status_json();
        let state = &s["connections"][0]["state"];
        state == "reconnecting" || state == "error"
    });
    let status = svc.status_json();
    assert!(noticed, "the dead gateway went unnoticed: {status}");
    let reason = status["connections"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("stopped answering"), "{reason}");
    assert!(reason.contains(BLOCKED), "{reason}");
    assert_eq!(status["connections"][0]["kill_switch"], true, "{status}");
    lab.exec(
        Node::Client,
        &["nft", "delete", "table", "inet", "lab_blackhole"],
    )
    .unwrap();
    assert!(
        !lab.ping(Node::Client, gateway),
        "traffic leaked outside the tunnel after the gateway died"
    );
    assert!(!lab.ping(Node::Client, LAN_HOST));
    let rules = ruleset(&lab);
    assert!(rules.contains("table inet strait_ks"), "{rules}");

    assert!(svc.cli(&["disconnect", "ks"]).status.success());
    assert!(
        lab.ping(Node::Client, gateway),
        "the block was not lifted by disconnect; rules:\n{}",
        ruleset(&lab)
    );
    let rules = ruleset(&lab);
    assert!(!rules.contains("strait_"), "table left behind: {rules}");
    let log = svc.handle.output();
    assert!(log.contains("kill switch on"), "{log}");
    assert!(log.contains("kill switch off"), "{log}");
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn without_the_kill_switch_nftables_is_untouched() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let gateway = lab.gateway_addr();
    let svc = Service::start(&lab);
    let before = ruleset(&lab);

    svc.connect(&lab, "open", &gw, "dpd = \"2s\"\n");
    assert!(wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)));
    assert!(
        lab.ping(Node::Client, gateway),
        "without a kill switch traffic outside the tunnel flows"
    );
    assert_eq!(ruleset(&lab), before, "nftables changed while connected");
    let status = svc.status_json();
    assert_eq!(status["connections"][0]["kill_switch"], false, "{status}");

    assert!(svc.cli(&["disconnect", "open"]).status.success());
    assert_eq!(ruleset(&lab), before, "nftables changed by disconnect");
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn a_failed_first_attempt_stays_blocked_until_disconnect() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let gateway = lab.gateway_addr();
    let svc = Service::start(&lab);

    // A wrong key fails for good (error state, no retry), and the block stays.
    let out = svc.try_connect(&lab, "ks", &gw, "kill_switch = true\n", "definitely wrong");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rejected our authentication"), "{err}");
    assert!(err.contains(BLOCKED), "{err}");
    let status = svc.status_json();
    assert_eq!(status["connections"][0]["state"], "error", "{status}");
    assert!(
        !lab.ping(Node::Client, gateway),
        "traffic flows after a failed kill-switch connect"
    );

    // Another connection cannot slip past the block.
    let out = svc.try_connect(&lab, "open", &gw, "", &gw.psk);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kill switch") && err.contains("`ks`"), "{err}");

    // Connecting again goes through the same block (it never lifts in between) and works.
    svc.connect(&lab, "ks", &gw, "kill_switch = true\n");
    assert!(wait_until(Duration::from_secs(5), || lab.ping(Node::Client, LAN_HOST)));
    assert!(!lab.ping(Node::Client, gateway));
    assert_eq!(ruleset(&lab).matches("table inet strait_").count(), 1);

    assert!(svc.cli(&["disconnect"]).status.success());
    assert!(lab.ping(Node::Client, gateway), "not lifted by disconnect");
    assert!(!ruleset(&lab).contains("strait_"));
}

#[test]
#[ignore = "needs root and strongSwan (cargo xtask test runs it)"]
fn a_stopped_or_crashed_service_leaves_no_block() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let gateway = lab.gateway_addr();

    // A clean stop (SIGTERM) disconnects, which lifts the block.
    let svc = Service::start(&lab);
    svc.connect(&lab, "ks", &gw, "kill_switch = true\n");
    assert!(!lab.ping(Node::Client, gateway));
    lab.stop(&svc.handle).unwrap();
    assert!(
        !ruleset(&lab).contains("strait_"),
        "the service stopped and left its block"
    );
    assert!(lab.ping(Node::Client, gateway));

    // A crash (SIGKILL) leaves the block; the next start removes it.
    let svc = Service::start(&lab);
    svc.connect(&lab, "ks", &gw, "kill_switch = true\n");
    let killed = std::process::Command::new("kill")
        .args(["-9", &svc.handle.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    lab.stop(&svc.handle).unwrap();
    assert!(ruleset(&lab).contains("table inet strait_ks"));
    assert!(!lab.ping(Node::Client, gateway));
    let _ = std::fs::remove_file(&svc.inner.socket); // the crashed service's socket
    let svc = Service::start(&lab);
    assert!(
        wait_until(Duration::from_secs(5), || !ruleset(&lab)
            .contains("strait_")),
        "the crashed run's block survived the next start:\n{}",
        svc.handle.output()
    );
    assert!(lab.ping(Node::Client, gateway));
    assert!(svc.handle.output().contains("undid"));
}
