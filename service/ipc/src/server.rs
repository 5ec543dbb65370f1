//! The service side of one client connection: the Hello exchange and reading requests so that a
//! bad frame is answered, not fatal.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame::{Connection, FrameError};
use crate::proto::{ClientMsg, ErrorKind, IpcError, Request, ServerMsg, PROTOCOL_VERSION};

/// One client, after a successful Hello.
#[derive(Debug)]
pub struct ServerConnection<S> {
    conn: Connection<S>,
    /// What the client called itself.
    pub client_name: String,
}

/// The next thing a client sent.
#[derive(Debug)]
pub enum Incoming {
    /// A request to answer with [`ServerConnection::respond`].
    Request {
        /// Its id.
        id: u64,
        /// The request.
        request: Request,
    },
    /// The client hung up.
    Closed,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ServerConnection<S> {
    /// Waits for the client's Hello and answers it. A client with another protocol version
    /// gets an error response naming both versions.
    pub async fn accept(stream: S, server_version: &str) -> io::Result<Option<Self>> {
        let mut conn = Connection::new(stream);
        let hello = conn.recv::<ClientMsg>().await?;
        let (protocol, client_name) = match hello {
            Some(Ok(ClientMsg::Hello { protocol, client })) => (protocol, client),
            None => return Ok(None),
            Some(Ok(ClientMsg::Request { .. })) | Some(Err(_)) => {
                let err = IpcError::new(
                    ErrorKind::BadRequest,
                    "the first message must be a Hello with the protocol version",
                );
                conn.send(&ServerMsg::Response {
                    id: 0,
                    result: Err(err),
                })
                .await?;
                return Ok(None);
            }
        };
        if protocol != PROTOCOL_VERSION {
            let err = IpcError::new(
                ErrorKind::VersionMismatch,
                format!(
                    "this client speaks protocol {protocol}, the Strait service {PROTOCOL_VERSION}: update both to the same release"
                ),
            );
            conn.send(&ServerMsg::Response {
                id: 0,
                result: Err(err),
            })
            .await?;
            return Ok(None);
        }
        conn.send(&ServerMsg::Hello {
            protocol: PROTOCOL_VERSION,
            version: server_version.to_owned(),
        })
        .await?;
        Ok(Some(ServerConnection { conn, client_name }))
    }

    /// The next request. Unreadable frames are answered with a `bad_request` error here and
    /// skipped, so one bad message never costs the client its connection.
    pub async fn next(&mut self) -> io::Result<Incoming> {
        loop {
            match self.conn.recv::<ClientMsg>().await? {
                None => return Ok(Incoming::Closed),
                Some(Ok(ClientMsg::Request { id, request })) => {
                    return Ok(Incoming::Request { id, request })
                }
                Some(Ok(ClientMsg::Hello { .. })) => {
                    self.send(&ServerMsg::Response {
                        id: 0,
                        result: Err(IpcError::new(
                            ErrorKind::BadRequest,
                            "Hello was already sent",
                        )),
                    })
                    .await?;
                }
                Some(Err(e)) => {
                    let message = match &e {
                        FrameError::TooLarge(_) => e.to_string(),
                        FrameError::Malformed(_) => "the request could not be read".to_owned(),
                    };
                    let mut err = IpcError::new(ErrorKind::BadRequest, message);
                    err.detail = Some(e.to_string());
                    self.send(&ServerMsg::Response {
                        id: 0,
                        result: Err(err),
                    })
                    .await?;
                }
            }
        }
    }

    /// Sends a response or event.
    pub async fn send(&mut self, msg: &ServerMsg) -> io::Result<()> {
        self.conn.send(msg).await
    }

    /// The underlying stream (for peer credentials).
    pub fn get_ref(&self) -> &S {
        self.conn.get_ref()
    }
}
