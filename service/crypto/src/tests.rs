//! Known-answer, invalid-input and cross-provider tests, run against every provider compiled
//! in. Published vectors name their source; the few computed ones say how they were computed.

use crate::rustcrypto::{key_exchange_with_private, RustCryptoProvider};
use crate::{
    AeadAlg, CipherAlg, CryptoError, CryptoProvider, DhGroup, HashAlg, KeyExchange, MAX_OUTPUT_LEN,
};

fn h(s: &str) -> Vec<u8> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(cleaned).expect("test vector hex")
}

/// Every provider compiled into this build.
fn providers() -> Vec<Box<dyn CryptoProvider>> {
    #[allow(unused_mut)]
    let mut all: Vec<Box<dyn CryptoProvider>> = vec![Box::new(RustCryptoProvider)];
    #[cfg(feature = "ring")]
    all.push(Box::new(crate::ring_provider::RingProvider::default()));
    all
}

/// Runs `check` against every provider, naming the provider when it fails.
fn each_provider(check: fn(&dyn CryptoProvider)) {
    for provider in providers() {
        eprintln!("provider {}", provider.name());
        check(provider.as_ref());
    }
}

const ALL_GROUPS: [DhGroup; 10] = [
    DhGroup::Modp768,
    DhGroup::Modp1024,
    DhGroup::Modp1536,
    DhGroup::Modp2048,
    DhGroup::Modp3072,
    DhGroup::Modp4096,
    DhGroup::Ecp256,
    DhGroup::Ecp384,
    DhGroup::Ecp521,
    DhGroup::Curve25519,
];

// ---------------------------------------------------------------------------------------------
// AEAD

struct AeadVector {
    alg: AeadAlg,
    key: &'static str,
    nonce: &'static str,
    aad: &'static str,
    plaintext: &'static str,
    ciphertext: &'static str,
    tag: &'static str,
}

/// "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega, test cases 3, 4, 15, 16;
/// RFC 8439 §2.8.2.
const AEAD_VECTORS: &[AeadVector] = &[
    AeadVector {
        alg: AeadAlg::Aes128Gcm16,
        key: "feffe9928665731c6d6a8f9467308308",
        nonce: "cafebabefacedbaddecaf888",
        aad: "",
        plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                    1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        ciphertext: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
                     21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        tag: "4d5c2af327cd64a62cf35abd2ba6fab4",
    },
    AeadVector {
        alg: AeadAlg::Aes128Gcm16,
        key: "feffe9928665731c6d6a8f9467308308",
        nonce: "cafebabefacedbaddecaf888",
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                    1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        ciphertext: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
                     21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
        tag: "5bc94fbc3221a5db94fae95ae7121a47",
    },
    AeadVector {
        alg: AeadAlg::Aes256Gcm16,
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        nonce: "cafebabefacedbaddecaf888",
        aad: "",
        plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                    1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
                     8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    AeadVector {
        alg: AeadAlg::Aes256Gcm16,
        key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
        nonce: "cafebabefacedbaddecaf888",
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
                    1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
                     8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
    AeadVector {
        alg: AeadAlg::ChaCha20Poly1305,
        key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
        nonce: "070000004041424344454647",
        aad: "50515253c0c1c2c3c4c5c6c7",
        // "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for
        // the future, sunscreen would be it."
        plaintext: "4c616469657320616e642047656e746c656d656e206f662074686520636c6173
                    73206f66202739393a204966204920636f756c64206f6666657220796f75206f
                    6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73
                    637265656e20776f756c642062652069742e",
        ciphertext: "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
                     3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
                     92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
                     3ff4def08e4b7a9de576d26586cec64b6116",
        tag: "1ae10b594f09e26a7e902ecbd0600691",
    },
];

fn check_aead_vectors(provider: &dyn CryptoProvider) {
    for v in AEAD_VECTORS {
        let aead = provider.aead(v.alg, &h(v.key)).expect("aead key");
        assert_eq!(aead.alg(), v.alg);
        let (nonce, aad, plaintext) = (h(v.nonce), h(v.aad), h(v.plaintext));

        let mut buf = plaintext.clone();
        let mut tag = [0u8; 16];
        aead.seal_in_place(&nonce, &aad, &mut buf, &mut tag)
            .expect("seal");
        assert_eq!(
            hex::encode(&buf),
            hex::encode(h(v.ciphertext)),
            "{:?} ciphertext",
            v.alg
        );
        assert_eq!(hex::encode(tag), hex::encode(h(v.tag)), "{:?} tag", v.alg);

        aead.open_in_place(&nonce, &aad, &mut buf, &tag)
            .expect("open");
        assert_eq!(buf, plaintext);
    }
}

#[test]
fn aead_known_answers() {
    each_provider(check_aead_vectors);
}

fn check_aead_rejects_tampering(provider: &dyn CryptoProvider) {
    for v in AEAD_VECTORS {
        let aead = provider.aead(v.alg, &h(v.key)).expect("aead key");
        let (nonce, aad, plaintext, ciphertext, tag) = (
            h(v.nonce),
            h(v.aad),
            h(v.plaintext),
            h(v.ciphertext),
            h(v.tag),
        );

        // A flipped tag bit, a flipped ciphertext bit, different AAD, a different nonce.
        let mut bad_tag = tag.clone();
        bad_tag[0] ^= 1;
        let mut buf = ciphertext.clone();
        assert_eq!(
            aead.open_in_place(&nonce, &aad, &mut buf, &bad_tag),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_ne!(
            buf, plaintext,
            "{:?}: plaintext handed out after a failed open",
            v.alg
        );

        let mut buf = ciphertext.clone();
        buf[3] ^= 0x80;
        assert_eq!(
            aead.open_in_place(&nonce, &aad, &mut buf, &tag),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_ne!(buf, plaintext);

        let mut buf = ciphertext.clone();
        let mut other_aad = aad.clone();
        other_aad.push(0);
        assert_eq!(
            aead.open_in_place(&nonce, &other_aad, &mut buf, &tag),
            Err(CryptoError::AuthenticationFailed)
        );

        let mut buf = ciphertext.clone();
        let mut other_nonce = nonce.clone();
        other_nonce[11] ^= 1;
        assert_eq!(
            aead.open_in_place(&other_nonce, &aad, &mut buf, &tag),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_ne!(buf, plaintext);
    }
}

#[test]
fn aead_rejects_tampering() {
    each_provider(check_aead_rejects_tampering);
}

fn check_aead_bad_lengths(provider: &dyn CryptoProvider) {
    for alg in [
        AeadAlg::Aes128Gcm16,
        AeadAlg::Aes256Gcm16,
        AeadAlg::ChaCha20Poly1305,
    ] {
        for len in [0, 15, 17, 24, 31, 33, 36] {
            if len == alg.key_len() {
                continue;
            }
            assert!(
                matches!(
                    provider.aead(alg, &vec![7; len]),
                    Err(CryptoError::InvalidLength(_))
                ),
                "{alg:?} accepted a {len}-byte key"
            );
        }
        // The 4-byte IPsec salt must not be passed as part of the key.
        assert!(provider.aead(alg, &vec![7; alg.key_len() + 4]).is_err());

        let aead = provider.aead(alg, &vec![7; alg.key_len()]).expect("key");
        let mut buf = [1u8; 40];
        let mut tag = [0u8; 16];
        for nonce_len in [0, 8, 11, 13, 16] {
            assert!(matches!(
                aead.seal_in_place(&vec![0; nonce_len], b"", &mut buf, &mut tag),
                Err(CryptoError::InvalidLength(_))
            ));
            assert!(aead
                .open_in_place(&vec![0; nonce_len], b"", &mut buf, &tag)
                .is_err());
        }
        let mut short_tag = [0u8; 12];
        assert!(matches!(
            aead.seal_in_place(&[0; 12], b"", &mut buf, &mut short_tag),
            Err(CryptoError::InvalidLength(_))
        ));
        assert!(aead
            .open_in_place(&[0; 12], b"", &mut buf, &short_tag)
            .is_err());
        assert!(aead
            .open_in_place(&[0; 12], b"", &mut buf, &[0; 17])
            .is_err());

        // Empty plaintext: the tag authenticates the AAD alone.
        let mut empty: [u8; 0] = [];
        aead.seal_in_place(&[0; 12], b"aad", &mut empty, &mut tag)
            .expect("seal empty");
        aead.open_in_place(&[0; 12], b"aad", &mut empty, &tag)
            .expect("open empty");
        assert!(aead
            .open_in_place(&[0; 12], b"aaD", &mut empty, &tag)
            .is_err());
    }
}

#[test]
fn aead_bad_lengths() {
    each_provider(check_aead_bad_lengths);
}

// ---------------------------------------------------------------------------------------------
// CBC

struct CbcVector {
    alg: CipherAlg,
    key: &'static str,
    iv: &'static str,
    plaintext: &'static str,
    ciphertext: &'static str,
}

const CBC_VECTORS: &[CbcVector] = &[
    // RFC 3602 §4, case #1 ("Single block msg").
    CbcVector {
        alg: CipherAlg::Aes128Cbc,
        key: "06a9214036b8a15b512e03d534120006",
        iv: "3dafba429d9eb430b422da802c9fac41",
        plaintext: "53696e676c6520626c6f636b206d7367",
        ciphertext: "e353779c1079aeb82708942dbe77181a",
    },
    // RFC 3602 §4, case #2.
    CbcVector {
        alg: CipherAlg::Aes128Cbc,
        key: "c286696d887c9aa0611bbb3e2025a45a",
        iv: "562e17996d093d28ddb3ba695a2e6f58",
        plaintext: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ciphertext: "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
    },
    // NIST SP 800-38A F.2.3 (CBC-AES192), first two blocks.
    CbcVector {
        alg: CipherAlg::Aes192Cbc,
        key: "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        iv: "000102030405060708090a0b0c0d0e0f",
        plaintext: "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        ciphertext: "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a",
    },
    // NIST SP 800-38A F.2.5 (CBC-AES256), first two blocks.
    CbcVector {
        alg: CipherAlg::Aes256Cbc,
        key: "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        iv: "000102030405060708090a0b0c0d0e0f",
        plaintext: "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
        ciphertext: "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d",
    },
    // NIST SP 800-67 rev. 1 §C example ("The qufck brown fox jump"); with a zero IV the first
    // CBC block equals the published ECB block A826FD8CE53B855F, the rest computed with
    // `openssl enc -des-ede3-cbc -nopad`.
    CbcVector {
        alg: CipherAlg::TripleDesCbc,
        key: "0123456789abcdef23456789abcdef01456789abcdef0123",
        iv: "0000000000000000",
        plaintext: "54686520717566636b2062726f776e20666f78206a756d70",
        ciphertext: "a826fd8ce53b855f854b649a0a3903c970d563820afe8b35",
    },
    CbcVector {
        alg: CipherAlg::TripleDesCbc,
        key: "0123456789abcdef23456789abcdef01456789abcdef0123",
        iv: "0001020304050607",
        plaintext: "54686520717566636b2062726f776e20666f78206a756d70",
        ciphertext: "f368d06f3bbd614e60f2d0245cad3f818d5c69f2cb3fd5c7",
    },
    // The classic DES example (key 133457799BBCDFF1, one block, zero IV = ECB).
    CbcVector {
        alg: CipherAlg::DesCbc,
        key: "133457799bbcdff1",
        iv: "0000000000000000",
        plaintext: "0123456789abcdef",
        ciphertext: "85e813540f0ab405",
    },
];

fn check_cbc_vectors(provider: &dyn CryptoProvider) {
    for v in CBC_VECTORS {
        let cipher = provider.cbc(v.alg, &h(v.key)).expect("cbc key");
        assert_eq!(cipher.alg(), v.alg);
        let iv = h(v.iv);
        let mut buf = h(v.plaintext);
        cipher.encrypt(&iv, &mut buf).expect("encrypt");
        assert_eq!(
            hex::encode(&buf),
            hex::encode(h(v.ciphertext)),
            "{:?}",
            v.alg
        );
        cipher.decrypt(&iv, &mut buf).expect("decrypt");
        assert_eq!(
            hex::encode(&buf),
            hex::encode(h(v.plaintext)),
            "{:?}",
            v.alg
        );
    }
}

#[test]
fn cbc_known_answers() {
    each_provider(check_cbc_vectors);
}

fn check_cbc_bad_lengths(provider: &dyn CryptoProvider) {
    for alg in [
        CipherAlg::Aes128Cbc,
        CipherAlg::Aes192Cbc,
        CipherAlg::Aes256Cbc,
        CipherAlg::TripleDesCbc,
        CipherAlg::DesCbc,
    ] {
        for len in [0, 7, 9, 15, 17, 23, 25, 31, 33] {
            assert!(
                matches!(
                    provider.cbc(alg, &vec![3; len]),
                    Err(CryptoError::InvalidLength(_))
                ),
                "{alg:?} accepted a {len}-byte key"
            );
        }
        let cipher = provider.cbc(alg, &vec![3; alg.key_len()]).expect("key");
        let block = alg.block_len();
        let iv = vec![9; block];
        for len in [1, block - 1, block + 1, 3 * block - 1] {
            let mut data = vec![5; len];
            assert!(matches!(
                cipher.encrypt(&iv, &mut data),
                Err(CryptoError::InvalidLength(_))
            ));
            assert!(matches!(
                cipher.decrypt(&iv, &mut data),
                Err(CryptoError::InvalidLength(_))
            ));
            assert_eq!(data, vec![5; len], "buffer touched on error");
        }
        let mut data = vec![5; 2 * block];
        for iv_len in [0, block - 1, block + 1] {
            assert!(cipher.encrypt(&vec![0; iv_len], &mut data).is_err());
            assert!(cipher.decrypt(&vec![0; iv_len], &mut data).is_err());
        }
        // No data is a whole number (zero) of blocks.
        cipher.encrypt(&iv, &mut []).expect("empty");
        // Round trip over many blocks.
        let original: Vec<u8> = (0..(8 * block) as u8).collect();
        let mut data = original.clone();
        cipher.encrypt(&iv, &mut data).expect("encrypt");
        assert_ne!(data, original);
        cipher.decrypt(&iv, &mut data).expect("decrypt");
        assert_eq!(data, original);
    }
}

#[test]
fn cbc_bad_lengths_and_round_trip() {
    each_provider(check_cbc_bad_lengths);
}

// ---------------------------------------------------------------------------------------------
// HMAC and hashes

struct MacVector {
    alg: HashAlg,
    key: &'static str,
    data: &'static [u8],
    mac: &'static str,
}

const MAC_VECTORS: &[MacVector] = &[
    // RFC 4231 test case 1.
    MacVector {
        alg: HashAlg::Sha256,
        key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        data: b"Hi There",
        mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    },
    MacVector {
        alg: HashAlg::Sha384,
        key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        data: b"Hi There",
        mac: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c
              faea9ea9076ede7f4af152e8b2fa9cb6",
    },
    MacVector {
        alg: HashAlg::Sha512,
        key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        data: b"Hi There",
        mac: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde
              daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
    },
    // RFC 4231 test case 2.
    MacVector {
        alg: HashAlg::Sha256,
        key: "4a656665",
        data: b"what do ya want for nothing?",
        mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    },
    MacVector {
        alg: HashAlg::Sha384,
        key: "4a656665",
        data: b"what do ya want for nothing?",
        mac: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e
              8e2240ca5e69e2c78b3239ecfab21649",
    },
    MacVector {
        alg: HashAlg::Sha512,
        key: "4a656665",
        data: b"what do ya want for nothing?",
        mac: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554
              9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    },
    // RFC 4231 test case 6 (a key longer than the block is hashed first).
    MacVector {
        alg: HashAlg::Sha256,
        key:
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
              aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
              aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
              aaaa",
        data: b"Test Using Larger Than Block-Size Key - Hash Key First",
        mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    },
    // RFC 2202 test cases 1 and 2 (HMAC-SHA-1, HMAC-MD5).
    MacVector {
        alg: HashAlg::Sha1,
        key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        data: b"Hi There",
        mac: "b617318655057264e28bc0b6fb378c8ef146be00",
    },
    MacVector {
        alg: HashAlg::Sha1,
        key: "4a656665",
        data: b"what do ya want for nothing?",
        mac: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    },
    MacVector {
        alg: HashAlg::Md5,
        key: "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        data: b"Hi There",
        mac: "9294727a3638bb1c13f48ef8158bfc9d",
    },
    MacVector {
        alg: HashAlg::Md5,
        key: "4a656665",
        data: b"what do ya want for nothing?",
        mac: "750c783e6ab0b503eaa86e310a5db738",
    },
];

fn check_mac_vectors(provider: &dyn CryptoProvider) {
    for v in MAC_VECTORS {
        let mac = provider.hmac(v.alg, &h(v.key)).expect("hmac key");
        assert_eq!(mac.alg(), v.alg);
        let expected = h(v.mac);
        let out = mac.compute(&[v.data]);
        assert_eq!(out.as_bytes().len(), v.alg.output_len());
        assert_eq!(
            hex::encode(out.as_bytes()),
            hex::encode(&expected),
            "{:?}",
            v.alg
        );
        // The same MAC over the input split in parts, and computed twice with one keyed object.
        let (a, b) = v.data.split_at(3);
        assert_eq!(mac.compute(&[a, b, b""]).as_bytes(), &expected[..]);
        assert_eq!(mac.compute(&[v.data]).as_bytes(), &expected[..]);
        mac.verify_truncated(&[v.data], &expected)
            .expect("full-length verify");
        mac.verify_truncated(&[a, b], &expected[..12])
            .expect("truncated verify");
    }
}

#[test]
fn hmac_known_answers() {
    each_provider(check_mac_vectors);
}

fn check_mac_truncated(provider: &dyn CryptoProvider) {
    // RFC 4231 test case 5 (output truncated to 128 bits), as HMAC-SHA2-*-128 style checks.
    let key = h("0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c");
    let data: &[u8] = b"Test With Truncation";
    for (alg, truncated) in [
        (HashAlg::Sha256, "a3b6167473100ee06e0c796c2955552b"),
        (HashAlg::Sha384, "3abf34c3503b2a23a46efc619baef897"),
        (HashAlg::Sha512, "415fad6271580a531d4179bc891d87a6"),
    ] {
        let mac = provider.hmac(alg, &key).expect("key");
        let truncated = h(truncated);
        assert_eq!(&mac.compute(&[data]).as_bytes()[..16], &truncated[..]);
        mac.verify_truncated(&[data], &truncated).expect("verify");
        let mut wrong = truncated.clone();
        wrong[15] ^= 1;
        assert_eq!(
            mac.verify_truncated(&[data], &wrong),
            Err(CryptoError::AuthenticationFailed)
        );
        assert!(mac
            .verify_truncated(&[b"Test With Truncatioo"], &truncated)
            .is_err());
        // An empty expectation proves nothing; a longer one than the MAC cannot match.
        assert!(mac.verify_truncated(&[data], &[]).is_err());
        let mut long = mac.compute(&[data]).as_bytes().to_vec();
        long.push(0);
        assert!(mac.verify_truncated(&[data], &long).is_err());
    }
    // HMAC takes any key length, the empty key included.
    for alg in [
        HashAlg::Md5,
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ] {
        let mac = provider.hmac(alg, &[]).expect("empty key");
        assert_eq!(mac.compute(&[]).as_bytes().len(), alg.output_len());
        let mac = provider.hmac(alg, &[0x55; 300]).expect("long key");
        assert_eq!(mac.compute(&[b"x"]).as_bytes().len(), alg.output_len());
    }
}

#[test]
fn hmac_truncated_verification() {
    each_provider(check_mac_truncated);
}

fn check_hash_vectors(provider: &dyn CryptoProvider) {
    // FIPS 180-4 examples ("abc") and RFC 1321 §A.5.
    let vectors: [(HashAlg, &[u8], &str); 7] = [
        (HashAlg::Md5, b"", "d41d8cd98f00b204e9800998ecf8427e"),
        (HashAlg::Md5, b"abc", "900150983cd24fb0d6963f7d28e17f72"),
        (
            HashAlg::Sha1,
            b"abc",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (
            HashAlg::Sha256,
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            HashAlg::Sha384,
            b"abc",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed
             8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            HashAlg::Sha512,
            b"abc",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            HashAlg::Sha256,
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    for (alg, data, digest) in vectors {
        let out = provider.hash(alg, &[data]).expect("hash");
        assert_eq!(
            hex::encode(out.as_bytes()),
            hex::encode(h(digest)),
            "{alg:?}"
        );
        assert_eq!(out.as_bytes().len(), alg.output_len());
        if data.len() > 1 {
            let (a, b) = data.split_at(1);
            assert_eq!(
                provider.hash(alg, &[a, &[], b]).expect("hash").as_bytes(),
                out.as_bytes()
            );
        }
    }
}

#[test]
fn hash_known_answers() {
    each_provider(check_hash_vectors);
}

#[test]
fn output_never_prints_bytes() {
    let out = crate::Output::new(&[0xab; 70]);
    assert_eq!(out.as_bytes().len(), MAX_OUTPUT_LEN);
    assert_eq!(format!("{out:?}"), "Output(64 bytes)");
}

// ---------------------------------------------------------------------------------------------
// Key exchange

/// Completes a key exchange between two fresh halves and checks both sides agree.
fn agree(a: Box<dyn KeyExchange>, b: Box<dyn KeyExchange>) -> Vec<u8> {
    let group = a.group();
    assert_eq!(b.group(), group);
    let (pa, pb) = (a.public_key().to_vec(), b.public_key().to_vec());
    assert_eq!(pa.len(), group.public_len(), "{group:?} public length");
    assert_eq!(pb.len(), group.public_len(), "{group:?} public length");
    assert_ne!(pa, pb);
    let sa = a.complete(&pb).expect("complete a");
    let sb = b.complete(&pa).expect("complete b");
    assert_eq!(
        hex::encode(&*sa),
        hex::encode(&*sb),
        "{group:?} secrets differ"
    );
    sa.to_vec()
}

fn secret_len(group: DhGroup) -> usize {
    match group {
        DhGroup::Ecp256 | DhGroup::Ecp384 | DhGroup::Ecp521 => group.public_len() / 2,
        _ => group.public_len(),
    }
}

fn check_all_groups_agree(provider: &dyn CryptoProvider) {
    for group in ALL_GROUPS {
        let a = provider.key_exchange(group).expect("kex");
        let b = provider.key_exchange(group).expect("kex");
        let secret = agree(a, b);
        assert_eq!(secret.len(), secret_len(group), "{group:?} secret length");
        assert!(secret.iter().any(|&x| x != 0));
    }
}

#[test]
fn key_exchange_all_groups_agree() {
    each_provider(check_all_groups_agree);
}

struct EcVector {
    group: DhGroup,
    i: &'static str,
    gi: &'static str,
    r: &'static str,
    gr: &'static str,
    gir_x: &'static str,
}

/// RFC 5903 §8.1 and §8.2, in the IKEv2 encoding (x ‖ y public values, x-only secret).
const EC_VECTORS: &[EcVector] = &[
    EcVector {
        group: DhGroup::Ecp256,
        i: "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
        gi: "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180
             5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
        r: "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
        gr: "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63
             56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
        gir_x: "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE",
    },
    EcVector {
        group: DhGroup::Ecp384,
        i: "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655
            E35B538041E649EE3FAEF896783AB194",
        gi: "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6
             DE3AC808ACB4BDB4C88732AEE95F41AA9482ED1FC0EEB9CAFC4984625CCFC23F
             65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
        r: "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942
            E0308312916B8ED2960E4BD55A7448FC",
        gr: "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D
             0D1AC43A0336DEF96FDA41D0774A3571DCFBEC7AACF3196472169E838430367F
             66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C",
        gir_x: "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4
                D603135569B9E9D09CF5D4A270F59746",
    },
];

#[test]
fn ecdh_rfc5903_known_answers() {
    for v in EC_VECTORS {
        let initiator = key_exchange_with_private(v.group, Some(&h(v.i))).expect("i");
        let responder = key_exchange_with_private(v.group, Some(&h(v.r))).expect("r");
        assert_eq!(hex::encode(initiator.public_key()), hex::encode(h(v.gi)));
        assert_eq!(hex::encode(responder.public_key()), hex::encode(h(v.gr)));
        let s_i = initiator.complete(&h(v.gr)).expect("complete i");
        let s_r = responder.complete(&h(v.gi)).expect("complete r");
        assert_eq!(hex::encode(&*s_i), hex::encode(h(v.gir_x)));
        assert_eq!(hex::encode(&*s_r), hex::encode(h(v.gir_x)));
    }
}

/// Providers other than RustCrypto cannot import a private key (ring's are ephemeral only), so
/// their half of the RFC 5903 exchange is checked against the RFC's known half: a fresh key on
/// the provider's side and the RFC's private key on the other must agree.
fn check_ec_against_rfc_half(provider: &dyn CryptoProvider) {
    for v in EC_VECTORS {
        for _ in 0..4 {
            let known = key_exchange_with_private(v.group, Some(&h(v.r))).expect("r");
            let fresh = provider.key_exchange(v.group).expect("fresh");
            agree(known, fresh);
        }
    }
}

#[test]
fn ecdh_against_rfc5903_half() {
    each_provider(check_ec_against_rfc_half);
}

#[test]
fn x25519_rfc7748_known_answer() {
    // RFC 7748 §6.1.
    let alice = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    let alice_pub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    let bob = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    let bob_pub = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    let a = key_exchange_with_private(DhGroup::Curve25519, Some(&h(alice))).expect("a");
    let b = key_exchange_with_private(DhGroup::Curve25519, Some(&h(bob))).expect("b");
    assert_eq!(hex::encode(a.public_key()), alice_pub);
    assert_eq!(hex::encode(b.public_key()), bob_pub);
    assert_eq!(hex::encode(&*a.complete(&h(bob_pub)).expect("a")), shared);
    assert_eq!(hex::encode(&*b.complete(&h(alice_pub)).expect("b")), shared);

    // Every provider's fresh half agrees with Bob's known half.
    for provider in providers() {
        let b = key_exchange_with_private(DhGroup::Curve25519, Some(&h(bob))).expect("b");
        agree(
            provider.key_exchange(DhGroup::Curve25519).expect("fresh"),
            b,
        );
    }
}

/// MODP known answers: both exponents as given, publics and secret computed independently
/// with Python's `pow(2, x, p)` (SHA-256 of the left-padded big-endian values, to keep the
/// table short).
#[test]
fn modp_known_answers() {
    use sha2::Digest;
    let xa = h("8f3a1c5e7d2b4a6918e0f7c3b5a2d4e6f1a3c5e7092b4d6f8a1c3e5f7092b4d6");
    let xb = h("2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe");
    let table = [
        (
            DhGroup::Modp768,
            "6ef0a854681c7f60aa4752b696c1c4c73e4b1cef8d25c0e7efd9fcac247996bb",
            "89f1aee34ee0df3b6e9e0d2e7f2dcedba9b16c021791ce2390d36fca63396d20",
            "61b2e2c2d37dd3f6130f782b4df2ec731f242af7d7725688aa9d68c44ce0a37a",
        ),
        (
            DhGroup::Modp1024,
            "d67df5afe4e71dd5ca784eadce8bb7a2894055a9a747e0d1a8943f0162bc16bd",
            "009b9122a2161c3f1e5215ca2c23ac4bc6cdfef76ae4617cb2e7399d051d0470",
            "ba1b69fccfb34f7ac87ed94305f78456ac91112137d5ddc18b56c1f07d2bb508",
        ),
        (
            DhGroup::Modp1536,
            "94e46e4273c066d3b079a0024150fce289e6aa4e29716608d6f986f4fef6ae10",
            "f52c23866e5558a46e9b4d540cdebb05cbb0b9b3e82c9e3dc9b8fac701387572",
            "65babcb707deac59bdb1c9a95607d1b953f3c8a4973fc37c5673e6314516c25b",
        ),
        (
            DhGroup::Modp2048,
            "b7b01a9df3acdcb8b70b503f51e1c5e688ad1da25ef3ec3d498769bbd759288e",
            "b35917188f17019624fa47b37feb3cdfec9e740372bcd7ad98c39dfd285c878d",
            "e8d91c5eae7730e5e746d9d06235b243ebff8f50e54e003cbc86401a7bce4f5a",
        ),
        (
            DhGroup::Modp3072,
            "702380a85335b895a1681abc6ce991534ea4f80a488ffa4eff9c9db538029368",
            "97834d0c87b5c57cdfe5820f7665f8296bc1e7ab5b7da9a399fcb731442f7548",
            "d5dc3e571582ec3059d0a9da3e48b8125c7bc7e69e678760ff6f8acdb4dce937",
        ),
        (
            DhGroup::Modp4096,
            "24b3bc02ba1600661e53fa4bbc16467f7ab7dd150043c43ef78f75c617097da4",
            "7eec0f0a2e4902c49438abb0ce53dff337ababd467486f45c0ecc186363b5bd7",
            "9fcb64420bb7d03081eb1d34dcbabeda036399f71c7dd1ffe0934d49637e9cef",
        ),
    ];
    for (group, pub_a, pub_b, secret) in table {
        let a = key_exchange_with_private(group, Some(&xa)).expect("a");
        let b = key_exchange_with_private(group, Some(&xb)).expect("b");
        assert_eq!(
            hex::encode(sha2::Sha256::digest(a.public_key())),
            pub_a,
            "{group:?}"
        );
        assert_eq!(
            hex::encode(sha2::Sha256::digest(b.public_key())),
            pub_b,
            "{group:?}"
        );
        let (pa, pb) = (a.public_key().to_vec(), b.public_key().to_vec());
        let sa = a.complete(&pb).expect("a");
        let sb = b.complete(&pa).expect("b");
        assert_eq!(sa.len(), group.public_len());
        assert_eq!(hex::encode(sha2::Sha256::digest(&*sa)), secret, "{group:?}");
        assert_eq!(sa, sb);
    }
    // The full 768-bit values, for a readable check of the encoding.
    let a = key_exchange_with_private(DhGroup::Modp768, Some(&xa)).expect("a");
    assert_eq!(
        hex::encode(a.public_key()),
        "fc7174c5ce046cab19af2914fa88fd71b812f7fddd2d680da10f74bb7ba2ee7b2b1fa01a1af7638b898824e7\
         ccfd7abb9fbb6c953f8294458ff20c788eb15393a0caf18da5b81c2841be718f1f364cc19d689eb0b950b2f6\
         ba6ae22e88afc97c"
    );
}

#[test]
fn modp_public_value_is_left_padded() {
    // 2^100 is far shorter than the prime: the KE payload is still the prime's length.
    for group in [DhGroup::Modp768, DhGroup::Modp2048, DhGroup::Modp4096] {
        let kex = key_exchange_with_private(group, Some(&[100])).expect("kex");
        let public = kex.public_key();
        assert_eq!(public.len(), group.public_len());
        let mut expected = vec![0u8; group.public_len()];
        expected[group.public_len() - 13] = 0x10;
        assert_eq!(public, &expected[..]);
    }
}

/// The prime of a MODP group (the known-answer tests above pin the values it produces).
fn modp_prime(group: DhGroup) -> Vec<u8> {
    crate::rustcrypto::modp_prime_bytes(group).expect("MODP group")
}

fn check_modp_rejects_bad_peers(provider: &dyn CryptoProvider) {
    for group in [
        DhGroup::Modp768,
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Modp3072,
        DhGroup::Modp4096,
    ] {
        let len = group.public_len();
        let p = modp_prime(group);
        assert_eq!(p.len(), len);
        let mut p_minus_1 = p.clone();
        p_minus_1[len - 1] -= 1;
        let mut one = vec![0u8; len];
        one[len - 1] = 1;
        let mut bad: Vec<Vec<u8>> = vec![
            vec![],
            vec![2],
            vec![0; len - 1],
            vec![0; len + 1],
            vec![0; len],
            one,
            p_minus_1.clone(),
            p.clone(),
            vec![0xff; len],
        ];
        // A valid value with a leading zero byte dropped, or one added, is the wrong length.
        let mut two = vec![0u8; len];
        two[len - 1] = 2;
        bad.push(two[1..].to_vec());
        let mut longer = vec![0u8];
        longer.extend_from_slice(&two);
        bad.push(longer);
        if group.public_len() > DhGroup::Modp2048.public_len() {
            // Key generation is slow in debug builds: the big groups get the essential cases.
            bad = vec![vec![0; len - 1], vec![0; len], p_minus_1.clone(), p.clone()];
        }
        for peer in bad {
            let kex = provider.key_exchange(group).expect("kex");
            assert_eq!(
                kex.complete(&peer).map(|_| ()),
                Err(CryptoError::InvalidPublicKey),
                "{group:?} accepted a bad peer value of {} bytes",
                peer.len()
            );
        }
        // 2 and p - 2 are fine.
        let kex = provider.key_exchange(group).expect("kex");
        kex.complete(&two).expect("2 is a valid public value");
        let mut p_minus_2 = p_minus_1;
        p_minus_2[len - 1] -= 1;
        let kex = provider.key_exchange(group).expect("kex");
        kex.complete(&p_minus_2)
            .expect("p - 2 is a valid public value");
    }
}

#[test]
fn modp_rejects_bad_peer_values() {
    each_provider(check_modp_rejects_bad_peers);
}

fn check_ec_rejects_bad_peers(provider: &dyn CryptoProvider) {
    for group in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Ecp521] {
        let len = group.public_len();
        let good = provider
            .key_exchange(group)
            .expect("kex")
            .public_key()
            .to_vec();
        let mut off_curve = good.clone();
        off_curve[len - 1] ^= 1;
        let mut with_prefix = vec![0x04];
        with_prefix.extend_from_slice(&good);
        for peer in [
            vec![],
            vec![0; len],
            vec![0xff; len],
            good[..len - 1].to_vec(),
            good[..len / 2].to_vec(), // x only (compressed-style)
            with_prefix,              // SEC 1 encoding instead of IKEv2's
            off_curve,
        ] {
            let kex = provider.key_exchange(group).expect("kex");
            assert_eq!(
                kex.complete(&peer).map(|_| ()),
                Err(CryptoError::InvalidPublicKey),
                "{group:?} accepted a bad peer value of {} bytes",
                peer.len()
            );
        }
    }
}

#[test]
fn ecp_rejects_bad_peer_values() {
    each_provider(check_ec_rejects_bad_peers);
}

fn check_x25519_rejects_bad_peers(provider: &dyn CryptoProvider) {
    // Small-order points give an all-zero secret, which RFC 8031 §2.1 says to refuse:
    // u = 0, u = 1 and the order-8 point from RFC 7748's discussion (cr.yp.to/ecdh.html).
    let mut one = [0u8; 32];
    one[0] = 1;
    let small_order = [
        vec![0u8; 32],
        one.to_vec(),
        h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        h("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    ];
    for peer in small_order {
        let kex = provider.key_exchange(DhGroup::Curve25519).expect("kex");
        assert_eq!(
            kex.complete(&peer).map(|_| ()),
            Err(CryptoError::InvalidPublicKey),
            "accepted small-order point {}",
            hex::encode(&peer)
        );
    }
    for len in [0, 31, 33, 64] {
        let kex = provider.key_exchange(DhGroup::Curve25519).expect("kex");
        assert_eq!(
            kex.complete(&vec![9; len]).map(|_| ()),
            Err(CryptoError::InvalidPublicKey)
        );
    }
}

#[test]
fn x25519_rejects_small_order_and_bad_lengths() {
    each_provider(check_x25519_rejects_bad_peers);
}

#[test]
fn private_keys_of_wrong_length_are_refused() {
    assert!(key_exchange_with_private(DhGroup::Curve25519, Some(&[1; 31])).is_err());
    assert!(key_exchange_with_private(DhGroup::Ecp256, Some(&[0; 32])).is_err());
    assert!(key_exchange_with_private(DhGroup::Ecp256, Some(&[0xff; 32])).is_err());
    assert!(key_exchange_with_private(DhGroup::Modp2048, Some(&[])).is_err());
    assert!(key_exchange_with_private(DhGroup::Modp768, Some(&[1; 97])).is_err());
}

fn check_random(provider: &dyn CryptoProvider) {
    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    provider.fill_random(&mut a).expect("random");
    provider.fill_random(&mut b).expect("random");
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 64]);
    provider.fill_random(&mut []).expect("empty");
}

#[test]
fn random_bytes() {
    each_provider(check_random);
}

#[test]
fn default_provider_is_the_fast_one() {
    let provider = crate::default_provider();
    #[cfg(feature = "ring")]
    assert_eq!(provider.name(), "ring");
    #[cfg(not(feature = "ring"))]
    assert_eq!(provider.name(), "rustcrypto");
    check_aead_vectors(provider.as_ref());
}

// ---------------------------------------------------------------------------------------------
// Cross-provider agreement (ring against RustCrypto)

#[cfg(feature = "ring")]
mod cross {
    use super::*;
    use crate::ring_provider::RingProvider;

    #[test]
    fn key_exchange_between_providers() {
        let rc = RustCryptoProvider;
        let ring = RingProvider::default();
        for group in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Curve25519] {
            // Enough rounds that an x coordinate or public value with a leading zero byte
            // would show up as a length mismatch with some probability.
            for _ in 0..16 {
                agree(
                    rc.key_exchange(group).expect("rc"),
                    ring.key_exchange(group).expect("ring"),
                );
                agree(
                    ring.key_exchange(group).expect("ring"),
                    rc.key_exchange(group).expect("rc"),
                );
            }
        }
    }

    #[test]
    fn aead_between_providers() {
        let rc = RustCryptoProvider;
        let ring = RingProvider::default();
        let mut key = [0u8; 32];
        for alg in [
            AeadAlg::Aes128Gcm16,
            AeadAlg::Aes256Gcm16,
            AeadAlg::ChaCha20Poly1305,
        ] {
            for len in [0usize, 1, 15, 16, 17, 64, 1400, 1500] {
                ring.fill_random(&mut key).expect("random");
                let key = &key[..alg.key_len()];
                let (sealer, opener) = (
                    ring.aead(alg, key).expect("k"),
                    rc.aead(alg, key).expect("k"),
                );
                let mut nonce = [0u8; 12];
                rc.fill_random(&mut nonce).expect("random");
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let aad = [0x11u8; 8];
                let mut buf = plaintext.clone();
                let mut tag = [0u8; 16];
                sealer
                    .seal_in_place(&nonce, &aad, &mut buf, &mut tag)
                    .expect("seal");
                let mut other = plaintext.clone();
                let mut other_tag = [0u8; 16];
                opener
                    .seal_in_place(&nonce, &aad, &mut other, &mut other_tag)
                    .expect("seal");
                assert_eq!(buf, other);
                assert_eq!(tag, other_tag);
                opener
                    .open_in_place(&nonce, &aad, &mut buf, &tag)
                    .expect("open");
                assert_eq!(buf, plaintext);
            }
        }
    }

    #[test]
    fn hmac_and_hash_between_providers() {
        let rc = RustCryptoProvider;
        let ring = RingProvider::default();
        let data: Vec<u8> = (0..1400u32).map(|i| (i * 7) as u8).collect();
        for alg in [
            HashAlg::Md5,
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ] {
            for key_len in [0usize, 16, 20, 32, 64, 65, 128, 129, 200] {
                let key = vec![0x42u8; key_len];
                let a = rc.hmac(alg, &key).expect("k").compute(&[&data]);
                let b = ring
                    .hmac(alg, &key)
                    .expect("k")
                    .compute(&[&data[..700], &data[700..]]);
                assert_eq!(a, b, "{alg:?} with a {key_len}-byte key");
            }
            assert_eq!(rc.hash(alg, &[&data]), ring.hash(alg, &[&data]));
        }
    }
}
