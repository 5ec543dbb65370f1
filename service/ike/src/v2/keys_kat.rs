//! Known-answer tests for the IKEv2 key schedule in [`super::keys`], from published vectors.
//!
//! The vectors are the NIST CAVS sample vectors for the SP 800-135 IKEv2 KDF ("KDF135 IKEv2"):
//! inputs Ni, Nr, g^ir, g^ir (new), SPIi, SPIr; outputs
//!
//! * `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 §2.14),
//! * `DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)` (§2.14, 1056 bits = 132 bytes),
//! * `DKM(Child SA) = prf+(SK_d, Ni | Nr)` (§2.17),
//! * `DKM(Child SA D-H) = prf+(SK_d, g^ir (new) | Ni | Nr)` (§2.17),
//! * `SKEYSEED(Rekey) = prf(SK_d, g^ir (new) | Ni | Nr)` (§2.18),
//!
//! where SK_d is the first PRF-output-length bytes of DKM. Only the numbers are copied here;
//! each vector names the public files it was taken from. For SHA-2 the published copies carry
//! SKEYSEED, DKM and SKEYSEED(Rekey) but not the two child-SA DKMs, so those two are checked
//! for HMAC-SHA1 only.
//!
//! Every vector is run through both crypto providers (ring and RustCrypto), first through the
//! bare `prf`/`prf_plus` primitives and then through `IkeKeys::derive`, `derive_rekey` and
//! `child_keys`, whose outputs must be the corresponding slices of the published DKMs.

use std::sync::Arc;

use strait_crypto::{CryptoProvider, DhGroup};

use super::keys::{prf, prf_plus, ChildKeys, IkeKeys};
use super::proposal_wire::{NegotiatedEsp, NegotiatedIke};
use crate::proposal::{Encr, Integ, Prf};

/// One CAVS IKEv2 KDF record (hex strings as published).
struct Kat {
    prf: Prf,
    ni: &'static str,
    nr: &'static str,
    g_ir: &'static str,
    g_ir_new: &'static str,
    spi_i: u64,
    spi_r: u64,
    skeyseed: &'static str,
    dkm: &'static str,
    /// `DKM(Child SA)`, where published.
    dkm_child: Option<&'static str>,
    /// `DKM(Child SA D-H)`, where published.
    dkm_child_dh: Option<&'static str>,
    skeyseed_rekey: &'static str,
}

/// NIST CAVS IKEv2 KDF sample, [SHA-1] [Ni length = 64] [Nr length = 64] [g^ir length = 256]
/// [DKM length = 1056] [Child SA DKM length = 1056], COUNT = 0. All five outputs.
///
/// Sources (identical values in each):
/// * libreswan/libreswan `programs/cavp/test.acvp.ikev2.run` (CAVS request/response text) and
///   `programs/cavp/test.acvp.ikev2.json`;
/// * NSS (nss-dev/nss) `gtests/common/testvectors/ike-sha1-vectors.h`, records 6–8 ("from
///   this NIST samples"), as vendored in Floorp-Projects/Floorp at
///   `security/nss/gtests/common/testvectors/ike-sha1-vectors.h`.
const CAVS_SHA1: Kat = Kat {
    prf: Prf::HmacSha1,
    ni: "32b50d5f4a3763f3",
    nr: "9206a04b26564cb1",
    g_ir: "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52",
    g_ir_new: "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330",
    spi_i: 0x34c9_e7c1_8886_8785,
    spi_r: 0x3ff7_7d76_0d2b_2199,
    skeyseed: "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7",
    dkm: concat!(
        "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002",
        "a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a",
        "5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119",
        "8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435",
        "a7a56cc4",
    ),
    dkm_child: Some(concat!(
        "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c581",
        "1a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee7181",
        "4ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf",
        "285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e66499",
        "4d234cb4",
    )),
    dkm_child_dh: Some(concat!(
        "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d373016",
        "28190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c04000",
        "52f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a",
        "05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054",
        "d56fd74c",
    )),
    skeyseed_rekey: "63e81194946ebd05df7df5ebf5d8750056bf1f1d",
};

/// NIST CAVS IKEv2 KDF sample for SHA-256 (g^ir 256 bits, DKM 1056 bits).
///
/// Source: NSS (nss-dev/nss) `gtests/common/testvectors/ike-sha256-vectors.h`, records 6
/// (SKEYSEED), 7 (SKEYSEED(Rekey), keyed with the first 32 bytes of DKM) and 8 (DKM), marked
/// "these vectors are from this NIST samples"; as vendored in Floorp-Projects/Floorp at
/// `security/nss/gtests/common/testvectors/ike-sha256-vectors.h`.
const CAVS_SHA256: Kat = Kat {
    prf: Prf::HmacSha256,
    ni: "3f302be1abcb28e1",
    nr: "8c332ee006064c9b",
    g_ir: "0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29",
    g_ir_new: "25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c",
    spi_i: 0x40da_c39e_1e1a_8640,
    spi_r: 0x8619_a1cf_9a6e_4c07,
    skeyseed: "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe",
    dkm: concat!(
        "0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ec",
        "e98aca531188d16041b3bb936d2dbb3b4993a6e768a809160de45d0283f273a6",
        "cdf6854379e31be72b8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4",
        "e1c19bdcd4db14b29d98db1a74ad405c588662c14a04d0d36aa4ab55e90f8986",
        "d12d4aad",
    ),
    dkm_child: None,
    dkm_child_dh: None,
    skeyseed_rekey: "2d63f6debc92048b4fef3889c4c99ca67d6496e0fac14a2bca9a2d6566ff2398",
};

/// NIST CAVS IKEv2 KDF sample for SHA-384 (g^ir 256 bits, DKM 1056 bits).
///
/// Source: NSS (nss-dev/nss) `gtests/common/testvectors/ike-sha384-vectors.h`, records 6–8
/// ("from this NIST samples"); as vendored in Floorp-Projects/Floorp at
/// `security/nss/gtests/common/testvectors/ike-sha384-vectors.h`.
const CAVS_SHA384: Kat = Kat {
    prf: Prf::HmacSha384,
    ni: "fd1b572a8e735591",
    nr: "6013b0ef88dacd3d",
    g_ir: "d3288cd87565101e88fe3bad918f31939d8dd26ff1071f8b2d7f447524e58d7c",
    g_ir_new: "3358f620539473aee8d07e779764c4c6a9aabddc79a28e136b3bac021dbde44a",
    spi_i: 0x2116_ad07_ce61_f749,
    spi_r: 0x2488_0e55_f11a_65b7,
    skeyseed: concat!(
        "69fe7a1ac94adaeb711295f5fe004b1a8d6a0b65d05692758ce8ad2f7a45f59d",
        "7d0b596f51f7dfcf3330061888f6a94f",
    ),
    dkm: concat!(
        "4f904c2025c90c817ea5ff9b662a6fdb445a73b57cdf09eacd379b95e1f03cac",
        "b04cd6deeda4f952191dd9bc1f7a9502471a648d74dc06d38112de48a42501f6",
        "b1a3ad55c2099cd9a648e5f17e5bf3e34bf9b5953decb768a34f875fe2b78dca",
        "0c2fcca81ec1a412006dfaed38fa06882e61f4c148105fb8e231fdb33c4d484c",
        "001721d4",
    ),
    dkm_child: None,
    dkm_child_dh: None,
    skeyseed_rekey: concat!(
        "e0548c1682e13bce454026b3b1bdf42985b24e4e7408095a7c529de38c3d1fcb",
        "04c9fe6868042a34c9614c6c99e3fcea",
    ),
};

/// NIST CAVS IKEv2 KDF sample for SHA-512 (g^ir 256 bits, DKM 1056 bits).
///
/// Source: NSS (nss-dev/nss) `gtests/common/testvectors/ike-sha512-vectors.h`, records 6–8
/// ("generated by hand from a subset of NIST ike sample CAVs test"); as vendored in
/// Floorp-Projects/Floorp at `security/nss/gtests/common/testvectors/ike-sha512-vectors.h`.
const CAVS_SHA512: Kat = Kat {
    prf: Prf::HmacSha512,
    ni: "97c41a9b0a03e74c",
    nr: "a659fd06e1746600",
    g_ir: "276255c3eaace5c6db32b609aa86c0ef07bba4bf2dc4c262995efd95ca607c3f",
    g_ir_new: "bb4015f7727b35532021336a9e4a6370ac8729b01fbb8f15d52236820fac4709",
    spi_i: 0xff43_c5c6_89b9_5481,
    spi_r: 0xe2ba_607f_3007_9bb7,
    skeyseed: concat!(
        "d6e74966b75fd2afab48be319d63d97c8a5d2ffe2e320763a462c664b36c3a94",
        "4067d867c3a55fd8a7e5cca64b22e24415987e15549f09a81b455adaa5303df8",
    ),
    dkm: concat!(
        "22259105314717dc73c210919ee9cb3ded774dc087e866aa3960404c0ed7b8e7",
        "8e79b993888388e2e5cb238d4bfcb4cdee9da074a26e329d6c2f2f660cc9c711",
        "c941a2fb3d85a2e5d01e579c8f2c9d00fa6fabe76a137b00c7ff1b2918999065",
        "88c26f073d819063238c4c844f0f8d221b65b76dbc9ed6f6368e5dba86b3e81b",
        "60eb44a1",
    ),
    dkm_child: None,
    dkm_child_dh: None,
    skeyseed_rekey: concat!(
        "ecdaf3ccb990abc898a453b03fd56f9975275f150e1e571b0560b3cb2ee67289",
        "e82b899cdc2129fd821fe8aebea796f190765c25798f5883f923526551f16a4b",
    ),
};

/// Both providers, so that a bug in one HMAC backend cannot hide behind the other.
fn providers() -> Vec<Arc<dyn CryptoProvider>> {
    vec![
        strait_crypto::default_provider(),
        Arc::new(strait_crypto::rustcrypto::RustCryptoProvider),
    ]
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

impl Kat {
    fn nonces(&self) -> Vec<u8> {
        [h(self.ni), h(self.nr)].concat()
    }

    /// `Ni | Nr | SPIi | SPIr`.
    fn ike_seed(&self) -> Vec<u8> {
        [
            h(self.ni),
            h(self.nr),
            self.spi_i.to_be_bytes().to_vec(),
            self.spi_r.to_be_bytes().to_vec(),
        ]
        .concat()
    }

    /// SK_d: the first PRF-output-length bytes of DKM.
    fn sk_d(&self) -> Vec<u8> {
        h(self.dkm)[..self.prf.output_len()].to_vec()
    }

    fn derive(&self, p: &dyn CryptoProvider, algs: NegotiatedIke) -> IkeKeys {
        IkeKeys::derive(
            p,
            algs,
            &h(self.g_ir),
            &h(self.ni),
            &h(self.nr),
            self.spi_i,
            self.spi_r,
        )
        .expect("derive")
    }
}

/// All seven keys in the order §2.14 takes them from prf+.
fn concat_ike(k: &IkeKeys) -> Vec<u8> {
    [
        &k.sk_d[..],
        &k.sk_ai,
        &k.sk_ar,
        &k.sk_ei,
        &k.sk_er,
        &k.sk_pi,
        &k.sk_pr,
    ]
    .concat()
}

/// The four child keys in the order §2.17 takes them from KEYMAT.
fn concat_child(c: &ChildKeys) -> Vec<u8> {
    [&c.encr_i[..], &c.integ_i, &c.encr_r, &c.integ_r].concat()
}

fn ike_total(algs: &NegotiatedIke) -> usize {
    3 * algs.prf.output_len()
        + 2 * algs.integ.map_or(0, |i| i.key_len())
        + 2 * algs.encr.keymat_len()
}

/// The published outputs through the bare `prf` / `prf_plus` primitives.
fn check_primitives(kat: &Kat) {
    for p in providers() {
        let name = p.name();
        let (ni, nr, g_ir_new) = (h(kat.ni), h(kat.nr), h(kat.g_ir_new));

        let skeyseed = prf(&*p, kat.prf, &kat.nonces(), &[&h(kat.g_ir)]).expect("prf");
        assert_eq!(
            hex::encode(skeyseed.as_bytes()),
            kat.skeyseed,
            "{name}: SKEYSEED"
        );

        let dkm_len = h(kat.dkm).len();
        let dkm =
            prf_plus(&*p, kat.prf, skeyseed.as_bytes(), &kat.ike_seed(), dkm_len).expect("prf+");
        assert_eq!(hex::encode(&dkm[..]), kat.dkm, "{name}: DKM");

        let sk_d = &dkm[..kat.prf.output_len()];
        if let Some(expected) = kat.dkm_child {
            let out = prf_plus(&*p, kat.prf, sk_d, &kat.nonces(), h(expected).len()).expect("prf+");
            assert_eq!(hex::encode(&out[..]), expected, "{name}: DKM(Child SA)");
        }
        if let Some(expected) = kat.dkm_child_dh {
            let seed = [&g_ir_new[..], &ni, &nr].concat();
            let out = prf_plus(&*p, kat.prf, sk_d, &seed, h(expected).len()).expect("prf+");
            assert_eq!(hex::encode(&out[..]), expected, "{name}: DKM(Child SA D-H)");
        }

        let rekey = prf(&*p, kat.prf, sk_d, &[&g_ir_new, &ni, &nr]).expect("prf");
        assert_eq!(
            hex::encode(rekey.as_bytes()),
            kat.skeyseed_rekey,
            "{name}: SKEYSEED(Rekey)"
        );
    }
}

/// `IkeKeys::derive` for `algs`: its keys, concatenated in §2.14 order, must start with the
/// published DKM (as far as either reaches) and be all of `prf+(SKEYSEED, …)`.
fn check_derive(kat: &Kat, algs: NegotiatedIke) {
    assert_eq!(algs.prf, kat.prf);
    let dkm = h(kat.dkm);
    for p in providers() {
        let name = p.name();
        let keys = kat.derive(&*p, algs);
        let all = concat_ike(&keys);
        let total = ike_total(&algs);
        assert_eq!(all.len(), total, "{name} {algs}: key lengths");
        let n = total.min(dkm.len());
        assert_eq!(
            hex::encode(&all[..n]),
            hex::encode(&dkm[..n]),
            "{name} {algs}: keys are not the DKM slices"
        );
        assert_eq!(&keys.sk_d[..], &kat.sk_d()[..], "{name} {algs}: SK_d");
        let full = prf_plus(&*p, kat.prf, &h(kat.skeyseed), &kat.ike_seed(), total).expect("prf+");
        assert_eq!(&all[..], &full[..], "{name} {algs}: keys beyond the DKM");
    }
}

/// `IkeKeys::derive_rekey` must key its prf+ with the published SKEYSEED(Rekey), i.e. use
/// `prf(SK_d (old), g^ir (new) | Ni | Nr)` with the old SA's PRF.
fn check_derive_rekey(kat: &Kat, algs: NegotiatedIke) {
    for p in providers() {
        let name = p.name();
        let old = kat.derive(&*p, algs);
        let new = old
            .derive_rekey(
                &*p,
                algs,
                &h(kat.g_ir_new),
                &h(kat.ni),
                &h(kat.nr),
                kat.spi_i,
                kat.spi_r,
            )
            .expect("derive_rekey");
        let expected = prf_plus(
            &*p,
            kat.prf,
            &h(kat.skeyseed_rekey),
            &kat.ike_seed(),
            ike_total(&algs),
        )
        .expect("prf+");
        assert_eq!(
            hex::encode(concat_ike(&new)),
            hex::encode(&expected[..]),
            "{name} {algs}: rekeyed IKE SA keys"
        );
    }
}

fn aes128_sha1() -> NegotiatedIke {
    NegotiatedIke {
        encr: Encr::AesCbc(128),
        integ: Some(Integ::HmacSha1_96),
        prf: Prf::HmacSha1,
        dh: DhGroup::Modp2048,
    }
}

fn aes128_sha256() -> NegotiatedIke {
    NegotiatedIke {
        encr: Encr::AesCbc(128),
        integ: Some(Integ::HmacSha256_128),
        prf: Prf::HmacSha256,
        dh: DhGroup::Modp2048,
    }
}

fn gcm(bits: u16, prf: Prf) -> NegotiatedIke {
    NegotiatedIke {
        encr: Encr::AesGcm16(bits),
        integ: None,
        prf,
        dh: DhGroup::Ecp256,
    }
}

#[test]
fn keys_kat_cavs_sha1_prf_and_prf_plus() {
    check_primitives(&CAVS_SHA1);
}

#[test]
fn keys_kat_cavs_sha256_prf_and_prf_plus() {
    check_primitives(&CAVS_SHA256);
}

#[test]
fn keys_kat_cavs_sha384_prf_and_prf_plus() {
    check_primitives(&CAVS_SHA384);
}

#[test]
fn keys_kat_cavs_sha512_prf_and_prf_plus() {
    check_primitives(&CAVS_SHA512);
}

#[test]
fn keys_kat_derive_keys_are_dkm_slices() {
    // aes128-sha1-prfsha1 takes exactly 3·20 + 2·20 + 2·16 = 132 bytes: the whole DKM.
    assert_eq!(ike_total(&aes128_sha1()), h(CAVS_SHA1.dkm).len());
    check_derive(&CAVS_SHA1, aes128_sha1());
    check_derive(&CAVS_SHA1, gcm(256, Prf::HmacSha1));
    check_derive(&CAVS_SHA256, aes128_sha256());
    check_derive(&CAVS_SHA256, gcm(128, Prf::HmacSha256));
    check_derive(&CAVS_SHA384, gcm(256, Prf::HmacSha384));
    check_derive(&CAVS_SHA512, gcm(256, Prf::HmacSha512));
}

#[test]
fn keys_kat_derive_rekey_uses_published_skeyseed() {
    check_derive_rekey(&CAVS_SHA1, aes128_sha1());
    check_derive_rekey(&CAVS_SHA256, aes128_sha256());
    check_derive_rekey(&CAVS_SHA384, gcm(256, Prf::HmacSha384));
    check_derive_rekey(&CAVS_SHA512, gcm(256, Prf::HmacSha512));
}

#[test]
fn keys_kat_child_keys_are_child_dkm_slices() {
    let kat = &CAVS_SHA1;
    let child = h(kat.dkm_child.expect("published"));
    let child_dh = h(kat.dkm_child_dh.expect("published"));
    for esp_encr in [Encr::AesCbc(256), Encr::AesGcm16(256)] {
        let esp = NegotiatedEsp {
            encr: esp_encr,
            integ: (!esp_encr.is_aead()).then_some(Integ::HmacSha256_128),
            dh: None,
            esn: false,
            peer_spi: 1,
        };
        for p in providers() {
            let name = p.name();
            let keys = kat.derive(&*p, aes128_sha1());
            let (ni, nr) = (h(kat.ni), h(kat.nr));

            let c = keys
                .child_keys(&*p, &esp, None, &ni, &nr)
                .expect("child_keys");
            let got = concat_child(&c);
            assert!(got.len() <= child.len());
            assert_eq!(
                hex::encode(&got),
                hex::encode(&child[..got.len()]),
                "{name} {esp}: DKM(Child SA)"
            );

            let with_pfs = keys
                .child_keys(&*p, &esp, Some(&h(kat.g_ir_new)), &ni, &nr)
                .expect("child_keys");
            let got = concat_child(&with_pfs);
            assert_eq!(
                hex::encode(&got),
                hex::encode(&child_dh[..got.len()]),
                "{name} {esp}: DKM(Child SA D-H)"
            );
        }
    }
}
