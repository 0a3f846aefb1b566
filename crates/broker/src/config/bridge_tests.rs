//! Unit tests of the bridge sections: defaults, each option, and the messages of Mosquitto
//! 2.0.11 (checked by running it on the same lines), with the file and line it names.

use super::{
    BridgeConfig, BridgeProtocol, BridgeTls, Config, ConfigError, Direction, ReloadType,
    RestartTimeout, StartType, parse,
};

const HEAD: &str = "connection br\naddress 127.0.0.1:1884\ntopic a/#\n";

fn ok(text: &str) -> Config {
    parse(text, "b.conf").unwrap_or_else(|err| panic!("{text:?} should parse: {err:?}"))
}

/// The one bridge of `HEAD` followed by `extra`.
fn bridge(extra: &str) -> BridgeConfig {
    let mut config = ok(&format!("{HEAD}{extra}"));
    assert_eq!(config.bridges.len(), 1);
    config.bridges.remove(0)
}

/// What Mosquitto prints for `text`, without timestamps.
fn err(text: &str) -> Vec<String> {
    match parse(text, "b.conf") {
        Ok(config) => panic!("{text:?} should fail, got {config:?}"),
        Err(error @ ConfigError { .. }) => error.log_lines(),
    }
}

/// `#` is a value in a bridge's topic pattern and text options, as in Mosquitto 2.0.11; a word
/// starting with `#` after the pattern begins a comment.
#[test]
fn a_hash_is_a_value_in_topics_and_text_options() {
    let b = bridge(
        "topic # both 0\ntopic #\ntopic x/# in 1 l/ r/ # comment\ntopic y out #c\n\
         remote_password ab#cd\nremote_username u #1\nremote_clientid id#1\nlocal_clientid l#1\n",
    );
    let topics: Vec<_> = b
        .topics
        .iter()
        .map(|t| (t.direction, t.qos, t.local_topic.as_str(), t.remote_topic.as_str()))
        .collect();
    assert_eq!(
        topics,
        [
            (Direction::Out, 0, "a/#", "a/#"),
            (Direction::Both, 0, "#", "#"),
            (Direction::Out, 0, "#", "#"),
            (Direction::In, 1, "l/x/#", "r/x/#"),
            (Direction::Out, 0, "y", "y"),
        ]
    );
    assert_eq!(b.remote_password.as_deref(), Some("ab#cd"));
    assert_eq!(b.remote_username.as_deref(), Some("u #1"));
    assert_eq!(b.remote_clientid.as_deref(), Some("id#1"));
    assert_eq!(b.local_clientid.as_deref(), Some("l#1"));
}

#[test]
fn defaults_are_mosquittos() {
    let b = bridge("");
    assert_eq!(b.name, "br");
    assert_eq!(b.addresses, [("127.0.0.1".to_owned(), 1884)]);
    assert_eq!(b.topics.len(), 1);
    let topic = &b.topics[0];
    assert_eq!((topic.direction, topic.qos), (Direction::Out, 0));
    assert_eq!((topic.local_topic.as_str(), topic.remote_topic.as_str()), ("a/#", "a/#"));
    assert!(!b.cleansession && !b.local_cleansession());
    assert_eq!(b.protocol, BridgeProtocol::V311);
    assert_eq!(b.keepalive, 60);
    assert!(b.notifications && b.try_private && b.attempt_unsubscribe && b.outgoing_retain);
    assert_eq!(b.restart_timeout, RestartTimeout::Backoff { base: 5, cap: 30, stable: 0 });
    assert_eq!(b.remote_clientid("host"), "host.br");
    assert_eq!(b.local_clientid("host"), "local.host.br");
    assert_eq!(b.notification_topic("host"), "$SYS/broker/connection/host.br/state");
}

#[test]
fn every_supported_option_is_read() {
    let b = bridge(
        "remote_clientid rid\nlocal_clientid lid\nremote_username ru\nremote_password rp\n\
         cleansession true\nbridge_protocol_version mqttv50\nkeepalive_interval 30\n\
         notifications false\nnotification_topic n/t\ntry_private false\nstart_type automatic\n\
         restart_timeout 2\nbridge_attempt_unsubscribe false\nbridge_outgoing_retain false\n",
    );
    assert_eq!(b.remote_clientid("host"), "rid");
    assert_eq!(b.local_clientid("host"), "lid");
    assert_eq!(b.remote_username.as_deref(), Some("ru"));
    assert_eq!(b.remote_password.as_deref(), Some("rp"));
    assert!(b.cleansession && b.local_cleansession(), "local_cleansession follows cleansession");
    assert_eq!(b.protocol, BridgeProtocol::V5);
    assert_eq!(b.keepalive, 30);
    assert_eq!(b.notification_topic("host"), "n/t");
    assert!(!b.notifications && !b.try_private && !b.attempt_unsubscribe && !b.outgoing_retain);
    assert_eq!(b.restart_timeout, RestartTimeout::Constant(2));
    for (value, wanted) in [
        ("3 60", RestartTimeout::Backoff { base: 3, cap: 60, stable: 0 }),
        // Mosquitto 2.1's third value, the stable-connection period.
        ("3 60 120", RestartTimeout::Backoff { base: 3, cap: 60, stable: 120 }),
        ("3 3 0 extra", RestartTimeout::Backoff { base: 3, cap: 3, stable: 0 }),
        ("3 # comment", RestartTimeout::Constant(3)),
    ] {
        assert_eq!(bridge(&format!("restart_timeout {value}")).restart_timeout, wanted, "{value}");
    }
    let aliases = bridge("clientid c\nusername u\npassword p\nbridge_protocol_version mqttv31\n");
    assert_eq!(aliases.remote_clientid.as_deref(), Some("c"));
    assert_eq!(aliases.local_clientid("host"), "local.c");
    assert_eq!(aliases.notification_topic("host"), "$SYS/broker/connection/c/state");
    assert_eq!(
        (aliases.remote_username.as_deref(), aliases.remote_password.as_deref()),
        (Some("u"), Some("p"))
    );
    assert_eq!(aliases.protocol, BridgeProtocol::V31);
}

#[test]
fn local_cleansession_can_differ_from_cleansession() {
    let b = bridge("cleansession true\nlocal_cleansession false\n");
    assert!(b.cleansession && !b.local_cleansession());
    let b = bridge("local_cleansession true\n");
    assert!(!b.cleansession && b.local_cleansession());
}

#[test]
fn topics_take_direction_qos_and_prefixes() {
    let b =
        bridge("topic b/+ in 1 loc/ rem/\ntopic c both 2 \"\" far/\ntopic \"\" out 0 l/x r/y\n");
    let [_, b_in, c_both, bare] = &b.topics[..] else { panic!("four topics: {:?}", b.topics) };
    assert_eq!((b_in.direction, b_in.qos), (Direction::In, 1));
    assert_eq!((b_in.local_topic.as_str(), b_in.remote_topic.as_str()), ("loc/b/+", "rem/b/+"));
    assert_eq!(b_in.to_local("rem/b/1"), "loc/b/1");
    assert_eq!(b_in.to_remote("loc/b/1"), "rem/b/1");
    assert!(b_in.direction.inbound() && !b_in.direction.outbound());
    assert_eq!((c_both.direction, c_both.qos), (Direction::Both, 2));
    assert_eq!((c_both.local_topic.as_str(), c_both.remote_topic.as_str()), ("c", "far/c"));
    assert!(c_both.direction.inbound() && c_both.direction.outbound());
    assert_eq!((bare.local_topic.as_str(), bare.remote_topic.as_str()), ("l/x", "r/y"));
}

#[test]
fn addresses_default_to_port_1883_and_only_one_line_is_allowed() {
    let config = ok("connection br\naddresses 10.0.0.1 127.0.0.1:1999\ntopic t\n");
    assert_eq!(
        config.bridges[0].addresses,
        [("10.0.0.1".to_owned(), 1883), ("127.0.0.1".to_owned(), 1999)]
    );
    assert_eq!(
        err("connection br\naddress h:1\naddress h:2\ntopic t\n"),
        ["Error: Invalid bridge configuration.", "Error found at b.conf:3."]
    );
    assert_eq!(
        err("connection br\naddress h:0\n"),
        ["Error: Invalid port value (0).", "Error found at b.conf:2."]
    );
}

#[test]
fn mosquittos_messages_name_the_file_and_line() {
    assert_eq!(
        err("address 127.0.0.1:1\n"),
        ["Error: Invalid bridge configuration.", "Error found at b.conf:1."]
    );
    // Each of these lines after HEAD (three lines) is refused with its message at line 4.
    let after_head = [
        ("connection br", "Error: Duplicate bridge name \"br\"."),
        ("topic x sideways", "Error: Invalid bridge topic direction 'sideways'."),
        ("topic x in 3", "Error: Invalid bridge QoS level '3'."),
        ("topic \"\" in 0 \"\" \"\"", "Error: Invalid bridge remapping."),
        ("start_type manual", "Error: Manual start_type not supported."),
        ("keepalive_interval 70000", "Error: Bridge keepalive value too high."),
        (
            "bridge_protocol_version mqttv6",
            "Error: Invalid bridge_protocol_version value (mqttv6).",
        ),
        ("restart_timeout", "Error: Empty restart_timeout value in configuration."),
        // 2.0.11 refuses a cap below the base (checked by running it), and so does culex.
        ("restart_timeout 10 5", "Error: backoff cap is lower than the base in restart_timeout."),
        ("restart_timeout 5 x", "Error: backoff cap is lower than the base in restart_timeout."),
        ("restart_timeout 5 10 -1", "Error: stable connection period cannot be negative."),
    ];
    for (line, message) in after_head {
        let lines = err(&format!("{HEAD}{line}\n"));
        assert_eq!(lines, [message, "Error found at b.conf:4."], "{line:?}");
    }
    assert_eq!(
        err(&format!("{HEAD}remote_clientid a\nclientid b\n")),
        [
            "Error: Duplicate bridge remote clientid value in configuration.",
            "Error found at b.conf:5."
        ]
    );
}

#[test]
fn whole_file_checks_name_no_line() {
    assert_eq!(
        err("connection br\ntopic t\n"),
        ["Error: Invalid bridge configuration: no remote addresses defined."]
    );
    assert_eq!(
        err("connection br\naddress 127.0.0.1:1\n"),
        ["Error: Invalid bridge configuration: no topics defined."]
    );
    let twice = "local_clientid same\n";
    assert_eq!(
        err(&format!("{HEAD}{twice}connection other\naddress h:1\ntopic t\n{twice}")),
        ["Error: Bridge local_clientid 'same' is not unique. Try changing or setting the \
         local_clientid value for one of the bridges."]
    );
}

#[test]
fn a_backoff_cap_above_7200_is_lowered_with_mosquitto_21s_line() {
    let config = ok(&format!(
        "{HEAD}restart_timeout 0 8000 30
"
    ));
    let wanted = RestartTimeout::Backoff { base: 1, cap: 7200, stable: 30 };
    assert_eq!(config.bridges[0].restart_timeout, wanted);
    assert_eq!(
        config.notices,
        [
            "restart_timeout interval too low, using 1 second.",
            "Error: backoff cap too high, using 7200 seconds."
        ]
    );
}

#[test]
fn low_values_are_raised_with_a_notice() {
    let config = ok(&format!(
        "{HEAD}keepalive_interval 2\nrestart_timeout 0\nthreshold 0\nidle_timeout -3\n"
    ));
    let b = &config.bridges[0];
    assert_eq!((b.keepalive, b.restart_timeout), (5, RestartTimeout::Constant(1)));
    assert_eq!((b.threshold, b.idle_timeout), (1, 1));
    assert_eq!(
        config.notices,
        [
            "keepalive interval too low, using 5 seconds.",
            "restart_timeout interval too low, using 1 second.",
            "threshold too low, using 1 message.",
            "idle_timeout interval too low, using 1 second."
        ]
    );
}

#[test]
fn connection_options_are_read_with_mosquittos_defaults() {
    let b = bridge("");
    assert!(!b.round_robin && !b.notifications_local_only);
    assert_eq!((b.start_type, b.threshold, b.idle_timeout), (StartType::Automatic, 10, 60));
    assert_eq!((b.bind_address.as_deref(), b.max_packet_size), (None, None));
    assert_eq!((b.local_username.as_deref(), b.local_password.as_deref()), (None, None));
    let b = bridge(
        "round_robin true\nstart_type lazy\nthreshold 3\nidle_timeout 7\n\
         notifications_local_only true\nbridge_bind_address 127.0.0.2\n\
         bridge_max_packet_size 200\nlocal_username lu\nlocal_password lp\n",
    );
    assert_eq!(
        (b.local_username.as_deref(), b.local_password.as_deref()),
        (Some("lu"), Some("lp"))
    );
    assert!(b.round_robin && b.notifications_local_only);
    assert_eq!((b.start_type, b.threshold, b.idle_timeout), (StartType::Lazy, 3, 7));
    assert_eq!((b.bind_address.as_deref(), b.max_packet_size), (Some("127.0.0.2"), Some(200)));
    assert_eq!(bridge("start_type once\n").start_type, StartType::Once);
    // Mosquitto reads any number; zero and below mean no limit.
    for size in ["0", "-1", "x"] {
        assert_eq!(bridge(&format!("bridge_max_packet_size {size}\n")).max_packet_size, None);
    }
}

#[test]
fn connection_option_errors_are_mosquittos() {
    for (extra, wanted) in [
        ("round_robin maybe\n", "Error: Invalid round_robin value (maybe)."),
        ("notifications_local_only 2\n", "Error: Invalid notifications_local_only value (2)."),
        ("bridge_bind_address\n", "Error: Empty bridge_bind_address value in configuration."),
        (
            "bridge_bind_address a\nbridge_bind_address b\n",
            "Error: Duplicate bridge_bind_address value in configuration.",
        ),
        ("start_type sometimes\n", "Error: Invalid start_type value in configuration (sometimes)."),
        ("local_username\n", "Error: Empty bridge local_username value in configuration."),
        (
            "local_username a\nlocal_username b\n",
            "Error: Duplicate bridge local_username value in configuration.",
        ),
        (
            "local_password a\nlocal_password b\n",
            "Error: Duplicate bridge local_password value in configuration.",
        ),
    ] {
        let lines = err(&format!("{HEAD}{extra}"));
        let line = HEAD.lines().count() + extra.lines().count();
        assert_eq!(lines, [wanted.to_owned(), format!("Error found at b.conf:{line}.")], "{extra}");
    }
}

#[test]
fn tls_options_are_read_and_turn_tls_on_with_a_ca() {
    assert_eq!(bridge("").tls, BridgeTls::default());
    assert!(!bridge("").tls.enabled());
    let b = bridge(
        "bridge_cafile ca.crt\nbridge_capath /etc/ssl/certs\nbridge_certfile c.crt\n\
         bridge_keyfile c.key\nbridge_alpn mqtt\nbridge_tls_version tlsv1.3\n\
         bridge_require_ocsp false\nbridge_ciphers ECDHE-RSA-AES128-GCM-SHA256\n\
         bridge_ciphers_tls1.3 TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256\n",
    );
    let want = BridgeTls {
        cafile: Some("ca.crt".to_owned()),
        capath: Some("/etc/ssl/certs".to_owned()),
        certfile: Some("c.crt".to_owned()),
        keyfile: Some("c.key".to_owned()),
        insecure: false,
        alpn: Some("mqtt".to_owned()),
        version: Some("tlsv1.3".to_owned()),
        use_os_certs: false,
        ciphers: Some("ECDHE-RSA-AES128-GCM-SHA256".to_owned()),
        ciphers_tls13: Some("TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256".to_owned()),
    };
    assert_eq!(b.tls, want);
    assert!(b.tls.enabled());
    // As Mosquitto: a client certificate alone does not turn TLS on.
    assert!(!bridge("bridge_certfile c.crt\nbridge_keyfile c.key\n").tls.enabled());
    assert!(bridge("bridge_capath /etc/ssl/certs\n").tls.enabled());
}

#[test]
fn bridge_insecure_warns_as_mosquitto_does() {
    let config = ok(&format!("{HEAD}bridge_insecure true\n"));
    assert!(config.bridges[0].tls.insecure);
    assert_eq!(config.notices, ["Warning: Bridge br using insecure mode."]);
    assert!(ok(&format!("{HEAD}bridge_insecure false\n")).notices.is_empty());
}

#[test]
fn tls_option_errors_are_mosquittos_or_say_why_rustls_cannot() {
    for (extra, wanted) in [
        (
            "bridge_cafile a\nbridge_cafile b\n",
            "Error: Duplicate bridge_cafile value in configuration.",
        ),
        ("bridge_alpn\n", "Error: Empty bridge_alpn value in configuration."),
        ("bridge_insecure maybe\n", "Error: Invalid bridge_insecure value (maybe)."),
        (
            "bridge_ciphers HIGH\n",
            "Error: Unable to set TLS ciphers. Check cipher list \"HIGH\". \"HIGH\" is not a \
             TLS 1.2 suite of culex's TLS (rustls), which has only ECDHE-ECDSA-AES256-GCM-SHA384, \
             ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-CHACHA20-POLY1305, \
             ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-AES128-GCM-SHA256, \
             ECDHE-RSA-CHACHA20-POLY1305 (OpenSSL keywords such as HIGH or !aNULL are not \
             understood).",
        ),
        (
            "bridge_ciphers_tls1.3 TLS_AES_128_CCM_SHA256\n",
            "Error: Unable to set TLS 1.3 ciphersuites. Check cipher_tls13 list \
             \"TLS_AES_128_CCM_SHA256\". \"TLS_AES_128_CCM_SHA256\" is not a TLS 1.3 suite of \
             culex's TLS (rustls), which has only TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256, \
             TLS_CHACHA20_POLY1305_SHA256 (OpenSSL keywords such as HIGH or !aNULL are not \
             understood).",
        ),
        (
            "bridge_ciphers_tls1.3 TLS_AES_256_GCM_SHA384\nbridge_ciphers_tls1.3 TLS_AES_256_GCM_SHA384\n",
            "Error: Duplicate bridge_ciphers_tls1.3 value in configuration.",
        ),
        (
            "bridge_require_ocsp true\n",
            "Error: The \"bridge_require_ocsp\" bridge option is not supported by culex's TLS \
             (rustls): rustls does not check OCSP responses.",
        ),
        (
            "bridge_psk 0123\n",
            "Error: The \"bridge_psk\" bridge option is not supported by culex's TLS (rustls): \
             rustls has no pre-shared-key cipher suites.",
        ),
    ] {
        let lines = err(&format!("{HEAD}{extra}"));
        let line = HEAD.lines().count() + extra.lines().count();
        assert_eq!(lines, [wanted.to_owned(), format!("Error found at b.conf:{line}.")], "{extra}");
    }
}

#[test]
fn mosquitto_21_options_have_its_defaults_and_read_its_integers() {
    let b = bridge("");
    assert_eq!((b.receive_maximum, b.session_expiry_interval, b.max_topic_alias), (None, 0, 10));
    assert_eq!((b.tcp_keepalive, b.tcp_user_timeout, b.tls.use_os_certs), (None, None, false));
    assert_eq!(b.reload_type, ReloadType::Lazy);
    assert_eq!(
        bridge(
            "bridge_reload_type immediate
"
        )
        .reload_type,
        ReloadType::Immediate
    );
    assert_eq!(
        bridge(
            "bridge_reload_type lazy
"
        )
        .reload_type,
        ReloadType::Lazy
    );
    let b = bridge(
        "bridge_receive_maximum 0x10\nbridge_session_expiry_interval 2147483647\n\
         bridge_max_topic_alias 0\nbridge_tcp_keepalive 7 3 010\nbridge_tcp_user_timeout 0\n\
         bridge_tls_use_os_certs true\n",
    );
    assert_eq!((b.receive_maximum, b.session_expiry_interval), (Some(16), 2_147_483_647));
    assert_eq!(b.max_topic_alias, 0);
    let keepalive = culex_client::tcp::TcpKeepalive { idle: 7, interval: 3, count: 8 };
    assert_eq!((b.tcp_keepalive, b.tcp_user_timeout), (Some(keepalive), Some(0)));
    // As in 2.1, bridge_tls_use_os_certs alone turns TLS on.
    assert!(b.tls.use_os_certs && b.tls.enabled());
    let edges = bridge("bridge_receive_maximum 65535\nbridge_max_topic_alias +65535\n");
    assert_eq!((edges.receive_maximum, edges.max_topic_alias), (Some(65535), 65535));
    assert!(!bridge("bridge_tls_use_os_certs 0\n").tls.enabled());
}

#[test]
fn mosquitto_21_option_errors_are_its_own_with_file_and_line() {
    for (extra, wanted) in [
        ("bridge_receive_maximum 0", "Error: bridge_receive_maximum must be greater than 0."),
        ("bridge_receive_maximum 65536", "Error: bridge_receive_maximum must be lower than 65535."),
        ("bridge_receive_maximum", "Error: Empty 'bridge_receive_maximum' value in configuration."),
        ("bridge_receive_maximum 5x", "Error: 'bridge_receive_maximum' value not a number."),
        (
            "bridge_session_expiry_interval -1",
            "Error: bridge_session_expiry_interval must not be negative.",
        ),
        (
            "bridge_session_expiry_interval 0xFFFFFFFF",
            "Error: 'bridge_session_expiry_interval' value out of range.",
        ),
        ("bridge_max_topic_alias -1", "Error: bridge_max_topic_alias must be > 0 and <= 65535."),
        ("bridge_max_topic_alias 65536", "Error: bridge_max_topic_alias must be > 0 and <= 65535."),
        ("bridge_tls_use_os_certs yes", "Error: Invalid 'bridge_tls_use_os_certs' value (yes)."),
        (
            "bridge_tls_use_os_certs",
            "Error: Empty 'bridge_tls_use_os_certs' value in configuration.",
        ),
        ("bridge_tcp_keepalive 0 1 1", "Error: invalid TCP keepalive idle value."),
        ("bridge_tcp_keepalive 1 -1 1", "Error: invalid TCP keepalive interval value."),
        ("bridge_tcp_keepalive 1 1 0", "Error: invalid TCP keepalive counter value."),
        (
            "bridge_tcp_keepalive 1",
            "Error: Empty 'bridge_tcp_keepalive_interval' value in configuration.",
        ),
        ("bridge_tcp_keepalive 1 2 z", "Error: 'bridge_tcp_keepalive_counter' value not a number."),
        ("bridge_tcp_user_timeout -5", "Error: invalid TCP user timeout value."),
        ("bridge_tcp_user_timeout 08", "Error: 'bridge_tcp_user_timeout' value not a number."),
        (
            "bridge_reload_type now",
            "Error: Invalid 'bridge_reload_type' value in configuration (now).",
        ),
        ("bridge_reload_type", "Error: Empty 'bridge_reload_type' value in configuration."),
    ] {
        let lines = err(&format!("{HEAD}{extra}\n"));
        assert_eq!(lines, [wanted, "Error found at b.conf:4."], "{extra}");
        let before = err(&format!("{extra}\n{HEAD}"));
        let name = extra.split(' ').next().unwrap_or_default();
        let needs = format!("Error: The '{name}' option requires a bridge to be defined first.");
        assert_eq!(before, [needs.as_str(), "Error found at b.conf:1."], "{extra}");
    }
}
