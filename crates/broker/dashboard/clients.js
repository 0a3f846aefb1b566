// The clients page: the connected clients (search, pages), one client's details with its
// subscriptions, and its disconnection through DELETE /api/v1/clients/{id}.

import { Poller, cell, getJson, query, request, statusLine } from "./api.js";
import { Pager } from "./paging.js";

const PER_PAGE = 50;
let selected = null;
let pager = null;
const poller = new Poller(refreshTable, 3000, "clients-status");

function since(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleString();
}

function clientPath(id) {
  return `/api/v1/clients/${encodeURIComponent(id)}`;
}

async function refreshTable() {
  const search = document.getElementById("clients-search").value.trim();
  const data = await getJson(`/api/v1/clients${query({ page: pager.page, per_page: PER_PAGE, search })}`);
  pager.show(data.total);
  document.getElementById("clients-count").textContent = `${data.total} connected`;
  const body = document.querySelector("#clients tbody");
  body.replaceChildren(
    ...data.clients.map((client) => {
      const row = document.createElement("tr");
      row.className = "selectable";
      row.dataset.id = client.id;
      row.classList.toggle("selected", client.id === selected);
      row.append(
        cell(client.id),
        cell(client.username),
        cell(client.address),
        cell(client.protocol),
        cell(client.subscriptions),
        cell(client.queued),
        cell(since(client.connected_since)),
      );
      row.addEventListener("click", () => select(client.id));
      return row;
    }),
  );
  if (selected !== null) {
    await refreshDetails();
  }
}

async function refreshDetails() {
  const box = document.getElementById("client-details");
  const response = await request(clientPath(selected));
  if (response.status === 404) {
    box.hidden = true;
    selected = null;
    return;
  }
  if (response.status !== 200) {
    throw new Error(`client ${selected}: HTTP ${response.status}`);
  }
  const client = await response.json();
  document.getElementById("cd-id").textContent = client.id;
  const fields = [
    ["Username", client.username],
    ["Address", client.address],
    ["Listener", client.listener],
    ["Protocol", client.protocol],
    ["Keepalive", `${client.keepalive} s`],
    ["Clean start", client.clean_start ? "yes" : "no"],
    ["Session expiry", `${client.session_expiry_interval} s`],
    ["Connected since", since(client.connected_since)],
    ["Queued", client.queued],
    ["In flight", client.inflight],
  ];
  document.getElementById("cd-fields").replaceChildren(
    ...fields.flatMap(([name, value]) => [cell(name, "dt"), cell(value, "dd")]),
  );
  const list = client.subscription_list ?? [];
  document.getElementById("cd-subscriptions").replaceChildren(
    ...(list.length ? list.map((sub) => cell(`${sub.filter} (QoS ${sub.qos})`, "li")) : [cell("none", "li")]),
  );
  box.hidden = false;
}

function select(id) {
  selected = id;
  document.querySelectorAll("#clients tbody tr").forEach((row) => row.classList.toggle("selected", row.dataset.id === id));
  poller.restart();
}

async function disconnect(report) {
  if (selected === null) {
    return;
  }
  const id = selected;
  const response = await request(clientPath(id), "DELETE");
  if (response.status === 204) {
    report(`Disconnected ${id}.`);
  } else if (response.status === 404) {
    report(`${id} is no longer connected.`);
  } else if (response.status === 403) {
    report(`Not allowed to disconnect clients (needs the admin right).`);
  } else {
    report(`Disconnecting ${id}: HTTP ${response.status}`);
  }
  selected = null;
  document.getElementById("client-details").hidden = true;
  poller.restart();
}

function setUp() {
  pager = new Pager("clients", PER_PAGE, () => poller.restart());
  document.getElementById("clients-search").addEventListener("input", () => {
    pager.reset();
    poller.restart();
  });
  document.getElementById("cd-disconnect").addEventListener("click", () => {
    const report = statusLine("clients-action");
    disconnect(report).catch((error) => report(error.message));
  });
}

/** Shows the page and starts polling; returns the function that stops it. */
export function enter() {
  if (pager === null) {
    setUp();
  }
  return poller.start();
}
