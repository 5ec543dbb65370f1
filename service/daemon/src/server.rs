//! The IPC server: accepts clients on the local socket, checks who they are, and serves their
//! requests and event subscriptions concurrently (a client waiting for `connect` still gets the
//! log lines of that attempt).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use strait_ipc::server::{Incoming, ServerConnection};
use strait_ipc::{Event, Request, Response, Role, ServerMsg};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info};

use crate::service::Service;

/// Serves clients until the listener fails.
pub async fn serve(service: Arc<Service>, socket: PathBuf) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let listener = strait_ipc::unix::bind(&socket)
            .await
            .with_context(|| format!("cannot listen on {}", socket.display()))?;
        info!("listening on {}", socket.display());
        loop {
            let (stream, _) = listener.accept().await.context("accepting a client")?;
            let role = match strait_ipc::unix::peer_of(&stream) {
                Ok(peer) => strait_ipc::unix::authorize(&peer),
                Err(e) => {
                    debug!("cannot read the peer's credentials: {e}");
                    Role::None
                }
            };
            tokio::spawn(client(service.clone(), stream, role));
        }
    }
    #[cfg(windows)]
    {
        use tokio::net::windows::named_pipe::ServerOptions;
        let name = socket.as_os_str();
        // The first instance claims the name, so a second service cannot take over the pipe.
        let mut next = ServerOptions::new()
            .first_pipe_instance(true)
            .create(name)
            .with_context(|| format!("cannot create the pipe {}", socket.display()))?;
        info!("listening on {}", socket.display());
        loop {
            next.connect().await.context("accepting a client")?;
            let connected = next;
            next = ServerOptions::new()
                .create(name)
                .with_context(|| format!("cannot create the pipe {}", socket.display()))?;
            // The pipe's default DACL admits local users only; every caller may connect and
            // disconnect (design.md). Telling administrators apart needs the client token,
            // which comes with managed profiles.
            tokio::spawn(client(service.clone(), connected, Role::User));
        }
    }
}

async fn client<S>(service: Arc<Service>, stream: S, role: Role)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = match ServerConnection::accept(stream, env!("CARGO_PKG_VERSION")).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            debug!("client handshake failed: {e}");
            return;
        }
    };
    debug!("client `{}` connected ({role:?})", conn.client_name);
    let (out_tx, mut out_rx) = mpsc::channel::<ServerMsg>(64);
    let mut events: Option<broadcast::Receiver<Event>> = None;
    let mut logs: Option<broadcast::Receiver<strait_ipc::LogLine>> = None;
    loop {
        let msg = tokio::select! {
            incoming = conn.next() => match incoming {
                Ok(Incoming::Request { id, request: Request::Subscribe { logs: want_logs } }) => {
                    events = Some(service.subscribe());
                    logs = want_logs.then(|| service.logs.subscribe());
                    ServerMsg::Response { id, result: Ok(Response::Ok) }
                }
                Ok(Incoming::Request { id, request }) => {
                    let service = service.clone();
                    let tx = out_tx.clone();
                    tokio::spawn(async move {
                        let result = service.handle(role, request).await;
                        let _ = tx.send(ServerMsg::Response { id, result }).await;
                    });
                    continue;
                }
                Ok(Incoming::Closed) | Err(_) => break,
            },
            Some(msg) = out_rx.recv() => msg,
            ev = recv_or_pending(&mut events) => match ev {
                Some(e) => ServerMsg::Event(e),
                None => continue,
            },
            line = recv_or_pending(&mut logs) => match line {
                Some(l) => ServerMsg::Event(Event::Log(l)),
                None => continue,
            },
        };
        if conn.send(&msg).await.is_err() {
            break;
        }
    }
}

/// The next item of an optional subscription; a subscriber that fell behind skips what it
/// missed rather than blocking the service.
async fn recv_or_pending<T: Clone>(rx: &mut Option<broadcast::Receiver<T>>) -> Option<T> {
    match rx {
        Some(r) => match r.recv().await {
            Ok(v) => Some(v),
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
