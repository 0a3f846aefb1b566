//! Unit tests for `-F`: every specifier, flag, escape and error, with expectations taken from
//! mosquitto_sub 2.0.11 runs (see docs/cli.md).

use bytes::Bytes;

use super::*;

/// 2026-11-22T02:04:01.593903507 UTC.
const TIME: Timestamp = Timestamp { secs: 1_795_313_041, nanos: 593_903_507 };

fn render_with(format: &str, message: &Message, pretty: bool) -> (Vec<u8>, Vec<String>) {
    let format = Format::parse(format.as_bytes()).expect("valid format");
    let mut out = Vec::new();
    let mut errors = Vec::new();
    format.render(message, TIME, pretty, &mut out, &mut errors);
    (out, errors)
}

fn render(format: &str, message: &Message) -> String {
    let (out, errors) = render_with(format, message, false);
    assert!(errors.is_empty(), "{errors:?}");
    String::from_utf8(out).expect("UTF-8 output")
}

fn xyz() -> Message {
    Message::new("fmt/ab", b"xyz", 1, false, 1)
}

fn long() -> Message {
    Message::new("fmt/longtopicname", b"abcdefghij", 1, false, 2)
}

fn with_properties() -> Message {
    Message {
        properties: vec![
            Property::ContentType("application/json".into()),
            Property::CorrelationData(Bytes::from_static(b"corr123")),
            Property::PayloadFormatIndicator(1),
            Property::ResponseTopic("resp/t".into()),
            Property::User("k1".into(), "v1".into()),
            Property::User("k2".into(), "v2".into()),
            Property::MessageExpiryInterval(60),
        ],
        ..Message::new("p/one", br#"{"t":21.5}"#, 0, false, 0)
    }
}

fn local_zone_is_utc() -> bool {
    TIME.strftime_char(b'z') == b"+0000"
}

#[test]
fn the_reference_transcript_renders_identically() {
    let format = "[%10t][%-10t][%.3t][%5.2t][%05l][%-5l|][%5m][%08x][%-8X|][%5p][%-5p|][%.2p]@@%%\\t\\\\@N|@s|%r%q";
    assert_eq!(
        render(format, &xyz()),
        "[    fmt/ab][fmt/ab    ][fmt][   fm][00003][3    |][    1][00000078][78      |][  xyz][xyz  |][xyz]@%\t\\593903507|1795313041|01"
    );
    assert_eq!(
        render(format, &long()),
        "[fmt/longtopicname][fmt/longtopicname][fmt][   fm][00010][10   |][    2][61626364][61626364|][abcde][abcde|][abcdefghij]@%\t\\593903507|1795313041|01"
    );
}

#[test]
fn topic_honours_width_precision_and_alignment_but_never_zero_padding() {
    let message = Message::new("fmt/ab", b"xyz", 0, true, 0);
    assert_eq!(render("%t|%5.2t|%-5.2t|%05.2t", &message), "fmt/ab|   fm|fm   |   fm");
    assert_eq!(
        render("%.0t|%0t|%-05t|%05t|%05.1t|%5.t", &message),
        "|fmt/ab|fmt/ab|fmt/ab|    f|     "
    );
    assert_eq!(
        render("%.2t|%-.2t|%0.2t|%010t|%10.20t", &message),
        "fm|fm|fm|    fmt/ab|    fmt/ab"
    );
}

#[test]
fn numbers_honour_width_and_zeros_and_ignore_precision() {
    let message = Message::new("fmt/ab", b"xyz", 0, true, 0);
    assert_eq!(render("%l|%5l|%-5l|%05l|%.1l|%5.1l", &message), "3|    3|3    |00003|3|    3");
    assert_eq!(
        render("%.3l|%5.3l|%-05l|%08.3l|%-8.3l", &message),
        "3|    3|3    |00000003|3       "
    );
    assert_eq!(render("%.0l|%00005l|%-0005l|%5.l", &message), "3|00003|3    |    3");
    assert_eq!(render("%m|%5m|%05m|%-5m|", &message), "0|    0|00000|0    |");
    assert_eq!(render("%.3m|%5.3m|%05.3m", &message), "0|    0|00000");
}

#[test]
fn qos_retain_percent_and_unix_time_ignore_width() {
    let message = Message::new("fmt/ab", b"xyz", 2, true, 9);
    assert_eq!(render("%q|%5q|%-5q|%05q|%10.3q", &message), "2|2|2|2|2");
    assert_eq!(render("%r|%5r|%05r", &message), "1|1|1");
    assert_eq!(render("%%|%5%|%-5%", &message), "%|%|%");
    assert_eq!(
        render("%U|%30U|%5U", &message),
        "1795313041.593903507|1795313041.593903507|1795313041.593903507"
    );
}

#[test]
fn payload_width_pads_and_truncates_and_precision_is_ignored() {
    let message = Message::new("fmt/ab", b"xyz", 0, true, 0);
    assert_eq!(
        render("%p|%8p|%-8p|%08p|%.1p|%3.1p", &message),
        "xyz|     xyz|xyz     |00000xyz|xyz|xyz"
    );
    assert_eq!(render("%-08p|%.p|%00p|%0p", &message), "xyz     |xyz|xyz|xyz");
    assert_eq!(render("%5p|%-5p|%05p", &long()), "abcde|abcde|abcde");
    let binary = Message::new("b", b"a\0\xff", 0, false, 0);
    assert_eq!(render_with("%p", &binary, false).0, b"a\0\xff");
}

#[test]
fn hex_with_a_width_shows_half_the_bytes_that_fit_like_mosquitto_2_0() {
    let message = Message::new("fmt/ab", b"xyz", 0, true, 0);
    assert_eq!(
        render("%x|%X|%8x|%08x|%-8x|%.1x|%1x|%2x|%3x", &message),
        "78797a|78797A|      78|00000078|78      |78797a| |78| 78"
    );
    assert_eq!(
        render("%-08x|%08X|%.x|%5.x|%00x", &message),
        "78      |00000078|78797a|   78|78797a"
    );
    let hi = Message::new("e", b"hi", 0, false, 0);
    assert_eq!(render("%-1x|%-2x|%-3x|", &hi), " |68|68 |");
    assert_eq!(render("%1000x", &hi), format!("{}68", " ".repeat(998)));
    assert_eq!(render("%x|%5x", &Message::new("e", b"", 0, false, 0)), "|     ");
    assert_eq!(render("%X", &Message::new("e", b"\x00\xab\xff", 0, false, 0)), "00ABFF");
}

#[test]
fn missing_properties_print_nothing_or_blank_padding() {
    let message = Message::new("fmt/ab", b"xyz", 0, true, 0);
    assert_eq!(render("%A|%5A|%-5A|%05A|", &message), "|     |     |00000|");
    assert_eq!(render("%C|%5C|%.2C|", &message), "|     ||");
    assert_eq!(render("%D|%5D|%P|%5P|%R|%5R|", &message), "||||||");
    assert_eq!(
        render("%E|%5E|%05E|%F|%5F|%S|%5S|%05S|", &message),
        "|     |00000||     ||     |00000|"
    );
}

#[test]
fn present_properties_print_with_their_layout_rules() {
    let mut message = with_properties();
    message.properties.insert(0, Property::SubscriptionIdentifier(42));
    assert_eq!(
        render("A=%A C=%C D=%D E=%E F=%F P=%P R=%R S=%S t=%t p=%p", &message),
        r#"A= C=application/json D=corr123 E=60 F=1 P=k1:v1 k2:v2 R=resp/t S=42 t=p/one p={"t":21.5}"#
    );
    assert_eq!(
        render(
            "%5A|%5C|%.3C|%-20C|%020C|%5D|%.3D|%5E|%-5E|%05E|%.1E|%5F|%05F|%20P|%.2P|%20R|%.2R|%5S",
            &message
        ),
        "     |application/json|app|application/json    |    application/json|corr123|corr123|   60|60   |00060|60|    1|00001|k1:v1 k2:v2|k1:v1 k2:v2|              resp/t|re|   42"
    );
    assert_eq!(render("%10D|%-10D|%010D|%10P|", &message), "corr123|corr123|corr123|k1:v1 k2:v2|");
    let aliased = Message { properties: vec![Property::TopicAlias(3)], ..xyz() };
    assert_eq!(render("%A|%3A|%03A", &aliased), "3|  3|003");
}

#[test]
fn escapes_produce_their_bytes() {
    let (out, _) = render_with(r"\0|\a|\e|\n|\r|\t|\v|\\", &xyz(), false);
    assert_eq!(out, b"\0|\x07|\x1b|\n|\r|\t|\x0b|\\");
}

#[test]
fn at_specifiers_go_through_strftime_one_character_at_a_time() {
    assert_eq!(render("@s|@@|@N|@q|@E|@%", &xyz()), "1795313041|@|593903507|%q|%E|%");
    if local_zone_is_utc() {
        assert_eq!(render("@Y-@m-@dT@H:@M:@S@z", &xyz()), "2026-11-22T02:04:01+0000");
        assert_eq!(
            render("%I|%30I|%-30I|%.5I|%030I", &xyz()),
            "2026-11-22T02:04:01+0000|      2026-11-22T02:04:01+0000|2026-11-22T02:04:01+0000      |2026-|      2026-11-22T02:04:01+0000"
        );
    }
}

#[test]
fn malformed_formats_are_rejected_with_mosquittos_messages() {
    let cases: [(&str, &str); 16] = [
        ("%", "Incomplete format specifier."),
        ("%5", "Incomplete format specifier."),
        ("%-", "Incomplete format specifier."),
        ("%5.", "Incomplete format specifier."),
        ("%.", "Incomplete format specifier."),
        ("%.5", "Incomplete format specifier."),
        ("@", "Incomplete format specifier."),
        ("abc@", "Incomplete format specifier."),
        ("\\", "Incomplete escape specifier."),
        ("\\z", "Invalid escape specifier 'z'."),
        ("\\b", "Invalid escape specifier 'b'."),
        ("%z", "Invalid format specifier 'z'."),
        ("%c", "Invalid format specifier 'c'."),
        ("%+5l", "Invalid format specifier '+'."),
        ("%-0-5l", "Invalid format specifier '-'."),
        ("%0-8x", "Invalid format specifier '-'."),
    ];
    for (format, message) in cases {
        let error = Format::parse(format.as_bytes()).expect_err(format);
        assert_eq!(error.to_string(), message, "format {format:?}");
    }
    assert_eq!(
        Format::parse(b"%--5l").map_err(|e| e.to_string()),
        Err("Invalid format specifier '-'.".into())
    );
}

#[test]
fn every_field_letter_mosquitto_knows_is_accepted_and_no_other() {
    for letter in b'!'..=b'~' {
        let accepted = Format::parse(&[b'%', letter]).is_ok();
        let known = b"%ACDEFIjJlmpPqrRStUxX".contains(&letter);
        assert_eq!(accepted, known, "%{}", char::from(letter));
    }
}

#[test]
fn huge_widths_are_clamped_instead_of_allocating_gigabytes() {
    let out = render("%99999999999t", &xyz());
    assert_eq!(out.len(), MAX_WIDTH);
}

#[test]
fn json_has_mosquittos_keys_in_order() {
    let (out, _) = render_with("%j", &Message::new("f/one", b"hello world", 1, false, 1), false);
    let text = String::from_utf8(out).expect("UTF-8");
    let tail = text.split_once("Z+").map(|(_, tail)| tail).expect("tst has a zone");
    assert!(text.starts_with("{\"tst\":\""));
    assert!(tail.ends_with(r#"","topic":"f/one","qos":1,"retain":0,"payloadlen":11,"mid":1,"payload":"hello world"}"#), "{text}");
    if local_zone_is_utc() {
        assert_eq!(
            text,
            r#"{"tst":"2026-11-22T02:04:01.593903Z+0000","topic":"f/one","qos":1,"retain":0,"payloadlen":11,"mid":1,"payload":"hello world"}"#
        );
    }
}

/// Renders `%j`/`%J` and returns what follows the timestamp, which depends on the zone.
fn json_after_tst(format: &str, message: &Message, pretty: bool) -> (String, Vec<String>) {
    let (out, errors) = render_with(format, message, pretty);
    let text = String::from_utf8_lossy(&out).into_owned();
    let after = text.split_once("Z+").map_or(String::new(), |(_, tail)| tail[4..].to_owned());
    (after, errors)
}

#[test]
fn json_of_an_empty_payload_is_null_and_a_nul_cuts_the_string() {
    let (empty, _) = json_after_tst("%j", &Message::new("f/null", b"", 0, false, 0), false);
    assert_eq!(empty, r#"","topic":"f/null","qos":0,"retain":0,"payloadlen":0,"payload":null}"#);
    let (binary, _) =
        json_after_tst("%j", &Message::new("b", b"bin\0\x01\xff", 0, false, 0), false);
    assert_eq!(binary, r#"","topic":"b","qos":0,"retain":0,"payloadlen":6,"payload":"bin"}"#);
    let (capital, errors) = json_after_tst("%J", &Message::new("f/null", b"", 0, false, 0), false);
    assert!(errors.is_empty());
    assert!(capital.ends_with(r#""payload":null}"#), "{capital}");
}

#[test]
fn json_properties_follow_message_order_with_user_properties_grouped() {
    let mut message = with_properties();
    message.properties.insert(0, Property::SubscriptionIdentifier(42));
    message.properties.insert(3, Property::User("k0".into(), "v0".into()));
    let (text, _) = json_after_tst("%j", &message, false);
    assert_eq!(
        text,
        r#"","topic":"p/one","qos":0,"retain":0,"payloadlen":10,"properties":{"subscription-identifier":42,"content-type":"application/json","correlation-data":"corr123","user-properties":{"k0":"v0","k1":"v1","k2":"v2"},"payload-format-indicator":1,"response-topic":"resp/t","message-expiry-interval":60},"payload":"{\"t\":21.5}"}"#
    );
}

#[test]
fn capital_j_embeds_the_payload_and_pretty_indents_with_tabs() {
    let (text, errors) = json_after_tst("%J", &with_properties(), true);
    assert!(errors.is_empty());
    assert_eq!(
        text,
        "\",\n\t\"topic\":\t\"p/one\",\n\t\"qos\":\t0,\n\t\"retain\":\t0,\n\t\"payloadlen\":\t10,\n\
         \t\"properties\":\t{\n\t\t\"content-type\":\t\"application/json\",\n\
         \t\t\"correlation-data\":\t\"corr123\",\n\t\t\"payload-format-indicator\":\t1,\n\
         \t\t\"response-topic\":\t\"resp/t\",\n\t\t\"user-properties\":\t{\n\
         \t\t\t\"k1\":\t\"v1\",\n\t\t\t\"k2\":\t\"v2\"\n\t\t},\n\
         \t\t\"message-expiry-interval\":\t60\n\t},\n\t\"payload\":\t{\n\t\t\"t\":\t21.5\n\t}\n}"
    );
}

#[test]
fn capital_j_with_a_payload_that_is_not_json_prints_nothing_and_complains() {
    let (out, errors) =
        render_with("<%J>", &Message::new("j/utf", "héllo".as_bytes(), 0, false, 0), false);
    assert_eq!(out, b"<>");
    assert_eq!(errors, ["Error: Message payload is not valid JSON on topic j/utf."]);
}
