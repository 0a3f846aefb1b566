//! Headless Chromium for the dashboard tests, driven over WebDriver.
//!
//! The test starts Debian's `chromium` itself (own temporary profile, own process group, a
//! DevTools port the browser picks) and then `chromedriver` on a port it picks, attached to
//! that browser through `debuggerAddress`; both are killed by their process ids when the
//! [`Browser`] is dropped. WebDriver commands go through `fantoccini`, a maintained async
//! WebDriver client (on hyper, which the broker's HTTP API uses too), rather than raw JSON
//! over HTTP written here. Every wait has a deadline.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

use crate::support::TempDir;

/// How long the browser and its driver may take to start, and a page to show what a test waits for.
pub(crate) const BROWSER_DEADLINE: Duration = Duration::from_secs(40);

/// The Chromium binary itself (Debian's `/usr/bin/chromium` is a shell wrapper around it).
const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// A headless Chromium and the chromedriver attached to it, with one WebDriver session.
pub(crate) struct Browser {
    /// The WebDriver session.
    pub(crate) client: Client,
    chromium: Child,
    chromedriver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts Chromium (window `width`×`height`) and chromedriver, and opens a session.
    ///
    /// # Panics
    /// If `chromium` or `chromedriver` is missing (naming the Debian packages to install), or
    /// either does not start within [`BROWSER_DEADLINE`].
    pub(crate) async fn start(width: u32, height: u32) -> Self {
        let chromedriver_path = chromedriver();
        let profile = TempDir::new("chromium");
        let chromium = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                // The tests run as root on CI, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-extensions",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the renderers and helpers it forks die with it on drop.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("starting {CHROMIUM}: {err}"));
        let mut chromedriver = Command::new(&chromedriver_path)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", chromedriver_path.display()));
        let driver_port = chromedriver_port(&mut chromedriver);
        let devtools_port = devtools_port(profile.path()).await;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "debuggerAddress": format!("127.0.0.1:{devtools_port}") }),
        );
        let client = tokio::time::timeout(
            BROWSER_DEADLINE,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{driver_port}")),
        )
        .await
        .expect("a WebDriver session within the deadline")
        .expect("a WebDriver session from chromedriver");
        Self { client, chromium, chromedriver, _profile: profile }
    }

    /// Evaluates `script` (a function body: `return …`) in the page until it returns something
    /// other than `null`, `false`, `0` or `""`, and returns that.
    ///
    /// # Panics
    /// After [`BROWSER_DEADLINE`], naming `what` and the last value.
    pub(crate) async fn wait_for(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let value = self.client.execute(script, Vec::new()).await.expect("running a script");
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(number) => number.as_f64() != Some(0.0),
                Value::String(text) => !text.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(start.elapsed() < BROWSER_DEADLINE, "waited for {what}; last value {value}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Evaluates `script` once and returns its value.
    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.expect("running a script")
    }

    /// Saves a PNG of the window as `dir/name.png`.
    pub(crate) async fn screenshot(&self, dir: &Path, name: &str) {
        let png = self.client.screenshot().await.expect("taking a screenshot");
        std::fs::create_dir_all(dir).expect("creating the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("writing a screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        // The browser and its helpers: the group it leads, whose id is the browser's id.
        let group = format!("-{}", self.chromium.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.chromium.kill();
        let _ = self.chromium.wait();
    }
}

/// The chromedriver binary, or a panic that says what to install.
fn chromedriver() -> PathBuf {
    let installed = Path::new(CHROMIUM).exists();
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    match driver {
        Some(driver) if installed => driver,
        _ => panic!(
            "the dashboard tests need Debian's chromium and chromium-driver: \
             apt-get install chromium chromium-driver (scripts/install-test-deps.sh does)"
        ),
    }
}

/// Reads chromedriver's `… started successfully on port N.` line.
fn chromedriver_port(chromedriver: &mut Child) -> u16 {
    let stdout = chromedriver.stdout.take().expect("stdout is piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some((_, port)) = line.split_once("started successfully on port ") {
                let _ = sender.send(port.trim_end_matches('.').parse::<u16>().ok());
            }
        }
    });
    receiver
        .recv_timeout(BROWSER_DEADLINE)
        .expect("chromedriver says which port it listens on")
        .expect("chromedriver's port is a number")
}

/// The DevTools port Chromium picked, from the `DevToolsActivePort` file in its profile.
async fn devtools_port(profile: &Path) -> u16 {
    let file = profile.join("DevToolsActivePort");
    let start = Instant::now();
    loop {
        let port = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| text.lines().next().and_then(|line| line.parse().ok()));
        if let Some(port) = port {
            return port;
        }
        assert!(start.elapsed() < BROWSER_DEADLINE, "chromium wrote no {}", file.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
