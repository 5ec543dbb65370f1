//! How a command fails, and the exit code each failure maps to.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the operation failed (the gateway refused, the profile is invalid, a file is unreadable, ...) |
//! | 2    | usage error (bad arguments, or a command this build does not implement yet) |
//! | 3    | the service cannot be reached (not running, no permission on the socket, connection lost) |
//! | 130  | interrupted with Ctrl-C while waiting |

use std::fmt;

use strait_ipc::{ClientError, ErrorKind, IpcError};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the operation failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the service cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: interrupted (128 + SIGINT, the shell convention).
pub const EXIT_INTERRUPTED: u8 = 130;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage; the message says what is wrong.
    Usage(String),
    /// The service cannot be reached; the message names the socket.
    Unreachable(String),
    /// The service answered with an error.
    Service(IpcError),
    /// Anything else that failed (files, keychain, unexpected answers).
    Failed(anyhow::Error),
    /// The user pressed Ctrl-C.
    Interrupted,
    /// The details were already printed; exit with this code.
    Reported(u8),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Unreachable(_) => EXIT_UNREACHABLE,
            CliError::Service(_) | CliError::Failed(_) => EXIT_FAILED,
            CliError::Interrupted => EXIT_INTERRUPTED,
            CliError::Reported(code) => *code,
        }
    }

    /// Prints the error for people, on stderr.
    pub fn report(&self) {
        match self {
            CliError::Reported(_) => {}
            CliError::Service(e) => eprint!("{}", describe_service_error(e)),
            other => eprintln!("strait: {other}"),
        }
    }
}

/// The lines printed for an error answer of the service: the plain-words message, then the
/// technical detail when there is one.
pub fn describe_service_error(e: &IpcError) -> String {
    let mut s = format!("error: {}\n", e.message);
    if let Some(detail) = &e.detail {
        s.push_str(&format!("  detail: {detail}\n"));
    }
    s
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Unreachable(m) => f.write_str(m),
            CliError::Service(e) => write!(f, "{}", e.message),
            CliError::Failed(e) => write!(f, "{e:#}"),
            CliError::Interrupted => f.write_str("interrupted"),
            CliError::Reported(code) => write!(f, "failed (exit code {code})"),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unreachable { path, source } => CliError::Unreachable(format!(
                "cannot reach straitd at {path}: {source}; is the service running?"
            )),
            ClientError::Service(e) if e.kind == ErrorKind::VersionMismatch => {
                CliError::Failed(anyhow::anyhow!("{}", e.message))
            }
            ClientError::Service(e) => CliError::Service(e),
            e @ (ClientError::Io(_) | ClientError::Closed) => CliError::Unreachable(e.to_string()),
            other => CliError::Failed(anyhow::Error::new(other)),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}
