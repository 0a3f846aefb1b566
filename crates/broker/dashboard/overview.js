// The overview page: version, uptime, counts and listeners, and a live chart of PUBLISH
// messages in and out per second, from polling /api/v1/systree.

import { Poller, cell, getJson, getText } from "./api.js";

const SYS = "$SYS/broker/";
/** How often the page asks the broker. */
const POLL_MS = 2000;
/** The chart's window: this many points of POLL_MS each (five minutes). */
const POINTS = 150;

let chart = null;
/** The counters when they last changed: `$SYS` values move once per sys_interval only. */
let last = null;
/** The current rates, held between two changes of the counters. */
let rates = { in: 0, out: 0 };
/** The shortest time seen between two changes: the broker's sys_interval, roughly. */
let interval = 10000;

function formatUptime(seconds) {
  const days = Math.floor(seconds / 86400);
  const clock = new Date((seconds % 86400) * 1000).toISOString().slice(11, 19);
  return days > 0 ? `${days}d ${clock}` : clock;
}

function makeChart() {
  const canvas = document.getElementById("rate-chart");
  return new Chart(canvas, {
    type: "line",
    data: {
      labels: [],
      datasets: [
        { label: "in /s", data: [], borderColor: "#1f6feb", backgroundColor: "#1f6feb33", fill: true, tension: 0.2, pointRadius: 0 },
        { label: "out /s", data: [], borderColor: "#2e7d32", backgroundColor: "#2e7d3233", fill: true, tension: 0.2, pointRadius: 0 },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 6 } } },
    },
  });
}

/** Turns one systree sample into the rates to plot now. */
function sample(received, sent, now) {
  if (last === null) {
    last = { received, sent, at: now };
  } else if (received !== last.received || sent !== last.sent) {
    const elapsed = now - last.at;
    interval = Math.max(POLL_MS, Math.min(interval, elapsed));
    const seconds = elapsed / 1000;
    rates = { in: Math.max(0, (received - last.received) / seconds), out: Math.max(0, (sent - last.sent) / seconds) };
    last = { received, sent, at: now };
  } else if (now - last.at > 1.5 * interval + POLL_MS) {
    // No change for longer than the broker's update period: no traffic.
    rates = { in: 0, out: 0 };
  }
  return rates;
}

function plot(point) {
  const { labels, datasets } = chart.data;
  labels.push(new Date().toLocaleTimeString());
  datasets[0].data.push(Math.round(point.in * 10) / 10);
  datasets[1].data.push(Math.round(point.out * 10) / 10);
  if (labels.length > POINTS) {
    labels.shift();
    datasets.forEach((set) => set.data.shift());
  }
  chart.update();
}

async function refreshCounters() {
  const sys = await getJson("/api/v1/systree");
  document.getElementById("ov-uptime").textContent = formatUptime(sys[`${SYS}uptime`] ?? 0);
  document.getElementById("ov-clients").textContent = sys[`${SYS}clients/connected`] ?? "—";
  document.getElementById("ov-subscriptions").textContent = sys[`${SYS}subscriptions/count`] ?? "—";
  document.getElementById("ov-retained").textContent = sys[`${SYS}retained messages/count`] ?? "—";
  plot(sample(sys[`${SYS}publish/messages/received`] ?? 0, sys[`${SYS}publish/messages/sent`] ?? 0, performance.now()));
}

async function refreshListeners() {
  const { listeners } = await getJson("/api/v1/listeners");
  const body = document.querySelector("#listeners tbody");
  body.replaceChildren(
    ...listeners.map((listener) => {
      const row = document.createElement("tr");
      const yes = (flag) => (flag ? "yes" : "no");
      row.append(
        cell(listener.port ?? listener.path),
        cell(listener.protocol),
        cell(yes(listener.tls)),
        cell(yes(listener.mtls)),
        cell(yes(listener.allow_anonymous)),
      );
      return row;
    }),
  );
}

async function refreshInfo() {
  document.getElementById("ov-version").textContent = await getText("/api/v1/version");
  await refreshListeners();
}

const counters = new Poller(refreshCounters, POLL_MS, "overview-status");
const info = new Poller(refreshInfo, 30000, "overview-status");

/** Shows the page and starts polling; returns the function that stops it. */
export function enter() {
  if (chart === null) {
    chart = makeChart();
  }
  const stopCounters = counters.start();
  const stopInfo = info.start();
  return () => {
    stopCounters();
    stopInfo();
  };
}
