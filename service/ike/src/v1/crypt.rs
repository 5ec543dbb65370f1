//! Encryption of ISAKMP messages (RFC 2408 §3.1 E flag, RFC 2409 Appendix B): CBC with the
//! phase 1 cipher, the IV chained from the last ciphertext block of the previous message of
//! the same exchange.
//!
//! Phase 1 has one chain. Every later exchange (Quick Mode, transaction, informational) starts
//! its own chain at `hash(last phase 1 block | M-ID)` and continues it within that M-ID. The
//! chains live here, keyed by message ID; only a message that decrypted and was accepted moves
//! a chain forward, so retransmissions and forgeries cannot desynchronise it.

use std::collections::VecDeque;

use strait_crypto::{CbcCipher, CryptoError, CryptoProvider, HashAlg};

use super::keys;

/// The most exchanges whose IV chains we remember at once.
const MAX_CHAINS: usize = 16;

/// The phase 1 cipher with its IV chains.
pub struct Crypter {
    cipher: Box<dyn CbcCipher>,
    hash: HashAlg,
    block: usize,
    /// The phase 1 chain; after phase 1 this is the "last phase 1 CBC block".
    phase1_iv: Vec<u8>,
    /// Chains of later exchanges by message ID, oldest first.
    chains: VecDeque<(u32, Vec<u8>)>,
}

impl Crypter {
    /// A crypter for a freshly keyed ISAKMP SA, starting at the phase 1 IV.
    pub fn new(
        cipher: Box<dyn CbcCipher>,
        hash: HashAlg,
        block: usize,
        phase1_iv: Vec<u8>,
    ) -> Crypter {
        Crypter {
            cipher,
            hash,
            block,
            phase1_iv,
            chains: VecDeque::new(),
        }
    }

    fn iv(&mut self, p: &dyn CryptoProvider, msg_id: u32) -> Result<Vec<u8>, CryptoError> {
        if msg_id == 0 {
            return Ok(self.phase1_iv.clone());
        }
        if let Some((_, iv)) = self.chains.iter().find(|(id, _)| *id == msg_id) {
            return Ok(iv.clone());
        }
        keys::message_iv(p, self.hash, &self.phase1_iv, msg_id, self.block)
    }

    /// Moves the chain of `msg_id` to `iv` (the last ciphertext block just sent or accepted).
    pub fn advance(&mut self, msg_id: u32, iv: Vec<u8>) {
        if msg_id == 0 {
            self.phase1_iv = iv;
            return;
        }
        self.chains.retain(|(id, _)| *id != msg_id);
        if self.chains.len() >= MAX_CHAINS {
            self.chains.pop_front();
        }
        self.chains.push_back((msg_id, iv));
    }

    /// Encrypts `plain` (zero-padded to the block size) for message `msg_id` and advances its
    /// chain.
    pub fn encrypt(
        &mut self,
        p: &dyn CryptoProvider,
        msg_id: u32,
        plain: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let iv = self.iv(p, msg_id)?;
        let mut data = plain.to_vec();
        let padded = data.len().div_ceil(self.block).max(1) * self.block;
        data.resize(padded, 0);
        if let Err(e) = self.cipher.encrypt(&iv, &mut data) {
            zeroize::Zeroize::zeroize(&mut data);
            return Err(e);
        }
        let last = data[data.len() - self.block..].to_vec();
        self.advance(msg_id, last);
        Ok(data)
    }

    /// Decrypts `cipher` of message `msg_id`; returns the plaintext (padding included) and
    /// the IV that continues the chain if the caller accepts the message.
    pub fn decrypt(
        &mut self,
        p: &dyn CryptoProvider,
        msg_id: u32,
        cipher: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        if cipher.is_empty() || cipher.len() % self.block != 0 {
            return Err(CryptoError::InvalidLength("ISAKMP ciphertext"));
        }
        let iv = self.iv(p, msg_id)?;
        let next = cipher[cipher.len() - self.block..].to_vec();
        let mut data = cipher.to_vec();
        self.cipher.decrypt(&iv, &mut data)?;
        Ok((data, next))
    }

    /// Forgets the chain of a finished exchange.
    pub fn forget(&mut self, msg_id: u32) {
        self.chains.retain(|(id, _)| *id != msg_id);
    }

    /// The cipher's block size.
    pub fn block(&self) -> usize {
        self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_crypto::CipherAlg;

    fn pair() -> (Crypter, Crypter, std::sync::Arc<dyn CryptoProvider>) {
        let p = strait_crypto::default_provider();
        let mk = || {
            Crypter::new(
                p.cbc(CipherAlg::Aes128Cbc, &[7; 16]).unwrap(),
                HashAlg::Sha256,
                16,
                vec![1; 16],
            )
        };
        (mk(), mk(), p.clone())
    }

    #[test]
    fn chains_follow_each_exchange() {
        let (mut a, mut b, p) = pair();
        // Phase 1: two messages in a row on the same chain.
        for msg in [&b"first phase 1 message"[..], b"second"] {
            let c = a.encrypt(&*p, 0, msg).unwrap();
            assert_eq!(c.len() % 16, 0);
            let (plain, next) = b.decrypt(&*p, 0, &c).unwrap();
            assert_eq!(&plain[..msg.len()], msg);
            assert!(plain[msg.len()..].iter().all(|x| *x == 0));
            b.advance(0, next);
        }
        // Two exchanges interleaved, each with its own chain from the phase 1 IV.
        let c1 = a.encrypt(&*p, 5, b"quick mode 1").unwrap();
        let c2 = a.encrypt(&*p, 9, b"informational").unwrap();
        let (p2, n2) = b.decrypt(&*p, 9, &c2).unwrap();
        b.advance(9, n2);
        let (p1, n1) = b.decrypt(&*p, 5, &c1).unwrap();
        b.advance(5, n1);
        assert!(p1.starts_with(b"quick mode 1"));
        assert!(p2.starts_with(b"informational"));
        // The answer in exchange 5 chains from the last block of c1.
        let r = b.encrypt(&*p, 5, b"quick mode 2").unwrap();
        let (pr, _) = a.decrypt(&*p, 5, &r).unwrap();
        assert!(pr.starts_with(b"quick mode 2"));
    }

    #[test]
    fn bad_lengths_are_errors() {
        let (mut a, _, p) = pair();
        assert!(a.decrypt(&*p, 0, &[0; 15]).is_err());
        assert!(a.decrypt(&*p, 0, &[]).is_err());
    }
}
