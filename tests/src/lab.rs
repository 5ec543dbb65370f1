//! The lab: namespaces, veths, addresses, firewall rules, tracked processes,
//! packet capture, and a cleanup that runs even when a test panics.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::thread;
use std::time::Duration;
use std::{env, fmt};

use anyhow::{anyhow, bail, Context, Result};

use crate::process::{kill_pid, pid_alive, run_checked, run_with_timeout, stop_child, wait_until};
use crate::strongswan::{
    render_strongswan_conf, Charon, GatewayConfig, InitiatorConfig, CHARON, SWANCTL,
};
use crate::{
    CLIENT_ADDR, CLIENT_ADDR_BEHIND_NAT, GATEWAY_ADDR, GATEWAY_LAN_ADDR, LAN_HOST, NAT_INSIDE_ADDR,
    NAT_OUTSIDE_ADDR,
};

/// Where each lab keeps its files (`<LAB_ROOT>/<lab id>/`): configs, logs, sockets, capture.
pub const LAB_ROOT: &str = "/tmp/strait-interop";
/// Environment variable naming where a failed test's logs and capture are kept
/// (default `/tmp/strait-interop-artifacts`).
pub const ARTIFACTS_ENV: &str = "STRAIT_INTEROP_ARTIFACTS";
const DEFAULT_ARTIFACTS: &str = "/tmp/strait-interop-artifacts";

/// Every lab name starts with this, followed by `<pid>n<counter>`.
const PREFIX: &str = "st";
/// Linux limits interface names to 15 bytes; ours are `<lab id>` + 2 bytes.
const MAX_IFNAME: usize = 15;
/// How long a process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Default deadline for one command run in the lab.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CLEANUP_ONCE: Once = Once::new();

/// The shape of the lab network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Topology {
    /// Put a NAT namespace (nftables masquerade) between client and gateway.
    pub nat: bool,
}

/// A host of the lab, each its own network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// The VPN client (our client, or strongSwan as the reference initiator).
    Client,
    /// The strongSwan gateway.
    Gateway,
    /// A host on the protected LAN behind the gateway.
    Lan,
    /// The NAT router between client and gateway (only with `Topology { nat: true }`).
    Nat,
}

impl Node {
    fn suffix(self) -> &'static str {
        match self {
            Node::Client => "client",
            Node::Gateway => "gateway",
            Node::Lan => "lan",
            Node::Nat => "nat",
        }
    }
}

/// A background process the lab started; the lab stops it at the latest when dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessHandle {
    index: usize,
    pid: u32,
    name: String,
    log: PathBuf,
}

impl ProcessHandle {
    /// Its PID (the command itself: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The name it was started with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file its stdout and stderr go to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Its stdout and stderr so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

struct Tracked {
    name: String,
    child: Child,
}

/// A measured transfer (from iperf3's JSON report, receiver side).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// Bits per second received.
    pub bits_per_second: f64,
    /// Bytes received.
    pub bytes: u64,
    /// Seconds the transfer ran.
    pub seconds: f64,
}

impl fmt::Display for Throughput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.3} Gbit/s ({} bytes in {:.1} s)",
            self.bits_per_second / 1e9,
            self.bytes,
            self.seconds
        )
    }
}

/// One lab network with its namespaces, processes and files.
///
/// Dropping it tears everything down (see the crate docs). Logs and the packet
/// capture are kept only if it is dropped while the thread panics (or after
/// [`Lab::keep_artifacts`]): tests should assert rather than return `Err`, since
/// a returned error drops the lab before the test is known to have failed.
pub struct Lab {
    id: String,
    topology: Topology,
    dir: PathBuf,
    /// Namespaces in creation order, so a half-built lab is still cleaned up.
    namespaces: Vec<(Node, String)>,
    etc_netns: Vec<PathBuf>,
    processes: Mutex<Vec<Tracked>>,
    gateway: Option<Charon>,
    pcap: Option<PathBuf>,
    capture: Option<ProcessHandle>,
    keep: AtomicBool,
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab")
            .field("id", &self.id)
            .field("topology", &self.topology)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Lab {
    /// Builds the network and starts a strongSwan gateway loaded with `gateway`.
    pub fn start(topology: Topology, gateway: &GatewayConfig) -> Result<Lab> {
        let mut lab = Lab::new(topology)?;
        lab.start_gateway(gateway)?;
        Ok(lab)
    }

    /// Builds the network only (no gateway yet; see [`Lab::start_gateway`]).
    ///
    /// Fails with a message naming `cargo xtask setup` if not root or if
    /// strongSwan or a network tool is missing.
    pub fn new(topology: Topology) -> Result<Lab> {
        check_preconditions()?;
        CLEANUP_ONCE.call_once(|| {
            if let Err(e) = cleanup_stale() {
                eprintln!("strait-interop: cleaning up stale labs failed: {e:#}");
            }
        });
        let id = format!(
            "{PREFIX}{}n{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if id.len() + 2 > MAX_IFNAME {
            bail!("lab id {id} too long for interface names");
        }
        let dir = Path::new(LAB_ROOT).join(&id);
        let mut lab = Lab {
            id,
            topology,
            dir,
            namespaces: Vec::new(),
            etc_netns: Vec::new(),
            processes: Mutex::new(Vec::new()),
            gateway: None,
            pcap: None,
            capture: None,
            keep: AtomicBool::new(false),
        };
        // From here on, an error drops `lab`, which removes whatever was built.
        fs::create_dir_all(&lab.dir).with_context(|| format!("creating {}", lab.dir.display()))?;
        lab.build_network()?;
        lab.start_capture();
        Ok(lab)
    }

    fn build_network(&mut self) -> Result<()> {
        let mut nodes = vec![Node::Client, Node::Gateway, Node::Lan];
        if self.topology.nat {
            nodes.push(Node::Nat);
        }
        for node in nodes {
            let name = format!("{}-{}", self.id, node.suffix());
            ip(&["netns", "add", &name])?;
            self.namespaces.push((node, name.clone()));
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
        }

        let (c0, g0, g1, l0) = (
            self.ifname("c0"),
            self.ifname("g0"),
            self.ifname("g1"),
            self.ifname("l0"),
        );
        let client_next_hop = if self.topology.nat {
            let (n0, n1) = (self.ifname("n0"), self.ifname("n1"));
            self.veth(Node::Client, &c0, Node::Nat, &n1)?;
            self.veth(Node::Nat, &n0, Node::Gateway, &g0)?;
            self.addr(Node::Client, &c0, CLIENT_ADDR_BEHIND_NAT)?;
            self.addr(Node::Nat, &n1, NAT_INSIDE_ADDR)?;
            self.addr(Node::Nat, &n0, NAT_OUTSIDE_ADDR)?;
            self.forwarding(Node::Nat)?;
            self.nft(
                Node::Nat,
                &format!(
                    "table ip strait_lab_nat {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"{n0}\" masquerade\n  }}\n}}\n"
                ),
            )?;
            NAT_INSIDE_ADDR
        } else {
            self.veth(Node::Client, &c0, Node::Gateway, &g0)?;
            self.addr(Node::Client, &c0, CLIENT_ADDR)?;
            GATEWAY_ADDR
        };
        self.addr(Node::Gateway, &g0, GATEWAY_ADDR)?;
        self.veth(Node::Gateway, &g1, Node::Lan, &l0)?;
        self.addr(Node::Gateway, &g1, GATEWAY_LAN_ADDR)?;
        self.addr(Node::Lan, &l0, LAN_HOST)?;

        // The client has an ordinary default route (as on any host), the LAN
        // host answers everything through the gateway (which routes virtual IPs
        // into the tunnel).
        let hop = client_next_hop.to_string();
        ip(&[
            "-n",
            self.ns(Node::Client)?,
            "route",
            "add",
            "default",
            "via",
            &hop,
        ])?;
        ip(&[
            "-n",
            self.ns(Node::Lan)?,
            "route",
            "add",
            "default",
            "via",
            &GATEWAY_LAN_ADDR.to_string(),
        ])?;
        self.forwarding(Node::Gateway)?;
        // The LAN is protected: nothing is forwarded between the outside veth
        // and the LAN except what comes out of the tunnel (the TUN device).
        self.nft(
            Node::Gateway,
            &format!(
                "table inet strait_lab_gw {{\n  chain forward {{\n    type filter hook forward priority filter; policy accept;\n    iifname \"{g0}\" drop\n    oifname \"{g0}\" drop\n  }}\n}}\n"
            ),
        )?;

        // `ip netns exec` bind-mounts this over /etc/resolv.conf, so a client's
        // DNS changes never touch the host's resolver.
        let etc = Path::new("/etc/netns").join(self.ns(Node::Client)?);
        fs::create_dir_all(&etc).with_context(|| format!("creating {}", etc.display()))?;
        self.etc_netns.push(etc.clone());
        fs::write(
            etc.join("resolv.conf"),
            format!("nameserver {client_next_hop}\n"),
        )
        .context("writing the client's resolv.conf")?;
        Ok(())
    }

    fn ifname(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.id)
    }

    /// Creates a veth pair directly inside two namespaces (never in the host's).
    fn veth(&self, a: Node, a_if: &str, b: Node, b_if: &str) -> Result<()> {
        let (a_ns, b_ns) = (self.ns(a)?, self.ns(b)?);
        ip(&[
            "link", "add", a_if, "netns", a_ns, "type", "veth", "peer", "name", b_if, "netns", b_ns,
        ])?;
        Ok(())
    }

    fn addr(&self, node: Node, ifname: &str, addr: Ipv4Addr) -> Result<()> {
        let ns = self.ns(node)?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            ifname,
        ])?;
        ip(&["-n", ns, "link", "set", ifname, "up"])?;
        Ok(())
    }

    fn forwarding(&self, node: Node) -> Result<()> {
        let out = self.exec(node, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        if !out.status.success() {
            bail!(
                "enabling forwarding in {node:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Loads an nftables ruleset into a node.
    pub fn nft(&self, node: Node, ruleset: &str) -> Result<()> {
        let file = self.dir.join(format!(
            "nft-{}-{}.conf",
            node.suffix(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::write(&file, ruleset).with_context(|| format!("writing {}", file.display()))?;
        let path = file.display().to_string();
        let out = self.exec(node, &["nft", "-f", &path])?;
        if !out.status.success() {
            bail!(
                "nft -f in {node:?} failed: {}\n{ruleset}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Captures the client's veth with tcpdump, if installed (best effort).
    fn start_capture(&mut self) {
        if find_in_path("tcpdump").is_none() {
            return;
        }
        let pcap = self.dir.join("client.pcap");
        let iface = self.client_interface();
        let pcap_arg = pcap.display().to_string();
        let started = self.spawn(
            Node::Client,
            "tcpdump",
            &[
                "tcpdump",
                "-i",
                &iface,
                "-n",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
                "-w",
                &pcap_arg,
            ],
        );
        match started {
            Ok(h) => {
                if wait_until(Duration::from_secs(5), || {
                    h.output().contains("listening on")
                }) {
                    self.pcap = Some(pcap);
                    self.capture = Some(h);
                } else {
                    eprintln!("strait-interop: tcpdump did not start: {}", h.output());
                }
            }
            Err(e) => eprintln!("strait-interop: no capture: {e:#}"),
        }
    }

    /// This lab's unique id (`st<pid>n<counter>`), the prefix of all its names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This lab's directory (configs, logs, sockets, capture).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The topology it was built with.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// The network namespace name of a node.
    pub fn ns(&self, node: Node) -> Result<&str> {
        self.namespaces
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, name)| name.as_str())
            .ok_or_else(|| anyhow!("lab {} has no {node:?} namespace", self.id))
    }

    /// The client's own address (behind the NAT when there is one).
    pub fn client_addr(&self) -> Ipv4Addr {
        if self.topology.nat {
            CLIENT_ADDR_BEHIND_NAT
        } else {
            CLIENT_ADDR
        }
    }

    /// The address the gateway sees the client at (the NAT's when there is one).
    pub fn client_addr_seen_by_gateway(&self) -> Ipv4Addr {
        if self.topology.nat {
            NAT_OUTSIDE_ADDR
        } else {
            CLIENT_ADDR
        }
    }

    /// The gateway's outside address.
    pub fn gateway_addr(&self) -> Ipv4Addr {
        GATEWAY_ADDR
    }

    /// The LAN host's address (only reachable through the tunnel).
    pub fn lan_host(&self) -> Ipv4Addr {
        LAN_HOST
    }

    /// The client's network interface (also where the capture runs).
    pub fn client_interface(&self) -> String {
        self.ifname("c0")
    }

    /// The resolv.conf that the client namespace sees as `/etc/resolv.conf`.
    pub fn client_resolv_conf(&self) -> Result<PathBuf> {
        Ok(Path::new("/etc/netns")
            .join(self.ns(Node::Client)?)
            .join("resolv.conf"))
    }

    /// The packet capture of the client's veth, if tcpdump is installed.
    pub fn pcap_path(&self) -> Option<&Path> {
        self.pcap.as_deref()
    }

    /// Stops the packet capture (the file stays), e.g. before a throughput
    /// measurement that capturing every packet would slow down.
    pub fn stop_capture(&self) -> Result<()> {
        match &self.capture {
            Some(h) => self.stop(h).map(drop),
            None => Ok(()),
        }
    }

    /// Keep the logs and capture after the lab is dropped even if the test passes.
    pub fn keep_artifacts(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    /// Runs a command in a node and waits for it (at most 30 s).
    pub fn exec(&self, node: Node, args: &[&str]) -> Result<Output> {
        self.exec_timeout(node, args, EXEC_TIMEOUT)
    }

    /// Runs a command in a node and waits for it, at most `timeout`.
    pub fn exec_timeout(&self, node: Node, args: &[&str], timeout: Duration) -> Result<Output> {
        run_with_timeout(self.netns_command(node, args)?, timeout)
    }

    fn netns_command(&self, node: Node, args: &[&str]) -> Result<Command> {
        if args.is_empty() {
            bail!("empty command");
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns(node)?]).args(args);
        Ok(cmd)
    }

    /// Starts a background process in a node; its output goes to `<lab dir>/<name>.log`.
    ///
    /// The lab stops it (SIGTERM, then SIGKILL) when dropped, or earlier with [`Lab::stop`].
    pub fn spawn(&self, node: Node, name: &str, args: &[&str]) -> Result<ProcessHandle> {
        let cmd = self.netns_command(node, args)?;
        self.spawn_command(name, cmd)
    }

    fn spawn_command(&self, name: &str, mut cmd: Command) -> Result<ProcessHandle> {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut processes = self.processes()?;
        let index = processes.len();
        let log = self.dir.join(format!("{safe}-{index}.log"));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let pid = child.id();
        processes.push(Tracked {
            name: name.to_string(),
            child,
        });
        Ok(ProcessHandle {
            index,
            pid,
            name: name.to_string(),
            log,
        })
    }

    fn processes(&self) -> Result<MutexGuard<'_, Vec<Tracked>>> {
        self.processes
            .lock()
            .map_err(|_| anyhow!("lab process list poisoned"))
    }

    /// Whether a process the lab started is still running.
    pub fn is_running(&self, handle: &ProcessHandle) -> bool {
        let Ok(mut processes) = self.processes() else {
            return false;
        };
        processes
            .get_mut(handle.index)
            .is_some_and(|t| matches!(t.child.try_wait(), Ok(None)))
    }

    /// Stops a process the lab started (SIGTERM, SIGKILL after 3 s) and reaps it.
    pub fn stop(&self, handle: &ProcessHandle) -> Result<ExitStatus> {
        let mut processes = self.processes()?;
        let tracked = processes
            .get_mut(handle.index)
            .ok_or_else(|| anyhow!("unknown process {}", handle.name))?;
        stop_child(&mut tracked.child, STOP_GRACE)
    }

    /// Sends one ping (1 s timeout) from a node; true if it was answered.
    pub fn ping(&self, from: Node, addr: Ipv4Addr) -> bool {
        self.exec_timeout(
            from,
            &["ping", "-n", "-c", "1", "-W", "1", &addr.to_string()],
            Duration::from_secs(5),
        )
        .is_ok_and(|o| o.status.success())
    }

    /// Starts a charon in `node` with its own directory `<lab dir>/<name>`,
    /// strongswan.conf, vici socket, log file and private `/run`, and waits
    /// (bounded) until it answers on vici.
    pub fn start_charon(
        &self,
        node: Node,
        name: &str,
        aggressive_mode_psk: bool,
    ) -> Result<Charon> {
        let dir = self.dir.join(name);
        let run = dir.join("run");
        fs::create_dir_all(&run)?;
        // swanctl --load-all reads these; empty dirs keep its output quiet.
        for sub in [
            "x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private",
            "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12",
        ] {
            fs::create_dir_all(dir.join("swanctl").join(sub))?;
        }
        let vici = dir.join("vici.sock");
        let log = dir.join("charon.log");
        let conf = dir.join("strongswan.conf");
        fs::write(
            &conf,
            render_strongswan_conf(&vici, &log, aggressive_mode_psk)?,
        )?;

        // charon's pidfile path (/run/charon.pid) is compiled in: give each
        // charon its own /run in its own mount namespace. `ip netns exec`,
        // unshare and sh all exec, so the PID we track is charon's.
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            self.ns(node)?,
            "unshare",
            "--mount",
            "--propagation",
            "private",
        ])
        .args([
            "sh",
            "-c",
            "mount --bind \"$1\" /run && shift && exec \"$@\"",
            "sh",
        ])
        .arg(&run)
        .arg(CHARON)
        .env("STRONGSWAN_CONF", &conf);
        let process = self.spawn_command(&format!("charon-{name}"), cmd)?;
        let charon = Charon {
            name: name.to_string(),
            node,
            dir,
            conf,
            vici,
            log,
            process,
        };
        let ready = wait_until(Duration::from_secs(10), || {
            !self.is_running(&charon.process)
                || (charon.vici.exists()
                    && charon
                        .swanctl(&["--stats"], Duration::from_secs(5))
                        .is_ok_and(|o| o.status.success()))
        });
        if !ready || !self.is_running(&charon.process) {
            bail!(
                "charon '{name}' did not come up in {node:?}\noutput: {}\nlog: {}",
                charon.process.output(),
                charon.log()
            );
        }
        Ok(charon)
    }

    /// Starts the strongSwan gateway and loads `config` into it.
    pub fn start_gateway(&mut self, config: &GatewayConfig) -> Result<&Charon> {
        if self.gateway.is_some() {
            bail!("lab {} already has a gateway", self.id);
        }
        let charon = self.start_charon(Node::Gateway, "gateway", config.aggressive_mode_psk)?;
        charon.load_config(&config.render(GATEWAY_ADDR)?)?;
        Ok(self.gateway.insert(charon))
    }

    /// Stops the gateway's charon (a gateway crash or restart); [`Lab::start_gateway`] brings
    /// a fresh one back, without any of the old SAs.
    pub fn stop_gateway(&mut self) -> Result<()> {
        let charon = self
            .gateway
            .take()
            .ok_or_else(|| anyhow!("lab {} has no gateway", self.id))?;
        self.stop(charon.process())?;
        // A fresh charon must not find the old socket.
        let _ = fs::remove_file(&charon.vici);
        Ok(())
    }

    /// The gateway's charon.
    pub fn gateway(&self) -> Result<&Charon> {
        self.gateway
            .as_ref()
            .ok_or_else(|| anyhow!("lab {} has no gateway", self.id))
    }

    /// Loads a new scenario into the running gateway (replaces the connection).
    pub fn reload_gateway(&self, config: &GatewayConfig) -> Result<()> {
        self.gateway()?.load_config(&config.render(GATEWAY_ADDR)?)
    }

    /// Starts strongSwan as the reference initiator in the client namespace
    /// (its own charon, `/run` and vici socket) with `config` loaded. It does
    /// not connect yet: call [`Charon::initiate`].
    pub fn start_reference_initiator(&self, config: &InitiatorConfig) -> Result<Charon> {
        let charon = self.start_charon(Node::Client, "initiator", false)?;
        charon.load_config(&config.render()?)?;
        Ok(charon)
    }

    /// Runs an iperf3 transfer of `seconds` from `client` to an iperf3 server
    /// on `server_addr` in `server`, and returns what the receiver measured.
    pub fn iperf3(
        &self,
        server: Node,
        server_addr: Ipv4Addr,
        client: Node,
        seconds: u32,
    ) -> Result<Throughput> {
        let addr = server_addr.to_string();
        let srv = self.spawn(
            server,
            "iperf3-server",
            &["iperf3", "-s", "-1", "-B", &addr],
        )?;
        let listening = wait_until(Duration::from_secs(5), || {
            self.exec(server, &["ss", "-Hltn", "sport = :5201"])
                .is_ok_and(|o| !o.stdout.is_empty())
        });
        if !listening {
            let _ = self.stop(&srv);
            bail!("iperf3 server did not start: {}", srv.output());
        }
        let secs = seconds.to_string();
        let out = self.exec_timeout(
            client,
            &[
                "iperf3",
                "-c",
                &addr,
                "-t",
                &secs,
                "-J",
                "--connect-timeout",
                "3000",
            ],
            Duration::from_secs(u64::from(seconds) + 20),
        );
        let _ = self.stop(&srv);
        let out = out?;
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("iperf3 -J printed no JSON")?;
        if let Some(err) = report.get("error").and_then(|e| e.as_str()) {
            bail!("iperf3 failed: {err}");
        }
        let received = &report["end"]["sum_received"];
        let bits_per_second = received["bits_per_second"].as_f64();
        let bytes = received["bytes"].as_u64();
        let secs = received["seconds"].as_f64();
        match (bits_per_second, bytes, secs) {
            (Some(bits_per_second), Some(bytes), Some(seconds)) => Ok(Throughput {
                bits_per_second,
                bytes,
                seconds,
            }),
            _ => bail!(
                "iperf3 report without end.sum_received: {}",
                String::from_utf8_lossy(&out.stdout)
            ),
        }
    }

    fn teardown(&mut self) {
        let failed = thread::panicking() || self.keep.load(Ordering::Relaxed);
        // Stop what we started, newest first (tcpdump last, so it sees the end).
        match self.processes.get_mut() {
            Ok(processes) => {
                for tracked in processes.iter_mut().rev() {
                    if let Err(e) = stop_child(&mut tracked.child, STOP_GRACE) {
                        eprintln!("strait-interop: stopping {}: {e:#}", tracked.name);
                    }
                }
            }
            Err(_) => {
                eprintln!("strait-interop: process list poisoned; relying on namespace cleanup")
            }
        }
        for (_, ns) in &self.namespaces {
            kill_namespace_processes(ns);
        }
        if failed {
            let dest = artifacts_dir().join(format!("{}-{}", test_name(), self.id));
            match copy_tree(&self.dir, &dest) {
                Ok(()) => eprintln!(
                    "strait-interop: logs and capture of lab {} kept in {}",
                    self.id,
                    dest.display()
                ),
                Err(e) => eprintln!(
                    "strait-interop: keeping artifacts in {} failed: {e:#}",
                    dest.display()
                ),
            }
        }
        for (_, ns) in self.namespaces.drain(..).rev() {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("strait-interop: {e:#}");
            }
        }
        for etc in self.etc_netns.drain(..) {
            let _ = fs::remove_dir_all(etc);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Removes what crashed runs left behind: lab namespaces (and their processes,
/// veths and `/etc/netns` dirs) and lab directories whose creating process is gone.
///
/// Labs of running processes are left alone, so parallel test binaries are safe.
/// Returns how many namespaces it removed.
pub fn cleanup_stale() -> Result<usize> {
    let out = run_checked(command("ip", &["netns", "list"]), Duration::from_secs(10))?;
    let mut removed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = lab_owner_pid(ns) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        kill_namespace_processes(ns);
        if ip(&["netns", "del", ns]).is_ok() {
            removed += 1;
        }
        let _ = fs::remove_dir_all(Path::new("/etc/netns").join(ns));
    }
    if let Ok(entries) = fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if lab_owner_pid(&name).is_some_and(|pid| !pid_alive(pid)) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    if let Ok(entries) = fs::read_dir(LAB_ROOT) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if lab_owner_pid(&name).is_some_and(|pid| !pid_alive(pid)) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(removed)
}

/// The PID in a lab name `st<pid>n<counter>[-…]`, or `None` if it is not one of ours.
fn lab_owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, rest) = rest.split_once('n')?;
    let counter_end = rest.find('-').unwrap_or(rest.len());
    let counter = &rest[..counter_end];
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(pid) || !all_digits(counter) {
        return None;
    }
    pid.parse().ok()
}

/// SIGKILLs every process left in a namespace (charon's helpers, anything a test forked).
fn kill_namespace_processes(ns: &str) {
    let pids = || -> Vec<i32> {
        run_with_timeout(
            command("ip", &["netns", "pids", ns]),
            Duration::from_secs(5),
        )
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
    };
    let first = pids();
    if first.is_empty() {
        return;
    }
    for pid in first {
        kill_pid(pid);
    }
    if !wait_until(Duration::from_secs(2), || pids().is_empty()) {
        eprintln!("strait-interop: processes still in {ns} after SIGKILL");
    }
}

fn command(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

fn ip(args: &[&str]) -> Result<Output> {
    run_checked(command("ip", args), Duration::from_secs(10))
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    env::var_os("PATH")
        .into_iter()
        .flat_map(|p| env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Fails with a message naming `cargo xtask setup` unless the lab can run here.
fn check_preconditions() -> Result<()> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root privileges".to_string());
    }
    for path in [CHARON, SWANCTL] {
        if !Path::new(path).is_file() {
            missing.push(path.to_string());
        }
    }
    for tool in [
        "ip", "nft", "sysctl", "unshare", "mount", "ping", "ss", "iperf3",
    ] {
        if find_in_path(tool).is_none() {
            missing.push(tool.to_string());
        }
    }
    if !missing.is_empty() {
        bail!(
            "the interop lab cannot run: missing {}.\nRun `cargo xtask setup` (installs strongSwan, iperf3, nftables, \
             iputils-ping, tcpdump) and run the interop tests as root with `cargo xtask test`.",
            missing.join(", ")
        );
    }
    Ok(())
}

fn artifacts_dir() -> PathBuf {
    env::var_os(ARTIFACTS_ENV).map_or_else(|| PathBuf::from(DEFAULT_ARTIFACTS), PathBuf::from)
}

/// The running test's name (libtest names each test's thread after it).
fn test_name() -> String {
    thread::current()
        .name()
        .filter(|n| *n != "main")
        .map_or_else(|| "lab".to_string(), |n| n.replace("::", "-"))
}

/// Copies the regular files of a directory tree (sockets and the like are skipped).
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        let target = dst.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if ty.is_file() {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_parse_back_to_their_pid() {
        assert_eq!(lab_owner_pid("st1234n0-client"), Some(1234));
        assert_eq!(lab_owner_pid("st1234n17"), Some(1234));
        assert_eq!(lab_owner_pid("st1234n17-nat"), Some(1234));
        assert_eq!(lab_owner_pid("strongswan"), None);
        assert_eq!(lab_owner_pid("st12x4n1"), None);
        assert_eq!(lab_owner_pid("stn1"), None);
        assert_eq!(lab_owner_pid("st12n"), None);
        assert_eq!(lab_owner_pid("blue"), None);
    }

    #[test]
    fn copy_tree_copies_regular_files() {
        let src = env::temp_dir().join(format!("strait-interop-copy-{}", std::process::id()));
        let dst = src.with_extension("dst");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.log"), "a").unwrap();
        fs::write(src.join("sub/b.log"), "b").unwrap();
        copy_tree(&src, &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("sub/b.log")).unwrap(), "b");
        fs::remove_dir_all(&src).unwrap();
        fs::remove_dir_all(&dst).unwrap();
    }
}
