//! Running external commands: print each one before it runs, and turn a non-zero exit into an
//! [`Error`] that names the command.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// `cargo` as the caller ran it: `cargo xtask` runs us with `CARGO` set to the toolchain's
/// cargo, so the fmt/clippy/test steps use the same toolchain as the xtask build itself.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::workspace_root());
    cmd
}

/// The command line as a shell would take it: the environment variables it sets, the
/// program and its arguments, quoted where needed.
pub fn display(cmd: &Command) -> String {
    let mut words = Vec::new();
    let inherited_path = std::env::var("PATH").ok().filter(|p| !p.is_empty());
    for (key, value) in cmd.get_envs() {
        let (Some(value), key) = (value, key.to_string_lossy()) else {
            continue;
        };
        let value = value.to_string_lossy();
        // `PATH=/usr/bin:$PATH` rather than the whole inherited PATH spelled out.
        let prefix = inherited_path.as_deref().and_then(|p| {
            let head = value.strip_suffix(p)?.strip_suffix(':')?;
            (key == "PATH").then_some(head)
        });
        match prefix {
            Some(head) => words.push(format!("PATH=\"{head}:$PATH\"")),
            None => words.push(format!("{key}={}", quote(&value))),
        }
    }
    let program = cmd.get_program();
    // Show `cargo`, not the full path of the toolchain's cargo that `CARGO` holds.
    let program_name = if std::env::var_os("CARGO").as_deref() == Some(program) {
        OsStr::new("cargo")
    } else {
        program
    };
    words.push(quote(&program_name.to_string_lossy()));
    words.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    words.join(" ")
}

/// The command without its environment, for error messages (the full line was printed
/// when it started).
fn short(cmd: &Command) -> String {
    let mut bare = Command::new(cmd.get_program());
    bare.args(cmd.get_args());
    display(&bare)
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Prints the command, runs it with inherited stdio, and fails unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    println!("$ {}", display(cmd));
    let shown = short(cmd);
    flush();
    let status = cmd
        .status()
        .map_err(|e| Error::msg(format!("cannot start `{shown}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::msg(format!("`{shown}` failed ({status})")))
    }
}

/// Like [`run`], but also hands every line of the command's standard output to `on_line`
/// while copying it through, so the caller can read test results without hiding them.
pub fn run_tee(cmd: &mut Command, mut on_line: impl FnMut(&str)) -> Result<()> {
    println!("$ {}", display(cmd));
    let shown = short(cmd);
    flush();
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Error::msg(format!("cannot start `{shown}`: {e}")))?;
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end_matches(['\n', '\r']);
                    // `println!`, not a raw write: the test harness captures it.
                    println!("{text}");
                    flush();
                    on_line(text);
                }
                Err(e) => {
                    eprintln!("xtask: reading the output of `{shown}`: {e}");
                    break;
                }
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::msg(format!("waiting for `{shown}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::msg(format!("`{shown}` failed ({status})")))
    }
}

/// Runs the command quietly and returns its standard output, or `None` if it could not run
/// or failed: for probes such as "is this package installed?".
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Flushes stdout so our lines appear before the child's output.
pub fn flush() {
    let _ = std::io::stdout().flush();
}

/// A duration the way a person reads it: `850ms`, `42.3s`, `6m 05s`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{}ms", d.as_millis())
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

/// Times `f`.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_a_shell_would_split() {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "${Status}", "it's"]);
        assert_eq!(
            display(&cmd),
            r"DEBIAN_FRONTEND=noninteractive apt-get install -y '${Status}' 'it'\''s'"
        );
    }

    #[test]
    fn run_reports_the_failing_command_and_tee_sees_every_line() {
        let err = run(Command::new("sh").args(["-c", "exit 3"])).unwrap_err();
        assert!(err.to_string().contains("exit 3"), "{err}");

        let mut lines = Vec::new();
        run_tee(
            Command::new("sh").args(["-c", "printf 'a\\nb\\nno newline'"]),
            |l| lines.push(l.to_string()),
        )
        .unwrap();
        assert_eq!(lines, ["a", "b", "no newline"]);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(42_345)), "42.3s");
        assert_eq!(human(Duration::from_secs(365)), "6m 05s");
    }
}
