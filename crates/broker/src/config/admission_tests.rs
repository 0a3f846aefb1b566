//! Unit tests of Mosquitto 2.1's admission options (`admission.rs`): parsing, defaults, what
//! they do to a listener's security, and their errors with 2.1's messages, file and line.

use mqtt_codec::ProtocolVersion::{V3_1, V3_1_1, V5};
use mqtt_core::ProtocolVersions;

use super::tests::{err, ok};
use super::{Config, ListenerConfig};

#[test]
fn defaults_accept_everything_and_leave_security_to_the_global_options() {
    let listener = ListenerConfig::default();
    assert_eq!(listener.accept_protocol_versions, ProtocolVersions::ALL);
    assert_eq!(listener.listener_allow_anonymous, None);
    assert_eq!(listener.listener_auto_id_prefix, None);
    assert!(listener.websockets_origins.is_empty());
    let config = Config::default();
    assert_eq!((config.global_max_clients, config.global_max_connections), (None, None));
}

#[test]
fn accept_protocol_versions_takes_any_spacing_and_ignores_unknown_tokens() {
    let cases: [(&str, &[_]); 9] = [
        ("3,4,5", &[V3_1, V3_1_1, V5]),
        ("5,4,3", &[V3_1, V3_1_1, V5]),
        ("3 ,4, 5", &[V3_1, V3_1_1, V5]),
        ("    ,   3   ,    4  ,   5    ", &[V3_1, V3_1_1, V5]),
        ("3\t5", &[V3_1, V5]),
        ("4", &[V3_1_1]),
        ("5,3", &[V3_1, V5]),
        ("4,6,mqtt", &[V3_1_1]),
        (",", &[]),
    ];
    for (value, accepted) in cases {
        let config = ok(&format!("listener 1884\naccept_protocol_versions {value}\nlistener 1885"));
        let versions = config.listeners[0].accept_protocol_versions;
        for version in [V3_1, V3_1_1, V5] {
            assert_eq!(versions.contains(version), accepted.contains(&version), "{value:?}");
        }
        assert_eq!(config.listeners[1].accept_protocol_versions, ProtocolVersions::ALL);
    }
}

#[test]
fn listener_allow_anonymous_wins_over_allow_anonymous_either_way() {
    // Global `allow_anonymous` (unset, false, true) by the listener's own value, as 2.1's
    // test of all nine combinations; then under `per_listener_settings true`.
    for global in ["", "allow_anonymous false\n", "allow_anonymous true\n"] {
        for (own, expected) in [("false", false), ("true", true)] {
            for order in [0, 1] {
                let listener = format!("listener 1884\nlistener_allow_anonymous {own}\n");
                let text = if order == 0 {
                    format!("{global}{listener}")
                } else {
                    format!("{listener}{global}")
                };
                let config = ok(&text);
                assert_eq!(config.security_for(&config.listeners[0]).allow_anonymous, expected);
            }
        }
        let unset = ok(&format!("{global}listener 1884\n"));
        let global_value = global.contains("true");
        assert_eq!(unset.security_for(&unset.listeners[0]).allow_anonymous, global_value);
    }
    let per_listener = ok("per_listener_settings true\nlistener 1884\nallow_anonymous false\n\
                           listener_allow_anonymous true\nlistener 1885\nallow_anonymous true\n\
                           listener_allow_anonymous false\nlistener 1886\nallow_anonymous true");
    let allowed: Vec<bool> = per_listener
        .listeners
        .iter()
        .map(|listener| per_listener.security_for(listener).allow_anonymous)
        .collect();
    assert_eq!(allowed, [true, false, true]);
}

#[test]
fn listener_auto_id_prefix_wins_over_auto_id_prefix() {
    let config = ok("auto_id_prefix g-\nlistener 1884\nlistener_auto_id_prefix l#1-\n\
                     listener 1885\n");
    assert_eq!(config.security_for(&config.listeners[0]).auto_id_prefix, "l#1-");
    assert_eq!(config.security_for(&config.listeners[1]).auto_id_prefix, "g-");
    let fifty = "p".repeat(50);
    let config = ok(&format!("listener 1884\nlistener_auto_id_prefix {fifty}"));
    assert_eq!(config.listeners[0].listener_auto_id_prefix.as_deref(), Some(fifty.as_str()));
}

#[test]
fn websockets_origin_is_repeatable_per_listener() {
    let config = ok("listener 8080\nprotocol websockets\nwebsockets_origin http://a.example\n\
                     websockets_origin  https://b.example:8443 \nlistener 8081");
    assert_eq!(
        config.listeners[0].websockets_origins,
        ["http://a.example", "https://b.example:8443"]
    );
    assert!(config.listeners[1].websockets_origins.is_empty());
}

#[test]
fn global_limits_read_integers_as_2_1_does_and_zero_or_less_is_unlimited() {
    for (value, expected) in
        [("10", Some(10)), ("0x10", Some(16)), ("010", Some(8)), ("0", None), ("-1", None)]
    {
        let config = ok(&format!("global_max_clients {value}\nglobal_max_connections {value} # c"));
        assert_eq!(
            (config.global_max_clients, config.global_max_connections),
            (expected, expected)
        );
        assert!(config.local_only(), "global options declare no listener");
    }
}

#[test]
fn errors_are_2_1_messages_with_file_and_line() {
    let cases = [
        (
            "accept_protocol_versions 3",
            "The 'accept_protocol_versions' option requires a listener to be defined first.",
        ),
        (
            "port 1884\nlistener_allow_anonymous true",
            "The 'listener_allow_anonymous' option requires a listener to be defined first.",
        ),
        (
            "listener_auto_id_prefix a-",
            "The 'listener_auto_id_prefix' option requires a listener to be defined first.",
        ),
        (
            "websockets_origin http://a",
            "The 'websockets_origin' option requires a listener to be defined first.",
        ),
        (
            "listener 1\naccept_protocol_versions \t ",
            "Empty 'accept_protocol_versions' value in configuration.",
        ),
        (
            "listener 1\nlistener_allow_anonymous",
            "Empty 'listener_allow_anonymous' value in configuration.",
        ),
        (
            "listener 1\nlistener_allow_anonymous yes",
            "Invalid 'listener_allow_anonymous' value (yes).",
        ),
        (
            "listener 1\nlistener_auto_id_prefix  ",
            "Empty 'listener_auto_id_prefix' value in configuration.",
        ),
        (
            "listener 1\nlistener_auto_id_prefix a\nlistener_auto_id_prefix b",
            "Duplicate 'listener_auto_id_prefix' value in configuration.",
        ),
        ("listener 1\nwebsockets_origin", "Empty 'websockets_origin' value in configuration."),
        ("global_max_clients", "Empty 'global_max_clients' value in configuration."),
        ("global_max_clients 10x", "'global_max_clients' value not a number."),
        ("global_max_connections many", "'global_max_connections' value not a number."),
        ("global_max_connections 2147483648", "'global_max_connections' value out of range."),
    ];
    for (text, message) in cases {
        assert_eq!(err(text), (text.lines().count(), message.to_owned()), "{text:?}");
    }
    let long = format!("listener 1\nlistener_auto_id_prefix {}", "p".repeat(51));
    assert_eq!(err(&long), (2, "'listener_auto_id_prefix' length must be <= 50.".to_owned()));
}
