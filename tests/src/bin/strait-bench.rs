//! Strait against strongSwan's own initiator, measured in the same run on the same machine
//! (`bench/tunnel-throughput`, `cargo xtask bench`): the time from "connect" to tunnel up, and
//! the throughput through the tunnel.
//!
//! Both clients talk to the same kind of lab gateway (strongSwan with kernel-libipsec, the
//! bottleneck of both paths, see lab-notes.md) and push one iperf3 TCP stream to the LAN host
//! for `--seconds` (default 10). The ratios Strait / strongSwan are what we track; absolute
//! numbers depend on the machine.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use strait_interop::{
    GatewayConfig, InitiatorConfig, Lab, Node, StraitService, Topology, LAN_HOST,
};

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
    let service = StraitService::start(&lab)?;
    let profile = lab.dir().join("bench.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"bench\"\ngateway = \"{}\"\nversion = \"{}\"\n[auth]\nmethod = \"psk\"\n\
             local_id = \"{}\"\nremote_id = \"{}\"\n[crypto]\nike = [\"{}\"]\nesp = [\"{}\"]\n",
            lab.gateway_addr(),
            if gateway.version == 1 {
                "ikev1-main"
            } else {
                "ikev2"
            },
            gateway.client_id,
            gateway.gateway_id,
            gateway.ike_proposals,
            gateway.esp_proposals
        ),
    )?;
    let psk = lab.dir().join("psk");
    std::fs::write(&psk, &gateway.psk)?;
    let profile = profile.to_str().context("path")?.to_string();
    let secret = format!("psk={}", psk.display());
    let mut connect = Duration::ZERO;
    for args in [
        vec!["import", profile.as_str()],
        vec!["connect", "bench", "--secret", secret.as_str()],
    ] {
        let started = Instant::now();
        let out = service.cli(&args)?;
        connect = started.elapsed();
        if !out.status.success() {
            bail!(
                "strait {} failed: {}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr),
                service.handle.output()
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
    // IKEv2 with each ESP proposal, then IKEv1 (Main Mode PSK, Quick Mode with PFS).
    let ikev1 = "aes256-sha256-modp2048";
    let runs = [
        ("aes256gcm16", 2, None),
        ("aes128gcm16", 2, None),
        ("chacha20poly1305", 2, None),
        ("aes256-sha256", 2, None),
        (ikev1, 1, Some(ikev1)),
    ];
    for (esp, version, ike) in runs {
        let mut gateway = GatewayConfig {
            version,
            esp_proposals: esp.into(),
            ..GatewayConfig::default()
        };
        if let Some(ike) = ike {
            gateway.ike_proposals = ike.into();
        }
        let label = format!("{}{esp}", if version == 1 { "IKEv1 " } else { "" });
        let reference = reference(&gateway, seconds)?;
        let ours = strait(&gateway, seconds)?;
        println!(
            "{label:<26} connect: strongSwan {:>6.1} ms, Strait {:>6.1} ms (ratio {:.2})   \
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
