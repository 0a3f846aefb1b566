// The dashboard's entry point: the login, and the router that shows one page per #hash
// (#login, #overview, #clients, #topics, #try), starting its polling and stopping the last.

import { LoginNeeded, credentials, forget, remember, request } from "./api.js";
import * as clients from "./clients.js";
import * as overview from "./overview.js";
import * as topics from "./topics.js";
import * as tryit from "./tryit.js";

const PAGES = { overview, clients, topics, try: tryit };
let leave = () => {};

function show(name) {
  document.querySelectorAll("main > section").forEach((section) => {
    section.hidden = section.id !== `page-${name}`;
  });
  document.querySelectorAll("#nav a").forEach((link) => {
    link.classList.toggle("active", link.getAttribute("href") === `#${name}`);
  });
  document.getElementById("nav").hidden = name === "login";
}

function route() {
  leave();
  leave = () => {};
  const name = location.hash.slice(1);
  if (name === "login" || credentials() === null) {
    show("login");
    return;
  }
  const page = PAGES[name];
  if (!page) {
    location.hash = "#overview";
    return;
  }
  show(name);
  leave = page.enter();
}

/** Tries the credentials on /api/v1/version; keeps them and opens the overview if they work. */
async function logIn(event) {
  event.preventDefault();
  const status = document.getElementById("login-status");
  status.textContent = "";
  remember(document.getElementById("login-username").value, document.getElementById("login-password").value);
  try {
    const response = await request("/api/v1/version");
    if (response.status !== 200) {
      forget();
      status.textContent = `The broker answered HTTP ${response.status}.`;
      return;
    }
    document.getElementById("login-password").value = "";
    location.hash = "#overview";
  } catch (error) {
    status.textContent = error instanceof LoginNeeded ? "Wrong username or password." : error.message;
  }
}

document.getElementById("login-form").addEventListener("submit", logIn);
document.getElementById("logout").addEventListener("click", () => {
  forget();
  location.hash = "#login";
});
window.addEventListener("hashchange", route);
route();
