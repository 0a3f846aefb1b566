//! Batch-mode edits: create, add, update, delete, upgrade — and what stays untouched.

use std::os::unix::fs::PermissionsExt as _;

use mqtt_core::auth::{Credential, HashKind, PasswordFile};

use super::{ours, read};
use crate::support::TempDir;

fn parse(text: &str) -> PasswordFile {
    PasswordFile::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn kind_of(file: &PasswordFile, user: &str) -> HashKind {
    match file.get(user) {
        Some(Credential::Hashed(hash)) => hash.kind(),
        other => panic!("{user}: {other:?}"),
    }
}

#[test]
fn create_writes_one_argon2id_line_with_mode_0600() {
    let dir = TempDir::new("create");
    let out = ours(&dir, &["-c", "-b", "pwfile", "alice", "secret"]);
    // Mosquitto 2.1's report (2.0.11 printed nothing).
    let report = "Adding password for user alice\n";
    assert_eq!((out.code(), out.stdout.as_str(), out.stderr.as_str()), (0, report, ""));
    let path = dir.join("pwfile");
    let text = read(&path);
    assert!(text.starts_with("alice:$argon2id$v=19$m=47104,t=1,p=1$"), "{text}");
    assert_eq!(text.lines().count(), 1);
    assert!(text.ends_with('\n'));
    let file = parse(&text);
    assert!(file.verify("alice", b"secret"));
    assert!(!file.verify("alice", b"Secret"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// In a set-group-ID directory (the package's /etc/culex) a new file is shared with the
/// directory's group: mode 0640; an edit keeps it.
#[test]
fn create_in_a_set_group_id_directory_gives_the_group_read_access() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = TempDir::new("setgid");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o2777)).unwrap();
    assert_eq!(ours(&dir, &["-c", "-b", "pwfile", "alice", "secret"]).code(), 0);
    assert_eq!(ours(&dir, &["-b", "pwfile", "bob", "secret"]).code(), 0);
    let (file, directory) = (std::fs::metadata(dir.join("pwfile")).unwrap(), dir.path());
    assert_eq!(file.permissions().mode() & 0o777, 0o640);
    assert_eq!(file.gid(), std::fs::metadata(directory).unwrap().gid());
}

#[test]
fn hash_choices_write_the_matching_line_kinds() {
    let dir = TempDir::new("kinds");
    assert_eq!(ours(&dir, &["-H", "sha512-pbkdf2", "-c", "-b", "f", "p", "pw"]).code(), 0);
    assert_eq!(ours(&dir, &["-H", "sha512", "-b", "f", "s", "pw"]).code(), 0);
    assert_eq!(ours(&dir, &["-H", "sha512-pbkdf2", "-I", "1000", "-b", "f", "i", "pw"]).code(), 0);
    assert_eq!(ours(&dir, &["-I", "2", "-b", "f", "a", "pw"]).code(), 0);
    let text = read(&dir.join("f"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("p:$7$101$"), "{text}");
    assert!(lines[1].starts_with("s:$6$"), "{text}");
    assert!(lines[2].starts_with("i:$7$1000$"), "{text}");
    assert!(lines[3].starts_with("a:$argon2id$v=19$m=47104,t=2,p=1$"), "{text}");
    let file = parse(&text);
    assert_eq!(kind_of(&file, "p"), HashKind::Sha512Pbkdf2);
    assert_eq!(kind_of(&file, "s"), HashKind::Sha512);
    for user in ["p", "s", "i", "a"] {
        assert!(file.verify(user, b"pw"), "{user}");
    }
}

#[test]
fn update_keeps_comments_blank_lines_order_and_other_lines_byte_for_byte() {
    let dir = TempDir::new("update");
    let path = dir.join("f");
    assert_eq!(ours(&dir, &["-H", "sha512-pbkdf2", "-c", "-b", "f", "first", "1"]).code(), 0);
    let first_line = read(&path);
    std::fs::write(
        &path,
        format!("# Users of the plant\n\n{first_line}# Sensors below\nplainuser:plain\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = read(&path);

    let out = ours(&dir, &["-b", "f", "first", "changed"]);
    let updating = "Updating password for user first\n";
    assert_eq!((out.code(), out.stdout.as_str(), out.stderr.as_str()), (0, updating, ""));
    let out = ours(&dir, &["-b", "f", "newbie", "n"]);
    let adding = "Adding password for user newbie\n";
    assert_eq!((out.code(), out.stdout.as_str(), out.stderr.as_str()), (0, adding, ""));

    let after = read(&path);
    let (old, new): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(new.len(), 6, "{after}");
    assert_eq!(new[..2], old[..2]);
    assert!(new[2].starts_with("first:$argon2id$"), "updated in place with the chosen hash");
    assert_eq!(new[3..5], old[3..5]);
    assert!(new[5].starts_with("newbie:"));
    let file = parse(&after);
    assert!(file.verify("first", b"changed"));
    assert!(file.verify("newbie", b"n"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "an existing file keeps its permissions");
}

#[test]
fn a_missing_final_newline_does_not_glue_lines() {
    let dir = TempDir::new("nonl");
    std::fs::write(dir.join("f"), "u1:plain1").unwrap();
    assert_eq!(ours(&dir, &["-b", "f", "u2", "p2"]).code(), 0);
    let text = read(&dir.join("f"));
    assert!(text.starts_with("u1:plain1\nu2:$argon2id$"), "{text}");
}

#[test]
fn a_file_with_an_unparsable_line_is_refused_and_left_untouched() {
    let dir = TempDir::new("corrupt");
    let original = "u1:plain1\nbadline\nu3:plain3\n";
    std::fs::write(dir.join("f"), original).unwrap();
    for args in [&["-b", "f", "x", "y"][..], &["-D", "f", "u1"], &["-U", "f"]] {
        let out = ours(&dir, args);
        assert_eq!(out.code(), 1, "{args:?}");
        assert_eq!(
            out.stderr,
            "Error: Corrupt password file at line 2 (missing ':' between username and password).\n"
        );
        assert_eq!(read(&dir.join("f")), original, "{args:?} must not touch the file");
    }
    std::fs::write(dir.join("g"), "ok:plain\nbad:$7$0$AAAA$BBBB\n").unwrap();
    let out = ours(&dir, &["-b", "g", "x", "y"]);
    assert_eq!(out.stderr, "Error: Corrupt password file at line 2 (invalid hash iterations).\n");
}

#[test]
fn delete_removes_the_user_and_keeps_the_rest() {
    let dir = TempDir::new("delete");
    std::fs::write(dir.join("f"), "# keep\nu1:plain1\nu2:plain2\n").unwrap();
    let out = ours(&dir, &["-D", "f", "u1"]);
    assert_eq!((out.code(), out.stdout.as_str(), out.stderr.as_str()), (0, "", ""));
    assert_eq!(read(&dir.join("f")), "# keep\nu2:plain2\n");
    let out = ours(&dir, &["-D", "f", "u1"]);
    assert_eq!(
        (out.code(), out.stderr.as_str()),
        (1, "Warning: User u1 not found in password file.\n")
    );
    assert_eq!(read(&dir.join("f")), "# keep\nu2:plain2\n");
}

#[test]
fn upgrade_hashes_plaintext_and_leaves_hashed_lines_alone() {
    let dir = TempDir::new("upgrade");
    assert_eq!(ours(&dir, &["-H", "sha512-pbkdf2", "-c", "-b", "f", "hashed", "h"]).code(), 0);
    let hashed_line = read(&dir.join("f"));
    std::fs::write(dir.join("f"), format!("# plain users\nu1:plain1\n{hashed_line}u2 : plain2 \n"))
        .unwrap();
    let out = ours(&dir, &["-H", "sha512-pbkdf2", "-U", "f"]);
    assert_eq!((out.code(), out.stdout.as_str(), out.stderr.as_str()), (0, "", ""));
    let text = read(&dir.join("f"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# plain users");
    assert!(lines[1].starts_with("u1:$7$101$"));
    assert_eq!(format!("{}\n", lines[2]), hashed_line);
    assert!(lines[3].starts_with("u2:$7$101$"));
    let file = parse(&text);
    for (user, password) in [("u1", "plain1"), ("u2", "plain2"), ("hashed", "h")] {
        assert!(file.verify(user, password.as_bytes()), "{user}");
    }
}

#[test]
fn a_symlinked_file_is_edited_through_the_link() {
    let dir = TempDir::new("symlink");
    std::fs::write(dir.join("real"), "u1:plain1\n").unwrap();
    std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
    assert_eq!(ours(&dir, &["-D", "link", "u1"]).code(), 0);
    assert!(std::fs::symlink_metadata(dir.join("link")).unwrap().file_type().is_symlink());
    assert_eq!(read(&dir.join("real")), "");
}

/// Mosquitto 2.1's `-c -`: the one new line goes to stdout, without the report, and no file
/// named `-` appears; without `-c`, `-` is a file name like any other.
#[test]
fn create_with_a_dash_writes_the_line_to_stdout() {
    let dir = TempDir::new("stdout");
    let out = ours(&dir, &["-H", "sha512-pbkdf2", "-c", "-b", "-", "sam", "pw"]);
    assert_eq!((out.code(), out.stderr.as_str()), (0, ""));
    assert!(out.stdout.starts_with("sam:$7$101$"), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), 1);
    assert!(parse(&out.stdout).verify("sam", b"pw"));
    assert!(!dir.join("-").exists());
    let out = ours(&dir, &["-b", "-", "sam", "pw"]);
    assert_eq!(
        (out.code(), out.stderr.as_str()),
        (1, "Error: Unable to open password file -. No such file or directory.\n")
    );
}

#[test]
fn no_temporary_files_are_left_behind() {
    let dir = TempDir::new("tidy");
    assert_eq!(ours(&dir, &["-c", "-b", "f", "u", "p"]).code(), 0);
    assert_eq!(ours(&dir, &["-b", "f", "v", "p"]).code(), 0);
    assert_eq!(ours(&dir, &["-D", "f", "v"]).code(), 0);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["f"]);
}
