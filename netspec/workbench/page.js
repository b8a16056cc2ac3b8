// The netspec workbench page: the diagram with pan and zoom, hover details, the summary and the faults.
// Live (netspec serve): polls ./state every 250 ms and redraws when the spec changed. Static (draw -o x.html):
// shows the state embedded in the page.
(function () {
  "use strict";
  var boot = JSON.parse(document.getElementById("boot").textContent);
  var XLINK = "http://www.w3.org/1999/xlink";
  var state = null, view = { x: 0, y: 0, k: 1 }, fitted = false, selected = null;

  function $(id) { return document.getElementById(id); }
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function count(n) {
    var units = [[1e9, "G"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][0]) { return (n / units[i][0]).toFixed(2).replace(/\.?0+$/, "") + units[i][1]; }
    }
    return String(n);
  }
  function grouped(n) { return Number(n).toLocaleString("en-US"); }
  function shown(value) { return typeof value === "string" ? value : JSON.stringify(value); }

  // ---- rendering ------------------------------------------------------------------------------
  function render(next) {
    var redraw = !state || next.svg !== state.svg;
    state = next;
    document.body.dataset.version = String(next.version);
    document.body.dataset.ok = String(next.ok);
    document.body.classList.toggle("stale", !!(next.stale && next.svg));
    $("title").textContent = next.title || "";
    $("path").textContent = next.path || "";
    document.title = (next.ok ? "" : "\u26A0 ") + (next.title || "spec") + " \u00B7 netspec";
    renderErrors(next.errors || []);
    if (redraw) { renderSvg(next.svg || ""); }
    renderSummary(next.summary);
  }

  function renderErrors(errors) {
    $("errors").hidden = errors.length === 0;
    $("stale").hidden = !(state.svg);
    var list = $("error-list");
    list.textContent = "";
    errors.forEach(function (error) {
      var item = document.createElement("li");
      item.textContent = error.text;
      item.addEventListener("click", function () { showSource(error.line, state.source, "fault"); });
      list.appendChild(item);
    });
  }

  function renderSvg(svg) {
    var canvas = $("canvas");
    canvas.innerHTML = svg;
    $("empty").hidden = !!svg;
    canvas.querySelectorAll("g.node").forEach(function (g) {
      var title = g.querySelector("title");
      if (title) { g.setAttribute("data-node", title.textContent); }
      if (selected && g.getAttribute("data-node") === selected) { g.classList.add("selected"); }
    });
    // the page shows its own details: no native tooltips
    canvas.querySelectorAll("title").forEach(function (t) { t.remove(); });
    canvas.querySelectorAll("a").forEach(function (a) { a.removeAttributeNS(XLINK, "title"); a.removeAttribute("title"); });
    if (!fitted && svg) { fit(); fitted = true; } else { apply(); }
  }

  function renderSummary(summary) {
    var body = document.querySelector("#summary tbody"), foot = document.querySelector("#summary tfoot");
    body.textContent = "";
    foot.textContent = "";
    if (!summary) { return; }
    var html = [];
    summary.rows.forEach(function (row, i) {
      var numbers = row.block ? "<td></td><td></td>" : '<td class="num">' + grouped(row.params) + '</td><td class="num">' +
        count(row.flops) + "</td>";
      html.push('<tr data-row="' + i + '"' + (row.block ? ' class="blockrow"' : "") + '><td style="padding-left:' +
        (6 + 12 * row.depth) + 'px">' + esc(row.name) + "</td><td>" + esc(row.type) + "</td><td>" + esc(row.shape) +
        "</td>" + numbers + "</tr>");
    });
    body.innerHTML = html.join("");
    foot.innerHTML = '<tr><td colspan="3">Total</td><td class="num" id="total-params">' + grouped(summary.total_params) +
      '</td><td class="num">' + count(summary.total_flops) + "</td></tr>";
  }

  function details(d) {
    var rows = [];
    function row(k, v) { rows.push('<div class="k">' + esc(k) + '</div><div class="v">' + v + "</div>"); }
    if (d.block) { row("in block", esc(d.block)); }
    (d.inputs || []).forEach(function (input, i) {
      row(i === 0 ? "input" + (d.inputs.length > 1 ? "s" : "") : "", esc(input[1]) + ' <span class="muted">' +
        esc(input[0]) + "</span>");
    });
    row("output", esc(d.output) + (d.dtype && d.dtype !== "float32" ? " (" + esc(d.dtype) + ")" : ""));
    row("params", grouped(d.params || 0));
    row("FLOPs", count(d.flops || 0) + (d.flops >= 1000 ? ' <span class="muted">(' + grouped(d.flops) + ")</span>" : ""));
    if (d.layers) { row("layers", String(d.layers)); }
    Object.keys(d.attrs || {}).forEach(function (k) {
      if (d.attrs[k] !== null && k !== "activation_attrs") { row(k, esc(shown(d.attrs[k]))); }
    });
    if (d.line) { row("line", String(d.line)); }
    var written = d.written && d.written !== d.type ? " (" + esc(d.written) + ")" : "";
    return '<div class="d-head">' + esc(d.name) + '<span class="d-type">' + esc(d.type) + written + "</span></div>" +
      '<div class="d-grid">' + rows.join("") + "</div>";
  }

  function showSource(line, text, what) {
    var box = $("source");
    if (!line || !text) { box.hidden = true; return; }
    var lines = text.split("\n"), first = Math.max(1, line - 2), last = Math.min(lines.length, line + 2), out = [];
    for (var n = first; n <= last; n++) {
      var code = '<span class="ln">' + n + "</span>" + esc(lines[n - 1] || " ");
      out.push(n === line ? '<span class="hl" data-line="' + n + '">' + code + "</span>" : code + "\n");
    }
    box.innerHTML = '<div class="muted">' + esc(state.path || "spec") + ":" + line + (what ? " \u00B7 " + esc(what) : "") +
      "</div><pre>" + out.join("") + "</pre>";
    box.hidden = false;
  }

  // ---- hover and click --------------------------------------------------------------------------
  function nodeAt(target) {
    var g = target.closest ? target.closest("g.node") : null;
    var id = g ? g.getAttribute("data-node") : null;
    return id && state && state.nodes[id] ? { g: g, id: id, data: state.nodes[id] } : null;
  }

  var tooltip = $("tooltip");
  $("viewport").addEventListener("mousemove", function (event) {
    var hit = drag ? null : nodeAt(event.target);
    if (!hit) { tooltip.hidden = true; return; }
    tooltip.innerHTML = details(hit.data);
    tooltip.hidden = false;
    var x = event.clientX + 14, y = event.clientY + 14, w = tooltip.offsetWidth, h = tooltip.offsetHeight;
    tooltip.style.left = Math.min(x, window.innerWidth - w - 4) + "px";
    tooltip.style.top = (y + h > window.innerHeight ? Math.max(4, event.clientY - h - 10) : y) + "px";
  });
  $("viewport").addEventListener("mouseleave", function () { tooltip.hidden = true; });

  function select(hit) {
    document.querySelectorAll("g.node.selected").forEach(function (g) { g.classList.remove("selected"); });
    selected = hit.id;
    hit.g.classList.add("selected");
    $("details").innerHTML = details(hit.data);
    showSource(hit.data.line, state.drawn_source, hit.data.name);
  }

  document.querySelector("#summary tbody").addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (!tr || !state.summary) { return; }
    var row = state.summary.rows[Number(tr.getAttribute("data-row"))];
    var g = document.querySelector('g.node[data-node="' + CSS.escape(row.path) + '"]');
    if (g) { select({ g: g, id: row.path, data: state.nodes[row.path] }); } else { showSource(row.line, state.drawn_source, row.path); }
  });

  // ---- pan and zoom -----------------------------------------------------------------------------
  var drag = null;
  function apply() { $("canvas").style.transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.k + ")"; }
  function fit() {
    var svg = $("canvas").querySelector("svg"), box = $("viewport").getBoundingClientRect();
    if (!svg) { return; }
    var w = svg.width.baseVal.value || 1, h = svg.height.baseVal.value || 1;
    var across = (box.width - 20) / w, down = (box.height - 20) / h;
    // the whole drawing where it reads; a tall one fits the width (up to readable) and starts at its top
    view.k = Math.min(1.5, across, Math.max(down, Math.min(0.8, across)));
    view.x = (box.width - w * view.k) / 2;
    view.y = Math.max(10, (box.height - h * view.k) / 2);
    apply();
  }
  function zoom(factor, mx, my) {
    var k = Math.min(8, Math.max(0.03, view.k * factor));
    view.x = mx - (mx - view.x) * k / view.k;
    view.y = my - (my - view.y) * k / view.k;
    view.k = k;
    apply();
  }
  var viewport = $("viewport");
  viewport.addEventListener("wheel", function (event) {
    event.preventDefault();
    var r = viewport.getBoundingClientRect();
    zoom(Math.exp(-event.deltaY * 0.0015), event.clientX - r.left, event.clientY - r.top);
  }, { passive: false });
  viewport.addEventListener("pointerdown", function (event) {
    if (event.target.closest(".zoom")) { return; }
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false, target: event.target };
  });
  window.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) { return; }
    drag.moved = true;
    viewport.classList.add("dragging");
    view.x = drag.vx + dx;
    view.y = drag.vy + dy;
    apply();
  });
  window.addEventListener("pointerup", function () {
    if (drag && !drag.moved) {
      var hit = nodeAt(drag.target);
      if (hit) { select(hit); }
    }
    drag = null;
    viewport.classList.remove("dragging");
  });
  function centre(factor) { var r = viewport.getBoundingClientRect(); zoom(factor, r.width / 2, r.height / 2); }
  $("zoom-in").addEventListener("click", function () { centre(1.25); });
  $("zoom-out").addEventListener("click", function () { centre(0.8); });
  $("zoom-fit").addEventListener("click", fit);

  // ---- live updates -----------------------------------------------------------------------------
  function status(text, kind) { var s = $("status"); s.textContent = text; s.className = "status " + (kind || ""); }
  function poll() {
    fetch("state?v=" + (state ? state.version : 0), { cache: "no-store" })
      .then(function (response) { return response.json(); })
      .then(function (next) {
        if (next.svg !== undefined) { render(next); }
        status("live: redraws on save", "live");
      })
      .catch(function () { status("disconnected: is 'netspec serve' still running?", "down"); })
      .then(function () { setTimeout(poll, 250); });
  }
  render(boot.state);
  if (boot.live) { poll(); } else { status("saved page (netspec draw)"); }
})();
