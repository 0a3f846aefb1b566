//! Test harness: temporary directories, running programs with a deadline, reference tools.

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long any single program run by a test may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// A directory under the system temp dir, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("culex-passwd-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished program printed and how it exited.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Path of the binary under test.
pub(crate) fn culex_passwd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_culex_passwd"))
}

/// Path of a tool from Debian's packages.
///
/// # Panics
/// If it is missing, naming the package to install.
pub(crate) fn reference_tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let candidate = Path::new(dir).join(name);
        if candidate.exists() {
            return candidate;
        }
    }
    let package = match name {
        "mosquitto_pub" | "mosquitto_sub" => "mosquitto-clients",
        "mosquitto" | "mosquitto_passwd" => "mosquitto",
        other => other,
    };
    panic!(
        "{name} is not installed: run `bash scripts/install-test-deps.sh` (or `apt-get install {package}`)"
    );
}

/// Runs `program args` in `dir` with `stdin` as its input, killing it after [`DEADLINE`].
pub(crate) fn run_in(dir: &Path, program: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    // The program may exit without reading everything; that is not an error here.
    input.write_all(stdin).ok();
    drop(input);
    finish(child, &format!("{} {args:?}", program.display()), DEADLINE)
}

/// Runs `culex_passwd args` in `dir` with no input.
pub(crate) fn ours(dir: &TempDir, args: &[&str]) -> Output {
    run_in(dir.path(), &culex_passwd(), args, b"")
}

/// Runs `mosquitto_passwd args` in `dir` with no input.
pub(crate) fn mosquittos(dir: &TempDir, args: &[&str]) -> Output {
    run_in(dir.path(), &reference_tool("mosquitto_passwd"), args, b"")
}

/// Reads a file as text.
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs a prepared command with piped output and no input, killing it after `deadline`.
pub(crate) fn run_command(command: &mut Command, deadline: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    finish(child, &format!("{command:?}"), deadline)
}

/// Collects a child's piped stdout and stderr and its exit status, killing it after `deadline`.
fn finish(mut child: Child, label: &str, deadline: Duration) -> Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut text).ok();
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("polling child") {
            break status;
        }
        if start.elapsed() > deadline {
            child.kill().ok();
            panic!("{label} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}
