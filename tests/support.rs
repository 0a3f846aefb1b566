//! Shared harness for the e2e tests: finding binaries and reference tools, free loopback
//! ports, brokers started for one test, and commands run with a deadline.
#![allow(dead_code, reason = "each test module uses its own subset of the harness")]

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    let profile_dir =
        exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps");
    build_workspace_binaries(profile_dir);
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} was not built by `cargo build --workspace --bins`", path.display());
    path
}

/// Builds every binary of the workspace once per test run, into the target directory this
/// test binary was built in: `cargo test` only builds a package's executables when that package
/// has integration tests of its own, and these tests run the binaries of other packages.
fn build_workspace_binaries(profile_dir: &Path) {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let target_dir = profile_dir.parent().expect("profile dir lives in the target dir");
        let mut command = Command::new(cargo);
        command
            .args(["build", "--quiet", "--workspace", "--bins", "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            command.arg("--release");
        }
        let status = command.status().expect("running cargo build for the workspace binaries");
        assert!(status.success(), "cargo build --workspace --bins failed");
    });
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

/// Debian's Mosquitto client `name` (`mosquitto_pub`, `mosquitto_sub`) pointed at
/// 127.0.0.1:`port`; the caller adds the rest of the arguments.
pub(crate) fn reference_client(name: &str, port: u16) -> Command {
    let mut command = Command::new(reference_tool(name));
    command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    command
}

/// The `python3` on PATH that has paho-mqtt (pyenv or a venv may shadow /usr/bin/python3).
///
/// # Panics
/// If no python3 on PATH can import paho.mqtt, naming how to install it.
pub(crate) fn python_with_paho() -> PathBuf {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|dir| dir.join("python3")).find(|candidate| {
            candidate.exists()
                && Command::new(candidate)
                    .args(["-c", "import paho.mqtt"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
        })
    });
    found.clone().unwrap_or_else(|| {
        panic!("no python3 on PATH has paho-mqtt: run `bash scripts/install-test-deps.sh` (or `python3 -m pip install paho-mqtt`)")
    })
}

/// The directory of the Node test client (`tests/node`), with `node_modules` installed.
///
/// # Panics
/// If `npm ci` has not been run there, naming the script that does it.
pub(crate) fn node_test_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    assert!(
        dir.join("node_modules/mqtt").exists(),
        "Node's mqtt package is not installed: run `bash scripts/install-test-deps.sh` \
         (or `cd tests/node && npm ci`)"
    );
    dir
}

/// A loopback port nothing listens on right now (the OS picks it, and it is released at
/// once): for a client that must fail to connect, or a broker that must refuse to start. A
/// broker a test talks to gets its port from [`BrokerProcess`], which cannot race for it.
pub(crate) fn unused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("bound socket has an address").port()
}

/// How many times [`BrokerProcess`] tries ports it picked for Mosquitto before giving up.
const PORT_ATTEMPTS: usize = 5;

/// A broker process (ours or Mosquitto) that lives as long as this value. Its stderr (the
/// log) is collected line by line; see [`BrokerProcess::log_lines`].
///
/// Ports never race: `culex` is given `listener 0 127.0.0.1` (a culex extension: the OS picks
/// the port) and the harness reads each port from its `Opening … listen socket on port N.`
/// line. Mosquitto refuses port 0, so the harness picks free ports for it, and when another
/// process took one in the meantime (`Address already in use`, or an exit before `running`)
/// it starts it again on fresh ones.
pub(crate) struct BrokerProcess {
    /// The loopback port of its first listener.
    pub(crate) port: u16,
    /// The loopback ports of all its listeners, in the order the configuration declares them.
    pub(crate) ports: Vec<u16>,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    _config_dir: TempDir,
}

/// How to start a broker: `program -c <config> args`, under `taskset -c cpus` if given.
struct Launch<'a> {
    program: &'a Path,
    cpus: Option<&'a str>,
    args: &'a [String],
}

/// Why one attempt to start a broker did not give a running broker.
enum NotStarted {
    /// A port the harness picked was taken before the broker bound it: try other ports.
    PortTaken,
    /// Anything else: the message says what, with the log.
    Failed(String),
}

impl BrokerProcess {
    /// Starts Debian's `mosquitto` with a listener on a free loopback port, anonymous access,
    /// and `extra_config` appended to the configuration.
    pub(crate) fn mosquitto(extra_config: &str) -> Self {
        Self::start(&reference_tool("mosquitto"), extra_config)
    }

    /// Starts Debian's `mosquitto` like [`mosquitto`](Self::mosquitto), with a second listener on
    /// the Unix socket `broker.sock` in `dir`; returns the broker and the socket's path once the
    /// socket exists.
    ///
    /// # Panics
    /// If the socket does not appear within the command deadline.
    pub(crate) fn mosquitto_with_unix_socket(dir: &TempDir) -> (Self, String) {
        Self::with_unix_socket(&reference_tool("mosquitto"), dir, "")
    }

    /// Starts `program` (culex or Mosquitto) like
    /// [`mosquitto_with_unix_socket`](Self::mosquitto_with_unix_socket), with `extra_config`.
    ///
    /// # Panics
    /// If the socket does not appear within the command deadline.
    pub(crate) fn with_unix_socket(
        program: &Path,
        dir: &TempDir,
        extra_config: &str,
    ) -> (Self, String) {
        use std::os::unix::fs::PermissionsExt;
        // Mosquitto drops to the mosquitto user and must create its socket here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod socket dir");
        let socket = dir.path().join("broker.sock");
        let broker =
            Self::start(program, &format!("{extra_config}\nlistener 0 {}", socket.display()));
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < COMMAND_DEADLINE,
                "mosquitto did not create {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        (broker, socket.to_string_lossy().into_owned())
    }

    /// Starts our `culex` with a listener on a free loopback port, anonymous access, and
    /// `extra_config` appended to the configuration.
    pub(crate) fn culex(extra_config: &str) -> Self {
        Self::start(&our_bin("culex"), extra_config)
    }

    fn start(program: &Path, extra_config: &str) -> Self {
        Self::start_with(
            program,
            1,
            |ports| {
                format!("listener {} 127.0.0.1\nallow_anonymous true\n{extra_config}\n", ports[0])
            },
            &[],
        )
    }

    /// Starts `program -c <config> <args>` with `config(ports)` written verbatim; it must
    /// declare `listeners` listeners as `listener {ports[i]} 127.0.0.1` (each may be TLS or
    /// WebSockets), in that order, and log at least Mosquitto's default types (the harness waits
    /// for the `running` line). Returns once the broker runs; [`ports`](Self::ports) holds the
    /// real ports. For culex every `ports[i]` is 0 (it picks and logs its own), so `ports` may
    /// only be used in `listener` lines.
    ///
    /// # Panics
    /// If the broker exits or does not run within the command deadline (showing its log).
    pub(crate) fn start_with(
        program: &Path,
        listeners: usize,
        config: impl Fn(&[u16]) -> String,
        args: &[&str],
    ) -> Self {
        if program.file_name().is_some_and(|name| name == "culex") {
            let launch = Launch { program, cpus: None, args: &strings(args) };
            return Self::on_own_ports(&launch, listeners, config);
        }
        Self::start_with_picked_ports(program, listeners, config, args)
    }

    /// Starts our `culex` like [`start_with`](Self::start_with), under `taskset -c cpus`
    /// when `cpus` names CPUs, with `routers auto` (one driver shard per CPU it may use).
    ///
    /// # Panics
    /// As [`start_with`](Self::start_with).
    pub(crate) fn culex_on_cpus(
        cpus: Option<&str>,
        listeners: usize,
        config: impl Fn(&[u16]) -> String,
        args: &[&str],
    ) -> Self {
        let program = our_bin("culex");
        // Under a CPU mask, one router per CPU in it (`routers auto`).
        let config = |ports: &[u16]| match cpus {
            Some(_) => format!("{}\nrouters auto\n", config(ports)),
            None => config(ports),
        };
        Self::on_own_ports(
            &Launch { program: &program, cpus, args: &strings(args) },
            listeners,
            config,
        )
    }

    /// Starts culex (`launch`) on ports it picks itself (`listener 0`).
    fn on_own_ports(
        launch: &Launch<'_>,
        listeners: usize,
        config: impl Fn(&[u16]) -> String,
    ) -> Self {
        let zeros = vec![0; listeners];
        Self::attempt(launch, &config(&zeros), None, listeners).unwrap_or_else(|why| match why {
            NotStarted::PortTaken => unreachable!("culex picks its own ports"),
            NotStarted::Failed(why) => panic!("{why}"),
        })
    }

    /// Starts `program` like [`start_with`](Self::start_with), on ports the harness picks even
    /// for culex: for listeners that name a host (`localhost`) or no address, which culex's
    /// port 0 does not cover. Tries again on fresh ports when one was taken.
    pub(crate) fn start_with_picked_ports(
        program: &Path,
        listeners: usize,
        config: impl Fn(&[u16]) -> String,
        args: &[&str],
    ) -> Self {
        let args = strings(args);
        Self::on_picked_ports(program, listeners, |ports| (config(ports), args.clone()))
    }

    /// Starts `program` again on `ports`, the ports of a broker that stopped (a restart on the
    /// same address); `config` as for [`start_with`](Self::start_with).
    ///
    /// # Panics
    /// As [`start_with`](Self::start_with), and if another process took one of the ports.
    pub(crate) fn restart_on(
        program: &Path,
        ports: &[u16],
        config: impl Fn(&[u16]) -> String,
    ) -> Self {
        let launch = Launch { program, cpus: None, args: &[] };
        Self::attempt(&launch, &config(ports), Some(ports.to_vec()), ports.len()).unwrap_or_else(
            |why| match why {
                NotStarted::PortTaken => panic!("ports {ports:?} were taken after a restart"),
                NotStarted::Failed(why) => panic!("{why}"),
            },
        )
    }

    /// Starts `program -c <config> -p <port>` (local-only mode: `config` declares no listener)
    /// on a port the harness picks, trying again on another port if that one is taken.
    ///
    /// # Panics
    /// As [`start_with`](Self::start_with).
    pub(crate) fn start_with_port_flag(program: &Path, config: &str) -> Self {
        Self::on_picked_ports(program, 1, |ports| {
            (config.to_owned(), vec!["-p".to_owned(), ports[0].to_string()])
        })
    }

    /// Starts the broker `launch(ports)` describes on `listeners` ports the harness picks,
    /// with fresh ones each time one was taken by the time the broker bound it.
    fn on_picked_ports(
        program: &Path,
        listeners: usize,
        launch: impl Fn(&[u16]) -> (String, Vec<String>),
    ) -> Self {
        for _ in 0..PORT_ATTEMPTS {
            let ports: Vec<u16> = (0..listeners).map(|_| unused_port()).collect();
            let (config, args) = launch(&ports);
            let launch = Launch { program, cpus: None, args: &args };
            match Self::attempt(&launch, &config, Some(ports), listeners) {
                Ok(broker) => return broker,
                Err(NotStarted::PortTaken) => {}
                Err(NotStarted::Failed(why)) => panic!("{why}"),
            }
        }
        panic!("{}: every port tried was taken", program.display());
    }

    /// One start: `picked` are the ports the configuration names, or `None` when the broker
    /// picks them (culex with `listener 0`) and its `Opening` lines tell them.
    fn attempt(
        launch: &Launch<'_>,
        config: &str,
        picked: Option<Vec<u16>>,
        listeners: usize,
    ) -> Result<Self, NotStarted> {
        let program = launch.program;
        let dir = TempDir::new("broker");
        let config_path = dir.path().join("broker.conf");
        std::fs::write(&config_path, config).expect("writing broker config");
        let mut command = match launch.cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(cpus).arg(program);
                taskset
            }
            None => Command::new(program),
        };
        let mut child = command
            .arg("-c")
            .arg(&config_path)
            .args(launch.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", program.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("log lock").push(line);
            }
        });
        let mut broker = Self { port: 0, ports: Vec::new(), child, log, _config_dir: dir };
        let start = Instant::now();
        loop {
            let lines = broker.log_lines();
            if picked.is_some() && lines.iter().any(|line| says_port_taken(line)) {
                return Err(NotStarted::PortTaken);
            }
            if lines.iter().any(|line| line.ends_with(" running")) {
                break;
            }
            if let Ok(Some(status)) = broker.child.try_wait() {
                // Its stderr is closed now: the reader ends once it has every line.
                let _ = reader.join();
                let lines = broker.log_lines();
                if picked.is_some() && lines.iter().any(|line| says_port_taken(line)) {
                    return Err(NotStarted::PortTaken);
                }
                return Err(NotStarted::Failed(format!(
                    "{} exited with {status} before running:\n{}",
                    program.display(),
                    lines.join("\n")
                )));
            }
            if start.elapsed() > COMMAND_DEADLINE {
                return Err(NotStarted::Failed(format!(
                    "{} is not running after {COMMAND_DEADLINE:?}:\n{}",
                    program.display(),
                    lines.join("\n")
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        broker.ports = match picked {
            Some(ports) => ports,
            None => broker.log_lines().iter().filter_map(|line| opened_port(line)).collect(),
        };
        if broker.ports.len() != listeners {
            return Err(NotStarted::Failed(format!(
                "{} opened {} listeners, the test expects {listeners}:\n{}",
                program.display(),
                broker.ports.len(),
                broker.log_lines().join("\n")
            )));
        }
        broker.port = broker.ports[0];
        Ok(broker)
    }

    /// The log lines so far, without the `<seconds>: ` timestamp prefix.
    pub(crate) fn log_lines(&self) -> Vec<String> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .map(|line| strip_timestamp(line).to_owned())
            .collect()
    }

    /// Waits until a log line (timestamp stripped) satisfies `wanted`, returning it.
    ///
    /// # Panics
    /// If none does within the command deadline; the message shows the log.
    pub(crate) fn wait_for_log(&self, wanted: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.log_lines().into_iter().find(|line| wanted(line)) {
                return line;
            }
            assert!(
                start.elapsed() < COMMAND_DEADLINE,
                "no expected log line; log so far:\n{}",
                self.log_lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The configuration file the broker was started with (rewrite it, then send SIGHUP).
    pub(crate) fn config_path(&self) -> PathBuf {
        self._config_dir.path().join("broker.conf")
    }

    /// The process id, for signals.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. "TERM", "HUP") with kill(1).
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Sends SIGTERM and waits for the exit status (bounded by the command deadline).
    pub(crate) fn terminate(mut self) -> ExitStatus {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("polling broker") {
                return status;
            }
            assert!(start.elapsed() < COMMAND_DEADLINE, "broker ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Resident memory of process `pid` (`VmRSS` in /proc), in bytes.
pub(crate) fn rss(pid: u32) -> u64 {
    proc_status(pid, "VmRSS:")
}

/// The field of line `name` of `/proc/<pid>/status` (`VmRSS:`, `VmSize:`), in bytes.
pub(crate) fn proc_status(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    let line = status.lines().find(|line| line.starts_with(name)).expect("the status line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("kB");
    kib * 1024
}

/// The peak resident memory of a process ([`rss`]), sampled every 20 ms on a thread until
/// [`PeakRss::stop`].
pub(crate) struct PeakRss {
    running: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakRss {
    /// Starts sampling process `pid`.
    pub(crate) fn start(pid: u32) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let sampling = Arc::clone(&running);
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        Self { running, sampler }
    }

    /// Stops sampling; the highest resident memory seen, in bytes.
    pub(crate) fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        self.sampler.join().expect("the memory sampler")
    }
}

/// Removes Mosquitto's `<epoch seconds>: ` prefix from a log line, if present.
pub(crate) fn strip_timestamp(line: &str) -> &str {
    match line.split_once(": ") {
        Some((stamp, rest)) if !stamp.is_empty() && stamp.bytes().all(|b| b.is_ascii_digit()) => {
            rest
        }
        _ => line,
    }
}

/// The lines of `done`'s stderr without Mosquitto's timestamps.
pub(crate) fn stderr_lines(done: &Finished) -> Vec<String> {
    done.stderr.lines().map(|line| strip_timestamp(line).to_owned()).collect()
}

/// Writes each of `configs` to a file in a new temporary directory and runs `culex -c` and
/// `mosquitto -c` on it: culex must refuse it with exit status 3 and the same stderr lines as
/// Mosquitto (timestamps aside). Returns Mosquitto's exit status for each.
pub(crate) fn refused_like_mosquitto(label: &str, configs: &[&str]) -> Vec<i32> {
    let dir = TempDir::new(label);
    let refuse = |program: PathBuf, path: &Path| {
        run(Command::new(program).arg("-c").arg(path), COMMAND_DEADLINE)
    };
    let mut codes = Vec::new();
    for (n, text) in configs.iter().enumerate() {
        let path = dir.join(&format!("bad{n}.conf"));
        std::fs::write(&path, text).expect("writing test config");
        let ours = refuse(our_bin("culex"), &path);
        let theirs = refuse(reference_tool("mosquitto"), &path);
        assert_eq!(ours.code(), 3, "{text:?}: {}", ours.stderr);
        assert_eq!(stderr_lines(&ours), stderr_lines(&theirs), "{text:?}");
        codes.push(theirs.code());
    }
    codes
}

/// Whether a broker's log `line` says a port it was to listen on is taken: an MQTT listener's
/// `Error: Address already in use`, or Mosquitto's websockets listener's `Error: Unable to
/// create websockets listener on port N.` (libwebsockets gives no reason).
fn says_port_taken(line: &str) -> bool {
    line.ends_with("Error: Address already in use")
        || line.contains("Error: Unable to create websockets listener on port")
}

/// The port of an `Opening ipv4|ipv6|websockets listen socket on port N.` log line.
/// The timestamp before it may have any format (`log_timestamp_format`).
fn opened_port(line: &str) -> Option<u16> {
    let rest = &line[line.find("Opening ")? + "Opening ".len()..];
    let (_, port) = rest.split_once(" listen socket on port ")?;
    port.strip_suffix('.')?.parse().ok()
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long-running client process (e.g. `mosquitto_sub`) whose stdout is collected line by
/// line; killed on drop.
pub(crate) struct Background {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Background {
    /// Spawns `command` with stdout collected and stderr inherited.
    pub(crate) fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {command:?}: {err}"));
        let out = child.stdout.take().expect("stdout is piped");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("stdout lock").push(line);
            }
        });
        Self { child, stdout }
    }

    /// Lines printed so far.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lock").clone()
    }

    /// The process id, to signal it.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits until at least `count` lines were printed, returning them.
    ///
    /// # Panics
    /// After the command deadline, showing what was printed.
    pub(crate) fn wait_for_lines(&self, count: usize) -> Vec<String> {
        self.wait_until(&format!("{count} lines"), |lines| lines.len() >= count)
    }

    /// Waits until the lines printed so far satisfy `done`, returning them.
    ///
    /// # Panics
    /// After the command deadline, showing `expected` and what was printed.
    pub(crate) fn wait_until(
        &self,
        expected: &str,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let start = Instant::now();
        loop {
            let lines = self.lines();
            if done(&lines) {
                return lines;
            }
            assert!(start.elapsed() < COMMAND_DEADLINE, "expected {expected}, got {lines:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit by itself, returning its status.
    pub(crate) fn wait(mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("polling child") {
                return status;
            }
            assert!(
                start.elapsed() < COMMAND_DEADLINE,
                "process did not exit; printed {:?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Background {
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
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {command:?}: {err}"));
    finish(child, &format!("{command:?}"), deadline)
}

/// Collects the output of `child` (stdout and stderr piped) until it exits, killing it after
/// `deadline`. Output is read as bytes and kept lossily, so binary output cannot break a
/// comparison.
///
/// # Panics
/// If it outlives the deadline; `what` names it.
fn finish(mut child: Child, what: &str, deadline: Duration) -> Finished {
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));
    let status = wait_with_deadline(&mut child, what, deadline);
    Finished {
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        status,
    }
}

/// Reads `pipe` to its end on another thread, as text (invalid UTF-8 replaced).
pub(crate) fn read_in_background(
    mut pipe: impl Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` to exit, killing it after `deadline`.
///
/// # Panics
/// If it outlives the deadline; `what` names it.
pub(crate) fn wait_with_deadline(child: &mut Child, what: &str, deadline: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("polling child") {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `program args` in `dir` with `stdin` written to it and then closed, capturing output,
/// within the command deadline. The program may exit without reading all of its input.
///
/// # Panics
/// If it cannot start or outlives the deadline.
pub(crate) fn run_in(dir: &Path, program: &Path, args: &[&str], stdin: &[u8]) -> Finished {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {}: {err}", program.display()));
    let mut input = child.stdin.take().expect("stdin is piped");
    let _ = input.write_all(stdin);
    drop(input);
    finish(child, &format!("{} {args:?}", program.display()), COMMAND_DEADLINE)
}

/// Owned copies of `args`, as commands and [`run_tool`] take them.
pub(crate) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

/// Runs a client tool (ours or Mosquitto's) with `args`, `stdin` fed to it (or stdin closed),
/// `config_home` as its config dir and home, and TZ=UTC, within the command deadline.
///
/// # Panics
/// If it cannot start or outlives the deadline.
pub(crate) fn run_tool(
    program: &Path,
    args: &[String],
    stdin: Option<&[u8]>,
    config_home: &Path,
) -> Finished {
    let mut child = Command::new(program)
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env("HOME", config_home)
        .env("TZ", "UTC")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {}: {err}", program.display()));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input).expect("writing stdin");
    }
    finish(child, &format!("{} {args:?}", program.display()), COMMAND_DEADLINE)
}

/// Replaces `prefix` + a run of characters accepted by `keep` with `prefix` + `<X>`.
pub(crate) fn mask(text: &str, prefix: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find(prefix) {
        let after = index + prefix.len();
        out.push_str(&rest[..after]);
        let tail = &rest[after..];
        let len = tail.find(|c: char| !keep(c)).unwrap_or(tail.len());
        if len > 0 {
            out.push_str("<X>");
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// What a golden comparison of our tool with Mosquitto's looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compare {
    /// stdout, stderr and exit status.
    All,
    /// stderr and exit status; stdout only "both empty or both not" (our help text is our own).
    NotStdoutText,
    /// Everything, but stdout's lines in any order (where Mosquitto's own order is a race).
    StdoutLinesAnyOrder,
}

/// How `mine` differs from `reference` (exit status, then stderr and stdout after
/// `normalise`, stdout as `compare` says), described under `label`; `None` when they agree.
pub(crate) fn difference(
    label: &str,
    mine: &Finished,
    reference: &Finished,
    compare: Compare,
    normalise: impl Fn(&str) -> String,
) -> Option<String> {
    let sorted_lines = |text: &str| {
        let mut lines: Vec<String> = normalise(text).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let same_stdout = match compare {
        Compare::All => normalise(&mine.stdout) == normalise(&reference.stdout),
        Compare::NotStdoutText => mine.stdout.is_empty() == reference.stdout.is_empty(),
        Compare::StdoutLinesAnyOrder => {
            sorted_lines(&mine.stdout) == sorted_lines(&reference.stdout)
        }
    };
    let same = same_stdout
        && normalise(&mine.stderr) == normalise(&reference.stderr)
        && mine.code() == reference.code();
    (!same).then(|| {
        format!(
            "{label}\n  ours:      {} {:?} {:?}\n  mosquitto: {} {:?} {:?}",
            mine.code(),
            mine.stdout,
            mine.stderr,
            reference.code(),
            reference.stdout,
            reference.stderr
        )
    })
}

/// Runs our `ours` and Mosquitto's `theirs` with the same `args`, `stdin` and config dir and
/// describes any difference at all in their output or exit status.
pub(crate) fn compare_tools(
    (ours, theirs): (&str, &str),
    args: &[String],
    stdin: Option<&[u8]>,
    config_home: &Path,
) -> Option<String> {
    let mine = run_tool(&our_bin(ours), args, stdin, config_home);
    let reference = run_tool(&reference_tool(theirs), args, stdin, config_home);
    difference(&format!("{args:?}"), &mine, &reference, Compare::All, str::to_owned)
}

/// Fails listing `problems`, if there are any.
pub(crate) fn assert_no_problems(problems: &[String]) {
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
}

/// Where one row of a golden table runs.
pub(crate) struct RowContext<'a> {
    /// The table's label (also the temp dir's).
    pub(crate) label: &'a str,
    /// The row's number in its table.
    pub(crate) index: usize,
    /// The broker's port.
    pub(crate) port: u16,
    /// The row's own config dir and home.
    pub(crate) home: &'a Path,
}

/// A row of a golden table: one invocation run with our tool and with Mosquitto's.
pub(crate) trait GoldenRow {
    /// The options file both tools read (written as Mosquitto's, which ours falls back to).
    fn rc_file(&self, context: &RowContext<'_>) -> Option<String>;

    /// Prepares the run `run` ("ours", then "mosq") and returns its arguments.
    fn prepare(&self, context: &RowContext<'_>, run: &str) -> Vec<String>;

    /// What both runs read on stdin (closed when `None`).
    fn stdin(&self) -> Option<&[u8]>;

    /// What the comparison looks at.
    fn compare(&self) -> Compare;
}

/// Runs every row with our `ours` and Mosquitto's `theirs`, each row in its own config dir,
/// and returns a description of each difference after `normalise`.
pub(crate) fn check_rows<R: GoldenRow>(
    (ours, theirs): (&str, &str),
    label: &str,
    rows: &[R],
    port: u16,
    normalise: fn(&str) -> String,
) -> Vec<String> {
    let (ours, theirs) = (our_bin(ours), reference_tool(theirs));
    let work = TempDir::new(label);
    let mut problems = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let home = work.path().join(format!("home-{index}"));
        std::fs::create_dir_all(&home).expect("creating config home");
        let context = RowContext { label, index, port, home: &home };
        if let Some(rc) = row.rc_file(&context) {
            let name = theirs.file_name().expect("a tool has a file name");
            std::fs::write(home.join(name), rc).expect("writing rc file");
        }
        let mine = run_tool(&ours, &row.prepare(&context, "ours"), row.stdin(), &home);
        let args = row.prepare(&context, "mosq");
        let reference = run_tool(&theirs, &args, row.stdin(), &home);
        let label = format!("row {index} {args:?}");
        problems.extend(difference(&label, &mine, &reference, row.compare(), normalise));
    }
    problems
}

/// Mosquitto started as root drops to its own user, so its files must be world-readable.
pub(crate) fn make_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

/// Certificates made with the openssl CLI for one TLS test, all readable by the broker: a CA
/// (`ca.crt`), an unrelated CA (`other.crt`), a server certificate for `localhost` signed by the
/// CA (`server.crt`, key `server.key`), an expired one (`expired.crt`) and a client certificate
/// (`client.crt`, key `client.key`).
pub(crate) struct Certs {
    dir: TempDir,
}

impl Certs {
    /// The path of one of the files.
    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn openssl(&self, args: &[&str]) {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is needed for the TLS tests: apt-get install openssl");
        assert!(status.success(), "openssl {args:?} failed");
    }

    /// Makes every certificate in a fresh temp dir.
    pub(crate) fn new() -> Self {
        let certs = Self { dir: TempDir::new("tls") };
        make_readable(certs.dir.path());
        for (name, subject) in [("ca", "/CN=Culex Test CA"), ("other", "/CN=Other CA")] {
            let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
            let new_key = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key];
            certs.openssl(
                &[&new_key[..], &["-out", &crt, "-days", "30", "-subj", subject]].concat(),
            );
        }
        for (name, subject) in [("server", "/CN=localhost"), ("client", "/CN=client")] {
            let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
            let new_key = ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key];
            certs.openssl(&[&new_key[..], &["-out", &csr, "-subj", subject]].concat());
        }
        std::fs::write(certs.dir.path().join("ext"), "subjectAltName=DNS:localhost\n")
            .expect("writing ext file");
        std::fs::write(certs.dir.path().join("client-ext"), "basicConstraints=CA:FALSE\n")
            .expect("writing client ext file");
        // Signed by the CA: request, certificate, validity in days, extensions.
        for (csr, crt, days, ext) in [
            ("server.csr", "server.crt", "30", "ext"),
            ("server.csr", "expired.crt", "-1", "ext"),
            ("client.csr", "client.crt", "30", "client-ext"),
        ] {
            let sign = ["x509", "-req", "-in", csr, "-CA", "ca.crt", "-CAkey", "ca.key"];
            let out = ["-CAcreateserial", "-out", crt, "-days", days, "-extfile", ext];
            certs.openssl(&[&sign[..], &out].concat());
        }
        for name in [
            "ca.crt",
            "server.crt",
            "server.key",
            "expired.crt",
            "client.key",
            "client.crt",
            "other.crt",
        ] {
            make_readable(&certs.dir.path().join(name));
        }
        certs
    }

    /// Writes two certificate revocation lists signed by the CA: `empty.crl` (nothing revoked)
    /// and `revoked.crl` (`client.crt` revoked).
    pub(crate) fn revocation_lists(&self) {
        std::fs::write(self.dir.path().join("index.txt"), "").expect("CA database");
        std::fs::write(self.dir.path().join("crlnumber"), "01\n").expect("CRL number");
        std::fs::write(
            self.dir.path().join("ca.cnf"),
            "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\n\
             default_md=sha256\ndefault_crl_days=30\n",
        )
        .expect("CA configuration");
        let ca = ["ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt"];
        self.openssl(&[&ca[..], &["-gencrl", "-out", "empty.crl"]].concat());
        self.openssl(&[&ca[..], &["-revoke", "client.crt"]].concat());
        self.openssl(&[&ca[..], &["-gencrl", "-out", "revoked.crl"]].concat());
        for name in ["empty.crl", "revoked.crl"] {
            make_readable(&self.dir.path().join(name));
        }
    }

    /// Starts Debian's `mosquitto` with, besides its plain listener, a TLS listener using
    /// `server_cert` and `extra` configuration; returns it and the TLS port.
    pub(crate) fn broker(&self, server_cert: &str, extra: &str) -> (BrokerProcess, u16) {
        let broker = BrokerProcess::start_with(
            &reference_tool("mosquitto"),
            2,
            |ports| {
                format!(
                    "listener {} 127.0.0.1\nallow_anonymous true\n\
                     listener {} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n{extra}\n",
                    ports[0],
                    ports[1],
                    self.path("ca.crt"),
                    self.path(server_cert),
                    self.path("server.key"),
                )
            },
            &[],
        );
        let tls_port = broker.ports[1];
        (broker, tls_port)
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
        let path =
            std::env::temp_dir().join(format!("culex-e2e-{label}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).expect("creating temp dir");
        // Brokers started as root (these tests run as root on CI) switch to their own
        // account (`culex`, `mosquitto`), which writes persistence, pid and socket files here.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .expect("chmod temp dir");
        Self(path)
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in the directory.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
