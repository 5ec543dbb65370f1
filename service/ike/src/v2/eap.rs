//! The EAP peer inside IKE_AUTH (RFC 7296 §2.16): EAP-Identity and EAP-MSCHAPv2 (RFC 3748,
//! RFC 2759, draft-kamath-pppext-eap-mschapv2), with the MSK of RFC 3079 that keys the final
//! AUTH payloads.
//!
//! MD4 (`md4`) and single DES (`des`) are used directly here: MSCHAPv2 is their only user and
//! the provider interface does not offer them.

use des::cipher::{BlockEncrypt, KeyInit};
use md4::Md4;
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use crate::event::Error;

/// EAP codes.
mod code {
    pub const REQUEST: u8 = 1;
    pub const RESPONSE: u8 = 2;
    pub const SUCCESS: u8 = 3;
    pub const FAILURE: u8 = 4;
}

/// EAP method types.
mod eap_type {
    pub const IDENTITY: u8 = 1;
    pub const NOTIFICATION: u8 = 2;
    pub const NAK: u8 = 3;
    pub const MSCHAPV2: u8 = 26;
}

/// MSCHAPv2 op codes.
mod op {
    pub const CHALLENGE: u8 = 1;
    pub const RESPONSE: u8 = 2;
    pub const SUCCESS: u8 = 3;
    pub const FAILURE: u8 = 4;
}

/// What the EAP peer wants next.
#[derive(Debug)]
pub enum EapStep {
    /// Send this EAP packet to the gateway.
    Reply(Vec<u8>),
    /// EAP succeeded: the MSK keys the final AUTH payloads.
    Success(Zeroizing<Vec<u8>>),
}

/// Our side of one EAP conversation.
pub struct EapPeer {
    identity: Vec<u8>,
    username: String,
    password: Zeroizing<String>,
    peer_challenge: [u8; 16],
    /// After our MSCHAPv2 response: the authenticator response we expect and the MSK.
    pending: Option<(String, Zeroizing<Vec<u8>>)>,
    /// The MSK once the gateway's MSCHAPv2 success message verified.
    msk: Option<Zeroizing<Vec<u8>>>,
    rounds: u32,
}

impl std::fmt::Debug for EapPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EapPeer")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// More round trips than any EAP-MSCHAPv2 run needs means a broken or hostile gateway.
const MAX_ROUNDS: u32 = 16;

impl EapPeer {
    /// A peer that answers EAP-Identity with `identity` and MSCHAPv2 with `username` and
    /// `password`; `peer_challenge` must be 16 fresh random bytes.
    pub fn new(
        identity: Vec<u8>,
        username: String,
        password: Zeroizing<String>,
        peer_challenge: [u8; 16],
    ) -> EapPeer {
        EapPeer {
            identity,
            username,
            password,
            peer_challenge,
            pending: None,
            msk: None,
            rounds: 0,
        }
    }

    fn failed(&self, detail: impl Into<String>) -> Error {
        Error::EapFailed {
            username: self.username.clone(),
            detail: detail.into(),
        }
    }

    /// Handles one EAP packet from the gateway.
    pub fn handle(&mut self, packet: &[u8]) -> Result<EapStep, Error> {
        let bad = |d: &str| Error::Protocol {
            stage: crate::event::Stage::IkeAuth,
            detail: format!("bad EAP packet: {d}"),
        };
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            return Err(bad("too many EAP rounds"));
        }
        if packet.len() < 4 {
            return Err(bad("too short"));
        }
        let (c, id) = (packet[0], packet[1]);
        let len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        if len < 4 || len > packet.len() {
            return Err(bad("length field"));
        }
        let packet = &packet[..len];
        match c {
            code::SUCCESS => {
                return match self.msk.take() {
                    Some(msk) => Ok(EapStep::Success(msk)),
                    None => Err(bad("EAP success before the method finished")),
                }
            }
            code::FAILURE => return Err(self.failed("the gateway sent EAP failure")),
            code::REQUEST => {}
            _ => return Err(bad("unexpected EAP code")),
        }
        let Some(&t) = packet.get(4) else {
            return Err(bad("request without a type"));
        };
        let data = &packet[5..];
        match t {
            eap_type::IDENTITY => Ok(EapStep::Reply(response(id, t, &self.identity))),
            eap_type::NOTIFICATION => Ok(EapStep::Reply(response(id, t, &[]))),
            eap_type::MSCHAPV2 => self.mschapv2(id, data),
            _ => Ok(EapStep::Reply(response(
                id,
                eap_type::NAK,
                &[eap_type::MSCHAPV2],
            ))),
        }
    }

    fn mschapv2(&mut self, id: u8, data: &[u8]) -> Result<EapStep, Error> {
        let bad = |d: &str| Error::Protocol {
            stage: crate::event::Stage::IkeAuth,
            detail: format!("bad EAP-MSCHAPv2 packet: {d}"),
        };
        if data.len() < 4 {
            return Err(bad("too short"));
        }
        let (opcode, ms_id) = (data[0], data[1]);
        match opcode {
            op::CHALLENGE => {
                // OpCode, MS-CHAPv2-ID, MS-Length(2), Value-Size(1) = 16, Challenge, Name
                if data.len() < 5 + 16 || data[4] != 16 {
                    return Err(bad("challenge"));
                }
                let mut auth_challenge = [0u8; 16];
                auth_challenge.copy_from_slice(&data[5..21]);
                let user = self.username.as_bytes();
                let pw_hash = nt_password_hash(&self.password);
                let challenge = challenge_hash(&self.peer_challenge, &auth_challenge, user);
                let nt_response = challenge_response(&challenge, &pw_hash);
                let expected = authenticator_response(&pw_hash, &nt_response, &challenge);
                let msk = msk(&pw_hash, &nt_response);
                self.pending = Some((expected, msk));
                // Value: PeerChallenge(16) Reserved(8) NT-Response(24) Flags(1)
                let ms_len = 4 + 1 + 49 + user.len();
                let mut body = Vec::with_capacity(ms_len);
                body.extend_from_slice(&[op::RESPONSE, ms_id]);
                body.extend_from_slice(&(ms_len as u16).to_be_bytes());
                body.push(49);
                body.extend_from_slice(&self.peer_challenge);
                body.extend_from_slice(&[0u8; 8]);
                body.extend_from_slice(&nt_response);
                body.push(0);
                body.extend_from_slice(user);
                Ok(EapStep::Reply(response(id, eap_type::MSCHAPV2, &body)))
            }
            op::SUCCESS => {
                let Some((expected, msk)) = self.pending.take() else {
                    return Err(bad("success before our response"));
                };
                // The message is "S=<40 hex digits> M=<text>".
                let msg = String::from_utf8_lossy(&data[4..]);
                let got = msg.get(..42).unwrap_or("");
                if !got.eq_ignore_ascii_case(&expected) {
                    return Err(Error::PeerAuthenticationFailed {
                        remote_id: "the gateway (EAP-MSCHAPv2 authenticator response)".into(),
                    });
                }
                self.msk = Some(msk);
                Ok(EapStep::Reply(response(
                    id,
                    eap_type::MSCHAPV2,
                    &[op::SUCCESS],
                )))
            }
            op::FAILURE => {
                let msg = String::from_utf8_lossy(&data[4..]).to_string();
                Err(self.failed(failure_text(&msg)))
            }
            _ => Err(bad("unknown op code")),
        }
    }
}

/// A readable summary of an MSCHAPv2 failure message ("E=691 R=0 C=... V=3 M=...").
fn failure_text(msg: &str) -> String {
    let code = msg
        .split(' ')
        .find_map(|f| f.strip_prefix("E="))
        .unwrap_or("?");
    let meaning = match code {
        "691" => "authentication failure",
        "646" => "logins are restricted at this time",
        "647" => "the account is disabled",
        "648" => "the password has expired",
        "649" => "no dial-in permission",
        _ => "refused",
    };
    format!("MSCHAPv2 error {code}: {meaning}")
}

fn response(id: u8, t: u8, data: &[u8]) -> Vec<u8> {
    let len = (5 + data.len()) as u16;
    let mut out = Vec::with_capacity(usize::from(len));
    out.extend_from_slice(&[code::RESPONSE, id]);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(t);
    out.extend_from_slice(data);
    out
}

/// NtPasswordHash (RFC 2759 §8.3): MD4 of the UTF-16LE password.
fn nt_password_hash(password: &str) -> Zeroizing<[u8; 16]> {
    let mut utf16 = Zeroizing::new(Vec::with_capacity(password.len() * 2));
    for u in password.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let mut out = Zeroizing::new([0u8; 16]);
    out.copy_from_slice(&Md4::digest(utf16.as_slice()));
    out
}

/// ChallengeHash (§8.2).
fn challenge_hash(peer: &[u8; 16], auth: &[u8; 16], user: &[u8]) -> [u8; 8] {
    let d = Sha1::new()
        .chain_update(peer)
        .chain_update(auth)
        .chain_update(user)
        .finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// ChallengeResponse (§8.5): three DES encryptions of the challenge under the zero-padded hash.
fn challenge_response(challenge: &[u8; 8], pw_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = Zeroizing::new([0u8; 21]);
    z[..16].copy_from_slice(pw_hash);
    let mut out = [0u8; 24];
    for i in 0..3 {
        let mut key7 = [0u8; 7];
        key7.copy_from_slice(&z[i * 7..i * 7 + 7]);
        let key = des_key(&key7);
        let block = des_encrypt(&key, challenge);
        out[i * 8..i * 8 + 8].copy_from_slice(&block);
    }
    out
}

/// Spreads 56 key bits over 8 bytes (the parity bits are ignored by DES).
fn des_key(k: &[u8; 7]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = k[0];
    out[1] = (k[0] << 7) | (k[1] >> 1);
    out[2] = (k[1] << 6) | (k[2] >> 2);
    out[3] = (k[2] << 5) | (k[3] >> 3);
    out[4] = (k[3] << 4) | (k[4] >> 4);
    out[5] = (k[4] << 3) | (k[5] >> 5);
    out[6] = (k[5] << 2) | (k[6] >> 6);
    out[7] = k[6] << 1;
    out
}

fn des_encrypt(key: &[u8; 8], block: &[u8; 8]) -> [u8; 8] {
    let cipher = des::Des::new(key.into());
    let mut b = des::cipher::generic_array::GenericArray::clone_from_slice(block);
    cipher.encrypt_block(&mut b);
    let mut out = [0u8; 8];
    out.copy_from_slice(&b);
    out
}

const MAGIC1: &[u8] = b"Magic server to client signing constant";
const MAGIC2: &[u8] = b"Pad to make it do more than one iteration";

/// GenerateAuthenticatorResponse (§8.7): "S=" and 40 upper-case hex digits.
fn authenticator_response(
    pw_hash: &[u8; 16],
    nt_response: &[u8; 24],
    challenge: &[u8; 8],
) -> String {
    let hash_hash = Md4::digest(pw_hash);
    let d = Sha1::new()
        .chain_update(hash_hash)
        .chain_update(nt_response)
        .chain_update(MAGIC1)
        .finalize();
    let d = Sha1::new()
        .chain_update(d)
        .chain_update(challenge)
        .chain_update(MAGIC2)
        .finalize();
    let mut s = String::from("S=");
    for b in d {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// The MSK (RFC 3079 §3.4, as strongSwan and hostapd derive it): the peer's MPPE send key, its
/// receive key, and 32 zero bytes.
fn msk(pw_hash: &[u8; 16], nt_response: &[u8; 24]) -> Zeroizing<Vec<u8>> {
    const MASTER: &[u8] = b"This is the MPPE Master Key";
    const SEND: &[u8] =
        b"On the client side, this is the send key; on the server side, it is the receive key.";
    const RECV: &[u8] =
        b"On the client side, this is the receive key; on the server side, it is the send key.";
    let hash_hash = Md4::digest(pw_hash);
    let master = Sha1::new()
        .chain_update(hash_hash)
        .chain_update(nt_response)
        .chain_update(MASTER)
        .finalize();
    let start_key = |magic: &[u8]| {
        Sha1::new()
            .chain_update(&master[..16])
            .chain_update([0u8; 40])
            .chain_update(magic)
            .chain_update([0xf2u8; 40])
            .finalize()
    };
    let mut out = Zeroizing::new(Vec::with_capacity(64));
    out.extend_from_slice(&start_key(SEND)[..16]);
    out.extend_from_slice(&start_key(RECV)[..16]);
    out.extend_from_slice(&[0u8; 32]);
    out
}

/// The MSCHAPv2 computations for the test gateway of the state machine tests.
#[cfg(test)]
pub(crate) mod test_support {
    pub fn nt_hash(password: &str) -> [u8; 16] {
        *super::nt_password_hash(password)
    }
    pub fn challenge_hash(peer: &[u8; 16], auth: &[u8; 16], user: &[u8]) -> [u8; 8] {
        super::challenge_hash(peer, auth, user)
    }
    pub fn response(challenge: &[u8; 8], hash: &[u8; 16]) -> [u8; 24] {
        super::challenge_response(challenge, hash)
    }
    pub fn authenticator(hash: &[u8; 16], nt: &[u8; 24], challenge: &[u8; 8]) -> String {
        super::authenticator_response(hash, nt, challenge)
    }
    pub fn msk(hash: &[u8; 16], nt: &[u8; 24]) -> Vec<u8> {
        super::msk(hash, nt).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// RFC 2759 §9.2 test vectors, and RFC 3079 §3.5.3 for the MPPE keys.
    #[test]
    fn rfc2759_vectors() {
        let user = b"User";
        let pw = "clientPass";
        let auth: [u8; 16] = h("5B5D7C7D7B3F2F3E3C2C602132262628").try_into().unwrap();
        let peer: [u8; 16] = h("21402324255E262A28295F2B3A337C7E").try_into().unwrap();
        let hash = nt_password_hash(pw);
        assert_eq!(hash.to_vec(), h("44EBBA8D5312B8D611474411F56989AE"));
        let ch = challenge_hash(&peer, &auth, user);
        assert_eq!(ch.to_vec(), h("D02E4386BCE91226"));
        let nt = challenge_response(&ch, &hash);
        assert_eq!(
            nt.to_vec(),
            h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
        assert_eq!(
            authenticator_response(&hash, &nt, &ch),
            "S=407A5589115FD0D6209F510FE9C04566932CDA56"
        );
        // RFC 3079 §3.5.3 (128-bit keys): MasterKey FDECE3717A8C838CB388E527AE3CDD31,
        // SendStartKey128 (the server's send key = our receive key, the second half of the
        // MSK's keys) 8B7CDC149B993A1BA118CB153F56DCCB.
        let m = msk(&hash, &nt);
        assert_eq!(m[16..32].to_vec(), h("8B7CDC149B993A1BA118CB153F56DCCB"));
        assert_eq!(m.len(), 64);
    }

    #[test]
    fn identity_challenge_success_flow() {
        let mut p = EapPeer::new(
            b"alice".to_vec(),
            "User".into(),
            Zeroizing::new("clientPass".into()),
            h("21402324255E262A28295F2B3A337C7E").try_into().unwrap(),
        );
        let EapStep::Reply(r) = p.handle(&[1, 7, 0, 5, 1]).unwrap() else {
            panic!()
        };
        assert_eq!(r, [2, 7, 0, 10, 1, b'a', b'l', b'i', b'c', b'e']);
        let mut ch = vec![1, 8, 0, 0, 26, 1, 0x42, 0, 0, 16];
        ch.extend(h("5B5D7C7D7B3F2F3E3C2C602132262628"));
        ch.extend(b"gw");
        let l = ch.len() as u16;
        ch[2..4].copy_from_slice(&l.to_be_bytes());
        let EapStep::Reply(r) = p.handle(&ch).unwrap() else {
            panic!()
        };
        assert_eq!(r[4], 26);
        assert_eq!(r[5], op::RESPONSE);
        assert_eq!(
            r[5 + 4 + 1 + 24..5 + 4 + 1 + 48].to_vec(),
            h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
        // A wrong authenticator response is the gateway failing to prove the password.
        let mut bad = p.clone_for_test();
        let s = b"S=007A5589115FD0D6209F510FE9C04566932CDA56 M=ok";
        let mut succ = vec![1, 9, 0, 0, 26, 3, 0x42, 0, 0];
        succ.extend(s);
        let l = succ.len() as u16;
        succ[2..4].copy_from_slice(&l.to_be_bytes());
        assert!(matches!(
            bad.handle(&succ),
            Err(Error::PeerAuthenticationFailed { .. })
        ));
        let s = b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=ok";
        succ.truncate(9);
        succ.extend(s);
        let EapStep::Reply(r) = p.handle(&succ).unwrap() else {
            panic!()
        };
        assert_eq!(r, [2, 9, 0, 6, 26, 3]);
        let EapStep::Success(msk) = p.handle(&[3, 10, 0, 4]).unwrap() else {
            panic!()
        };
        assert_eq!(msk.len(), 64);
    }

    #[test]
    fn failure_is_wrong_password_and_garbage_is_an_error() {
        let mut p = EapPeer::new(vec![], "bob".into(), Zeroizing::new("x".into()), [1; 16]);
        let mut f = vec![1, 1, 0, 0, 26, 4, 1, 0, 0];
        f.extend(b"E=691 R=0 C=00000000000000000000000000000000 V=3 M=nope");
        let l = f.len() as u16;
        f[2..4].copy_from_slice(&l.to_be_bytes());
        let e = p.handle(&f).unwrap_err();
        assert!(e.to_string().contains("wrong username or password"), "{e}");
        for garbage in [
            &[][..],
            &[1],
            &[1, 1, 0, 200, 26],
            &[1, 1, 0, 5, 26],
            &[3, 1, 0, 4],
        ] {
            assert!(p.handle(garbage).is_err());
        }
    }

    impl EapPeer {
        fn clone_for_test(&self) -> EapPeer {
            EapPeer {
                identity: self.identity.clone(),
                username: self.username.clone(),
                password: self.password.clone(),
                peer_challenge: self.peer_challenge,
                pending: self.pending.clone(),
                msk: self.msk.clone(),
                rounds: self.rounds,
            }
        }
    }
}
