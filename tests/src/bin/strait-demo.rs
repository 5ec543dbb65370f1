//! `cargo xtask demo`: Strait for real on one machine. A strongSwan gateway in a network
//! namespace, `straitd` in another, the `strait` CLI connecting them, and a ping through the
//! live tunnel to a host on the gateway's protected LAN. Everything is removed on exit.
//!
//! Run as root (network namespaces). `--once` connects, shows the tunnel working and tears it
//! down without waiting for Enter (for scripts).

use std::io::BufRead;
use std::process::Command;

use anyhow::{bail, Context, Result};
use strait_interop::{strait_binary, GatewayConfig, Lab, Node, StraitService, Topology, LAN_HOST};

fn show(title: &str, cmd: &mut Command) -> Result<bool> {
    println!("\n$ {title}");
    let out = cmd.output().with_context(|| format!("running {title}"))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    Ok(out.status.success())
}

fn main() -> Result<()> {
    let once = std::env::args().any(|a| a == "--once");
    let gateway = GatewayConfig::default();
    println!(
        "Starting a strongSwan gateway ({}) in a network namespace…",
        gateway.ike_proposals
    );
    let lab = Lab::start(Topology::default(), &gateway)?;
    let client_ns = lab.ns(Node::Client)?.to_string();
    let service = StraitService::start(&lab)?;
    println!(
        "straitd runs in namespace {client_ns}, listening on {}",
        service.socket.display()
    );

    let profile = lab.dir().join("acme.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"Acme (demo gateway)\"\ngateway = \"{}\"\nversion = \"ikev2\"\n\n[auth]\n\
             method = \"psk\"\nlocal_id = \"{}\"\nremote_id = \"{}\"\n",
            lab.gateway_addr(),
            gateway.client_id,
            gateway.gateway_id
        ),
    )?;
    let psk = lab.dir().join("psk");
    std::fs::write(&psk, &gateway.psk)?;
    println!(
        "\nThe profile ({}):\n{}",
        profile.display(),
        std::fs::read_to_string(&profile)?
    );

    let strait = strait_binary("strait")?;
    let cli = |args: &[&str]| {
        let mut c = Command::new(&strait);
        c.args(args).env("STRAIT_SOCKET", &service.socket);
        c
    };
    let psk_arg = format!("psk={}", psk.display());
    let profile_arg = profile.to_str().context("path")?.to_string();
    let ok = show(
        "strait import acme.toml",
        &mut cli(&["import", &profile_arg]),
    )? && show(
        "strait connect acme",
        &mut cli(&["connect", "acme", "--secret", &psk_arg]),
    )?;
    if !ok {
        bail!(
            "the demo tunnel did not come up; service log:\n{}",
            service.handle.output()
        );
    }
    show(
        &format!("ip netns exec {client_ns} ping -c 3 {LAN_HOST}   # a host behind the gateway"),
        Command::new("ip").args([
            "netns",
            "exec",
            &client_ns,
            "ping",
            "-c",
            "3",
            "-W",
            "2",
            &LAN_HOST.to_string(),
        ]),
    )?;
    show("strait status", &mut cli(&["status"]))?;

    if !once {
        println!(
            "\nThe tunnel is up. In another shell (as root) try:\n  \
             ip netns exec {client_ns} ping {LAN_HOST}\n  {}\n  {}\n\n\
             Press Enter to disconnect and remove everything.",
            service.cli_hint("status"),
            service.cli_hint("logs")
        );
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
    show("strait disconnect", &mut cli(&["disconnect"]))?;
    lab.stop(&service.handle)?;
    println!("\nDone: the namespaces, the gateway and the service are gone.");
    Ok(())
}
