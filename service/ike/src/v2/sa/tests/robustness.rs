//! Robustness: broken and random datagrams, and long runs on a lossy network with both sides
//! busy, checked with proptest.

use proptest::prelude::*;

use super::*;

/// Broken versions of `valid`: cut at `cut`, one bit flipped at `flip`, and `garbage` behind
/// a header that looks right (`header`).
fn mangle(
    valid: &[u8],
    cut: usize,
    flip: usize,
    bit: u8,
    garbage: &[u8],
    header: Header,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    out.push(valid[..cut % valid.len()].to_vec());
    let mut flipped = valid.to_vec();
    flipped[flip % valid.len()] ^= 1 << bit;
    out.push(flipped);
    out.push(garbage.to_vec());
    // The right header in front of garbage, with a consistent length.
    let mut h = header;
    h.length = (28 + garbage.len()) as u32;
    let mut framed = Vec::new();
    h.emit(&mut framed);
    framed.extend_from_slice(garbage);
    out.push(framed);
    // The right header and an SK payload header around garbage.
    let mut h = header;
    h.next_payload = 46;
    h.length = (32 + garbage.len()) as u32;
    let mut sk = Vec::new();
    h.emit(&mut sk);
    sk.extend_from_slice(&[0, 0]);
    sk.extend_from_slice(&((4 + garbage.len()) as u16).to_be_bytes());
    sk.extend_from_slice(garbage);
    out.push(sk);
    // A valid message with its length field claiming more than there is.
    let mut lying = valid.to_vec();
    lying[24..28].copy_from_slice(&(valid.len() as u32 + 1).to_be_bytes());
    out.push(lying);
    out
}

fn header_of(data: &[u8]) -> Header {
    Header::parse(data).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Broken requests and responses never panic and never hurt an established SA: the genuine
    /// message that follows is handled normally.
    #[test]
    fn broken_messages_do_not_hurt_an_established_sa(
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<usize>(),
        flip in any::<usize>(),
        bit in 0u8..8,
        id in any::<u32>(),
        flags in any::<u8>(),
    ) {
        let mut p = Pair::up(config(), gateway());

        // A request from the gateway (a child rekey, so that processing it twice would show).
        let gw_child = p.gw.children[0].spi_in;
        p.gw.auto_delete = false;
        p.gw.start_child_rekey(gw_child);
        let request = p.gw.outbox.pop_front().unwrap();
        let mut h = header_of(&request);
        h.message_id = id;
        h.flags = flags;
        for bad in mangle(&request, cut, flip, bit, &garbage, h) {
            p.ike.handle_datagram(p.now, &bad);
            prop_assert!(p.ike.poll_transmit().is_none(), "answered a broken request");
        }
        prop_assert!(p.ike.is_established());
        // The genuine request, with junk after it (ignored beyond the length field).
        let mut padded = request.clone();
        padded.extend_from_slice(&garbage);
        p.ike.handle_datagram(p.now, &padded);
        let answer = p.ike.poll_transmit().expect("the genuine request is answered");
        p.gw.receive(&answer.data);
        let events = p.take_events();
        prop_assert_eq!(child_ups(&events).len(), 1);
        prop_assert!(!p.gw.busy());

        // A response to our DPD.
        p.ike.enqueue(crate::v2::sa::Task::Dpd);
        p.ike.start_next(p.now);
        let dpd = p.ike.poll_transmit().expect("DPD");
        p.gw.receive(&dpd.data);
        let response = p.gw.outbox.pop_front().unwrap();
        let mut h = header_of(&response);
        h.message_id = id;
        for bad in mangle(&response, cut, flip, bit, &garbage, h) {
            p.ike.handle_datagram(p.now, &bad);
        }
        prop_assert!(p.ike.request.is_some(), "a broken response was taken for the answer");
        // A replay of the gateway's earlier request is answered from the cache, at most.
        p.ike.handle_datagram(p.now, &request);
        p.ike.handle_datagram(p.now, &response);
        prop_assert!(p.ike.request.is_none());
        while p.ike.poll_transmit().is_some() {}
        prop_assert!(p.ike.is_established());
        let events = p.take_events();
        prop_assert!(events.is_empty(), "{:?}", events);
        prop_assert_eq!(p.ike.children.len(), 2);
    }

    /// During IKE_SA_INIT, truncated answers and garbage are ignored; bit flips may fail the
    /// attempt (nothing is authenticated yet) but never panic.
    #[test]
    fn broken_init_responses(
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<usize>(),
        flip in any::<usize>(),
        bit in 0u8..8,
    ) {
        let mut p = Pair::new(config(), gateway());
        let init = p.ike.poll_transmit().unwrap();
        p.gw.receive(&init.data);
        let response = p.gw.outbox.pop_front().unwrap();
        let truncated = &response[..cut % response.len()];
        p.ike.handle_datagram(p.now, truncated);
        p.ike.handle_datagram(p.now, &garbage);
        prop_assert!(!p.ike.is_closed());
        prop_assert!(p.ike.poll_transmit().is_none());
        let mut flipped = response.clone();
        flipped[flip % response.len()] ^= 1 << bit;
        p.ike.handle_datagram(p.now, &flipped);
        if !p.ike.is_closed() && p.ike.poll_transmit().is_none() {
            // Ignored: the genuine answer still works.
            p.ike.handle_datagram(p.now, &response);
            p.pump();
            prop_assert!(p.ike.is_established());
        } else {
            // Taken (or failed): drive it to its end without panicking.
            p.advance(Duration::from_secs(300));
            prop_assert!(p.ike.is_closed() || p.ike.is_established());
        }
    }

    /// Random datagrams at any point of a connection's life never panic.
    #[test]
    fn random_datagrams_never_panic(
        junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8),
        at in 0usize..4,
    ) {
        let mut p = Pair::new(config(), gateway());
        for _ in 0..at {
            if let Some(t) = p.ike.poll_transmit() {
                p.gw.receive(&t.data);
            }
            while let Some(d) = p.gw.outbox.pop_front() {
                p.ike.handle_datagram(p.now, &d);
            }
        }
        let spi = p.ike.local_spi().to_be_bytes();
        for mut j in junk {
            // Half of them carry our SPI, so they get past the first check.
            if j.len() >= 28 && j[0] & 1 == 0 {
                j[..8].copy_from_slice(&spi);
                j[17] = 0x20;
                let len = j.len() as u32;
                j[24..28].copy_from_slice(&len.to_be_bytes());
            }
            p.ike.handle_datagram(p.now, &j);
        }
        p.pump();
        p.advance(Duration::from_secs(60));
        prop_assert!(p.ike.is_established() || p.ike.is_closed() || p.ike.request.is_some());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// A long life on a lossy network (drops and duplicates in both directions) with frequent
    /// child and IKE rekeys and DPD: the SA either stays up with both sides agreeing on the
    /// IKE SA and every child SA, or closes with a timeout-type error. Never a panic, never a
    /// disagreement.
    #[test]
    fn lossy_network_keeps_both_sides_in_agreement(
        pattern in proptest::collection::vec(0u8..20, 50..200),
    ) {
        let mut cfg = config();
        // A quick retransmission schedule (≈ 21 s in all), so that rekeys have time to finish
        // before the SAs expire (10 % of the lifetime), as with real lifetimes.
        cfg.retransmit = crate::config::Retransmit {
            timeout: Duration::from_secs(1),
            base: 1.5,
            tries: 5,
        };
        cfg.child_lifetime = Duration::from_secs(600);
        cfg.ike_lifetime = Duration::from_secs(1000);
        let mut p = Pair::new(cfg, gateway());
        let mut n = 0usize;
        p.fate = Some(Box::new(move || {
            n += 1;
            match pattern[n % pattern.len()] {
                0..=3 => Fate::Drop,
                4 => Fate::Duplicate,
                _ => Fate::Deliver,
            }
        }));
        p.advance(Duration::from_secs(3000));
        // Then a calm period for deletes and retransmits to settle.
        p.fate = None;
        p.advance(Duration::from_secs(300));
        let events = p.take_events();
        if p.ike.is_closed() {
            let closed = events.iter().find_map(|e| match e {
                Event::Closed { error } => Some(error.clone()),
                _ => None,
            });
            prop_assert!(
                matches!(
                    closed,
                    Some(Some(Error::Timeout { .. } | Error::DeadPeer))
                ),
                "{:?}",
                closed
            );
        } else {
            prop_assert!(p.ike.is_established());
            current_spis(&p);
            let mut ours: Vec<(u32, u32)> =
                p.ike.children.iter().map(|c| (c.spi_out, c.spi_in)).collect();
            let mut theirs: Vec<(u32, u32)> =
                p.gw.children.iter().map(|c| (c.spi_in, c.spi_out)).collect();
            ours.sort();
            theirs.sort();
            prop_assert_eq!(ours, theirs);
            prop_assert_eq!(p.ike.children.len(), 1);
            prop_assert!(p.ike.old.is_empty());
            // Every child the service was told about with keys matches the gateway's.
            for c in child_ups(&events) {
                if p.gw.child(c.spi_out).is_some() {
                    assert_keys_match(&p.gw, c);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Like `lossy_network_keeps_both_sides_in_agreement`, but the gateway is busy too: it
    /// rekeys children and the IKE SA, checks liveness, and retransmits its own requests, so
    /// rekeys from both sides overlap and collide.
    #[test]
    fn busy_gateway_on_a_lossy_network(
        pattern in proptest::collection::vec(0u8..20, 50..200),
        actions in proptest::collection::vec(0u8..12, 50..300),
    ) {
        let mut cfg = config();
        cfg.retransmit = crate::config::Retransmit {
            timeout: Duration::from_secs(1),
            base: 1.5,
            tries: 5,
        };
        cfg.child_lifetime = Duration::from_secs(600);
        cfg.ike_lifetime = Duration::from_secs(1000);
        let mut p = Pair::up(cfg, gateway());
        let mut n = 0usize;
        p.fate = Some(Box::new(move || {
            n += 1;
            match pattern[n % pattern.len()] {
                0..=2 => Fate::Drop,
                3 => Fate::Duplicate,
                _ => Fate::Deliver,
            }
        }));
        for a in &actions {
            p.advance(Duration::from_secs(7));
            if p.ike.is_closed() || p.gw.sa.is_none() {
                break;
            }
            if p.gw.busy() {
                p.gw.retransmit();
                continue;
            }
            match a {
                0 | 1 => {
                    let i = usize::from(*a) % p.gw.children.len().max(1);
                    if let Some(c) = p.gw.children.get(i).map(|c| c.spi_in) {
                        p.gw.start_child_rekey(c);
                    }
                }
                2 => p.gw.start_ike_rekey(),
                3 => p.gw.start_dpd(),
                _ => {}
            }
        }
        // A calm period: the gateway finishes what it started, deletes settle.
        p.fate = None;
        for _ in 0..60 {
            p.advance(Duration::from_secs(5));
            if p.gw.busy() {
                p.gw.retransmit();
            }
        }
        let events = p.take_events();
        if p.ike.is_closed() || p.gw.sa.is_none() {
            let closed = events.iter().find_map(|e| match e {
                Event::Closed { error } => Some(error.clone()),
                _ => None,
            });
            prop_assert!(
                matches!(closed, Some(Some(Error::Timeout { .. } | Error::DeadPeer))),
                "{:?}",
                closed
            );
        } else {
            prop_assert!(p.ike.is_established());
            prop_assert!(!p.gw.busy());
            current_spis(&p);
            let mut ours: Vec<(u32, u32)> =
                p.ike.children.iter().map(|c| (c.spi_out, c.spi_in)).collect();
            let mut theirs: Vec<(u32, u32)> =
                p.gw.children.iter().map(|c| (c.spi_in, c.spi_out)).collect();
            ours.sort();
            theirs.sort();
            prop_assert_eq!(&ours, &theirs);
            prop_assert_eq!(ours.len(), 1, "{:?}", p.ike.children);
            for c in child_ups(&events) {
                if p.gw.child(c.spi_out).is_some() {
                    assert_keys_match(&p.gw, c);
                }
            }
        }
    }
}
