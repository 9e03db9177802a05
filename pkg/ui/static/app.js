// Live updates of the run page: the server renders everything, this only
// follows a running build over Server-Sent Events. No framework, no build
// step. Log text is only ever set with textContent, never as HTML.
"use strict";
(function () {
  var run = document.querySelector("article.run[data-stream]");
  if (!run || !window.EventSource) return;

  var labels = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled", skipped: "Skipped" };
  var icons = { queued: "…", running: "▶", succeeded: "✓", failed: "✗", cancelled: "■", skipped: "–" };
  var followBox = document.getElementById("follow");
  followBox.closest("label").hidden = false;
  var timeline = document.getElementById("timeline");
  followBox.addEventListener("change", function () {
    if (!followBox.checked) return;
    // Following again: jump to the end now, not at the next log line.
    timeline.querySelectorAll("pre.log").forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
    var step = timeline.querySelector('li.step[data-state="running"]');
    if (step) step.scrollIntoView({ block: "nearest" });
  });

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setBadge(badge, state) {
    badge.setAttribute("data-state", state);
    badge.textContent = "";
    badge.appendChild(el("span", { "aria-hidden": "true" }, icons[state] || "…"));
    badge.appendChild(document.createTextNode(" " + (labels[state] || state)));
  }
  function badge(state) { var b = el("span", { "class": "badge" }); setBadge(b, state); return b; }
  function dur(start, end) {
    if (!start) return "";
    var s = Math.max(0, Math.round(((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000));
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
  }
  function cssq(v) { return String(v).replace(/["\\]/g, "\\$&"); }

  function taskItem(t) {
    var li = timeline.querySelector('li.task[data-task="' + cssq(t.name) + '"]');
    if (li) return li;
    var empty = timeline.querySelector("li.empty");
    if (empty) empty.remove();
    li = el("li", { "class": "task", "data-task": t.name, "data-state": t.state });
    var h = el("h3");
    h.appendChild(badge(t.state));
    h.appendChild(document.createTextNode(" "));
    h.appendChild(el("span", { "class": "name" }, t.name));
    h.appendChild(document.createTextNode(" "));
    h.appendChild(el("span", { "class": "times" }));
    li.appendChild(h);
    li.appendChild(el("ol", { "class": "steps" }));
    timeline.appendChild(li);
    return li;
  }
  function stepItem(taskLi, task, s) {
    var li = taskLi.querySelector('li.step[data-step="' + cssq(s.name) + '"]');
    if (li) return li;
    li = el("li", { "class": "step", "data-task": task, "data-step": s.name, "data-state": s.state });
    var d = el("details", { open: "" });
    var sum = el("summary");
    sum.appendChild(badge(s.state));
    sum.appendChild(document.createTextNode(" "));
    sum.appendChild(el("span", { "class": "name" }, s.name));
    sum.appendChild(document.createTextNode(" "));
    sum.appendChild(el("span", { "class": "times" }));
    d.appendChild(sum);
    d.appendChild(el("pre", { id: "log-" + task + "-" + s.name, "class": "log", role: "log", "aria-live": "polite",
      "aria-label": "Log of " + task + ", step " + s.name, tabindex: "0" }));
    li.appendChild(d);
    taskLi.querySelector("ol.steps").appendChild(li);
    return li;
  }

  function onTimeline(tl) {
    var rs = document.getElementById("run-state");
    rs.setAttribute("data-state", tl.state);
    setBadge(rs.querySelector(".badge"), tl.state);
    document.getElementById("run-message").textContent = tl.message || "";
    document.getElementById("run-duration").textContent = dur(tl.start, tl.end);
    (tl.tasks || []).forEach(function (t) {
      var li = taskItem(t);
      li.setAttribute("data-state", t.state);
      setBadge(li.querySelector("h3 .badge"), t.state);
      li.querySelector("h3 .times").textContent = t.start ? dur(t.start, t.end) : "";
      (t.steps || []).forEach(function (s) {
        var sl = stepItem(li, t.name, s);
        sl.setAttribute("data-state", s.state);
        setBadge(sl.querySelector("summary .badge"), s.state);
        var times = dur(s.start, s.end);
        if (s.state === "failed" && s.exitCode) times += " · exit code " + s.exitCode;
        sl.querySelector("summary .times").textContent = times;
      });
    });
  }

  function onLog(c) {
    var pre = document.getElementById("log-" + c.task + "-" + c.step);
    if (!pre) return;
    if (c.reset) pre.textContent = "";
    pre.appendChild(document.createTextNode(c.text));
    if (followBox.checked) {
      pre.scrollTop = pre.scrollHeight;
      var step = pre.closest("li.step");
      if (step && step.getAttribute("data-state") === "running") step.scrollIntoView({ block: "nearest" });
    }
  }

  var es = new EventSource(run.getAttribute("data-stream"));
  es.addEventListener("timeline", function (e) { onTimeline(JSON.parse(e.data)); });
  es.addEventListener("log", function (e) { onLog(JSON.parse(e.data)); });
  es.addEventListener("end", function () {
    es.close();
    // The run finished: re-run and cancel buttons, Dockerfile and image
    // appear on the server-rendered page. Only the cancel button is stale.
    var cancel = document.getElementById("cancel");
    if (cancel) cancel.disabled = true;
    run.removeAttribute("data-stream");
    run.setAttribute("data-ended", "true");
    if (!document.getElementById("digest")) {
      var p = el("p", { role: "status", "class": "notice" }, "The run has finished. ");
      p.appendChild(el("a", { href: location.pathname }, "Reload the page"));
      p.appendChild(document.createTextNode(" for its Dockerfile, image and provenance."));
      document.getElementById("run-state").after(p);
    }
  });
})();
