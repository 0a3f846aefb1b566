//! Unit tests of the configuration parser: Mosquitto's line rules, each option's checks and
//! messages (taken from running Mosquitto 2.0.11 on the same lines), listener selection.

use std::num::NonZeroU16;

use std::time::Duration;

use super::parse::{atoi, parse_into};
use super::{
    Config, ConfigError, ListenSpec, ListenerConfig, LogTypes, Protocol, TlsOptions, parse,
};

/// `text` parsed as `test.conf`, which must succeed.
pub(super) fn ok(text: &str) -> Config {
    parse(text, "test.conf").unwrap_or_else(|err| panic!("{text:?} should parse: {err:?}"))
}

/// Whether anonymous clients may connect through the first listener in force.
fn anonymous(config: &Config) -> bool {
    config.security_for(config.listeners_in_force()[0]).allow_anonymous
}

/// The line and message of the error `text` gives in `test.conf`.
pub(super) fn err(text: &str) -> (usize, String) {
    match parse(text, "test.conf") {
        Ok(config) => panic!("{text:?} should fail, got {config:?}"),
        Err(ConfigError { file, line, message, .. }) => {
            assert_eq!(file, "test.conf");
            (line, message)
        }
    }
}

/// Asserts that `text` is refused at line 1 with `message`.
#[track_caller]
fn refused(text: &str, message: &str) {
    assert_eq!(err(text), (1, message.to_owned()));
}

#[test]
fn empty_file_gives_mosquitto_defaults_and_local_only_mode() {
    let config = ok("");
    assert_eq!(config, Config::default());
    assert!(config.local_only());
    assert!(anonymous(&config));
    assert_eq!(config.max_inflight_messages, 20);
    assert_eq!(config.max_queued_messages, 1000);
    assert_eq!(config.max_keepalive, 65535);
    assert_eq!(config.auto_id_prefix, "auto-");
    assert_eq!(config.max_topic_alias, 10);
    assert_eq!(config.effective_log_types(None), LogTypes::DEFAULT);
    assert_eq!(config.effective_log_types(Some(LogTypes::ALL)), LogTypes::ALL);
}

#[test]
fn comments_blank_lines_and_crlf_are_ignored() {
    let config = ok("# a comment\n\n   \n\r\nallow_anonymous true\r\n#listener 1\n");
    assert_eq!(config.allow_anonymous, Some(true));
    assert!(config.listeners.is_empty());
}

#[test]
fn leading_spaces_are_skipped_but_a_tab_is_part_of_the_name() {
    assert_eq!(ok("   allow_anonymous true").allow_anonymous, Some(true));
    refused("allow_anonymous\ttrue", "Unknown configuration variable \"allow_anonymous\ttrue\".");
}

#[test]
fn a_hash_after_column_zero_is_not_a_comment() {
    refused(" # indented", "Unknown configuration variable \"#\".");
}

/// A `#` inside a value is part of it, as in Mosquitto 2.0.11 (checked by running it on the
/// same lines); culex's one leniency is a comment after a host or interface name.
#[test]
fn a_hash_inside_a_value_is_part_of_it() {
    let config = ok("auto_id_prefix ab#cd\nclientid_prefixes x #y\npassword_file /p#w\n\
                     acl_file /a #cl\npid_file /run/#pid\nlog_timestamp_format %#H\n\
                     persistence_file db#1\npersistence_location /var/#lib/\n");
    assert_eq!(config.auto_id_prefix, "ab#cd");
    assert_eq!(config.clientid_prefixes.as_deref(), Some("x #y"));
    assert_eq!(config.password_file.as_deref(), Some("/p#w"));
    assert_eq!(config.acl_file.as_deref(), Some("/a #cl"));
    assert_eq!(config.pid_file.as_deref(), Some("/run/#pid"));
    assert_eq!(config.log_timestamp_format.as_deref(), Some("%#H"));
    assert_eq!(config.persistence_file.as_deref(), Some("db#1"));
    assert_eq!(config.persistence_location.as_deref(), Some("/var/#lib/"));
    assert_eq!(ok("log_dest file /l #og").log_dest.and_then(|d| d.file).as_deref(), Some("/l #og"));
    // Numbers and booleans read one word: what follows is ignored, `#` or not.
    let config =
        ok("port 1885            #开发端口\nallow_anonymous true # yes\nmax_inflight_messages 7#x");
    assert_eq!((config.default_listener.port, config.allow_anonymous), (1885, Some(true)));
    assert_eq!(config.max_inflight_messages, 7);
    // A host or interface name ends at a `#` after a blank (Mosquitto fails to resolve it).
    for (line, host) in [
        ("bind_address 0.0.0.0 # 使用 ip 地址或者主机名", "0.0.0.0"),
        ("bind_address 127.0.0.1\t#tab", "127.0.0.1"),
        ("bind_address host#1", "host#1"),
    ] {
        assert_eq!(ok(line).default_listener.bind_address.as_deref(), Some(host), "{line}");
    }
    assert_eq!(
        ok("listener 1883\nbind_interface lo # loopback").listeners[0].bind_interface.as_deref(),
        Some("lo")
    );
    assert_eq!(
        err("bind_address  # nothing"),
        (1, "Empty bind_address value in configuration.".into())
    );
}

#[test]
fn unknown_option_names_the_line() {
    assert_eq!(
        err("allow_anonymous true\n\nfoo bar\n"),
        (3, "Unknown configuration variable \"foo\".".into())
    );
    let lines = parse("foo bar", "bad.conf").unwrap_err().log_lines();
    assert_eq!(
        lines,
        ["Error: Unknown configuration variable \"foo\".", "Error found at bad.conf:1."]
    );
}

#[test]
fn persistence_options_and_the_path_mosquitto_builds() {
    let config = ok("");
    assert_eq!((config.persistence, config.persistence_path()), (false, None));
    assert_eq!((config.autosave_interval, config.autosave_on_changes), (1800, false));
    let on = ok("persistence true");
    assert_eq!(on.persistence_path().as_deref(), Some("mosquitto.db"));
    // Debian's stock mosquitto.conf: the trailing slash gives `//`, as Mosquitto prints it.
    let debian = ok("persistence true\npersistence_location /var/lib/mosquitto/\n");
    assert_eq!(debian.persistence_path().as_deref(), Some("/var/lib/mosquitto//mosquitto.db"));
    let named =
        ok("retained_persistence 1\npersistence_file  state.db \npersistence_location /tmp");
    assert_eq!(named.persistence_path().as_deref(), Some("/tmp/state.db"));
    assert_eq!(ok("autosave_interval -5").autosave_interval, 0);
    let changes = ok("autosave_interval 10\nautosave_on_changes true");
    assert_eq!((changes.autosave_interval, changes.autosave_on_changes), (10, true));
    refused("persistence yes", "Invalid persistence value (yes).");
    assert_eq!(
        err("persistence_file a\npersistence_file b"),
        (2, "Duplicate persistence_file value in configuration.".into())
    );
    refused("persistence_location ", "Empty persistence_location value in configuration.");
    refused("autosave_on_changes maybe", "Invalid autosave_on_changes value (maybe).");
}

#[test]
fn the_journal_is_on_by_default_and_its_sync_interval_is_set_in_seconds() {
    let config = ok("persistence true");
    assert_eq!((config.persistence_journal, config.persistence_sync_interval), (true, 0));
    let mosquitto = ok("persistence_journal false
persistence_sync_interval 5");
    assert_eq!((mosquitto.persistence_journal, mosquitto.persistence_sync_interval), (false, 5));
    assert_eq!(ok("persistence_sync_interval -1").persistence_sync_interval, 0);
    refused("persistence_journal often", "Invalid persistence_journal value (often).");
}

#[test]
fn reason_strings_are_a_culex_option_off_by_default() {
    assert!(!ok("").send_reason_strings);
    assert!(ok("send_reason_strings true").send_reason_strings);
    assert_eq!(
        err("send_reason_strings yes"),
        (1, "Invalid send_reason_strings value (yes).".into())
    );
}

#[test]
fn routers_are_a_culex_option_one_by_default() {
    assert_eq!(ok("").routers.map(NonZeroU16::get), Some(1));
    assert_eq!(ok("routers 4").routers.map(NonZeroU16::get), Some(4));
    assert_eq!(ok("routers auto").routers, None);
    assert_eq!(ok("routers 64").routers.map(NonZeroU16::get), Some(64));
    for bad in ["0", "-1", "two", "65", "70000"] {
        let message = format!("Invalid routers value ({bad}): 1 to 64, or auto.");
        assert_eq!(err(&format!("routers {bad}")), (1, message));
    }
}

#[test]
fn booleans_accept_true_false_one_zero_only() {
    assert!(!ok("retain_available 0").retain_available);
    assert!(!ok("retain_available false").retain_available);
    assert!(ok("upgrade_outgoing_qos 1").upgrade_outgoing_qos);
    assert!(!ok("").check_retain_source);
    assert!(ok("check_retain_source true").check_retain_source);
    refused("check_retain_source on", "Invalid check_retain_source value (on).");
    assert_eq!(ok("").memory_limit, 0);
    assert_eq!(ok("memory_limit 5000000000").memory_limit, 5_000_000_000);
    refused("memory_limit -1", "Invalid memory_limit value (-1).");
    refused("allow_anonymous maybe", "Invalid allow_anonymous value (maybe).");
    refused("log_timestamp yes", "Invalid log_timestamp value (yes).");
    refused("allow_anonymous", "Empty allow_anonymous value in configuration.");
    refused("connection_messages   ", "Empty connection_messages value in configuration.");
}

#[test]
fn integers_are_read_like_atoi() {
    assert_eq!(atoi("42"), 42);
    assert_eq!(atoi("42abc"), 42);
    assert_eq!(atoi("abc"), 0);
    assert_eq!(atoi("-7"), -7);
    assert_eq!(atoi("99999999999999"), i64::from(i32::MAX));
    assert_eq!(ok("max_queued_messages  250").max_queued_messages, 250);
    assert_eq!(ok("max_queued_messages -5").max_queued_messages, 0);
    assert_eq!(ok("max_queued_bytes 4096").max_queued_bytes, 4096);
    refused("max_queued_messages", "Empty max_queued_messages value in configuration.");
}

#[test]
fn max_inflight_messages_limits() {
    assert_eq!(ok("max_inflight_messages 5").max_inflight_messages, 5);
    assert_eq!(ok("max_inflight_messages 65535").max_inflight_messages, 0);
    assert_eq!(ok("max_inflight_messages -1").max_inflight_messages, 0);
    refused("max_inflight_messages 70000", "max_inflight_messages must be <= 65535.");
}

#[test]
fn size_limits_are_checked_with_mosquittos_messages() {
    assert_eq!(ok("max_packet_size 20").max_packet_size, 20);
    refused("max_packet_size 10", "Invalid max_packet_size value (10).");
    refused("max_packet_size -1", "Invalid max_packet_size value (-1).");
    let config = ok("message_size_limit 1000");
    assert_eq!(config.message_size_limit, 1000);
    assert_eq!(
        config.notices,
        ["Note: It is recommended to replace `message_size_limit` with `max_packet_size`."]
    );
    refused("message_size_limit 300000000", "Invalid message_size_limit value (300000000).");
    refused("message_size_limit -1", "Invalid message_size_limit value (4294967295).");
}

#[test]
fn sys_interval_range() {
    assert_eq!(ok("").sys_interval, 10);
    assert_eq!(ok("sys_interval 0").sys_interval, 0);
    assert_eq!(ok("sys_interval 65535").sys_interval, 65535);
    refused("sys_interval -1", "Invalid sys_interval value (-1).");
    refused("sys_interval 65536", "Invalid sys_interval value (65536).");
}

#[test]
fn keepalive_and_topic_alias_ranges() {
    assert_eq!(ok("max_keepalive 10").max_keepalive, 10);
    refused("max_keepalive 5", "Invalid max_keepalive value (5).");
    refused("max_keepalive 70000", "Invalid max_keepalive value (70000).");
    assert_eq!(ok("max_topic_alias 0").max_topic_alias, 0);
    refused("max_topic_alias 70000", "Invalid max_topic_alias value in configuration.");
    refused("max_topic_alias -1", "Invalid max_topic_alias value in configuration.");
}

#[test]
fn strings_are_trimmed_and_may_be_given_once() {
    assert_eq!(ok("auto_id_prefix   pre- \t").auto_id_prefix, "pre-");
    refused("auto_id_prefix  ", "Empty auto_id_prefix value in configuration.");
    assert_eq!(
        err("auto_id_prefix a\nauto_id_prefix b"),
        (2, "Duplicate auto_id_prefix value in configuration.".into())
    );
}

#[test]
fn persistent_client_expiration_units() {
    let exp = |text: &str| ok(text).persistent_client_expiration;
    // Seconds are Mosquitto 2.1's addition (2.0.11 refuses `5s`).
    assert_eq!(exp("persistent_client_expiration 5s"), Some(Duration::from_secs(5)));
    assert_eq!(exp("persistent_client_expiration 2h"), Some(Duration::from_secs(7200)));
    assert_eq!(exp("persistent_client_expiration 1d"), Some(Duration::from_secs(86_400)));
    assert_eq!(exp("persistent_client_expiration 1w"), Some(Duration::from_secs(604_800)));
    assert_eq!(exp("persistent_client_expiration 1m"), Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(exp("persistent_client_expiration 1y"), Some(Duration::from_secs(365 * 86_400)));
    let message = "Invalid persistent_client_expiration duration in configuration.";
    for bad in ["5x", "0s", "0d", "2", "-1d"] {
        assert_eq!(
            err(&format!("persistent_client_expiration {bad}")),
            (1, message.into()),
            "{bad}"
        );
    }
}

#[test]
fn log_types_accumulate_and_none_resets() {
    let config = ok("log_type error\nlog_type debug");
    assert_eq!(config.log_types, Some(LogTypes::ERROR.union(LogTypes::DEBUG)));
    assert_eq!(ok("log_type all\nlog_type none").log_types, Some(LogTypes::NONE));
    refused("log_type foo", "Invalid log_type value (foo).");
    assert!(LogTypes::ALL.contains(LogTypes::SUBSCRIBE));
    assert!(!LogTypes::DEFAULT.contains(LogTypes::DEBUG));
}

#[test]
fn listener_lines_define_listeners_and_end_local_only_mode() {
    let config = ok(
        "listener 1884\nlistener 1885 127.0.0.1\nlistener 1886 # comment\nlistener 1887 ::1 extra",
    );
    let listeners: Vec<_> =
        config.listeners.iter().map(|l| (l.port, l.bind_address.as_deref())).collect();
    assert_eq!(
        listeners,
        [(1884, None), (1885, Some("127.0.0.1")), (1886, None), (1887, Some("::1"))]
    );
    assert!(!config.local_only());
    assert!(!anonymous(&config));
    assert!(anonymous(&ok("listener 1884\nallow_anonymous true")));
}

#[test]
fn listener_errors() {
    refused("listener", "Empty listener value in configuration.");
    refused("listener 70000", "Invalid port value (70000).");
    refused("listener -3", "Invalid port value (-3).");
    refused("listener 0", "A listener with port 0 must provide a Unix socket path.");
}

#[test]
fn listener_0_with_a_path_is_a_unix_socket_serving_plain_mqtt() {
    let config = ok("listener 0 /run/culex.sock # comment\nmax_connections 3\n");
    let listener = &config.listeners[0];
    assert_eq!(listener.unix_socket.as_deref(), Some("/run/culex.sock"));
    assert_eq!((listener.port, listener.bind_address.as_deref()), (0, None));
    assert_eq!(listener.max_connections, Some(3));
    assert_eq!(
        ok("listener 0 broker.sock").listeners[0].unix_socket.as_deref(),
        Some("broker.sock")
    );
    assert_eq!(ListenerConfig::default().unix_socket, None);
    for (extra, name) in [
        ("protocol websockets", "protocol websockets"),
        ("certfile c\nkeyfile k", "certfile"),
        ("bind_interface lo", "bind_interface"),
        ("socket_domain ipv4", "socket_domain"),
    ] {
        let text = format!("listener 0 /s\n{extra}\n");
        assert_eq!(
            parse(&text, "test.conf").unwrap_err().message,
            format!(
                "{name} does not apply to the Unix socket listener /s: it serves plain MQTT only."
            )
        );
    }
}

#[test]
fn listener_options_apply_to_the_latest_listener() {
    let config =
        ok("max_connections 3\nlistener 1884\nmax_connections 5\nmax_topic_alias 2\nlistener 1885");
    assert_eq!(config.default_listener.max_connections, Some(3));
    assert_eq!(config.listeners[0].max_connections, Some(5));
    assert_eq!(config.max_topic_alias, 2);
    assert_eq!(config.listeners[1], ListenerConfig { port: 1885, ..ListenerConfig::default() });
    assert_eq!(ok("listener 1884\nmax_connections -1").listeners[0].max_connections, None);
}

#[test]
fn listener_options_before_any_listener_keep_local_only_mode() {
    // Mosquitto 2.0.11 opened a public default listener here; 2.0.12 fixed it. We do the latter.
    let config = ok("max_connections 4");
    assert!(config.local_only());
    let specs = config.listen_specs(&[]);
    assert!(specs.iter().all(|spec| spec.settings.max_connections == Some(4)));
}

#[test]
fn deprecated_port_and_bind_address_declare_the_default_listener() {
    let config = ok("port 1990");
    assert!(!config.local_only());
    assert_eq!(
        config.listen_specs(&[7]),
        [ListenSpec {
            host: None,
            port: 1990,
            listener: 0,
            settings: ListenerConfig { port: 1990, ..ListenerConfig::default() },
            websockets_headers_size: 4096,
            websockets_log_level: 0,
        }]
    );
    assert_eq!(
        config.notices,
        [
            "The 'port' option is now deprecated and will be removed in a future version. Please use 'listener' instead."
        ]
    );
    let config = ok("bind_address 127.0.0.1");
    assert_eq!(config.listen_specs(&[])[0].host.as_deref(), Some("127.0.0.1"));
    assert_eq!(config.listen_specs(&[])[0].port, 1883);
    refused("port abc", "Invalid port value (0).");
    let twice = ok("port 1884\nport 1885");
    assert_eq!(twice.default_listener.port, 1885);
    assert_eq!(
        twice.notices.last().map(String::as_str),
        Some(
            "Warning: Default listener port specified multiple times. Only the latest will be used."
        )
    );
}

#[test]
fn local_only_mode_listens_on_both_loopbacks_for_each_cli_port() {
    let config = ok("allow_anonymous false");
    assert!(anonymous(&config), "local-only mode forces anonymous access");
    let hosts: Vec<_> = config
        .listen_specs(&[])
        .into_iter()
        .map(|s| (s.host.unwrap_or_default(), s.port))
        .collect();
    assert_eq!(hosts, [("127.0.0.1".to_owned(), 1883), ("::1".to_owned(), 1883)]);
    let ports: Vec<_> = config.listen_specs(&[2000, 2001]).into_iter().map(|s| s.port).collect();
    assert_eq!(ports, [2000, 2000, 2001, 2001]);
}

#[test]
fn malformed_utf8_is_an_error_on_its_line() {
    let mut config = Config::default();
    let result =
        parse_into(&mut config, b"allow_anonymous true\nauto_id_prefix \xff\n", "x.conf", None);
    assert_eq!(result.unwrap_err().line, 2);
}

#[test]
fn include_dir_is_refused_by_the_pure_parser_and_followed_by_load() {
    assert!(err("include_dir /tmp").1.contains("main configuration file"));
    let dir = std::env::temp_dir().join(format!("culex-config-test-{}", std::process::id()));
    let included = dir.join("inc");
    std::fs::create_dir_all(&included).unwrap();
    std::fs::write(included.join("b.conf"), "max_queued_messages 7\n").unwrap();
    std::fs::write(included.join("A.conf"), "max_queued_messages 5\nmax_keepalive 30\n").unwrap();
    std::fs::write(included.join("ignored.txt"), "garbage\n").unwrap();
    let main = dir.join("main.conf");
    std::fs::write(&main, format!("include_dir {}\nallow_anonymous true\n", included.display()))
        .unwrap();
    let config = super::load(&main).unwrap();
    assert_eq!(config.max_queued_messages, 7, "b.conf sorts after A.conf");
    assert_eq!(config.max_keepalive, 30);
    assert_eq!(config.notices.len(), 2);
    std::fs::write(included.join("c.conf"), "\nbogus 1\n").unwrap();
    let error = super::load(&main).unwrap_err();
    assert_eq!((error.file.ends_with("c.conf"), error.line), (true, 2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_reports_missing_files_and_directories() {
    let missing = super::load(std::path::Path::new("/nonexistent/culex.conf")).unwrap_err();
    assert_eq!(missing.log_lines(), ["Error: Unable to open config file /nonexistent/culex.conf."]);
    let dir = super::load(std::path::Path::new("/tmp")).unwrap_err();
    assert_eq!(dir.message, "Config file /tmp is a directory.");
}

#[test]
fn include_files_sort_like_mosquitto() {
    let mut names = vec!["b.conf", "B.conf", "a.conf", "01.conf", "A.conf", "00.conf"];
    names.sort_by(|a, b| super::include_order(a, b));
    assert_eq!(names, ["00.conf", "01.conf", "A.conf", "a.conf", "B.conf", "b.conf"]);
}

#[test]
fn security_files_are_global_and_given_once() {
    let config = ok("password_file /etc/culex/pw\nlistener 1884\nacl_file /etc/culex/acl");
    assert_eq!(config.password_file.as_deref(), Some("/etc/culex/pw"));
    assert_eq!(config.acl_file.as_deref(), Some("/etc/culex/acl"));
    assert_eq!(
        err("password_file a\nlistener 1884\npassword_file b"),
        (3, "Duplicate password_file value in configuration.".into())
    );
    refused("acl_file", "Empty acl_file value in configuration.");
}

#[test]
fn log_dest_destinations_add_up_and_none_clears() {
    let config = ok("log_dest stdout\nlog_dest file /var/log/culex.log\nlog_dest stderr");
    assert_eq!(
        config.log_dest,
        Some(super::LogDest {
            stdout: true,
            stderr: true,
            file: Some("/var/log/culex.log".into()),
            syslog: false,
            topic: false,
            dlt: false,
        })
    );
    assert_eq!(ok("log_dest stdout\nlog_dest none").log_dest, Some(super::LogDest::default()));
    refused("log_dest foo", "Invalid log_dest value (foo).");
    assert_eq!(ok("").log_format, super::LogFormat::Text);
    assert_eq!(ok("log_format json").log_format, super::LogFormat::Json);
    assert_eq!(ok("log_format json\nlog_format text").log_format, super::LogFormat::Text);
    refused("log_format yaml", "Invalid log_format value (yaml).");
    refused("log_format", "Empty log_format value in configuration.");
    refused("log_dest", "Empty log_dest value in configuration.");
    refused("log_dest file", "Empty \"log_dest file\" value in configuration.");
    assert_eq!(
        err("log_dest file a\nlog_dest file b"),
        (2, "Duplicate \"log_dest file\" value.".into())
    );
    assert!(ok("log_dest topic").log_dest.is_some_and(|dest| dest.topic && !dest.stderr));
    assert!(ok("log_dest dlt").log_dest.is_some_and(|dest| dest.dlt && !dest.stderr));
}

#[test]
fn crlfile_belongs_to_a_tls_listener_with_a_ca() {
    let tls = "listener 8883\ncertfile /s.crt\nkeyfile /s.key\n";
    let config = ok(&format!("{tls}cafile /ca.crt\ncrlfile /ca.crl\n"));
    assert_eq!(config.listeners[0].tls.crlfile.as_deref(), Some("/ca.crl"));
    assert_eq!(TlsOptions::default().crlfile, None);
    let message = |text: &str| parse(text, "test.conf").unwrap_err().message;
    assert_eq!(
        message(&format!("{tls}crlfile /ca.crl\n")),
        "crlfile needs cafile or capath to check client certificates (listener on port 8883)."
    );
    assert_eq!(
        message("listener 1883\ncrlfile /ca.crl\n"),
        "crlfile needs certfile and keyfile on the same listener (listener on port 1883 does not \
         use TLS)."
    );
    assert_eq!(
        err(&format!("{tls}crlfile a\ncrlfile b\n")),
        (5, "Duplicate crlfile value in configuration.".into())
    );
}

#[test]
fn log_dest_syslog_with_log_facility_local_0_to_7() {
    let config = ok("log_dest syslog\n");
    assert_eq!(config.log_dest.map(|dest| (dest.syslog, dest.stderr)), Some((true, false)));
    assert_eq!((Config::default().log_facility, config.log_facility), (None, None));
    assert_eq!(ok("log_facility 7").log_facility, Some(7));
    // Read like atoi, as Mosquitto does: `abc` is 0.
    assert_eq!(ok("log_facility abc").log_facility, Some(0));
    assert_eq!(err("log_facility 8"), (1, "Invalid log_facility value (8).".into()));
    assert_eq!(err("log_facility -1"), (1, "Invalid log_facility value (-1).".into()));
    assert_eq!(err("log_facility"), (1, "Empty log_facility value in configuration.".into()));
}

#[test]
fn user_is_a_single_name() {
    assert_eq!(ok("user leo").user.as_deref(), Some("leo"));
    assert_eq!(ok("").user, None);
    assert_eq!(err("user"), (1, "Empty user value in configuration.".into()));
    assert_eq!(err("user a\nuser b"), (2, "Duplicate user value in configuration.".into()));
}

#[test]
fn pid_file_is_a_single_path() {
    assert_eq!(ok("pid_file /run/culex.pid").pid_file.as_deref(), Some("/run/culex.pid"));
    refused("pid_file", "Empty pid_file value in configuration.");
}

#[test]
fn clientid_prefixes_is_global_given_once_and_deprecated() {
    let notice =
        "The 'clientid_prefixes' option is now deprecated and will be removed in a future version.";
    let config = ok("clientid_prefixes plant- \nlistener 1884");
    assert_eq!(config.clientid_prefixes.as_deref(), Some("plant-"));
    assert_eq!(config.notices, [notice]);
    // Mosquitto prints the notice for each line, before checking the value.
    let parse_error = parse("clientid_prefixes a\nlistener 1884\nclientid_prefixes b", "t.conf")
        .expect_err("a second clientid_prefixes is a duplicate");
    assert_eq!(parse_error.line, 3);
    assert_eq!(parse_error.message, "Duplicate clientid_prefixes value in configuration.");
    assert_eq!(parse_error.notices, [notice, notice]);
    refused("clientid_prefixes  ", "Empty clientid_prefixes value in configuration.");
}

#[test]
fn per_listener_settings_must_precede_every_security_option() {
    let message = "per_listener_settings must be set before any other security settings.";
    for option in [
        "allow_anonymous true",
        "allow_zero_length_clientid true",
        "auto_id_prefix x-",
        "password_file /p",
        "acl_file /a",
    ] {
        let text = format!("listener 1884\n{option}\nper_listener_settings true");
        assert_eq!(err(&text), (3, message.into()), "{option}");
        // false is the default and may come anywhere.
        let text = format!("{option}\nper_listener_settings false\nlistener 1884");
        assert!(!ok(&text).per_listener_settings, "{option}");
    }
    // Options that are not security options do not count.
    let config = ok("clientid_prefixes x\nlistener 1884\nper_listener_settings true");
    assert!(config.per_listener_settings);
    refused("per_listener_settings maybe", "Invalid per_listener_settings value (maybe).");
}

#[test]
fn per_listener_settings_scopes_security_options_to_their_listener() {
    // Options before the first listener belong to the default listener, which is not opened.
    let config = ok("per_listener_settings true\nallow_anonymous true\nlistener 1884");
    assert_eq!(config.default_listener.security.allow_anonymous, Some(true));
    assert!(!anonymous(&config));
    let config = ok("per_listener_settings true\n\
                     listener 1884\nallow_anonymous true\npassword_file /p\nauto_id_prefix a-\n\
                     listener 1885\nallow_anonymous true\npassword_file /p\nauto_id_prefix a-");
    assert!(anonymous(&config));
    assert_eq!(config.password_file, None, "not a global option");
    let second = config.security_for(&config.listeners[1]);
    assert_eq!(
        (second.password_file.as_deref(), second.auto_id_prefix.as_str()),
        (Some("/p"), "a-")
    );
    // Each listener is its own scope for duplicates.
    assert_eq!(
        err("per_listener_settings true\nlistener 1884\npassword_file /a\npassword_file /b"),
        (4, "Duplicate password_file value in configuration.".into())
    );
    // Turned off again at the end: the listener's options are not used (as in Mosquitto).
    let config = ok("per_listener_settings true\nlistener 1884\npassword_file /a\n\
                     allow_anonymous true\nper_listener_settings false");
    assert_eq!((config.password_file, config.allow_anonymous), (None, None));
    // Local-only mode uses the default listener's options (anonymous access still forced).
    let config = ok("per_listener_settings true\nacl_file /a");
    assert!(config.local_only() && anonymous(&config));
    assert_eq!(config.security_for(&config.default_listener).acl_file.as_deref(), Some("/a"));
}

#[test]
fn per_listener_settings_gives_each_listener_its_own_security() {
    let config = ok("per_listener_settings true\n\
                     listener 1884\npassword_file /a\nallow_anonymous true\n\
                     listener 1885 127.0.0.1\npassword_file /b\nauto_id_prefix b-\n\
                     allow_zero_length_clientid false\n\
                     listener 1886");
    let specs = config.listen_specs(&[]);
    assert_eq!(specs.iter().map(|spec| spec.listener).collect::<Vec<_>>(), [0, 1, 2]);
    let security: Vec<_> = specs.iter().map(|spec| config.security_for(&spec.settings)).collect();
    let [first, second, third] = &security[..] else { panic!("three listeners") };
    assert_eq!((first.password_file.as_deref(), first.allow_anonymous), (Some("/a"), true));
    assert_eq!((second.password_file.as_deref(), second.allow_anonymous), (Some("/b"), false));
    assert_eq!((second.auto_id_prefix.as_str(), second.allow_zero_length_clientid), ("b-", false));
    assert_eq!(*third, super::SecurityOptions::default().effective(), "Mosquitto's defaults");
    // After a reload, listeners are found by port and bind address; a vanished one is closed.
    let reloaded = ok("per_listener_settings true\nlistener 1885 127.0.0.1\nallow_anonymous true");
    assert!(reloaded.security_for(&specs[1].settings).allow_anonymous);
    assert!(!reloaded.security_for(&specs[0].settings).allow_anonymous);
    // Without per_listener_settings every listener has the global options.
    let config = ok("allow_anonymous true\nlistener 1884\nlistener 1885");
    let specs = config.listen_specs(&[]);
    assert_eq!(config.security_for(&specs[0].settings), config.security_for(&specs[1].settings));
}

#[test]
fn protocol_and_tls_options_belong_to_their_listener() {
    let config = ok("listener 8080\nprotocol websockets\nlistener 8883\ncafile /ca.crt\n\
         certfile /server.crt\nkeyfile /server.key\nrequire_certificate true\n\
         tls_version tlsv1.3\nuse_identity_as_username true\nlistener 8443\nprotocol websockets\n\
         capath /cas\ncertfile /s.crt\nkeyfile /s.key\nuse_subject_as_username 1\n");
    let [ws, mqtts, wss] = &config.listeners[..] else { panic!("three listeners") };
    assert_eq!(ws.protocol, Protocol::WebSockets);
    assert!(!ws.tls.enabled());
    assert_eq!(mqtts.protocol, Protocol::Mqtt);
    assert_eq!(
        mqtts.tls,
        TlsOptions {
            cafile: Some("/ca.crt".into()),
            capath: None,
            certfile: Some("/server.crt".into()),
            keyfile: Some("/server.key".into()),
            require_certificate: true,
            tls_version: Some("tlsv1.3".into()),
            use_identity_as_username: true,
            use_subject_as_username: false,
            crlfile: None,
            ciphers: None,
            ciphers_tls13: None,
        }
    );
    assert_eq!(wss.protocol, Protocol::WebSockets);
    assert!(wss.tls.enabled() && wss.tls.use_subject_as_username);
    assert_eq!(wss.tls.capath.as_deref(), Some("/cas"));
    assert_eq!(err("listener 1\nprotocol mqtts"), (2, "Invalid protocol value (mqtts).".into()));
    assert_eq!(
        err("listener 1\ncertfile /a\ncertfile /b"),
        (3, "Duplicate certfile value in configuration.".into())
    );
    assert_eq!(err("listener 1\nkeyfile"), (2, "Empty keyfile value in configuration.".into()));
}

#[test]
fn tls_options_must_fit_together() {
    let check = |text: &str| {
        let (line, message) = err(text);
        assert_eq!(line, 0, "reported for the whole file: {message}");
        message
    };
    assert!(check("listener 8883\ncertfile /s.crt").starts_with("Both certfile and keyfile"));
    assert!(check("listener 8883\nkeyfile /s.key").contains("listener on port 8883"));
    assert!(
        check("listener 1883\ncafile /ca.crt").starts_with("cafile needs certfile and keyfile")
    );
    assert!(check("listener 1\nuse_identity_as_username true").starts_with("use_identity"));
    assert!(
        check("listener 8883\ncertfile /s\nkeyfile /k\nrequire_certificate true")
            .starts_with("require_certificate needs cafile or capath")
    );
    // In any order within the listener.
    ok("listener 8883\nrequire_certificate true\ncafile /ca\nkeyfile /k\ncertfile /s");
    // false is the default: nothing to check.
    ok("listener 1883\nrequire_certificate false\nuse_identity_as_username false");
}

#[test]
fn cipher_lists_belong_to_a_tls_listener() {
    let config =
        ok("listener 8883\ncertfile /s\nkeyfile /k\nciphers ECDHE-RSA-AES256-GCM-SHA384\n\
                     ciphers_tls1.3 TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\n");
    let tls = &config.listeners[0].tls;
    assert_eq!(tls.ciphers.as_deref(), Some("ECDHE-RSA-AES256-GCM-SHA384"));
    assert_eq!(
        tls.ciphers_tls13.as_deref(),
        Some("TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256")
    );
    assert_eq!(
        parse("listener 1883\nciphers_tls1.3 x\n", "t").unwrap_err().message,
        "ciphers_tls1.3 needs certfile and keyfile on the same listener (listener on port 1883 \
         does not use TLS)."
    );
}

#[test]
fn what_rustls_cannot_do_stays_refused() {
    for option in ["dhparamfile", "psk_hint", "tls_engine"] {
        let (line, message) = err(&format!("listener 8883\n{option} x"));
        assert_eq!(line, 2);
        assert!(
            message.contains(&format!("\"{option}\"")) && message.contains("rustls"),
            "{message}"
        );
    }
}

#[test]
fn http_dir_is_per_listener_and_the_headers_size_global() {
    let config = ok("websockets_headers_size 300\nlistener 8080\nprotocol websockets\n\
                     http_dir /srv/www\nlistener 8081\nprotocol websockets\n");
    assert_eq!(config.listeners[0].http_dir.as_deref(), Some("/srv/www"));
    assert_eq!(config.listeners[1].http_dir, None);
    let specs = config.listen_specs(&[]);
    assert!(specs.iter().all(|spec| spec.websockets_headers_size == 300));
    let defaults = ok("listener 8080\nwebsockets_headers_size 0\n").listen_specs(&[]);
    assert_eq!(defaults[0].websockets_headers_size, 4096, "0 means libwebsockets' 4096");
    assert_eq!(defaults[0].websockets_log_level, 0);
    // An integer read like atoi, as Mosquitto reads it; global.
    for (value, level) in [("5", 5), ("4095", 4095), ("abc", 0)] {
        let config = ok(&format!("listener 8080\nwebsockets_log_level {value}\n"));
        assert_eq!(config.listen_specs(&[])[0].websockets_log_level, level, "{value}");
    }
    for (text, line, message) in [
        ("listener 1\nhttp_dir\n", 2, "Empty http_dir value in configuration."),
        ("listener 1\nhttp_dir a\nhttp_dir b\n", 3, "Duplicate http_dir value in configuration."),
        ("websockets_headers_size", 1, "Empty websockets_headers_size value in configuration."),
        ("websockets_log_level", 1, "Empty websockets_log_level value in configuration."),
        (
            "\nwebsockets_headers_size -1",
            2,
            "Websockets headers size must be between 0 and 65535 inclusive.",
        ),
        (
            "websockets_headers_size 65536",
            1,
            "Websockets headers size must be between 0 and 65535 inclusive.",
        ),
    ] {
        assert_eq!(err(text), (line, message.to_owned()), "{text}");
    }
}

#[test]
fn listener_options_max_qos_username_as_id_and_socket_domain() {
    let config = ok("listener 1883\nmax_qos 1\nuse_username_as_clientid true\n\
                     socket_domain ipv6\nlistener 1884\nmaximum_qos 0\n");
    let first = &config.listeners[0];
    assert_eq!(first.max_qos, 1);
    assert!(first.use_username_as_clientid);
    assert_eq!(first.socket_domain, Some(super::SocketDomain::Ipv6));
    let second = &config.listeners[1];
    assert_eq!(
        (second.max_qos, second.use_username_as_clientid, second.socket_domain),
        (0, false, None)
    );
    assert_eq!(ok("").default_listener.max_qos, 2);
    for (text, message) in [
        ("max_qos 3", "max_qos must be between 0 and 2 inclusive."),
        ("maximum_qos -1", "max_qos must be between 0 and 2 inclusive."),
        ("max_qos", "Empty max_qos value in configuration."),
        ("socket_domain ipv5", "Invalid socket_domain value \"ipv5\" in configuration."),
        ("socket_domain", "Empty socket_domain value in configuration."),
        ("use_username_as_clientid x", "Invalid use_username_as_clientid value (x)."),
        ("set_tcp_nodelay yes", "Invalid set_tcp_nodelay value (yes)."),
        ("queue_qos0_messages 2", "Invalid queue_qos0_messages value (2)."),
    ] {
        assert_eq!(err(&format!("listener 1883\n{text}\n")), (2, message.to_owned()), "{text}");
    }
}

#[test]
fn queue_qos0_messages_defaults_false_and_set_tcp_nodelay_true() {
    let config = ok("");
    assert!(!config.queue_qos0_messages && config.set_tcp_nodelay);
    let config = ok("queue_qos0_messages true\nset_tcp_nodelay 0\n");
    assert!(config.queue_qos0_messages && !config.set_tcp_nodelay);
}

#[test]
fn mount_point_needs_a_listener_and_no_wildcards() {
    let config = ok("listener 1883\nmount_point site/\nlistener 1884\nmount_point other/\n");
    assert_eq!(config.listeners[0].mount_point.as_deref(), Some("site/"));
    assert_eq!(config.listeners[1].mount_point.as_deref(), Some("other/"));
    let no_listener = "You must use create a listener before using the mount_point option in the \
                       configuration file.";
    assert_eq!(err("mount_point x/\n"), (1, no_listener.to_owned()));
    for (text, line, message) in [
        (
            "mount_point a/+/",
            2,
            "Invalid mount_point 'a/+/'. Does it contain a wildcard character?",
        ),
        ("mount_point a/#", 2, "Invalid mount_point 'a/#'. Does it contain a wildcard character?"),
        ("mount_point", 2, "Empty mount_point value in configuration."),
        ("mount_point a/\nmount_point b/", 3, "Duplicate mount_point value in configuration."),
    ] {
        assert_eq!(err(&format!("listener 1883\n{text}\n")), (line, message.to_owned()), "{text}");
    }
}

#[test]
fn allow_duplicate_messages_is_deprecated_and_log_timestamp_format_given_once() {
    let config = ok("allow_duplicate_messages true\nlog_timestamp_format %H:%M\n");
    assert!(config.allow_duplicate_messages);
    assert_eq!(config.log_timestamp_format.as_deref(), Some("%H:%M"));
    assert_eq!(
        config.notices,
        vec![
            "The 'allow_duplicate_messages' option is now deprecated and will be removed in a \
             future version. The behaviour will default to true."
                .to_owned()
        ]
    );
    assert_eq!(
        err("log_timestamp_format %H\nlog_timestamp_format %M\n"),
        (2, "Duplicate log_timestamp_format value in configuration.".to_owned())
    );
    refused("log_timestamp_format \n", "Empty log_timestamp_format value in configuration.");
    assert_eq!(
        err("listener 1883\nbind_interface\n"),
        (2, "Empty bind_interface value in configuration.".to_owned())
    );
    assert_eq!(
        ok("listener 1883\nbind_interface lo\n").listeners[0].bind_interface.as_deref(),
        Some("lo")
    );
}

#[test]
fn max_inflight_bytes_negative_or_garbage_means_no_limit() {
    assert_eq!(ok("max_inflight_bytes 4096\n").max_inflight_bytes, 4096);
    assert_eq!(ok("max_inflight_bytes -1\n").max_inflight_bytes, 0);
    assert_eq!(ok("max_inflight_bytes abc\n").max_inflight_bytes, 0);
    refused("max_inflight_bytes\n", "Empty max_inflight_bytes value in configuration.");
}

#[test]
fn listener_0_with_an_ip_address_is_an_ephemeral_port() {
    let config = ok("listener 0 127.0.0.1\nlistener 0 ::1\nallow_anonymous true");
    let ports: Vec<_> = config.listen_specs(&[]).iter().map(|spec| spec.port).collect();
    assert_eq!(ports, [0, 0]);
    assert_eq!(config.listeners[1].bind_address.as_deref(), Some("::1"));
    // With a path it is Mosquitto's Unix socket listener.
    assert!(ok("listener 0 broker.sock").listeners[0].unix_socket.is_some());
}

#[test]
fn ephemeral_listeners_on_one_address_keep_their_own_security() {
    let config = ok("per_listener_settings true\n\
         listener 0 127.0.0.1\nallow_anonymous true\n\
         listener 0 127.0.0.1\nallow_anonymous false");
    let specs = config.listen_specs(&[]);
    assert!(config.security_for(&specs[0].settings).allow_anonymous);
    assert!(!config.security_for(&specs[1].settings).allow_anonymous);
}

#[test]
fn max_topic_alias_broker_is_per_listener_after_a_listener_line() {
    let config = ok(
        "listener 1883\nmax_topic_alias_broker 10\nlistener 1884\nmax_topic_alias_broker 65535\nlistener 1885",
    );
    let per_listener: Vec<u16> =
        config.listeners.iter().map(|listener| listener.max_topic_alias_broker).collect();
    // culex's default is Mosquitto 2.0's behaviour (no aliases towards clients); 2.1's is 10.
    assert_eq!(per_listener, [10, 65535, 0]);
    assert_eq!(
        ok("listener 1883\nmax_topic_alias_broker 0").listeners[0].max_topic_alias_broker,
        0
    );
    for (text, line, message) in [
        (
            "max_topic_alias_broker 5\n",
            1,
            "The 'max_topic_alias_broker' option requires a listener to be defined first.",
        ),
        (
            "listener 1883\nmax_topic_alias_broker 65536\n",
            2,
            "Invalid 'max_topic_alias_broker' value in configuration.",
        ),
        (
            "listener 1883\nmax_topic_alias_broker -1\n",
            2,
            "Invalid 'max_topic_alias_broker' value in configuration.",
        ),
        (
            "listener 1883\nmax_topic_alias_broker\n",
            2,
            "Empty max_topic_alias_broker value in configuration.",
        ),
    ] {
        assert_eq!(err(text), (line, message.to_owned()), "{text}");
    }
}
