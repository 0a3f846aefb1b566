//! The options file read before argv (`~/.config/culex_pub`, falling back to Mosquitto's
//! `~/.config/mosquitto_pub`): where it lives and how a line becomes option tokens.

use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::args::Tool;

/// The options files to try, in order: ours, then Mosquitto's, both in `$XDG_CONFIG_HOME`
/// (when set and non-empty) or else in `$HOME/.config`. Empty when neither variable is set.
pub fn candidate_paths(tool: &Tool) -> Vec<PathBuf> {
    let dir = match std::env::var_os("XDG_CONFIG_HOME").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".config"),
            None => return Vec::new(),
        },
    };
    vec![dir.join(tool.name), dir.join(tool.mosquitto_name)]
}

/// Reads the first options file that exists. A missing file is not an error.
///
/// # Errors
/// Reading a file that exists failed.
pub fn load(tool: &Tool) -> std::io::Result<Vec<Vec<OsString>>> {
    for path in candidate_paths(tool) {
        match std::fs::File::open(&path) {
            Ok(file) => return parse_reader(std::io::BufReader::new(file)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(Vec::new())
}

/// Splits an options file into per-line token lists.
///
/// Each line loses its trailing CR/LF; lines starting with `#` and blank lines are skipped.
/// The option is the first space-delimited word (leading spaces skipped); everything after the
/// single space that ends it, if anything, is its value, kept verbatim (so `-t  x` gives the
/// topic ` x`, as with Mosquitto).
///
/// # Errors
/// The reader failed.
pub fn parse_reader(mut reader: impl BufRead) -> std::io::Result<Vec<Vec<OsString>>> {
    let mut lines = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.first() == Some(&b'#') {
            continue;
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let start = line.iter().position(|b| *b != b' ').unwrap_or(line.len());
        let text = &line[start..];
        if text.is_empty() {
            continue;
        }
        let mut tokens = Vec::with_capacity(2);
        match text.iter().position(|b| *b == b' ') {
            Some(space) => {
                tokens.push(OsString::from_vec(text[..space].to_vec()));
                let value = &text[space + 1..];
                if !value.is_empty() {
                    tokens.push(OsString::from_vec(value.to_vec()));
                }
            }
            None => tokens.push(OsString::from_vec(text.to_vec())),
        }
        lines.push(tokens);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Vec<String>> {
        parse_reader(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|line| line.into_iter().map(|t| t.into_string().unwrap()).collect())
            .collect()
    }

    #[test]
    fn lines_split_at_the_first_space_and_keep_the_rest() {
        assert_eq!(
            parse("# comment\n\n  -p   1  2\r\n-d\n-m hello world\n-t \n"),
            vec![vec!["-p", "  1  2"], vec!["-d"], vec!["-m", "hello world"], vec!["-t"]]
        );
    }

    #[test]
    fn last_line_without_newline_counts() {
        assert_eq!(parse("-h host"), vec![vec!["-h", "host"]]);
    }

    #[test]
    fn ours_comes_before_mosquittos() {
        let tool = Tool { name: "culex_pub", mosquitto_name: "mosquitto_pub" };
        let paths = candidate_paths(&tool);
        if let Some(first) = paths.first() {
            assert!(first.ends_with("culex_pub"));
            assert!(paths[1].ends_with("mosquitto_pub"));
        }
    }
}
