// The "try it" panel: MQTT.js in this browser, connected to the broker's own WebSocket
// listener (found in /api/v1/listeners, on the host that served this page), to subscribe
// and publish by hand.

import { credentials, getJson } from "./api.js";

let client = null;
let wired = false;

function element(id) {
  return document.getElementById(id);
}

function logLine(text) {
  const list = element("try-log");
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  list.prepend(item);
  while (list.children.length > 200) {
    list.lastElementChild.remove();
  }
}

function setState(text, connected) {
  element("try-state").textContent = text;
  element("try-connect").disabled = connected;
  element("try-disconnect").disabled = !connected;
  element("try-subscribe").disabled = !connected;
  element("try-publish").disabled = !connected;
}

/** ws://host:port/mqtt for the first WebSocket listener, or "" when there is none. */
async function webSocketUrl() {
  const { listeners } = await getJson("/api/v1/listeners");
  const listener = listeners.find((entry) => entry.protocol === "websockets" && entry.port);
  if (!listener) {
    return "";
  }
  const scheme = listener.tls || location.protocol === "https:" ? "wss" : "ws";
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  return `${scheme}://${host}:${listener.port}/mqtt`;
}

function connect() {
  const url = element("try-url").value.trim();
  if (!url) {
    logLine("No WebSocket URL: the broker has no `protocol websockets` listener.");
    return;
  }
  const username = element("try-username").value;
  const options = {
    clientId: `culex-dashboard-${Math.random().toString(16).slice(2, 10)}`,
    reconnectPeriod: 0,
    connectTimeout: 10000,
  };
  if (username) {
    options.username = username;
    options.password = element("try-password").value;
  }
  setState("connecting…", true);
  client = mqtt.connect(url, options);
  client.on("connect", () => {
    setState(`connected as ${options.clientId}`, true);
    logLine(`connected to ${url}`);
  });
  client.on("message", (topic, payload, packet) => {
    const retained = packet.retain ? " (retained)" : "";
    logLine(`${topic}${retained}: ${payload.toString()}`);
  });
  client.on("error", (error) => logLine(`error: ${error.message}`));
  client.on("close", () => {
    setState("not connected", false);
    client = null;
  });
}

function wire() {
  element("try-connect").addEventListener("click", connect);
  element("try-disconnect").addEventListener("click", () => client && client.end());
  element("try-subscribe-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const filter = element("try-filter").value;
    const qos = Number(element("try-sub-qos").value);
    client.subscribe(filter, { qos }, (error, granted) => {
      if (error) {
        logLine(`subscribe ${filter}: ${error.message}`);
      } else {
        logLine(`subscribed to ${filter} (granted QoS ${granted.map((grant) => grant.qos).join(", ")})`);
      }
    });
  });
  element("try-publish-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const topic = element("try-topic").value;
    const qos = Number(element("try-pub-qos").value);
    const retain = element("try-retain").checked;
    client.publish(topic, element("try-payload").value, { qos, retain }, (error) => {
      logLine(error ? `publish ${topic}: ${error.message}` : `published to ${topic}`);
    });
  });
}

/** Shows the panel, filling in the URL and the login's username; returns a no-op stop. */
export function enter() {
  if (!wired) {
    wired = true;
    wire();
    setState("not connected", false);
    const login = credentials();
    if (login && login.username) {
      element("try-username").value = login.username;
      element("try-password").value = login.password;
    }
  }
  if (!element("try-url").value) {
    webSocketUrl()
      .then((url) => {
        element("try-url").value = url;
      })
      .catch((error) => logLine(`listeners: ${error.message}`));
  }
  return () => {};
}
