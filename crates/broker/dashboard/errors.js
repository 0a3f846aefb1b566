// Shows every uncaught error and unhandled promise rejection of the dashboard in a red bar at
// the bottom of the page, so a broken page says so instead of going quietly blank. Loaded
// first, as a classic script, so that it also catches errors in the scripts after it.
(function () {
  "use strict";
  function show(text) {
    var list = document.getElementById("errors");
    if (!list) {
      document.addEventListener("DOMContentLoaded", function () { show(text); });
      return;
    }
    var item = document.createElement("li");
    item.textContent = text;
    list.appendChild(item);
  }
  window.addEventListener("error", function (event) {
    var where = event.filename ? " (" + event.filename + ":" + event.lineno + ")" : "";
    show("Error: " + event.message + where);
  });
  window.addEventListener("unhandledrejection", function (event) {
    var reason = event.reason;
    show("Unhandled rejection: " + (reason && reason.message ? reason.message : String(reason)));
  });
})();
