//! A tiny line-oriented template renderer for strongSwan configuration files.
//!
//! strongswan.conf and swanctl.conf take one setting per line and a value runs
//! to the end of its line, so a template is rendered line by line: every
//! `@NAME@` is replaced by its value, and a line whose placeholder is bound to
//! `None` is dropped entirely (that is how optional settings are left out).
//! Values are checked so that a value can never open, close or end a section.

use anyhow::{bail, Result};

/// Renders `template`, replacing each `@NAME@` with its bound value.
///
/// A line that contains a placeholder bound to `None` is omitted. A placeholder
/// without a binding, or a value containing a line break, `{`, `}` or `#`, is an
/// error: it would silently change the structure of the configuration.
pub fn render(template: &str, vars: &[(&str, Option<String>)]) -> Result<String> {
    for (name, value) in vars {
        if let Some(value) = value {
            if value.contains(['\n', '\r', '{', '}', '#']) {
                bail!("template value for @{name}@ contains a line break, brace or '#': {value:?}");
            }
        }
    }
    let mut out = String::with_capacity(template.len());
    'lines: for line in template.lines() {
        let mut rendered = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(start) = rest.find('@') {
            rendered.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let Some(end) = after.find('@') else {
                bail!("unterminated placeholder in template line {line:?}");
            };
            let name = &after[..end];
            let Some((_, value)) = vars.iter().find(|(n, _)| *n == name) else {
                bail!("template placeholder @{name}@ has no value");
            };
            match value {
                Some(value) => rendered.push_str(value),
                None => continue 'lines,
            }
            rest = &after[end + 1..];
        }
        rendered.push_str(rest);
        out.push_str(&rendered);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_drops_lines() {
        let t = "a {\n  x = @X@\n  y = @Y@\n  z = @X@-@X@\n}\n";
        let out = render(t, &[("X", Some("1".into())), ("Y", None)]).unwrap();
        assert_eq!(out, "a {\n  x = 1\n  z = 1-1\n}\n");
    }

    #[test]
    fn rejects_structure_changing_values() {
        for bad in ["a\nb", "a}", "{", "x # y"] {
            assert!(
                render("k = @V@", &[("V", Some(bad.into()))]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_unbound_and_unterminated_placeholders() {
        assert!(render("k = @V@", &[]).is_err());
        assert!(render("k = @V", &[("V", Some("1".into()))]).is_err());
    }
}
