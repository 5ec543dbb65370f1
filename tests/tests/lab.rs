//! The lab's own guarantees: everything it creates is gone after it is dropped
//! (also on panic, when logs and capture are kept), the client gets its own
//! resolv.conf, and leftovers of a crashed run are removed.

// Helpers outside #[test] fns are test code too: a failed lookup should panic.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use strait_interop::{cleanup_stale, wait_until, GatewayConfig, Lab, Node, Topology, LAB_ROOT};

fn netns_list() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

struct Footprint {
    id: String,
    dir: PathBuf,
    etc: PathBuf,
    charon_pid: u32,
}

fn footprint(lab: &Lab) -> Footprint {
    Footprint {
        id: lab.id().to_string(),
        dir: lab.dir().to_path_buf(),
        etc: lab
            .client_resolv_conf()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf(),
        charon_pid: lab.gateway().unwrap().process().pid(),
    }
}

fn assert_gone(f: &Footprint) {
    assert!(
        !netns_list().contains(&format!("{}-", f.id)),
        "namespaces of {} left behind:\n{}",
        f.id,
        netns_list()
    );
    assert!(!f.dir.exists(), "lab dir {} left behind", f.dir.display());
    assert!(!f.etc.exists(), "{} left behind", f.etc.display());
    assert!(
        !pid_alive(f.charon_pid),
        "gateway charon {} still running",
        f.charon_pid
    );
}

/// Finds the kept artifacts of lab `id` (named `<test>-<id>`).
fn kept_artifacts(id: &str) -> Option<PathBuf> {
    let root = std::env::var_os("STRAIT_INTEROP_ARTIFACTS").map_or_else(
        || PathBuf::from("/tmp/strait-interop-artifacts"),
        PathBuf::from,
    );
    fs::read_dir(root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(&format!("-{id}")))
        })
}

#[test]
#[ignore = "needs root and strongSwan; run by `cargo xtask test`"]
fn lab_leaves_nothing_behind_and_isolates_dns() {
    let lab = Lab::start(Topology { nat: true }, &GatewayConfig::default()).unwrap();
    let f = footprint(&lab);
    assert!(lab.id().len() + 2 <= 15);
    for node in [Node::Client, Node::Gateway, Node::Lan, Node::Nat] {
        assert!(netns_list().contains(lab.ns(node).unwrap()));
    }
    // The client sees its own resolv.conf, not the host's.
    let out = lab
        .exec(Node::Client, &["cat", "/etc/resolv.conf"])
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nameserver 198.18.2.1\n"
    );
    assert!(
        lab.ping(Node::Client, lab.gateway_addr()),
        "NAT path to the gateway"
    );
    let sleeper = lab.spawn(Node::Lan, "sleeper", &["sleep", "300"]).unwrap();
    assert!(lab.is_running(&sleeper));
    drop(lab);
    assert_gone(&f);
    assert!(
        !pid_alive(sleeper.pid()),
        "spawned process survived the lab"
    );
    assert!(
        kept_artifacts(&f.id).is_none(),
        "artifacts kept although the test passed"
    );
}

#[test]
#[ignore = "needs root and strongSwan; run by `cargo xtask test`"]
fn lab_keeps_logs_and_capture_when_the_test_panics() {
    let mut seen = None;
    let result = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        let lab = Lab::start(Topology::default(), &GatewayConfig::default()).unwrap();
        seen = Some(footprint(&lab));
        assert!(lab.ping(Node::Client, lab.gateway_addr()));
        panic!("deliberate failure to exercise the lab's failure path");
    }));
    assert!(result.is_err());
    let f = seen.expect("lab was built");
    assert_gone(&f);
    let kept = kept_artifacts(&f.id).expect("artifacts of the failed test are kept");
    let log = fs::read_to_string(kept.join("gateway/charon.log")).unwrap();
    assert!(log.contains("Starting IKE charon daemon"));
    if which_tcpdump() {
        // The ping to the gateway (request and reply) is in the kept capture.
        let out = Command::new("tcpdump")
            .arg("-r")
            .arg(kept.join("client.pcap"))
            .args(["-n", "icmp"])
            .output()
            .unwrap();
        let icmp = String::from_utf8_lossy(&out.stdout);
        assert!(
            icmp.contains("echo request") && icmp.contains("echo reply"),
            "capture lacks the ping: {icmp}"
        );
    }
    fs::remove_dir_all(kept).unwrap();
}

fn which_tcpdump() -> bool {
    ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"]
        .iter()
        .any(|p| Path::new(p).exists())
}

#[test]
#[ignore = "needs root and strongSwan; run by `cargo xtask test`"]
fn cleanup_stale_removes_leftovers_of_dead_processes_only() {
    // A lab of this (living) process must survive the cleanup.
    let live = Lab::new(Topology::default()).unwrap();
    // A PID that certainly belonged to a process that is gone now.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    assert!(!pid_alive(dead));
    let stale = format!("st{dead}n0");
    let ns = format!("{stale}-client");
    let etc = Path::new("/etc/netns").join(&ns);
    let dir = Path::new(LAB_ROOT).join(&stale);
    assert!(Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .unwrap()
        .success());
    fs::create_dir_all(&etc).unwrap();
    fs::create_dir_all(&dir).unwrap();
    // A process left running in the stale namespace (like a crashed run's charon).
    let mut orphan = Command::new("ip")
        .args(["netns", "exec", &ns, "sleep", "300"])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        Command::new("ip")
            .args(["netns", "pids", &ns])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    }));

    let removed = cleanup_stale().unwrap();

    assert!(
        wait_until(Duration::from_secs(5), || orphan
            .try_wait()
            .unwrap()
            .is_some()),
        "process in the stale namespace not killed"
    );

    assert!(removed >= 1);
    assert!(!netns_list().contains(&ns), "stale namespace not removed");
    assert!(!etc.exists() && !dir.exists(), "stale dirs not removed");
    assert!(
        netns_list().contains(live.ns(Node::Client).unwrap()),
        "a live lab was removed"
    );
    assert!(live.dir().exists());
}
