//! Tests for `PasswordHash`: Mosquitto's sample lines, libargon2's encoded form, round trips.

use super::*;

/// Sample lines written by Debian's mosquitto_passwd 2.0.11 (reference §4), with passwords.
pub(crate) const MOSQUITTO_SAMPLES: &[(&str, &str, &str)] = &[
    (
        "alice",
        "newsecret",
        "$7$101$flx07dWWUv7WZhZc$CMvBN2uO7kWfGjiHQPwntdnNZoh1dflWJrXSCKkC2wvBib5GCL6TErK9/M0LTKJq5SVs2yfrRmVFawapGO/SJA==",
    ),
    (
        "carol",
        "pass",
        "$6$JjbQEJVV7xu3btB3$jpoucNoYU7VZpWFGP8fmdUz8TxH3vzXfB/1uQDdQenyfdSNBfRmEyXqgDeuDuo/sbLCNWRtIZqOTy19UZtfTuA==",
    ),
    (
        "dave",
        "pass",
        "$7$1000$CH/ZM41R7Q1H24EO$z3uncW68vOXZImT79uHpTpKZTXLrpgIt2XL8yr/8vcY/rf1Vr7NWX+pUXfuMfHwffrzXioPohYiC8ZGAtsiwuw==",
    ),
    (
        "ivan",
        "ivanpass",
        "$7$101$E5suo902q4tENDLk$wSk5fFecXmQqmz7T02f3Hk+UF/e1SGbDe/VDa81Q1UZ5I4ofN596HoKImRKLYzfiXZds45lXhK5lWnDnqIlhkw==",
    ),
    (
        "joe",
        "joepass",
        "$7$101$J+JPCQoOH43aMXXx$ui5i638Px6+HlPQsn8KSOpOthHcoBir254aLk5oxP9YaRap4BzdoWzCD+8eOKzeJnLmP7/i/CYGXNU64VhjtSg==",
    ),
    (
        "piper",
        "pipepw",
        "$7$101$chLSYO8342Jzno7R$YPC8VXY+7QwwHE/iYR2cnMNrLhOwfnprRlZJ/d8TzVG9f6VTH7yrsxP6khp8q99xTAaFnXha1vvZNE2ymPFb3g==",
    ),
    (
        "spaceuser",
        "pass word",
        "$7$101$AySZa2qQF1PEnY/F$l+7NhAJpZjhHdTUEQJtjAx9Cahg6NNTOiJFWJ1/c+lEcxowJ4GyVb5UXbGy3uHyOFzRCBx1ERvIAfj3ooZ2VLA==",
    ),
    (
        "unicode",
        "pässwörd",
        "$7$101$34WOSpo4D/Q4+IDr$zevuIw8chp3Ff2YNZwxqmE2TadX4lzw9NnIoGNYKr1OE1idPn5xthLP0YLkm9P/WxEdtgHCSK+lbdQIX30G9vw==",
    ),
    (
        "legacy",
        "legacypw",
        "$6$TcPKwJWFbP+OqwWK$JCBIvQNv9TpYBhjX3jfFRnT/S6ddoTai3ApINBhQ3CcwUroFQSDOpVuV2xuz3Ss551IPSqO4SB0SU0ucGclARg==",
    ),
    (
        "oneiter",
        "x",
        "$7$1$opbaC4cyYzobDJWC$DcQAfqID9RiHxGC2dV63qVzz3kHrjiH6sKY4i7+39eVrHvfWnezoU6GTxh8iSFHn8Zq2Hx8h4lwQjU02+sVt3Q==",
    ),
    (
        "user name",
        "secret",
        "$7$101$BHTXhyW7ccMT+4C+$HIVmXnpLmo1n6uLMOzq3akrPDF6w8MHq632ZU9UZh/giNec5101gyY9nLDzCUsRrFtEKV608kbC5MsOGA8wS/Q==",
    ),
    (
        "u1",
        "plain1",
        "$7$101$tQYAi38KkMWCIqJ5$w5QYGWn96Uz1qCY7W60qvH5gmq1xNyeramwZrhQsdg+tl90b7t7q5Pduwtj++3dcIVNZKRnES4JqemUk75QPNg==",
    ),
    (
        "u2",
        "plain2",
        "$7$101$uDj6g2TzSjDnIIeU$5vyQZY6i/j+EPcDCOzZdwA414UYd8DzcKReOPUnQOJ8N1gBGZQYmPfqArp8wski1THhBWNWPEkNLre18VYM5Cw==",
    ),
];

/// Written by libargon2 (`argon2id_hash_encoded`), the library Mosquitto 2.1 uses: password
/// `argonpw`, Mosquitto 2.1's costs, 64-byte salt 0..63, 64-byte hash.
const LIBARGON2_MOSQUITTO_21: &str = "$argon2id$v=19$m=47104,t=1,p=1$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw$nqYCzfykk0dKUHVBh6k/JSB7ACHna95UzhwFTk+MK5gCZwzGoRP6OKkah1MgLzGnbmEYKJ7t5v8N9UbYJ10wDg";
/// libargon2: password `x`, t=2, m=1024, p=2, salt `saltsalt`, 32-byte hash.
const LIBARGON2_SMALL: &str =
    "$argon2id$v=19$m=1024,t=2,p=2$c2FsdHNhbHQ$CDluziEbAxpf0U71q94dEoGbbOWgsnIpXICpPR1ogCE";

#[test]
fn every_mosquitto_sample_line_verifies_and_formats_back_byte_for_byte() {
    for (user, password, field) in MOSQUITTO_SAMPLES {
        let hash = PasswordHash::parse(field).unwrap_or_else(|e| panic!("{user}: {e}"));
        assert!(hash.verify(password.as_bytes()), "{user} should verify");
        assert!(!hash.verify(b"wrong"), "{user} must refuse a wrong password");
        assert_eq!(hash.to_string(), *field, "{user} round trip");
    }
}

#[test]
fn kinds_are_recognised() {
    assert_eq!(PasswordHash::parse(MOSQUITTO_SAMPLES[0].2).unwrap().kind(), HashKind::Sha512Pbkdf2);
    assert_eq!(PasswordHash::parse(MOSQUITTO_SAMPLES[1].2).unwrap().kind(), HashKind::Sha512);
    assert_eq!(PasswordHash::parse(LIBARGON2_SMALL).unwrap().kind(), HashKind::Argon2id);
}

#[test]
fn libargon2_encoded_lines_verify() {
    let small = PasswordHash::parse(LIBARGON2_SMALL).unwrap();
    assert!(small.verify(b"x"));
    assert!(!small.verify(b"y"));
    assert_eq!(small.to_string(), LIBARGON2_SMALL);
    let mosquitto = PasswordHash::parse(LIBARGON2_MOSQUITTO_21).unwrap();
    assert!(mosquitto.verify(b"argonpw"));
    assert!(!mosquitto.verify(b"argonpw "));
    assert_eq!(mosquitto.to_string(), LIBARGON2_MOSQUITTO_21);
}

#[test]
fn new_hashes_verify_and_reparse() {
    let cheap_argon = HashAlgorithm::Argon2id { memory_kib: 64, time_cost: 1, parallelism: 1 };
    for algorithm in [HashAlgorithm::Sha512, HashAlgorithm::MOSQUITTO_2_0, cheap_argon] {
        let salt = vec![0xa5; algorithm.salt_len()];
        let hash = algorithm.hash("pässwörd".as_bytes(), &salt).unwrap();
        assert_eq!(hash.kind(), algorithm.kind());
        assert!(hash.verify("pässwörd".as_bytes()));
        assert!(!hash.verify(b"passwoerd"));
        let reparsed = PasswordHash::parse(&hash.to_string()).unwrap();
        assert_eq!(reparsed, hash);
    }
}

#[test]
fn pbkdf2_line_has_mosquittos_shape() {
    let line = HashAlgorithm::MOSQUITTO_2_0.hash(b"pw", &[1; 12]).unwrap().to_string();
    let fields: Vec<&str> = line.split('$').collect();
    assert_eq!(fields[..3], ["", "7", "101"]);
    assert_eq!(fields[3].len(), 16, "12-byte salt is 16 base64 characters");
    assert_eq!(fields[4].len(), 88, "64-byte hash is 88 base64 characters with padding");
    assert!(fields[4].ends_with("=="));
}

#[test]
fn argon2_line_has_libargon2s_shape() {
    let algorithm = HashAlgorithm::Argon2id { memory_kib: 64, time_cost: 2, parallelism: 1 };
    let line = algorithm.hash(b"pw", &[1; 16]).unwrap().to_string();
    assert!(line.starts_with("$argon2id$v=19$m=64,t=2,p=1$AQEBAQEBAQEBAQEBAQEBAQ$"), "{line}");
    let encoded_hash = line.rsplit('$').next().unwrap();
    assert_eq!(encoded_hash.len(), 43, "32-byte hash, base64 without padding");
}

#[test]
fn unpadded_base64_is_accepted_in_mosquitto_fields() {
    let (_, password, field) = MOSQUITTO_SAMPLES[0];
    let unpadded = field.trim_end_matches('=');
    assert!(PasswordHash::parse(unpadded).unwrap().verify(password.as_bytes()));
}

#[test]
fn malformed_fields_name_what_is_wrong() {
    let cases: &[(&str, HashError)] = &[
        ("plainpass", HashError::UnknownType),
        ("$5$abc$def", HashError::UnknownType),
        ("", HashError::UnknownType),
        ("$6$onlysalt", HashError::Malformed),
        ("$7$101$salt", HashError::Malformed),
        ("$7$0$AAAAAAAAAAAAAAAA$AAAA", HashError::InvalidIterations),
        ("$7$-1$AAAAAAAAAAAAAAAA$AAAA", HashError::InvalidIterations),
        ("$7$x$AAAAAAAAAAAAAAAA$AAAA", HashError::InvalidIterations),
        ("$7$99999999999$AAAAAAAAAAAAAAAA$AAAA", HashError::InvalidIterations),
        ("$7$101$!!!!$AAAA", HashError::InvalidSalt),
        ("$7$101$$AAAA", HashError::InvalidSalt),
        ("$7$101$AAAAAAAAAAAAAAAA$AAAA", HashError::InvalidHash),
        ("$6$AAAAAAAAAAAAAAAA$not base64!", HashError::InvalidHash),
        ("$argon2id$v=19$m=64,t=1$AAAAAAAAAAAA$AAAAAAAAAAAAAAAA", HashError::InvalidArgon2Params),
        (
            "$argon2id$v=19$m=64,t=1,p=1,x=2$AAAAAAAAAAAA$AAAAAAAAAAAAAAAA",
            HashError::InvalidArgon2Params,
        ),
        (
            "$argon2id$v=19$m=1,t=1,p=1$AAAAAAAAAAAA$AAAAAAAAAAAAAAAA",
            HashError::InvalidArgon2Params,
        ),
        (
            "$argon2id$v=7$m=64,t=1,p=1$AAAAAAAAAAAA$AAAAAAAAAAAAAAAA",
            HashError::InvalidArgon2Params,
        ),
        ("$argon2id$v=19$m=64,t=1,p=1$AAAA$AAAAAAAAAAAAAAAA", HashError::InvalidSalt),
        ("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAA$AA", HashError::InvalidHash),
        ("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAA", HashError::InvalidArgon2Params),
        ("$argon2id$m=64,t=1,p=1", HashError::Malformed),
        (
            "$argon2id$v=19$m=2097152,t=1,p=1$AAAAAAAAAAAA$AAAAAAAAAAAAAAAA",
            HashError::InvalidArgon2Params,
        ),
        (
            "$argon2id$v=19$m=64,t=1001,p=1$AAAAAAAAAAAA$AAAAAAAAAAAAAAAA",
            HashError::InvalidArgon2Params,
        ),
        // Found by the `passwd` fuzz target: the argon2 crate multiplies `p` by 8 before it
        // checks `p`'s range, which overflows (a panic where overflow checks are on).
        (
            "$argon2id$v=19$m=47104,t=1,p=1777777777$AAAAAAAAAAAA$AAAAAAAAAAAAAAAA",
            HashError::InvalidArgon2Params,
        ),
    ];
    for (field, expected) in cases {
        assert_eq!(PasswordHash::parse(field).as_ref().err(), Some(expected), "{field:?}");
    }
}

#[test]
fn decoy_never_verifies_and_keeps_the_costs() {
    for (_, password, field) in MOSQUITTO_SAMPLES {
        let hash = PasswordHash::parse(field).unwrap();
        let decoy = hash.decoy();
        assert_eq!(format!("{decoy:?}"), format!("{hash:?}"));
        assert!(!decoy.verify(password.as_bytes()));
    }
}

#[test]
fn bad_salts_are_refused_when_hashing() {
    assert_eq!(HashAlgorithm::Sha512.hash(b"pw", &[]), Err(HashError::InvalidSalt));
    assert_eq!(HashAlgorithm::DEFAULT.hash(b"pw", &[1; 4]), Err(HashError::InvalidSalt));
    assert_eq!(
        HashAlgorithm::Sha512Pbkdf2 { iterations: 0 }.hash(b"pw", &[1; 12]),
        Err(HashError::InvalidIterations)
    );
    let greedy = HashAlgorithm::Argon2id {
        memory_kib: MAX_ARGON2_MEMORY_KIB + 1,
        time_cost: 1,
        parallelism: 1,
    };
    assert_eq!(greedy.hash(b"pw", &[1; 16]), Err(HashError::InvalidArgon2Params));
}

#[test]
fn debug_output_does_not_show_hash_material() {
    let hash = PasswordHash::parse(MOSQUITTO_SAMPLES[0].2).unwrap();
    assert_eq!(format!("{hash:?}"), "PasswordHash(sha512-pbkdf2, 101 iterations)");
}

#[test]
fn pbkdf2_lines_with_mosquitto_21s_64_byte_salts_verify() {
    // Made with Python's hashlib.pbkdf2_hmac("sha512", b"twoone", bytes(range(100, 164)), 1000, 64),
    // the shape Mosquitto 2.1 writes (64-byte salt, 1000 iterations).
    let line = "$7$1000$ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGiow==$50Vbu9JZ1gMS0QwooCwP9IpMSIOoeRbb7vaakAdwBz3IsknuXz60UJBGvszx/IRA8hCqYgPN3T3xOHKbGf0VUw==";
    let hash = PasswordHash::parse(line).unwrap();
    assert!(hash.verify(b"twoone"));
    assert!(!hash.verify(b"twoone!"));
    assert_eq!(hash.to_string(), line);
}
