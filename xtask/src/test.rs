//! `cargo xtask test`: the one command that runs every check of the project.
//!
//! Steps, in order: install what the tests need (`setup`), the app's web front end (`ui`:
//! `npm ci`, build, Vitest), `fmt`, `clippy`, the workspace's tests, the interop lab's
//! root-only tests, the desktop app end to end (`app-e2e`), and the Windows/macOS type-check.
//!
//! The `ui` step comes before anything compiles the workspace: `strait-app` embeds `ui/dist`
//! at compile time (`tauri::generate_context!`). Its build script writes a placeholder page
//! when `ui/dist` is missing, so cargo commands never fail for want of it, but the app that
//! the tests build should carry the real UI.
//!
//! A failing step does not stop the ones after it, so one run shows every failure; the run
//! ends with a table of the steps, the test totals, and `xtask: N passed, M failed` alone on
//! the last line.

use std::process::{Command, ExitCode};
use std::time::Duration;

use crate::{cmd, cross, reject_unknown_options, setup, Error, Result};

/// The package groups the interop step needs.
const INTEROP_GROUPS: &[&str] = &["interop", "keychain"];
/// Packages whose `#[ignore]`d tests need root or system services: the interop lab, the
/// platform's network-namespace tests, and the CLI's and the app's keychain tests (a real
/// Secret Service).
const ROOT_TEST_PACKAGES: &[&str] = &[
    "strait-interop",
    "strait-platform",
    "strait-cli",
    "strait-app",
];
/// Binaries the interop tests run.
const INTEROP_BINARIES: &[&str] = &["straitd", "strait-cli"];
/// The package groups building and testing the desktop app needs (`node` only when `npm` is
/// not on PATH, see [`UI_GROUPS_WITHOUT_NPM`]).
const APP_GROUPS: &[&str] = &["app"];
/// Asked for when `npm` is missing.
const UI_GROUPS_WITHOUT_NPM: &[&str] = &["node"];
/// The end-to-end test of the app (with the interop lab).
const APP_E2E_GROUPS: &[&str] = &["app-e2e"];
/// The interop test file of the app's end-to-end test, run in its own step.
const APP_E2E_TEST: &str = "app";

/// What one step came to.
enum Outcome {
    Passed,
    Failed(String),
}

struct Step {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
}

/// The sum of the `test result:` lines of every test binary and doctest run.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    suites: u32,
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Totals {
    /// Adds one `test result: ok. 3 passed; 0 failed; 1 ignored; …` line; other lines are
    /// not ours and are ignored.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        let mut seen = false;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = count.parse::<u64>() else {
                continue;
            };
            seen = true;
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
        if seen {
            self.suites += 1;
        }
    }

    /// Adds Vitest's summary line (`      Tests  14 passed | 1 failed (15)`); other lines are
    /// ignored.
    fn add_vitest_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("Tests ") else {
            return;
        };
        let rest = rest.split('(').next().unwrap_or_default();
        let mut seen = false;
        for part in rest.split('|') {
            let mut words = part.split_whitespace();
            let (Some(count), Some(label)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = count.parse::<u64>() else {
                continue;
            };
            seen = true;
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "skipped" | "todo" => self.ignored += n,
                _ => {}
            }
        }
        if seen {
            self.suites += 1;
        }
    }
}

/// `cargo xtask test [--no-cross] [--no-interop]`.
pub fn main(args: &[String]) -> Result<ExitCode> {
    reject_unknown_options(args, &["--no-cross", "--no-interop"])?;
    if let Some(extra) = args.iter().find(|a| !a.starts_with('-')) {
        return Err(Error::msg(format!(
            "`test` takes no arguments, got `{extra}` (see `cargo xtask help`)"
        )));
    }
    let cross = !args.iter().any(|a| a == "--no-cross");
    let interop = !args.iter().any(|a| a == "--no-interop");

    // Building the workspace needs these, whatever else is skipped.
    let mut groups: Vec<&str> = vec!["build"];
    groups.extend(APP_GROUPS);
    if which("npm").is_none() {
        groups.extend(UI_GROUPS_WITHOUT_NPM);
    }
    if interop {
        groups.extend(INTEROP_GROUPS);
        groups.extend(APP_E2E_GROUPS);
    }
    if cross {
        groups.extend(cross::SETUP_GROUPS);
    }

    let total = 4 + usize::from(!groups.is_empty()) + 2 * usize::from(interop) + usize::from(cross);
    let mut steps: Vec<Step> = Vec::new();
    let mut totals = Totals::default();
    let mut step = |name: &'static str, what: &str, f: &mut dyn FnMut() -> Result<()>| {
        println!();
        println!("==> [{}/{total}] {name}: {what}", steps.len() + 1);
        cmd::flush();
        let (result, took) = cmd::timed(f);
        let outcome = match result {
            Ok(()) => {
                println!("==> {name}: ok ({})", cmd::human(took));
                Outcome::Passed
            }
            Err(e) => {
                println!("==> {name}: FAILED ({}): {e}", cmd::human(took));
                Outcome::Failed(e.to_string())
            }
        };
        steps.push(Step {
            name,
            outcome,
            took,
        });
    };

    let mut setup_error: Option<String> = None;
    if !groups.is_empty() {
        step(
            "setup",
            &format!("packages for {}", groups.join(", ")),
            &mut || {
                let resolved = groups
                    .iter()
                    .map(|g| setup::group(g))
                    .collect::<Result<Vec<_>>>()?;
                setup::ensure(&resolved).inspect_err(|e| setup_error = Some(e.to_string()))
            },
        );
    }
    let needs_setup = |setup_error: &Option<String>| match setup_error {
        Some(e) => Err(Error::msg(format!("not run: setup failed ({e})"))),
        None => Ok(()),
    };

    step(
        "ui",
        "the app's web front end: npm ci, type-check and build, Vitest",
        &mut || {
            if which("npm").is_none() {
                needs_setup(&setup_error)?;
            }
            let ui = crate::workspace_root().join("ui");
            let npm = |args: &[&str]| {
                let mut c = Command::new("npm");
                c.current_dir(&ui).args(args);
                c
            };
            cmd::run(&mut npm(&["ci", "--no-audit", "--no-fund"]))?;
            cmd::run(&mut npm(&["run", "build"]))?;
            cmd::run_tee(&mut npm(&["test"]), |l| totals.add_vitest_line(l))
        },
    );
    step("fmt", "formatting", &mut || {
        cmd::run(cmd::cargo().args(["fmt", "--all", "--check"]))
    });
    step("clippy", "lints, warnings are errors", &mut || {
        cmd::run(cmd::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    step("test", "unit, integration and doc tests", &mut || {
        cmd::run_tee(
            cmd::cargo().args(["test", "--workspace", "--no-fail-fast"]),
            |l| totals.add_line(l),
        )
    });
    if interop {
        step(
            "interop",
            "strongSwan lab in network namespaces (root)",
            &mut || {
                needs_setup(&setup_error)?;
                if !setup::is_root() {
                    return Err(Error::msg(
                        "the interop lab needs root (network namespaces); run as root, \
                         or pass --no-interop",
                    ));
                }
                // The end-to-end tests run the service and CLI binaries themselves.
                cmd::run(
                    cmd::cargo()
                        .args(["build"])
                        .args(INTEROP_BINARIES.iter().flat_map(|p| ["-p", p])),
                )?;
                cmd::run_tee(
                    cmd::cargo()
                        .args(["test", "--no-fail-fast"])
                        .args(ROOT_TEST_PACKAGES.iter().flat_map(|p| ["-p", p]))
                        // Labs are independent, but timing-sensitive tests (rekeys, DPD)
                        // should not fight for two cores with more than one other lab.
                        // The app's end-to-end test has its own step.
                        .args(["--", "--ignored", "--test-threads", "2"])
                        .args(["--skip", "app_"]),
                    |l| totals.add_line(l),
                )
            },
        );
        step(
            "app-e2e",
            "the desktop app under Xvfb via tauri-driver against straitd and strongSwan (root)",
            &mut || {
                needs_setup(&setup_error)?;
                if !setup::is_root() {
                    return Err(Error::msg(
                        "the app's end-to-end test needs root (the interop lab); run as \
                         root, or pass --no-interop",
                    ));
                }
                if which("tauri-driver").is_none() && !cargo_bin("tauri-driver").exists() {
                    cmd::run(cmd::cargo().args(["install", "tauri-driver", "--locked"]))?;
                }
                cmd::run(cmd::cargo().args(["build", "-p", "straitd", "-p", "strait-app"]))?;
                cmd::run_tee(
                    cmd::cargo()
                        .args(["test", "-p", "strait-interop", "--test", APP_E2E_TEST])
                        .args(["--", "--ignored", "--nocapture"]),
                    |l| totals.add_line(l),
                )?;
                println!(
                    "app-e2e: screenshot of the connected app in {}",
                    crate::workspace_root()
                        .join("target/app-e2e/connected.png")
                        .display()
                );
                Ok(())
            },
        );
    }
    if cross {
        step(
            "check-targets",
            "type-check for Windows and macOS",
            &mut || {
                needs_setup(&setup_error)?;
                let targets: Vec<_> = cross::TARGETS.iter().collect();
                cross::check(&targets)
            },
        );
    }
    Ok(summary(&steps, &totals))
}

/// The full path of a program on PATH.
pub(crate) fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Where `cargo install` puts a binary.
fn cargo_bin(name: &str) -> std::path::PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
        .join(name)
}

fn summary(steps: &[Step], totals: &Totals) -> ExitCode {
    let failed = steps
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Failed(_)))
        .count();
    let passed = steps.len() - failed;
    println!();
    println!("==> summary");
    for s in steps {
        match &s.outcome {
            Outcome::Passed => println!("  ok      {:<14} {:>8}", s.name, cmd::human(s.took)),
            Outcome::Failed(why) => {
                let first = why.lines().next().unwrap_or_default();
                println!(
                    "  FAILED  {:<14} {:>8}  {first}",
                    s.name,
                    cmd::human(s.took)
                );
            }
        }
    }
    let tests_ok = totals.failed == 0
        && steps
            .iter()
            .filter(|s| matches!(s.name, "test" | "interop" | "ui" | "app-e2e"))
            .all(|s| matches!(s.outcome, Outcome::Passed));
    println!(
        "test result: {}. {} passed; {} failed; {} ignored (totals of {} test suites in this run)",
        if tests_ok { "ok" } else { "FAILED" },
        totals.passed,
        totals.failed,
        totals.ignored,
        totals.suites
    );
    println!("xtask: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_libtest_and_doctest_lines() {
        let mut t = Totals::default();
        for line in [
            "running 3 tests",
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "test result: FAILED. 10 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s",
            "   Doc-tests strait_esp",
            "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
            "test it_says test result: in its name ... ok",
        ] {
            t.add_line(line);
        }
        assert_eq!(
            t,
            Totals {
                suites: 3,
                passed: 13,
                failed: 2,
                ignored: 1
            }
        );
    }

    #[test]
    fn vitest_summaries_add_up() {
        let mut t = Totals::default();
        for line in [
            " ✓ src/app.test.ts (14 tests) 1110ms",
            " Test Files  1 passed (1)",
            "      Tests  14 passed | 2 failed | 1 skipped (17)",
            "   Start at  16:41:55",
        ] {
            t.add_vitest_line(line);
        }
        assert_eq!(
            t,
            Totals {
                suites: 1,
                passed: 14,
                failed: 2,
                ignored: 1
            }
        );
    }

    #[test]
    fn a_failed_step_fails_the_run() {
        let step = |name, outcome| Step {
            name,
            outcome,
            took: Duration::ZERO,
        };
        let ok = [step("fmt", Outcome::Passed), step("test", Outcome::Passed)];
        assert_eq!(summary(&ok, &Totals::default()), ExitCode::SUCCESS);
        let bad = [
            step("fmt", Outcome::Failed("`cargo fmt` failed".into())),
            step("test", Outcome::Passed),
        ];
        assert_eq!(summary(&bad, &Totals::default()), ExitCode::FAILURE);
    }
}
