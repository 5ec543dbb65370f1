//! ring against RustCrypto on Strait's hot paths: ESP-sized AEAD seals and HMACs (1400-byte
//! packets), and one side of an IKE key exchange (key generation plus the shared secret).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use strait_crypto::rustcrypto::RustCryptoProvider;
use strait_crypto::{AeadAlg, CryptoProvider, DhGroup, HashAlg};

/// ESP payload size typical for a tunnelled full-size packet.
const PACKET: usize = 1400;

fn providers() -> Vec<Box<dyn CryptoProvider>> {
    #[allow(unused_mut)]
    let mut all: Vec<Box<dyn CryptoProvider>> = vec![Box::new(RustCryptoProvider)];
    #[cfg(feature = "ring")]
    all.insert(
        0,
        Box::new(strait_crypto::ring_provider::RingProvider::default()),
    );
    all
}

fn aead_seal(c: &mut Criterion) {
    for (alg, name) in [
        (AeadAlg::Aes256Gcm16, "aes256gcm_seal_1400"),
        (AeadAlg::ChaCha20Poly1305, "chacha20poly1305_seal_1400"),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(PACKET as u64));
        for provider in providers() {
            let aead = provider.aead(alg, &[0x42; 32][..alg.key_len()]).unwrap();
            let aad = [0u8; 8];
            let mut buf = vec![0xa5u8; PACKET];
            let mut tag = [0u8; 16];
            let mut counter = 0u64;
            group.bench_function(BenchmarkId::from_parameter(provider.name()), |b| {
                b.iter(|| {
                    counter = counter.wrapping_add(1);
                    let mut nonce = [0u8; 12];
                    nonce[4..].copy_from_slice(&counter.to_be_bytes());
                    aead.seal_in_place(&nonce, &aad, black_box(&mut buf), &mut tag)
                        .unwrap();
                    black_box(&tag);
                })
            });
        }
        group.finish();
    }
}

fn hmac_sha256(c: &mut Criterion) {
    let mut group = c.benchmark_group("hmac_sha256_1400");
    group.throughput(Throughput::Bytes(PACKET as u64));
    let data = vec![0x5au8; PACKET];
    for provider in providers() {
        let mac = provider.hmac(HashAlg::Sha256, &[0x17; 32]).unwrap();
        group.bench_function(BenchmarkId::from_parameter(provider.name()), |b| {
            b.iter(|| black_box(mac.compute(&[black_box(&data)])))
        });
    }
    group.finish();
}

fn key_exchange(c: &mut Criterion) {
    for (dh, name) in [
        (DhGroup::Ecp256, "kex_ecp256"),
        (DhGroup::Curve25519, "kex_x25519"),
        (DhGroup::Modp2048, "kex_modp2048"),
    ] {
        let mut group = c.benchmark_group(name);
        if dh == DhGroup::Modp2048 {
            group.sample_size(10);
        }
        for provider in providers() {
            let peer = provider.key_exchange(dh).unwrap().public_key().to_vec();
            group.bench_function(BenchmarkId::from_parameter(provider.name()), |b| {
                b.iter(|| {
                    let ours = provider.key_exchange(dh).unwrap();
                    black_box(ours.public_key());
                    black_box(ours.complete(black_box(&peer)).unwrap())
                })
            });
        }
        group.finish();
    }
}

/// The benchmark group (in its own module: the macro's function has no doc comment).
mod group {
    #![allow(missing_docs)]
    use super::{aead_seal, hmac_sha256, key_exchange};
    criterion::criterion_group!(benches, aead_seal, hmac_sha256, key_exchange);
}

criterion_main!(group::benches);
