//! Asking for a new password twice, as `mosquitto_passwd` does: prompts on stdout, echo off
//! when stdin is a terminal, and plain line reading when it is a pipe or a file.

use std::io::{self, BufRead, IsTerminal as _, Write};

use mqtt_core::auth::MAX_FIELD_LEN;

use crate::os;

/// Why no password came out of the prompts.
#[derive(Debug)]
pub(crate) enum PromptError {
    /// An empty answer or end of input (`Error: Empty password.`, exit 1).
    Empty,
    /// The two answers differ (`Error: Passwords do not match.`, exit 2).
    Mismatch,
    /// The answer is longer than 65535 bytes.
    TooLong,
    /// Ctrl-C at the prompt; the terminal has been restored.
    Interrupted,
    /// Reading stdin or writing the prompt failed.
    Io(io::Error),
}

impl From<io::Error> for PromptError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Prompts `Password: ` and `Reenter password: ` and returns the password when both answers
/// agree. A newline is printed after each non-empty answer (the typed text is not echoed).
pub(crate) fn read_new_password() -> Result<Vec<u8>, PromptError> {
    let mut reader = AnswerReader::new();
    let first = ask(&mut reader, "Password: ")?;
    let second = ask(&mut reader, "Reenter password: ")?;
    if first != second {
        return Err(PromptError::Mismatch);
    }
    Ok(first)
}

fn ask(reader: &mut AnswerReader, prompt: &str) -> Result<Vec<u8>, PromptError> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(prompt.as_bytes())?;
    stdout.flush()?;
    let answer = reader.read()?;
    if answer.is_empty() {
        return Err(PromptError::Empty);
    }
    if answer.len() > MAX_FIELD_LEN {
        return Err(PromptError::TooLong);
    }
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(answer)
}

/// Reads one answer per call: from the terminal with echo off, or a line from piped stdin.
enum AnswerReader {
    Terminal,
    Piped(io::StdinLock<'static>),
}

impl AnswerReader {
    fn new() -> Self {
        if io::stdin().is_terminal() { Self::Terminal } else { Self::Piped(io::stdin().lock()) }
    }

    fn read(&mut self) -> Result<Vec<u8>, PromptError> {
        match self {
            Self::Terminal => read_from_terminal(),
            Self::Piped(stdin) => {
                let mut line = Vec::new();
                stdin.read_until(b'\n', &mut line)?;
                while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                    line.pop();
                }
                Ok(line)
            }
        }
    }
}

/// Reads one line from the terminal on stdin with echo off (rpassword restores the terminal
/// when it returns). Ctrl-C makes rpassword raise SIGINT; it is ignored while we read so that
/// rpassword can return and put the terminal back before we exit.
fn read_from_terminal() -> Result<Vec<u8>, PromptError> {
    let config =
        rpassword::ConfigBuilder::new().input_file_path("/dev/stdin").output_discard().build();
    let _ignore = os::SigintIgnored::new();
    match rpassword::read_password_with_config(config) {
        Ok(answer) => Ok(answer.into_bytes()),
        Err(error) if error.kind() == io::ErrorKind::Interrupted => Err(PromptError::Interrupted),
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Ok(Vec::new()),
        Err(error) => Err(PromptError::Io(error)),
    }
}
