/* The web chat, enhanced: answer rules on the checkboxes, and live updates over a WebSocket.
   Everything works without this file (plain forms, redirect after post); with it, forms go
   over the socket and the transcript, question and progress are replaced in place. New
   messages land in the role="log" live region, which screen readers announce. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- answer rules: exclusive options stand alone; scale questions take adjacent ranges
  document.addEventListener("change", function (ev) {
    var box = ev.target;
    if (!box || box.type !== "checkbox" || box.name !== "val" || !box.checked) return;
    var fieldset = box.closest("fieldset");
    if (!fieldset) return;
    var boxes = Array.prototype.slice.call(fieldset.querySelectorAll('input[type="checkbox"][name="val"]'));
    if (box.hasAttribute("data-exclusive")) {
      boxes.forEach(function (b) { if (b !== box) b.checked = false; });
      return;
    }
    boxes.forEach(function (b) { if (b.hasAttribute("data-exclusive")) b.checked = false; });
    if (fieldset.hasAttribute("data-scale")) {
      var i = boxes.indexOf(box), lo = i, hi = i;
      while (lo > 0 && boxes[lo - 1].checked) lo--;
      while (hi < boxes.length - 1 && boxes[hi + 1].checked) hi++;
      boxes.forEach(function (b, k) { if (k < lo || k > hi) b.checked = false; });
    }
  });

  // --- live mode
  var chat = document.getElementById("chat");
  if (!chat || !window.WebSocket || !window.JSON) return;
  var base = chat.getAttribute("data-ws");
  var rid = chat.getAttribute("data-rid");
  var ws = null;
  var open = false;
  var waiting = false;
  var retries = 0;
  var shown = new URLSearchParams(location.search).get("fraga") || "";
  var version = chat.getAttribute("data-version") || "";
  var log0 = document.getElementById("log");
  if (log0) {
    log0.scrollTop = log0.scrollHeight;
    var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (target && log0.contains(target)) target.focus({ preventScroll: true });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var log = document.getElementById("log");
    var last = log && log.lastElementChild ? log.lastElementChild.id.replace(/^m/, "") : "0";
    ws = new WebSocket(scheme + location.host + base + "&fraga=" + encodeURIComponent(shown) +
                       "&v=" + encodeURIComponent(version) + "&e=" + encodeURIComponent(last));
    ws.onopen = function () { open = true; retries = 0; chat.setAttribute("data-live", "on"); };
    ws.onclose = function () {
      open = false;
      waiting = false;
      chat.setAttribute("data-live", "off");
      if (retries < 8) { retries += 1; setTimeout(connect, 1000 * retries); }
    };
    ws.onmessage = function (ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data.type === "update") apply(data);
      else if (data.type === "error") location.reload();
    };
  }

  function apply(d) {
    waiting = false;
    if (d.version !== undefined) version = String(d.version);
    var log = document.getElementById("log");
    d.entries.forEach(function (html) { log.insertAdjacentHTML("beforeend", html); });
    if (d.entries.length) log.scrollTop = log.scrollHeight;
    // question, status, progress and the index's sections come only when they changed
    if (d.question !== undefined) document.getElementById("question").innerHTML = d.question;
    if (d.status !== undefined) document.getElementById("status").innerHTML = d.status;
    if (d.progress !== undefined) replacePart(document.getElementById("progress"), d.progress);
    if (d.sections) {
      Object.keys(d.sections).forEach(function (n) {
        replacePart(document.getElementById("avsnitt-" + n), d.sections[n]);
      });
    }
    document.title = d.title;
    shown = d.shown || "";
    history.replaceState(null, "", "/svar/" + rid + (shown ? "?fraga=" + encodeURIComponent(shown) : ""));
    if (d.focus === "question") {
      var heading = document.getElementById("question-h");
      if (heading) heading.focus();
    }
  }

  // a part of the sidebar, replaced: a section the person opened stays open, and the link or
  // section heading that had the keyboard focus has it again
  function replacePart(el, html) {
    if (!el) return;
    var active = document.activeElement;
    var keep = null;  // how to find the focused element again in the new part
    if (active && el.contains(active)) {
      if (active.hasAttribute("data-question")) keep = '[data-question="' + active.getAttribute("data-question") + '"]';
      else if (active.tagName === "A") keep = 'a[href="' + active.getAttribute("href") + '"]';
      else if (active.tagName === "SUMMARY") keep = "summary";
    }
    var wasOpen = el.tagName === "DETAILS" && el.open;
    var id = el.id;
    el.outerHTML = html;
    var fresh = document.getElementById(id);
    if (!fresh) return;
    if (wasOpen) fresh.open = true;
    if (keep) {
      var again = fresh.querySelector(keep);
      if (again) again.focus();
    }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!open || !form.hasAttribute("data-live")) return;
    ev.preventDefault();
    if (waiting) return;
    var data = {};
    new FormData(form).forEach(function (value, key) {
      if (key === "val") { (data.val = data.val || []).push(value); } else { data[key] = value; }
    });
    if (ev.submitter && ev.submitter.name) data[ev.submitter.name] = ev.submitter.value;
    waiting = true;
    ws.send(JSON.stringify({ type: "turn", form: data }));
  });

  document.addEventListener("click", function (ev) {
    var link = ev.target.closest ? ev.target.closest("a[data-question]") : null;
    if (!link || !open || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    ws.send(JSON.stringify({ type: "show", question: link.getAttribute("data-question") }));
  });

  connect();
})();
