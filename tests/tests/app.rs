//! The desktop app end to end: the real `strait-app` under Xvfb, driven through tauri-driver
//! and WebKitWebDriver, against a real `straitd` connected to the lab's strongSwan gateway,
//! with its secrets in a real Secret Service (gnome-keyring on a private session bus).
//!
//! The app opens a profile file it is given (as a file manager would launch it), the test types
//! the PSK into the window, which stores it in the keychain, sees the profile's identities and
//! routes, clicks Connect, sees "Connected", the virtual IP and the rekey times, saves a screenshot (`target/app-e2e/connected.png`), disconnects,
//! launches the app a second time with another profile file (the running instance imports it),
//! and finally stops the service and sees the window say so.
//!
//! Needs root (the lab), `Xvfb`, `WebKitWebDriver` (webkit2gtk-driver), `tauri-driver`
//! (`cargo install tauri-driver --locked`), gnome-keyring and the debug build of `strait-app`
//! with its UI (`cargo xtask test` does all of this in its `app-e2e` step).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use strait_interop::{wait_until, GatewayConfig, Lab, Node, Topology};

/// `target/<profile>`: where this test's executable's siblings (the binaries) live.
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn binary(name: &str) -> PathBuf {
    let path = target_profile_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p straitd -p strait-app`; `cargo xtask test` does)",
        path.display()
    );
    path
}

fn tauri_driver() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("tauri-driver"))
            .find(|p| p.exists())
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|h| h.join("bin/tauri-driver"));
    on_path
        .or(cargo_home.filter(|p| p.exists()))
        .expect("tauri-driver is missing: cargo install tauri-driver --locked")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process group we started (Xvfb; the session bus with keyring and tauri-driver), killed
/// as a whole when dropped.
struct Group {
    child: Child,
    log: PathBuf,
}

impl Group {
    fn spawn(mut cmd: Command, log: PathBuf) -> Group {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Group { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A virtual display.
fn start_xvfb(dir: &Path) -> (Group, String) {
    let display = (100 + std::process::id() % 400..600)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .unwrap();
    let mut cmd = Command::new("Xvfb");
    cmd.arg(format!(":{display}"))
        .args(["-screen", "0", "1280x900x24", "-nolisten", "tcp"]);
    let xvfb = Group::spawn(cmd, dir.join("xvfb.log"));
    assert!(
        wait_until(Duration::from_secs(10), || Path::new(&format!(
            "/tmp/.X11-unix/X{display}"
        ))
        .exists()),
        "Xvfb did not start:\n{}",
        xvfb.output()
    );
    (xvfb, format!(":{display}"))
}

/// A private session bus with an unlocked gnome-keyring (the Secret Service) on it, and
/// tauri-driver inside it, so the app it launches stores secrets there. The bus address is
/// written to `bus` for `secret-tool`.
fn start_driver(dir: &Path, display: &str, socket: &Path, port: u16) -> Group {
    let home = dir.join("home");
    let runtime = dir.join("xdg-runtime");
    for d in [&home, &runtime] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let script = format!(
        r#"set -e
echo "$DBUS_SESSION_BUS_ADDRESS" > '{bus}'
echo -n lab | gnome-keyring-daemon --components=secrets --daemonize --unlock >/dev/null
# Wait until the keyring owns its name, or D-Bus would start a second, locked one.
for i in $(seq 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q true && break
  sleep 0.1
done
exec '{driver}' --port {port} --native-port {native}"#,
        bus = dir.join("bus").display(),
        driver = tauri_driver().display(),
        native = free_port(),
    );
    let mut cmd = Command::new("dbus-run-session");
    cmd.args(["--", "sh", "-c", &script])
        .env("DISPLAY", display)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("STRAIT_SOCKET", socket)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        // The debug build's page is embedded; nothing to fetch.
        .env("NO_AT_BRIDGE", "1");
    let driver = Group::spawn(cmd, dir.join("tauri-driver.log"));
    assert!(
        wait_until(Duration::from_secs(20), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "tauri-driver did not start:\n{}",
        driver.output()
    );
    driver
}

/// Just enough of a WebDriver client: JSON over HTTP/1.1 on localhost.
struct WebDriver {
    port: u16,
    session: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    // tauri-driver keeps a pool of connections to WebKitWebDriver and now and then forwards a
    // request over one that WebKitWebDriver has already closed; it then drops ours without
    // an answer. Nothing reached the page, so sending the request again is safe.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match http_once(port, method, path, body) {
            Err(e) if attempt < 4 && e.to_string().contains("no HTTP response") => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

fn http_once(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(90)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("{method} {path}: no HTTP response: {text}"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{method} {path}: bad status line: {head}"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let value: Value = serde_json::from_str(&body)
        .with_context(|| format!("{method} {path}: not JSON: {body}"))?;
    if status >= 400 {
        bail!("{method} {path}: HTTP {status}: {value}");
    }
    Ok(value["value"].clone())
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl WebDriver {
    fn new_session(port: u16, app: &Path, args: &[&str]) -> Result<WebDriver> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": app, "args": args},
        }}});
        let v = http(port, "POST", "/session", Some(&caps))?;
        let session = v["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session id: {v}"))?
            .to_owned();
        Ok(WebDriver { port, session })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        http(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    fn find(&self, css: &str) -> Result<String> {
        let v = self.call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        v[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{css}: {v}"))
    }

    fn text(&self, css: &str) -> Result<String> {
        let id = self.find(css)?;
        Ok(self
            .call("GET", &format!("/element/{id}/text"), None)?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    fn click(&self, css: &str) -> Result<()> {
        let id = self.find(css)?;
        self.call("POST", &format!("/element/{id}/click"), Some(&json!({})))?;
        Ok(())
    }

    fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css)?;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({"text": text})),
        )?;
        Ok(())
    }

    /// Waits until the element's text satisfies `ok`; returns the text.
    fn wait_text(&self, css: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.text(css) {
                Ok(t) if ok(&t) => return t,
                Ok(t) => last = t,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let page = self.text("body").unwrap_or_default();
        panic!("{css}: timed out; last: {last}\npage:\n{page}");
    }

    fn screenshot(&self, path: &Path) -> Result<()> {
        let v = self.call("GET", "/screenshot", None)?;
        let png = base64_decode(v.as_str().ok_or_else(|| anyhow!("no screenshot"))?)?;
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(path, png)?;
        Ok(())
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        // One session at a time: always end it, or the next test cannot start one.
        let _ = http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
    assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
    assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
}

#[test]
#[ignore = "needs root, strongSwan, Xvfb, WebKitWebDriver and tauri-driver (cargo xtask test runs it)"]
fn app_imports_stores_the_psk_connects_and_shows_the_tunnel() {
    let gw = GatewayConfig::default();
    let lab = Lab::start(Topology::default(), &gw).unwrap();
    let dir = lab.dir().to_path_buf();
    let socket = dir.join("straitd.sock");
    let straitd = binary("straitd");
    let service = lab
        .spawn(
            Node::Client,
            "straitd",
            &[
                straitd.to_str().unwrap(),
                "--socket",
                socket.to_str().unwrap(),
                "--state-dir",
                dir.join("straitd-state").to_str().unwrap(),
            ],
        )
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || socket.exists()),
        "straitd did not start:\n{}",
        service.output()
    );

    let profile = dir.join("lab.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"Lab gateway\"\ngateway = \"198.18.1.1\"\nversion = \"ikev2\"\n\n[auth]\n\
             method = \"psk\"\nlocal_id = \"{}\"\nremote_id = \"{}\"\n",
            gw.client_id, gw.gateway_id
        ),
    )
    .unwrap();

    let (_xvfb, display) = start_xvfb(&dir);
    let port = free_port();
    let driver = start_driver(&dir, &display, &socket, port);
    let app = binary("strait-app");
    let screenshot = target_profile_dir()
        .parent()
        .unwrap()
        .join("app-e2e/connected.png");
    {
        // tauri-driver answers before its WebKitWebDriver listens: retry for a while.
        let mut attempt = 0;
        let wd = loop {
            attempt += 1;
            match WebDriver::new_session(port, &app, &[profile.to_str().unwrap()]) {
                Ok(wd) => break wd,
                Err(e) if attempt < 20 => {
                    eprintln!("no session yet ({e}); retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("{e}\ntauri-driver:\n{}", driver.output()),
            }
        };

        // Opened with a profile file: it is imported and selected.
        wd.wait_text(".profile[data-id='lab']", Duration::from_secs(30), |t| {
            t.contains("Lab gateway")
        });
        wd.click(".profile[data-id='lab']").unwrap();
        wd.wait_text("#secret-psk-state", Duration::from_secs(5), |t| {
            t.contains("Not stored")
        });
        // The details before connecting: identities as the profile writes them, and no routes
        // of its own.
        let identity = format!("{} → {}", gw.client_id, gw.gateway_id);
        wd.wait_text("#fact-identity", Duration::from_secs(5), |t| t == identity);
        wd.wait_text("#fact-routes", Duration::from_secs(5), |t| {
            t == "The routes the gateway pushes"
        });

        // The PSK goes to the keychain and is not shown again.
        wd.type_into("#secret-psk", &gw.psk).unwrap();
        wd.click("#save-psk").unwrap();
        wd.wait_text("#secret-psk-state", Duration::from_secs(10), |t| {
            t.contains("Stored in your keychain")
        });
        let bus = std::fs::read_to_string(dir.join("bus")).unwrap();
        let stored = Command::new("secret-tool")
            .args(["lookup", "service", "strait", "username", "lab/psk"])
            .env("DBUS_SESSION_BUS_ADDRESS", bus.trim())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&stored.stdout).trim(),
            gw.psk,
            "the keychain holds the PSK: {}",
            String::from_utf8_lossy(&stored.stderr)
        );

        wd.click("#connect").unwrap();
        wd.wait_text("#state", Duration::from_secs(45), |t| t == "Connected");
        let vip = wd.wait_text("#virtual-ip", Duration::from_secs(5), |t| {
            t.starts_with("198.19.100.")
        });
        eprintln!("connected with virtual IP {vip}");
        // The rekey times arrive with the status and count down.
        let rekey = wd.wait_text("#child-rekey", Duration::from_secs(10), |t| {
            t.chars().any(|c| c.is_ascii_digit())
        });
        eprintln!("ESP rekey in {rekey}");
        assert!(lab.ping(Node::Client, strait_interop::LAN_HOST));
        std::thread::sleep(Duration::from_secs(1));
        wd.screenshot(&screenshot).unwrap();
        eprintln!("screenshot: {}", screenshot.display());

        wd.click("#disconnect").unwrap();
        wd.wait_text("#state", Duration::from_secs(20), |t| t == "Disconnected");

        // Opening another profile file with the app while it runs: the second launch hands
        // the file to the first (single instance) and exits; the first imports it.
        let second = dir.join("lab-two.toml");
        std::fs::copy(&profile, &second).unwrap();
        let bus = std::fs::read_to_string(dir.join("bus")).unwrap();
        let out = strait_interop::run_with_timeout(
            {
                let mut c = Command::new(&app);
                c.arg(&second)
                    .env("DISPLAY", &display)
                    .env("DBUS_SESSION_BUS_ADDRESS", bus.trim())
                    .env("STRAIT_SOCKET", &socket)
                    .env("HOME", dir.join("home"))
                    .env("XDG_RUNTIME_DIR", dir.join("xdg-runtime"));
                c
            },
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(out.status.success(), "second launch: {out:?}");
        wd.wait_text(
            ".profile[data-id='lab-two']",
            Duration::from_secs(15),
            |t| t.contains("Lab gateway"),
        );

        // The service goes away: the window says so, in plain words.
        lab.stop(&service).unwrap();
        wd.wait_text("#service-down", Duration::from_secs(10), |t| {
            t == "The Strait service is not running"
        });
    }
    let log = driver.output();
    assert!(
        !log.contains(&gw.psk),
        "the PSK appeared in the app's output:\n{log}"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
}
