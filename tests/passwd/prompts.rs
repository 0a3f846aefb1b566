//! Interactive password entry: piped stdin, and a real pseudo-terminal driven by
//! `tests/passwd/pty_driver.py` (python3's pty module), compared with `mosquitto_passwd`.

use std::path::{Path, PathBuf};
use std::process::Command;

use mqtt_core::auth::PasswordFile;

use super::read;
use crate::support::{COMMAND_DEADLINE, TempDir, our_bin, reference_tool, run, run_in};

/// Path of the binary under test.
fn culex_passwd() -> PathBuf {
    our_bin("culex_passwd")
}

/// Runs `program args` in `dir` on a pseudo-terminal, typing each answer after each password
/// prompt (`None` = Ctrl-C). Returns the exit status and the terminal transcript.
fn on_pty(dir: &TempDir, program: &Path, args: &[&str], answers: &[Option<&str>]) -> (i32, String) {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("passwd/pty_driver.py");
    let answers_json = format!(
        "[{}]",
        answers
            .iter()
            .map(|a| a.map_or("null".to_owned(), |a| format!("\"{a}\"")))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut command = Command::new("python3");
    command.arg(&driver).arg(&answers_json).arg(program).args(args).current_dir(dir.path());
    let output = run(&mut command, COMMAND_DEADLINE);
    assert!(
        output.code() == 0,
        "pty driver failed (is python3 installed? `apt-get install python3`): {}",
        output.stderr
    );
    let (code, transcript) =
        output.stdout.split_once('\n').expect("the driver prints the exit status first");
    (code.parse().expect("exit status"), transcript.to_owned())
}

#[test]
fn piped_answers_create_the_file_like_mosquitto() {
    let dir = TempDir::new("piped");
    let out = run_in(dir.path(), &culex_passwd(), &["-c", "f", "piper"], b"pipepw\npipepw\n");
    // The prompts as in 2.0.11, then Mosquitto 2.1's report.
    let report = "Adding password for user piper\n";
    assert_eq!(
        (out.code(), out.stdout.as_str(), out.stderr.as_str()),
        (0, &*format!("Password: \nReenter password: \n{report}"), "")
    );
    assert!(PasswordFile::parse(&read(&dir.join("f"))).unwrap().verify("piper", b"pipepw"));
    let theirs = run_in(
        dir.path(),
        &reference_tool("mosquitto_passwd"),
        &["-c", "g", "piper"],
        b"pipepw\npipepw\n",
    );
    assert_eq!((theirs.code(), theirs.stdout + report), (out.code(), out.stdout));
    // `-c -` prints the new line after the prompts, instead of the report.
    let out = run_in(dir.path(), &culex_passwd(), &["-c", "-", "piper"], b"pipepw\npipepw\n");
    let line = out.stdout.strip_prefix("Password: \nReenter password: \n").unwrap_or_default();
    assert!(PasswordFile::parse(line).unwrap().verify("piper", b"pipepw"), "{}", out.stdout);
}

#[test]
fn piped_failures_match_mosquitto() {
    let cases: &[&[u8]] = &[b"a\nb\n", b"\n", b"", b"a\n", b"a\n\n", b"a\r\na\n"];
    for input in cases {
        let dir = TempDir::new("piped-fail");
        let ours = run_in(dir.path(), &culex_passwd(), &["-c", "f", "u"], input);
        let theirs =
            run_in(dir.path(), &reference_tool("mosquitto_passwd"), &["-c", "g", "u"], input);
        let shown = String::from_utf8_lossy(input);
        // "a\r" and "a" are the same password to both; that success ends with 2.1's report.
        let report = if theirs.code() == 0 { "Adding password for user u\n" } else { "" };
        assert_eq!(
            (ours.code(), &ours.stdout, &ours.stderr),
            (theirs.code(), &(theirs.stdout.clone() + report), &theirs.stderr),
            "{shown:?}"
        );
        assert_eq!(dir.join("f").exists(), dir.join("g").exists(), "{shown:?}");
    }
}

#[test]
fn terminal_prompts_hide_the_password_and_match_mosquittos_transcript() {
    let dir = TempDir::new("pty");
    let (code, transcript) = on_pty(
        &dir,
        &culex_passwd(),
        &["-c", "ours", "ivan"],
        &[Some("ivanpass"), Some("ivanpass")],
    );
    assert_eq!(code, 0, "{transcript}");
    // Mosquitto 2.1's report follows the prompts (2.0.11 prints none).
    let report = "Adding password for user ivan\r\n";
    assert_eq!(transcript, format!("Password: \r\nReenter password: \r\n{report}"));
    assert!(!transcript.contains("ivanpass"), "the password must not be echoed");
    assert!(PasswordFile::parse(&read(&dir.join("ours"))).unwrap().verify("ivan", b"ivanpass"));

    let mosquitto = reference_tool("mosquitto_passwd");
    let (their_code, theirs) =
        on_pty(&dir, &mosquitto, &["-c", "theirs", "ivan"], &[Some("ivanpass"), Some("ivanpass")]);
    assert_eq!((code, transcript), (their_code, theirs + report));
}

#[test]
fn terminal_mismatch_and_empty_answers_match_mosquitto() {
    let mosquitto = reference_tool("mosquitto_passwd");
    let cases: &[&[Option<&str>]] =
        &[&[Some("abc"), Some("abd")], &[Some("")], &[Some("abc"), Some("")]];
    for answers in cases {
        let dir = TempDir::new("pty-fail");
        let ours = on_pty(&dir, &culex_passwd(), &["-c", "ours", "ivan"], answers);
        let theirs = on_pty(&dir, &mosquitto, &["-c", "theirs", "ivan"], answers);
        assert_eq!(ours, theirs, "{answers:?}");
        assert!(!dir.join("ours").exists(), "{answers:?}: no file after a failed prompt");
    }
}

#[test]
fn terminal_update_of_an_existing_file_works() {
    let dir = TempDir::new("pty-update");
    std::fs::write(dir.join("f"), "# team\njoe:plain\n").unwrap();
    let (code, transcript) =
        on_pty(&dir, &culex_passwd(), &["f", "joe"], &[Some("joepass"), Some("joepass")]);
    let expected = "Password: \r\nReenter password: \r\nUpdating password for user joe\r\n";
    assert_eq!((code, transcript.as_str()), (0, expected));
    let text = read(&dir.join("f"));
    assert!(text.starts_with("# team\njoe:$argon2id$"), "{text}");
    assert!(PasswordFile::parse(&text).unwrap().verify("joe", b"joepass"));
}

#[test]
fn ctrl_c_at_the_prompt_leaves_no_file_and_exits_130() {
    let dir = TempDir::new("pty-ctrl-c");
    let (code, _) = on_pty(&dir, &culex_passwd(), &["-c", "ours", "ivan"], &[None]);
    assert_eq!(code, 130);
    assert!(!dir.join("ours").exists());
}
