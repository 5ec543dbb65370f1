//! A small fake `straitd` for testing the CLI's behaviour: it speaks the real IPC protocol
//! (`strait_ipc::server::ServerConnection` on a Unix socket), records every request, answers
//! with a closure the test gives, and forwards events to subscribed connections.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strait_ipc::server::{Incoming, ServerConnection};
use strait_ipc::{
    ConnState, ConnectionStatus, Counters, Event, IpcError, LogLine, ProfileSummary, Request,
    Response, ServerMsg,
};
use tokio::sync::broadcast;

/// How the fake answers a request (Subscribe is answered by the fake itself).
pub type Handler =
    dyn Fn(&Request, &broadcast::Sender<Event>) -> Result<Response, IpcError> + Send + Sync;

/// A running fake service.
pub struct Fake {
    _dir: tempfile::TempDir,
    /// Its socket.
    pub path: PathBuf,
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// Sends an event to every subscribed connection.
    pub events: broadcast::Sender<Event>,
}

impl Fake {
    /// Starts a fake service on a fresh socket in a temporary directory.
    pub fn start(
        handler: impl Fn(&Request, &broadcast::Sender<Event>) -> Result<Response, IpcError>
            + Send
            + Sync
            + 'static,
    ) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/straitd.sock");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (events, _) = broadcast::channel(64);
        let handler: Arc<Handler> = Arc::new(handler);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        {
            let path = path.clone();
            let requests = requests.clone();
            let events = events.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = strait_ipc::unix::bind(&path).await.unwrap();
                    ready_tx.send(()).unwrap();
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            return;
                        };
                        tokio::spawn(serve(
                            stream,
                            handler.clone(),
                            requests.clone(),
                            events.clone(),
                        ));
                    }
                });
            });
        }
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Fake {
            _dir: dir,
            path,
            requests,
            events,
        }
    }

    /// Every request received so far, in order (Subscribe and ListProfiles included).
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Runs `strait ARGS` against this service (through `STRAIT_SOCKET`).
    pub fn run(&self, args: &[&str]) -> Run {
        strait(args, &[("STRAIT_SOCKET", self.path.as_os_str())])
    }

    /// Runs `strait ARGS` with `input` on its standard input (a pipe, not a terminal).
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        strait_with_stdin(
            args,
            &[("STRAIT_SOCKET", self.path.as_os_str())],
            Some(input),
        )
    }
}

async fn serve(
    stream: tokio::net::UnixStream,
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<Request>>>,
    events: broadcast::Sender<Event>,
) {
    let Ok(Some(mut conn)) = ServerConnection::accept(stream, "fake").await else {
        return;
    };
    let mut subscription: Option<broadcast::Receiver<Event>> = None;
    loop {
        let incoming = match subscription.as_mut() {
            Some(rx) => tokio::select! {
                incoming = conn.next() => incoming,
                event = rx.recv() => {
                    if let Ok(event) = event {
                        if conn.send(&ServerMsg::Event(event)).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
            },
            None => conn.next().await,
        };
        let Ok(Incoming::Request { id, request }) = incoming else {
            return;
        };
        requests.lock().unwrap().push(request.clone());
        let result = if let Request::Subscribe { .. } = request {
            subscription = Some(events.subscribe());
            Ok(Response::Ok)
        } else {
            handler(&request, &events)
        };
        if conn
            .send(&ServerMsg::Response { id, result })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs the real `strait` binary with a 30 s limit. The session bus is pointed nowhere, so the
/// keychain is never the developer's real one and fails fast.
pub fn strait(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Run {
    strait_with_stdin(args, env, None)
}

/// [`strait`] with `input` written to its standard input (`None`: no input at all).
pub fn strait_with_stdin(
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
    input: Option<&[u8]>,
) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strait"));
    cmd.args(args)
        .env_remove("STRAIT_SOCKET")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/strait-test-bus",
        )
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        // The command may exit before reading it all; that is its business.
        let _ = stdin.write_all(input);
    }
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("strait {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A profile as the service lists it.
pub fn profile(id: &str, method: &str) -> ProfileSummary {
    ProfileSummary {
        id: id.into(),
        name: format!("{id} office"),
        gateway: format!("vpn.{id}.example"),
        version: "ikev2".into(),
        method: method.into(),
        managed: false,
        local_id: None,
        remote_id: Some(format!("vpn.{id}.example")),
        username: None,
        routes: vec![],
        ike: vec![],
        esp: vec![],
    }
}

/// A connected connection with every field filled.
pub fn connected(profile: &str) -> ConnectionStatus {
    ConnectionStatus {
        profile: profile.into(),
        state: ConnState::Connected,
        gateway: format!("vpn.{profile}.example"),
        gateway_address: Some("198.18.0.1:4500".into()),
        virtual_ips: vec!["10.10.0.2".parse().unwrap()],
        dns: vec!["10.10.0.1".parse().unwrap()],
        dns_domains: vec!["corp.example".into()],
        routes: vec!["0.0.0.0/0".into()],
        ike_algorithms: Some("AES-256-GCM/PRF-HMAC-SHA-384/ECP-384".into()),
        esp_algorithms: Some("AES-256-GCM".into()),
        ike_spis: Some("0123456789abcdef/fedcba9876543210".into()),
        esp_spis: Some(("c0ffee01".into(), "0badf00d".into())),
        nat: true,
        counters: Counters {
            bytes_out: 1000,
            bytes_in: 2048,
            packets_out: 10,
            packets_in: 20,
            replay_drops: 0,
            auth_failures: 0,
        },
        uptime_secs: Some(3723),
        ike_rekey_in_secs: Some(14_358),
        child_rekey_in_secs: Some(725),
        kill_switch: false,
        reason: None,
    }
}

/// A log line about a profile.
pub fn log(profile: Option<&str>, time_ms: u64, message: &str) -> LogLine {
    LogLine {
        time_ms,
        level: "info".into(),
        profile: profile.map(str::to_owned),
        message: message.into(),
    }
}

/// Writes a file (creating directories) and returns its path.
pub fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, contents).unwrap();
    path
}
