//! Strait against strongSwan's own initiator, measured in the same run on the same machine
//! (`bench/tunnel-throughput`, `cargo xtask bench`): the time from "connect" to tunnel up, and
//! the throughput through the tunnel.
//!
//! Both clients talk to the same kind of lab gateway (strongSwan with kernel-libipsec, the
//! bottleneck of both paths, see lab-notes.md) and push one iperf3 TCP stream to the LAN host
//! for `--seconds` (default 10). The ratio Strait / strongSwan is what we track; absolute
//! numbers depend on the machine.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use strait_interop::{wait_until, GatewayConfig, InitiatorConfig, Lab, Node, Topology, LAN_HOST};

fn binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("binary directory")?.join(name);
    if !path.exists() {
        bail!(
            "{} is missing; build it first (cargo xtask bench does)",
            path.display()
        );
    }
    Ok(path)
}

/// Connect time and throughput of one client.
struct Run {
    connect: Duration,
    bits_per_second: f64,
}

fn reference(gateway: &GatewayConfig, seconds: u32) -> Result<Run> {
    let lab = Lab::start(Topology::default(), gateway)?;
    let initiator =
        lab.start_reference_initiator(&InitiatorConfig::matching(gateway, lab.gateway_addr()))?;
    let started = Instant::now();
    let out = initiator.initiate(Duration::from_secs(15))?;
    let connect = started.elapsed();
    if !out.status.success() {
        bail!("strongSwan initiator failed:\n{}", initiator.log());
    }
    let t = lab.iperf3(Node::Lan, LAN_HOST, Node::Client, seconds)?;
    Ok(Run {
        connect,
        bits_per_second: t.bits_per_second,
    })
}

fn strait(gateway: &GatewayConfig, seconds: u32) -> Result<Run> {
    let lab = Lab::start(Topology::default(), gateway)?;
    let socket = lab.dir().join("straitd.sock");
    let state = lab.dir().join("state");
    let straitd = binary("straitd")?;
    let service = lab.spawn(
        Node::Client,
        "straitd",
        &[
            straitd.to_str().context("path")?,
            "--socket",
            socket.to_str().context("path")?,
            "--state-dir",
            state.to_str().context("path")?,
        ],
    )?;
    if !wait_until(Duration::from_secs(10), || socket.exists()) {
        bail!("straitd did not start:\n{}", service.output());
    }
    let profile = lab.dir().join("bench.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"bench\"\ngateway = \"{}\"\n[auth]\nmethod = \"psk\"\nlocal_id = \"{}\"\n\
             remote_id = \"{}\"\n[crypto]\nike = [\"{}\"]\nesp = [\"{}\"]\n",
            lab.gateway_addr(),
            gateway.client_id,
            gateway.gateway_id,
            gateway.ike_proposals,
            gateway.esp_proposals
        ),
    )?;
    let psk = lab.dir().join("psk");
    std::fs::write(&psk, &gateway.psk)?;
    let strait = binary("strait")?;
    let mut connect = Duration::ZERO;
    for args in [
        vec!["import".to_string(), profile.display().to_string()],
        vec![
            "connect".into(),
            "bench".into(),
            "--secret".into(),
            format!("psk={}", psk.display()),
        ],
    ] {
        let started = Instant::now();
        let out = Command::new(&strait)
            .args(&args)
            .env("STRAIT_SOCKET", &socket)
            .output()?;
        connect = started.elapsed();
        if !out.status.success() {
            bail!(
                "strait {} failed: {}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr),
                service.output()
            );
        }
    }
    let t = lab.iperf3(Node::Lan, LAN_HOST, Node::Client, seconds)?;
    Ok(Run {
        connect,
        bits_per_second: t.bits_per_second,
    })
}

fn main() -> Result<()> {
    let mut seconds = 10;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            other => bail!("unknown argument {other}; usage: strait-bench [--seconds N]"),
        }
    }
    for esp in [
        "aes256gcm16",
        "aes128gcm16",
        "chacha20poly1305",
        "aes256-sha256",
    ] {
        let gateway = GatewayConfig {
            esp_proposals: esp.into(),
            ..GatewayConfig::default()
        };
        let reference = reference(&gateway, seconds)?;
        let ours = strait(&gateway, seconds)?;
        println!(
            "{esp:<18} connect: strongSwan {:>6.1} ms, Strait {:>6.1} ms (ratio {:.2})   \
             throughput: strongSwan {:.3} Gbit/s, Strait {:.3} Gbit/s (ratio {:.2})",
            reference.connect.as_secs_f64() * 1e3,
            ours.connect.as_secs_f64() * 1e3,
            ours.connect.as_secs_f64() / reference.connect.as_secs_f64(),
            reference.bits_per_second / 1e9,
            ours.bits_per_second / 1e9,
            ours.bits_per_second / reference.bits_per_second
        );
    }
    Ok(())
}
