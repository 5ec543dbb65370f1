//! Reading a profile file and the files it references, for `strait import`.
//!
//! The client reads the files (the privileged service never opens paths a user names). For a
//! TOML profile, the files referenced by `auth.certificate` and `auth.ca` travel along as
//! attachments, named exactly as the profile writes them; relative paths are read relative to
//! the profile's directory. Other formats are sent as they are: the service's importers parse
//! them.

use std::path::Path;

use anyhow::{anyhow, Context};
use strait_ipc::{frame::MAX_FRAME_LEN, Attachment, Request};

/// The `ImportProfile` request for one file.
pub fn import_request(path: &Path) -> anyhow::Result<Request> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?
        .to_owned();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let contents = String::from_utf8(bytes)
        .map_err(|_| anyhow!("{}: not a text file (UTF-8)", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let mut attachments = Vec::new();
    for (key, name) in referenced_files(&contents) {
        let file = base.join(&name);
        let contents = std::fs::read(&file).with_context(|| {
            format!(
                "{}: cannot read `{name}` (auth.{key}, looked for {})",
                path.display(),
                file.display()
            )
        })?;
        attachments.push(Attachment { name, contents });
    }
    let request = Request::ImportProfile {
        file_name,
        contents,
        attachments,
    };
    let size = serde_json::to_vec(&request)?.len();
    // Leave room for the message envelope.
    if size + 256 > MAX_FRAME_LEN {
        return Err(anyhow!(
            "{}: the profile with its attachments is too large to import ({size} bytes encoded, \
             limit {MAX_FRAME_LEN})",
            path.display()
        ));
    }
    Ok(request)
}

/// The files a TOML profile references, as (key, path as written), without duplicates.
/// Text that is not TOML, or has no `[auth]` table, references nothing.
pub fn referenced_files(text: &str) -> Vec<(&'static str, String)> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Vec::new();
    };
    let Some(auth) = table.get("auth").and_then(toml::Value::as_table) else {
        return Vec::new();
    };
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let mut push = |key: &'static str, v: &toml::Value| {
        if let Some(s) = v.as_str() {
            if !s.is_empty() && !out.iter().any(|(_, n)| n == s) {
                out.push((key, s.to_owned()));
            }
        }
    };
    if let Some(cert) = auth.get("certificate") {
        push("certificate", cert);
    }
    match auth.get("ca") {
        Some(toml::Value::Array(items)) => items.iter().for_each(|v| push("ca", v)),
        Some(v) => push("ca", v),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_certificate_and_ca_files() {
        let text = r#"
name = "x"
gateway = "gw"
[auth]
method = "cert"
certificate = "alice.pem"
ca = ["root.pem", "alice.pem", "sub/inter.pem"]
"#;
        assert_eq!(
            referenced_files(text),
            vec![
                ("certificate", "alice.pem".to_owned()),
                ("ca", "root.pem".to_owned()),
                ("ca", "sub/inter.pem".to_owned()),
            ]
        );
        assert_eq!(
            referenced_files("[auth]\nca = \"root.pem\"\n"),
            vec![("ca", "root.pem".to_owned())]
        );
        assert!(referenced_files("not = [toml").is_empty());
        assert!(referenced_files("name = \"x\"\n").is_empty());
    }
}
