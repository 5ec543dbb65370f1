//! Reading a profile file and the files it references into an import request.
//!
//! The app reads the files (the privileged service never opens paths a user names), as the CLI
//! does: for a TOML profile, the files named by `auth.certificate` and `auth.ca` go along as
//! attachments, named as the profile writes them, read relative to the profile's directory.
//! Other formats (`.mobileconfig`, `.sswan`, `swanctl.conf`, …) are sent as they are: the
//! service's importers parse them.

use std::path::Path;

use strait_ipc::{frame::MAX_FRAME_LEN, Attachment, Request};

/// The `ImportProfile` request for one file, or a plain-words reason it cannot be read.
pub fn import_request(path: &Path) -> Result<Request, String> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{} is not a file", path.display()))?
        .to_owned();
    let bytes = std::fs::read(path).map_err(|e| format!("Cannot read {}: {e}", path.display()))?;
    let contents = String::from_utf8(bytes).map_err(|_| {
        format!(
            "{} is not a text file: choose a Strait profile (.toml) or another supported \
             profile format",
            path.display()
        )
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let mut attachments = Vec::new();
    for (key, name) in referenced_files(&contents) {
        let file = base.join(&name);
        let contents = std::fs::read(&file).map_err(|e| {
            format!(
                "The profile names `{name}` (auth.{key}) but {} cannot be read ({e}): put it \
                 next to the profile and import again",
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
    let size = serde_json::to_vec(&request).map_or(usize::MAX, |v| v.len());
    if size.saturating_add(256) > MAX_FRAME_LEN {
        return Err(format!(
            "{} with its attachments is too large to import ({size} bytes, limit {MAX_FRAME_LEN})",
            path.display()
        ));
    }
    Ok(request)
}

/// The files a TOML profile references, as (key, path as written), without duplicates.
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

/// Whether a command-line argument looks like a profile file to import (the app is the
/// handler of profile files; its other arguments are options).
pub fn is_profile_arg(arg: &str) -> bool {
    !arg.starts_with('-') && Path::new(arg).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_travel_with_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.pem"), b"ROOT").unwrap();
        let profile = dir.path().join("acme.toml");
        std::fs::write(
            &profile,
            "name = \"Acme\"\ngateway = \"gw\"\n[auth]\nmethod = \"cert\"\nca = [\"root.pem\", \"root.pem\"]\n",
        )
        .unwrap();
        match import_request(&profile).unwrap() {
            Request::ImportProfile {
                file_name,
                attachments,
                ..
            } => {
                assert_eq!(file_name, "acme.toml");
                assert_eq!(attachments.len(), 1);
                assert_eq!(attachments[0].name, "root.pem");
                assert_eq!(attachments[0].contents, b"ROOT");
            }
            other => panic!("{other:?}"),
        }
        assert!(is_profile_arg(profile.to_str().unwrap()));
        assert!(!is_profile_arg("--minimized"));
    }

    #[test]
    fn a_missing_attachment_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("acme.toml");
        std::fs::write(&profile, "[auth]\ncertificate = \"me.pem\"\n").unwrap();
        let err = import_request(&profile).unwrap_err();
        assert!(
            err.contains("me.pem") && err.contains("auth.certificate"),
            "{err}"
        );
        let err = import_request(&dir.path().join("nope.toml")).unwrap_err();
        assert!(err.contains("Cannot read"), "{err}");
    }
}
