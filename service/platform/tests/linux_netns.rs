//! Routes, DNS, the kill switch and crash recovery on a real Linux kernel, inside a private network and mount
//! namespace of the test's own thread, so the host is never touched. Needs root.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use strait_platform::{
    configurator, create_tun, kill_switch, recover, DnsSettings, FirewallPolicy, NetworkSettings,
    TunSettings,
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

/// The far end of the uplink, in a network namespace of its own (a second thread's): the
/// "gateway" 198.18.5.1 and fd53::1 with UDP sockets on port 500, and "another host"
/// 198.18.5.9 (and fd53::9) with a TCP listener on port 8080 and a "DHCP server" on UDP 67. The sockets come back to the
/// caller; the namespace lives until `stop` is sent.
struct Peer {
    ike: UdpSocket,
    ike6: UdpSocket,
    dhcp: UdpSocket,
    web: TcpListener,
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn peer() -> Peer {
    let (tid_tx, tid_rx) = mpsc::channel::<String>();
    let (moved_tx, moved_rx) = mpsc::channel::<()>();
    let (sock_tx, sock_rx) = mpsc::channel::<[UdpSocket; 3]>();
    let (web_tx, web_rx) = mpsc::channel::<TcpListener>();
    let (stop, stop_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).unwrap();
        // "<pid>/task/<tid>": `ip link set … netns <tid>` finds this thread's namespace.
        let me = std::fs::read_link("/proc/thread-self").unwrap();
        let tid = me.file_name().unwrap().to_string_lossy().into_owned();
        tid_tx.send(tid).unwrap();
        moved_rx.recv().unwrap();
        ip("link set lo up");
        ip("addr add 198.18.5.1/24 dev up0p");
        ip("addr add 198.18.5.9/24 dev up0p");
        ip("-6 addr add fd53::1/64 dev up0p nodad");
        ip("-6 addr add fd53::9/64 dev up0p nodad");
        ip("link set up0p up");
        let udp = |addr: &str| {
            let s = UdpSocket::bind(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            s
        };
        sock_tx
            .send([
                udp("198.18.5.1:500"),
                udp("[fd53::1]:500"),
                udp("198.18.5.9:67"),
            ])
            .unwrap();
        let web = TcpListener::bind("198.18.5.9:8080").unwrap();
        web.set_nonblocking(true).unwrap();
        web_tx.send(web).unwrap();
        let _ = stop_rx.recv();
    });
    let tid = tid_rx.recv().unwrap();
    ip(&format!("link set up0p netns {tid}"));
    moved_tx.send(()).unwrap();
    let [ike, ike6, dhcp] = sock_rx.recv().unwrap();
    let web = web_rx.recv().unwrap();
    Peer {
        ike,
        ike6,
        dhcp,
        web,
        stop,
        thread,
    }
}

fn pings(args: &str) -> bool {
    Command::new("ping")
        .args(["-n", "-c", "1", "-W", "1"])
        .args(args.split_whitespace())
        .output()
        .unwrap()
        .status
        .success()
}

/// A datagram from the client (bound to `local`) to `server` at `to` arrives, and the answer
/// comes back.
fn udp_round_trip(local: &str, server: &UdpSocket, to: &str) -> bool {
    let client = UdpSocket::bind(local).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    if client.send_to(b"hello", to).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let Ok((n, from)) = server.recv_from(&mut buf) else {
        return false;
    };
    assert_eq!(&buf[..n], b"hello");
    server.send_to(b"ok", from).unwrap();
    client.recv(&mut buf).is_ok_and(|n| &buf[..n] == b"ok")
}

/// IKE from the client to the gateway's port 500 and back.
fn ike_round_trip(peer: &Peer) -> bool {
    udp_round_trip("0.0.0.0:0", &peer.ike, "198.18.5.1:500")
}

fn tcp_connects() -> bool {
    let addr: SocketAddr = "198.18.5.9:8080".parse().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

fn nft_tables() -> String {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root; run by `cargo xtask test`"]
fn kill_switch_blocks_all_but_the_gateway_and_lifts_again() {
    std::thread::spawn(|| {
        let world = private_world();
        let state = world.path().join("state");
        let peer = peer();
        ip("-6 addr add fd53::2/64 dev up0 nodad");
        assert!(pings("198.18.5.9"), "the link works before the kill switch");
        assert!(pings("fd53::9"), "IPv6 works before the kill switch");
        assert!(ike_round_trip(&peer));
        // A flow established before the block goes on.
        let mut before = TcpStream::connect("198.18.5.9:8080").unwrap();
        let accepted = (0..50)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                peer.web.accept().ok()
            })
            .unwrap();
        let (mut accepted, _) = accepted;
        accepted
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();

        let mut ks = kill_switch(&state, "acme-hq").unwrap();
        ks.apply(&FirewallPolicy {
            tunnel_interface: "st-acme-hq".into(),
            gateway: Some("198.18.5.1".parse().unwrap()),
            ike_port: 500,
        })
        .unwrap();
        assert!(nft_tables().contains("table inet strait_acme_2dhq"));
        assert!(ike_round_trip(&peer), "IKE with the gateway passes");
        assert!(!pings("198.18.5.9"), "a ping to another host is blocked");
        assert!(!pings("198.18.5.1"), "only IKE/ESP with the gateway passes");
        assert!(!pings("fd53::9"), "IPv6 outside the tunnel is blocked");
        assert!(!tcp_connects(), "TCP to another host is blocked");
        let _ = before.write_all(b"leak");
        let mut buf = [0u8; 8];
        assert!(
            accepted.read(&mut buf).is_err(),
            "an established flow is cut"
        );
        assert!(
            udp_round_trip("0.0.0.0:68", &peer.dhcp, "198.18.5.9:67"),
            "DHCP passes (the link keeps its lease)"
        );
        assert!(
            !udp_round_trip("0.0.0.0:0", &peer.dhcp, "198.18.5.9:67"),
            "only DHCP's own ports pass"
        );

        // An IPv6 gateway: IKE with it passes, which needs neighbour discovery to pass too.
        ks.apply(&FirewallPolicy {
            tunnel_interface: "st-acme-hq".into(),
            gateway: Some("fd53::1".parse().unwrap()),
            ike_port: 500,
        })
        .unwrap();
        ip("-6 neigh flush dev up0");
        assert!(
            udp_round_trip("[::]:0", &peer.ike6, "[fd53::1]:500"),
            "IKE with an IPv6 gateway passes"
        );
        assert!(
            !pings("fd53::1"),
            "only IKE/ESP with the IPv6 gateway passes"
        );
        assert!(
            !ike_round_trip(&peer),
            "the IPv4 address is not the gateway now"
        );

        // Applying again (a reconnect with a new gateway address) replaces the table.
        ks.apply(&FirewallPolicy {
            tunnel_interface: "st-acme-hq".into(),
            gateway: Some("198.18.5.77".parse().unwrap()),
            ike_port: 500,
        })
        .unwrap();
        assert!(!ike_round_trip(&peer), "the old gateway no longer passes");
        assert_eq!(nft_tables().matches("strait_").count(), 1);

        ks.revert().unwrap();
        assert!(!nft_tables().contains("strait_"));
        assert!(pings("198.18.5.9"), "traffic flows again");
        assert!(pings("fd53::9"), "IPv6 flows again");
        assert!(tcp_connects());
        ks.revert().unwrap(); // twice is fine

        // A crashed service leaves its table; the next start removes it.
        let mut ks = kill_switch(&state, "acme-hq").unwrap();
        ks.apply(&FirewallPolicy {
            tunnel_interface: "st-acme-hq".into(),
            gateway: None,
            ike_port: 500,
        })
        .unwrap();
        std::mem::forget(ks);
        assert!(!pings("198.18.5.9"));
        assert_eq!(recover(&state).unwrap(), 1);
        assert!(!nft_tables().contains("strait_"));
        assert!(pings("198.18.5.9"));
        assert_eq!(recover(&state).unwrap(), 0);

        drop(before);
        peer.stop.send(()).unwrap();
        peer.thread.join().unwrap();
    })
    .join()
    .unwrap();
}
