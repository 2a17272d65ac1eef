// emb report: the map of rows on a canvas, hover and search. Plain JavaScript, no request:
// every datum is in the JSON block above this script.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("emb-data").textContent);
  var canvas = document.getElementById("map-canvas");
  var tooltip = document.getElementById("tooltip");
  var search = document.getElementById("search");
  var result = document.getElementById("search-result");
  var n = data.ids.length;
  var width = data.width;
  var K = 10;

  var raw = atob(data.vectors);
  var vec = new Int8Array(raw.length);
  for (var b = 0; b < raw.length; b++) vec[b] = (raw.charCodeAt(b) << 24) >> 24;

  var sx = new Float32Array(n), sy = new Float32Array(n);
  var order = [];
  var byId = new Map();
  for (var i = 0; i < n; i++) byId.set(data.ids[i], i);
  // normal rows first, rows of note drawn over them
  for (var k = 0; k < data.kinds.length; k++) {
    for (var j = 0; j < n; j++) if (data.kind[j] === k) order.push(j);
  }
  var highlight = null; // {query: index, neighbours: [indices]}

  function layout() {
    var rect = canvas.getBoundingClientRect();
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(rect.width * dpr));
    canvas.height = Math.max(1, Math.round(rect.height * dpr));
    var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (var i = 0; i < n; i++) {
      if (data.x[i] < minX) minX = data.x[i];
      if (data.x[i] > maxX) maxX = data.x[i];
      if (data.y[i] < minY) minY = data.y[i];
      if (data.y[i] > maxY) maxY = data.y[i];
    }
    if (!(maxX > minX)) { minX -= 1; maxX += 1; }
    if (!(maxY > minY)) { minY -= 1; maxY += 1; }
    var pad = 16;
    var w = rect.width - 2 * pad, h = rect.height - 2 * pad;
    for (var p = 0; p < n; p++) {
      sx[p] = pad + (data.x[p] - minX) / (maxX - minX) * w;
      sy[p] = pad + (1 - (data.y[p] - minY) / (maxY - minY)) * h;
    }
    return dpr;
  }

  function draw() {
    var dpr = layout();
    var ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    var drawn = 0;
    for (var o = 0; o < order.length; o++) {
      var i = order[o];
      var kind = data.kind[i];
      var r = kind === 0 ? 2.2 : 3.4;
      ctx.fillStyle = data.colors[kind];
      ctx.globalAlpha = kind === 0 ? 0.6 : 0.95;
      ctx.fillRect(sx[i] - r / 2, sy[i] - r / 2, r, r);
      drawn++;
    }
    ctx.globalAlpha = 1;
    stackLabels(ctx);
    if (highlight) {
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#ff8c00";
      highlight.neighbours.forEach(function (i) {
        ctx.beginPath(); ctx.arc(sx[i], sy[i], 5, 0, 2 * Math.PI); ctx.stroke();
      });
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = "#000000";
      ctx.beginPath(); ctx.arc(sx[highlight.query], sy[highlight.query], 8, 0, 2 * Math.PI); ctx.stroke();
    }
    canvas.dataset.drawn = String(drawn);
    document.body.dataset.ready = "1";
  }

  // Rows at exactly one spot (every zero row maps to the mean's image) get a count there.
  function stackLabels(ctx) {
    var spots = new Map();
    for (var i = 0; i < n; i++) {
      if (data.kind[i] === 0) continue;
      var key = data.x[i] + "," + data.y[i] + "," + data.kind[i];
      var s = spots.get(key);
      if (s) s.count++; else spots.set(key, { count: 1, i: i });
    }
    ctx.font = "12px system-ui, sans-serif";
    spots.forEach(function (s) {
      if (s.count < 2) return;
      ctx.fillStyle = data.colors[data.kind[s.i]];
      ctx.fillText(s.count + " rows here (" + data.kinds[data.kind[s.i]] + ")", sx[s.i] + 7, sy[s.i] - 6);
    });
  }

  function label(i) {
    var s = data.score[i];
    return "id " + data.ids[i] + "  " + JSON.stringify(data.token[i]) + "\n" +
      data.kinds[data.kind[i]] + "\nnorm " + data.norm[i] +
      "\nscore " + (s === null ? "(not ranked)" : s.toFixed(3));
  }

  function nearestPoint(mx, my) {
    var best = -1, bestD = 36; // within 6 px
    for (var i = 0; i < n; i++) {
      var dx = sx[i] - mx, dy = sy[i] - my, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  canvas.addEventListener("mousemove", function (ev) {
    var rect = canvas.getBoundingClientRect();
    var i = nearestPoint(ev.clientX - rect.left, ev.clientY - rect.top);
    if (i < 0) { tooltip.hidden = true; return; }
    tooltip.textContent = label(i);
    tooltip.hidden = false;
    tooltip.style.left = (ev.clientX - rect.left + 14) + "px";
    tooltip.style.top = (ev.clientY - rect.top + 14) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tooltip.hidden = true; });

  // cosine estimates from the int8 vectors: scale_a * scale_b / 127^2 * (a . b)
  function neighbours(q) {
    var scores = new Float64Array(n);
    var qo = q * width;
    for (var i = 0; i < n; i++) {
      var io = i * width, dot = 0;
      for (var d = 0; d < width; d++) dot += vec[io + d] * vec[qo + d];
      scores[i] = dot * data.scales[i] * data.scales[q] / 16129;
    }
    var best = [];
    for (var j = 0; j < n; j++) {
      if (j === q) continue;
      if (best.length < K || scores[j] > scores[best[best.length - 1]]) {
        best.push(j);
        best.sort(function (a, b) { return scores[b] - scores[a]; });
        if (best.length > K) best.pop();
      }
    }
    return best.map(function (i) { return [i, scores[i]]; });
  }

  function find(text) {
    if (/^#?\d+$/.test(text)) {
      var byIdHit = byId.get(parseInt(text.replace("#", ""), 10));
      if (byIdHit !== undefined) return byIdHit;
    }
    var spaced = text.replace(/ /g, "\u0120");
    var loose = -1;
    for (var i = 0; i < n; i++) {
      var t = data.token[i];
      if (t === null) continue;
      if (t === text || t === spaced || t === "\u2581" + text || t === "\u0120" + text) return i;
      if (loose < 0 && t.indexOf(text) >= 0) loose = i;
    }
    return loose;
  }

  function runSearch() {
    var text = search.value;
    result.textContent = "";
    if (!text) { highlight = null; canvas.dataset.highlighted = ""; draw(); return; }
    var q = find(text);
    if (q < 0) {
      highlight = null;
      canvas.dataset.highlighted = "";
      result.textContent = "no drawn token matches " + JSON.stringify(text);
      draw();
      return;
    }
    var near = data.scales[q] > 0 ? neighbours(q) : [];
    highlight = { query: q, neighbours: near.map(function (p) { return p[0]; }) };
    canvas.dataset.highlighted = String(data.ids[q]);
    canvas.dataset.neighbours = near.map(function (p) { return data.ids[p[0]]; }).join(",");
    var head = document.createElement("div");
    head.textContent = "id " + data.ids[q] + " " + JSON.stringify(data.token[q]) +
      " (" + data.kinds[data.kind[q]] + ")" + (near.length ? ", nearest by cosine:" :
      ": a zero row has no direction, so no cosine neighbours");
    var list = document.createElement("ol");
    near.forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = JSON.stringify(data.token[p[0]]) + " #" + data.ids[p[0]] + "  " + p[1].toFixed(3);
      list.appendChild(li);
    });
    result.appendChild(head);
    result.appendChild(list);
    draw();
  }

  search.addEventListener("change", runSearch);
  search.addEventListener("keydown", function (ev) { if (ev.key === "Enter") runSearch(); });
  window.addEventListener("resize", draw);
  draw();
})();
