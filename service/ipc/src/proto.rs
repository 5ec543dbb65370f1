//! The messages of the IPC protocol.
//!
//! Two enums travel, one per direction ([`ClientMsg`], [`ServerMsg`]), each frame one JSON
//! value. The first frame each way is a `Hello` carrying [`PROTOCOL_VERSION`], so a newer app
//! talking to an older service (or the reverse) says so plainly instead of failing on a field.
//! Requests carry ids; the service answers each with one response carrying the same id, and
//! sends events (state changes, counters, log lines) to the clients that subscribed.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Bumped on any incompatible change to the messages below.
pub const PROTOCOL_VERSION: u32 = 1;

/// A message from a client (CLI, app) to the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every connection.
    Hello {
        /// The client's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Who is calling, for logs ("strait-cli 0.1.0").
        client: String,
    },
    /// A request; answered by a [`ServerMsg::Response`] with the same id.
    Request {
        /// Chosen by the client, echoed in the response.
        id: u64,
        /// What is asked.
        request: Request,
    },
}

/// A message from the service to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message on every connection.
    Hello {
        /// The service's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The service's version ("0.1.0").
        version: String,
    },
    /// The answer to a request.
    Response {
        /// The request's id (0 when the request could not be read at all).
        id: u64,
        /// The result.
        result: Result<Response, IpcError>,
    },
    /// Something happened (only sent to subscribed clients).
    Event(Event),
}

/// A file that goes along with a profile on import (certificate, CA file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file name as the profile references it (relative to the profile).
    pub name: String,
    /// The contents.
    pub contents: Vec<u8>,
}

/// Secrets handed over with a connect request (read by the client from the user's keychain or
/// a file). Kept in memory by the service only while the connection lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// Pre-shared key.
    pub psk: Option<Secret>,
    /// Password (EAP, XAuth).
    pub password: Option<Secret>,
    /// Private key (PEM or PKCS#12, base64 for binary).
    pub key: Option<Secret>,
}

/// What a client can ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The stored profiles.
    ListProfiles,
    /// Validate and store a profile. The client reads the files (never the privileged service,
    /// which could otherwise be made to read any file on the machine).
    ImportProfile {
        /// The file name, whose stem becomes the id.
        file_name: String,
        /// The profile text.
        contents: String,
        /// Files it references.
        attachments: Vec<Attachment>,
    },
    /// Remove a stored profile.
    RemoveProfile {
        /// The id.
        profile: String,
    },
    /// Connect; the response comes when the tunnel is up or the attempt failed.
    Connect {
        /// The id.
        profile: String,
        /// The secrets the profile's method needs.
        secrets: Secrets,
    },
    /// Disconnect one connection, or all with `None`.
    Disconnect {
        /// The id.
        profile: Option<String>,
    },
    /// Current state of every connection.
    Status,
    /// Start receiving events on this connection.
    Subscribe {
        /// Also receive log lines.
        logs: bool,
    },
    /// Recent log lines (of the last attempts).
    Logs {
        /// At most this many lines, newest last.
        limit: u32,
    },
}

/// Successful answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// Done, nothing to report.
    Ok,
    /// Answer to [`Request::ListProfiles`].
    Profiles {
        /// The profiles, sorted by id.
        profiles: Vec<ProfileSummary>,
    },
    /// Answer to [`Request::ImportProfile`].
    Imported {
        /// The new (or replaced) profile's id.
        id: String,
        /// Whether an existing profile was replaced.
        replaced: bool,
        /// Warnings the user should read (weak algorithms, aggressive mode with a PSK).
        warnings: Vec<String>,
    },
    /// Answer to [`Request::Status`] and to a successful [`Request::Connect`].
    Status {
        /// One entry per connection that is not disconnected.
        connections: Vec<ConnectionStatus>,
    },
    /// Answer to [`Request::Logs`].
    Logs {
        /// The lines.
        lines: Vec<LogLine>,
    },
}

/// A stored profile, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// The id (file stem).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Gateway as written.
    pub gateway: String,
    /// "ikev2", "ikev1-main" or "ikev1-aggressive".
    pub version: String,
    /// Authentication method ("psk", ...).
    pub method: String,
    /// Whether IT provisioned it (users cannot change it).
    pub managed: bool,
    /// Our identity as written in the profile (`None`: our address, or the certificate's
    /// subject for certificate methods). Optional so that older services still parse.
    #[serde(default)]
    pub local_id: Option<String>,
    /// The gateway's identity we expect (`None`: whatever the gateway presents, checked
    /// against its certificate or the PSK).
    #[serde(default)]
    pub remote_id: Option<String>,
    /// The user name for EAP / XAuth methods.
    #[serde(default)]
    pub username: Option<String>,
    /// The subnets the profile sends through the tunnel; empty means "the routes the gateway
    /// pushes" (or everything for a full tunnel).
    #[serde(default)]
    pub routes: Vec<String>,
    /// The IKE proposals as written ("aes256gcm16-prfsha384-ecp384"); empty: the defaults.
    #[serde(default)]
    pub ike: Vec<String>,
    /// The ESP proposals as written; empty: the defaults.
    #[serde(default)]
    pub esp: Vec<String>,
}

/// Connection states (design.md's state machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnState {
    /// Not connected.
    Disconnected,
    /// Negotiating.
    Connecting,
    /// Tunnel up.
    Connected,
    /// Lost the gateway; trying again.
    Reconnecting,
    /// Tearing down.
    Disconnecting,
    /// Failed; see the reason.
    Error,
}

/// Traffic counters of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Bytes sent into the tunnel (plaintext).
    pub bytes_out: u64,
    /// Bytes received from the tunnel (plaintext).
    pub bytes_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets dropped as replays.
    pub replay_drops: u64,
    /// Packets dropped because authentication failed.
    pub auth_failures: u64,
}

/// Everything `strait status` shows about one connection. Part of the documented `--json`
/// output: add fields, never rename them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    /// Profile id.
    pub profile: String,
    /// State.
    pub state: ConnState,
    /// Gateway as written in the profile.
    pub gateway: String,
    /// The address we talk to.
    pub gateway_address: Option<String>,
    /// Virtual IP addresses assigned by the gateway.
    pub virtual_ips: Vec<IpAddr>,
    /// DNS servers in use.
    pub dns: Vec<IpAddr>,
    /// DNS search/routing domains.
    pub dns_domains: Vec<String>,
    /// Routes installed through the tunnel.
    pub routes: Vec<String>,
    /// IKE algorithms ("AES-256-GCM/PRF-HMAC-SHA-256/ECP-256").
    pub ike_algorithms: Option<String>,
    /// ESP algorithms.
    pub esp_algorithms: Option<String>,
    /// IKE SPIs ("initiator/responder" in hex).
    pub ike_spis: Option<String>,
    /// ESP SPIs (inbound, outbound) in hex.
    pub esp_spis: Option<(String, String)>,
    /// Whether NAT was detected (ESP in UDP 4500).
    pub nat: bool,
    /// Counters.
    pub counters: Counters,
    /// Seconds since the tunnel came up.
    pub uptime_secs: Option<u64>,
    /// Seconds from the time of this status until the next IKE SA (phase 1) rekey; `None`
    /// when not connected or no rekey is scheduled. Relative, so a UI counts down from the
    /// moment it received the status without comparing clocks with the service.
    #[serde(default)]
    pub ike_rekey_in_secs: Option<u64>,
    /// Seconds from the time of this status until the next child SA (phase 2) rekey.
    #[serde(default)]
    pub child_rekey_in_secs: Option<u64>,
    /// The profile's kill switch is on: while this connection exists (connecting, connected,
    /// reconnecting, or failed until the user disconnects), traffic outside the tunnel is
    /// blocked. A UI shows it so a user knows why nothing else gets through.
    #[serde(default)]
    pub kill_switch: bool,
    /// Why it is in `error` or `reconnecting`: the plain-words message.
    pub reason: Option<String>,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// "error", "warn", "info", "debug".
    pub level: String,
    /// Profile the line is about, if any.
    pub profile: Option<String>,
    /// The text.
    pub message: String,
}

/// Something the service reports without being asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A connection changed state.
    State {
        /// Its full status after the change.
        status: Box<ConnectionStatus>,
    },
    /// Periodic counters of a connected profile, with the rekey times (they move after each
    /// rekey, which is not a state change).
    Counters {
        /// Profile id.
        profile: String,
        /// Counters.
        counters: Counters,
        /// As [`ConnectionStatus::ike_rekey_in_secs`], from the time of this event.
        #[serde(default)]
        ike_rekey_in_secs: Option<u64>,
        /// As [`ConnectionStatus::child_rekey_in_secs`], from the time of this event.
        #[serde(default)]
        child_rekey_in_secs: Option<u64>,
    },
    /// A log line.
    Log(LogLine),
}

/// Error categories, so clients can react without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request could not be read (bad frame, bad JSON, too large).
    BadRequest,
    /// The caller may not do this.
    PermissionDenied,
    /// No such profile.
    NotFound,
    /// The profile is invalid.
    InvalidProfile,
    /// A secret the profile needs was not given.
    MissingSecret,
    /// Connecting failed (the message says why, in plain words).
    ConnectFailed,
    /// Incompatible protocol versions.
    VersionMismatch,
    /// Anything else inside the service.
    Internal,
}

/// An error answer: a plain-words message that says what to do, and optional technical detail
/// that UIs fold away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct IpcError {
    /// Category.
    pub kind: ErrorKind,
    /// Plain words, with the fix.
    pub message: String,
    /// Technical detail (notify codes, errno).
    pub detail: Option<String>,
}

impl IpcError {
    /// An error without detail.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        IpcError {
            kind,
            message: message.into(),
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_peers_without_the_detail_fields_still_parse() {
        // A profile summary and a status as a service before the details and rekey times
        // sent them.
        let p: ProfileSummary = serde_json::from_str(
            r#"{"id":"acme","name":"Acme","gateway":"vpn.acme.example","version":"ikev2",
                "method":"psk","managed":false}"#,
        )
        .unwrap();
        assert_eq!((p.local_id, p.remote_id, p.username), (None, None, None));
        assert!(p.routes.is_empty() && p.ike.is_empty() && p.esp.is_empty());
        let s: ConnectionStatus = serde_json::from_str(
            r#"{"profile":"acme","state":"connected","gateway":"gw","gateway_address":null,
                "virtual_ips":[],"dns":[],"dns_domains":[],"routes":[],"ike_algorithms":null,
                "esp_algorithms":null,"ike_spis":null,"esp_spis":null,"nat":false,
                "counters":{"bytes_out":0,"bytes_in":0,"packets_out":0,"packets_in":0,
                "replay_drops":0,"auth_failures":0},"uptime_secs":5,"reason":null}"#,
        )
        .unwrap();
        assert_eq!((s.ike_rekey_in_secs, s.child_rekey_in_secs), (None, None));
    }

    #[test]
    fn details_and_rekey_times_travel() {
        let p = ProfileSummary {
            id: "corp".into(),
            name: "Corp".into(),
            gateway: "vpn.corp.example".into(),
            version: "ikev2".into(),
            method: "eap-mschapv2".into(),
            managed: false,
            local_id: Some("alice@corp.example".into()),
            remote_id: Some("vpn.corp.example".into()),
            username: Some("alice".into()),
            routes: vec!["10.0.0.0/8".into()],
            ike: vec!["aes256gcm16-prfsha384-ecp384".into()],
            esp: vec![],
        };
        let back: ProfileSummary =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["local_id"], "alice@corp.example");
        assert_eq!(v["routes"][0], "10.0.0.0/8");
    }
}
