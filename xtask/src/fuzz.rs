//! `cargo xtask fuzz --seconds N`: runs the `decode` fuzz target of `fuzz/` (cargo-fuzz and
//! libFuzzer on the stable toolchain via `RUSTC_BOOTSTRAP=1`) for N seconds, seeding its corpus
//! with the packets captured from Mosquitto (`crates/mqtt-codec/tests/fixtures`). Not part of CI.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// Runs the fuzzer; `args` are what follows `fuzz` on the command line.
pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    let seconds = parse_seconds(args)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let probe = Command::new(&cargo).args(["fuzz", "--version"]).output();
    if !probe.is_ok_and(|out| out.status.success()) {
        bail!("cargo-fuzz is not installed: run `cargo install cargo-fuzz` first");
    }
    let fuzz_dir = workspace_root().join("fuzz");
    let corpus = fuzz_dir.join("corpus").join("decode");
    let seeds = seed_corpus(&workspace_root().join("crates/mqtt-codec/tests/fixtures"), &corpus)?;
    eprintln!("xtask: {seeds} seed inputs from the captured fixtures in {}", corpus.display());
    let status = Command::new(&cargo)
        .args(["fuzz", "run", "decode", "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(&fuzz_dir)
        .status()
        .context("starting cargo fuzz")?;
    if !status.success() {
        bail!(
            "the fuzzer stopped with {status}; crashing inputs are in {}",
            fuzz_dir.join("artifacts/decode").display()
        );
    }
    Ok(())
}

/// `--seconds N` (default 60).
fn parse_seconds(args: &[String]) -> Result<u64> {
    match args {
        [] => Ok(60),
        [flag, value] if flag == "--seconds" => {
            value.parse().with_context(|| format!("--seconds {value:?}"))
        }
        other => bail!("usage: cargo xtask fuzz [--seconds N] (got {other:?})"),
    }
}

/// Writes one seed per direction of every captured connection: a selector byte choosing the
/// connection's version with no size limit, then the packets as they crossed the wire.
fn seed_corpus(fixtures: &Path, corpus: &Path) -> Result<usize> {
    fs::create_dir_all(corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let mut count = 0;
    for entry in
        fs::read_dir(fixtures).with_context(|| format!("reading {}", fixtures.display()))?
    {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "hex") {
            continue;
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        // (connection, direction) -> bytes, in file order.
        let mut streams: Vec<((String, String), Vec<u8>)> = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [connection, direction, hex] = fields[..] else {
                bail!("{}: bad line {line:?}", path.display())
            };
            let bytes = unhex(hex).with_context(|| format!("{}: {line:?}", path.display()))?;
            let key = (connection.to_owned(), direction.to_owned());
            match streams.iter_mut().find(|(k, _)| *k == key) {
                Some((_, stream)) => stream.extend_from_slice(&bytes),
                None => streams.push((key, bytes)),
            }
        }
        for ((connection, direction), stream) in &streams {
            let client = streams.iter().find(|((c, d), _)| c == connection && d == "c2s");
            let level = client.and_then(|(_, s)| connect_level(s)).unwrap_or(4);
            // The target reads `selector % 3` as the version (0: 3.1, 1: 3.1.1, 2: 5.0) and a set
            // high bit as "no size limit".
            let selector: u8 = match level {
                3 => 0x81,
                5 => 0x80,
                _ => 0x82,
            };
            let mut seed = vec![selector];
            seed.extend_from_slice(stream);
            let stem =
                path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let name = format!("capture-{stem}-{connection}-{direction}");
            fs::write(corpus.join(&name), seed).with_context(|| format!("writing seed {name}"))?;
            count += 1;
        }
    }
    Ok(count)
}

/// The protocol level of the CONNECT at the start of `stream`, if it is one.
fn connect_level(stream: &[u8]) -> Option<u8> {
    if stream.first()? >> 4 != 1 {
        return None;
    }
    let mut at = 1;
    while stream.get(at)? & 0x80 != 0 {
        at += 1;
    }
    let name_len = usize::from(u16::from_be_bytes([*stream.get(at + 1)?, *stream.get(at + 2)?]));
    stream.get(at + 3 + name_len).copied()
}

fn unhex(hex: &str) -> Result<Vec<u8>> {
    if hex.len() % 2 != 0 {
        bail!("odd number of hex digits");
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).with_context(|| format!("bad hex at {i}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_level_of_captured_connects() {
        let v31 = unhex("101500064d5149736470030000050007756e7375623331").unwrap();
        assert_eq!(connect_level(&v31), Some(3));
        let v5 = unhex("101900044d5154540502003c081100000000210003000473756235").unwrap();
        assert_eq!(connect_level(&v5), Some(5));
        assert_eq!(connect_level(&[0x30, 0]), None);
    }

    #[test]
    fn seconds_default_to_a_minute() {
        assert_eq!(parse_seconds(&[]).unwrap(), 60);
        assert_eq!(parse_seconds(&["--seconds".into(), "5".into()]).unwrap(), 5);
        assert!(parse_seconds(&["--minutes".into(), "5".into()]).is_err());
    }
}
