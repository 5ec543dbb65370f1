//! The anti-replay window (RFC 4303 §3.4.3) as a ring of 64-bit words (RFC 6479), with the
//! inference of the high-order half of extended sequence numbers (RFC 4303 Appendix A).

use crate::EspError;

/// The default anti-replay window: 2048 packets.
pub const DEFAULT_REPLAY_WINDOW: u32 = 2048;
/// The smallest window accepted (RFC 4303 §3.4.3 asks for at least 32, and 64 by default).
pub const MIN_REPLAY_WINDOW: u32 = 64;
/// The largest window accepted (its bitmap is 8 KiB).
pub const MAX_REPLAY_WINDOW: u32 = 65536;

const WORD_BITS: u64 = 64;

/// The anti-replay state of one inbound SA.
///
/// The window covers the `size` sequence numbers up to and including the highest one
/// authenticated so far. Bits live in a ring of words one word larger than the window, so
/// that sliding forward clears whole words and never shifts (RFC 6479).
#[derive(Clone)]
pub struct ReplayWindow {
    /// Highest authenticated sequence number (0: none yet).
    top: u64,
    /// The window size in packets (a power of two).
    size: u64,
    /// The ring of bits; its length is a power of two.
    words: Box<[u64]>,
}

impl std::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("top", &self.top)
            .field("size", &self.size)
            .finish()
    }
}

impl ReplayWindow {
    /// A window of `size` packets: a power of two from [`MIN_REPLAY_WINDOW`] to
    /// [`MAX_REPLAY_WINDOW`].
    pub fn new(size: u32) -> Result<ReplayWindow, EspError> {
        if !size.is_power_of_two() || !(MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&size) {
            return Err(EspError::InvalidConfig(
                "the anti-replay window must be a power of two from 64 to 65536",
            ));
        }
        // One spare word so the oldest word in the window is never the one being cleared.
        let words = (u64::from(size) / WORD_BITS + 1).next_power_of_two();
        let words = usize::try_from(words)
            .map_err(|_| EspError::InvalidConfig("anti-replay window too large"))?;
        Ok(ReplayWindow {
            top: 0,
            size: u64::from(size),
            words: vec![0u64; words].into_boxed_slice(),
        })
    }

    /// The window size in packets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The highest authenticated sequence number (0 before the first packet).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Test hook: forget everything and take `top` as the highest number seen.
    #[cfg(test)]
    pub(crate) fn reset_to(&mut self, top: u64) {
        self.words.fill(0);
        self.top = top;
    }

    fn slot(&self, seq: u64) -> (usize, u64) {
        let mask = self.words.len() as u64 - 1;
        // The mask keeps the index below the ring's length, which is a usize.
        let word = ((seq / WORD_BITS) & mask) as usize;
        (word, 1u64 << (seq % WORD_BITS))
    }

    /// The full sequence number of a packet whose header carries `seq_low`: with ESN the
    /// high-order half is inferred from the window (RFC 4303 Appendix A2.2), without it the
    /// number is just the low half.
    pub fn infer(&self, seq_low: u32, esn: bool) -> u64 {
        if !esn {
            return u64::from(seq_low);
        }
        // The window size is at most 2^16, so it fits in u32.
        let w = self.size as u32;
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let bottom = tl.wrapping_sub(w).wrapping_add(1);
        let seq_high = if tl >= w - 1 {
            // Case A: the window lies within one sequence number subspace.
            if seq_low >= bottom {
                th
            } else {
                // Ahead into the next subspace; at the very top nothing is left to infer.
                th.saturating_add(1)
            }
        } else if seq_low >= bottom {
            // Case B, the window spans two subspaces and the number is in the lower one. In
            // subspace 0 there is no lower one: read it as ahead in subspace 0.
            th.saturating_sub(1)
        } else {
            th
        };
        (u64::from(seq_high) << 32) | u64::from(seq_low)
    }

    /// Whether `seq` may be accepted: not zero, not older than the window, not seen. Does not
    /// change the window; call [`ReplayWindow::accept`] once the packet is authenticated.
    pub fn check(&self, seq: u64) -> Result<(), EspError> {
        if seq == 0 {
            return Err(EspError::Replay { seq });
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(EspError::Replay { seq });
        }
        let (word, bit) = self.slot(seq);
        match self.words.get(word) {
            Some(w) if w & bit == 0 => Ok(()),
            _ => Err(EspError::Replay { seq }),
        }
    }

    /// Records an authenticated `seq`, sliding the window forward if it is the newest. Checks
    /// again, so that a caller that skipped [`ReplayWindow::check`] still cannot accept twice.
    pub fn accept(&mut self, seq: u64) -> Result<(), EspError> {
        self.check(seq)?;
        if seq > self.top {
            let old_word = self.top / WORD_BITS;
            let new_word = seq / WORD_BITS;
            // Clear the words that slide into the window (at most the whole ring).
            let n = (new_word - old_word).min(self.words.len() as u64);
            for i in 1..=n {
                let (word, _) = self.slot((old_word + i) * WORD_BITS);
                if let Some(w) = self.words.get_mut(word) {
                    *w = 0;
                }
            }
            self.top = seq;
        }
        let (word, bit) = self.slot(seq);
        if let Some(w) = self.words.get_mut(word) {
            *w |= bit;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// RFC 4303 Appendix A: any number from the bottom of the window up to 2^32 - W
        /// ahead of the top is reconstructed exactly from its low half.
        #[test]
        fn esn_inference_is_exact(
            log_w in 6u32..=16,
            top in 0u64..(u64::MAX - (1 << 33)),
            delta in 0u64..(1 << 32),
        ) {
            let size = 1u32 << log_w;
            let w = u64::from(size);
            let top = top.max(w);
            let mut win = ReplayWindow::new(size).unwrap();
            win.reset_to(top);
            // From top - w + 1 to top + 2^32 - w.
            let seq = top - w + 1 + delta;
            prop_assert_eq!(win.infer(seq as u32, true), seq);
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        for s in [0, 1, 32, 100, 3000, 1 << 17] {
            assert!(ReplayWindow::new(s).is_err(), "{s}");
        }
        for s in [64, 128, 1024, 2048, 65536] {
            assert_eq!(ReplayWindow::new(s).unwrap().size(), u64::from(s));
        }
    }

    #[test]
    fn in_order_and_duplicates() {
        let mut w = ReplayWindow::new(64).unwrap();
        assert!(w.check(0).is_err());
        for s in 1..1000 {
            w.accept(s).unwrap();
            assert_eq!(w.accept(s), Err(EspError::Replay { seq: s }));
        }
    }

    #[test]
    fn window_edges() {
        let mut w = ReplayWindow::new(2048).unwrap();
        w.accept(10_000).unwrap();
        // Oldest inside the window: 10_000 - 2047.
        assert!(w.check(10_000 - 2047).is_ok());
        assert!(w.check(10_000 - 2048).is_err());
        w.accept(10_000 - 2047).unwrap();
        assert!(w.check(10_000 - 2047).is_err());
        // Everything in between not seen yet.
        for s in (10_000 - 2046)..10_000 {
            assert!(w.check(s).is_ok(), "{s}");
        }
        // A big jump clears everything.
        w.accept(1_000_000).unwrap();
        for s in (1_000_000 - 2047)..1_000_000 {
            assert!(w.check(s).is_ok(), "{s}");
        }
        assert!(w.check(1_000_000 - 2048).is_err());
    }

    #[test]
    fn out_of_order_once() {
        let mut w = ReplayWindow::new(1024).unwrap();
        let order = [5u64, 3, 9, 1, 2, 8, 7, 4, 6, 1030, 10, 1029, 6, 7];
        let mut seen = std::collections::HashSet::new();
        for s in order {
            let fresh = seen.insert(s) && w.top().saturating_sub(s) < 1024;
            assert_eq!(w.accept(s).is_ok(), fresh, "{s}");
        }
    }

    #[test]
    fn matches_naive_model() {
        // Compare with a set-based model over a pseudo-random walk.
        let mut w = ReplayWindow::new(128).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut top = 0u64;
        let mut x: u64 = 0x1234_5678;
        let mut base = 1u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            base += x % 3;
            let s = base + (x >> 8) % 300;
            let s = s.saturating_sub(150);
            let expect = s != 0 && !seen.contains(&s) && (s > top || top - s < 128);
            assert_eq!(w.accept(s).is_ok(), expect, "seq {s} top {top}");
            if expect {
                seen.insert(s);
                top = top.max(s);
            }
        }
    }

    #[test]
    fn esn_inference() {
        let mut w = ReplayWindow::new(64).unwrap();
        // Nothing seen: low numbers are in subspace 0, so are huge ones (no subspace -1).
        assert_eq!(w.infer(1, true), 1);
        assert_eq!(w.infer(u32::MAX, true), u64::from(u32::MAX));
        assert_eq!(w.infer(7, false), 7);
        w.accept(u64::from(u32::MAX) - 10).unwrap();
        // Case A: just below the top and ahead across the boundary.
        assert_eq!(w.infer(u32::MAX - 20, true), u64::from(u32::MAX) - 20);
        assert_eq!(w.infer(5, true), (1 << 32) + 5);
        w.accept((1 << 32) + 5).unwrap();
        // Case B: the window spans the boundary.
        assert_eq!(w.infer(u32::MAX - 20, true), u64::from(u32::MAX) - 20);
        assert_eq!(w.infer(3, true), (1 << 32) + 3);
        assert_eq!(w.infer(100, true), (1 << 32) + 100);
        // The top subspace saturates instead of wrapping.
        let mut w = ReplayWindow::new(64).unwrap();
        w.accept(u64::MAX - 1).unwrap();
        assert_eq!(w.infer(5, true), (u64::from(u32::MAX) << 32) | 5);
    }
}
