//! Routes, DNS and crash recovery on a real Linux kernel, inside a private network and mount
//! namespace of the test's own thread, so the host is never touched. Needs root.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use strait_platform::{
    configurator, create_tun, recover, DnsSettings, NetworkSettings, TunSettings,
};

fn ip(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Moves the calling thread into fresh network and mount namespaces with an uplink (a veth
/// interface 198.18.5.2/24 with a default route via 198.18.5.1) and a private resolv.conf.
/// Returns the temp dir that backs resolv.conf and the state dir.
fn private_world() -> tempfile::TempDir {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root: run it through `cargo xtask test`"
    );
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).unwrap();
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&resolv, "nameserver 198.18.5.53\nsearch home.example\n").unwrap();
    mount(
        Some(&resolv),
        "/etc/resolv.conf",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    ip("link set lo up");
    ip("link add up0 type veth peer name up0p");
    ip("link set up0p up");
    ip("addr add 198.18.5.2/24 dev up0");
    ip("link set up0 up");
    ip("route add default via 198.18.5.1 dev up0");
    dir
}

fn settings(tun: &str, domains: Vec<String>) -> NetworkSettings {
    NetworkSettings {
        tun_name: tun.to_owned(),
        routes: vec![
            "0.0.0.0/0".parse().unwrap(),
            "198.19.7.0/24".parse().unwrap(),
        ],
        gateway: "198.18.9.1".parse().unwrap(),
        dns: Some(DnsSettings {
            servers: vec!["198.19.7.53".parse().unwrap()],
            domains,
        }),
    }
}

#[test]
#[ignore = "needs root; run by `cargo xtask test`"]
fn full_tunnel_routes_and_dns_are_installed_and_removed() {
    std::thread::spawn(|| {
        let world = private_world();
        let state = world.path().join("state");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let tun = create_tun(&TunSettings {
            name: Some("strait-t0".into()),
            mtu: 1400,
            ipv4: Some(("198.19.100.7".parse().unwrap(), 32)),
            ipv6: vec![],
        })
        .unwrap();
        assert!(ip("addr show dev strait-t0").contains("198.19.100.7"));
        assert!(ip("link show dev strait-t0").contains("mtu 1400"));
        let mut net = configurator(&state, "acme");
        net.apply(&settings("strait-t0", vec!["corp.example".into()]))
            .unwrap();
        let routes = ip("route show");
        assert!(routes.contains("0.0.0.0/1 dev strait-t0"), "{routes}");
        assert!(routes.contains("128.0.0.0/1 dev strait-t0"), "{routes}");
        assert!(routes.contains("198.19.7.0/24 dev strait-t0"), "{routes}");
        assert!(
            routes.contains("198.18.9.1 via 198.18.5.1 dev up0"),
            "gateway pinned: {routes}"
        );
        assert!(
            routes.contains("default via 198.18.5.1"),
            "default route untouched: {routes}"
        );
        // Traffic now goes into the tunnel, but the gateway itself does not.
        assert!(ip("route get 203.0.113.1").contains("dev strait-t0"));
        assert!(ip("route get 198.18.9.1").contains("dev up0"));
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap();
        assert!(resolv.contains("nameserver 198.19.7.53"), "{resolv}");
        assert!(
            resolv.contains("search corp.example home.example"),
            "{resolv}"
        );

        net.revert().unwrap();
        let routes = ip("route show");
        assert!(!routes.contains("strait-t0"), "{routes}");
        assert!(!routes.contains("198.18.9.1 via"), "{routes}");
        assert_eq!(
            std::fs::read_to_string("/etc/resolv.conf").unwrap(),
            "nameserver 198.18.5.53\nsearch home.example\n"
        );
        net.revert().unwrap(); // twice is fine
        drop(tun);
    })
    .join()
    .unwrap();
}

#[test]
#[ignore = "needs root; run by `cargo xtask test`"]
fn a_crash_is_undone_at_the_next_start() {
    std::thread::spawn(|| {
        let world = private_world();
        let state = world.path().join("state");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let _tun = create_tun(&TunSettings {
            name: Some("strait-t1".into()),
            mtu: 1400,
            ipv4: Some(("198.19.100.8".parse().unwrap(), 32)),
            ipv6: vec![],
        })
        .unwrap();
        let mut net = configurator(&state, "acme");
        net.apply(&settings("strait-t1", vec![])).unwrap();
        std::mem::forget(net); // the service dies without reverting
        assert!(ip("route show").contains("198.18.9.1 via"));
        let undone = recover(&state).unwrap();
        assert_eq!(undone, 5, "pinned gateway route, 3 routes, resolv.conf");
        assert!(!ip("route show").contains("198.18.9.1 via"));
        assert!(!ip("route show").contains("strait-t1"));
        assert_eq!(
            std::fs::read_to_string("/etc/resolv.conf").unwrap(),
            "nameserver 198.18.5.53\nsearch home.example\n"
        );
        assert_eq!(recover(&state).unwrap(), 0);
    })
    .join()
    .unwrap();
}
