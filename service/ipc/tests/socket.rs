//! The IPC protocol over a real Unix socket: handshake, requests, bad frames, several clients.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use strait_ipc::server::{Incoming, ServerConnection};
use strait_ipc::unix::{authorize, bind, peer_of};
use strait_ipc::{
    Client, ClientError, ConnState, ConnectionStatus, Counters, ErrorKind, Event, Request,
    Response, Role, Secret, Secrets, ServerMsg,
};
use tokio::io::AsyncWriteExt;

/// A tiny service: answers Status with one fake connection and echoes the peer's role; on
/// Subscribe it sends one event. Enough to exercise the protocol, not the daemon.
async fn serve(listener: tokio::net::UnixListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let peer = peer_of(&stream).expect("peer credentials");
            let role = authorize(&peer);
            let Some(mut conn) = ServerConnection::accept(stream, "test")
                .await
                .expect("hello")
            else {
                return;
            };
            loop {
                match conn.next().await {
                    Ok(Incoming::Request { id, request }) => {
                        let result = match request {
                            Request::Status => Ok(Response::Status {
                                connections: vec![status(role)],
                            }),
                            Request::Subscribe { .. } => {
                                conn.send(&ServerMsg::Response {
                                    id,
                                    result: Ok(Response::Ok),
                                })
                                .await
                                .unwrap();
                                conn.send(&ServerMsg::Event(Event::Counters {
                                    profile: "p".into(),
                                    counters: Counters {
                                        packets_in: 7,
                                        ..Counters::default()
                                    },
                                    ike_rekey_in_secs: Some(3600),
                                    child_rekey_in_secs: Some(600),
                                }))
                                .await
                                .unwrap();
                                continue;
                            }
                            Request::Connect { secrets, .. } => {
                                assert_eq!(
                                    secrets.psk.as_ref().map(Secret::expose),
                                    Some("s3cret")
                                );
                                Ok(Response::Ok)
                            }
                            _ => Err(strait_ipc::IpcError::new(ErrorKind::NotFound, "nope")),
                        };
                        conn.send(&ServerMsg::Response { id, result })
                            .await
                            .unwrap();
                    }
                    Ok(Incoming::Closed) | Err(_) => return,
                }
            }
        });
    }
}

fn status(role: Role) -> ConnectionStatus {
    ConnectionStatus {
        profile: format!("{role:?}"),
        state: ConnState::Connected,
        gateway: "gw".into(),
        gateway_address: None,
        virtual_ips: vec!["198.19.100.1".parse().unwrap()],
        dns: vec![],
        dns_domains: vec![],
        routes: vec![],
        ike_algorithms: None,
        esp_algorithms: None,
        ike_spis: None,
        esp_spis: None,
        nat: false,
        counters: Counters::default(),
        uptime_secs: Some(1),
        ike_rekey_in_secs: Some(100),
        child_rekey_in_secs: None,
        kill_switch: true,
        reason: None,
    }
}

async fn start() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/straitd.sock");
    let listener = bind(&path).await.unwrap();
    tokio::spawn(serve(listener));
    (dir, path)
}

#[tokio::test]
async fn requests_get_responses_and_our_own_user_is_admin() {
    let (_dir, path) = start().await;
    let mut client = Client::connect(&path, "test-client").await.unwrap();
    assert_eq!(client.server_version, "test");
    let Response::Status { connections } = client.request(Request::Status).await.unwrap() else {
        panic!("expected status");
    };
    assert_eq!(connections[0].profile, "Admin");
    let secrets = Secrets {
        psk: Some(Secret::new("s3cret")),
        ..Secrets::default()
    };
    let r = client
        .request(Request::Connect {
            profile: "p".into(),
            secrets,
        })
        .await
        .unwrap();
    assert_eq!(r, Response::Ok);
    let err = client.request(Request::ListProfiles).await.unwrap_err();
    assert!(matches!(err, ClientError::Service(e) if e.kind == ErrorKind::NotFound));
}

#[tokio::test]
async fn events_reach_subscribers() {
    let (_dir, path) = start().await;
    let mut client = Client::connect(&path, "t").await.unwrap();
    client
        .request(Request::Subscribe { logs: false })
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), client.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        event,
        Some(Event::Counters { counters, ike_rekey_in_secs: Some(3600), .. })
            if counters.packets_in == 7
    ));
}

#[tokio::test]
async fn malformed_and_oversized_frames_get_errors_and_the_connection_survives() {
    let (_dir, path) = start().await;
    let mut raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    let send = |v: &[u8]| {
        let mut f = (v.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(v);
        f
    };
    raw.write_all(&send(br#"{"type":"hello","protocol":1,"client":"raw"}"#))
        .await
        .unwrap();
    raw.write_all(&send(b"{not json")).await.unwrap();
    let mut big = (2u32 * 1024 * 1024).to_be_bytes().to_vec();
    big.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
    raw.write_all(&big).await.unwrap();
    raw.write_all(&send(
        br#"{"type":"request","id":9,"request":{"request":"status"}}"#,
    ))
    .await
    .unwrap();
    let mut conn = strait_ipc::frame::Connection::new(raw);
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let msg: ServerMsg = tokio::time::timeout(Duration::from_secs(5), conn.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(msg);
    }
    assert!(matches!(seen[0], ServerMsg::Hello { .. }));
    for bad in &seen[1..3] {
        assert!(
            matches!(bad, ServerMsg::Response { id: 0, result: Err(e) } if e.kind == ErrorKind::BadRequest),
            "{bad:?}"
        );
    }
    assert!(matches!(
        &seen[3],
        ServerMsg::Response {
            id: 9,
            result: Ok(Response::Status { .. })
        }
    ));
}

#[tokio::test]
async fn several_clients_at_once_and_a_bad_one_does_not_disturb_them() {
    let (_dir, path) = start().await;
    let mut a = Client::connect(&path, "a").await.unwrap();
    let mut b = Client::connect(&path, "b").await.unwrap();
    let mut raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    raw.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    drop(raw);
    for _ in 0..3 {
        assert!(a.request(Request::Status).await.is_ok());
        assert!(b.request(Request::Status).await.is_ok());
    }
}

#[tokio::test]
async fn a_client_of_another_version_is_told_so() {
    let (_dir, path) = start().await;
    let raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut conn = strait_ipc::frame::Connection::new(raw);
    conn.send(&serde_json::json!({"type": "hello", "protocol": 99, "client": "future"}))
        .await
        .unwrap();
    let msg: ServerMsg = conn.recv().await.unwrap().unwrap().unwrap();
    assert!(
        matches!(&msg, ServerMsg::Response { result: Err(e), .. } if e.kind == ErrorKind::VersionMismatch && e.message.contains("99")),
        "{msg:?}"
    );
}

#[tokio::test]
async fn a_second_service_cannot_steal_the_socket() {
    let (_dir, path) = start().await;
    let err = bind(&path).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}
