//! The small JSON model behind `%j` / `%J`: a parser and printer that accept and print exactly
//! what Mosquitto's JSON output (built on cJSON) does, so that output matches byte for byte.
//!
//! Facts this module reproduces (each has a test below):
//! - Whitespace is any byte from 0x01 to 0x20; a leading UTF-8 BOM is skipped; a payload that
//!   contains a NUL byte anywhere is not JSON; nothing but whitespace may follow the value.
//! - Numbers start with `-` or a digit and are read like C's `strtod` over the run of
//!   `[0-9+-eE.]` characters; they print with `%1.15g`, or `%1.17g` when the 15-digit form does
//!   not read back as (nearly) the same value; NaN and infinities print as `null`.
//! - Strings keep raw bytes (invalid UTF-8 and control characters included); `\u0000` ends the
//!   string; lone surrogates are errors. Printing escapes `"`, `\`, `\b \f \n \r \t` and other
//!   bytes below 0x20 as `\u00xx`, and leaves everything else raw.
//! - Pretty printing indents objects with tabs and writes `"key":<TAB>value`; arrays stay on one
//!   line with `, ` between items.

/// Deepest nesting of arrays and objects the parser accepts (cJSON's limit).
const NESTING_LIMIT: usize = 1000;

/// A JSON value. Strings are byte strings because payloads need not be UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// Any number (JSON numbers are doubles here, as in cJSON).
    Number(f64),
    /// A string's bytes, unescaped.
    String(Vec<u8>),
    /// An array.
    Array(Vec<Self>),
    /// An object; keys keep their order and may repeat.
    Object(Vec<(Vec<u8>, Self)>),
}

impl Json {
    /// Parses a whole payload, or returns `None` if Mosquitto would call it "not valid JSON".
    pub fn parse(input: &[u8]) -> Option<Self> {
        if input.contains(&0) {
            return None;
        }
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let mut parser = Parser { input, pos: 0, depth: 0 };
        parser.skip_whitespace();
        let value = parser.value()?;
        parser.skip_whitespace();
        (parser.pos == input.len()).then_some(value)
    }

    /// Appends this value's text to `out`, compact or pretty (tab-indented).
    pub fn print(&self, pretty: bool, out: &mut Vec<u8>) {
        self.print_at(pretty, 0, out);
    }

    fn print_at(&self, pretty: bool, depth: usize, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(true) => out.extend_from_slice(b"true"),
            Self::Bool(false) => out.extend_from_slice(b"false"),
            Self::Number(number) => print_number(*number, out),
            Self::String(bytes) => print_string(bytes, out),
            Self::Array(items) => {
                out.push(b'[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.extend_from_slice(if pretty { b", " } else { b"," });
                    }
                    item.print_at(pretty, depth + 1, out);
                }
                out.push(b']');
            }
            Self::Object(members) => {
                let inner = depth + 1;
                out.push(b'{');
                if pretty {
                    out.push(b'\n');
                }
                for (index, (key, value)) in members.iter().enumerate() {
                    if pretty {
                        out.extend(std::iter::repeat_n(b'\t', inner));
                    }
                    print_string(key, out);
                    out.push(b':');
                    if pretty {
                        out.push(b'\t');
                    }
                    value.print_at(pretty, inner, out);
                    if index + 1 < members.len() {
                        out.push(b',');
                    }
                    if pretty {
                        out.push(b'\n');
                    }
                }
                if pretty {
                    out.extend(std::iter::repeat_n(b'\t', depth));
                }
                out.push(b'}');
            }
        }
    }
}

/// Prints a number as cJSON does: `%1.15g`, falling back to `%1.17g` when the shorter text
/// does not read back as the same double (compared with a relative epsilon).
fn print_number(number: f64, out: &mut Vec<u8>) {
    if !number.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let short = format_g(number, 15);
    let reads_back = short.parse::<f64>().is_ok_and(|back| nearly_equal(back, number));
    let text = if reads_back { short } else { format_g(number, 17) };
    out.extend_from_slice(text.as_bytes());
}

fn nearly_equal(a: f64, b: f64) -> bool {
    let largest = a.abs().max(b.abs());
    (a - b).abs() <= largest * f64::EPSILON
}

/// C's `printf("%1.<precision>g", value)` for a finite value.
pub fn format_g(value: f64, precision: usize) -> String {
    let precision = precision.max(1);
    // Rounding to `precision` significant digits decides the exponent, so take it from the
    // exponential form, which Rust rounds exactly as glibc does.
    let exponential = format!("{:.*e}", precision - 1, value);
    let Some((mantissa, exponent)) = exponential.split_once('e') else {
        return exponential;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let precision_i32 = i32::try_from(precision).unwrap_or(i32::MAX);
    if exponent < -4 || exponent >= precision_i32 {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        let decimals = usize::try_from(precision_i32 - 1 - exponent).unwrap_or(0);
        strip_fraction_zeros(&format!("{value:.decimals$}")).to_owned()
    }
}

fn strip_fraction_zeros(text: &str) -> &str {
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { text }
}

/// Appends `bytes` as a quoted JSON string with cJSON's escaping.
pub fn print_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &byte in bytes {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            control if control < 0x20 => {
                out.extend_from_slice(format!("\\u{control:04x}").as_bytes());
            }
            other => out.push(other),
        }
    }
    out.push(b'"');
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte <= b' ') {
            self.pos += 1;
        }
    }

    fn eat_literal(&mut self, literal: &[u8]) -> bool {
        if self.input[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Json> {
        match self.peek()? {
            b'n' => self.eat_literal(b"null").then_some(Json::Null),
            b'f' => self.eat_literal(b"false").then_some(Json::Bool(false)),
            b't' => self.eat_literal(b"true").then_some(Json::Bool(true)),
            b'"' => self.string().map(Json::String),
            b'-' | b'0'..=b'9' => self.number().map(Json::Number),
            b'[' => self.array(),
            b'{' => self.object(),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= NESTING_LIMIT).then_some(())
    }

    fn array(&mut self) -> Option<Json> {
        self.sequence(b']', Self::value).map(Json::Array)
    }

    fn object(&mut self) -> Option<Json> {
        self.sequence(b'}', Self::member).map(Json::Object)
    }

    /// One `"key": value` member of an object.
    fn member(&mut self) -> Option<(Vec<u8>, Json)> {
        if self.peek()? != b'"' {
            return None;
        }
        let key = self.string()?;
        self.skip_whitespace();
        if self.peek()? != b':' {
            return None;
        }
        self.pos += 1;
        self.skip_whitespace();
        Some((key, self.value()?))
    }

    /// The comma-separated `item`s between the opening bracket at the cursor and `close`,
    /// one nesting level deeper.
    fn sequence<T>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.enter()?;
        self.pos += 1; // '[' or '{'
        self.skip_whitespace();
        let mut items = Vec::new();
        if self.peek() != Some(close) {
            loop {
                self.skip_whitespace();
                items.push(item(self)?);
                self.skip_whitespace();
                match self.peek()? {
                    b',' => self.pos += 1,
                    byte if byte == close => break,
                    _ => return None,
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Some(items)
    }

    /// Reads a number the way `strtod` reads the longest prefix of the `[0-9+-eE.]` run.
    fn number(&mut self) -> Option<f64> {
        let run_end = self.input[self.pos..]
            .iter()
            .position(|byte| !matches!(byte, b'0'..=b'9' | b'+' | b'-' | b'e' | b'E' | b'.'))
            .map_or(self.input.len(), |offset| self.pos + offset);
        let run = &self.input[self.pos..run_end];
        let consumed = strtod_prefix_len(run);
        if consumed == 0 {
            return None;
        }
        let text = std::str::from_utf8(&run[..consumed]).ok()?;
        let value = text.parse::<f64>().ok()?;
        self.pos += consumed;
        Some(value)
    }

    /// Reads a quoted string (the cursor is on the opening quote) and unescapes it.
    fn string(&mut self) -> Option<Vec<u8>> {
        self.pos += 1; // opening quote
        let mut bytes = Vec::new();
        loop {
            let byte = self.peek()?;
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escape = self.peek()?;
                    self.pos += 1;
                    match escape {
                        b'b' => bytes.push(0x08),
                        b'f' => bytes.push(0x0c),
                        b'n' => bytes.push(b'\n'),
                        b'r' => bytes.push(b'\r'),
                        b't' => bytes.push(b'\t'),
                        b'"' | b'\\' | b'/' => bytes.push(escape),
                        b'u' => {
                            let code_point = self.unicode_escape()?;
                            let mut buffer = [0; 4];
                            bytes.extend_from_slice(code_point.encode_utf8(&mut buffer).as_bytes());
                        }
                        _ => return None,
                    }
                }
                other => bytes.push(other),
            }
        }
        // A `\u0000` ends the string: cJSON keeps strings NUL-terminated.
        if let Some(nul) = bytes.iter().position(|&byte| byte == 0) {
            bytes.truncate(nul);
        }
        Some(bytes)
    }

    /// Decodes the four hex digits after `\u` (and a low surrogate's escape after a high one).
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&first) {
            return None;
        }
        if (0xD800..=0xDBFF).contains(&first) {
            if !self.eat_literal(b"\\u") {
                return None;
            }
            let second = self.hex4()?;
            if !(0xDC00..=0xDFFF).contains(&second) {
                return None;
            }
            let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            return char::from_u32(code);
        }
        char::from_u32(first)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.input.get(self.pos..self.pos + 4)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.pos += 4;
        Some(value)
    }
}

/// Length of the longest prefix of `run` that C's `strtod` would consume as a decimal number
/// (optional sign, digits with an optional point, optional exponent that has digits).
fn strtod_prefix_len(run: &[u8]) -> usize {
    let digits_from = |mut index: usize| {
        while run.get(index).is_some_and(u8::is_ascii_digit) {
            index += 1;
        }
        index
    };
    let mut index = usize::from(matches!(run.first(), Some(b'+' | b'-')));
    let integer_end = digits_from(index);
    let mut mantissa_digits = integer_end - index;
    index = integer_end;
    if run.get(index) == Some(&b'.') {
        let fraction_end = digits_from(index + 1);
        mantissa_digits += fraction_end - index - 1;
        index = fraction_end;
    }
    if mantissa_digits == 0 {
        return 0;
    }
    if matches!(run.get(index), Some(b'e' | b'E')) {
        let mut exponent = index + 1;
        if matches!(run.get(exponent), Some(b'+' | b'-')) {
            exponent += 1;
        }
        let exponent_end = digits_from(exponent);
        if exponent_end > exponent {
            index = exponent_end;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reprint(input: &str, pretty: bool) -> Option<String> {
        let value = Json::parse(input.as_bytes())?;
        let mut out = Vec::new();
        value.print(pretty, &mut out);
        Some(String::from_utf8(out).expect("test inputs are UTF-8"))
    }

    fn compact(input: &str) -> Option<String> {
        reprint(input, false)
    }

    #[test]
    fn numbers_print_like_cjson() {
        let cases = [
            ("1", "1"),
            ("1.0", "1"),
            ("1.5", "1.5"),
            ("-0", "-0"),
            ("-0.0", "-0"),
            ("-0e5", "-0"),
            ("0", "0"),
            ("0.1", "0.1"),
            ("1e3", "1000"),
            ("1e300", "1e+300"),
            ("123456789012", "123456789012"),
            ("2147483648", "2147483648"),
            ("-2147483649", "-2147483649"),
            ("3.14159265358979", "3.14159265358979"),
            ("0.30000000000000004", "0.3"),
            ("1e-7", "1e-07"),
            ("12345678901234567890", "1.2345678901234567e+19"),
            ("1.7976931348623157e308", "1.79769313486232e+308"),
            ("5e-324", "4.94065645841247e-324"),
            ("1e999", "null"),
            ("-1e999", "null"),
            ("01", "1"),
            ("1.", "1"),
            ("1.5e+3", "1500"),
            ("1E2", "100"),
            ("2147483646.5", "2147483646.5"),
            ("1e15", "1e+15"),
            ("1e16", "1e+16"),
            ("123456789012345678", "1.2345678901234568e+17"),
            ("1.23456789012345678", "1.2345678901234567"),
            ("4.35", "4.35"),
            ("9007199254740993", "9.00719925474099e+15"),
            ("100e-2", "1"),
            ("123456", "123456"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
        ];
        for (input, expected) in cases {
            assert_eq!(compact(input).as_deref(), Some(expected), "input {input}");
        }
    }

    #[test]
    fn not_json_is_rejected_like_cjson() {
        for input in [
            "+1",
            ".5",
            "-",
            "1e",
            "NaN",
            "nan",
            "Infinity",
            "0x10",
            "- 1",
            "nul",
            "True",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\u00\"",
            "\"\\x\"",
            "[1,]",
            "{\"a\":1,}",
            "[1 2]",
            "{\"a\" 1}",
            "{1:2}",
            "[",
            "\"",
            "",
            " ",
            "{\"x\":1} junk",
            "{x:1}",
            "\"\\ud83d\"",
            "{}\0",
            "\0{}",
            "\"a\0b\"",
            "héllo",
        ] {
            assert_eq!(compact(input), None, "input {input:?}");
        }
    }

    #[test]
    fn whitespace_is_any_byte_up_to_space_and_a_bom_is_skipped() {
        assert_eq!(compact("\n{}\n\t\r").as_deref(), Some("{}"));
        assert_eq!(compact("\u{1}{}\u{1}").as_deref(), Some("{}"));
        assert_eq!(compact("  {  \"x\" : 1 }  ").as_deref(), Some("{\"x\":1}"));
        assert_eq!(compact("\u{feff}{}").as_deref(), Some("{}"));
    }

    #[test]
    fn strings_unescape_and_reescape_like_cjson() {
        assert_eq!(compact("\"a\tb\"").as_deref(), Some("\"a\\tb\""));
        assert_eq!(compact("\"\\/\"").as_deref(), Some("\"/\""));
        assert_eq!(compact("\"\\u0000x\"").as_deref(), Some("\"\""));
        assert_eq!(compact("{\"k\":\"\\u20ac\"}").as_deref(), Some("{\"k\":\"€\"}"));
        assert_eq!(compact("\"\\uD83D\\uDE00\"").as_deref(), Some("\"😀\""));
        assert_eq!(compact("\"s\\u00e9\\n\"").as_deref(), Some("\"sé\\n\""));
        let raw = Json::parse(b"\"a\xffb\"").expect("raw bytes are kept");
        assert_eq!(raw, Json::String(b"a\xffb".to_vec()));
    }

    #[test]
    fn control_bytes_print_as_lowercase_unicode_escapes() {
        let mut out = Vec::new();
        print_string(b"a\x01\x1f\x7f\"\\/\x08\x0c\n\r\tz", &mut out);
        assert_eq!(out, b"\"a\\u0001\\u001f\x7f\\\"\\\\/\\b\\f\\n\\r\\tz\"".to_vec());
    }

    #[test]
    fn keys_keep_order_and_duplicates() {
        assert_eq!(
            compact("{\"a\":{\"b\":[1,{\"c\":[]},{}],\"d\":null,\"e\":true,\"f\":false}, \"a\":2}")
                .as_deref(),
            Some("{\"a\":{\"b\":[1,{\"c\":[]},{}],\"d\":null,\"e\":true,\"f\":false},\"a\":2}")
        );
    }

    #[test]
    fn pretty_output_indents_objects_with_tabs_and_keeps_arrays_on_one_line() {
        assert_eq!(
            reprint("{\"a\":{\"b\":[1,{\"c\":[]},{}],\"d\":null},\"g\":\"s\"}", true).as_deref(),
            Some(
                "{\n\t\"a\":\t{\n\t\t\"b\":\t[1, {\n\t\t\t\t\"c\":\t[]\n\t\t\t}, {\n\t\t\t}],\n\
                 \t\t\"d\":\tnull\n\t},\n\t\"g\":\t\"s\"\n}"
            )
        );
        assert_eq!(reprint("{}", true).as_deref(), Some("{\n}"));
        assert_eq!(reprint("[]", true).as_deref(), Some("[]"));
        assert_eq!(reprint("[[1,2],[3,[4,[]]]]", true).as_deref(), Some("[[1, 2], [3, [4, []]]]"));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_rejected_without_overflowing_the_stack() {
        let deep = "[".repeat(NESTING_LIMIT + 1) + &"]".repeat(NESTING_LIMIT + 1);
        assert_eq!(compact(&deep), None);
        let ok = "[".repeat(NESTING_LIMIT) + &"]".repeat(NESTING_LIMIT);
        assert!(compact(&ok).is_some());
    }

    #[test]
    fn format_g_matches_c() {
        assert_eq!(format_g(0.0, 15), "0");
        assert_eq!(format_g(100.0, 15), "100");
        assert_eq!(format_g(1e15, 15), "1e+15");
        assert_eq!(format_g(123_456_789_012_345.0, 15), "123456789012345");
        assert_eq!(format_g(0.000_123, 15), "0.000123");
        assert_eq!(format_g(-2.5, 15), "-2.5");
        assert_eq!(format_g(9.999_999_999_999_999e14, 15), "1e+15");
    }
}
