//! Throughput of ESP seal/open for 1400-byte tunnel packets, against the raw provider
//! primitives on the same 1400 bytes measured in the same run (goal: ESP ≥ 80 % of raw).
//!
//! `cargo bench -p strait-esp -- --warm-up-time 1 --measurement-time 2`
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use strait_crypto::CryptoProvider;
use strait_esp::{EspAlgorithms, InboundSa, Mode, OutboundSa, SaConfig};

const LEN: usize = 1400;
const SPI: u32 = 0x1000_0001;

fn inner_packet() -> Vec<u8> {
    let mut p = vec![0xa5u8; LEN];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(LEN as u16).to_be_bytes());
    p
}

fn sas(p: &dyn CryptoProvider, algs: EspAlgorithms) -> (OutboundSa, InboundSa) {
    let config = SaConfig::new(SPI, algs).with_mode(Mode::Tunnel);
    let ek = vec![0x11u8; algs.encr_key_len()];
    let ik = vec![0x22u8; algs.integ_key_len()];
    let out = OutboundSa::new(p, &config, &ek, &ik).expect("outbound SA");
    let inb = InboundSa::new(p, &config, &ek, &ik).expect("inbound SA");
    (out, inb)
}

fn bench_esp(c: &mut Criterion, p: &dyn CryptoProvider, name: &str, algs: EspAlgorithms) {
    let name = format!("{}/{name}", p.name());
    let inner = inner_packet();
    let (mut out, mut inb) = sas(p, algs);
    let hl = out.header_len();
    let mut buf = vec![0u8; hl + LEN + algs.max_tail_len()];
    buf[hl..hl + LEN].copy_from_slice(&inner);

    let mut g = c.benchmark_group(format!("seal/{name}"));
    g.throughput(Throughput::Bytes(LEN as u64));
    // Reference: the raw primitives over the same 1400 bytes.
    if let Some(alg) = algs.encryption.aead() {
        let aead = p.aead(alg, &vec![0x11u8; alg.key_len()]).expect("aead");
        let mut data = inner.clone();
        let mut tag = [0u8; 16];
        let nonce = [7u8; 12];
        g.bench_function("raw", |b| {
            b.iter(|| {
                aead.seal_in_place(black_box(&nonce), &[0u8; 8], &mut data, &mut tag)
                    .expect("seal");
            })
        });
    } else {
        let cipher = algs.encryption.cbc().expect("cbc");
        let hash = algs.integrity.hash().expect("hmac");
        let cbc = p.cbc(cipher, &vec![0x11u8; cipher.key_len()]).expect("cbc");
        let mac = p
            .hmac(hash, &vec![0x22u8; hash.output_len()])
            .expect("hmac");
        // 1408 = 1400 rounded up to the block: what CBC really encrypts.
        let mut data = vec![0xa5u8; 1408];
        let iv = [3u8; 16];
        g.bench_function("raw", |b| {
            b.iter(|| {
                cbc.encrypt(black_box(&iv), &mut data).expect("encrypt");
                black_box(mac.compute(&[&iv, &data]));
            })
        });
    }
    g.bench_function("esp_in_place", |b| {
        b.iter(|| {
            // The last iteration encrypted the payload in place: make it IPv4 again (one byte;
            // the rest being ciphertext makes no difference to the work).
            buf[hl] = 0x45;
            black_box(out.seal_tunnel_in_place(&mut buf, LEN).expect("seal"));
        })
    });
    let mut wire = vec![0u8; LEN + algs.esp_overhead()];
    g.bench_function("esp_copy", |b| {
        b.iter(|| {
            black_box(out.seal_tunnel(black_box(&inner), &mut wire).expect("seal"));
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("open/{name}"));
    g.throughput(Throughput::Bytes(LEN as u64));
    if let Some(alg) = algs.encryption.aead() {
        let aead = p.aead(alg, &vec![0x11u8; alg.key_len()]).expect("aead");
        let mut sealed = inner.clone();
        let mut tag = [0u8; 16];
        let nonce = [7u8; 12];
        aead.seal_in_place(&nonce, &[0u8; 8], &mut sealed, &mut tag)
            .expect("seal");
        g.bench_function("raw", |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |data| {
                    aead.open_in_place(&nonce, &[0u8; 8], data, &tag)
                        .expect("open");
                },
                BatchSize::SmallInput,
            )
        });
    } else {
        let cipher = algs.encryption.cbc().expect("cbc");
        let hash = algs.integrity.hash().expect("hmac");
        let cbc = p.cbc(cipher, &vec![0x11u8; cipher.key_len()]).expect("cbc");
        let mac = p
            .hmac(hash, &vec![0x22u8; hash.output_len()])
            .expect("hmac");
        let iv = [3u8; 16];
        let mut sealed = vec![0xa5u8; 1408];
        cbc.encrypt(&iv, &mut sealed).expect("encrypt");
        let tag = mac.compute(&[&iv, &sealed]);
        let icv = &tag.as_bytes()[..algs.icv_len()];
        g.bench_function("raw", |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |data| {
                    mac.verify_truncated(&[&iv, data], icv).expect("verify");
                    cbc.decrypt(&iv, data).expect("decrypt");
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.bench_function("esp_in_place", |b| {
        b.iter_batched_ref(
            || {
                let n = out.seal_tunnel(&inner, &mut wire).expect("seal");
                wire[..n].to_vec()
            },
            |packet| {
                black_box(inb.open_in_place(packet).expect("open"));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Every algorithm with every provider: the default (fastest) one and the portable one.
fn benches(c: &mut Criterion) {
    let ring = strait_crypto::ring_provider::RingProvider::default();
    let rustcrypto = strait_crypto::rustcrypto::RustCryptoProvider;
    let providers: [&dyn CryptoProvider; 2] = [&ring, &rustcrypto];
    for p in providers {
        bench_esp(c, p, "aes256gcm", EspAlgorithms::AES256_GCM);
        bench_esp(c, p, "chacha20poly1305", EspAlgorithms::CHACHA20_POLY1305);
        bench_esp(c, p, "aes256cbc-sha256", EspAlgorithms::AES256_CBC_SHA256);
    }
}

criterion_group!(esp, benches);
criterion_main!(esp);
