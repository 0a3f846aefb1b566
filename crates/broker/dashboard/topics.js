// The topics page: the subscription filters as a tree with a count at each level (from
// /api/v1/subscriptions), and a browser of retained messages by topic prefix
// (/api/v1/retained).

import { Poller, cell, getJson, query } from "./api.js";
import { Pager } from "./paging.js";

/** The most subscriptions the tree reads (pages of the API's maximum size). */
const TREE_LIMIT = 10000;
const API_MAX_PER_PAGE = 1000;
const RETAINED_PER_PAGE = 50;

let pager = null;

async function allSubscriptions() {
  const all = [];
  for (let page = 1; all.length < TREE_LIMIT; page += 1) {
    const data = await getJson(`/api/v1/subscriptions${query({ page, per_page: API_MAX_PER_PAGE })}`);
    all.push(...data.subscriptions);
    if (data.subscriptions.length < API_MAX_PER_PAGE || all.length >= data.total) {
      break;
    }
  }
  return all;
}

/** A tree of topic levels: each node counts the subscriptions at it or below it. */
function buildTree(subscriptions) {
  const root = { children: new Map(), count: 0 };
  for (const { filter } of subscriptions) {
    let node = root;
    node.count += 1;
    for (const level of filter.split("/")) {
      if (!node.children.has(level)) {
        node.children.set(level, { children: new Map(), count: 0 });
      }
      node = node.children.get(level);
      node.count += 1;
    }
  }
  return root;
}

function renderLevel(node) {
  const names = [...node.children.keys()].sort();
  return names.map((name) => {
    const child = node.children.get(name);
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "level";
    label.textContent = name === "" ? "(empty)" : name;
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = child.count;
    count.title = "subscriptions at or below this level";
    item.append(label, count);
    if (child.children.size > 0) {
      const list = document.createElement("ul");
      list.append(...renderLevel(child));
      item.append(list);
    }
    return item;
  });
}

async function refreshTree() {
  const tree = buildTree(await allSubscriptions());
  document.getElementById("topic-tree").replaceChildren(...renderLevel(tree));
  document.getElementById("topic-tree-empty").hidden = tree.count > 0;
}

async function refreshRetained() {
  const prefix = document.getElementById("retained-prefix").value;
  const data = await getJson(`/api/v1/retained${query({ prefix, page: pager.page, per_page: RETAINED_PER_PAGE })}`);
  pager.show(data.total);
  document.querySelector("#retained tbody").replaceChildren(
    ...data.retained.map((message) => {
      const row = document.createElement("tr");
      const preview = cell(message.preview);
      preview.className = "preview";
      row.append(cell(message.topic), cell(message.bytes), cell(message.qos), preview);
      return row;
    }),
  );
}

const poller = new Poller(
  async () => {
    await refreshTree();
    await refreshRetained();
  },
  5000,
  "topics-status",
);

/** Shows the page and starts polling; returns the function that stops it. */
export function enter() {
  if (pager === null) {
    pager = new Pager("retained", RETAINED_PER_PAGE, () => poller.restart());
    document.getElementById("retained-prefix").addEventListener("input", () => {
      pager.reset();
      poller.restart();
    });
  }
  return poller.start();
}
