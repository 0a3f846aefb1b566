//! Numbers read the way C reads them, because Mosquitto reads its options and configuration
//! with `atoi`, `atol`, `atof` and `strtol`: leading blanks are skipped, a number ends at the
//! first character that cannot continue it, and text with no digits is 0 (`strtol`'s callers
//! refuse it instead). Values past the type's range saturate rather than wrap.

/// C's `isspace` in the "C" locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits off leading blanks and an optional sign: `(negative, rest)`.
fn blanks_and_sign(text: &[u8]) -> (bool, &[u8]) {
    let start = text.iter().position(|&b| !is_c_space(b)).unwrap_or(text.len());
    match &text[start..] {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    }
}

/// C's `atol`: optional blanks and sign, then decimal digits up to the first non-digit; no
/// digits at all gives 0. Saturates at the `i64` range.
pub fn atol(text: &[u8]) -> i64 {
    let (negative, rest) = blanks_and_sign(text);
    let value = rest
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |value, &b| value.saturating_mul(10).saturating_add(i64::from(b - b'0')));
    if negative { -value } else { value }
}

/// C's `atoi`: [`atol`] saturated to the `i32` range.
pub fn atoi(text: &[u8]) -> i32 {
    let value = atol(text);
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

/// C's `atof`, kept to decimal notation: the longest leading decimal number (after
/// blanks), else 0. (C also reads `inf`, `nan` and hexadecimal floats; Mosquitto's options
/// never need them, so they read as 0.)
pub fn atof(text: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(text);
    let text = text.trim_start();
    (0..=text.len())
        .rev()
        .filter(|&len| text.is_char_boundary(len))
        .find_map(|len| {
            let candidate = &text[..len];
            let numeric = candidate.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
            if numeric { candidate.parse::<f64>().ok() } else { None }
        })
        .unwrap_or(0.0)
}

/// C's `strtol(text, &end, 0)` for a caller that requires `*end == '\0'`: optional blanks and
/// sign, then `0x…` hexadecimal, `0…` octal or decimal digits, all of the rest. `None` when
/// there are no digits or anything follows them. Saturates at the `i64` range.
pub fn strtol_whole(text: &[u8]) -> Option<i64> {
    let (negative, rest) = blanks_and_sign(text);
    let (radix, digits) = if (rest.starts_with(b"0x") || rest.starts_with(b"0X"))
        && rest.get(2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, &rest[2..])
    } else if rest.starts_with(b"0") {
        (8, rest)
    } else {
        (10, rest)
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits {
        let digit = char::from(b).to_digit(radix)?;
        value = value.saturating_mul(i64::from(radix)).saturating_add(i64::from(digit));
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_like_c() {
        assert_eq!(atoi(b"42"), 42);
        assert_eq!(atoi(b"42abc"), 42);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"-7"), -7);
        assert_eq!(atoi(b"+7"), 7);
        assert_eq!(atoi(b" \t\n\x0b\x0c\r12"), 12);
        assert_eq!(atoi(b"- 1"), 0);
        assert_eq!(atoi(b"99999999999999"), i32::MAX);
        assert_eq!(atoi(b"-99999999999999"), i32::MIN);
    }

    #[test]
    fn atol_saturates_at_i64() {
        assert_eq!(atol(b"99999999999"), 99_999_999_999);
        assert_eq!(atol(b"999999999999999999999999"), i64::MAX);
        assert_eq!(atol(b"-999999999999999999999999"), -i64::MAX);
    }

    #[test]
    fn atof_takes_the_longest_decimal_prefix() {
        assert!((atof(b"0.5") - 0.5).abs() < f64::EPSILON);
        assert!((atof(b" 2.5s") - 2.5).abs() < f64::EPSILON);
        assert!((atof(b"1e2x") - 100.0).abs() < f64::EPSILON);
        assert!(atof(b"x").abs() < f64::EPSILON);
        assert!(atof(b"inf").abs() < f64::EPSILON);
    }

    #[test]
    fn strtol_whole_takes_every_base_and_refuses_trailing_text() {
        assert_eq!(strtol_whole(b"10"), Some(10));
        assert_eq!(strtol_whole(b"0x10"), Some(16));
        assert_eq!(strtol_whole(b"0X1f"), Some(31));
        assert_eq!(strtol_whole(b"010"), Some(8));
        assert_eq!(strtol_whole(b"0"), Some(0));
        assert_eq!(strtol_whole(b" -1"), Some(-1));
        assert_eq!(strtol_whole(b"08"), None);
        assert_eq!(strtol_whole(b"0x"), None);
        assert_eq!(strtol_whole(b"10s"), None);
        assert_eq!(strtol_whole(b""), None);
        assert_eq!(strtol_whole(b"-"), None);
    }
}
