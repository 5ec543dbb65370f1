//! State machine tests against a deterministic test gateway ([`responder::Responder`]) with a
//! virtual clock: nothing sleeps, time only moves when a test says so.

mod responder;
mod robustness;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use strait_crypto::DhGroup;

use self::responder::Responder;
use super::IkeSa;
use crate::config::{Config, LocalAuth};
use crate::event::{ChildSaInfo, Error, Event, Stage};
use crate::proposal::{EspProposal, IkeProposal};
use crate::v2::wire::{
    notify_type, ExchangeType, Header, Identification, Message, Payload, ProtocolId,
};

const CLIENT: &str = "192.0.2.10:500";
const GATEWAY: &str = "198.51.100.1:500";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config() -> Config {
    let mut c = Config::new(
        Identification::from_text("alice@example.org"),
        LocalAuth::Psk(zeroize::Zeroizing::new(
            b"correct horse battery staple".to_vec(),
        )),
        addr(CLIENT),
        addr(GATEWAY),
    );
    c.remote_id = Some(Identification::from_text("gw.example.org"));
    c
}

fn gateway() -> Responder {
    Responder::new(addr(CLIENT), addr(GATEWAY))
}

/// An initiator and the test gateway, connected by a virtual network (lossless unless `fate`
/// or the gateway's knobs say otherwise), with a virtual clock.
struct Pair {
    ike: IkeSa,
    gw: Responder,
    start: Instant,
    now: Instant,
    /// Everything the initiator sent: time since start and bytes.
    sent: Vec<(Duration, Vec<u8>)>,
    /// Everything the gateway sent to the initiator.
    received: Vec<Vec<u8>>,
    events: Vec<Event>,
    /// What the network does with each datagram (either direction); lossless without it.
    fate: Option<Box<dyn FnMut() -> Fate>>,
}

/// What the virtual network does with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

impl Pair {
    fn new(cfg: Config, gw: Responder) -> Pair {
        let start = Instant::now();
        let ike = IkeSa::new(cfg, strait_crypto::default_provider(), start).unwrap();
        Pair {
            ike,
            gw,
            start,
            now: start,
            sent: Vec::new(),
            received: Vec::new(),
            events: Vec::new(),
            fate: None,
        }
    }

    /// A pair with an established IKE SA and first child; the setup events are discarded.
    fn up(cfg: Config, gw: Responder) -> Pair {
        let mut p = Pair::new(cfg, gw);
        p.pump();
        assert!(p.ike.is_established(), "setup failed: {:?}", p.events);
        p.events.clear();
        p.sent.clear();
        p.received.clear();
        p
    }

    /// How many copies of the next datagram arrive.
    fn copies(&mut self) -> usize {
        match self.fate.as_mut().map_or(Fate::Deliver, |f| f()) {
            Fate::Deliver => 1,
            Fate::Drop => 0,
            Fate::Duplicate => 2,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves the initiator's datagrams to the gateway and back until both are quiet.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut progress = false;
            while let Some(t) = self.ike.poll_transmit() {
                progress = true;
                self.sent.push((self.elapsed(), t.data.clone()));
                for _ in 0..self.copies() {
                    self.gw.receive(&t.data);
                }
            }
            while let Some(e) = self.ike.poll_event() {
                self.events.push(e);
            }
            while let Some(d) = self.gw.outbox.pop_front() {
                progress = true;
                for _ in 0..self.copies() {
                    self.ike.handle_datagram(self.now, &d);
                }
                self.received.push(d);
            }
            if !progress {
                return;
            }
        }
        panic!("the two sides never went quiet");
    }

    /// Runs timers (and the network) up to `by` from now.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        self.pump();
        for _ in 0..100_000 {
            match self.ike.poll_timeout() {
                Some(at) if at <= until => {
                    assert!(at >= self.now, "timer in the past");
                    self.now = at;
                    self.ike.handle_timeout(at);
                    self.pump();
                }
                _ => {
                    self.now = until;
                    return;
                }
            }
        }
        panic!("timers never settled");
    }

    fn take_events(&mut self) -> Vec<Event> {
        while let Some(e) = self.ike.poll_event() {
            self.events.push(e);
        }
        std::mem::take(&mut self.events)
    }

    /// The `Closed` error, if the SA closed.
    fn closed(&mut self) -> Option<Option<Error>> {
        self.take_events().into_iter().find_map(|e| match e {
            Event::Closed { error } => Some(error),
            _ => None,
        })
    }
}

fn child_ups(events: &[Event]) -> Vec<&ChildSaInfo> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaUp(c) => Some(&**c),
            _ => None,
        })
        .collect()
}

fn child_deletes(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaDeleted { spi_in, .. } => Some(*spi_in),
            _ => None,
        })
        .collect()
}

/// The gateway's keys for a child agree with the initiator's, directions swapped.
fn assert_keys_match(gw: &Responder, c: &ChildSaInfo) {
    let g = gw
        .children
        .iter()
        .find(|g| g.spi_in == c.spi_out)
        .expect("the gateway has the child");
    assert_eq!(g.spi_out, c.spi_in);
    assert_eq!(g.encr_in, &c.encr_out[..], "client→gateway encryption key");
    assert_eq!(g.integ_in, &c.integ_out[..]);
    assert_eq!(g.encr_out, &c.encr_in[..], "gateway→client encryption key");
    assert_eq!(g.integ_out, &c.integ_in[..]);
    assert_eq!(g.esp.encr, c.algorithms.encr);
    assert_ne!(&c.encr_in[..], &c.encr_out[..]);
}

#[test]
fn happy_path() {
    let mut p = Pair::new(config(), gateway());
    assert_eq!(p.ike.poll_timeout(), Some(p.now + Duration::from_secs(4)));
    p.pump();
    let events = p.take_events();
    assert!(p.ike.is_established());
    assert!(!p.ike.udp_encap(), "no NAT between the two");
    assert!(matches!(
        events[0],
        Event::NatDetected {
            local_behind_nat: false,
            remote_behind_nat: false
        }
    ));
    match &events[1] {
        Event::IkeSaUp {
            algorithms,
            remote_id,
        } => {
            assert_eq!(remote_id, "gw.example.org");
            assert_eq!(*algorithms, p.gw.cur().keys.algs);
            assert_eq!(algorithms.dh, DhGroup::Ecp256);
        }
        e => panic!("expected IkeSaUp, got {e:?}"),
    }
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1);
    assert_eq!(events.len(), 3);
    let c = ups[0];
    assert_eq!(c.replaces, None);
    assert!(!c.transport_mode);
    assert_keys_match(&p.gw, c);
    let cfg = c.config.as_ref().expect("CP reply delivered");
    assert_eq!(cfg.ipv4, vec![Ipv4Addr::new(10, 99, 0, 7)]);
    assert_eq!(
        cfg.dns,
        vec![
            IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 99, 0, 2))
        ]
    );
    assert_eq!(cfg.dns_domains, vec!["corp.example".to_string()]);
    assert_eq!(c.ts_local[0].to_string(), "10.99.0.7/32");
    assert_eq!(c.ts_remote[0].to_string(), "10.0.0.0/8");
    // Message IDs 0 (IKE_SA_INIT) and 1 (IKE_AUTH), both with the Initiator flag.
    let ids: Vec<(ExchangeType, u32)> =
        p.gw.rx
            .iter()
            .map(|r| (r.header.exchange, r.header.message_id))
            .collect();
    assert_eq!(
        ids,
        vec![(ExchangeType::IkeSaInit, 0), (ExchangeType::IkeAuth, 1)]
    );
    assert!(p.gw.rx.iter().all(|r| r.header.is_initiator()));
    assert_eq!(p.sent.len(), 2);
    assert_eq!(p.ike.local_spi(), p.gw.cur().spi_i);
    assert_eq!(p.ike.spi_theirs, p.gw.cur().spi_r);
    assert!(p.gw.established);
    assert_eq!(p.ike.children.len(), 1);
    // Nothing outstanding: the next timer is DPD (30 s), before the child rekey.
    assert_eq!(p.ike.poll_timeout(), Some(p.now + Duration::from_secs(30)));
}

#[test]
fn cookie_retry_resends_the_same_request_with_the_cookie_in_front() {
    let mut gw = gateway();
    let cookie = vec![0xc0; 24];
    gw.cookie = Some(cookie.clone());
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert!(p.ike.is_established(), "{:?}", p.events);
    let inits: Vec<&Vec<u8>> = p.gw.raw_rx.iter().take(2).collect();
    let (first, second) = (inits[0], inits[1]);
    let m1 = Message::parse(first).unwrap();
    let m2 = Message::parse(second).unwrap();
    assert_eq!(m1.header.exchange, ExchangeType::IkeSaInit);
    assert_eq!(m2.header.exchange, ExchangeType::IkeSaInit);
    // The COOKIE notify leads; everything after it is the first request unchanged (same SA,
    // same KE, same nonce, same NAT hashes).
    match &m2.payloads[0] {
        Payload::Notify(n) => {
            assert_eq!(n.notify_type, notify_type::COOKIE);
            assert_eq!(n.data, cookie);
        }
        other => panic!("expected COOKIE first, got {other:?}"),
    }
    assert_eq!(m2.payloads[1..], m1.payloads[..]);
    let cookie_len = 4 + 4 + cookie.len();
    assert_eq!(second.len(), first.len() + cookie_len);
    assert_eq!(second[28 + cookie_len..], first[28..]);
    assert_eq!(second[..16], first[..16], "same SPIs");
    assert_eq!(
        second[17..24],
        first[17..24],
        "same version, exchange, flags, ID"
    );
    // Message ID 0 for both, then IKE_AUTH with 1.
    assert_eq!(m2.header.message_id, 0);
    assert_eq!(p.gw.requests, vec![(ExchangeType::IkeAuth, 1)]);
}

#[test]
fn invalid_ke_retries_with_the_requested_group_and_all_proposals() {
    let mut gw = gateway();
    // The gateway only does MODP-2048, which the client offers but does not send a KE for.
    gw.ike_proposals = vec![IkeProposal::parse("aes256-sha256-modp2048", false).unwrap()];
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert!(p.ike.is_established(), "{:?}", p.events);
    let m1 = Message::parse(&p.gw.raw_rx[0]).unwrap();
    let m2 = Message::parse(&p.gw.raw_rx[1]).unwrap();
    let ke = |m: &Message| {
        m.payloads
            .iter()
            .find_map(|p| match p {
                Payload::Ke(k) => Some(k.clone()),
                _ => None,
            })
            .unwrap()
    };
    let sa = |m: &Message| {
        m.payloads
            .iter()
            .find_map(|p| match p {
                Payload::Sa(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(ke(&m1).group, 19);
    assert_eq!(ke(&m2).group, 14);
    assert_eq!(ke(&m2).data.len(), 256);
    assert_eq!(sa(&m1), sa(&m2), "the full proposal set is offered again");
    assert_eq!(sa(&m2).len(), 2);
    assert_eq!(p.gw.cur().keys.algs.dh, DhGroup::Modp2048);
    assert_eq!(m2.header.spi_i, m1.header.spi_i);
}

#[test]
fn invalid_ke_is_capped() {
    // A gateway that asks for a new group each time.
    let mut gw = gateway();
    gw.invalid_ke = [20, 21, 31, 14, 15].into_iter().collect();
    let mut p = Pair::new(config(), gw);
    p.pump();
    let sent_inits = p.sent.len();
    assert_eq!(sent_inits, 4, "first request and three retries");
    match p.closed() {
        Some(Some(Error::InvalidKe {
            group: 14,
            key: "ike",
        })) => {}
        other => panic!("expected InvalidKe, got {other:?}"),
    }
    assert!(p.ike.is_closed());
    assert_eq!(p.ike.poll_timeout(), None);

    // A gateway that asks for the group we already sent.
    let mut gw = gateway();
    gw.invalid_ke = [19].into_iter().collect();
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert_eq!(p.sent.len(), 1);
    assert!(matches!(
        p.closed(),
        Some(Some(Error::InvalidKe { group: 19, .. }))
    ));

    // A gateway that asks for a group we never offered.
    let mut gw = gateway();
    gw.invalid_ke = [2].into_iter().collect();
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert!(matches!(
        p.closed(),
        Some(Some(Error::InvalidKe { group: 2, .. }))
    ));
}

#[test]
fn cookies_are_capped_too() {
    let mut gw = gateway();
    gw.cookie = Some(vec![1; 16]);
    let mut p = Pair::new(config(), gw);
    // The gateway changes its cookie after every request: the client gives up.
    for i in 0..10u8 {
        p.gw.cookie = Some(vec![i + 2; 16]);
        let Some(t) = p.ike.poll_transmit() else {
            break;
        };
        p.gw.receive(&t.data);
        while let Some(d) = p.gw.outbox.pop_front() {
            p.ike.handle_datagram(p.now, &d);
        }
    }
    assert!(matches!(
        p.closed(),
        Some(Some(Error::Protocol {
            stage: Stage::IkeSaInit,
            ..
        }))
    ));
}

#[test]
fn retransmits_follow_the_schedule_then_time_out() {
    let mut gw = gateway();
    gw.deaf = true;
    let cfg = config();
    let schedule = cfg.retransmit;
    let mut p = Pair::new(cfg, gw);
    p.advance(Duration::from_secs(600));
    let times: Vec<Duration> = p.sent.iter().map(|(t, _)| *t).collect();
    let mut expected = vec![Duration::ZERO];
    let mut at = Duration::ZERO;
    for n in 0..5 {
        at += schedule.wait(n);
        expected.push(at);
    }
    assert_eq!(times, expected);
    assert_eq!(times[1], Duration::from_secs(4));
    assert_eq!(times[2], Duration::from_millis(11_200));
    // All sends are the same bytes.
    assert!(p.sent.iter().all(|(_, d)| *d == p.sent[0].1));
    match p.closed() {
        Some(Some(Error::Timeout {
            stage: Stage::IkeSaInit,
            tries: 6,
            port: 500,
        })) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    // It gave up after the last wait.
    assert!(p.ike.is_closed());
}

#[test]
fn lost_requests_are_retransmitted_until_answered() {
    let mut gw = gateway();
    // Lose the first two IKE_SA_INITs and the first IKE_AUTH.
    gw.drop_in = 2;
    let mut p = Pair::new(config(), gw);
    p.advance(Duration::from_secs(12));
    assert!(p.ike.is_established(), "{:?}", p.events);
    assert_eq!(p.sent.len(), 4);
    assert_eq!(p.sent[0].1, p.sent[2].1, "retransmits are identical");
    assert_eq!(p.sent[2].0, Duration::from_millis(11_200));
    // Now lose an IKE_AUTH response instead: the gateway answers the retransmit from its cache.
    let mut gw = gateway();
    gw.drop_in = 0;
    let mut p = Pair::new(config(), gw);
    let init = p.ike.poll_transmit().unwrap();
    p.gw.receive(&init.data);
    let resp = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &resp);
    let auth = p.ike.poll_transmit().unwrap();
    p.gw.receive(&auth.data);
    p.gw.outbox.clear(); // the answer is lost
    p.advance(Duration::from_secs(5));
    assert!(p.ike.is_established());
    assert_eq!(p.gw.requests, vec![(ExchangeType::IkeAuth, 1)]);
    assert_eq!(p.sent.len(), 1);
    assert_eq!(p.sent[0].1, auth.data, "IKE_AUTH retransmitted unchanged");
}

#[test]
fn duplicate_requests_get_the_cached_answer_and_are_processed_once() {
    let mut p = Pair::up(config(), gateway());
    p.gw.duplicate_requests = true;
    p.gw.start_dpd();
    p.pump();
    assert_eq!(p.sent.len(), 2, "both copies answered");
    assert_eq!(p.sent[0].1, p.sent[1].1, "byte-identical answers");
    assert_eq!(p.ike.peer_id, 1);
    assert!(!p.gw.busy());

    // A duplicated child rekey creates one child, not two.
    p.sent.clear();
    let old = p.gw.children[0].spi_in;
    p.gw.auto_delete = false;
    p.gw.start_child_rekey(old);
    p.pump();
    assert_eq!(p.sent.len(), 2);
    assert_eq!(p.sent[0].1, p.sent[1].1);
    let events = p.take_events();
    assert_eq!(child_ups(&events).len(), 1, "{events:?}");
    assert_eq!(p.ike.children.len(), 2);
    assert_eq!(p.ike.peer_id, 2);

    // A request replayed after newer ones is out of the window: dropped, not answered.
    p.gw.duplicate_requests = false;
    p.gw.start_dpd();
    p.pump();
    assert_eq!(p.ike.peer_id, 3);
    p.sent.clear();
    let first_dpd = p.received[0].clone();
    p.ike.handle_datagram(p.now, &first_dpd);
    assert_eq!(p.ike.poll_transmit(), None);
    assert_eq!(p.ike.peer_id, 3);
    // The latest one is still answered from the cache.
    let last = p.received.last().unwrap().clone();
    p.ike.handle_datagram(p.now, &last);
    assert!(p.ike.poll_transmit().is_some());
    assert!(p.ike.is_established());
}

#[test]
fn error_notifies_map_to_typed_errors() {
    // Wrong PSK on our side: the gateway says AUTHENTICATION_FAILED.
    let mut gw = gateway();
    gw.psk = b"another key".to_vec();
    let mut p = Pair::new(config(), gw);
    p.pump();
    match p.closed() {
        Some(Some(Error::AuthenticationFailed { local_id })) => {
            assert_eq!(local_id, "alice@example.org")
        }
        other => panic!("expected AuthenticationFailed, got {other:?}"),
    }
    assert!(p.ike.is_closed());

    // No common IKE proposal.
    let mut gw = gateway();
    gw.ike_proposals = vec![IkeProposal::parse("3des-sha256-modp2048", true).unwrap()];
    let mut p = Pair::new(config(), gw);
    p.pump();
    let offered = p.ike.offered_ike();
    match p.closed() {
        Some(Some(e @ Error::NoProposalChosen { what: "IKE", .. })) => {
            let text = e.to_string();
            assert!(text.contains(&offered), "{text}");
            assert!(text.contains("AES-256-GCM"), "{text}");
            assert!(text.contains("[crypto] ike"), "{text}");
        }
        other => panic!("expected NoProposalChosen, got {other:?}"),
    }

    // No common ESP proposal (in IKE_AUTH).
    let mut gw = gateway();
    gw.esp_proposals = vec![EspProposal::parse("3des-sha256", true).unwrap()];
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert!(matches!(
        p.closed(),
        Some(Some(Error::NoProposalChosen { what: "ESP", .. }))
    ));

    // The gateway refuses our selectors: the IKE SA came up, but we close it again.
    let mut gw = gateway();
    gw.child_error = Some(notify_type::TS_UNACCEPTABLE);
    let mut p = Pair::new(config(), gw);
    p.pump();
    let events = p.take_events();
    assert!(events.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));
    match events.last() {
        Some(Event::Closed {
            error: Some(Error::TsUnacceptable { local, remote }),
        }) => {
            assert_eq!(local, "0.0.0.0/0");
            assert_eq!(remote, "0.0.0.0/0");
        }
        other => panic!("expected TsUnacceptable, got {other:?}"),
    }
    assert!(p.gw.closed_by_client, "we told the gateway with a DELETE");

    for (code, expected) in [
        (
            notify_type::INTERNAL_ADDRESS_FAILURE,
            Error::InternalAddressFailure,
        ),
        (notify_type::FAILED_CP_REQUIRED, Error::FailedCpRequired),
        (notify_type::SINGLE_PAIR_REQUIRED, Error::SinglePairRequired),
    ] {
        let mut gw = gateway();
        gw.child_error = Some(code);
        let mut p = Pair::new(config(), gw);
        p.pump();
        assert_eq!(p.closed(), Some(Some(expected)));
    }

    // The gateway answers without the virtual IP we asked for.
    let mut gw = gateway();
    gw.no_cp = true;
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert_eq!(p.closed(), Some(Some(Error::InternalAddressFailure)));

    // Instead of authenticating, the gateway reports a temporary failure.
    let mut gw = gateway();
    gw.auth_error = Some(notify_type::TEMPORARY_FAILURE);
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert_eq!(
        p.closed(),
        Some(Some(Error::Notify {
            stage: Stage::IkeAuth,
            code: notify_type::TEMPORARY_FAILURE,
            name: "TEMPORARY_FAILURE",
        }))
    );

    // The gateway's AUTH does not verify.
    let mut gw = gateway();
    gw.wrong_auth = true;
    let mut p = Pair::new(config(), gw);
    p.pump();
    let events = p.take_events();
    assert!(!events.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));
    assert!(matches!(
        events.last(),
        Some(Event::Closed {
            error: Some(Error::PeerAuthenticationFailed { remote_id })
        }) if remote_id == "gw.example.org"
    ));

    // The gateway proves another identity than the profile wants.
    let mut gw = gateway();
    gw.id = Identification::from_text("evil.example.org");
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert_eq!(
        p.closed(),
        Some(Some(Error::PeerIdMismatch {
            expected: "gw.example.org".into(),
            got: "evil.example.org".into(),
        }))
    );
    // Without a required identity, any is accepted.
    let mut gw = gateway();
    gw.id = Identification::from_text("other.example.org");
    let mut cfg = config();
    cfg.remote_id = None;
    let mut p = Pair::new(cfg, gw);
    p.pump();
    assert!(p.ike.is_established());

    // Any other notify in IKE_SA_INIT.
    let mut gw = gateway();
    gw.init_error = Some(notify_type::TEMPORARY_FAILURE);
    let mut p = Pair::new(config(), gw);
    p.pump();
    assert!(matches!(
        p.closed(),
        Some(Some(Error::Notify {
            stage: Stage::IkeSaInit,
            code: notify_type::TEMPORARY_FAILURE,
            ..
        }))
    ));
}

fn short_child(cfg: &mut Config) {
    cfg.child_lifetime = Duration::from_secs(100);
}

/// The CREATE_CHILD_SA requests the gateway received.
fn create_child_requests(gw: &Responder) -> Vec<&responder::Rx> {
    gw.rx
        .iter()
        .filter(|r| r.header.exchange == ExchangeType::CreateChildSa && !r.header.is_response())
        .collect()
}

#[test]
fn child_rekey_by_us() {
    let mut cfg = config();
    short_child(&mut cfg);
    let mut p = Pair::up(cfg, gateway());
    let old = p.ike.children[0].spi_in;
    let old_out = p.ike.children[0].spi_out;
    p.advance(Duration::from_secs(101));
    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1, "{events:?}");
    let new = ups[0];
    assert_eq!(new.replaces, Some(old));
    assert_ne!(new.spi_in, old);
    assert_keys_match(&p.gw, new);
    assert_eq!(new.ts_remote[0].to_string(), "10.0.0.0/8");
    assert_eq!(child_deletes(&events), vec![old]);
    // The ChildSaDeleted comes after the ChildSaUp of its replacement.
    let up_at = events
        .iter()
        .position(|e| matches!(e, Event::ChildSaUp(_)))
        .unwrap();
    let del_at = events
        .iter()
        .position(|e| matches!(e, Event::ChildSaDeleted { .. }))
        .unwrap();
    assert!(up_at < del_at);
    // The request named the old SA, offered a fresh SPI and no KE (no PFS configured).
    let reqs = create_child_requests(&p.gw);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0].payloads;
    let rekey = r
        .iter()
        .find_map(|p| match p {
            Payload::Notify(n) if n.notify_type == notify_type::REKEY_SA => Some(n),
            _ => None,
        })
        .expect("REKEY_SA");
    assert_eq!(rekey.protocol, ProtocolId::Esp);
    assert_eq!(rekey.spi, old.to_be_bytes());
    assert!(!r.iter().any(|p| matches!(p, Payload::Ke(_))));
    // The gateway dropped the old child too.
    assert_eq!(p.gw.children.len(), 1);
    assert!(!p
        .gw
        .children
        .iter()
        .any(|c| c.spi_out == old || c.spi_in == old_out));
    assert_eq!(p.ike.children.len(), 1);
    assert!(p.ike.is_established());

    // It keeps going: over the next 1000 s the child is rekeyed about every 90–100 s and
    // both sides always agree on exactly one child.
    p.advance(Duration::from_secs(1000));
    let events = p.take_events();
    let ups = child_ups(&events);
    assert!((10..=12).contains(&ups.len()), "{} rekeys", ups.len());
    assert_eq!(child_deletes(&events).len(), ups.len());
    assert_eq!(p.ike.children.len(), 1);
    assert_eq!(p.gw.children.len(), 1);
    assert_keys_match(&p.gw, ups.last().unwrap());
    assert!(p.ike.is_established());
}

#[test]
fn child_rekey_by_us_with_pfs() {
    let mut cfg = config();
    short_child(&mut cfg);
    cfg.esp_proposals = vec![EspProposal::parse("aes256gcm16-ecp256", false).unwrap()];
    let mut gw = gateway();
    gw.esp_proposals = cfg.esp_proposals.clone();
    let mut p = Pair::up(cfg, gw);
    let old = p.ike.children[0].spi_in;
    p.advance(Duration::from_secs(101));
    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1, "{events:?}");
    let new = ups[0];
    assert_eq!(new.replaces, Some(old));
    assert_eq!(new.algorithms.dh, Some(DhGroup::Ecp256));
    assert_keys_match(&p.gw, new);
    let reqs = create_child_requests(&p.gw);
    let ke = reqs[0]
        .payloads
        .iter()
        .find_map(|p| match p {
            Payload::Ke(k) => Some(k),
            _ => None,
        })
        .expect("KE payload with PFS");
    assert_eq!(ke.group, 19);
    let gw_child = p.gw.child(new.spi_out).unwrap();
    let without = gw_child.keys_without_pfs.as_ref().expect("PFS was used");
    assert_ne!(
        without,
        &new.encr_out[..],
        "the DH secret went into the keys"
    );
    assert_eq!(child_deletes(&events), vec![old]);

    // A gateway that wants another PFS group: INVALID_KE_PAYLOAD, then a retry with it.
    let mut cfg = config();
    short_child(&mut cfg);
    cfg.esp_proposals = vec![EspProposal::parse("aes256gcm16-ecp256-ecp384", false).unwrap()];
    let mut gw = gateway();
    gw.esp_proposals = vec![EspProposal::parse("aes256gcm16-ecp384", false).unwrap()];
    let mut p = Pair::up(cfg, gw);
    p.advance(Duration::from_secs(101));
    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1, "{events:?}");
    assert_eq!(ups[0].algorithms.dh, Some(DhGroup::Ecp384));
    assert_keys_match(&p.gw, ups[0]);
    assert_eq!(create_child_requests(&p.gw).len(), 2);
}

#[test]
fn child_rekey_retries_after_temporary_failure() {
    let mut cfg = config();
    short_child(&mut cfg);
    cfg.dpd_interval = None;
    let mut gw = gateway();
    gw.create_child_errors = [notify_type::TEMPORARY_FAILURE].into_iter().collect();
    let mut p = Pair::up(cfg, gw);
    let rekey_at = p.ike.children[0].rekey_at.unwrap();
    p.advance(rekey_at - p.now);
    assert!(child_ups(&p.take_events()).is_empty());
    assert_eq!(create_child_requests(&p.gw).len(), 1);
    p.advance(Duration::from_secs(10));
    let events = p.take_events();
    assert_eq!(child_ups(&events).len(), 1, "{events:?}");
    assert_eq!(create_child_requests(&p.gw).len(), 2);
    assert!(p.ike.is_established());

    // A child that cannot be rekeyed expires and takes the IKE SA with it.
    let mut cfg = config();
    short_child(&mut cfg);
    let mut gw = gateway();
    gw.create_child_errors = std::iter::repeat_n(notify_type::TEMPORARY_FAILURE, 100).collect();
    let mut p = Pair::up(cfg, gw);
    p.advance(Duration::from_secs(111));
    assert_eq!(p.closed(), Some(Some(Error::Expired("child"))));
}

#[test]
fn child_rekey_by_the_gateway() {
    let mut p = Pair::up(config(), gateway());
    let old = p.ike.children[0].spi_in;
    let gw_old = p.gw.children[0].spi_in;
    p.gw.start_child_rekey(gw_old);
    p.pump();
    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1, "{events:?}");
    assert_eq!(ups[0].replaces, Some(old));
    assert_keys_match(&p.gw, ups[0]);
    // The gateway deleted the old child after its rekey.
    assert_eq!(child_deletes(&events), vec![old]);
    assert_eq!(p.ike.children.len(), 1);
    assert_eq!(p.gw.children.len(), 1);
    assert_eq!(p.gw.deleted, vec![gw_old]);
    assert!(p.gw.errors_received.is_empty());

    // If the gateway never deletes the old child, we do after the grace period.
    p.gw.auto_delete = false;
    let old = p.ike.children[0].spi_in;
    let gw_old = p.gw.children[0].spi_in;
    p.gw.start_child_rekey(gw_old);
    p.pump();
    assert_eq!(p.ike.children.len(), 2);
    p.advance(Duration::from_secs(31));
    let events = p.take_events();
    assert_eq!(child_deletes(&events), vec![old]);
    assert_eq!(p.gw.children.len(), 1);
    assert_eq!(p.ike.children.len(), 1);
    assert!(p.ike.is_established());

    // A rekey of a child we do not know is refused with CHILD_SA_NOT_FOUND.
    p.gw.children.push(responder::GwChild {
        spi_in: 0x1234,
        spi_out: 0x5678,
        ..p.gw.children[0].clone()
    });
    p.gw.start_child_rekey(0x1234);
    p.pump();
    assert_eq!(p.gw.errors_received, vec![notify_type::CHILD_SA_NOT_FOUND]);
    assert!(child_ups(&p.take_events()).is_empty());
}

/// Both sides start rekeying the same child at once; the requests cross. `gateway_wins` picks
/// whose new SA survives by giving the other exchange the lowest nonce.
fn simultaneous_child_rekey(gateway_wins: bool) {
    let mut cfg = config();
    short_child(&mut cfg);
    cfg.dpd_interval = None;
    let mut p = Pair::up(cfg, gateway());
    let old = p.ike.children[0].spi_in;
    let gw_old = p.gw.children[0].spi_in;
    // Our rekey is due: take the request off the wire.
    p.now = p.ike.children[0].rekey_at.unwrap();
    p.ike.handle_timeout(p.now);
    let ours = p.ike.poll_transmit().expect("our CREATE_CHILD_SA");
    // The gateway starts its own.
    if !gateway_wins {
        p.gw.nonce_override = Some(vec![0; 32]);
    }
    p.gw.start_child_rekey(gw_old);
    let theirs = p.gw.outbox.pop_front().unwrap();
    if gateway_wins {
        // The nonce the gateway answers our request with is the lowest of all four.
        p.gw.nonce_override = Some(vec![0; 32]);
    }
    // They cross.
    p.ike.handle_datagram(p.now, &theirs);
    let our_answer = p
        .ike
        .poll_transmit()
        .expect("we answer the gateway's rekey");
    p.gw.receive(&ours.data);
    let gw_answer = p.gw.outbox.pop_front().expect("the gateway answers ours");
    p.gw.receive(&our_answer.data);
    p.ike.handle_datagram(p.now, &gw_answer);
    p.pump();
    p.advance(Duration::from_secs(5));

    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 2, "one child from each exchange: {events:?}");
    assert!(ups.iter().all(|c| c.replaces == Some(old)));
    let deleted = child_deletes(&events);
    assert_eq!(
        deleted.len(),
        2,
        "the old and the redundant child: {events:?}"
    );
    assert!(deleted.contains(&old));
    let survivors: Vec<u32> = ups
        .iter()
        .map(|c| c.spi_in)
        .filter(|s| !deleted.contains(s))
        .collect();
    assert_eq!(survivors.len(), 1, "exactly one redundant SA deleted");
    // Both sides agree on the one child left.
    assert_eq!(p.ike.children.len(), 1, "{:?}", p.ike.children);
    assert_eq!(p.gw.children.len(), 1);
    let survivor = ups.iter().find(|c| c.spi_in == survivors[0]).unwrap();
    assert_keys_match(&p.gw, survivor);
    // Whose child survived: the one whose exchange did not have the lowest nonce.
    let ours_survived = survivor.spi_in == ups_from_our_exchange(&ups, &p).spi_in;
    assert_eq!(ours_survived, !gateway_wins);
    assert!(p.ike.is_established());
    assert!(
        p.gw.errors_received.is_empty(),
        "{:?}",
        p.gw.errors_received
    );
    // And the next rekey goes through normally.
    p.advance(Duration::from_secs(100));
    assert_eq!(child_ups(&p.take_events()).len(), 1);
    assert_eq!(p.ike.children.len(), 1);
    assert_eq!(p.gw.children.len(), 1);
}

/// The child our own CREATE_CHILD_SA created (its inbound SPI was in our request).
fn ups_from_our_exchange<'a>(ups: &[&'a ChildSaInfo], p: &Pair) -> &'a ChildSaInfo {
    let ours = create_child_requests(&p.gw)
        .into_iter()
        .find_map(|r| {
            r.payloads.iter().find_map(|p| match p {
                Payload::Sa(s) => Some(u32::from_be_bytes(s[0].spi.clone().try_into().unwrap())),
                _ => None,
            })
        })
        .unwrap();
    ups.iter().find(|c| c.spi_in == ours).unwrap()
}

#[test]
fn simultaneous_child_rekey_gateway_wins() {
    simultaneous_child_rekey(true);
}

#[test]
fn simultaneous_child_rekey_we_win() {
    simultaneous_child_rekey(false);
}

fn rekeyed(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::IkeSaRekeyed { .. }))
        .count()
}

/// The SPIs (initiator's, responder's) both sides use now, checked to agree.
fn current_spis(p: &Pair) -> (u64, u64) {
    let gw = p.gw.cur();
    let (i, r) = if p.ike.initiator {
        (p.ike.spi_ours, p.ike.spi_theirs)
    } else {
        (p.ike.spi_theirs, p.ike.spi_ours)
    };
    assert_eq!(
        (i, r),
        (gw.spi_i, gw.spi_r),
        "both sides on the same IKE SA"
    );
    (i, r)
}

#[test]
fn ike_rekey_by_us() {
    let mut cfg = config();
    cfg.ike_lifetime = Duration::from_secs(200);
    let mut p = Pair::up(cfg, gateway());
    let child = p.ike.children[0].spi_in;
    let (old_i, old_r) = current_spis(&p);
    p.advance(Duration::from_secs(201));
    let events = p.take_events();
    assert_eq!(rekeyed(&events), 1, "{events:?}");
    assert!(child_deletes(&events).is_empty(), "children survive");
    assert!(child_ups(&events).is_empty());
    let (new_i, new_r) = current_spis(&p);
    assert_ne!(new_i, old_i);
    assert_ne!(new_r, old_r);
    assert!(p.ike.initiator, "we created the new SA");
    assert_eq!(p.gw.ike_rekeys, 1);
    // The old SA was deleted with a DELETE on the old SA, which the gateway answered.
    assert!(p.ike.old.is_empty());
    assert!(p.gw.old.is_none());
    let old_delete =
        p.gw.rx
            .iter()
            .find(|r| {
                r.header.spi_i == old_i
                    && r.header.exchange == ExchangeType::Informational
                    && r.payloads
                        .iter()
                        .any(|p| matches!(p, Payload::Delete(d) if d.protocol == ProtocolId::Ike))
            })
            .expect("DELETE on the old SA");
    assert!(!old_delete.header.is_response());
    // The rekey request itself was a CREATE_CHILD_SA with our new SPI in an IKE proposal.
    let req = create_child_requests(&p.gw)[0];
    assert_eq!((req.header.spi_i, req.header.spi_r), (old_i, old_r));
    let Some(Payload::Sa(props)) = req.payloads.first() else {
        panic!("SA first");
    };
    assert_eq!(props[0].protocol, ProtocolId::Ike);
    assert_eq!(props[0].spi, new_i.to_be_bytes());

    // Later exchanges use the new SA, with message IDs from 0.
    let before = p.gw.rx.len();
    p.advance(Duration::from_secs(31));
    let dpd = &p.gw.rx[before..];
    assert!(!dpd.is_empty(), "a DPD on the new SA");
    assert!(dpd
        .iter()
        .all(|r| (r.header.spi_i, r.header.spi_r) == (new_i, new_r)));
    assert_eq!(dpd[0].header.message_id, 0);
    assert_eq!(dpd[0].header.exchange, ExchangeType::Informational);
    // The child survived and can still be rekeyed, with keys from the new SK_d.
    assert_eq!(p.ike.children.len(), 1);
    assert_eq!(p.ike.children[0].spi_in, child);
    let gw_child = p.gw.children[0].spi_in;
    p.gw.start_child_rekey(gw_child);
    p.pump();
    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1);
    assert_keys_match(&p.gw, ups[0]);
    assert!(p.ike.is_established());
}

#[test]
fn ike_rekey_by_the_gateway() {
    let mut p = Pair::up(config(), gateway());
    let (old_i, _) = current_spis(&p);
    p.gw.start_ike_rekey();
    p.pump();
    let events = p.take_events();
    assert_eq!(rekeyed(&events), 1, "{events:?}");
    assert!(child_deletes(&events).is_empty());
    let (new_i, new_r) = current_spis(&p);
    assert_ne!(new_i, old_i);
    assert!(
        !p.ike.initiator,
        "the gateway is the initiator of the new SA"
    );
    assert_eq!(p.ike.spi_ours, new_r);
    // The gateway deleted the old SA; we answered on it and dropped it.
    assert!(
        p.gw.old.is_none(),
        "our answer to the DELETE on the old SA arrived"
    );
    assert!(p.ike.old.is_empty());

    // Our requests on the new SA: no Initiator flag, message IDs from 0.
    let before = p.gw.rx.len();
    p.advance(Duration::from_secs(31));
    let dpd = &p.gw.rx[before..];
    assert!(!dpd.is_empty());
    assert!(!dpd[0].header.is_initiator());
    assert_eq!(dpd[0].header.message_id, 0);
    assert_eq!((dpd[0].header.spi_i, dpd[0].header.spi_r), (new_i, new_r));
    // The gateway's requests on the new SA are answered.
    p.gw.start_dpd();
    p.pump();
    assert!(!p.gw.busy());
    // Children survive and rekey with keys from the new SA.
    let rekey_at = p.ike.children[0].rekey_at.unwrap();
    p.advance(rekey_at - p.now + Duration::from_secs(1));
    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1, "{events:?}");
    assert_keys_match(&p.gw, ups[0]);

    // And we can rekey it back.
    let (gi, gr) = current_spis(&p);
    p.ike.ike_rekey_at = Some(p.now);
    p.advance(Duration::from_secs(1));
    assert_eq!(rekeyed(&p.take_events()), 1);
    assert!(p.ike.initiator);
    assert_ne!(current_spis(&p), (gi, gr));
    assert_eq!(p.gw.ike_rekeys, 2);
    assert!(p.ike.is_established());
}

#[test]
fn lost_answer_to_the_gateways_ike_rekey_is_resent() {
    let mut p = Pair::up(config(), gateway());
    p.gw.start_ike_rekey();
    p.gw.drop_in = 1;
    p.pump();
    // We switched to the new SA, but our answer never arrived.
    assert_eq!(rekeyed(&p.take_events()), 1);
    assert!(p.gw.busy());
    assert_eq!(p.gw.ike_rekeys, 0);
    let first = p.sent.last().unwrap().1.clone();
    // The gateway retransmits on the old SA: we answer again from the cache.
    p.gw.retransmit();
    p.pump();
    assert_eq!(p.sent[1].1, first, "the same answer again");
    assert_eq!(p.gw.ike_rekeys, 1);
    current_spis(&p);
    // Then the gateway deletes the old SA, and both are left with the new one.
    assert!(p.gw.old.is_none());
    assert!(p.ike.old.is_empty());
    assert_eq!(rekeyed(&p.take_events()), 0);
    p.gw.start_dpd();
    p.pump();
    assert!(!p.gw.busy());
    assert!(p.ike.is_established());
}

#[test]
fn ike_rekey_postponed_by_temporary_failure() {
    let mut cfg = config();
    cfg.ike_lifetime = Duration::from_secs(200);
    cfg.dpd_interval = None;
    let mut gw = gateway();
    gw.create_child_errors = [notify_type::TEMPORARY_FAILURE].into_iter().collect();
    let mut p = Pair::up(cfg, gw);
    let at = p.ike.ike_rekey_at.unwrap();
    p.advance(at - p.now);
    assert_eq!(rekeyed(&p.take_events()), 0);
    p.advance(Duration::from_secs(10));
    assert_eq!(rekeyed(&p.take_events()), 1);
    assert!(p.ike.is_established());
    current_spis(&p);

    // An IKE SA the gateway never lets us rekey expires at its hard lifetime (110 %) instead
    // of living on with keys past their lifetime.
    let mut cfg = config();
    cfg.ike_lifetime = Duration::from_secs(200);
    cfg.dpd_interval = None;
    let mut gw = gateway();
    gw.create_child_errors = std::iter::repeat_n(notify_type::TEMPORARY_FAILURE, 100).collect();
    let mut p = Pair::up(cfg, gw);
    p.advance(Duration::from_secs(215));
    assert!(p.ike.is_established(), "still within the hard lifetime");
    p.advance(Duration::from_secs(10));
    assert_eq!(p.closed(), Some(Some(Error::Expired("IKE"))));
}

/// The INFORMATIONAL requests the gateway received, with their arrival time unknown; use
/// `Pair::sent` for times.
fn informational_requests(gw: &Responder) -> Vec<&responder::Rx> {
    gw.rx
        .iter()
        .filter(|r| r.header.exchange == ExchangeType::Informational && !r.header.is_response())
        .collect()
}

#[test]
fn dpd_when_idle_and_dead_peer() {
    let mut p = Pair::up(config(), gateway());
    p.advance(Duration::from_secs(29));
    assert!(p.sent.is_empty(), "nothing before the interval");
    p.advance(Duration::from_secs(1));
    assert_eq!(p.sent.len(), 1);
    assert_eq!(p.sent[0].0, Duration::from_secs(30));
    let dpd = informational_requests(&p.gw);
    assert_eq!(dpd.len(), 1);
    assert!(dpd[0].payloads.is_empty(), "a liveness check is empty");
    assert_eq!(dpd[0].header.message_id, 2);

    // Hearing from the gateway postpones the next one.
    p.advance(Duration::from_secs(20));
    p.gw.start_dpd();
    p.pump();
    p.sent.clear();
    p.advance(Duration::from_secs(29));
    assert!(p.sent.is_empty());
    p.advance(Duration::from_secs(1));
    assert_eq!(p.sent.len(), 1);

    // The gateway goes away: retransmits on the usual schedule, then DeadPeer once the DPD
    // timeout has passed (sooner than the full schedule).
    p.gw.deaf = true;
    p.sent.clear();
    let cfg = &p.ike.cfg;
    let (interval, timeout, schedule) =
        (cfg.dpd_interval.unwrap(), cfg.dpd_timeout, cfg.retransmit);
    let dpd_at = p.now + interval;
    p.advance(interval + timeout - Duration::from_millis(1));
    assert!(p.ike.is_established(), "not dead before the DPD timeout");
    p.advance(Duration::from_millis(1));
    let events = p.take_events();
    assert!(matches!(
        events.last(),
        Some(Event::Closed {
            error: Some(Error::DeadPeer)
        })
    ));
    assert_eq!(child_deletes(&events).len(), 1, "the child goes with it");
    // The DPD and its retransmits within the timeout, all identical.
    let mut expected = vec![dpd_at - p.start];
    let mut at = dpd_at;
    for n in 0.. {
        at += schedule.wait(n);
        if at >= dpd_at + timeout {
            break;
        }
        expected.push(at - p.start);
    }
    let times: Vec<Duration> = p.sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, expected);
    assert!(p.sent.len() >= 2);
    assert!(p.sent.iter().all(|(_, d)| *d == p.sent[0].1));
    assert!(p.ike.is_closed());
    assert_eq!(p.ike.poll_timeout(), None);
    assert!(!p.ike.is_established());
}

#[test]
fn dpd_disabled() {
    let mut cfg = config();
    cfg.dpd_interval = None;
    let mut p = Pair::up(cfg, gateway());
    p.advance(Duration::from_secs(1000));
    assert!(p.sent.is_empty());
    assert!(p.ike.is_established());
}

#[test]
fn gateway_deletes_the_ike_sa() {
    let mut p = Pair::up(config(), gateway());
    let child = p.ike.children[0].spi_in;
    p.gw.start_delete_ike();
    p.pump();
    let events = p.take_events();
    assert_eq!(child_deletes(&events), vec![child]);
    assert!(matches!(
        events.last(),
        Some(Event::Closed {
            error: Some(Error::PeerDeleted)
        })
    ));
    assert_eq!(p.sent.len(), 1, "our answer went out before we stopped");
    assert!(p.gw.sa.is_none(), "the gateway got its answer");
    assert!(p.ike.is_closed());
    assert_eq!(p.ike.poll_timeout(), None);
    // Nothing more happens.
    p.ike.handle_timeout(p.now + Duration::from_secs(100));
    assert_eq!(p.ike.poll_transmit(), None);
    assert!(p.ike.poll_event().is_none());
}

#[test]
fn gateway_deletes_the_last_child() {
    let mut p = Pair::up(config(), gateway());
    let child = p.ike.children[0].spi_in;
    let gw_child = p.gw.children[0].spi_in;
    p.gw.start_delete_child(gw_child);
    p.pump();
    let events = p.take_events();
    assert_eq!(child_deletes(&events), vec![child]);
    assert_eq!(p.gw.deleted, vec![gw_child], "we answered with our SPI");
    assert!(matches!(
        events.last(),
        Some(Event::Closed {
            error: Some(Error::PeerDeleted)
        })
    ));
}

#[test]
fn close_deletes_the_ike_sa() {
    let mut p = Pair::up(config(), gateway());
    p.ike.close(p.now);
    assert!(!p.ike.is_established());
    p.pump();
    let events = p.take_events();
    assert_eq!(child_deletes(&events).len(), 1);
    assert!(matches!(events.last(), Some(Event::Closed { error: None })));
    let del = informational_requests(&p.gw);
    assert_eq!(del.len(), 1);
    assert!(matches!(
        del[0].payloads.as_slice(),
        [Payload::Delete(d)] if d.protocol == ProtocolId::Ike
    ));
    assert!(p.gw.closed_by_client);
    // Closing twice is harmless.
    p.ike.close(p.now);
    assert!(p.ike.poll_event().is_none());

    // Closing while the gateway is gone: a short schedule, then Closed without error.
    let mut p = Pair::up(config(), gateway());
    p.gw.deaf = true;
    p.ike.close(p.now);
    p.advance(Duration::from_secs(1000));
    assert_eq!(p.closed(), Some(None));
    assert_eq!(p.sent.len(), 2, "two tries for a DELETE");
    assert!(p.sent[1].0 <= Duration::from_secs(4));

    // Closing before the SA is up stops at once.
    let mut p = Pair::new(config(), gateway());
    p.ike.close(p.now);
    assert_eq!(p.closed(), Some(None));
    assert!(p.ike.is_closed());
}

#[test]
fn odd_requests_from_the_gateway_are_refused_politely() {
    let mut p = Pair::up(config(), gateway());
    // An unknown critical payload.
    p.gw.start_raw(
        ExchangeType::Informational,
        &[Payload::Unknown {
            payload_type: 200,
            critical: true,
            data: vec![1, 2, 3],
        }],
    );
    p.pump();
    assert_eq!(
        p.gw.errors_received,
        vec![notify_type::UNSUPPORTED_CRITICAL_PAYLOAD]
    );
    // An unknown exchange type.
    p.gw.start_raw(ExchangeType::Other(99), &[]);
    p.pump();
    assert_eq!(p.gw.errors_received[1], notify_type::INVALID_SYNTAX);
    // A new child SA (not a rekey): a remote-access client does not take those.
    let child = p.gw.children[0].clone();
    p.gw.start_raw(
        ExchangeType::CreateChildSa,
        &[
            Payload::Sa(crate::v2::proposal_wire::esp_to_wire(
                &EspProposal::default_set(),
                0x4242,
                true,
                None,
            )),
            Payload::Nonce(vec![7; 32]),
            Payload::TsI(child.ts_r.clone()),
            Payload::TsR(child.ts_i.clone()),
        ],
    );
    p.pump();
    assert_eq!(p.gw.errors_received[2], notify_type::NO_ADDITIONAL_SAS);
    // A non-critical unknown payload is ignored (an empty answer).
    p.gw.start_raw(
        ExchangeType::Informational,
        &[Payload::Unknown {
            payload_type: 201,
            critical: false,
            data: vec![],
        }],
    );
    p.pump();
    assert_eq!(p.gw.errors_received.len(), 3);
    assert!(p.ike.is_established());
    assert!(p.take_events().is_empty());
}

/// The IKE SPI in the SA payload of a CREATE_CHILD_SA request (the new SA's initiator SPI).
fn proposed_ike_spi(msg: &[Payload]) -> u64 {
    msg.iter()
        .find_map(|p| match p {
            Payload::Sa(s) if s[0].protocol == ProtocolId::Ike => {
                Some(u64::from_be_bytes(s[0].spi.clone().try_into().unwrap()))
            }
            _ => None,
        })
        .expect("an IKE proposal")
}

/// Whether `rx` is a request deleting an IKE SA.
fn is_ike_delete(rx: &responder::Rx) -> bool {
    !rx.header.is_response()
        && rx.header.exchange == ExchangeType::Informational
        && rx
            .payloads
            .iter()
            .any(|p| matches!(p, Payload::Delete(d) if d.protocol == ProtocolId::Ike))
}

/// An established pair with a 200 s IKE lifetime and no DPD, our IKE SA rekey due and its
/// request taken off the wire (returned).
fn ike_rekey_in_flight(gw: Responder) -> (Pair, Vec<u8>) {
    let mut cfg = config();
    cfg.dpd_interval = None;
    cfg.ike_lifetime = Duration::from_secs(200);
    let mut p = Pair::up(cfg, gw);
    p.now = p.ike.ike_rekey_at.unwrap();
    p.ike.handle_timeout(p.now);
    let ours = p.ike.poll_transmit().expect("our IKE rekey").data;
    assert!(p.ike.poll_transmit().is_none());
    (p, ours)
}

/// After a rekey (colliding or not): one `IkeSaRekeyed` with the algorithms of the SA in use,
/// the child survived, and it still gets working traffic keys from the new SA's SK_d.
fn assert_settled_on_one_sa(p: &mut Pair, events: &[Event], child: u32) {
    assert_eq!(rekeyed(events), 1, "exactly one IkeSaRekeyed: {events:?}");
    let algs = events
        .iter()
        .find_map(|e| match e {
            Event::IkeSaRekeyed { algorithms } => Some(*algorithms),
            _ => None,
        })
        .unwrap();
    assert_eq!(algs, p.ike.keys.as_ref().unwrap().algs);
    assert_eq!(algs, p.gw.cur().keys.algs);
    assert!(
        child_deletes(events).is_empty(),
        "children move: {events:?}"
    );
    assert!(child_ups(events).is_empty());
    assert_eq!(p.ike.children.len(), 1);
    assert_eq!(p.ike.children[0].spi_in, child);
    assert!(p.ike.is_established());
    current_spis(p);
    // The gateway's requests on the surviving SA are answered ...
    p.gw.start_dpd();
    p.pump();
    assert!(!p.gw.busy());
    // ... and a child rekey derives the same keys on both sides.
    let gw_child = p.gw.children[0].spi_in;
    p.gw.start_child_rekey(gw_child);
    p.pump();
    let events = p.take_events();
    let ups = child_ups(&events);
    assert_eq!(ups.len(), 1, "{events:?}");
    assert_keys_match(&p.gw, ups[0]);
}

/// Both sides rekey the IKE SA at once and both see the collision (§2.8.2). `gateway_wins`
/// gives our exchange the lowest of the four nonces (else the gateway's).
fn simultaneous_ike_rekey(gateway_wins: bool) {
    let mut gw = gateway();
    gw.rekey_collisions = true;
    let (mut p, ours) = ike_rekey_in_flight(gw);
    let child = p.ike.children[0].spi_in;
    let (old_i, old_r) = current_spis(&p);
    if !gateway_wins {
        p.gw.nonce_override = Some(vec![0; 32]);
    }
    p.gw.start_ike_rekey();
    let theirs = p.gw.outbox.pop_front().unwrap();
    if gateway_wins {
        // The nonce the gateway answers our request with is the lowest of all four.
        p.gw.nonce_override = Some(vec![0; 32]);
    }
    // The requests cross: each side answers the other's.
    p.ike.handle_datagram(p.now, &theirs);
    let our_answer = p
        .ike
        .poll_transmit()
        .expect("we answer the gateway's rekey");
    assert!(
        p.ike.poll_transmit().is_none(),
        "nothing else before ours is answered"
    );
    assert_eq!(rekeyed(&p.take_events()), 0, "undecided yet");
    p.gw.receive(&ours);
    let gw_answer = p.gw.outbox.pop_front().expect("the gateway answers ours");
    p.gw.receive(&our_answer.data);
    p.ike.handle_datagram(p.now, &gw_answer);
    p.pump();
    p.advance(Duration::from_secs(5));

    assert!(
        p.gw.errors_received.is_empty(),
        "{:?}",
        p.gw.errors_received
    );
    assert_eq!(p.gw.collisions, vec![gateway_wins], "both sides saw it");
    let our_new = proposed_ike_spi(&create_child_requests(&p.gw)[0].payloads);
    let their_new = p.gw.proposed_ike_spi.unwrap();
    let (new_i, _) = current_spis(&p);
    let events = p.take_events();
    assert_settled_on_one_sa(&mut p, &events, child);
    assert_ne!(current_spis(&p), (old_i, old_r));
    let deletes: Vec<&responder::Rx> = p.gw.rx.iter().filter(|r| is_ike_delete(r)).collect();
    if gateway_wins {
        assert!(!p.ike.initiator, "the gateway's new SA survives");
        assert_eq!(new_i, their_new);
        // We deleted our redundant SA, on that SA; the gateway deleted the old one.
        assert_eq!(deletes.len(), 1, "one DELETE from us");
        assert_eq!(deletes[0].header.spi_i, our_new);
        assert!(deletes[0].header.is_initiator());
        assert_eq!(deletes[0].header.message_id, 0);
    } else {
        assert!(p.ike.initiator, "our new SA survives");
        assert_eq!(new_i, our_new);
        // The gateway deleted its redundant SA, and only then we deleted the old one.
        assert_eq!(deletes.len(), 1, "one DELETE from us: {deletes:?}");
        assert_eq!(
            (deletes[0].header.spi_i, deletes[0].header.spi_r),
            (old_i, old_r)
        );
        let answered_redundant =
            p.gw.rx
                .iter()
                .position(|r| r.header.is_response() && r.header.spi_i == their_new)
                .expect("we answered the DELETE of the redundant SA");
        let deleted_old = p.gw.rx.iter().position(is_ike_delete).unwrap();
        assert!(answered_redundant < deleted_old);
    }
    assert!(p.gw.old.is_none(), "the old SA is gone on the gateway");
    assert!(
        p.gw.redundant.is_none(),
        "the redundant SA is gone on the gateway"
    );
    assert!(p.ike.old.is_empty(), "and here");
    assert!(p.ike.ike_collision.is_none());
    assert_eq!(p.gw.ike_rekeys, 1);
    // The next rekey is a plain one again.
    p.ike.ike_rekey_at = Some(p.now);
    p.advance(Duration::from_secs(1));
    assert_eq!(rekeyed(&p.take_events()), 1);
    assert_eq!(p.gw.ike_rekeys, 2);
    current_spis(&p);
    assert!(p.ike.is_established());
}

#[test]
fn simultaneous_ike_rekey_gateway_wins() {
    simultaneous_ike_rekey(true);
}

#[test]
fn simultaneous_ike_rekey_we_win() {
    simultaneous_ike_rekey(false);
}

/// We win the collision, but the gateway's DELETE of its redundant SA overtakes its answer
/// to our rekey: the DELETE is kept until the answer decides the collision, then answered on
/// the redundant SA, and the old SA is deleted at once (no wait for a time-out).
#[test]
fn early_delete_of_the_redundant_sa_is_kept_until_decided() {
    let mut gw = gateway();
    gw.rekey_collisions = true;
    let (mut p, ours) = ike_rekey_in_flight(gw);
    let child = p.ike.children[0].spi_in;
    let (old_i, old_r) = current_spis(&p);
    p.gw.nonce_override = Some(vec![0; 32]);
    p.gw.start_ike_rekey();
    let theirs = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &theirs);
    let our_answer = p.ike.poll_transmit().unwrap();
    p.gw.receive(&ours);
    let gw_answer = p.gw.outbox.pop_front().unwrap();
    p.gw.receive(&our_answer.data);
    let delete_redundant = p.gw.outbox.pop_front().expect("the gateway deletes its SA");
    assert!(p.gw.outbox.is_empty());
    // Reordered: the DELETE first.
    p.ike.handle_datagram(p.now, &delete_redundant);
    assert!(p.ike.poll_transmit().is_none(), "nothing to say yet");
    p.ike.handle_datagram(p.now, &gw_answer);
    p.pump();
    assert_eq!(p.gw.collisions, vec![false]);
    assert!(p.gw.redundant.is_none(), "we answered the DELETE on it");
    assert!(
        p.gw.old.is_none(),
        "and then deleted the old SA, without waiting"
    );
    assert!(p.ike.old.is_empty());
    let deletes: Vec<&responder::Rx> = p.gw.rx.iter().filter(|r| is_ike_delete(r)).collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        (deletes[0].header.spi_i, deletes[0].header.spi_r),
        (old_i, old_r)
    );
    let events = p.take_events();
    assert_settled_on_one_sa(&mut p, &events, child);
    assert!(p.ike.initiator);
}

/// A gateway busy with its own rekey refuses ours with TEMPORARY_FAILURE; we answered its
/// rekey, so its new SA is the one (no retry, no second rekey).
#[test]
fn simultaneous_ike_rekey_refused_by_the_gateway() {
    let (mut p, ours) = ike_rekey_in_flight(gateway());
    let child = p.ike.children[0].spi_in;
    p.gw.start_ike_rekey();
    let theirs = p.gw.outbox.pop_front().unwrap();
    let their_new = p.gw.proposed_ike_spi.unwrap();
    p.ike.handle_datagram(p.now, &theirs);
    p.gw.receive(&ours);
    p.pump();
    p.advance(Duration::from_secs(60));
    assert!(
        p.gw.errors_received.is_empty(),
        "we answered the gateway's rekey"
    );
    let events = p.take_events();
    assert_settled_on_one_sa(&mut p, &events, child);
    assert!(!p.ike.initiator);
    assert_eq!(current_spis(&p).0, their_new);
    assert_eq!(p.gw.ike_rekeys, 1, "no second rekey");
    assert!(p.gw.old.is_none(), "the gateway deleted the old SA");
    assert!(p.ike.old.is_empty());
    assert!(
        p.gw.rx.iter().all(|r| !is_ike_delete(r)),
        "nothing for us to delete"
    );
}

/// The gateway did not see our request before finishing its own rekey and deletes the old
/// SA while ours is still unanswered: we answer, forget ours and use its new SA (§2.25.2).
#[test]
fn gateway_deletes_the_old_sa_during_a_collision() {
    let mut gw = gateway();
    gw.refuse_on_old = true;
    let (mut p, ours) = ike_rekey_in_flight(gw);
    let child = p.ike.children[0].spi_in;
    p.gw.start_ike_rekey();
    let theirs = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &theirs);
    let our_answer = p.ike.poll_transmit().unwrap();
    p.gw.receive(&our_answer.data);
    let delete =
        p.gw.outbox
            .pop_front()
            .expect("the gateway deletes the old SA");
    p.ike.handle_datagram(p.now, &delete);
    assert!(p.ike.request.is_none(), "our rekey is forgotten");
    // Our request reaches the gateway late, on the SA it is deleting.
    p.gw.receive(&ours);
    p.pump();
    let sends = p.sent.len();
    p.advance(Duration::from_secs(60));
    assert_eq!(
        p.sent.len(),
        sends,
        "our forgotten rekey is not retransmitted"
    );
    let events = p.take_events();
    assert_settled_on_one_sa(&mut p, &events, child);
    assert!(!p.ike.initiator);
    assert!(p.ike.old.is_empty());
    assert_eq!(p.gw.ike_rekeys, 1);
}

/// The gateway's answer to our rekey arrives before its own crossing request: we already
/// switched and are deleting the old SA, so its request there gets TEMPORARY_FAILURE
/// (§2.25.2) and the gateway adopts our new SA when the old one is deleted.
#[test]
fn half_seen_ike_rekey_collision() {
    let mut gw = gateway();
    gw.rekey_collisions = true;
    let (mut p, ours) = ike_rekey_in_flight(gw);
    let child = p.ike.children[0].spi_in;
    p.gw.start_ike_rekey();
    let theirs = p.gw.outbox.pop_front().unwrap();
    p.gw.receive(&ours);
    let answer = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &answer);
    p.ike.handle_datagram(p.now, &theirs);
    p.pump();
    p.advance(Duration::from_secs(60));
    assert_eq!(p.gw.errors_received, vec![notify_type::TEMPORARY_FAILURE]);
    let events = p.take_events();
    assert_settled_on_one_sa(&mut p, &events, child);
    assert!(p.ike.initiator, "ours is the one");
    assert!(p.ike.old.is_empty());
}

/// A gateway that starts a second IKE SA rekey while a collision is pending gets
/// TEMPORARY_FAILURE; when it never deletes its redundant SA, that one times out and we
/// delete the old SA anyway. Nothing panics, and one SA remains.
#[test]
fn second_colliding_ike_rekey_is_refused() {
    let mut gw = gateway();
    gw.rekey_collisions = true;
    let (mut p, ours) = ike_rekey_in_flight(gw);
    let child = p.ike.children[0].spi_in;
    // The gateway's first rekey has the lowest nonce: ours wins.
    p.gw.nonce_override = Some(vec![0; 32]);
    p.gw.start_ike_rekey();
    let first = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &first);
    let answer = p.ike.poll_transmit().unwrap();
    // A retransmission of it gets the same answer and changes nothing.
    p.ike.handle_datagram(p.now, &first);
    assert_eq!(p.ike.poll_transmit().unwrap().data, answer.data);
    // The gateway "forgets" it and rekeys again at once.
    p.gw.forget_request();
    p.gw.start_ike_rekey();
    let second = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &second);
    let refusal = p.ike.poll_transmit().unwrap();
    p.gw.receive(&refusal.data);
    assert_eq!(p.gw.errors_received, vec![notify_type::TEMPORARY_FAILURE]);
    // Our rekey reaches the gateway, which now takes ours as the new SA.
    p.gw.receive(&ours);
    p.pump();
    assert_eq!(
        p.ike.old.len(),
        2,
        "the old SA and the gateway's redundant one"
    );
    // The gateway never deletes its redundant SA: it times out, then the old one goes.
    p.advance(Duration::from_secs(90));
    assert!(p.ike.old.is_empty(), "{:?}", p.ike.old.len());
    assert!(p.gw.old.is_none(), "we deleted the old SA");
    let events = p.take_events();
    assert_settled_on_one_sa(&mut p, &events, child);
    assert!(p.ike.initiator);
    assert_eq!(p.gw.ike_rekeys, 1);
}

#[test]
fn gateway_child_rekey_during_our_ike_rekey_is_postponed() {
    let mut cfg = config();
    cfg.dpd_interval = None;
    cfg.ike_lifetime = Duration::from_secs(200);
    let mut p = Pair::up(cfg, gateway());
    p.now = p.ike.ike_rekey_at.unwrap();
    p.ike.handle_timeout(p.now);
    let ours = p.ike.poll_transmit().expect("our IKE rekey");
    let gw_child = p.gw.children[0].spi_in;
    p.gw.start_child_rekey(gw_child);
    let theirs = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &theirs);
    p.pump();
    assert_eq!(p.gw.errors_received, vec![notify_type::TEMPORARY_FAILURE]);
    assert!(child_ups(&p.take_events()).is_empty());
    p.gw.receive(&ours.data);
    p.pump();
    assert_eq!(rekeyed(&p.take_events()), 1);
    current_spis(&p);
    // The gateway tries again on the new SA.
    p.gw.start_child_rekey(gw_child);
    p.pump();
    let events = p.take_events();
    assert_eq!(child_ups(&events).len(), 1);
    assert_keys_match(&p.gw, child_ups(&events)[0]);
}

/// Our rekey and the gateway's cross, but the gateway's answer to ours arrives before its
/// own request: we see no collision, the gateway does.
#[test]
fn half_seen_child_rekey_collision() {
    let mut cfg = config();
    short_child(&mut cfg);
    cfg.dpd_interval = None;
    let mut p = Pair::up(cfg, gateway());
    let old = p.ike.children[0].spi_in;
    let gw_old = p.gw.children[0].spi_in;
    p.now = p.ike.children[0].rekey_at.unwrap();
    p.ike.handle_timeout(p.now);
    let ours = p.ike.poll_transmit().unwrap();
    p.gw.start_child_rekey(gw_old);
    let theirs = p.gw.outbox.pop_front().unwrap();
    p.gw.receive(&ours.data);
    let answer = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &answer);
    p.ike.handle_datagram(p.now, &theirs);
    p.pump();
    p.advance(Duration::from_secs(5));
    let events = p.take_events();
    // The gateway's own rekey of the old child found it gone.
    assert_eq!(p.gw.errors_received, vec![notify_type::CHILD_SA_NOT_FOUND]);
    assert!(child_deletes(&events).contains(&old));
    assert_eq!(p.ike.children.len(), 1, "{:?}", p.ike.children);
    assert_eq!(p.gw.children.len(), 1, "{:?}", p.gw.children);
    let survivor = child_ups(&events)
        .into_iter()
        .find(|c| c.spi_in == p.ike.children[0].spi_in)
        .unwrap();
    assert_keys_match(&p.gw, survivor);
    assert!(p.ike.is_established());
}

#[test]
fn nat_detection_switches_to_port_4500() {
    let mut gw = gateway();
    // The gateway sees us behind a NAT.
    gw.client_addr = addr("203.0.113.9:61234");
    let mut p = Pair::new(config(), gw);
    let init = p.ike.poll_transmit().unwrap();
    assert!(!init.udp_encap);
    p.gw.receive(&init.data);
    let resp = p.gw.outbox.pop_front().unwrap();
    p.ike.handle_datagram(p.now, &resp);
    let auth = p.ike.poll_transmit().unwrap();
    assert!(auth.udp_encap, "IKE_AUTH goes to port 4500");
    assert!(p.ike.udp_encap());
    assert!(matches!(
        p.take_events()[0],
        Event::NatDetected {
            local_behind_nat: true,
            remote_behind_nat: false
        }
    ));
    // The gateway is unreachable on 4500: the timeout names the port.
    p.gw.deaf = true;
    p.advance(Duration::from_secs(600));
    assert_eq!(
        p.closed(),
        Some(Some(Error::Timeout {
            stage: Stage::IkeAuth,
            tries: 6,
            port: 4500
        }))
    );

    // Forced encapsulation without a NAT.
    let mut cfg = config();
    cfg.force_udp_encap = true;
    let mut p = Pair::new(cfg, gateway());
    p.pump();
    assert!(p.ike.is_established());
    assert!(p.ike.udp_encap());
    assert!(matches!(
        p.take_events()[0],
        Event::NatDetected {
            local_behind_nat: false,
            remote_behind_nat: false
        }
    ));
}

#[test]
fn close_while_a_request_is_outstanding() {
    // The DELETE waits for the request in flight, then goes out.
    let mut p = Pair::up(config(), gateway());
    p.advance(Duration::from_secs(30));
    p.gw.drop_in = 1;
    p.advance(Duration::from_secs(30));
    assert!(p.ike.request.is_some(), "a DPD is outstanding");
    p.ike.close(p.now);
    p.advance(Duration::from_secs(10));
    assert_eq!(p.closed(), Some(None));
    assert!(p.gw.closed_by_client);

    // Same, but the gateway is gone: we asked to close, so that is no error either.
    let mut p = Pair::up(config(), gateway());
    p.advance(Duration::from_secs(30));
    p.gw.deaf = true;
    p.advance(Duration::from_secs(30));
    assert!(p.ike.request.is_some());
    p.ike.close(p.now);
    p.advance(Duration::from_secs(1000));
    assert_eq!(p.closed(), Some(None));
}

/// RFC 7383: with fragmentation negotiated, an IKE_AUTH request larger than the fragment size
/// goes out as authenticated SKF fragments no larger than it; without, never.
#[test]
fn large_ike_auth_is_fragmented_when_negotiated() {
    let mut gw = gateway();
    gw.fragmentation = true;
    let mut cfg = config();
    cfg.fragment_size = 200;
    let p = Pair::up_keep(cfg, gw);
    let auth: Vec<&Vec<u8>> = p
        .sent
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d.get(18) == Some(&35))
        .collect();
    assert!(auth.len() > 1, "IKE_AUTH in {} datagrams", auth.len());
    for d in &auth {
        assert!(d.len() <= 200, "a fragment of {} bytes", d.len());
        assert_eq!(d[16], crate::v2::wire::payload_type::SKF);
    }

    // The gateway does not offer it: one datagram, however large.
    let mut cfg = config();
    cfg.fragment_size = 200;
    let p = Pair::up_keep(cfg, gateway());
    let auth = p
        .sent
        .iter()
        .filter(|(_, d)| d.get(18) == Some(&35))
        .count();
    assert_eq!(auth, 1);
}

impl Pair {
    /// Like [`Pair::up`], keeping what was sent.
    fn up_keep(cfg: Config, gw: Responder) -> Pair {
        let mut p = Pair::new(cfg, gw);
        p.pump();
        assert!(p.ike.is_established(), "setup failed: {:?}", p.events);
        p
    }
}

/// The test gateway with the fixture certificate (`vpn.example.net`, valid 2025–2035).
fn cert_gateway() -> Responder {
    let mut gw = gateway();
    gw.id = Identification::from_text("vpn.example.net");
    gw.cert = Some((
        include_bytes!("../../testdata/gw.der").to_vec(),
        crate::cert::PrivateKey::from_der(include_bytes!("../../testdata/gw.key")).unwrap(),
    ));
    gw
}

fn year_2030() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(60 * 365 * 86400)
}

fn eap_config(password: &str) -> Config {
    let mut c = config();
    c.auth = LocalAuth::Eap {
        identity: b"alice".to_vec(),
        username: "alice".into(),
        password: zeroize::Zeroizing::new(password.into()),
    };
    c.remote_id = Some(Identification::from_text("vpn.example.net"));
    c.trust_anchors =
        vec![crate::cert::Cert::from_der(include_bytes!("../../testdata/ca.der")).unwrap()];
    c.wall_clock = Some(year_2030());
    c
}

fn closed_error(p: &Pair) -> Option<&Error> {
    p.events.iter().find_map(|e| match e {
        Event::Closed { error } => error.as_ref(),
        _ => None,
    })
}

#[test]
fn eap_mschapv2_with_gateway_certificate() {
    let mut gw = cert_gateway();
    gw.eap = Some(("alice".into(), "secret password".into()));
    let p = Pair::up_keep(eap_config("secret password"), gw);
    assert_eq!(p.gw.eap_identity, b"alice");
    let up = p.events.iter().find_map(|e| match e {
        Event::IkeSaUp { remote_id, .. } => Some(remote_id.clone()),
        _ => None,
    });
    assert_eq!(up.as_deref(), Some("vpn.example.net"));
    assert!(p.events.iter().any(|e| matches!(e, Event::ChildSaUp(_))));
    // IKE_AUTH: first request, identity, MSCHAPv2 response, success ack, final AUTH.
    let auths = p
        .sent
        .iter()
        .filter(|(_, d)| d.get(18) == Some(&35))
        .count();
    assert_eq!(auths, 5);
}

#[test]
fn eap_and_certificate_failures() {
    // Wrong password.
    let mut gw = cert_gateway();
    gw.eap = Some(("alice".into(), "secret password".into()));
    let mut p = Pair::new(eap_config("guess"), gw);
    p.pump();
    let e = closed_error(&p).unwrap();
    assert!(matches!(e, Error::EapFailed { .. }), "{e:?}");
    assert!(e.to_string().contains("wrong username or password"), "{e}");

    // The clock says 2020: not valid yet, with the clock hint.
    let mut gw = cert_gateway();
    gw.eap = Some(("alice".into(), "pw".into()));
    let mut c = eap_config("pw");
    c.wall_clock = Some(std::time::UNIX_EPOCH + Duration::from_secs(50 * 365 * 86400));
    let mut p = Pair::new(c, gw);
    p.pump();
    let e = closed_error(&p).unwrap();
    assert!(matches!(e, Error::CertificateNotYetValid { .. }), "{e:?}");

    // No wall clock given: refused, not accepted.
    let mut gw = cert_gateway();
    gw.eap = Some(("alice".into(), "pw".into()));
    let mut c = eap_config("pw");
    c.wall_clock = None;
    let mut p = Pair::new(c, gw);
    p.pump();
    assert!(matches!(
        closed_error(&p),
        Some(Error::UntrustedCertificate { .. })
    ));

    // The profile expects another name than the certificate holds.
    let mut gw = cert_gateway();
    gw.eap = Some(("alice".into(), "pw".into()));
    let mut c = eap_config("pw");
    c.remote_id = Some(Identification::from_text("vpn.other.example"));
    let mut p = Pair::new(c, gw);
    p.pump();
    let e = closed_error(&p).unwrap();
    assert!(matches!(e, Error::IdentityMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("vpn.other.example"), "{e}");
    assert!(e.to_string().contains("vpn.example.net"), "{e}");

    // A signature that does not verify.
    let mut gw = cert_gateway();
    gw.eap = Some(("alice".into(), "pw".into()));
    gw.wrong_auth = true;
    let mut p = Pair::new(eap_config("pw"), gw);
    p.pump();
    assert!(matches!(
        closed_error(&p),
        Some(Error::PeerAuthenticationFailed { .. })
    ));

    // A gateway that proves itself with a PSK to an EAP client is refused.
    let mut p = Pair::new(eap_config("pw"), gateway());
    p.pump();
    assert!(closed_error(&p).is_some());
    assert!(!p.events.iter().any(|e| matches!(e, Event::IkeSaUp { .. })));
}

#[test]
fn client_certificate_both_ways() {
    let key = include_bytes!("../../testdata/gw.key");
    let mut c = eap_config("unused");
    // The fixture certificate doubles as the client's (its key signs, the gateway verifies).
    c.auth = LocalAuth::Certificate {
        chain: vec![crate::cert::Cert::from_der(include_bytes!("../../testdata/gw.der")).unwrap()],
        key: crate::cert::PrivateKey::from_der(key).unwrap(),
        rsa_padding: crate::cert::RsaPadding::Pkcs1,
    };
    let p = Pair::up_keep(c, cert_gateway());
    assert!(p.events.iter().any(|e| matches!(e, Event::ChildSaUp(_))));
    let first_auth =
        p.gw.rx
            .iter()
            .find(|r| r.header.exchange == ExchangeType::IkeAuth)
            .unwrap();
    assert!(first_auth
        .payloads
        .iter()
        .any(|p| matches!(p, Payload::Cert(_))));
    assert!(first_auth
        .payloads
        .iter()
        .any(|p| matches!(p, Payload::CertReq(_))));
}
