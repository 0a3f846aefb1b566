//! The built-in dashboard of an `http_api` listener, used in headless Chromium as a person
//! would (issue 14): log in, watch the overview's chart move while `culex_pub -l` publishes,
//! see `culex_sub` appear in the clients table and disconnect it from the page, browse the
//! topic tree and retained messages, publish from the "try it" panel to `culex_sub`, and a
//! phone-size overview. A JavaScript error on any page (the dashboard lists uncaught errors
//! and rejections in `#errors`) fails the test. Screenshots of every page go to
//! `target/dashboard-screenshots/`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;

use crate::browser::Browser;
use crate::support::{
    Background, BrokerProcess, COMMAND_DEADLINE, TempDir, make_readable, our_bin, run,
};

/// The whole scenario's bound (the browser's start is the slow part under load).
const SCENARIO_DEADLINE: Duration = Duration::from_secs(240);

/// The dashboard's user: in the password file, and an admin of the HTTP API (who may
/// disconnect clients).
const USER: (&str, &str) = ("operator", "s3cret-dashboard");

/// The broker: MQTT, WebSockets (for "try it") and the HTTP API with the dashboard; `$SYS`
/// every second so that the chart moves quickly. MQTT clients may be anonymous; the API
/// needs [`USER`]'s password.
fn broker(files: &TempDir) -> BrokerProcess {
    let passwords = files.join("passwords");
    let made = run(
        Command::new(our_bin("culex_passwd"))
            .arg("-c")
            .arg("-b")
            .arg(&passwords)
            .args([USER.0, USER.1]),
        COMMAND_DEADLINE,
    );
    assert_eq!(made.code(), 0, "culex_passwd: {}", made.stderr);
    make_readable(&passwords);
    BrokerProcess::start_with(
        &our_bin("culex"),
        3,
        |ports| {
            format!(
                "per_listener_settings true\nsys_interval 1\n\
                 listener {} 127.0.0.1\nallow_anonymous true\n\
                 listener {} 127.0.0.1\nprotocol websockets\nallow_anonymous true\n\
                 password_file {}\n\
                 listener {} 127.0.0.1\nprotocol http_api\npassword_file {}\n\
                 http_api_admin {}\n",
                ports[0],
                ports[1],
                passwords.display(),
                ports[2],
                passwords.display(),
                USER.0
            )
        },
        &[],
    )
}

/// `target/dashboard-screenshots/` (the test binary lives in `target/<profile>/deps/`).
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let target = exe.ancestors().nth(3).expect("test binary lives in target/<profile>/deps");
    target.join("dashboard-screenshots")
}

#[test]
fn dashboard_in_headless_chromium() {
    let files = TempDir::new("dashboard");
    let broker = broker(&files);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(SCENARIO_DEADLINE, scenario(&broker))
            .await
            .expect("the dashboard scenario finishes within its deadline");
    });
}

async fn scenario(broker: &BrokerProcess) {
    let (mqtt, http) = (broker.ports[0], broker.ports[2]);
    let shots = screenshot_dir();
    let browser = Browser::start(1280, 900).await;
    let base = format!("http://127.0.0.1:{http}");

    log_in(&browser, &base).await;
    browser.screenshot(&shots, "overview-start").await;

    chart_moves_while_publishing(&browser, mqtt).await;
    browser.screenshot(&shots, "overview").await;
    assert_no_errors(&browser, "overview").await;

    disconnect_from_clients_page(&browser, mqtt, &shots).await;
    assert_no_errors(&browser, "clients").await;

    topics_and_retained(&browser, mqtt, &shots).await;
    assert_no_errors(&browser, "topics").await;

    publish_from_try_it(&browser, mqtt, &shots).await;
    assert_no_errors(&browser, "try it").await;

    phone_overview(&browser, &shots).await;
    assert_no_errors(&browser, "phone overview").await;
}

/// Opens the dashboard (the login page first: the page itself needs no credentials), is
/// refused with a wrong password, and logs in.
async fn log_in(browser: &Browser, base: &str) {
    browser.client.goto(&format!("{base}/")).await.expect("opening the dashboard");
    browser
        .wait_for("the login page", "return !document.getElementById('page-login').hidden")
        .await;
    type_into(browser, "#login-username", USER.0).await;
    type_into(browser, "#login-password", "wrong").await;
    click(browser, "#login-submit").await;
    browser
        .wait_for(
            "the refusal of a wrong password",
            "return document.getElementById('login-status').textContent === 'Wrong username or password.'
                 && !document.getElementById('page-login').hidden",
        )
        .await;
    browser.screenshot(&screenshot_dir(), "login").await;
    assert_no_errors(browser, "login").await;
    type_into(browser, "#login-password", USER.1).await;
    click(browser, "#login-submit").await;
    let version = browser
        .wait_for(
            "the overview with the broker's version",
            "const v = document.getElementById('ov-version').textContent;
             return !document.getElementById('page-overview').hidden && /^\\d+\\.\\d+/.test(v) && v;",
        )
        .await;
    assert!(version.as_str().is_some_and(|v| !v.is_empty()), "{version}");
    let listeners = browser
        .wait_for(
            "the listeners table",
            "return document.querySelectorAll('#listeners tbody tr').length",
        )
        .await;
    assert_eq!(listeners, 3, "one row per listener");
}

/// Feeds `culex_pub -l` a line every 20 ms, with a subscriber, until the chart's "in" series
/// shows a rate above 0 at three points and its "out" series at one.
async fn chart_moves_while_publishing(browser: &Browser, mqtt: u16) {
    let _subscriber = subscriber(mqtt, &["-t", "load/#"]);
    let mut publisher = Command::new(our_bin("culex_pub"))
        .args(["-p", &mqtt.to_string(), "-t", "load/lines", "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting culex_pub -l");
    let mut input = publisher.stdin.take().expect("stdin is piped");
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let feeder = std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            if writeln!(input, "reading").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let rates = browser
        .wait_for(
            "message rates above 0 in the chart",
            "const chart = Chart.getChart(document.getElementById('rate-chart'));
             const [rin, rout] = chart ? chart.data.datasets.map((set) => set.data) : [[], []];
             return rin.filter((v) => v > 0).length >= 3 && rout.some((v) => v > 0) && rin;",
        )
        .await;
    stop.store(true, Ordering::Relaxed);
    feeder.join().expect("the feeder thread");
    // Its stdin is closed now: culex_pub -l ends at end of input.
    let status =
        crate::support::wait_with_deadline(&mut publisher, "culex_pub -l", COMMAND_DEADLINE);
    assert!(status.success(), "culex_pub -l: {status}");
    assert!(rates.as_array().is_some_and(|points| !points.is_empty()), "{rates}");
}

/// A `culex_sub` appears in the clients table; its details list its subscription; the
/// page's Disconnect makes the broker send it DISCONNECT 0x98 and it exits.
async fn disconnect_from_clients_page(browser: &Browser, mqtt: u16, shots: &std::path::Path) {
    let watched =
        subscriber(mqtt, &["-V", "5", "-d", "-i", "dash-watched", "-t", "sensors/+/temp"]);
    click(browser, "a[href='#clients']").await;
    browser
        .wait_for(
            "dash-watched in the clients table",
            "return document.querySelector('#clients tbody tr[data-id=\"dash-watched\"]') !== null",
        )
        .await;
    click(browser, "#clients tbody tr[data-id='dash-watched']").await;
    let subscriptions = browser
        .wait_for(
            "the client's details",
            "return !document.getElementById('client-details').hidden
                 && document.getElementById('cd-id').textContent === 'dash-watched'
                 && document.getElementById('cd-subscriptions').textContent;",
        )
        .await;
    assert!(
        subscriptions.as_str().is_some_and(|text| text.contains("sensors/+/temp")),
        "{subscriptions}"
    );
    browser.screenshot(shots, "clients").await;
    click(browser, "#cd-disconnect").await;
    watched.wait_until("DISCONNECT 0x98 (152) from the broker", |lines| {
        lines.iter().any(|line| line.contains("DISCONNECT (152)"))
    });
    let status = watched.wait();
    assert!(status.success(), "culex_sub after the broker's DISCONNECT: {status}");
    browser
        .wait_for(
            "dash-watched gone from the table",
            "return document.querySelector('#clients tbody tr[data-id=\"dash-watched\"]') === null
                 && document.getElementById('clients-action').textContent;",
        )
        .await;
}

/// The topic tree counts a subscriber's filters; the retained browser shows a retained
/// message's topic and payload.
async fn topics_and_retained(browser: &Browser, mqtt: u16, shots: &std::path::Path) {
    let port = mqtt.to_string();
    let _subscriber =
        subscriber(mqtt, &["-t", "sensors/+/temp", "-t", "sensors/#", "-t", "home/kitchen/light"]);
    let published = run(
        Command::new(our_bin("culex_pub")).args([
            "-p",
            &port,
            "-r",
            "-q",
            "1",
            "-t",
            "sensors/kitchen/temp",
            "-m",
            "21.5",
        ]),
        COMMAND_DEADLINE,
    );
    assert_eq!(published.code(), 0, "{}", published.stderr);
    click(browser, "a[href='#topics']").await;
    let tree = browser
        .wait_for(
            "the topic tree with the subscriber's filters",
            "const items = [...document.querySelectorAll('#topic-tree > li')];
             const sensors = items.find((li) => li.querySelector('.level').textContent === 'sensors');
             return sensors && sensors.querySelector('.count').textContent === '2'
                 && document.getElementById('topic-tree').textContent;",
        )
        .await;
    assert!(tree.as_str().is_some_and(|text| text.contains("kitchen")), "{tree}");
    // `$SYS` fills more than the first page of 50: the pager moves on, and the prefix search
    // finds the message.
    browser
        .wait_for(
            "more than one page of retained messages",
            "return /^page 1 of [2-9]/.test(document.querySelector('#retained-pager span').textContent)",
        )
        .await;
    click(browser, "#retained-pager button:last-child").await;
    browser
        .wait_for(
            "the second page of retained messages",
            "return document.querySelector('#retained-pager span').textContent.startsWith('page 2 of')
                 && document.querySelectorAll('#retained tbody tr').length > 0",
        )
        .await;
    type_into(browser, "#retained-prefix", "sensors/").await;
    let row = browser
        .wait_for(
            "the retained message",
            "const row = [...document.querySelectorAll('#retained tbody tr')]
                 .find((tr) => tr.cells[0].textContent === 'sensors/kitchen/temp');
             return row && [...row.cells].map((td) => td.textContent);",
        )
        .await;
    assert_eq!(row, serde_json::json!(["sensors/kitchen/temp", "4", "1", "21.5"]));
    browser.screenshot(shots, "topics").await;
}

/// "Try it" connects over the WebSocket listener and publishes; `culex_sub` receives it.
async fn publish_from_try_it(browser: &Browser, mqtt: u16, shots: &std::path::Path) {
    let receiver = subscriber(mqtt, &["-t", "culex/dashboard", "-C", "1", "-v"]);
    click(browser, "a[href='#try']").await;
    let url = browser
        .wait_for("the WebSocket URL", "return document.getElementById('try-url').value")
        .await;
    assert!(url.as_str().is_some_and(|url| url.starts_with("ws://127.0.0.1:")), "{url}");
    click(browser, "#try-connect").await;
    browser
        .wait_for(
            "the panel connected",
            "return document.getElementById('try-state').textContent.startsWith('connected')",
        )
        .await;
    click(browser, "#try-subscribe").await;
    type_into(browser, "#try-payload", "published from chromium").await;
    click(browser, "#try-publish").await;
    let lines = receiver.wait_for_lines(1);
    assert_eq!(lines, ["culex/dashboard published from chromium"]);
    browser
        .wait_for(
            "the panel's own subscription receiving it",
            "return document.getElementById('try-log').textContent
                 .includes('culex/dashboard: published from chromium')",
        )
        .await;
    browser.screenshot(shots, "try-it").await;
    assert!(receiver.wait().success(), "culex_sub -C 1");
}

/// A phone-size window: the overview fits the width (no sideways scrolling) and shows its
/// navigation and tiles.
async fn phone_overview(browser: &Browser, shots: &std::path::Path) {
    browser.client.set_window_size(390, 844).await.expect("a phone-size window");
    click(browser, "a[href='#overview']").await;
    let fits = browser
        .wait_for(
            "the overview laid out for a phone",
            "return window.innerWidth <= 420
                 && !document.getElementById('page-overview').hidden
                 && document.documentElement.scrollWidth <= window.innerWidth
                 && getComputedStyle(document.querySelector('.tiles')).gridTemplateColumns.split(' ').length === 2
                 && document.getElementById('ov-uptime').textContent !== '…';",
        )
        .await;
    assert_eq!(fits, Value::Bool(true));
    browser.screenshot(shots, "phone-overview").await;
}

/// `culex_sub -p <mqtt> args…`, running until dropped.
fn subscriber(mqtt: u16, args: &[&str]) -> Background {
    Background::spawn(Command::new(our_bin("culex_sub")).arg("-p").arg(mqtt.to_string()).args(args))
}

/// Replaces the text of the input `css` selects with `text`, typed.
async fn type_into(browser: &Browser, css: &str, text: &str) {
    let input =
        browser.client.find(Locator::Css(css)).await.unwrap_or_else(|err| panic!("{css}: {err}"));
    input.clear().await.unwrap_or_else(|err| panic!("clearing {css}: {err}"));
    input.send_keys(text).await.unwrap_or_else(|err| panic!("typing into {css}: {err}"));
}

/// Clicks the element `css` selects.
async fn click(browser: &Browser, css: &str) {
    let element = browser
        .client
        .wait()
        .at_most(crate::browser::BROWSER_DEADLINE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("finding {css}: {err}"));
    element.click().await.unwrap_or_else(|err| panic!("clicking {css}: {err}"));
}

/// Fails with the dashboard's error bar when a script error or rejection happened.
async fn assert_no_errors(browser: &Browser, page: &str) {
    let errors = browser
        .eval("return [...document.querySelectorAll('#errors li')].map((li) => li.textContent);")
        .await;
    assert_eq!(errors, Value::Array(Vec::new()), "JavaScript errors on the {page} page");
}
