//! Translations between the layers: a profile and its secrets into an IKE configuration,
//! negotiated algorithms into ESP SAs, and protocol failures into what a user reads.

use std::net::{IpAddr, SocketAddr};

use strait_esp::{EspAlgorithms, EspEncryption, EspIntegrity};
use strait_ike::cert::{self, RsaPadding};
use strait_ike::v1;
use strait_ike::v2::proposal_wire::{encr_id, integ_id, NegotiatedEsp};
use strait_ike::v2::wire::{id_type, Identification, TrafficSelector};
use strait_ike::{Config, LocalAuth};
use strait_ipc::{ErrorKind, IpcError};
use strait_profile::{AuthMethod, Dns, Identity, IkeVersion, Mode, Profile};
use zeroize::{Zeroize, Zeroizing};

/// The secrets of one connection, zeroized when the connection ends. Cloned once per attempt
/// (the clone is zeroized when that attempt is done).
#[derive(Default, Clone)]
pub struct ConnSecrets {
    /// The secret the profile's IKE authentication needs: the pre-shared key (`psk`,
    /// `xauth-psk`), the EAP password as UTF-8 (`eap-mschapv2`), or the private key (`cert`,
    /// `xauth-cert`): PEM, or DER or PKCS#12 base64-encoded.
    pub secret: Option<Zeroizing<Vec<u8>>>,
    /// The XAuth password as UTF-8 (`xauth-psk`, `xauth-cert`): IKEv1 asks for it after
    /// phase 1, on top of the PSK or certificate.
    pub xauth_password: Option<Zeroizing<Vec<u8>>>,
}

fn identity(id: &Identity) -> Identification {
    match id {
        Identity::Fqdn(s) => Identification {
            id_type: id_type::FQDN,
            data: s.as_bytes().to_vec(),
        },
        Identity::Email(s) => Identification {
            id_type: id_type::RFC822_ADDR,
            data: s.as_bytes().to_vec(),
        },
        Identity::Ip(IpAddr::V4(a)) => Identification {
            id_type: id_type::IPV4_ADDR,
            data: a.octets().to_vec(),
        },
        Identity::Ip(IpAddr::V6(a)) => Identification {
            id_type: id_type::IPV6_ADDR,
            data: a.octets().to_vec(),
        },
        // DER-encoded (ID_DER_ASN1_DN); a name that does not parse is sent as a KEY_ID, which
        // is what strongSwan does for unparsable DNs.
        Identity::DistinguishedName(s) => cert::dn_identity(s).unwrap_or(Identification {
            id_type: id_type::KEY_ID,
            data: s.as_bytes().to_vec(),
        }),
        Identity::KeyId(k) => Identification {
            id_type: id_type::KEY_ID,
            data: k.clone(),
        },
    }
}

/// The IKEv2 configuration for a profile. `local` is our socket's address (for NAT
/// detection), `remote` the gateway's.
pub fn ike_config(
    profile: &Profile,
    secrets: &mut ConnSecrets,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Config, IpcError> {
    let secret = secrets.secret.take();
    let mut cert_subject = None;
    let auth = match profile.auth.method {
        AuthMethod::EapMschapv2 => {
            let password = secret.ok_or_else(|| {
                IpcError::new(
                    ErrorKind::MissingSecret,
                    "this profile logs in with a password (EAP-MSCHAPv2), but none was given; \
                     store it with `strait secret set <profile> password`",
                )
            })?;
            let password = String::from_utf8(password.to_vec()).map_err(|_| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "the password is not valid UTF-8 text",
                )
            })?;
            let username = profile.auth.username.clone().ok_or_else(|| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "this profile logs in with EAP-MSCHAPv2 but has no username; add `username` \
                     to its [auth] section",
                )
            })?;
            LocalAuth::Eap {
                identity: username.as_bytes().to_vec(),
                username,
                password: Zeroizing::new(password),
            }
        }
        AuthMethod::Cert | AuthMethod::XauthCert => {
            let key = secret.ok_or_else(|| {
                IpcError::new(
                    ErrorKind::MissingSecret,
                    "this profile authenticates with a certificate, but its private key was not \
                     given; store it with `strait secret set <profile> key --from-file KEY.pem`",
                )
            })?;
            let key_secret = key_secret_bytes(key);
            let key = cert::private_key_from_pem_or_der(&key_secret).map_err(bad_credential)?;
            let path = profile.auth.certificate.as_ref().ok_or_else(|| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "this profile authenticates with a certificate but names none; add \
                     `certificate` to its [auth] section",
                )
            })?;
            let mut chain = read_own_certs(path, &key_secret)?;
            // A PKCS#12 file (or a PEM bundle) may list the CA before our certificate: ours is
            // the one that holds the public half of the key.
            if let Some(i) = chain.iter().position(|c| key.matches(c.x509())) {
                let ours = chain.remove(i);
                chain.insert(0, ours);
            }
            let leaf = chain.first().ok_or_else(|| {
                IpcError::new(ErrorKind::BadRequest, "the certificate file is empty")
            })?;
            if !key.matches(leaf.x509()) {
                return Err(IpcError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "the stored private key does not belong to the certificate `{}` in {}; \
                         store the matching key with `strait secret set <profile> key`",
                        leaf.subject(),
                        path.display()
                    ),
                ));
            }
            cert_subject = Some(Identification {
                id_type: id_type::DER_ASN1_DN,
                data: leaf.subject_der(),
            });
            LocalAuth::Certificate {
                chain,
                key,
                rsa_padding: RsaPadding::Pkcs1,
            }
        }
        _ => {
            let psk = secret.ok_or_else(|| {
                IpcError::new(
                    ErrorKind::MissingSecret,
                    "this profile authenticates with a pre-shared key, but none was given; store \
                     it with `strait secret set <profile> psk`",
                )
            })?;
            LocalAuth::Psk(psk)
        }
    };
    let local_id = match (&profile.auth.local_id, cert_subject) {
        // Our certificate's subject named in the profile: send its exact encoding.
        (Some(id @ Identity::DistinguishedName(_)), Some(subject))
            if dn_matches(&identity(id), &subject) =>
        {
            subject
        }
        (Some(id), _) => identity(id),
        // Like strongSwan: our certificate's subject, else our address.
        (None, Some(subject)) => subject,
        (None, None) => identity(&Identity::Ip(local.ip())),
    };
    let mut cfg = Config::new(local_id, auth, local, remote);
    for path in &profile.auth.ca {
        cfg.trust_anchors.extend(read_certs(path)?);
    }
    // strait-ike reads no clock: certificate validity is checked against this.
    cfg.wall_clock = Some(std::time::SystemTime::now());
    cfg.remote_id = Some(identity(&profile.auth.remote_id));
    cfg.ike_proposals = profile.crypto.ike.clone();
    cfg.esp_proposals = profile.crypto.esp.clone();
    cfg.ike_lifetime = profile.crypto.ike_lifetime;
    cfg.child_lifetime = profile.crypto.esp_lifetime;
    cfg.dpd_interval = profile.network.dpd;
    if let Some(dpd) = profile.network.dpd {
        cfg.dpd_timeout = (dpd * 3).max(std::time::Duration::from_secs(15));
    }
    cfg.transport_mode = profile.network.mode == Mode::Transport;
    // ESP always travels in UDP 4500: it passes every NAT and firewall that lets IKE through,
    // and needs no raw sockets (RFC 3948; strongSwan's `encap = yes`).
    cfg.force_udp_encap = true;
    let v4_routes: Vec<_> = profile
        .network
        .routes
        .iter()
        .filter(|r| r.addr().is_ipv4())
        .collect();
    let v6_routes: Vec<_> = profile
        .network
        .routes
        .iter()
        .filter(|r| r.addr().is_ipv6())
        .collect();
    cfg.request_ipv4 = true;
    cfg.request_ipv6 = !v6_routes.is_empty();
    cfg.ts_local = vec![TrafficSelector::any(false)];
    if cfg.request_ipv6 {
        cfg.ts_local.push(TrafficSelector::any(true));
    }
    cfg.ts_remote = if profile.network.routes.is_empty() {
        // Ask for everything; the gateway narrows it to what it protects.
        vec![TrafficSelector::any(false)]
    } else {
        v4_routes
            .iter()
            .chain(v6_routes.iter())
            .map(|r| TrafficSelector::prefix(r.addr(), r.prefix_len()))
            .collect()
    };
    Ok(cfg)
}

/// The IKEv1 options of a profile (`None` for IKEv2): Main or Aggressive Mode from its
/// `version`, and for the XAuth methods the profile's username with the `password` secret.
/// Takes the XAuth password out of `secrets`.
pub fn v1_options(
    profile: &Profile,
    secrets: &mut ConnSecrets,
) -> Result<Option<v1::Options>, IpcError> {
    let mode = match profile.version {
        IkeVersion::Ikev2 => return Ok(None),
        IkeVersion::Ikev1Main => v1::Mode::Main,
        IkeVersion::Ikev1Aggressive => v1::Mode::Aggressive,
    };
    let password = secrets.xauth_password.take();
    let xauth = match profile.auth.method {
        AuthMethod::XauthPsk | AuthMethod::XauthCert => {
            let username = profile.auth.username.clone().ok_or_else(|| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "this profile logs in with XAuth but has no username; add `username` to its \
                     [auth] section",
                )
            })?;
            let password = password.ok_or_else(|| {
                IpcError::new(
                    ErrorKind::MissingSecret,
                    "this profile logs in with XAuth (a username and password after the \
                     pre-shared key or certificate), but no password was given; store it with \
                     `strait secret set <profile> password`",
                )
            })?;
            let password = String::from_utf8(password.to_vec()).map_err(|_| {
                IpcError::new(
                    ErrorKind::BadRequest,
                    "the XAuth password is not valid UTF-8 text",
                )
            })?;
            Some(v1::Xauth {
                username,
                password: Zeroizing::new(password),
            })
        }
        _ => None,
    };
    Ok(Some(v1::Options { mode, xauth }))
}

/// What the user is told, once per connect, about IKEv1 Aggressive Mode with a pre-shared key
/// (`None` for every other profile).
pub fn aggressive_psk_warning(profile: &Profile) -> Option<&'static str> {
    (profile.version == IkeVersion::Ikev1Aggressive && profile.auth.method.needs_psk()).then_some(
        "this profile uses IKEv1 Aggressive Mode with a pre-shared key: the gateway's reply \
         lets an eavesdropper (or anyone who asks the gateway) brute-force the pre-shared key \
         offline; use Main Mode or IKEv2 if the gateway allows, else a long random key",
    )
}

/// The bytes of a `key` secret. Over IPC a secret is text, so a key file that is not text (DER,
/// PKCS#12) travels base64-encoded (what `strait secret set … key --from-file` and
/// `strait connect --secret key=FILE` send, and what the keychain holds); PEM travels as is.
/// Text that is neither PEM nor base64 is passed on unchanged, for the parser to explain.
fn key_secret_bytes(secret: Zeroizing<Vec<u8>>) -> Zeroizing<Vec<u8>> {
    if secret.windows(5).any(|w| w == b"-----") {
        return secret;
    }
    base64_decode(&secret).unwrap_or(secret)
}

/// Standard base64 (RFC 4648 §4, padding optional, whitespace ignored); `None` for anything
/// else. The output is allocated once at its final size, so no copy is left behind.
fn base64_decode(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let body = text
        .iter()
        .rposition(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map_or(&text[..0], |end| &text[..=end]);
    let padding = &text[body.len()..];
    if padding
        .iter()
        .any(|c| *c != b'=' && !c.is_ascii_whitespace())
    {
        return None;
    }
    let digits = body.iter().filter(|c| !c.is_ascii_whitespace()).count();
    if digits == 0 || digits % 4 == 1 {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(digits * 3 / 4));
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in body {
        if c.is_ascii_whitespace() {
            continue;
        }
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    acc.zeroize();
    Some(out)
}

/// Whether two ID_DER_ASN1_DN identities name the same DN (string types aside).
fn dn_matches(a: &Identification, b: &Identification) -> bool {
    a.id_type == id_type::DER_ASN1_DN
        && b.id_type == id_type::DER_ASN1_DN
        && cert::dn_equal(&a.data, &b.data)
}

/// Our certificate chain: from the profile's `certificate` file, or, when that is a PKCS#12
/// file protected by a password (which the service cannot ask for), from the certificates
/// stored after the key in the key secret (what importing the key from that file with its
/// password stores).
fn read_own_certs(path: &std::path::Path, key_secret: &[u8]) -> Result<Vec<cert::Cert>, IpcError> {
    let bytes = std::fs::read(path).map_err(|e| {
        IpcError::new(
            ErrorKind::BadRequest,
            format!("cannot read the certificate file {}: {e}", path.display()),
        )
    })?;
    if !strait_ike::pkcs12::needs_password(&bytes) {
        return cert::certs_from_pem_or_der(&bytes)
            .map_err(|e| IpcError::new(ErrorKind::BadRequest, format!("{}: {e}", path.display())));
    }
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match cert::certs_from_pem_or_der(key_secret) {
        Ok(certs) if !certs.is_empty() => {
            tracing::info!(
                "the certificate file {name} is protected by a password; using the \
                 certificates stored with the key"
            );
            Ok(certs)
        }
        _ => Err(IpcError::new(
            ErrorKind::BadRequest,
            format!(
                "the certificate file {name} is protected by a password, and the stored key \
                 came without certificates; store the key from that same file with `strait \
                 secret set <profile> key --from-file {name}` (or the app's \"Import private \
                 key…\"), which asks for the password once and keeps the certificates with \
                 the key"
            ),
        )),
    }
}

/// Certificates from a profile's file (PEM or DER).
fn read_certs(path: &std::path::Path) -> Result<Vec<cert::Cert>, IpcError> {
    let bytes = std::fs::read(path).map_err(|e| {
        IpcError::new(
            ErrorKind::BadRequest,
            format!("cannot read the certificate file {}: {e}", path.display()),
        )
    })?;
    cert::certs_from_pem_or_der(&bytes)
        .map_err(|e| IpcError::new(ErrorKind::BadRequest, format!("{}: {e}", path.display())))
}

fn bad_credential(e: strait_ike::Error) -> IpcError {
    IpcError::new(ErrorKind::BadRequest, e.to_string())
}

/// The ESP algorithms of a negotiated child SA.
pub fn esp_algorithms(n: &NegotiatedEsp) -> Option<EspAlgorithms> {
    let (id, bits) = encr_id(n.encr);
    let encr = EspEncryption::from_iana(id, bits)?;
    Some(match n.integ {
        None => EspAlgorithms::aead(encr),
        Some(i) => EspAlgorithms::cbc_hmac(encr, EspIntegrity::from_iana(integ_id(i))?),
    })
}

/// DNS servers and domains to install, per the profile's `dns` setting.
pub fn dns_settings(
    profile: &Profile,
    pushed: Option<&strait_ike::ConfigReply>,
) -> Option<strait_platform::DnsSettings> {
    match &profile.network.dns {
        Dns::None => None,
        Dns::Servers(servers) => Some(strait_platform::DnsSettings {
            servers: servers.clone(),
            domains: vec![],
        }),
        Dns::Gateway => {
            let c = pushed?;
            (!c.dns.is_empty()).then(|| strait_platform::DnsSettings {
                servers: c.dns.clone(),
                domains: c.dns_domains.clone(),
            })
        }
    }
}

/// A failed connection attempt in words for the user; the protocol detail goes along.
///
/// Failures that only a change to the profile can fix (IKEv1 cannot do what it asks, or the
/// gateway wants an XAuth login the profile has no method for) are `InvalidProfile`, so a UI
/// can offer to edit the profile rather than to try again.
pub fn connect_error(e: &strait_ike::Error) -> IpcError {
    use strait_ike::Error;
    let kind = match e {
        Error::V1Unsupported(_) | Error::XauthNotConfigured => ErrorKind::InvalidProfile,
        _ => ErrorKind::ConnectFailed,
    };
    let mut err = IpcError::new(kind, e.to_string());
    err.detail = Some(format!("{e:?}"));
    err
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64_decodes_rfc4648_vectors_and_refuses_the_rest() {
        for (text, expected) in [
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9v\nYmFy\n", "foobar"),
            ("Zm9vYg", "foob"),
        ] {
            assert_eq!(
                base64_decode(text.as_bytes()).unwrap().as_slice(),
                expected.as_bytes(),
                "{text}"
            );
        }
        for text in ["", "Z", "Zm9v!", "Zm=9v", "\u{e9}t\u{e9}"] {
            assert!(base64_decode(text.as_bytes()).is_none(), "{text}");
        }
    }

    #[test]
    fn key_secrets_are_pem_or_base64() {
        let pem = b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----".to_vec();
        assert_eq!(
            key_secret_bytes(Zeroizing::new(pem.clone())).as_slice(),
            pem.as_slice()
        );
        assert_eq!(
            key_secret_bytes(Zeroizing::new(b"MIIB/w==".to_vec())).as_slice(),
            &[0x30, 0x82, 0x01, 0xff]
        );
        // Neither: passed on for the key parser to explain.
        assert_eq!(
            key_secret_bytes(Zeroizing::new(b"not a key!".to_vec())).as_slice(),
            b"not a key!"
        );
    }

    fn v1_profile(version: &str, auth: &str) -> Profile {
        strait_profile::parse(
            &format!(
                "name = \"t\"\ngateway = \"192.0.2.1\"\nversion = \"{version}\"\n[auth]\n{auth}\
                 remote_id = \"gw.test\"\n"
            ),
            "t.toml",
            std::path::Path::new("/"),
        )
        .unwrap()
    }

    #[test]
    fn ikev1_options_carry_the_mode_and_the_xauth_login() {
        let secrets = || ConnSecrets {
            secret: Some(Zeroizing::new(b"group key".to_vec())),
            xauth_password: Some(Zeroizing::new(b"hunter2".to_vec())),
        };
        let v2 = v1_profile("ikev2", "method = \"psk\"\n");
        assert!(v1_options(&v2, &mut secrets()).unwrap().is_none());
        assert!(aggressive_psk_warning(&v2).is_none());

        let main = v1_profile("ikev1-main", "method = \"psk\"\n");
        let opts = v1_options(&main, &mut secrets()).unwrap().unwrap();
        assert_eq!(opts.mode, v1::Mode::Main);
        assert!(opts.xauth.is_none());
        assert!(aggressive_psk_warning(&main).is_none());

        let group = v1_profile(
            "ikev1-aggressive",
            "method = \"xauth-psk\"\nlocal_id = \"keyid:vpn-users\"\nusername = \"alice\"\n",
        );
        let mut s = secrets();
        let opts = v1_options(&group, &mut s).unwrap().unwrap();
        assert_eq!(opts.mode, v1::Mode::Aggressive);
        let xauth = opts.xauth.unwrap();
        assert_eq!(xauth.username, "alice");
        assert_eq!(xauth.password.as_str(), "hunter2");
        assert!(
            s.xauth_password.is_none(),
            "the password is taken, not copied"
        );
        let warning = aggressive_psk_warning(&group).unwrap();
        assert!(warning.contains("brute-force the pre-shared key offline"));
        // The group name is a KEY_ID identity.
        let cfg = ike_config(
            &group,
            &mut secrets(),
            "192.0.2.2:500".parse().unwrap(),
            "192.0.2.1:500".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(cfg.local_id.id_type, id_type::KEY_ID);
        assert_eq!(cfg.local_id.data, b"vpn-users");
        assert!(matches!(cfg.auth, LocalAuth::Psk(ref k) if k.as_slice() == b"group key"));

        let e = v1_options(
            &group,
            &mut ConnSecrets {
                xauth_password: None,
                ..secrets()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingSecret);
        assert!(
            e.message.contains("strait secret set <profile> password"),
            "{e:?}"
        );

        // Aggressive Mode with a certificate is not warned about.
        let cert = v1_profile(
            "ikev1-aggressive",
            "method = \"xauth-cert\"\ncertificate = \"/nonexistent.pem\"\nusername = \"bob\"\n",
        );
        assert!(aggressive_psk_warning(&cert).is_none());
        assert_eq!(
            v1_options(&cert, &mut secrets())
                .unwrap()
                .unwrap()
                .xauth
                .unwrap()
                .username,
            "bob"
        );
    }

    #[test]
    fn ikev1_failures_the_profile_must_fix_are_invalid_profile_errors() {
        use strait_ike::Error;
        let e = connect_error(&Error::XauthNotConfigured);
        assert_eq!(e.kind, ErrorKind::InvalidProfile);
        assert!(e.message.contains("xauth-psk or xauth-cert"), "{e:?}");
        let e = connect_error(&Error::V1Unsupported(
            "IKEv1 here signs with RSA keys only".into(),
        ));
        assert_eq!(e.kind, ErrorKind::InvalidProfile);
        let e = connect_error(&Error::XauthFailed {
            username: "alice".into(),
        });
        assert_eq!(e.kind, ErrorKind::ConnectFailed);
        assert!(e.message.contains("wrong username or password"), "{e:?}");
    }

    fn openssl(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {}", args.join(" "));
        out.stdout
    }

    /// The chain and key of a `cert` profile whose `certificate` is `cert_file`, with the key
    /// secret as the CLI sends the file `key_file` (base64 when binary).
    fn config(dir: &std::path::Path, cert_file: &str, key_file: &str) -> Result<Config, IpcError> {
        let profile = strait_profile::parse(
            &format!(
                "name = \"t\"\ngateway = \"192.0.2.1\"\n[auth]\nmethod = \"cert\"\n\
                 certificate = \"{cert_file}\"\nremote_id = \"gw.test\"\n"
            ),
            "t.toml",
            dir,
        )
        .unwrap();
        let key = std::fs::read(dir.join(key_file)).unwrap();
        let secret = if key.starts_with(b"-----") {
            key
        } else {
            openssl(dir, &["base64", "-A", "-in", key_file])
        };
        let mut secrets = ConnSecrets {
            secret: Some(Zeroizing::new(secret)),
            ..ConnSecrets::default()
        };
        let addr = "192.0.2.2:500".parse().unwrap();
        ike_config(&profile, &mut secrets, addr, addr)
    }

    fn leaf_subject(cfg: &Config) -> String {
        match &cfg.auth {
            LocalAuth::Certificate { chain, .. } => chain[0].subject(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pkcs12_and_der_credentials_make_a_certificate_config() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
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
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "me.key",
                "-out",
                "me.csr",
                "-subj",
                "/CN=me.test",
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "me.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "me.pem",
                "-days",
                "30",
            ],
        );
        openssl(
            d,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                "me.key",
                "-in",
                "me.pem",
                "-certfile",
                "ca.pem",
                "-out",
                "me.p12",
                "-passout",
                "pass:",
            ],
        );
        openssl(
            d,
            &[
                "pkcs12",
                "-export",
                "-legacy",
                "-inkey",
                "me.key",
                "-in",
                "me.pem",
                "-out",
                "locked.p12",
                "-passout",
                "pass:hunter2",
            ],
        );
        openssl(
            d,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", "me.key", "-outform", "DER", "-out", "me.der",
            ],
        );
        let bundle = [
            std::fs::read(d.join("ca.pem")).unwrap(),
            std::fs::read(d.join("me.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(d.join("ca-first.pem"), bundle).unwrap();

        // PKCS#12 as both the certificate and the key; the key alone as DER or PEM.
        for (cert_file, key_file) in [
            ("me.p12", "me.p12"),
            ("me.p12", "me.der"),
            ("me.pem", "me.p12"),
            ("ca-first.pem", "me.der"),
            ("ca-first.pem", "me.key"),
        ] {
            let cfg = config(d, cert_file, key_file).unwrap();
            assert!(
                leaf_subject(&cfg).contains("me.test"),
                "{cert_file} {key_file}"
            );
        }

        let e = config(d, "me.pem", "locked.p12").unwrap_err();
        assert!(
            e.message.contains(strait_ike::pkcs12::PASSWORD_PROTECTED),
            "{e:?}"
        );
        // A locked certificate file with a key that came without certificates: said plainly.
        let e = config(d, "locked.p12", "me.der").unwrap_err();
        assert!(
            e.message
                .contains("locked.p12 is protected by a password, and the stored key came without certificates"),
            "{e:?}"
        );
        // With the key secret an import of that file stores (key, then its certificates), the
        // certificates come from the secret.
        let locked = std::fs::read(d.join("locked.p12")).unwrap();
        let secret = cert::key_secret_from_file(&locked, Some("hunter2")).unwrap();
        std::fs::write(d.join("imported.pem"), secret.as_bytes()).unwrap();
        let cfg = config(d, "locked.p12", "imported.pem").unwrap();
        assert!(leaf_subject(&cfg).contains("me.test"));
        // An encrypted PEM key given to the service directly is explained.
        openssl(
            d,
            &[
                "pkcs8", "-topk8", "-in", "me.key", "-out", "enc.pem", "-passout", "pass:x",
            ],
        );
        let e = config(d, "me.pem", "enc.pem").unwrap_err();
        assert!(e.message.contains(cert::ENCRYPTED_KEY), "{e:?}");
    }
}
