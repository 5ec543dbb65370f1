//! Libreswan's pluto as a second lab gateway.
//!
//! Libreswan conflicts with strongSwan's packages, so it is not installed: its Debian package
//! is downloaded (`apt-get download`) and unpacked (`dpkg -x`) once into
//! [`LIBRESWAN_ROOT`] (or `$STRAIT_LIBRESWAN_ROOT`), and pluto runs from there with its
//! directories (`--rundir`, `--nssdir`, `--secretsfile`, `--config`) inside the lab. Its
//! libraries (libldns3, libevent-pthreads-2.1-7, libunbound8, libcurl3-nss) and `certutil`
//! (libnss3-tools) must be installed. The kernel has no ESP, so pluto can establish IKE SAs
//! but no child SA (it answers TS_UNACCEPTABLE).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process::{run_checked, wait_until};
use crate::{Lab, Node, ProcessHandle};

/// Where the unpacked package lives unless `STRAIT_LIBRESWAN_ROOT` says otherwise.
pub const LIBRESWAN_ROOT: &str = "/var/tmp/strait-interop-libreswan";

/// The unpacked Libreswan package, fetched on first use.
pub fn libreswan_root() -> Result<PathBuf> {
    let root = std::env::var_os("STRAIT_LIBRESWAN_ROOT")
        .map_or_else(|| PathBuf::from(LIBRESWAN_ROOT), PathBuf::from);
    if root.join("usr/libexec/ipsec/pluto").exists() {
        return Ok(root);
    }
    let dl = root.join("download");
    std::fs::create_dir_all(&dl)?;
    let mut cmd = Command::new("apt-get");
    cmd.args(["download", "libreswan"]).current_dir(&dl);
    run_checked(cmd, Duration::from_secs(120)).context("apt-get download libreswan")?;
    let deb = std::fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("no libreswan .deb downloaded")?;
    let mut cmd = Command::new("dpkg");
    cmd.arg("-x").arg(&deb).arg(&root);
    run_checked(cmd, Duration::from_secs(60)).context("dpkg -x libreswan")?;
    Ok(root)
}

/// A running pluto in the lab's gateway namespace.
#[derive(Debug)]
pub struct Pluto {
    dir: PathBuf,
    root: PathBuf,
    /// The process (its log is pluto's stderr).
    pub process: ProcessHandle,
}

impl Pluto {
    /// Starts pluto in the gateway namespace of `lab` (which must run no charon there) with
    /// `ipsec_conf` (connections, `config setup` optional) and `secrets`; loads every
    /// connection. `nss_setup` may add certificates to the NSS database (given its path)
    /// before pluto starts.
    pub fn start(
        lab: &Lab,
        ipsec_conf: &str,
        secrets: &str,
        nss_setup: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Pluto> {
        let root = libreswan_root()?;
        let dir = lab.dir().join("pluto");
        let run = dir.join("run");
        let nss = dir.join("nss");
        std::fs::create_dir_all(&run)?;
        std::fs::create_dir_all(&nss)?;
        let conf = dir.join("ipsec.conf");
        let sec = dir.join("ipsec.secrets");
        std::fs::write(&conf, ipsec_conf)?;
        std::fs::write(&sec, secrets)?;
        let mut cmd = Command::new("certutil");
        cmd.arg("-N")
            .arg("-d")
            .arg(format!("sql:{}", nss.display()))
            .arg("--empty-password");
        run_checked(cmd, Duration::from_secs(20)).context("certutil -N")?;
        nss_setup(&nss)?;
        let pluto = root.join("usr/libexec/ipsec/pluto");
        let args: Vec<String> = vec![
            pluto.display().to_string(),
            // First: later options override what the config file's `config setup` says.
            "--config".into(),
            conf.display().to_string(),
            "--nofork".into(),
            "--dumpdir".into(),
            run.display().to_string(),
            "--stderrlog".into(),
            "--rundir".into(),
            run.display().to_string(),
            "--nssdir".into(),
            nss.display().to_string(),
            "--secretsfile".into(),
            sec.display().to_string(),
            "--ipsecdir".into(),
            dir.display().to_string(),
            "--no-dnssec".into(),
        ];
        // pluto insists on its helpers at the compiled-in /usr/libexec/ipsec: give it a private
        // mount namespace where that path is the unpacked package's (the host is untouched).
        let helpers = root.join("usr/libexec/ipsec");
        let script = format!(
            "mount -t tmpfs strait-pluto /usr/libexec && mkdir /usr/libexec/ipsec && \
             mount --bind '{}' /usr/libexec/ipsec && exec \"$@\"",
            helpers.display()
        );
        let mut a: Vec<&str> = vec![
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "pluto",
        ];
        a.extend(args.iter().map(String::as_str));
        let process = lab.spawn(Node::Gateway, "pluto", &a)?;
        let ctl = run.join("pluto.ctl");
        if !wait_until(Duration::from_secs(10), || ctl.exists()) {
            bail!("pluto did not start:\n{}", process.output());
        }
        let p = Pluto { dir, root, process };
        let addconn = p.root.join("usr/libexec/ipsec/addconn");
        let out = lab.exec_timeout(
            Node::Gateway,
            &[
                &addconn.display().to_string(),
                "--ctlsocket",
                &ctl.display().to_string(),
                "--config",
                &conf.display().to_string(),
                "--addall",
            ],
            Duration::from_secs(20),
        )?;
        if !out.status.success() {
            bail!(
                "addconn failed: {}{}\npluto log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                p.process.output()
            );
        }
        Ok(p)
    }

    /// pluto's log so far.
    pub fn log(&self) -> String {
        self.process.output()
    }

    /// Its directory in the lab.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
