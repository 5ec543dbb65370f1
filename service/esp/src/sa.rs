//! Outbound and inbound ESP security associations: sealing and opening packets in caller
//! buffers (RFC 4303 §3, RFC 4106, RFC 7634, RFC 3602 with RFC 2404 / RFC 4868).
//!
//! Packet layout (RFC 4303 §2):
//!
//! ```text
//! | SPI (4) | Seq (4) | IV | payload | padding 1,2,3… | pad len | next hdr | ICV |
//!                           \______________ encrypted ______________/
//! ```
//!
//! With AEAD the IV is the 64-bit sequence number (unique per key), the nonce is salt ‖ IV and
//! the AAD is SPI ‖ Seq, or SPI ‖ Seq-high ‖ Seq-low with ESN (RFC 4106 §5, RFC 7634 §2.1).
//! With CBC the IV is the sequence number encrypted under a random per-SA key (unpredictable,
//! and no system call per packet), and the ICV is the truncated HMAC over header, IV and
//! ciphertext, followed by the high half of the sequence number with ESN (RFC 4303 §2.2.1).

use std::fmt;
use std::ops::Range;

use strait_crypto::{Aead, CbcCipher, CryptoError, CryptoProvider, Mac};
use zeroize::Zeroizing;

use crate::algorithms::{
    EspAlgorithms, UdpEncap, AEAD_IV_LEN, AEAD_SALT_LEN, ESP_HEADER_LEN, ESP_TRAILER_LEN,
};
use crate::replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW};
use crate::EspError;

/// Next Header value of an IPv4 packet in tunnel mode ("IP-in-IP").
pub const NEXT_HEADER_IPV4: u8 = 4;
/// Next Header value of an IPv6 packet in tunnel mode.
pub const NEXT_HEADER_IPV6: u8 = 41;
/// Next Header value of a dummy packet (RFC 4303 §2.6), discarded by the receiver.
pub const NEXT_HEADER_NO_NEXT: u8 = 59;

/// Largest cipher block (AES), for IVs on the stack.
const MAX_BLOCK_LEN: usize = 16;

/// The ESP mode of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The payload is a whole IP packet (Next Header 4 or 41).
    Tunnel,
    /// The payload is an upper-layer protocol's data (Next Header from the caller).
    Transport,
}

/// Byte and packet limits of an SA (RFC 4301 §4.4.2.1). The service rekeys at the soft limit;
/// at the hard limit the SA refuses to seal or open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lifetime {
    /// Payload bytes after which the SA should be rekeyed.
    pub soft_bytes: Option<u64>,
    /// Payload bytes after which the SA refuses to work.
    pub hard_bytes: Option<u64>,
    /// Packets after which the SA should be rekeyed.
    pub soft_packets: Option<u64>,
    /// Packets after which the SA refuses to work.
    pub hard_packets: Option<u64>,
}

/// Where an SA stands with respect to its [`Lifetime`] (and, outbound, its sequence numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifetimeStatus {
    /// Within every limit.
    Valid,
    /// A soft limit is reached: rekey now.
    SoftExpired,
    /// A hard limit is reached: the SA no longer seals or opens packets.
    HardExpired,
}

impl Lifetime {
    /// No limits.
    pub const UNLIMITED: Lifetime = Lifetime {
        soft_bytes: None,
        hard_bytes: None,
        soft_packets: None,
        hard_packets: None,
    };

    fn status(&self, stats: &SaStats) -> LifetimeStatus {
        let reached = |limit: Option<u64>, value: u64| limit.is_some_and(|l| value >= l);
        if reached(self.hard_bytes, stats.bytes) || reached(self.hard_packets, stats.packets) {
            LifetimeStatus::HardExpired
        } else if reached(self.soft_bytes, stats.bytes) || reached(self.soft_packets, stats.packets)
        {
            LifetimeStatus::SoftExpired
        } else {
            LifetimeStatus::Valid
        }
    }
}

/// Counters of one SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SaStats {
    /// Packets sealed, or opened and authenticated (dummy packets included).
    pub packets: u64,
    /// Payload bytes in those packets (without ESP overhead).
    pub bytes: u64,
    /// Inbound: packets whose ICV did not verify.
    pub auth_failures: u64,
    /// Inbound: packets refused by the anti-replay window.
    pub replays: u64,
    /// Inbound: authenticated packets with bad padding or a tunnel payload that is not IP.
    pub malformed: u64,
    /// Inbound: dummy packets (Next Header 59) discarded.
    pub dummies: u64,
}

/// The parameters of an SA besides its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SaConfig {
    /// The SPI: for an outbound SA the peer's, for an inbound SA ours (never below 256,
    /// RFC 4303 §2.1).
    pub spi: u32,
    /// The negotiated transform.
    pub algorithms: EspAlgorithms,
    /// Extended (64-bit) sequence numbers (RFC 4303 §2.2.1).
    pub esn: bool,
    /// Tunnel or transport mode.
    pub mode: Mode,
    /// UDP encapsulation (RFC 3948), if NAT was detected.
    pub encap: Option<UdpEncap>,
    /// Byte and packet limits.
    pub lifetime: Lifetime,
    /// Inbound only: the anti-replay window in packets (a power of two, 64 to 65536).
    pub replay_window: u32,
}

impl SaConfig {
    /// A tunnel-mode SA without ESN, encapsulation or limits, with the default replay window.
    pub const fn new(spi: u32, algorithms: EspAlgorithms) -> SaConfig {
        SaConfig {
            spi,
            algorithms,
            esn: false,
            mode: Mode::Tunnel,
            encap: None,
            lifetime: Lifetime::UNLIMITED,
            replay_window: DEFAULT_REPLAY_WINDOW,
        }
    }

    /// With or without extended sequence numbers.
    pub const fn with_esn(mut self, esn: bool) -> SaConfig {
        self.esn = esn;
        self
    }

    /// In this mode.
    pub const fn with_mode(mut self, mode: Mode) -> SaConfig {
        self.mode = mode;
        self
    }

    /// With this UDP encapsulation.
    pub const fn with_encap(mut self, encap: Option<UdpEncap>) -> SaConfig {
        self.encap = encap;
        self
    }

    /// With these limits.
    pub const fn with_lifetime(mut self, lifetime: Lifetime) -> SaConfig {
        self.lifetime = lifetime;
        self
    }

    /// With this anti-replay window (inbound).
    pub const fn with_replay_window(mut self, packets: u32) -> SaConfig {
        self.replay_window = packets;
        self
    }

    fn validate(&self, encr_key: &[u8], integ_key: &[u8]) -> Result<(), EspError> {
        self.algorithms.validate()?;
        if self.spi < 256 {
            return Err(EspError::InvalidConfig(
                "SPI values 0 to 255 are reserved (RFC 4303 §2.1)",
            ));
        }
        if encr_key.len() != self.algorithms.encr_key_len() {
            return Err(EspError::KeyLength {
                what: "encryption",
                expected: self.algorithms.encr_key_len(),
                got: encr_key.len(),
            });
        }
        if integ_key.len() != self.algorithms.integ_key_len() {
            return Err(EspError::KeyLength {
                what: "integrity",
                expected: self.algorithms.integ_key_len(),
                got: integ_key.len(),
            });
        }
        Ok(())
    }
}

/// The keyed algorithms of one SA (key schedules live in the provider's objects).
enum Keyed {
    Aead {
        aead: Box<dyn Aead>,
        salt: Zeroizing<[u8; AEAD_SALT_LEN]>,
    },
    Cbc {
        cipher: Box<dyn CbcCipher>,
        mac: Box<dyn Mac>,
        block_len: usize,
        icv_len: usize,
    },
}

impl Keyed {
    fn new(
        provider: &dyn CryptoProvider,
        config: &SaConfig,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<Keyed, EspError> {
        config.validate(encr_key, integ_key)?;
        let algs = config.algorithms;
        if let Some(alg) = algs.encryption.aead() {
            let (key, salt_bytes) = encr_key
                .split_last_chunk::<AEAD_SALT_LEN>()
                .ok_or(EspError::InvalidConfig("AEAD key shorter than its salt"))?;
            Ok(Keyed::Aead {
                aead: provider.aead(alg, key)?,
                salt: Zeroizing::new(*salt_bytes),
            })
        } else {
            let (Some(alg), Some(hash)) = (algs.encryption.cbc(), algs.integrity.hash()) else {
                return Err(EspError::InvalidConfig("unsupported transform"));
            };
            Ok(Keyed::Cbc {
                cipher: provider.cbc(alg, encr_key)?,
                mac: provider.hmac(hash, integ_key)?,
                block_len: alg.block_len(),
                icv_len: algs.integrity.icv_len(),
            })
        }
    }

    /// Checks the ICV and decrypts `ct` in place. `header` is SPI ‖ Seq ‖ IV.
    fn open(
        &self,
        seq: u64,
        esn: bool,
        header: &[u8],
        ct: &mut [u8],
        icv: &[u8],
    ) -> Result<(), EspError> {
        let seq_high = ((seq >> 32) as u32).to_be_bytes();
        let (esp_header, iv) = header
            .split_first_chunk::<ESP_HEADER_LEN>()
            .ok_or(EspError::Truncated)?;
        match self {
            Keyed::Aead { aead, salt } => {
                let nonce = aead_nonce(salt, iv)?;
                let aad = aad(esp_header, seq_high, esn);
                let aad = if esn {
                    &aad[..]
                } else {
                    &aad[..ESP_HEADER_LEN]
                };
                match aead.open_in_place(&nonce, aad, ct, icv) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        // Leave nothing a careless caller could mistake for plaintext.
                        ct.fill(0);
                        Err(match e {
                            CryptoError::AuthenticationFailed => EspError::AuthFailed,
                            other => EspError::Crypto(other),
                        })
                    }
                }
            }
            Keyed::Cbc { cipher, mac, .. } => {
                let high: &[u8] = if esn { &seq_high } else { &[] };
                mac.verify_truncated(&[header, ct, high], icv)
                    .map_err(|_| EspError::AuthFailed)?;
                cipher.decrypt(iv, ct)?;
                Ok(())
            }
        }
    }
}

/// salt ‖ IV (RFC 4106 §4, RFC 7634 §2).
fn aead_nonce(salt: &[u8; AEAD_SALT_LEN], iv: &[u8]) -> Result<[u8; 12], EspError> {
    let mut nonce = [0u8; AEAD_SALT_LEN + AEAD_IV_LEN];
    let iv: &[u8; AEAD_IV_LEN] = iv.try_into().map_err(|_| EspError::Truncated)?;
    nonce[..AEAD_SALT_LEN].copy_from_slice(salt);
    nonce[AEAD_SALT_LEN..].copy_from_slice(iv);
    Ok(nonce)
}

/// SPI ‖ Seq-high ‖ Seq-low with ESN (RFC 4106 §5); the caller takes the first 8 bytes
/// (SPI ‖ Seq) without.
fn aad(esp_header: &[u8; ESP_HEADER_LEN], seq_high: [u8; 4], esn: bool) -> [u8; 12] {
    let mut aad = [0u8; 12];
    if esn {
        aad[..4].copy_from_slice(&esp_header[..4]);
        aad[4..8].copy_from_slice(&seq_high);
        aad[8..].copy_from_slice(&esp_header[4..]);
    } else {
        aad[..ESP_HEADER_LEN].copy_from_slice(esp_header);
    }
    aad
}

fn next_header_for_ip(packet: &[u8]) -> Result<u8, EspError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Ok(NEXT_HEADER_IPV4),
        Some(6) => Ok(NEXT_HEADER_IPV6),
        _ => Err(EspError::BadInnerPacket { next_header: 0 }),
    }
}

/// An outbound SA: seals packets for the peer.
pub struct OutboundSa {
    config: SaConfig,
    keyed: Keyed,
    /// CBC only: encrypts sequence numbers into IVs, under a random key of its own.
    iv_gen: Option<Box<dyn CbcCipher>>,
    /// The next sequence number to send (starts at 1).
    next_seq: u64,
    /// The last sequence number we may send.
    max_seq: u64,
    /// Set once sequence number 2^64 - 1 is used (`next_seq` cannot go past it).
    exhausted: bool,
    stats: SaStats,
}

impl fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundSa")
            .field("config", &self.config)
            .field("next_seq", &self.next_seq)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// An outbound SA with the keys taken from KEYMAT: `encr_key` is
    /// [`EspAlgorithms::encr_key_len`] bytes (with the AEAD salt last), `integ_key`
    /// [`EspAlgorithms::integ_key_len`] bytes (empty for AEAD). The provider expands the keys
    /// now; the caller should zeroize its copies.
    pub fn new(
        provider: &dyn CryptoProvider,
        config: &SaConfig,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<OutboundSa, EspError> {
        let keyed = Keyed::new(provider, config, encr_key, integ_key)?;
        let iv_gen = match config.algorithms.encryption.cbc() {
            Some(alg) => {
                let mut key = Zeroizing::new([0u8; 32]);
                let key = key
                    .get_mut(..alg.key_len())
                    .ok_or(EspError::InvalidConfig("cipher key too long"))?;
                provider.fill_random(key)?;
                Some(provider.cbc(alg, key)?)
            }
            None => None,
        };
        Ok(OutboundSa {
            config: *config,
            keyed,
            iv_gen,
            next_seq: 1,
            exhausted: false,
            max_seq: if config.esn {
                u64::MAX
            } else {
                u64::from(u32::MAX)
            },
            stats: SaStats::default(),
        })
    }

    /// Test hook: jump the sequence number counter (ESN boundary and exhaustion tests).
    #[cfg(test)]
    pub(crate) fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    /// The SA's parameters.
    pub fn config(&self) -> &SaConfig {
        &self.config
    }

    /// The SPI (the peer's).
    pub fn spi(&self) -> u32 {
        self.config.spi
    }

    /// The headroom [`OutboundSa::seal_in_place`] needs before the payload.
    pub fn header_len(&self) -> usize {
        self.config.algorithms.header_len()
    }

    /// The sequence number the next packet gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The counters.
    pub fn stats(&self) -> SaStats {
        self.stats
    }

    /// Where the SA stands: soft-expired also when 7/8 of the sequence numbers are used,
    /// hard-expired when all are.
    pub fn lifetime_status(&self) -> LifetimeStatus {
        if self.exhausted || self.next_seq > self.max_seq {
            return LifetimeStatus::HardExpired;
        }
        match self.config.lifetime.status(&self.stats) {
            LifetimeStatus::Valid if self.next_seq > self.max_seq - self.max_seq / 8 => {
                LifetimeStatus::SoftExpired
            }
            status => status,
        }
    }

    /// Seals a payload that already sits in `buf` at offset [`OutboundSa::header_len`], with
    /// `payload_len` bytes; the ESP packet is written over `buf[..n]`, and `n` returned.
    /// `buf` needs [`EspAlgorithms::max_tail_len`] bytes of tailroom after the payload (at
    /// most; [`EspAlgorithms::sealed_len`] is exact). This is the datapath's call: read from
    /// TUN into a buffer with headroom, seal in place, send.
    pub fn seal_in_place(
        &mut self,
        next_header: u8,
        buf: &mut [u8],
        payload_len: usize,
    ) -> Result<usize, EspError> {
        let algs = self.config.algorithms;
        let hl = algs.header_len();
        let total = algs
            .sealed_len(payload_len)
            .ok_or(EspError::BufferTooSmall {
                needed: usize::MAX,
                available: buf.len(),
            })?;
        if buf.len() < total {
            return Err(EspError::BufferTooSmall {
                needed: total,
                available: buf.len(),
            });
        }
        if self.config.lifetime.status(&self.stats) == LifetimeStatus::HardExpired {
            return Err(EspError::LifetimeExpired);
        }
        let seq = self.next_seq;
        if self.exhausted || seq > self.max_seq {
            return Err(EspError::SequenceExhausted);
        }
        // Consume the number before any encryption: a nonce is never used twice.
        match seq.checked_add(1) {
            Some(next) => self.next_seq = next,
            None => self.exhausted = true,
        }

        let icv_len = algs.icv_len();
        let ct_len = total - hl - icv_len;
        let pad_len = ct_len - payload_len - ESP_TRAILER_LEN;
        let (header, rest) = buf[..total].split_at_mut(hl);
        let (data, icv) = rest.split_at_mut(ct_len);
        // Trailer: padding 1, 2, 3, … (RFC 4303 §2.4), pad length, next header. `pad_len` is
        // below the largest block size, so the casts are exact.
        for (i, b) in data[payload_len..payload_len + pad_len]
            .iter_mut()
            .enumerate()
        {
            *b = (i + 1) as u8;
        }
        data[ct_len - 2] = pad_len as u8;
        data[ct_len - 1] = next_header;

        let (esp_header, iv) = header
            .split_first_chunk_mut::<ESP_HEADER_LEN>()
            .ok_or(EspError::Truncated)?;
        esp_header[..4].copy_from_slice(&self.config.spi.to_be_bytes());
        esp_header[4..].copy_from_slice(&(seq as u32).to_be_bytes());
        let seq_high = ((seq >> 32) as u32).to_be_bytes();
        let esn = self.config.esn;

        match &self.keyed {
            Keyed::Aead { aead, salt } => {
                iv.copy_from_slice(&seq.to_be_bytes());
                let nonce = aead_nonce(salt, iv)?;
                let aad = aad(esp_header, seq_high, esn);
                let aad = if esn {
                    &aad[..]
                } else {
                    &aad[..ESP_HEADER_LEN]
                };
                aead.seal_in_place(&nonce, aad, data, icv)?;
            }
            Keyed::Cbc {
                cipher,
                mac,
                block_len,
                icv_len,
            } => {
                let iv_gen = self
                    .iv_gen
                    .as_ref()
                    .ok_or(EspError::InvalidConfig("CBC SA without IV generator"))?;
                // IV = E_k'(seq) with a random k': unpredictable, unique (RFC 3602 §2).
                let mut block = [0u8; MAX_BLOCK_LEN];
                let block = block.get_mut(..*block_len).ok_or(EspError::Truncated)?;
                let at = block.len() - 8;
                block[at..].copy_from_slice(&seq.to_be_bytes());
                iv_gen.encrypt(&[0u8; MAX_BLOCK_LEN][..*block_len], block)?;
                iv.copy_from_slice(block);
                cipher.encrypt(iv, data)?;
                let high: &[u8] = if esn { &seq_high } else { &[] };
                let tag = mac.compute(&[&header[..], data, high]);
                let tag = tag.as_bytes().get(..*icv_len).ok_or(EspError::Crypto(
                    CryptoError::InvalidLength("HMAC output shorter than the ICV"),
                ))?;
                icv.copy_from_slice(tag);
            }
        }
        self.stats.packets = self.stats.packets.saturating_add(1);
        self.stats.bytes = self.stats.bytes.saturating_add(payload_len as u64);
        Ok(total)
    }

    /// Seals `payload` with `next_header` into `out`, returning the ESP packet's length.
    pub fn seal(
        &mut self,
        next_header: u8,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, EspError> {
        let hl = self.header_len();
        let needed = self
            .config
            .algorithms
            .sealed_len(payload.len())
            .unwrap_or(usize::MAX);
        let available = out.len();
        let dst = out
            .get_mut(hl..hl.saturating_add(payload.len()))
            .filter(|_| needed <= available)
            .ok_or(EspError::BufferTooSmall { needed, available })?;
        dst.copy_from_slice(payload);
        self.seal_in_place(next_header, out, payload.len())
    }

    /// Tunnel mode: seals the IP packet `inner` (Next Header 4 or 41 from its version) into
    /// `out`, returning the ESP packet's length.
    pub fn seal_tunnel(&mut self, inner: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        self.require_tunnel()?;
        let next_header = next_header_for_ip(inner)?;
        self.seal(next_header, inner, out)
    }

    /// Tunnel mode, in place: like [`OutboundSa::seal_in_place`] with the Next Header taken
    /// from the version of the IP packet at `buf[header_len..]`.
    pub fn seal_tunnel_in_place(
        &mut self,
        buf: &mut [u8],
        payload_len: usize,
    ) -> Result<usize, EspError> {
        self.require_tunnel()?;
        let first = buf.get(self.header_len()..).unwrap_or(&[]);
        let next_header = next_header_for_ip(first)?;
        self.seal_in_place(next_header, buf, payload_len)
    }

    /// A dummy packet (Next Header 59, RFC 4303 §2.6) of `len` zero payload bytes, for traffic
    /// flow confidentiality; the peer authenticates and discards it.
    pub fn seal_dummy(&mut self, len: usize, out: &mut [u8]) -> Result<usize, EspError> {
        let hl = self.header_len();
        let available = out.len();
        let payload = out
            .get_mut(hl..hl.saturating_add(len))
            .ok_or(EspError::BufferTooSmall {
                needed: hl.saturating_add(len),
                available,
            })?;
        payload.fill(0);
        self.seal_in_place(NEXT_HEADER_NO_NEXT, out, len)
    }

    fn require_tunnel(&self) -> Result<(), EspError> {
        if self.config.mode == Mode::Tunnel {
            Ok(())
        } else {
            Err(EspError::InvalidConfig(
                "tunnel-mode call on a transport-mode SA",
            ))
        }
    }
}

/// A decrypted, authenticated payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decrypted {
    /// The Next Header field: 4 or 41 in tunnel mode, the upper-layer protocol in transport.
    pub next_header: u8,
    /// Where the payload starts in the buffer it was written to.
    pub offset: usize,
    /// Its length. In tunnel mode this is the inner IP packet's own length, without any TFC
    /// padding the peer added (RFC 4303 §2.7).
    pub len: usize,
    /// The packet's full (with ESN, inferred 64-bit) sequence number.
    pub seq: u64,
}

impl Decrypted {
    /// The payload's byte range in the buffer it was written to.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// What an authenticated inbound packet held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opened {
    /// A payload to deliver.
    Packet(Decrypted),
    /// A dummy packet (Next Header 59, RFC 4303 §2.6): authenticated, counted, to be dropped
    /// silently.
    Dummy {
        /// Its sequence number.
        seq: u64,
    },
}

/// An inbound SA: opens packets from the peer.
pub struct InboundSa {
    config: SaConfig,
    keyed: Keyed,
    window: ReplayWindow,
    stats: SaStats,
}

impl fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundSa")
            .field("config", &self.config)
            .field("window", &self.window)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// An inbound SA with the keys taken from KEYMAT (see [`OutboundSa::new`]).
    pub fn new(
        provider: &dyn CryptoProvider,
        config: &SaConfig,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<InboundSa, EspError> {
        let window = ReplayWindow::new(config.replay_window)?;
        let keyed = Keyed::new(provider, config, encr_key, integ_key)?;
        Ok(InboundSa {
            config: *config,
            keyed,
            window,
            stats: SaStats::default(),
        })
    }

    /// Test hook: as if `seq` had been the last packet, with nothing before it seen.
    #[cfg(test)]
    pub(crate) fn set_highest_seq(&mut self, seq: u64) {
        self.window.reset_to(seq);
    }

    /// The SA's parameters.
    pub fn config(&self) -> &SaConfig {
        &self.config
    }

    /// The SPI (ours).
    pub fn spi(&self) -> u32 {
        self.config.spi
    }

    /// The highest authenticated sequence number (0 before the first packet).
    pub fn highest_seq(&self) -> u64 {
        self.window.top()
    }

    /// The counters.
    pub fn stats(&self) -> SaStats {
        self.stats
    }

    /// Where the SA stands with respect to its lifetime.
    pub fn lifetime_status(&self) -> LifetimeStatus {
        self.config.lifetime.status(&self.stats)
    }

    /// Checks everything that needs no cryptography; returns the sequence number and the
    /// ciphertext length.
    fn precheck(&mut self, packet: &[u8]) -> Result<(u64, usize), EspError> {
        let algs = self.config.algorithms;
        let hl = algs.header_len();
        let icv_len = algs.icv_len();
        let ct_len = packet
            .len()
            .checked_sub(hl + icv_len)
            .filter(|n| *n >= ESP_TRAILER_LEN)
            .ok_or(EspError::Truncated)?;
        if let Keyed::Cbc { block_len, .. } = &self.keyed {
            if ct_len % block_len != 0 {
                return Err(EspError::Misaligned);
            }
        }
        let (spi, rest) = packet.split_first_chunk::<4>().ok_or(EspError::Truncated)?;
        let spi = u32::from_be_bytes(*spi);
        if spi != self.config.spi {
            return Err(EspError::SpiMismatch {
                expected: self.config.spi,
                got: spi,
            });
        }
        let (seq_low, _) = rest.split_first_chunk::<4>().ok_or(EspError::Truncated)?;
        let seq = self
            .window
            .infer(u32::from_be_bytes(*seq_low), self.config.esn);
        if let Err(e) = self.window.check(seq) {
            self.stats.replays = self.stats.replays.saturating_add(1);
            return Err(e);
        }
        if self.lifetime_status() == LifetimeStatus::HardExpired {
            return Err(EspError::LifetimeExpired);
        }
        Ok((seq, ct_len))
    }

    /// After authentication: slides the window, checks the trailer and the inner packet.
    fn finish(&mut self, seq: u64, plaintext: &[u8], offset: usize) -> Result<Opened, EspError> {
        self.window.accept(seq)?;
        let result = parse_plaintext(self.config.mode, plaintext);
        match result {
            Ok((next_header, len)) => {
                self.stats.packets = self.stats.packets.saturating_add(1);
                self.stats.bytes = self.stats.bytes.saturating_add(len as u64);
                if next_header == NEXT_HEADER_NO_NEXT {
                    self.stats.dummies = self.stats.dummies.saturating_add(1);
                    return Ok(Opened::Dummy { seq });
                }
                Ok(Opened::Packet(Decrypted {
                    next_header,
                    offset,
                    len,
                    seq,
                }))
            }
            Err(e) => {
                self.stats.malformed = self.stats.malformed.saturating_add(1);
                Err(e)
            }
        }
    }

    fn verify(
        &mut self,
        seq: u64,
        header: &[u8],
        ct: &mut [u8],
        icv: &[u8],
    ) -> Result<(), EspError> {
        let result = self.keyed.open(seq, self.config.esn, header, ct, icv);
        if result == Err(EspError::AuthFailed) {
            self.stats.auth_failures = self.stats.auth_failures.saturating_add(1);
        }
        result
    }

    /// Opens the ESP packet in `packet` (from the SPI on) in place: the payload is left at
    /// `packet[d.range()]` for a returned [`Opened::Packet`]`(d)`. The anti-replay window moves
    /// only for authenticated packets.
    pub fn open_in_place(&mut self, packet: &mut [u8]) -> Result<Opened, EspError> {
        let (seq, ct_len) = self.precheck(packet)?;
        let hl = self.config.algorithms.header_len();
        let (header, rest) = packet.split_at_mut(hl);
        let (ct, icv) = rest.split_at_mut(ct_len);
        self.verify(seq, header, ct, icv)?;
        self.finish(seq, ct, hl)
    }

    /// Opens the ESP packet in `packet` (from the SPI on) into `out`, which needs room for the
    /// ciphertext (the packet less header, IV and ICV); the payload starts at `out[0]`.
    pub fn open(&mut self, packet: &[u8], out: &mut [u8]) -> Result<Opened, EspError> {
        let (seq, ct_len) = self.precheck(packet)?;
        let hl = self.config.algorithms.header_len();
        let available = out.len();
        let ct = out.get_mut(..ct_len).ok_or(EspError::BufferTooSmall {
            needed: ct_len,
            available,
        })?;
        let (header, rest) = packet.split_at(hl);
        let (src, icv) = rest.split_at(ct_len);
        ct.copy_from_slice(src);
        self.verify(seq, header, ct, icv)?;
        self.finish(seq, ct, 0)
    }
}

/// Checks padding and trailer; returns Next Header and the payload length.
fn parse_plaintext(mode: Mode, plaintext: &[u8]) -> Result<(u8, usize), EspError> {
    let [body @ .., pad_len, next_header] = plaintext else {
        return Err(EspError::Truncated);
    };
    let pad_len = usize::from(*pad_len);
    let payload_len = body
        .len()
        .checked_sub(pad_len)
        .ok_or(EspError::BadPadding)?;
    let (payload, padding) = body.split_at(payload_len);
    // Padding bytes are 1, 2, 3, … (RFC 4303 §2.4). Not constant time: the packet is
    // authenticated already, so this reveals nothing secret.
    if padding
        .iter()
        .enumerate()
        .any(|(i, b)| usize::from(*b) != i + 1)
    {
        return Err(EspError::BadPadding);
    }
    let next_header = *next_header;
    if mode == Mode::Transport || next_header == NEXT_HEADER_NO_NEXT {
        return Ok((next_header, payload_len));
    }
    let bad = EspError::BadInnerPacket { next_header };
    // Tunnel mode: an IP packet of the version Next Header says; its own length may be less
    // than the payload (TFC padding, RFC 4303 §2.7) but never more.
    let ip_len = match (next_header, payload.first().map(|b| b >> 4)) {
        (NEXT_HEADER_IPV4, Some(4)) => match payload.get(2..4) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => return Err(bad),
        },
        (NEXT_HEADER_IPV6, Some(6)) => match payload.get(4..6) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])) + 40,
            _ => return Err(bad),
        },
        _ => return Err(bad),
    };
    let min_header = if next_header == NEXT_HEADER_IPV4 {
        20
    } else {
        40
    };
    if ip_len < min_header || ip_len > payload_len {
        return Err(bad);
    }
    Ok((next_header, ip_len))
}

/// The SPI of an ESP packet (from the SPI on), to find the inbound SA it belongs to; `None`
/// if the packet is too short for an ESP header or the SPI is zero (the non-ESP marker).
pub fn spi_of(packet: &[u8]) -> Option<u32> {
    if packet.len() < ESP_HEADER_LEN {
        return None;
    }
    let (spi, _) = packet.split_first_chunk::<4>()?;
    match u32::from_be_bytes(*spi) {
        0 => None,
        spi => Some(spi),
    }
}
