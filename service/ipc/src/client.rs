//! The client side, shared by the CLI and the app.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame::{Connection, FrameError};
use crate::proto::{ClientMsg, Event, IpcError, Request, Response, ServerMsg, PROTOCOL_VERSION};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service is not reachable (not running, or no permission on the socket).
    #[error("cannot reach the Strait service at {path}: {source}. Is straitd running? (systemctl status straitd)")]
    Unreachable {
        /// Where we looked.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// The connection broke.
    #[error("lost the connection to the Strait service: {0}")]
    Io(#[from] io::Error),
    /// The service closed the connection.
    #[error("the Strait service closed the connection")]
    Closed,
    /// The service sent something we do not understand.
    #[error("the Strait service sent an unreadable message: {0}")]
    Protocol(#[from] FrameError),
    /// The service speaks another protocol version.
    #[error("this client speaks protocol {ours}, the Strait service {theirs}: update both to the same release")]
    VersionMismatch {
        /// Our version.
        ours: u32,
        /// The service's.
        theirs: u32,
    },
    /// The service answered with an error.
    #[error(transparent)]
    Service(#[from] IpcError),
}

/// A connection to `straitd` after the Hello exchange.
#[derive(Debug)]
pub struct Client<S> {
    conn: Connection<S>,
    next_id: u64,
    events: VecDeque<Event>,
    /// The service's version string.
    pub server_version: String,
}

#[cfg(unix)]
impl Client<tokio::net::UnixStream> {
    /// Connects to the service's Unix socket and exchanges Hellos.
    pub async fn connect(path: &Path, client_name: &str) -> Result<Self, ClientError> {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|source| ClientError::Unreachable {
                path: path.display().to_string(),
                source,
            })?;
        Client::handshake(stream, client_name).await
    }
}

#[cfg(windows)]
impl Client<tokio::net::windows::named_pipe::NamedPipeClient> {
    /// Connects to the service's named pipe and exchanges Hellos.
    pub async fn connect(path: &Path, client_name: &str) -> Result<Self, ClientError> {
        let stream = tokio::net::windows::named_pipe::ClientOptions::new()
            .open(path)
            .map_err(|source| ClientError::Unreachable {
                path: path.display().to_string(),
                source,
            })?;
        Client::handshake(stream, client_name).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Exchanges Hellos over an already connected stream.
    pub async fn handshake(stream: S, client_name: &str) -> Result<Self, ClientError> {
        let mut conn = Connection::new(stream);
        conn.send(&ClientMsg::Hello {
            protocol: PROTOCOL_VERSION,
            client: client_name.to_owned(),
        })
        .await?;
        match conn.recv::<ServerMsg>().await? {
            None => Err(ClientError::Closed),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(ServerMsg::Hello { protocol, version })) => {
                if protocol != PROTOCOL_VERSION {
                    return Err(ClientError::VersionMismatch {
                        ours: PROTOCOL_VERSION,
                        theirs: protocol,
                    });
                }
                Ok(Client {
                    conn,
                    next_id: 1,
                    events: VecDeque::new(),
                    server_version: version,
                })
            }
            Some(Ok(ServerMsg::Response { result: Err(e), .. })) => Err(e.into()),
            Some(Ok(_)) => Err(FrameError::Malformed("expected Hello".into()).into()),
        }
    }

    /// Sends a request and waits for its response; events that arrive meanwhile are kept for
    /// [`Client::next_event`].
    pub async fn request(&mut self, request: Request) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.conn.send(&ClientMsg::Request { id, request }).await?;
        loop {
            match self.conn.recv::<ServerMsg>().await? {
                None => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(ServerMsg::Event(event))) => self.events.push_back(event),
                Some(Ok(ServerMsg::Response { id: rid, result })) if rid == id || rid == 0 => {
                    return result.map_err(ClientError::from)
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next event (after [`Request::Subscribe`]); `None` when the service closed.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        loop {
            match self.conn.recv::<ServerMsg>().await? {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(ServerMsg::Event(event))) => return Ok(Some(event)),
                Some(Ok(_)) => {}
            }
        }
    }
}
