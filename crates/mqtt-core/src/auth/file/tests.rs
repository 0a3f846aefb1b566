//! Tests for `PasswordFile`: parsing, edits that keep the rest of the file, verification.

use super::*;
use crate::auth::HashAlgorithm;

const ALICE: &str = "alice:$7$101$flx07dWWUv7WZhZc$CMvBN2uO7kWfGjiHQPwntdnNZoh1dflWJrXSCKkC2wvBib5GCL6TErK9/M0LTKJq5SVs2yfrRmVFawapGO/SJA==";
const CAROL: &str = "carol:$6$JjbQEJVV7xu3btB3$jpoucNoYU7VZpWFGP8fmdUz8TxH3vzXfB/1uQDdQenyfdSNBfRmEyXqgDeuDuo/sbLCNWRtIZqOTy19UZtfTuA==";

fn pbkdf2(password: &str) -> PasswordHash {
    HashAlgorithm::MOSQUITTO_2_0.hash(password.as_bytes(), &[9; 12]).unwrap()
}

#[test]
fn comments_blank_lines_and_order_survive_an_untouched_round_trip() {
    let text = format!("# header\n\n{ALICE}\n   \n# middle\n{CAROL}\n");
    let file = PasswordFile::parse(&text).unwrap();
    assert_eq!(file.to_string(), text);
    assert_eq!(file.entries().map(|(u, _)| u).collect::<Vec<_>>(), ["alice", "carol"]);
}

#[test]
fn a_missing_final_newline_is_added_rather_than_gluing_lines() {
    let mut file = PasswordFile::parse(&format!("{ALICE}\n{CAROL}")).unwrap();
    file.set("dave", pbkdf2("pw")).unwrap();
    let text = file.to_string();
    assert!(text.starts_with(&format!("{ALICE}\n{CAROL}\ndave:$7$101$")), "{text}");
    assert!(text.ends_with('\n'));
}

#[test]
fn set_replaces_in_place_and_appends_new_users_after_comments() {
    let mut file = PasswordFile::parse(&format!("# c\n{ALICE}\n# keep me\n{CAROL}\n")).unwrap();
    assert_eq!(file.set("alice", pbkdf2("new")), Ok(Change::Updated));
    assert_eq!(file.set("erin", pbkdf2("e")), Ok(Change::Added));
    let text = file.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0], "# c");
    assert!(lines[1].starts_with("alice:$7$101$"));
    assert_ne!(lines[1], ALICE);
    assert_eq!(lines[2..4], ["# keep me", CAROL]);
    assert!(lines[4].starts_with("erin:"));
    assert!(file.verify("alice", b"new"));
    assert!(!file.verify("alice", b"newsecret"));
}

#[test]
fn set_removes_later_duplicates_of_the_user() {
    let mut file = PasswordFile::parse(&format!("{ALICE}\n{CAROL}\n{ALICE}\n")).unwrap();
    file.set("alice", pbkdf2("x")).unwrap();
    assert_eq!(file.entries().filter(|(u, _)| *u == "alice").count(), 1);
    assert_eq!(file.entries().count(), 2);
}

#[test]
fn remove_deletes_every_line_of_the_user_only() {
    let mut file = PasswordFile::parse(&format!("# c\n{ALICE}\n{CAROL}\n{ALICE}\n")).unwrap();
    assert!(file.remove("alice"));
    assert_eq!(file.to_string(), format!("# c\n{CAROL}\n"));
    assert!(!file.remove("alice"));
}

#[test]
fn usernames_and_fields_are_trimmed_and_crlf_is_accepted() {
    let file = PasswordFile::parse(&format!(" {ALICE} \r\n")).unwrap();
    assert!(file.verify("alice", b"newsecret"));
    assert_eq!(file.to_string(), format!(" {ALICE} \r\n"), "untouched lines keep their bytes");
}

#[test]
fn text_after_a_second_colon_is_ignored_like_mosquitto() {
    let file = PasswordFile::parse(&format!("{ALICE}:extra\n")).unwrap();
    assert!(file.verify("alice", b"newsecret"));
}

#[test]
fn strict_parse_names_the_failing_line() {
    let cases: &[(&str, usize, ParseErrorKind)] = &[
        ("# ok\nbadline\n", 2, ParseErrorKind::MissingColon),
        (":$6$x$y\n", 1, ParseErrorKind::Username(UsernameError::Empty)),
        ("a\tb:pw\n", 1, ParseErrorKind::Username(UsernameError::ControlCharacter)),
        ("u:\n", 1, ParseErrorKind::MissingPassword),
        ("\nu:  \n", 2, ParseErrorKind::MissingPassword),
        ("u:$5$abc\n", 1, ParseErrorKind::Hash(HashError::UnknownType)),
        ("u:$7$0$AAAAAAAAAAAAAAAA$AA\n", 1, ParseErrorKind::Hash(HashError::InvalidIterations)),
    ];
    for (text, line, kind) in cases {
        let err = PasswordFile::parse(text).unwrap_err();
        assert_eq!((err.line, &err.kind), (*line, kind), "{text:?}");
    }
    let err = PasswordFile::parse("u:$5$abc\n").unwrap_err();
    assert_eq!(err.username.as_deref(), Some("u"));
    assert_eq!(err.to_string(), "line 1: unknown password hash type");
}

#[test]
fn lenient_parse_keeps_good_entries_and_reports_the_rest() {
    let text = format!("{ALICE}\nbadline\nplain:text\nemptypw:\n{CAROL}\n");
    let (file, problems) = PasswordFile::parse_lenient(&text);
    assert!(file.verify("alice", b"newsecret"));
    assert!(file.verify("carol", b"pass"));
    assert!(!file.verify("plain", b"text"), "plaintext is never a valid login");
    let found: Vec<(usize, ParseErrorKind)> =
        problems.into_iter().map(|p| (p.line, p.kind)).collect();
    assert_eq!(
        found,
        [
            (2, ParseErrorKind::MissingColon),
            (3, ParseErrorKind::Plaintext),
            (4, ParseErrorKind::MissingPassword)
        ]
    );
}

#[test]
fn unknown_users_get_a_decoy_with_the_same_costs() {
    let file = PasswordFile::parse(&format!("{ALICE}\n")).unwrap();
    let unknown = file.credentials("mallory");
    assert!(!unknown.user_known());
    assert!(!unknown.verify(b"newsecret"));
    let known = file.credentials("alice");
    assert!(known.user_known());
    assert_eq!(format!("{:?}", unknown.hash), format!("{:?}", known.hash));
    assert!(!PasswordFile::default().verify("anyone", b""));
}

#[test]
fn upgrade_hashes_plaintext_entries_only_and_in_place() {
    let text = format!("# plain\nu1:plain1\n{CAROL}\nu2 : plain2 \n");
    let mut file = PasswordFile::parse(&text).unwrap();
    let count = file
        .upgrade_plaintext(|pw| HashAlgorithm::MOSQUITTO_2_0.hash(pw.as_bytes(), &[3; 12]))
        .unwrap();
    assert_eq!(count, 2);
    let out = file.to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# plain");
    assert!(lines[1].starts_with("u1:$7$101$"));
    assert_eq!(lines[2], CAROL);
    assert!(lines[3].starts_with("u2:$7$101$"));
    assert!(file.verify("u1", b"plain1"));
    assert!(file.verify("u2", b"plain2"));
    assert!(file.verify("carol", b"pass"));
}

#[test]
fn a_failing_upgrade_leaves_the_file_unchanged() {
    let text = "u1:plain1\nu2:plain2\n";
    let mut file = PasswordFile::parse(text).unwrap();
    let mut calls = 0;
    let result = file.upgrade_plaintext(|_| {
        calls += 1;
        if calls == 2 { Err("boom") } else { Ok(pbkdf2("x")) }
    });
    assert_eq!(result, Err("boom"));
    assert_eq!(file.to_string(), text);
}

#[test]
fn empty_text_is_an_empty_file() {
    let file = PasswordFile::parse("").unwrap();
    assert!(file.is_empty());
    assert_eq!(file.to_string(), "");
    assert!(PasswordFile::parse("# only a comment\n").unwrap().is_empty());
}

#[test]
fn set_refuses_bad_usernames() {
    let mut file = PasswordFile::default();
    assert_eq!(file.set("a:b", pbkdf2("x")), Err(UsernameError::Colon));
    assert!(file.is_empty());
}

#[test]
fn load_problems_are_reported_in_mosquittos_words() {
    let text = "nocolon\nemptypw:\nplainuser:plainpass\nfive:$5$abc\niter:$7$0$AAAAAAAAAAAAAAAA$AA\n\
                salt:$7$101$!!$AA\nhash:$7$101$AAAAAAAAAAAAAAAA$AAAA\n";
    let (_, problems) = PasswordFile::parse_lenient(text);
    let lines: Vec<Option<String>> =
        problems.iter().map(|p| p.mosquitto_log_line("/etc/pw")).collect();
    assert_eq!(
        lines,
        [
            None,
            Some("Error: Invalid password hash for user emptypw, removing entry.".to_owned()),
            Some(
                "Error: Invalid password hash type for user plainuser, removing entry.".to_owned()
            ),
            Some("Error: Invalid password hash type for user five, removing entry.".to_owned()),
            Some("Error: Invalid hash iterations for user iter, removing entry.".to_owned()),
            Some("Error: Unable to decode password salt for user salt, removing entry.".to_owned()),
            Some("Error: Unable to decode password for user hash, removing entry.".to_owned()),
        ]
    );
    let long = format!("{}:$6$x$y\n", "u".repeat(65_536));
    let (_, problems) = PasswordFile::parse_lenient(&long);
    assert_eq!(
        problems[0].mosquitto_log_line("/etc/pw").as_deref(),
        Some("Warning: Invalid line in password file '/etc/pw', username too long.")
    );
}
