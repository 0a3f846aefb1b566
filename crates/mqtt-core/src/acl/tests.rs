//! Tests for `AclFile`: parsing and the check order, with cases observed on Mosquitto 2.0.11.

use super::*;

/// One probe: client id, username, topic, access, whether Mosquitto 2.0.11 allowed it.
type Probe = (&'static str, Option<&'static str>, &'static str, Access, bool);

fn assert_probes(acl: &str, probes: &[Probe]) {
    let file = AclFile::parse(acl).unwrap();
    for &(client_id, username, topic, access, expected) in probes {
        assert_eq!(
            file.allowed(client_id, username, topic, access),
            expected,
            "{client_id} {username:?} {access:?} {topic}"
        );
    }
}

use Access::{Read, Write};

/// Observed with the real broker (paho v5 clients: PUBACK reason 135 for a refused write,
/// no delivery for a refused read).
#[test]
fn user_anonymous_and_pattern_sections_as_observed() {
    let acl = "topic read anon/#\ntopic deny anon/secret\nuser alice\ntopic readwrite a/#\n\
               topic deny a/secret/#\ntopic read shared/#\nuser bob\ntopic write b/in\n\
               pattern read dev/%c/#\npattern deny a/pdeny\npattern readwrite u/%u/#\n";
    assert_probes(
        acl,
        &[
            ("c1", None, "anon/x", Read, true),
            ("c1", None, "anon/x", Write, false),
            ("c1", None, "anon/secret", Read, false),
            ("c1", None, "dev/c1/x", Read, true),
            ("c1", None, "u/c1/x", Read, false),
            ("c1", None, "a/x", Read, false),
            ("c2", Some("alice"), "a/x", Write, true),
            ("c2", Some("alice"), "a/x", Read, true),
            ("c2", Some("alice"), "a/secret/k", Write, false),
            // A user's own grant is checked before the pattern denies.
            ("c2", Some("alice"), "a/pdeny", Write, true),
            ("c2", Some("alice"), "shared/1", Write, false),
            ("c2", Some("alice"), "shared/1", Read, true),
            ("c2", Some("alice"), "anon/x", Read, false),
            ("c2", Some("alice"), "u/alice/z", Write, true),
            ("c2", Some("alice"), "dev/c2/q", Read, true),
            ("c3", Some("bob"), "b/in", Write, true),
            ("c3", Some("bob"), "b/in", Read, false),
            ("c3", Some("bob"), "u/bob/x", Read, true),
            ("c4", Some("carol"), "u/carol/x", Write, true),
            ("c4", Some("carol"), "a/x", Read, false),
            ("c4", Some("carol"), "$SYS/broker/version", Read, false),
            ("c+5", Some("carol"), "u/carol/x", Write, false),
            ("c1", None, "$SYS/broker/version", Read, false),
        ],
    );
}

#[test]
fn dollar_topics_need_dollar_filters_and_dangerous_names_are_refused() {
    let acl =
        "pattern readwrite %u/%c/#\npattern write %c\ntopic write $SYS/#\ntopic readwrite #\n";
    assert_probes(
        acl,
        &[
            ("c1", None, "c1", Write, true),
            ("c1", None, "alice/c1/x", Write, true),
            ("c2", Some("alice"), "alice/c2/x", Write, true),
            ("c2", Some("alice"), "alice/c2", Read, true),
            ("c+2", Some("alice"), "zzz", Write, false),
            ("c2", Some("ev+il"), "zzz", Write, false),
            ("c1", None, "zzz", Write, true),
            ("c1", None, "$SYS/broker/version", Read, false),
            ("c1", None, "$SYS/broker/connection/x/state", Write, true),
            ("c1", None, "$foo/bar", Write, false),
        ],
    );
    let file = AclFile::parse(acl).unwrap();
    assert_eq!(file.check("c+2", Some("alice"), "zzz", Write), Decision::DangerousClientId);
    assert_eq!(file.check("c2", Some("ev#il"), "zzz", Write), Decision::DangerousUsername);
}

#[test]
fn repeated_user_sections_merge_and_quirky_topic_lines_parse_like_mosquitto() {
    let acl = "user alice\ntopic read\ntopic read a/b c\nuser bob\nuser alice\ntopic write more\n\
               pattern write %u/x\n";
    assert_probes(
        acl,
        &[
            ("c1", None, "x", Read, false),
            ("c1", None, "%u/x", Write, false),
            // `topic read` is a readwrite rule for the topic named `read`.
            ("c2", Some("alice"), "read", Write, true),
            ("c2", Some("alice"), "a/b c", Read, true),
            ("c2", Some("alice"), "more", Write, true),
            ("c3", Some("bob"), "bob/x", Write, true),
            ("c3", Some("bob"), "more", Write, false),
            ("c6", Some("ev+il"), "x", Write, false),
        ],
    );
}

#[test]
fn an_acl_file_without_rules_denies_everything() {
    assert_probes(
        "# nothing\n",
        &[("c1", None, "x", Read, false), ("c2", Some("alice"), "x", Write, false)],
    );
}

#[test]
fn subscribing_is_never_refused() {
    let file = AclFile::parse("topic deny #\n").unwrap();
    assert!(file.allowed("c", None, "a/#", Access::Subscribe));
    assert!(file.allowed("c", None, "a/#", Access::Unsubscribe));
    assert!(!file.allowed("c", None, "a/b", Read));
}

#[test]
fn deny_wins_over_grants_within_a_section_whatever_the_order() {
    let file =
        AclFile::parse("topic readwrite a/#\ntopic deny a/b\npattern read p/#\npattern deny p/q\n")
            .unwrap();
    assert!(!file.allowed("c", None, "a/b", Read));
    assert!(file.allowed("c", None, "a/c", Read));
    assert_eq!(file.anonymous_rules()[0].permission, Permission::Deny);
    assert!(!file.allowed("c", Some("u"), "p/q", Read));
    assert!(file.allowed("c", Some("u"), "p/r", Read));
}

#[test]
fn a_grant_for_the_other_direction_does_not_stop_the_search() {
    let file = AclFile::parse("user u\ntopic read t\ntopic write t\n").unwrap();
    assert!(file.allowed("c", Some("u"), "t", Write));
    assert!(file.allowed("c", Some("u"), "t", Read));
}

#[test]
fn substitution_replaces_every_occurrence() {
    assert_eq!(substitute("%c/%u/%c", "id", Some("me")).as_deref(), Some("id/me/id"));
    assert_eq!(substitute("a/%u", "id", None), None);
    assert_eq!(substitute("100%/x", "id", None).as_deref(), Some("100%/x"));
    assert_eq!(substitute("%", "id", None).as_deref(), Some("%"));
}

#[test]
fn parse_errors_name_the_line_and_what_mosquitto_says() {
    let cases: &[(&str, usize, AclErrorKind)] = &[
        ("topic read a\ntopic\n", 2, AclErrorKind::EmptyTopic),
        ("topic foo bar\n", 1, AclErrorKind::InvalidAccess("foo".into())),
        ("pattern read a/#/b\n", 1, AclErrorKind::InvalidTopic("a/#/b".into())),
        ("user\n", 1, AclErrorKind::MissingUsername),
        ("user   \n", 1, AclErrorKind::MissingUsername),
        ("\ttopic read x\n", 1, AclErrorKind::InvalidLine("\ttopic".into())),
        ("  # indented comment\n", 1, AclErrorKind::InvalidLine("#".into())),
        ("\n\nfoo\n", 3, AclErrorKind::InvalidLine("foo".into())),
    ];
    for (text, line, kind) in cases {
        assert_eq!(
            AclFile::parse(text),
            Err(AclError { line: *line, kind: kind.clone() }),
            "{text:?}"
        );
    }
}

#[test]
fn spacing_comments_and_crlf_are_tolerated() {
    let file =
        AclFile::parse("# c\n\n   \n  topic   read   a/b  \r\nuser  alice smith \r\ntopic x\n")
            .unwrap();
    assert_eq!(
        file.anonymous_rules(),
        [Rule { filter: "a/b".into(), permission: Permission::Read }]
    );
    assert_eq!(
        file.user_rules("alice smith"),
        [Rule { filter: "x".into(), permission: Permission::ReadWrite }]
    );
}

#[test]
fn reserved_topics_follow_mosquittos_fixed_rules() {
    assert!(!reserved_topic_allowed("$SYS/test", Write));
    assert!(reserved_topic_allowed("$SYS/test", Read));
    assert!(reserved_topic_allowed("$SYS/broker/connection/b1/state", Write));
    assert!(!reserved_topic_allowed("$share/g/t", Write));
    assert!(reserved_topic_allowed("$share/g/t", Access::Subscribe));
    assert!(reserved_topic_allowed("$foo/bar", Write));
    assert!(reserved_topic_allowed("plain", Write));
}

#[test]
fn the_broker_hook_gives_the_same_answers() {
    use crate::access::{Access as HookAccess, AccessControl, ClientRef};
    let file = AclFile::parse("user u\ntopic read t/#\n").unwrap();
    let hook: &dyn AccessControl = &file;
    let client = ClientRef { client_id: "c", username: Some("u") };
    assert!(hook.check(&client, "t/1", HookAccess::Read));
    assert!(!hook.check(&client, "t/1", HookAccess::Write));
    assert!(hook.check(&client, "x/#", HookAccess::Subscribe));
}

#[test]
fn parse_errors_render_as_mosquittos_log_lines() {
    // Observed with the real broker (`mosquitto -c` with each line as the whole acl_file).
    let cases = [
        ("\ttopic read x", "Error: Invalid line in acl_file \"/a\": \ttopic."),
        ("  # indented comment", "Error: Invalid line in acl_file \"/a\": #."),
        ("topic foo bar", "Error: Invalid topic access type \"foo\" in acl_file \"/a\"."),
        ("user", "Error: Missing username in acl_file \"/a\"."),
        ("topic", "Error: Empty topic in acl_file \"/a\"."),
        ("pattern read a/#/b", "Error: Invalid ACL topic \"a/#/b\" in acl_file \"/a\"."),
    ];
    for (text, expected) in cases {
        let error = AclFile::parse(text).unwrap_err();
        assert_eq!(error.mosquitto_log_line("/a"), expected, "{text:?}");
    }
}
