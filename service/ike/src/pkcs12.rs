//! PKCS#12 (RFC 7292) client credentials: the private key and certificates of a `.p12` /
//! `.pfx` file, as `openssl pkcs12 -export` (PBES2 with PBKDF2 and AES-256-CBC, HMAC-SHA-256;
//! with `-legacy`, the PKCS#12 PBEs with RC2-40 and 3DES, HMAC-SHA-1), strongSwan's `pki` and
//! the Windows and macOS keychains write them.
//!
//! The ASN.1 types and the PKCS#12 key derivation are RustCrypto's `pkcs12` and `cms`, PBES2 is
//! `pkcs5`. [`parse`] reads files without a password (the empty password, in both of its
//! encodings) and refuses a password-protected file with [`PASSWORD_PROTECTED`]; [`open`]
//! takes the user's password (what `strait secret set … key --from-file` and the app ask for
//! when importing a key). Passwords and decrypted key material only live in [`Zeroizing`]
//! buffers.

use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use der::asn1::{ContextSpecific, OctetString};
use der::{Any, Decode, Encode};
use hmac::Mac;
use pkcs12::cert_type::CertBag;
use pkcs12::kdf::{derive_key, Pkcs12KeyType};
use pkcs12::mac_data::MacData;
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs12::pfx::Pfx;
use pkcs12::safe_bag::SafeContents;
use spki::AlgorithmIdentifierOwned;
use zeroize::{Zeroize, Zeroizing};

use super::cert::Cert;
use super::event::Error;

/// What a user reads about a PKCS#12 file that needs a password where none can be asked for
/// (the service reading a profile's certificate or a key secret that was not imported).
pub const PASSWORD_PROTECTED: &str =
    "this PKCS#12 file is protected by a password; import its key with `strait secret set \
     PROFILE key --from-file FILE` or the app (both ask for the password), or export it \
     without a password or as PEM";

/// More iterations than any real file uses (OpenSSL: 2048, Windows: 2000, macOS: 2048); a
/// file asking for more is refused rather than keeping the service busy.
const MAX_ITERATIONS: u32 = 1_000_000;

mod oid {
    use der::asn1::ObjectIdentifier as O;
    pub const DATA: O = O::new_unwrap("1.2.840.113549.1.7.1");
    pub const ENCRYPTED_DATA: O = O::new_unwrap("1.2.840.113549.1.7.6");
    pub const PBES2: O = O::new_unwrap("1.2.840.113549.1.5.13");
    pub const PBE_SHA1_RC2_128: O = O::new_unwrap("1.2.840.113549.1.12.1.5");
    pub const PBE_SHA1_RC2_40: O = O::new_unwrap("1.2.840.113549.1.12.1.6");
    pub const PBE_SHA1_3DES: O = O::new_unwrap("1.2.840.113549.1.12.1.3");
    pub const PBE_SHA1_2DES: O = O::new_unwrap("1.2.840.113549.1.12.1.4");
    pub const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const X509_CERTIFICATE: O = O::new_unwrap("1.2.840.113549.1.9.22.1");
}

/// The credentials in a PKCS#12 file.
#[derive(Default)]
pub struct Contents {
    /// The first private key, as PKCS#8 DER.
    pub key: Option<Zeroizing<Vec<u8>>>,
    /// The X.509 certificates, in the order of the file.
    pub certs: Vec<Cert>,
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contents")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("certs", &self.certs)
            .finish()
    }
}

/// Whether `bytes` are a PKCS#12 file (a DER `PFX`), whatever it holds.
pub fn is_pkcs12(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30) && Pfx::from_der(bytes).is_ok()
}

/// A password in the two encodings the schemes take: the PKCS#12 KDF (MAC and the RFC 7292
/// PBEs) hashes a BMPString (UTF-16BE with a `00 00` terminator), PBES2 the UTF-8 bytes.
pub(crate) struct Password {
    /// For the PKCS#12 KDF.
    bmp: Zeroizing<Vec<u8>>,
    /// For PBES2 (PBKDF2).
    utf8: Zeroizing<Vec<u8>>,
}

impl Password {
    /// The user's password. The empty text is the empty password's BMPString form.
    pub(crate) fn new(text: &str) -> Password {
        let mut bmp = Zeroizing::new(Vec::with_capacity(text.len() * 4 + 2));
        for unit in text.encode_utf16() {
            bmp.extend_from_slice(&unit.to_be_bytes());
        }
        bmp.extend_from_slice(&[0, 0]);
        Password {
            bmp,
            utf8: Zeroizing::new(text.as_bytes().to_vec()),
        }
    }

    /// The empty password, in the two forms implementations use: the BMPString with its
    /// terminator (`00 00`, OpenSSL's `-passout pass:`) or no bytes at all (a NULL password).
    /// PBES2 takes the UTF-8 form, which is empty either way.
    pub(crate) fn empty_forms() -> [Password; 2] {
        [
            Password::new(""),
            Password {
                bmp: Zeroizing::new(Vec::new()),
                utf8: Zeroizing::new(Vec::new()),
            },
        ]
    }
}

/// Why one try to open the file failed.
pub(crate) enum Failure {
    /// The password is not the one the file was made with.
    Password,
    /// The file is malformed or uses something unsupported.
    Bad(String),
}

/// Why [`open`] could not open a file.
#[derive(Debug)]
pub enum OpenError {
    /// The password (the empty one when none was given) does not open the file. Without an
    /// integrity check, a damaged file looks the same; `damaged` then says what failed.
    Password {
        /// What failed to parse after decryption, for a file without a MAC.
        damaged: Option<String>,
    },
    /// Not a PKCS#12 file, or one using something unsupported.
    Bad(Error),
}

/// Whether `bytes` are a PKCS#12 file that does not open without a password.
pub fn needs_password(bytes: &[u8]) -> bool {
    is_pkcs12(bytes)
        && matches!(
            open(bytes, "private key", None),
            Err(OpenError::Password { .. })
        )
}

/// The key and certificates of a PKCS#12 file without a password. `what` names the credential
/// in errors ("private key" or "certificate").
pub fn parse(bytes: &[u8], what: &'static str) -> Result<Contents, Error> {
    open(bytes, what, None).map_err(|e| match e {
        OpenError::Bad(e) => e,
        OpenError::Password { damaged } => Error::BadCredential {
            what,
            detail: match damaged {
                Some(e) => format!("{PASSWORD_PROTECTED} (or the file is damaged: {e})"),
                None => PASSWORD_PROTECTED.into(),
            },
        },
    })
}

/// The key and certificates of a PKCS#12 file, opened with `password` (`None`: the empty
/// password in both of its forms).
pub fn open(
    bytes: &[u8],
    what: &'static str,
    password: Option<&str>,
) -> Result<Contents, OpenError> {
    let bad = |detail: String| OpenError::Bad(Error::BadCredential { what, detail });
    let pfx = Pfx::from_der(bytes).map_err(|e| bad(format!("not a PKCS#12 file: {e}")))?;
    if pfx.auth_safe.content_type != oid::DATA {
        return Err(bad(
            "this PKCS#12 file is signed with a public key (not a password), which is not \
             supported"
                .into(),
        ));
    }
    let auth_safe =
        octets(&pfx.auth_safe.content).map_err(|e| bad(format!("malformed PKCS#12 file: {e}")))?;
    // Without a MAC, content decrypted with a wrong guess is garbage that may even pass the
    // padding check: then a malformed result cannot be told from a wrong password.
    let mut unverified: Option<String> = None;
    let passwords = match password {
        None | Some("") => Password::empty_forms().into_iter().collect::<Vec<_>>(),
        Some(p) => vec![Password::new(p)],
    };
    for password in &passwords {
        if let Some(mac) = &pfx.mac_data {
            match mac_matches(mac, &password.bmp, &auth_safe) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Err(bad(e)),
            }
        }
        match read_auth_safe(&auth_safe, password) {
            Ok(contents) => return Ok(contents),
            Err(Failure::Password) => continue,
            Err(Failure::Bad(e)) if pfx.mac_data.is_none() => unverified = Some(e),
            Err(Failure::Bad(e)) => return Err(bad(e)),
        }
    }
    Err(OpenError::Password {
        damaged: unverified,
    })
}

/// The contents of an OCTET STRING held in an `ANY`.
fn octets(any: &Any) -> Result<Vec<u8>, der::Error> {
    Ok(any.decode_as::<OctetString>()?.into_bytes())
}

fn iterations(n: impl TryInto<u32>) -> Result<u32, String> {
    match n.try_into() {
        Ok(n) if (1..=MAX_ITERATIONS).contains(&n) => Ok(n),
        _ => Err(format!(
            "the PKCS#12 file asks for an iteration count outside 1..={MAX_ITERATIONS}"
        )),
    }
}

/// Whether the file's HMAC (RFC 7292 §5, Appendix B) verifies under `password`.
fn mac_matches(mac: &MacData, password: &[u8], data: &[u8]) -> Result<bool, String> {
    let rounds = i32::try_from(iterations(mac.iterations)?).map_err(|e| e.to_string())?;
    let salt = mac.mac_salt.as_bytes();
    let expected = mac.mac.digest.as_bytes();
    macro_rules! check {
        ($d:ty, $len:expr) => {{
            let key = Zeroizing::new(derive_key::<$d>(
                password,
                salt,
                Pkcs12KeyType::Mac,
                rounds,
                $len,
            ));
            let mut h = <hmac::Hmac<$d>>::new_from_slice(&key).map_err(|e| e.to_string())?;
            h.update(data);
            Ok(h.verify_slice(expected).is_ok())
        }};
    }
    match mac.mac.algorithm.oid {
        oid::SHA1 => check!(sha1::Sha1, 20),
        oid::SHA256 => check!(sha2::Sha256, 32),
        oid::SHA384 => check!(sha2::Sha384, 48),
        oid::SHA512 => check!(sha2::Sha512, 64),
        o => Err(format!(
            "the PKCS#12 file's integrity check uses an unsupported digest ({o})"
        )),
    }
}

fn read_auth_safe(auth_safe: &[u8], password: &Password) -> Result<Contents, Failure> {
    let malformed = |e: der::Error| Failure::Bad(format!("malformed PKCS#12 file: {e}"));
    let infos = Vec::<ContentInfo>::from_der(auth_safe).map_err(malformed)?;
    let mut out = Contents::default();
    for info in infos {
        let safe = match info.content_type {
            oid::DATA => Zeroizing::new(octets(&info.content).map_err(malformed)?),
            oid::ENCRYPTED_DATA => {
                let enc = info
                    .content
                    .decode_as::<EncryptedData>()
                    .map_err(malformed)?;
                let Some(data) = enc.enc_content_info.encrypted_content else {
                    continue;
                };
                decrypt(
                    &enc.enc_content_info.content_enc_alg,
                    data.as_bytes(),
                    password,
                )?
            }
            // Public-key encrypted (envelopedData) parts: not for password-based files.
            o => {
                return Err(Failure::Bad(format!(
                    "the PKCS#12 file has a part of an unsupported kind ({o})"
                )))
            }
        };
        // A key decrypted with the wrong password is (almost always) caught by its padding;
        // what slips through fails to parse here.
        let bags = SafeContents::from_der(&safe).map_err(|_| Failure::Password)?;
        read_bags(bags, password, &mut out)?;
    }
    Ok(out)
}

fn read_bags(bags: SafeContents, password: &Password, out: &mut Contents) -> Result<(), Failure> {
    let malformed = |e: der::Error| Failure::Bad(format!("malformed PKCS#12 bag: {e}"));
    for mut bag in bags {
        let result = (|| {
            match bag.bag_id {
                pkcs12::PKCS_12_CERT_BAG_OID => {
                    let b = ContextSpecific::<CertBag>::from_der(&bag.bag_value)
                        .map_err(malformed)?
                        .value;
                    if b.cert_id == oid::X509_CERTIFICATE {
                        out.certs
                            .push(Cert::from_der(b.cert_value.as_bytes()).map_err(Failure::Bad)?);
                    }
                }
                pkcs12::PKCS_12_PKCS8_KEY_BAG_OID if out.key.is_none() => {
                    let b = ContextSpecific::<EncryptedPrivateKeyInfo>::from_der(&bag.bag_value)
                        .map_err(malformed)?
                        .value;
                    let key = decrypt(
                        &b.encryption_algorithm,
                        b.encrypted_data.as_bytes(),
                        password,
                    )?;
                    // A wrong password's garbage passes the padding check about once in 256
                    // tries; without a MAC only the key's own structure tells.
                    if pkcs8::PrivateKeyInfo::try_from(key.as_slice()).is_err() {
                        return Err(Failure::Password);
                    }
                    out.key = Some(key);
                }
                pkcs12::PKCS_12_KEY_BAG_OID if out.key.is_none() => {
                    let b = ContextSpecific::<Any>::from_der(&bag.bag_value).map_err(malformed)?;
                    out.key = Some(Zeroizing::new(b.value.to_der().map_err(malformed)?));
                }
                // CRLs, secrets, nested safe contents and further keys are not needed.
                _ => {}
            }
            Ok(())
        })();
        bag.bag_value.zeroize();
        result?;
    }
    Ok(())
}

/// Decrypts with a password-based scheme: PBES2 (RFC 8018) or a PKCS#12 PBE (RFC 7292
/// Appendix C). Also what opens an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`), which uses
/// the same schemes.
pub(crate) fn decrypt(
    alg: &AlgorithmIdentifierOwned,
    data: &[u8],
    password: &Password,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| Failure::Bad("PKCS#12 encryption without parameters".into()))?
        .to_der()
        .map_err(|e| Failure::Bad(e.to_string()))?;
    let malformed = |e: der::Error| Failure::Bad(format!("bad PKCS#12 encryption parameters: {e}"));
    match alg.oid {
        oid::PBES2 => {
            let p = pkcs5::pbes2::Parameters::from_der(&params).map_err(malformed)?;
            match &p.kdf {
                pkcs5::pbes2::Kdf::Pbkdf2(k) => {
                    iterations(k.iteration_count).map_err(Failure::Bad)?;
                }
                _ => {
                    return Err(Failure::Bad(
                        "the PKCS#12 file derives its key with something other than PBKDF2 \
                         (scrypt?), which is not supported"
                            .into(),
                    ))
                }
            }
            let mut buf = Zeroizing::new(data.to_vec());
            // PBES2 takes the password as UTF-8.
            let len = match p.decrypt_in_place(password.utf8.as_slice(), &mut buf) {
                Ok(pt) => pt.len(),
                // A wrong key shows as bad padding, which pkcs5 0.7 reports as either.
                Err(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) => {
                    return Err(Failure::Password)
                }
                Err(e) => return Err(Failure::Bad(format!("PKCS#12 (PBES2): {e}"))),
            };
            buf.truncate(len);
            Ok(buf)
        }
        o @ (oid::PBE_SHA1_3DES
        | oid::PBE_SHA1_2DES
        | oid::PBE_SHA1_RC2_40
        | oid::PBE_SHA1_RC2_128) => {
            let p = Pkcs12PbeParams::from_der(&params).map_err(malformed)?;
            let rounds = i32::try_from(iterations(p.iterations).map_err(Failure::Bad)?)
                .map_err(|e| Failure::Bad(e.to_string()))?;
            let salt = p.salt.as_bytes();
            let key_len = match o {
                oid::PBE_SHA1_3DES => 24,
                oid::PBE_SHA1_RC2_40 => 5,
                _ => 16,
            };
            let key = Zeroizing::new(derive_key::<sha1::Sha1>(
                &password.bmp,
                salt,
                Pkcs12KeyType::EncryptionKey,
                rounds,
                key_len,
            ));
            let iv = derive_key::<sha1::Sha1>(&password.bmp, salt, Pkcs12KeyType::Iv, rounds, 8);
            match o {
                oid::PBE_SHA1_3DES => cbc_decrypt::<des::TdesEde3>(&key, &iv, data),
                oid::PBE_SHA1_2DES => cbc_decrypt::<des::TdesEde2>(&key, &iv, data),
                _ => cbc_decrypt::<rc2::Rc2>(&key, &iv, data),
            }
        }
        o => Err(Failure::Bad(format!(
            "the PKCS#12 file is encrypted with an unsupported algorithm ({o})"
        ))),
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, Failure>
where
    C: cbc::cipher::BlockCipher
        + cbc::cipher::BlockDecrypt
        + cbc::cipher::KeyInit
        + cbc::cipher::BlockSizeUser<BlockSize = cbc::cipher::consts::U8>,
{
    use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    let d = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| Failure::Bad("PKCS#12 encryption with a bad key length".into()))?;
    let mut buf = Zeroizing::new(data.to_vec());
    let len = d
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| Failure::Password)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// The object identifier of a PKCS#12 file's MAC digest, for tests and diagnostics.
#[cfg(test)]
fn mac_digest(bytes: &[u8]) -> Option<der::asn1::ObjectIdentifier> {
    Pfx::from_der(bytes)
        .ok()?
        .mac_data
        .map(|m| m.mac.algorithm.oid)
}

#[cfg(test)]
mod tests {
    //! The files are made with `openssl` at test time, in a temporary directory.
    use super::*;
    use crate::cert::{certs_from_pem_or_der, private_key_from_pem_or_der};
    use std::path::Path;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA, and a leaf certificate it issued with `key` (an `openssl req -newkey` spec).
    fn pki(dir: &Path, key: &str) {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Test CA",
                "-days",
                "30",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                key,
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=client.test",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "30",
            ],
        );
    }

    fn export(dir: &Path, out: &str, extra: &[&str]) -> Vec<u8> {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-inkey",
            "leaf.key",
            "-in",
            "leaf.pem",
            "-certfile",
            "ca.pem",
            "-out",
            out,
        ];
        args.extend_from_slice(extra);
        openssl(dir, &args);
        std::fs::read(dir.join(out)).unwrap()
    }

    fn check(bytes: &[u8]) {
        let c = parse(bytes, "private key").unwrap();
        assert_eq!(c.certs.len(), 2, "{c:?}");
        let leaf = c
            .certs
            .iter()
            .find(|c| c.subject().contains("client.test"))
            .unwrap();
        let key = private_key_from_pem_or_der(bytes).unwrap();
        assert!(key.matches(leaf.x509()));
        let certs = certs_from_pem_or_der(bytes).unwrap();
        assert_eq!(certs.len(), 2);
    }

    #[test]
    fn openssl_default_and_legacy_exports_open_without_password() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "rsa:2048");
        // OpenSSL 3: PBES2 (PBKDF2-SHA256, AES-256-CBC), HMAC-SHA-256.
        let p12 = export(d, "default.p12", &["-passout", "pass:"]);
        assert_eq!(mac_digest(&p12), Some(oid::SHA256));
        check(&p12);
        // `-legacy`: certificates under RC2-40, the key under 3DES, HMAC-SHA-1.
        let p12 = export(d, "legacy.p12", &["-legacy", "-passout", "pass:"]);
        assert_eq!(mac_digest(&p12), Some(oid::SHA1));
        check(&p12);
        // 3DES for both, as older Windows and macOS exports.
        let p12 = export(
            d,
            "3des.p12",
            &[
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-passout",
                "pass:",
            ],
        );
        check(&p12);
        // Nothing encrypted (a plain keyBag), and no MAC.
        let p12 = export(
            d,
            "plain.p12",
            &[
                "-keypbe", "NONE", "-certpbe", "NONE", "-nomac", "-passout", "pass:",
            ],
        );
        assert_eq!(mac_digest(&p12), None);
        check(&p12);
        // AES without a MAC: the empty password is found by decryption alone.
        let p12 = export(d, "nomac.p12", &["-nomac", "-passout", "pass:"]);
        check(&p12);
    }

    #[test]
    fn ecdsa_keys_open() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "ec:ca.pem");
        check(&export(d, "ec.p12", &["-passout", "pass:"]));
        check(&export(
            d,
            "ec-legacy.p12",
            &["-legacy", "-passout", "pass:"],
        ));
    }

    #[test]
    fn password_protected_files_are_refused_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "rsa:2048");
        for (name, extra) in [
            ("pw.p12", &["-passout", "pass:hunter2"][..]),
            (
                "pw-legacy.p12",
                &["-legacy", "-passout", "pass:hunter2"][..],
            ),
            ("pw-nomac.p12", &["-nomac", "-passout", "pass:hunter2"][..]),
        ] {
            let p12 = export(d, name, extra);
            let e = private_key_from_pem_or_der(&p12).unwrap_err().to_string();
            assert!(e.contains(PASSWORD_PROTECTED), "{name}: {e}");
            let e = certs_from_pem_or_der(&p12).unwrap_err().to_string();
            assert!(e.contains(PASSWORD_PROTECTED), "{name}: {e}");
        }
    }

    #[test]
    fn der_keys_in_every_form() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "rsa:2048");
        let cert = &certs_from_pem_or_der(&std::fs::read(d.join("leaf.pem")).unwrap()).unwrap()[0];
        openssl(
            d,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-outform", "DER", "-out",
                "p8.der",
            ],
        );
        openssl(
            d,
            &[
                "rsa",
                "-traditional",
                "-in",
                "leaf.key",
                "-outform",
                "DER",
                "-out",
                "p1.der",
            ],
        );
        for f in ["p8.der", "p1.der"] {
            let k = private_key_from_pem_or_der(&std::fs::read(d.join(f)).unwrap()).unwrap();
            assert!(k.matches(cert.x509()), "{f}");
        }
        openssl(
            d,
            &[
                "ecparam",
                "-name",
                "secp384r1",
                "-genkey",
                "-noout",
                "-outform",
                "DER",
                "-out",
                "sec1.der",
            ],
        );
        openssl(
            d,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", "sec1.der", "-outform",
                "DER", "-out", "ec8.der",
            ],
        );
        for f in ["sec1.der", "ec8.der"] {
            let k = private_key_from_pem_or_der(&std::fs::read(d.join(f)).unwrap()).unwrap();
            assert!(matches!(k, crate::cert::PrivateKey::P384(_)), "{f}");
        }
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "ec:ca.pem");
        for p12 in [
            export(d, "a.p12", &["-passout", "pass:"]),
            export(
                d,
                "b.p12",
                &[
                    "-legacy", "-iter", "1", "-macalg", "sha1", "-passout", "pass:",
                ],
            ),
        ] {
            for len in 0..p12.len() {
                let _ = private_key_from_pem_or_der(&p12[..len]);
                let _ = certs_from_pem_or_der(&p12[..len]);
            }
            for i in (0..p12.len()).step_by(7) {
                let mut b = p12.clone();
                b[i] ^= 0x5a;
                let _ = private_key_from_pem_or_der(&b);
                let _ = certs_from_pem_or_der(&b);
            }
        }
        assert!(!is_pkcs12(b"-----BEGIN PRIVATE KEY-----"));
    }

    /// What the keychain would hold, read back the way the service reads it: the key, and the
    /// certificates that came with it.
    fn check_secret(secret: &str, certs: usize) {
        assert!(secret.starts_with("-----BEGIN "), "not PEM");
        assert!(!secret.contains("ENCRYPTED"));
        let key = private_key_from_pem_or_der(secret.as_bytes()).unwrap();
        if certs == 0 {
            assert!(certs_from_pem_or_der(secret.as_bytes()).is_err());
            return;
        }
        let chain = certs_from_pem_or_der(secret.as_bytes()).unwrap();
        assert_eq!(chain.len(), certs);
        assert!(chain.iter().any(|c| key.matches(c.x509())));
    }

    #[test]
    fn password_protected_files_open_with_their_password() {
        use crate::cert::{key_file_needs_password, key_secret_from_file, KeyFileError};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "rsa:2048");
        for (name, extra) in [
            // OpenSSL 3's default: PBES2/PBKDF2/AES-256-CBC, HMAC-SHA-256.
            ("pw.p12", &["-passout", "pass:hunter2"][..]),
            // `-legacy`: RC2-40 and 3DES under the PKCS#12 KDF (BMPString password).
            (
                "pw-legacy.p12",
                &["-legacy", "-passout", "pass:hunter2"][..],
            ),
            ("pw-nomac.p12", &["-nomac", "-passout", "pass:hunter2"][..]),
        ] {
            let p12 = export(d, name, extra);
            assert!(needs_password(&p12), "{name}");
            assert!(key_file_needs_password(&p12), "{name}");
            let c = open(&p12, "private key", Some("hunter2")).unwrap();
            assert!(c.key.is_some() && c.certs.len() == 2, "{name}: {c:?}");
            assert!(matches!(
                open(&p12, "private key", Some("hunter3")),
                Err(OpenError::Password { .. })
            ));
            let secret = key_secret_from_file(&p12, Some("hunter2")).unwrap();
            check_secret(&secret, 2);
            assert!(secret.starts_with("-----BEGIN PRIVATE KEY-----"), "{name}");
            assert!(
                matches!(
                    key_secret_from_file(&p12, Some("wrong")),
                    Err(KeyFileError::WrongPassword)
                ),
                "{name}"
            );
            assert!(matches!(
                key_secret_from_file(&p12, None),
                Err(KeyFileError::PasswordNeeded)
            ));
        }
        // A file without a password needs none, and any given one is ignored for the empty.
        let p12 = export(d, "open.p12", &["-passout", "pass:"]);
        assert!(!needs_password(&p12) && !key_file_needs_password(&p12));
        check_secret(&key_secret_from_file(&p12, None).unwrap(), 2);
    }

    #[test]
    fn non_ascii_passwords_use_the_right_encoding_for_each_scheme() {
        use crate::cert::key_secret_from_file;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "ec:ca.pem");
        let pw = "pässwörd-€";
        let pass = format!("pass:{pw}");
        for extra in [
            &["-passout", &pass][..],
            &["-legacy", "-passout", &pass][..],
        ] {
            let p12 = export(d, "u.p12", extra);
            check_secret(&key_secret_from_file(&p12, Some(pw)).unwrap(), 2);
        }
    }

    #[test]
    fn encrypted_pkcs8_keys_open_with_their_password() {
        use crate::cert::{
            key_file_needs_password, key_secret_from_file, KeyFileError, ENCRYPTED_KEY,
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "rsa:2048");
        let pkcs8 = |out: &str, extra: &[&str]| {
            let mut args = vec!["pkcs8", "-topk8", "-in", "leaf.key", "-out", out];
            args.extend_from_slice(extra);
            openssl(d, &args);
            std::fs::read(d.join(out)).unwrap()
        };
        for (name, key) in [
            // OpenSSL 3's default: PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC.
            ("aes.pem", pkcs8("aes.pem", &["-passout", "pass:hunter2"])),
            (
                "3des.pem",
                pkcs8(
                    "3des.pem",
                    &["-v1", "PBE-SHA1-3DES", "-passout", "pass:hunter2"],
                ),
            ),
            (
                "aes.der",
                pkcs8("aes.der", &["-outform", "DER", "-passout", "pass:hunter2"]),
            ),
        ] {
            assert!(key_file_needs_password(&key), "{name}");
            let e = private_key_from_pem_or_der(&key).unwrap_err().to_string();
            if name.ends_with(".pem") {
                assert!(e.contains(ENCRYPTED_KEY), "{name}: {e}");
            }
            let secret = key_secret_from_file(&key, Some("hunter2")).unwrap();
            check_secret(&secret, 0);
            let leaf =
                &certs_from_pem_or_der(&std::fs::read(d.join("leaf.pem")).unwrap()).unwrap()[0];
            assert!(private_key_from_pem_or_der(secret.as_bytes())
                .unwrap()
                .matches(leaf.x509()));
            assert!(
                matches!(
                    key_secret_from_file(&key, Some("hunter3")),
                    Err(KeyFileError::WrongPassword)
                ),
                "{name}"
            );
        }
        // The traditional encrypted PEM form is explained, not taken for a wrong password.
        openssl(
            d,
            &[
                "rsa",
                "-traditional",
                "-aes256",
                "-in",
                "leaf.key",
                "-out",
                "trad.pem",
                "-passout",
                "pass:hunter2",
            ],
        );
        let trad = std::fs::read(d.join("trad.pem")).unwrap();
        let e = key_secret_from_file(&trad, Some("hunter2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("openssl pkcs8 -topk8"), "{e}");
        assert!(!key_file_needs_password(&trad));
    }

    #[test]
    fn unencrypted_keys_are_stored_as_given_with_their_certificates() {
        use crate::cert::{key_file_needs_password, key_secret_from_file, KeyFileError};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, "ec:ca.pem");
        let key = std::fs::read(d.join("leaf.key")).unwrap();
        assert!(!key_file_needs_password(&key));
        check_secret(&key_secret_from_file(&key, None).unwrap(), 0);
        // A PEM bundle of the key and its certificate keeps both.
        let bundle = [key.clone(), std::fs::read(d.join("leaf.pem")).unwrap()].concat();
        check_secret(&key_secret_from_file(&bundle, None).unwrap(), 1);
        // SEC1 DER stays SEC1.
        openssl(
            d,
            &[
                "ec", "-in", "leaf.key", "-outform", "DER", "-out", "sec1.der",
            ],
        );
        let secret =
            key_secret_from_file(&std::fs::read(d.join("sec1.der")).unwrap(), None).unwrap();
        assert!(secret.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        check_secret(&secret, 0);
        // Not a key at all.
        let e = key_secret_from_file(b"hello", None).unwrap_err();
        assert!(matches!(e, KeyFileError::Invalid(_)), "{e:?}");
        let e =
            key_secret_from_file(&std::fs::read(d.join("leaf.pem")).unwrap(), None).unwrap_err();
        assert!(matches!(e, KeyFileError::Invalid(_)), "{e:?}");
    }
}
