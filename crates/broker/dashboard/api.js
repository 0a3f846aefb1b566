// The broker's HTTP API as the dashboard calls it: HTTP Basic credentials kept in
// sessionStorage (gone when the tab closes) and sent on every request; a 401 sends the
// user back to the login page.

const KEY = "culex.credentials";

/** Raised for a 401: the caller stops, the login page is already showing. */
export class LoginNeeded extends Error {
  constructor() {
    super("login needed");
    this.name = "LoginNeeded";
  }
}

/** The username and password of this tab's login, or null when it has none. */
export function credentials() {
  const stored = sessionStorage.getItem(KEY);
  return stored ? JSON.parse(stored) : null;
}

/** Keeps the login for this tab (empty username: anonymous). */
export function remember(username, password) {
  sessionStorage.setItem(KEY, JSON.stringify({ username, password }));
}

/** Forgets the login. */
export function forget() {
  sessionStorage.removeItem(KEY);
}

function headers() {
  const login = credentials();
  const result = {};
  if (login && login.username) {
    const pair = new TextEncoder().encode(`${login.username}:${login.password}`);
    result.Authorization = "Basic " + btoa(String.fromCharCode(...pair));
  }
  return result;
}

/**
 * Sends `method path` with the login's credentials and returns the Response. A 401 forgets
 * the login, shows the login page and throws LoginNeeded; other statuses are the caller's.
 */
export async function request(path, method = "GET") {
  // credentials "omit": the browser adds no credentials of its own and, on a 401 with a Basic
  // challenge, opens no login prompt of its own (which would hold the request until answered).
  const response = await fetch(path, { method, headers: headers(), cache: "no-store", credentials: "omit" });
  if (response.status === 401) {
    forget();
    if (location.hash !== "#login") {
      location.hash = "#login";
    }
    throw new LoginNeeded();
  }
  return response;
}

/** GET `path` and its JSON body; a status other than 200 is an Error naming it. */
export async function getJson(path) {
  const response = await request(path);
  if (response.status !== 200) {
    throw new Error(`${path}: HTTP ${response.status}`);
  }
  return response.json();
}

/** GET `path` and its body as text; a status other than 200 is an Error naming it. */
export async function getText(path) {
  const response = await request(path);
  if (response.status !== 200) {
    throw new Error(`${path}: HTTP ${response.status}`);
  }
  return response.text();
}

/**
 * Runs `work` now and then every `ms` milliseconds until the returned function is called;
 * errors go to `report` (a LoginNeeded silently stops the polling).
 */
export function poll(work, ms, report) {
  let timer = null;
  let stopped = false;
  async function tick() {
    try {
      await work();
      report("");
    } catch (error) {
      if (error instanceof LoginNeeded) {
        stopped = true;
        return;
      }
      report(error.message);
    }
    if (!stopped) {
      timer = setTimeout(tick, ms);
    }
  }
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** A status line's reporter: shows the message in the element with that id. */
export function statusLine(id) {
  const element = document.getElementById(id);
  return (message) => {
    element.textContent = message;
  };
}

/** Makes a table cell (or any element) with `text` as its content. */
export function cell(text, tag = "td") {
  const element = document.createElement(tag);
  element.textContent = text === null || text === undefined ? "—" : String(text);
  return element;
}

/** A query string from the entries whose value is not empty. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) {
      search.set(key, String(value));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/**
 * A page's polling: `work` every `ms` milliseconds while the page shows, errors in the status
 * line `statusId`. `restart` runs it at once (after a search or a click) and keeps polling.
 */
export class Poller {
  constructor(work, ms, statusId) {
    this.work = work;
    this.ms = ms;
    this.statusId = statusId;
    this.active = false;
    this.cancel = () => {};
  }

  /** Starts polling; returns the function that stops it. */
  start() {
    this.active = true;
    this.restart();
    return () => this.stop();
  }

  restart() {
    if (this.active) {
      this.cancel();
      this.cancel = poll(this.work, this.ms, statusLine(this.statusId));
    }
  }

  stop() {
    this.active = false;
    this.cancel();
  }
}
