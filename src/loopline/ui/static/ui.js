// loopline reviewer UI: keyboard shortcuts, live SLA countdowns, auto-submitting filters.
// Everything works without this script; it only saves clicks.
(function () {
  "use strict";

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var rest = minutes % 60;
    if (days) return days + " d " + hours + " h";
    if (hours) return hours + " h " + rest + " min";
    return rest ? rest + " min" : "under a minute";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (element) {
      var due = Date.parse(element.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = due - now;
      var text = element.querySelector(".due-rel");
      if (text) text.textContent = left >= 0 ? "due in " + span(left) : "overdue by " + span(left);
      element.classList.toggle("due-overdue", left < 0);
      element.classList.toggle("due-soon", left >= 0 && left < 2 * 3600 * 1000);
    });
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function usable(element) {
    return element && !element.disabled && !element.closest("fieldset:disabled");
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
      return;
    }
    if (typing(event.target)) return;
    var key = event.key.toLowerCase();
    if (!/^[a-z]$/.test(key)) return;
    var element = document.querySelector('[data-key="' + key + '"]');
    if (!usable(element)) return;
    event.preventDefault();
    if (element.tagName.toLowerCase() === "select") {
      element.focus();
    } else {
      element.click();
    }
  }

  function wireOverride() {
    var select = document.getElementById("label");
    var button = document.getElementById("override");
    if (!select || !button) return;
    select.addEventListener("change", function () {
      if (select.value) button.focus();
    });
    button.addEventListener("click", function (event) {
      if (!select.value) {
        event.preventDefault();
        select.focus();
      }
    });
  }

  function wireFilters() {
    document.querySelectorAll("select.auto-submit").forEach(function (select) {
      select.addEventListener("change", function () {
        // a new filter starts at the first page; empty fields stay out of the address
        var query = new URLSearchParams();
        new FormData(select.form).forEach(function (value, name) {
          if (value !== "" && name !== "offset") query.append(name, value);
        });
        var text = query.toString();
        window.location.assign(select.form.getAttribute("action") + (text ? "?" + text : ""));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("keydown", onKey);
    wireOverride();
    wireFilters();
    tick();
    window.setInterval(tick, 30000);
  });
})();
