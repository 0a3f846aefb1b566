//! Shared harness for the e2e tests: finding binaries and reference tools, free loopback
//! ports, brokers started for one test, and commands run with a deadline.
#![allow(dead_code, reason = "each test module uses its own subset of the harness")]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long any single external command in a test may run before it is killed.
pub(crate) const COMMAND_DEADLINE: Duration = Duration::from_secs(20);

/// Path of one of the workspace's own binaries (`culex`, `culex_pub`, …), next to the test
/// binary in `target/<profile>/`.
///
/// # Panics
/// If the binary was not built: run the tests with `cargo test --workspace`.
pub(crate) fn our_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace` so every binary is built",
        path.display()
    );
    path
}

/// Path of a reference tool from Debian's Mosquitto packages (or python3 with paho-mqtt).
///
/// # Panics
/// If the tool is missing, naming the package to install. CI installs them through
/// `scripts/install-test-deps.sh`, so there a missing tool is a real failure.
pub(crate) fn reference_tool(name: &str) -> PathBuf {
    let package = match name {
        "mosquitto" => "mosquitto",
        "mosquitto_pub" | "mosquitto_sub" | "mosquitto_rr" => "mosquitto-clients",
        "mosquitto_passwd" => "mosquitto",
        other => other,
    };
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let candidate = Path::new(dir).join(name);
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "{name} is not installed: run `bash scripts/install-test-deps.sh` \
         (or `apt-get install {package}`)"
    );
}

/// Asks the OS for a free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("bound socket has an address").port()
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
///
/// # Panics
/// If nothing listens within the command deadline.
pub(crate) fn wait_for_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < COMMAND_DEADLINE, "nothing listens on 127.0.0.1:{port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A broker process (ours or Mosquitto) that lives as long as this value.
pub(crate) struct BrokerProcess {
    /// The loopback port its listener is bound to.
    pub(crate) port: u16,
    child: Child,
    _config_dir: TempDir,
}

impl BrokerProcess {
    /// Starts Debian's `mosquitto` with a listener on a free loopback port, anonymous access,
    /// and `extra_config` appended to the configuration.
    pub(crate) fn mosquitto(extra_config: &str) -> Self {
        Self::start(&reference_tool("mosquitto"), extra_config)
    }

    /// Starts our `culex` with a listener on a free loopback port, anonymous access, and
    /// `extra_config` appended to the configuration.
    pub(crate) fn culex(extra_config: &str) -> Self {
        Self::start(&our_bin("culex"), extra_config)
    }

    fn start(program: &Path, extra_config: &str) -> Self {
        let port = free_port();
        let dir = TempDir::new("broker");
        let config = dir.path().join("broker.conf");
        std::fs::write(
            &config,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra_config}\n"),
        )
        .expect("writing broker config");
        let child = Command::new(program)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", program.display()));
        wait_for_port(port);
        Self { port, child, _config_dir: dir }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished command printed and how it ended.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Everything it wrote to stdout.
    pub(crate) stdout: String,
    /// Everything it wrote to stderr.
    pub(crate) stderr: String,
    /// Its exit status.
    pub(crate) status: ExitStatus,
}

impl Finished {
    /// The exit code, or -1 when killed by a signal.
    pub(crate) fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// Runs `command` with stdin closed, capturing output, killing it after `deadline`.
///
/// # Panics
/// If it cannot start or outlives the deadline.
pub(crate) fn run(command: &mut Command, deadline: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {command:?}: {err}"));
    let mut stdout_pipe = child.stdout.take().expect("stdout is piped");
    let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("polling child") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Finished {
        stdout: stdout_reader.join().expect("stdout reader"),
        stderr: stderr_reader.join().expect("stderr reader"),
        status,
    }
}

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh, uniquely named directory.
    pub(crate) fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join(format!("culex-e2e-{label}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).expect("creating temp dir");
        Self(path)
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
