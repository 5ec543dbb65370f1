//! Tests of the wire format: round trips, a captured exchange, malformed input, limits, fuzzing.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// IKE_SA_INIT request from Wireshark's test capture `ikev2-decrypt-aes128ccm12.pcap` (UDP
/// payload only): SA(ENCR_AES_CCM_12/128, PRF_HMAC_SHA2_256, ECP-256), KE(19), Ni,
/// N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP),
/// N(SIGNATURE_HASH_ALGORITHMS: SHA1, SHA2-256, SHA2-384, SHA2-512).
const CAPTURED_INIT_REQUEST: &str = "ea684d21597afd3600000000000000002120220800000000000000f8\
    2200002800000024010100030300000c0100000f800e008003000008020000050000000804000013\
    280000480013000032c6dffe5c43b0d5811f7eaaa84c9f78bf99b9069c2b072e0b82f46bf6f66dd45f97\
    ef89ee285fd5df527a44776b529fc9d8a909d842a6fb59b96a095395617229000024b655462d6f4b66f8\
    72ccd7f0f4b4857732921339cbaa5237edba244f262b68232900001c00004004949c9db5739d75a974a4\
    9c184618369b34b7f9422900001c000040053e721b46be07d53111425d7f80d2c6e220c6072e00000010\
    0000402f0001000200030004";

/// The IKE_SA_INIT response of the same capture (ends with N(MULTIPLE_AUTH_SUPPORTED)).
const CAPTURED_INIT_RESPONSE: &str = "ea684d21597afd36d9fe2ab22dac23ac2120222000000000000000f0\
    2200002800000024010100030300000c0100000f800e0080030000080200000500000008040000132800\
    0048001300002c66beadb6ce8535d6218cb401aa5a1eb4035b97caddaf36374a979c0446b8800506bf9d\
    6f950952326bf3011913da93bb8e40f815376be1a06801c0a63e3b54290000249e5d267379e681e7d38d\
    81c710d383401de7e3607b926d90a9958adcb52831aa2900001c000040047a0785273d59203829a69755\
    0f31cbb94eb72b432900001c00004005c3e58a8cc9933ce0b78f2a50e8de80134e12ce31000000080000\
    4014";

/// An INFORMATIONAL request of the same capture: SK { D }.
const CAPTURED_INFORMATIONAL: &str = "ea684d21597afd36d9fe2ab22dac23ac2e202508000000020000003d\
    2a000021cca0b35de5abc51c9987cbf1f5ecff210eb767cdb85179383b964d78e2";

fn unhex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).expect("test hex")
}

fn header(exchange: ExchangeType) -> Header {
    Header {
        spi_i: 0x0102_0304_0506_0708,
        spi_r: 0x1112_1314_1516_1718,
        next_payload: 0,
        minor_version: 0,
        exchange,
        flags: FLAG_INITIATOR,
        message_id: 7,
        length: 0,
    }
}

/// One instance of every payload variant, with the interesting corners filled in.
fn samples() -> Vec<Payload> {
    vec![
        Payload::Sa(vec![
            Proposal {
                number: 1,
                protocol: ProtocolId::Ike,
                spi: vec![],
                transforms: vec![
                    Transform::with_key_length(transform_type::ENCR, 20, 256),
                    Transform::new(transform_type::PRF, 7),
                    Transform::new(transform_type::DH, 31),
                ],
            },
            Proposal {
                number: 2,
                protocol: ProtocolId::Esp,
                spi: vec![0xde, 0xad, 0xbe, 0xef],
                transforms: vec![
                    Transform::with_key_length(transform_type::ENCR, 12, 128),
                    Transform {
                        other_attributes: vec![
                            TransformAttribute {
                                attr_type: 99,
                                value: AttributeValue::Tlv(vec![1, 2, 3]),
                            },
                            TransformAttribute {
                                attr_type: 100,
                                value: AttributeValue::Tv(5),
                            },
                        ],
                        ..Transform::new(transform_type::INTEG, 12)
                    },
                    Transform::new(transform_type::ESN, 0),
                ],
            },
        ]),
        Payload::Ke(KeyExchangePayload {
            group: 19,
            data: (0..64).collect(),
        }),
        Payload::IdI(Identification {
            id_type: id_type::FQDN,
            data: b"client.example".to_vec(),
        }),
        Payload::IdR(Identification {
            id_type: id_type::IPV4_ADDR,
            data: vec![192, 0, 2, 1],
        }),
        Payload::Cert(Certificate {
            encoding: 4,
            data: vec![0x30, 0x82, 0x01, 0x00],
        }),
        Payload::CertReq(Certificate {
            encoding: 4,
            data: vec![0xaa; 40],
        }),
        Payload::Auth(Authentication {
            method: auth_method::DIGITAL_SIGNATURE,
            data: vec![9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff],
        }),
        Payload::Nonce(vec![0x5a; 32]),
        Payload::Notify(Notify {
            protocol: ProtocolId::Other(0),
            spi: vec![],
            notify_type: notify_type::SIGNATURE_HASH_ALGORITHMS,
            data: vec![0, 2, 0, 3, 0, 4],
        }),
        Payload::Notify(Notify {
            protocol: ProtocolId::Esp,
            spi: vec![1, 2, 3, 4],
            notify_type: notify_type::REKEY_SA,
            data: vec![],
        }),
        Payload::Delete(Delete {
            protocol: ProtocolId::Ike,
            spis: vec![],
        }),
        Payload::Delete(Delete {
            protocol: ProtocolId::Esp,
            spis: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]],
        }),
        Payload::VendorId(b"strait".to_vec()),
        Payload::TsI(vec![
            TrafficSelector {
                ip_protocol: 0,
                start_port: 0,
                end_port: 65535,
                addresses: AddressRange::V4 {
                    start: Ipv4Addr::new(10, 0, 0, 1),
                    end: Ipv4Addr::new(10, 0, 0, 1),
                },
            },
            TrafficSelector {
                ip_protocol: 6,
                start_port: 443,
                end_port: 443,
                addresses: AddressRange::V6 {
                    start: Ipv6Addr::UNSPECIFIED,
                    end: Ipv6Addr::from([0xff; 16]),
                },
            },
        ]),
        Payload::TsR(vec![TrafficSelector {
            ip_protocol: 17,
            start_port: 0,
            end_port: 65535,
            addresses: AddressRange::V4 {
                start: Ipv4Addr::new(0, 0, 0, 0),
                end: Ipv4Addr::new(255, 255, 255, 255),
            },
        }]),
        Payload::Config(Configuration {
            cfg_type: cfg_type::CFG_REPLY,
            attributes: vec![
                ConfigAttribute::with_value(
                    cfg_attr::INTERNAL_IP4_ADDRESS,
                    &ConfigValue::Ip4(Some(Ipv4Addr::new(10, 1, 2, 3))),
                ),
                ConfigAttribute::request(cfg_attr::INTERNAL_IP4_DNS),
                ConfigAttribute::with_value(
                    cfg_attr::INTERNAL_IP4_SUBNET,
                    &ConfigValue::Ip4Subnet(Some((
                        Ipv4Addr::new(10, 0, 0, 0),
                        Ipv4Addr::new(255, 0, 0, 0),
                    ))),
                ),
                ConfigAttribute::with_value(
                    cfg_attr::INTERNAL_IP6_ADDRESS,
                    &ConfigValue::Ip6Prefix(Some(("2001:db8::5".parse().expect("v6"), 64))),
                ),
                ConfigAttribute::with_value(
                    cfg_attr::INTERNAL_IP6_DNS,
                    &ConfigValue::Ip6(Some("2001:db8::53".parse().expect("v6"))),
                ),
                ConfigAttribute::with_value(
                    cfg_attr::SUPPORTED_ATTRIBUTES,
                    &ConfigValue::SupportedAttributes(vec![1, 3, 25]),
                ),
                ConfigAttribute::with_value(
                    cfg_attr::INTERNAL_DNS_DOMAIN,
                    &ConfigValue::Text(b"corp.example".to_vec()),
                ),
                ConfigAttribute {
                    attr_type: 28_675,
                    value: vec![1, 2, 3],
                },
            ],
        }),
        Payload::Eap(vec![1, 5, 0, 5, 1]),
        Payload::Unknown {
            payload_type: 200,
            critical: true,
            data: vec![1, 2, 3],
        },
        Payload::Unknown {
            payload_type: 201,
            critical: false,
            data: vec![],
        },
        Payload::Encrypted(Encrypted {
            first_inner: payload_type::IDI,
            data: vec![0x77; 48],
        }),
    ]
}

fn skf_sample() -> Payload {
    Payload::EncryptedFragment(EncryptedFragment {
        first_inner: payload_type::IDI,
        fragment_number: 1,
        total_fragments: 3,
        data: vec![0x66; 40],
    })
}

/// The sample payload as one generic payload (header + body) and its body.
fn encode_one(p: &Payload) -> Vec<u8> {
    let mut out = Vec::new();
    let first = emit_payload_chain(std::slice::from_ref(p), &mut out);
    assert_eq!(first, p.payload_type());
    out
}

fn message_with(payloads: Vec<Payload>) -> Message {
    Message {
        header: header(ExchangeType::IkeAuth),
        payloads,
    }
}

// --- Header ----------------------------------------------------------------------------------

#[test]
fn header_round_trip_and_layout() {
    let mut h = header(ExchangeType::IkeSaInit);
    h.next_payload = payload_type::SA;
    h.minor_version = 3;
    h.flags = FLAG_INITIATOR | FLAG_VERSION;
    h.length = 28;
    let mut out = Vec::new();
    h.emit(&mut out);
    assert_eq!(
        out,
        unhex("0102030405060708 1112131415161718 21 23 22 18 00000007 0000001c")
    );
    assert_eq!(Header::parse(&out), Ok(h));
    let view = HeaderView::new_checked(&out).expect("view");
    assert_eq!(view.spi_i(), h.spi_i);
    assert_eq!(view.spi_r(), h.spi_r);
    assert_eq!(view.exchange(), ExchangeType::IkeSaInit);
    assert_eq!(view.minor_version(), 3);
    assert_eq!(view.message_id(), 7);
    assert!(view.payload_bytes().is_empty());
    assert!(h.is_initiator());
    assert!(!h.is_response());
}

#[test]
fn header_errors() {
    let mut h = header(ExchangeType::Informational);
    h.length = 28;
    let mut good = Vec::new();
    h.emit(&mut good);

    assert_eq!(
        Header::parse(&good[..27]),
        Err(WireError::Truncated("IKE header"))
    );
    assert_eq!(Header::parse(&[]), Err(WireError::Truncated("IKE header")));

    let mut v1 = good.clone();
    v1[17] = 0x10;
    assert_eq!(Header::parse(&v1), Err(WireError::UnsupportedVersion(1)));
    let mut v3 = good.clone();
    v3[17] = 0x30;
    assert_eq!(Header::parse(&v3), Err(WireError::UnsupportedVersion(3)));

    let mut short = good.clone();
    short[27] = 27;
    assert!(matches!(
        Header::parse(&short),
        Err(WireError::BadLength(_))
    ));
    let mut long = good.clone();
    long[27] = 29;
    assert!(matches!(Header::parse(&long), Err(WireError::BadLength(_))));
    let mut huge = good.clone();
    huge[24] = 0xff;
    assert!(matches!(Header::parse(&huge), Err(WireError::BadLength(_))));

    // Bytes beyond the length field are ignored.
    let mut extra = good.clone();
    extra.extend_from_slice(&[0xff; 10]);
    assert_eq!(Header::parse(&extra), Ok(h));
    let m = Message::parse(&extra).expect("parse");
    assert!(m.payloads.is_empty());

    // Unknown exchange types and flags are kept.
    let mut other = good.clone();
    other[18] = 99;
    other[19] = 0xff;
    let parsed = Header::parse(&other).expect("parse");
    assert_eq!(parsed.exchange, ExchangeType::Other(99));
    assert_eq!(parsed.flags, 0xff);
}

#[test]
fn exchange_type_values() {
    for v in 0..=255u8 {
        assert_eq!(ExchangeType::from_u8(v).to_u8(), v);
    }
    assert_eq!(ExchangeType::from_u8(34), ExchangeType::IkeSaInit);
    assert_eq!(ExchangeType::from_u8(37), ExchangeType::Informational);
}

#[test]
fn message_too_long_is_rejected() {
    let len = limits::MAX_MESSAGE_LEN + 1;
    let mut h = header(ExchangeType::IkeAuth);
    h.next_payload = payload_type::VENDOR_ID;
    h.length = u32::try_from(len).expect("fits");
    let mut bytes = Vec::new();
    h.emit(&mut bytes);
    bytes.resize(len, 0);
    assert!(matches!(
        Message::parse(&bytes),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(sk_aad(&bytes), Err(WireError::BadLength(_))));
}

// --- Captured exchange -----------------------------------------------------------------------

#[test]
fn captured_ike_sa_init_request() {
    let bytes = unhex(CAPTURED_INIT_REQUEST);
    let m = Message::parse(&bytes).expect("parse captured request");
    assert_eq!(m.header.spi_i, 0xea68_4d21_597a_fd36);
    assert_eq!(m.header.spi_r, 0);
    assert_eq!(m.header.next_payload, payload_type::SA);
    assert_eq!(m.header.exchange, ExchangeType::IkeSaInit);
    assert_eq!(m.header.flags, FLAG_INITIATOR);
    assert_eq!(m.header.message_id, 0);
    assert_eq!(m.header.length, 248);
    assert_eq!(m.payloads.len(), 6);

    let Payload::Sa(proposals) = &m.payloads[0] else {
        panic!("SA first")
    };
    assert_eq!(
        proposals,
        &vec![Proposal {
            number: 1,
            protocol: ProtocolId::Ike,
            spi: vec![],
            transforms: vec![
                Transform::with_key_length(transform_type::ENCR, 15, 128),
                Transform::new(transform_type::PRF, 5),
                Transform::new(transform_type::DH, 19),
            ],
        }]
    );
    let Payload::Ke(ke) = &m.payloads[1] else {
        panic!("KE second")
    };
    assert_eq!(ke.group, 19);
    assert_eq!(ke.data.len(), 64);
    assert_eq!(ke.data[..4], [0x32, 0xc6, 0xdf, 0xfe]);
    let Payload::Nonce(nonce) = &m.payloads[2] else {
        panic!("Nonce third")
    };
    assert_eq!(nonce.len(), 32);
    let types: Vec<u16> = m.payloads[3..]
        .iter()
        .map(|p| match p {
            Payload::Notify(n) => {
                assert_eq!(n.protocol, ProtocolId::Other(0));
                assert!(n.spi.is_empty());
                n.notify_type
            }
            other => panic!("expected notify, got {other:?}"),
        })
        .collect();
    assert_eq!(
        types,
        vec![
            notify_type::NAT_DETECTION_SOURCE_IP,
            notify_type::NAT_DETECTION_DESTINATION_IP,
            notify_type::SIGNATURE_HASH_ALGORITHMS
        ]
    );
    let Payload::Notify(sha) = &m.payloads[5] else {
        panic!()
    };
    assert_eq!(sha.data, vec![0, 1, 0, 2, 0, 3, 0, 4]);
    let Payload::Notify(nat) = &m.payloads[3] else {
        panic!()
    };
    assert_eq!(nat.data.len(), 20);

    // Our encoder produces the same bytes as the peer's.
    assert_eq!(m.emit(), bytes);
}

#[test]
fn captured_ike_sa_init_response() {
    let bytes = unhex(CAPTURED_INIT_RESPONSE);
    let m = Message::parse(&bytes).expect("parse captured response");
    assert_eq!(m.header.spi_r, 0xd9fe_2ab2_2dac_23ac);
    assert_eq!(m.header.flags, FLAG_RESPONSE);
    assert_eq!(m.payloads.len(), 6);
    assert_eq!(
        m.payloads[5],
        Payload::Notify(Notify {
            protocol: ProtocolId::Other(0),
            spi: vec![],
            notify_type: 16404,
            data: vec![],
        })
    );
    assert_eq!(m.emit(), bytes);
}

#[test]
fn captured_encrypted_informational() {
    let bytes = unhex(CAPTURED_INFORMATIONAL);
    let m = Message::parse(&bytes).expect("parse");
    assert_eq!(m.header.exchange, ExchangeType::Informational);
    assert_eq!(m.header.message_id, 2);
    assert_eq!(m.payloads.len(), 1);
    let Payload::Encrypted(sk) = &m.payloads[0] else {
        panic!("SK")
    };
    assert_eq!(sk.first_inner, payload_type::DELETE);
    assert_eq!(sk.data.len(), 29);
    assert_eq!(m.emit(), bytes);

    let parts = sk_aad(&bytes).expect("sk_aad");
    assert_eq!(parts.aad, &bytes[..32]);
    assert_eq!(parts.body, &bytes[32..]);
    assert_eq!(parts.body, &sk.data[..]);
    assert_eq!(parts.message, &bytes[..]);
    assert_eq!(parts.first_inner, payload_type::DELETE);
    assert_eq!(parts.fragment, None);
    assert_eq!(parts.header, m.header);

    // The prefix we would emit for the same message is exactly the received AAD.
    let prefix = emit_sk_prefix(&m.header, payload_type::DELETE, sk.data.len());
    assert_eq!(prefix, parts.aad);
}

// --- Round trips -----------------------------------------------------------------------------

#[test]
fn every_payload_round_trips_alone() {
    for p in samples().into_iter().chain([skf_sample()]) {
        let m = message_with(vec![p.clone()]);
        let bytes = m.emit();
        let parsed = Message::parse(&bytes).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        assert_eq!(parsed.payloads, vec![p.clone()]);
        assert_eq!(parsed.header.next_payload, p.payload_type());
        assert_eq!(parsed.header.length as usize, bytes.len());
        assert_eq!(parsed.emit(), bytes);
        assert_eq!(m.try_emit(), Ok(bytes));
    }
}

#[test]
fn all_payloads_round_trip_in_one_chain() {
    let payloads = samples();
    let m = message_with(payloads.clone());
    let bytes = m.emit();
    let parsed = Message::parse(&bytes).expect("parse");
    assert_eq!(parsed.payloads, payloads);
    let mut expected_header = m.header;
    expected_header.next_payload = payload_type::SA;
    expected_header.length = u32::try_from(bytes.len()).expect("fits");
    assert_eq!(parsed.header, expected_header);

    // The chain codec alone.
    let mut chain = Vec::new();
    let first = emit_payload_chain(&payloads, &mut chain);
    assert_eq!(first, payload_type::SA);
    assert_eq!(parse_payload_chain(first, &chain), Ok(payloads));
    assert_eq!(&bytes[HEADER_LEN..], &chain[..]);
}

#[test]
fn empty_chain() {
    let mut out = Vec::new();
    assert_eq!(emit_payload_chain(&[], &mut out), payload_type::NONE);
    assert!(out.is_empty());
    assert_eq!(parse_payload_chain(payload_type::NONE, &[]), Ok(vec![]));
    // Data after the end of the chain is an error.
    assert!(matches!(
        parse_payload_chain(payload_type::NONE, &[0]),
        Err(WireError::BadLength(_))
    ));
}

// --- Exact layouts (RFC 7296 figures) ------------------------------------------------------

#[test]
fn sa_layout() {
    // Figure 6/7/8: proposal with last/more = 0, transforms with last/more 3 and 0, TV key length.
    let bytes = encode_one(&Payload::Sa(vec![Proposal {
        number: 1,
        protocol: ProtocolId::Esp,
        spi: vec![0xa1, 0xa2, 0xa3, 0xa4],
        transforms: vec![
            Transform::with_key_length(transform_type::ENCR, 20, 256),
            Transform::new(transform_type::ESN, 0),
        ],
    }]));
    assert_eq!(
        bytes,
        unhex(
            "00 00 0024 \
             00 00 0020 01 03 04 02 a1a2a3a4 \
             03 00 000c 01 00 0014 800e 0100 \
             00 00 0008 05 00 0000"
        )
    );
}

#[test]
fn notify_delete_ts_cp_layouts() {
    assert_eq!(
        encode_one(&Payload::Notify(Notify {
            protocol: ProtocolId::Other(0),
            spi: vec![],
            notify_type: notify_type::INITIAL_CONTACT,
            data: vec![],
        })),
        unhex("00 00 0008 00 00 4000")
    );
    assert_eq!(
        encode_one(&Payload::Notify(Notify {
            protocol: ProtocolId::Esp,
            spi: vec![1, 2, 3, 4],
            notify_type: notify_type::REKEY_SA,
            data: vec![0xee],
        })),
        unhex("00 00 000d 03 04 4009 01020304 ee")
    );
    assert_eq!(
        encode_one(&Payload::Delete(Delete {
            protocol: ProtocolId::Ike,
            spis: vec![],
        })),
        unhex("00 00 0008 01 00 0000")
    );
    assert_eq!(
        encode_one(&Payload::Delete(Delete {
            protocol: ProtocolId::Esp,
            spis: vec![vec![1, 2, 3, 4]],
        })),
        unhex("00 00 000c 03 04 0001 01020304")
    );
    assert_eq!(
        encode_one(&Payload::TsI(vec![TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            addresses: AddressRange::V4 {
                start: Ipv4Addr::new(10, 0, 0, 0),
                end: Ipv4Addr::new(10, 255, 255, 255),
            },
        }])),
        unhex("00 00 0018 01 000000 07 00 0010 0000 ffff 0a000000 0affffff")
    );
    assert_eq!(
        encode_one(&Payload::Config(Configuration {
            cfg_type: cfg_type::CFG_REQUEST,
            attributes: vec![
                ConfigAttribute::request(cfg_attr::INTERNAL_IP4_ADDRESS),
                ConfigAttribute::request(cfg_attr::INTERNAL_IP6_ADDRESS),
            ],
        })),
        unhex("00 00 0010 01 000000 0001 0000 0008 0000")
    );
    assert_eq!(
        encode_one(&Payload::Ke(KeyExchangePayload {
            group: 31,
            data: vec![1, 2],
        })),
        unhex("00 00 000a 001f 0000 0102")
    );
    assert_eq!(
        encode_one(&Payload::Auth(Authentication {
            method: auth_method::SHARED_KEY_MIC,
            data: vec![0xab],
        })),
        unhex("00 00 0009 02 000000 ab")
    );
    assert_eq!(
        encode_one(&Payload::Cert(Certificate {
            encoding: 4,
            data: vec![0x30],
        })),
        unhex("00 00 0006 04 30")
    );
}

#[test]
fn identification_auth_bytes() {
    let id = Identification {
        id_type: id_type::FQDN,
        data: b"vpn".to_vec(),
    };
    assert_eq!(id.auth_bytes(), unhex("02 000000 76706e"));
    // It is exactly the body of the ID payload as emitted.
    let bytes = encode_one(&Payload::IdI(id.clone()));
    assert_eq!(&bytes[GENERIC_HEADER_LEN..], &id.auth_bytes()[..]);
}

#[test]
fn payload_types() {
    let expected = [
        33, 34, 35, 36, 37, 38, 39, 40, 41, 41, 42, 42, 43, 44, 45, 47, 48, 200, 201, 46,
    ];
    let got: Vec<u8> = samples().iter().map(Payload::payload_type).collect();
    assert_eq!(got, expected);
    assert_eq!(skf_sample().payload_type(), 53);
}

// --- SK / SKF framing -------------------------------------------------------------------------

#[test]
fn sk_prefix_layout() {
    let mut h = header(ExchangeType::IkeAuth);
    h.next_payload = 0xff; // ignored
    h.length = 1; // ignored
    let prefix = emit_sk_prefix(&h, payload_type::IDI, 100);
    assert_eq!(
        prefix,
        unhex(
            "0102030405060708 1112131415161718 2e 20 23 08 00000007 00000084 \
             23 00 0068"
        )
    );
    // Completing it with a body gives a message that parses back to the same SK payload.
    let mut msg = prefix.clone();
    msg.extend_from_slice(&[0x42; 100]);
    let m = Message::parse(&msg).expect("parse");
    assert_eq!(
        m.payloads,
        vec![Payload::Encrypted(Encrypted {
            first_inner: payload_type::IDI,
            data: vec![0x42; 100],
        })]
    );
    let parts = sk_aad(&msg).expect("sk_aad");
    assert_eq!(parts.aad, &prefix[..]);
    assert_eq!(parts.body.len(), 100);
}

#[test]
fn skf_prefix_layout() {
    let h = header(ExchangeType::IkeAuth);
    let prefix = emit_skf_prefix(&h, payload_type::IDI, 1, 2, 50);
    assert_eq!(
        prefix,
        unhex(
            "0102030405060708 1112131415161718 35 20 23 08 00000007 00000056 \
             23 00 003a 0001 0002"
        )
    );
    let mut msg = prefix.clone();
    msg.extend_from_slice(&[0x11; 50]);
    let m = Message::parse(&msg).expect("parse");
    assert_eq!(
        m.payloads,
        vec![Payload::EncryptedFragment(EncryptedFragment {
            first_inner: payload_type::IDI,
            fragment_number: 1,
            total_fragments: 2,
            data: vec![0x11; 50],
        })]
    );
    let parts = sk_aad(&msg).expect("sk_aad");
    assert_eq!(parts.aad, &prefix[..]);
    assert_eq!(parts.body, &[0x11; 50][..]);
    assert_eq!(parts.first_inner, payload_type::IDI);
    assert_eq!(
        parts.fragment,
        Some(FragmentInfo {
            number: 1,
            total: 2
        })
    );

    // Non-first fragments carry Next Payload 0.
    let second = emit_skf_prefix(&h, 0, 2, 2, 0);
    let parts = sk_aad(&second).expect("sk_aad");
    assert_eq!(parts.first_inner, 0);
    assert!(parts.body.is_empty());
}

#[test]
fn sk_after_unencrypted_payloads() {
    // AAD runs from the header to the SK header, including payloads before SK.
    let m = message_with(vec![
        Payload::VendorId(vec![1, 2, 3]),
        Payload::Encrypted(Encrypted {
            first_inner: payload_type::NOTIFY,
            data: vec![9; 20],
        }),
    ]);
    let bytes = m.emit();
    let parts = sk_aad(&bytes).expect("sk_aad");
    assert_eq!(parts.aad.len(), HEADER_LEN + 7 + 4);
    assert_eq!(parts.body, &[9; 20][..]);
    assert_eq!(parts.first_inner, payload_type::NOTIFY);
}

#[test]
fn sk_errors() {
    // No SK payload.
    let plain = message_with(vec![Payload::VendorId(vec![1])]).emit();
    assert!(matches!(sk_aad(&plain), Err(WireError::Invalid(_))));
    let empty = message_with(vec![]).emit();
    assert!(matches!(sk_aad(&empty), Err(WireError::Invalid(_))));

    // SK not last: extend the message length beyond the SK payload.
    let h = header(ExchangeType::IkeAuth);
    let mut msg = emit_sk_prefix(&h, payload_type::IDI, 8);
    msg.extend_from_slice(&[0; 8]);
    msg.extend_from_slice(&[0; 4]);
    msg[27] += 4;
    assert!(matches!(sk_aad(&msg), Err(WireError::BadLength(_))));
    assert!(matches!(Message::parse(&msg), Err(WireError::BadLength(_))));

    // SK payload running past the message.
    let mut msg = emit_sk_prefix(&h, payload_type::IDI, 8);
    msg.extend_from_slice(&[0; 7]);
    msg[27] -= 1;
    assert!(matches!(sk_aad(&msg), Err(WireError::BadLength(_))));
    assert!(matches!(Message::parse(&msg), Err(WireError::BadLength(_))));

    // Bad SKF fragment numbers.
    for (n, t) in [(0, 1), (1, 0), (3, 2)] {
        let mut msg = emit_skf_prefix(&h, 0, n, t, 4);
        msg.extend_from_slice(&[0; 4]);
        assert_eq!(sk_aad(&msg), Err(WireError::Invalid("SKF fragment number")));
        assert_eq!(
            Message::parse(&msg),
            Err(WireError::Invalid("SKF fragment number"))
        );
    }
    // SKF too short for its fixed fields.
    let mut msg = emit_sk_prefix(&h, 0, 2);
    msg[16] = payload_type::SKF;
    msg.extend_from_slice(&[0; 2]);
    assert!(matches!(sk_aad(&msg), Err(WireError::Truncated(_))));
    assert!(matches!(Message::parse(&msg), Err(WireError::Truncated(_))));
}

// --- Unknown and critical payloads --------------------------------------------------------

#[test]
fn critical_unknown_payload_is_kept() {
    // N(INITIAL_CONTACT) -> type 250 critical -> none.
    let chain = unhex("fa 00 0008 00 00 4000  00 80 0006 abcd");
    let payloads = parse_payload_chain(payload_type::NOTIFY, &chain).expect("parse");
    assert_eq!(
        payloads[1],
        Payload::Unknown {
            payload_type: 250,
            critical: true,
            data: vec![0xab, 0xcd],
        }
    );
    let mut out = Vec::new();
    emit_payload_chain(&payloads, &mut out);
    assert_eq!(out, chain);

    // Non-critical: kept with critical = false; the other 7 flag bits are reserved.
    let chain = unhex("00 7f 0005 01");
    assert_eq!(
        parse_payload_chain(251, &chain),
        Ok(vec![Payload::Unknown {
            payload_type: 251,
            critical: false,
            data: vec![1],
        }])
    );
}

#[test]
fn reserved_fields_are_ignored() {
    // Known payload with the critical bit and reserved bits set, KE with nonzero reserved.
    let chain = unhex("00 ff 000a 0013 ffff 0102");
    assert_eq!(
        parse_payload_chain(payload_type::KE, &chain),
        Ok(vec![Payload::Ke(KeyExchangePayload {
            group: 19,
            data: vec![1, 2],
        })])
    );
    // ID / AUTH / TS / CP reserved bytes.
    let id = unhex("00 00 0009 02 ffffff 61");
    assert!(parse_payload_chain(payload_type::IDI, &id).is_ok());
    let auth = unhex("00 00 0009 02 ffffff 61");
    assert!(parse_payload_chain(payload_type::AUTH, &auth).is_ok());
    let cp = unhex("00 00 0008 02 ffffff");
    assert!(parse_payload_chain(payload_type::CP, &cp).is_ok());
    // Proposal and transform reserved bytes.
    let sa = unhex("00 00 0014 00 ff 0010 01 01 00 01 00 ff 0008 02 ff 0005");
    assert_eq!(
        parse_payload_chain(payload_type::SA, &sa),
        Ok(vec![Payload::Sa(vec![Proposal {
            number: 1,
            protocol: ProtocolId::Ike,
            spi: vec![],
            transforms: vec![Transform::new(transform_type::PRF, 5)],
        }])])
    );
}

// --- Malformed bodies -------------------------------------------------------------------------

/// A single generic payload (Next Payload 0) with `body` and a matching length field.
fn one(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0];
    out.extend_from_slice(&u16::try_from(body.len() + 4).expect("fits").to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn truncated_bodies_error_without_panicking() {
    // Body lengths below which a truncated body must be rejected (0: any truncation may still
    // be structurally valid; usize::MAX: no strict prefix is valid).
    fn must_fail_below(p: &Payload) -> usize {
        match p {
            // Every strict prefix of these is malformed.
            Payload::Sa(_) | Payload::TsI(_) | Payload::TsR(_) => usize::MAX,
            Payload::Delete(d) if !d.spis.is_empty() => usize::MAX,
            Payload::Ke(_) | Payload::IdI(_) | Payload::IdR(_) | Payload::Auth(_) => 4,
            Payload::Config(_) => 4,
            Payload::Cert(_) | Payload::CertReq(_) => 1,
            Payload::Nonce(_) => 16,
            Payload::Notify(n) => 4 + n.spi.len(),
            Payload::Delete(_) => 4,
            Payload::EncryptedFragment(_) => 4,
            _ => 0,
        }
    }
    for p in samples().into_iter().chain([skf_sample()]) {
        let full = encode_one(&p);
        let body = &full[GENERIC_HEADER_LEN..];
        let limit = must_fail_below(&p);
        for cut in 0..body.len() {
            let chain = one(&body[..cut]);
            let result = parse_payload_chain(p.payload_type(), &chain);
            if cut < limit {
                assert!(result.is_err(), "{p:?} cut at {cut} parsed: {result:?}");
            }
        }
        // Truncating the buffer (length field unchanged) is always an error.
        for cut in 0..full.len() {
            assert!(
                parse_payload_chain(p.payload_type(), &full[..cut]).is_err(),
                "{p:?} buffer cut at {cut}"
            );
        }
        // And so is every truncation of a whole message.
        let msg = message_with(vec![p.clone()]).emit();
        for cut in 0..msg.len() {
            assert!(Message::parse(&msg[..cut]).is_err());
            let _ = sk_aad(&msg[..cut]);
        }
    }
}

#[test]
fn generic_header_errors() {
    assert_eq!(
        parse_payload_chain(payload_type::NONCE, &[0, 0, 0]),
        Err(WireError::Truncated("generic payload header"))
    );
    assert_eq!(
        parse_payload_chain(payload_type::VENDOR_ID, &unhex("00 00 0003")),
        Err(WireError::BadLength("payload"))
    );
    assert_eq!(
        parse_payload_chain(payload_type::VENDOR_ID, &unhex("00 00 0006 01")),
        Err(WireError::BadLength("payload"))
    );
    // Next payload announced but no bytes left.
    assert!(parse_payload_chain(payload_type::VENDOR_ID, &unhex("2b 00 0004")).is_err());
    // Zero-length bodies are fine where the payload allows it.
    assert_eq!(
        parse_payload_chain(payload_type::VENDOR_ID, &unhex("00 00 0004")),
        Ok(vec![Payload::VendorId(vec![])])
    );
}

#[test]
fn sa_errors() {
    let sa = |body: &str| parse_payload_chain(payload_type::SA, &one(&unhex(body)));
    // No proposals.
    assert!(matches!(sa(""), Err(WireError::Invalid(_))));
    // Proposal length below 8.
    assert!(matches!(
        sa("00 00 0007 01 01 00"),
        Err(WireError::BadLength(_))
    ));
    // Proposal length beyond the payload.
    assert!(matches!(
        sa("00 00 0010 01 01 00 00"),
        Err(WireError::BadLength(_))
    ));
    // Bad last/more.
    assert!(matches!(
        sa("01 00 0008 01 01 00 00"),
        Err(WireError::Invalid(_))
    ));
    // "More" but nothing follows.
    assert!(sa("02 00 0008 01 01 00 00").is_err());
    // "Last" but something follows.
    assert!(matches!(
        sa("00 00 0008 01 01 00 00  00 00 0008 02 01 00 00"),
        Err(WireError::BadLength(_))
    ));
    // Two proposals correctly chained.
    assert!(sa("02 00 0008 01 01 00 00  00 00 0008 02 01 00 00").is_ok());
    // Transform count says 2, data has 1.
    assert!(matches!(
        sa("00 00 0010 01 01 00 02 00 00 0008 02 00 0005"),
        Err(WireError::Invalid(_) | WireError::BadLength(_))
    ));
    assert!(matches!(
        sa("00 00 0010 01 01 00 02 03 00 0008 02 00 0005"),
        Err(WireError::BadLength(_))
    ));
    // Transform count says 1, data has 2.
    assert!(matches!(
        sa("00 00 0018 01 01 00 01 03 00 0008 02 00 0005 00 00 0008 03 00 0005"),
        Err(WireError::Invalid(_) | WireError::BadLength(_))
    ));
    assert!(matches!(
        sa("00 00 0018 01 01 00 01 00 00 0008 02 00 0005 00 00 0008 03 00 0005"),
        Err(WireError::BadLength(_))
    ));
    // Transform last/more wrong.
    assert!(matches!(
        sa("00 00 0010 01 01 00 01 03 00 0008 02 00 0005"),
        Err(WireError::Invalid(_))
    ));
    // Transform length below 8, beyond the proposal.
    assert!(matches!(
        sa("00 00 0010 01 01 00 01 00 00 0007 02 00 0005"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        sa("00 00 0010 01 01 00 01 00 00 0009 02 00 0005"),
        Err(WireError::BadLength(_))
    ));
    // SPI size beyond the proposal.
    assert!(matches!(
        sa("00 00 000a 01 03 04 00 0102"),
        Err(WireError::BadLength(_))
    ));
    // Attribute: TV cut short, TLV length beyond the transform, duplicate key length.
    assert!(sa("00 00 0012 01 01 00 01 00 00 000a 01 00 000c 800e").is_err());
    assert!(matches!(
        sa("00 00 0014 01 01 00 01 00 00 000c 01 00 000c 0063 0005"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        sa("00 00 0018 01 01 00 01 00 00 0010 01 00 000c 800e 0080 800e 0100"),
        Err(WireError::Invalid(_))
    ));
    // A TLV attribute is kept.
    assert_eq!(
        sa("00 00 0016 01 01 00 01 00 00 000e 01 00 000c 0063 0002 abcd"),
        Ok(vec![Payload::Sa(vec![Proposal {
            number: 1,
            protocol: ProtocolId::Ike,
            spi: vec![],
            transforms: vec![Transform {
                other_attributes: vec![TransformAttribute {
                    attr_type: 99,
                    value: AttributeValue::Tlv(vec![0xab, 0xcd]),
                }],
                ..Transform::new(transform_type::ENCR, 12)
            }],
        }])])
    );
}

#[test]
fn nonce_length_bounds() {
    for (len, ok) in [
        (0, false),
        (15, false),
        (16, true),
        (256, true),
        (257, false),
    ] {
        let r = parse_payload_chain(payload_type::NONCE, &one(&vec![7; len]));
        assert_eq!(r.is_ok(), ok, "nonce of {len}");
        if !ok {
            assert_eq!(r, Err(WireError::Invalid("nonce length")));
        }
    }
    // try_emit refuses to send an illegal nonce; emit still does not panic.
    let m = message_with(vec![Payload::Nonce(vec![1; 8])]);
    assert!(m.try_emit().is_err());
    assert!(!m.emit().is_empty());
}

#[test]
fn notify_and_delete_errors() {
    let notify = |body: &str| parse_payload_chain(payload_type::NOTIFY, &one(&unhex(body)));
    assert!(matches!(
        notify("03 04 4009 0102"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(notify("00 00 40"), Err(WireError::Truncated(_))));
    // Protocol 1 with SPI size 0 is accepted as is (the SPI field is absent).
    assert!(notify("01 00 4000").is_ok());

    let delete = |body: &str| parse_payload_chain(payload_type::DELETE, &one(&unhex(body)));
    assert!(matches!(
        delete("03 04 0002 01020304"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        delete("03 04 0001 0102030405"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        delete("01 00 0000 01"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(delete("03 04 00"), Err(WireError::Truncated(_))));
    assert_eq!(
        delete("01 00 0000"),
        Ok(vec![Payload::Delete(Delete {
            protocol: ProtocolId::Ike,
            spis: vec![],
        })])
    );
}

#[test]
fn ts_errors() {
    let ts = |body: &str| parse_payload_chain(payload_type::TSI, &one(&unhex(body)));
    let v4 = "07 00 0010 0000 ffff 0a000000 0affffff";
    assert!(ts(&format!("01 000000 {v4}")).is_ok());
    // Count disagrees with the data, both ways.
    assert!(matches!(
        ts(&format!("02 000000 {v4}")),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        ts(&format!("01 000000 {v4} {v4}")),
        Err(WireError::BadLength(_))
    ));
    // Selector length mismatch.
    assert_eq!(
        ts("01 000000 07 00 0028 0000 ffff 0a000000 0affffff"),
        Err(WireError::BadLength("traffic selector"))
    );
    assert_eq!(
        ts(&format!(
            "01 000000 08 00 0010 0000 ffff {}",
            "00".repeat(32)
        )),
        Err(WireError::BadLength("traffic selector"))
    );
    // Unknown selector type.
    assert!(matches!(
        ts("01 000000 0a 00 0010 0000 ffff 0a000000 0affffff"),
        Err(WireError::Invalid(_))
    ));
    // Start > end is kept for the semantic layer.
    assert!(ts("01 000000 07 00 0010 ffff 0000 0affffff 0a000000").is_ok());
}

#[test]
fn cp_attributes() {
    let cp = |body: &str| parse_payload_chain(payload_type::CP, &one(&unhex(body)));
    // Empty INTERNAL_IP4_ADDRESS in a request, 4 bytes in a reply.
    let Ok(req) = cp("01 000000 0001 0000 000d 0000") else {
        panic!()
    };
    let Payload::Config(c) = &req[0] else {
        panic!()
    };
    assert_eq!(c.attributes[0].typed(), Ok(ConfigValue::Ip4(None)));
    assert_eq!(c.attributes[1].typed(), Ok(ConfigValue::Ip4Subnet(None)));
    let Ok(rep) = cp("02 000000 0001 0004 0a000001 0008 0011 20010db8000000000000000000000001 40")
    else {
        panic!()
    };
    let Payload::Config(c) = &rep[0] else {
        panic!()
    };
    assert_eq!(
        c.attributes[0].typed(),
        Ok(ConfigValue::Ip4(Some(Ipv4Addr::new(10, 0, 0, 1))))
    );
    assert_eq!(
        c.attributes[1].typed(),
        Ok(ConfigValue::Ip6Prefix(Some((
            "2001:db8::1".parse().expect("v6"),
            64
        ))))
    );
    // The reserved top bit of the attribute type is ignored.
    let Ok(r) = cp("02 000000 8001 0004 0a000001") else {
        panic!()
    };
    let Payload::Config(c) = &r[0] else { panic!() };
    assert_eq!(c.attributes[0].attr_type, cfg_attr::INTERNAL_IP4_ADDRESS);
    // Wrong lengths for defined attributes.
    assert!(matches!(
        cp("02 000000 0001 0003 0a0000"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        cp("02 000000 000d 0004 0a000000"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        cp("02 000000 000a 0004 0a000000"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        cp("02 000000 000e 0003 000100"),
        Err(WireError::BadLength(_))
    ));
    assert!(matches!(
        cp("02 000000 0008 0011 20010db8000000000000000000000001 81"),
        Err(WireError::Invalid(_))
    ));
    // Attribute length beyond the payload.
    assert!(matches!(
        cp("02 000000 0001 0008 0a000001"),
        Err(WireError::BadLength(_))
    ));
    // Half an attribute header.
    assert!(matches!(cp("02 000000 00"), Err(WireError::Truncated(_))));
    // Unknown attribute types are raw.
    assert_eq!(
        ConfigValue::decode(30_000, &[1, 2, 3]),
        Ok(ConfigValue::Raw(vec![1, 2, 3]))
    );
    // Typed encode/decode round trip for every variant.
    for (t, v) in [
        (cfg_attr::INTERNAL_IP4_NETMASK, ConfigValue::Ip4(None)),
        (
            cfg_attr::INTERNAL_IP4_DHCP,
            ConfigValue::Ip4(Some(Ipv4Addr::LOCALHOST)),
        ),
        (cfg_attr::INTERNAL_IP6_DHCP, ConfigValue::Ip6(None)),
        (cfg_attr::INTERNAL_IP6_SUBNET, ConfigValue::Ip6Prefix(None)),
        (
            cfg_attr::APPLICATION_VERSION,
            ConfigValue::Text(b"strait 1".to_vec()),
        ),
        (
            cfg_attr::SUPPORTED_ATTRIBUTES,
            ConfigValue::SupportedAttributes(vec![]),
        ),
    ] {
        assert_eq!(ConfigValue::decode(t, &v.encode()), Ok(v));
    }
}

// --- Limits ---------------------------------------------------------------------------------

#[test]
fn limits_are_enforced() {
    // 64 payloads are fine, 65 are too many.
    let vid = || Payload::VendorId(vec![1]);
    let ok = message_with(vec![vid(); limits::MAX_PAYLOADS]).emit();
    assert_eq!(
        Message::parse(&ok).map(|m| m.payloads.len()),
        Ok(limits::MAX_PAYLOADS)
    );
    let many = message_with(vec![vid(); limits::MAX_PAYLOADS + 1]).emit();
    assert_eq!(Message::parse(&many), Err(WireError::TooMany("payloads")));
    let mut chain = Vec::new();
    let first = emit_payload_chain(&vec![vid(); 65], &mut chain);
    assert_eq!(
        parse_payload_chain(first, &chain),
        Err(WireError::TooMany("payloads"))
    );

    // Proposals.
    let prop = |n: u8| Proposal {
        number: n,
        protocol: ProtocolId::Ike,
        spi: vec![],
        transforms: vec![Transform::new(transform_type::DH, 19)],
    };
    let sa = |n: usize| {
        let p = Payload::Sa((0..n).map(|i| prop(i as u8)).collect());
        parse_payload_chain(payload_type::SA, &encode_one(&p))
    };
    assert!(sa(limits::MAX_PROPOSALS).is_ok());
    assert_eq!(
        sa(limits::MAX_PROPOSALS + 1),
        Err(WireError::TooMany("proposals"))
    );

    // Transforms.
    let tr = |n: usize| {
        let p = Payload::Sa(vec![Proposal {
            transforms: vec![Transform::new(transform_type::DH, 19); n],
            ..prop(1)
        }]);
        parse_payload_chain(payload_type::SA, &encode_one(&p))
    };
    assert!(tr(limits::MAX_TRANSFORMS).is_ok());
    assert_eq!(
        tr(limits::MAX_TRANSFORMS + 1),
        Err(WireError::TooMany("transforms"))
    );

    // Selectors.
    let sel = TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        addresses: AddressRange::V4 {
            start: Ipv4Addr::UNSPECIFIED,
            end: Ipv4Addr::BROADCAST,
        },
    };
    let ts = |n: usize| {
        parse_payload_chain(
            payload_type::TSR,
            &encode_one(&Payload::TsR(vec![sel.clone(); n])),
        )
    };
    assert!(ts(limits::MAX_SELECTORS).is_ok());
    assert_eq!(
        ts(limits::MAX_SELECTORS + 1),
        Err(WireError::TooMany("traffic selectors"))
    );

    // Delete SPIs.
    let del = |n: usize| {
        let d = Payload::Delete(Delete {
            protocol: ProtocolId::Esp,
            spis: vec![vec![1, 2, 3, 4]; n],
        });
        parse_payload_chain(payload_type::DELETE, &encode_one(&d))
    };
    assert!(del(limits::MAX_DELETE_SPIS).is_ok());
    assert_eq!(
        del(limits::MAX_DELETE_SPIS + 1),
        Err(WireError::TooMany("SPIs to delete"))
    );

    // Configuration attributes.
    let cp = |n: usize| {
        let c = Payload::Config(Configuration {
            cfg_type: cfg_type::CFG_REQUEST,
            attributes: vec![ConfigAttribute::request(cfg_attr::INTERNAL_IP4_DNS); n],
        });
        parse_payload_chain(payload_type::CP, &encode_one(&c))
    };
    assert!(cp(limits::MAX_ATTRIBUTES).is_ok());
    assert_eq!(
        cp(limits::MAX_ATTRIBUTES + 1),
        Err(WireError::TooMany("configuration attributes"))
    );
}

#[test]
fn try_emit_reports_what_does_not_fit() {
    let big = message_with(vec![Payload::VendorId(vec![0; 70_000])]);
    assert!(big.try_emit().is_err());
    let _ = big.emit();
    let many_transforms = message_with(vec![Payload::Sa(vec![Proposal {
        number: 1,
        protocol: ProtocolId::Ike,
        spi: vec![],
        transforms: vec![Transform::new(1, 1); 256],
    }])]);
    assert!(many_transforms.try_emit().is_err());
    let mixed_spis = message_with(vec![Payload::Delete(Delete {
        protocol: ProtocolId::Esp,
        spis: vec![vec![1, 2, 3, 4], vec![1]],
    })]);
    assert!(mixed_spis.try_emit().is_err());
    let empty_sa = message_with(vec![Payload::Sa(vec![])]);
    assert!(empty_sa.try_emit().is_err());
    // Just fits.
    let fits = message_with(vec![Payload::VendorId(vec![
        0;
        limits::MAX_MESSAGE_LEN
            - HEADER_LEN
            - 4
    ])]);
    assert!(fits.try_emit().is_ok());
}

// --- Fuzzing ----------------------------------------------------------------------------------

/// Parses `bytes` every way a peer's bytes can reach us, which must never panic; whatever
/// parses must re-encode to something that parses to the same value.
fn parse_everything(bytes: &[u8]) {
    let _ = Header::parse(bytes);
    let _ = sk_aad(bytes);
    if let Ok(m) = Message::parse(bytes) {
        let again = Message::parse(&m.emit()).expect("re-parse of emitted message");
        assert_eq!(again.payloads, m.payloads);
    }
    if let Some((&first, rest)) = bytes.split_first() {
        if let Ok(chain) = parse_payload_chain(first, rest) {
            let mut out = Vec::new();
            let t = emit_payload_chain(&chain, &mut out);
            assert_eq!(parse_payload_chain(t, &out), Ok(chain));
        }
    }
    for t in [33, 34, 35, 37, 39, 40, 41, 42, 44, 46, 47, 48, 53, 99] {
        let _ = parse_payload_chain(t, bytes);
    }
}

fn valid_messages() -> Vec<Vec<u8>> {
    let mut v = vec![
        unhex(CAPTURED_INIT_REQUEST),
        unhex(CAPTURED_INIT_RESPONSE),
        unhex(CAPTURED_INFORMATIONAL),
        message_with(samples()).emit(),
        message_with(vec![skf_sample()]).emit(),
    ];
    for p in samples() {
        v.push(message_with(vec![p]).emit());
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_everything(&bytes);
    }

    #[test]
    fn parse_never_panics_on_random_ike_like_bytes(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        first in 33u8..=53,
    ) {
        // A valid header in front of random payloads, so the chain parser gets exercised.
        let mut h = header(ExchangeType::IkeAuth);
        h.next_payload = first;
        h.length = u32::try_from(HEADER_LEN + body.len()).expect("fits");
        let mut bytes = Vec::new();
        h.emit(&mut bytes);
        bytes.extend_from_slice(&body);
        parse_everything(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_messages(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let messages = valid_messages();
        let mut bytes = which.get(&messages).clone();
        for (pos, value, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = pos.index(bytes.len());
            match kind {
                0 => bytes[i] = value,
                1 => bytes[i] ^= 1 << (value % 8),
                2 => bytes.truncate(i),
                _ => bytes.insert(i, value),
            }
        }
        parse_everything(&bytes);
    }

    #[test]
    fn valid_messages_round_trip(which in any::<prop::sample::Index>()) {
        let messages = valid_messages();
        let bytes = which.get(&messages);
        let m = Message::parse(bytes).expect("valid");
        prop_assert_eq!(&m.emit(), bytes);
    }
}
