// crewstream view: draws the stream data embedded in #crewstream-data. No network, no library.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("crewstream-data").textContent);
  var ROW = 22, MARK_ROW = 10, MAX_MARKS = 4000;
  var state = { stream: 0, axis: "index", lanes: "channel", zoom: 1, selected: null };
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  // Placeholders (<call:1>, <uuid:2>, #3, <time>) and redaction markers (<redacted:1>) marked up.
  var MARKER = /&lt;redacted(?::\d+)?&gt;|&lt;[a-z_]+(?::\d+)?&gt;/g;
  function marked(text) {
    var html = esc(text);
    if (/^#\d+$/.test(text)) return '<mark class="placeholder">' + html + "</mark>";
    return html.replace(MARKER, function (m) {
      var cls = m.indexOf("&lt;redacted") === 0 ? "redacted" : "placeholder";
      return '<mark class="' + cls + '">' + m + "</mark>";
    });
  }
  function jsonHtml(value, indent) {
    indent = indent || "";
    if (value === null) return '<span class="j-null">null</span>';
    if (typeof value === "string") {
      var quoted = JSON.stringify(value); // escaped, so the envelope reads (and copies) as JSON
      if (/^#\d+$/.test(value)) return '<span class="j-str"><mark class="placeholder">' + esc(quoted) + "</mark></span>";
      return '<span class="j-str">' + marked(quoted) + "</span>";
    }
    if (typeof value !== "object") return '<span class="j-num">' + esc(String(value)) + "</span>";
    var inner = indent + "  ", parts = [];
    if (Array.isArray(value)) {
      if (!value.length) return "[]";
      for (var i = 0; i < value.length; i++) parts.push(inner + jsonHtml(value[i], inner));
      return "[\n" + parts.join(",\n") + "\n" + indent + "]";
    }
    var keys = Object.keys(value).sort();
    if (!keys.length) return "{}";
    for (var k = 0; k < keys.length; k++) {
      parts.push(inner + '<span class="j-key">"' + esc(keys[k]) + '"</span>: ' + jsonHtml(value[keys[k]], inner));
    }
    return "{\n" + parts.join(",\n") + "\n" + indent + "}";
  }

  // -- one stream: frames decoded on demand ------------------------------------------------
  function Stream(raw, side) {
    this.raw = raw; this.side = side; this.n = raw.frames.id.length; this.cache = {};
    // a legacy chunk stream: item i is chunk i (its cassette line), not a frame
    this.chunked = !!raw.chunked; this.unit = this.chunked ? "chunk" : "frame";
    var spans = [];
    for (var i = 0; i < raw.spans.length; i++) {
      var s = raw.spans[i];
      spans.push({ index: i, kind: s[0], name: s[1], start: s[2], end: s[3], parent: s[4], status: s[5],
        duration: s[6], text: s[7], thinking: s[8], tools: s[9], segments: s[10], chunks: s[11], detail: s[12],
        children: [] });
    }
    for (var j = 0; j < spans.length; j++) if (spans[j].parent !== null) spans[spans[j].parent].children.push(j);
    this.spans = spans;
    this.role = new Array(this.n); // "start", "end", "chunk" or undefined (a point event)
    for (var m = 0; m < spans.length; m++) {
      this.role[spans[m].start] = "start";
      if (spans[m].end !== null) this.role[spans[m].end] = "end";
      for (var g = 0; g < spans[m].segments.length; g++) {
        for (var f = spans[m].segments[g][1]; f <= spans[m].segments[g][2]; f++) this.role[f] = "chunk";
      }
    }
    this.violationsAt = {};
    for (var v = 0; v < raw.violations.length; v++) {
      var frames = raw.violations[v].frames;
      if (frames.length) (this.violationsAt[frames[0]] = this.violationsAt[frames[0]] || []).push(raw.violations[v]);
    }
  }
  Stream.prototype.data = function (i) {
    if (this.cache[i]) return this.cache[i];
    var stored = this.raw.frames.data[i], out;
    if (Array.isArray(stored)) {
      out = Object.assign({}, this.data(stored[0]), stored[1]);
      for (var k = 0; k < stored[2].length; k++) delete out[stored[2][k]];
    } else out = stored;
    return (this.cache[i] = out);
  };
  Stream.prototype.frame = function (i) {
    if (this.chunked) return Object.assign({ kind: "chunk", stream: this.raw.index }, this.data(i));
    var c = this.raw.frames, ns = this.raw.namespaces[c.ns[i]];
    return { version: "v1", id: c.id[i], seq: c.seq[i], type: this.raw.types[c.type[i]],
      channel: this.raw.channels[c.channel[i]], namespace: ns ? ns.split("/") : [],
      timestamp: c.ts[i], parent_id: c.parent[i], previous_id: c.previous[i], data: this.data(i) };
  };
  Stream.prototype.type = function (i) { return this.raw.types[this.raw.frames.type[i]]; };
  Stream.prototype.channel = function (i) { return this.raw.channels[this.raw.frames.channel[i]]; };
  Stream.prototype.ns = function (i) { return this.raw.namespaces[this.raw.frames.ns[i]]; };
  Stream.prototype.content = function (i) {
    var d = this.data(i);
    if (this.chunked) return (d.tool_call ? (d.tool_call.tool_name || "tool") + ": " : "") + (d.content || "");
    if (typeof d.chunk === "string" && d.chunk) return d.chunk;
    if (d.tool_call && typeof d.tool_call === "object") {
      var fn = d.tool_call.function || {};
      return (fn.name || "") + "(" + (fn.arguments || "") + ")";
    }
    var keys = ["response", "error", "result", "output", "message", "content", "tool_name", "method_name", "flow_name"];
    for (var k = 0; k < keys.length; k++) {
      var value = d[keys[k]];
      if (value !== undefined && value !== null && value !== "") return typeof value === "string" ? value : JSON.stringify(value);
    }
    return "";
  };
  Stream.prototype.x = function (i, axis) {
    if (axis === "time") {
      var ts = this.raw.frames.ts, last = ts[this.n - 1] || 1;
      return (100 * ts[i]) / last;
    }
    return (100 * i) / Math.max(this.n, 1);
  };
  Stream.prototype.x2 = function (i, axis) {
    if (axis === "time") return this.x(i, axis);
    return (100 * (i + 1)) / Math.max(this.n, 1);
  };
  Stream.prototype.laneOf = function (i, mode) { return mode === "namespace" ? (this.ns(i) || this.channel(i)) : this.channel(i); };

  // -- drawing ----------------------------------------------------------------------------------
  function fmtDuration(s) {
    if (s === null || s === undefined) return "";
    return s < 1 ? (s * 1000).toFixed(1) + " ms" : s.toFixed(3) + " s";
  }
  function hasText(span) { return span.kind === "llm" || span.kind === "chunks"; }
  function llmPreview(span) {
    var calls = span.tools.map(function (t) { return t[0] + "(" + t[1] + ")"; }).join(" ");
    if (span.text && span.kind === "chunks" && calls) return calls + " → " + firstLine(span.text);
    return span.text ? firstLine(span.text) : calls;
  }
  function firstLine(text) { var line = (text || "").split("\n")[0]; return line.length > 80 ? line.slice(0, 79) + "…" : line; }

  function drawTimeline(stream, host, divergence) {
    var axis = state.axis, mode = state.lanes;
    host.textContent = "";
    var canvas = el("div", "canvas");
    canvas.style.width = 100 * state.zoom + "%";
    host.appendChild(canvas);
    var ruler = el("div", "ruler");
    canvas.appendChild(ruler);
    for (var t = 0; t <= 10; t++) {
      var tick = el("span", "tick");
      tick.style.left = t * 10 + "%";
      if (axis === "time") {
        var last = stream.raw.frames.ts[stream.n - 1] || 0;
        tick.textContent = fmtDuration((last * t) / 10);
      } else tick.textContent = String(Math.round((stream.n * t) / 10));
      ruler.appendChild(tick);
    }
    var lanes = {}, order = [];
    function lane(key) {
      if (!lanes[key]) {
        var node = el("div", "lane");
        node.dataset.lane = key;
        var label = el("div", "lane-label", key);
        var body = el("div", "lane-body");
        node.appendChild(label); node.appendChild(body);
        lanes[key] = { node: node, body: body, rows: [], rowOf: {} };
        order.push(key);
      }
      return lanes[key];
    }
    // spans, parents before children, each in the first free row below its same-lane ancestors
    var spans = stream.spans;
    for (var s = 0; s < spans.length; s++) {
      var span = spans[s], key = stream.laneOf(span.start, mode), L = lane(key);
      var last = span.end === null ? stream.n - 1 : span.end;
      var a = stream.x(span.start, axis), b = Math.max(stream.x2(last, axis), a);
      var minRow = 0;
      for (var p = span.parent; p !== null; p = spans[p].parent) {
        if (L.rowOf[p] !== undefined) { minRow = Math.max(minRow, L.rowOf[p] + 1); }
      }
      var row = minRow;
      while (L.rows[row] !== undefined && L.rows[row] > span.start) row++;
      L.rows[row] = last + 1;
      L.rowOf[s] = row;
      var box = el("div", "span kind-" + span.kind + " status-" + span.status);
      box.dataset.span = s;
      box.dataset.kind = span.kind;
      box.dataset.parent = span.parent === null ? "" : span.parent;
      box.dataset.start = span.start;
      box.dataset.end = span.end === null ? "" : span.end;
      box.style.left = a + "%";
      box.style.width = "calc(" + (b - a) + "% - 1px)";
      box.style.top = MARK_ROW + row * ROW + "px";
      var label = span.name + (hasText(span) ? " — " + llmPreview(span) : "");
      box.title = span.kind + " " + span.name + " (" + stream.unit + "s " + span.start + "–" + (span.end === null ? "open" : span.end) + ")" +
        (span.duration ? " " + fmtDuration(span.duration) : "");
      for (var g = 0; g < span.segments.length; g++) {
        var seg = span.segments[g], sa = stream.x(seg[1], axis), sb = stream.x2(seg[2], axis), w = b - a || 1;
        var segBox = el("div", "seg seg-" + seg[0]);
        segBox.style.left = (100 * (sa - a)) / w + "%";
        segBox.style.width = Math.max((100 * (sb - sa)) / w, 0.5) + "%";
        segBox.title = seg[3] + " " + seg[0] + " chunk(s), frames " + seg[1] + "–" + seg[2];
        box.appendChild(segBox);
      }
      box.appendChild(el("span", "span-label", label));
      L.body.appendChild(box);
    }
    // point frames (neither start, end nor chunk) as marks on the lane's top strip
    var drawn = 0;
    for (var i = 0; i < stream.n && drawn < MAX_MARKS; i++) {
      if (stream.role[i] !== undefined) continue;
      var mark = el("div", "mark");
      mark.dataset.frame = i;
      mark.style.left = stream.x(i, axis) + "%";
      mark.title = i + " " + stream.channel(i) + "/" + stream.type(i);
      lane(stream.laneOf(i, mode)).body.appendChild(mark);
      drawn++;
    }
    // violations, drawn on the frame they concern, in that frame's lane
    var vio = stream.raw.violations;
    for (var v = 0; v < vio.length; v++) {
      if (!vio[v].frames.length) continue;
      var at = vio[v].frames[0];
      if (at >= stream.n) continue;
      var mv = el("div", "violation");
      mv.dataset.frame = at;
      mv.dataset.rule = vio[v].rule;
      mv.style.left = stream.x(at, axis) + "%";
      mv.title = vio[v].text;
      lane(stream.laneOf(at, mode)).body.appendChild(mv);
    }
    for (var o = 0; o < order.length; o++) {
      var Lk = lanes[order[o]];
      Lk.body.style.height = MARK_ROW + Math.max(Lk.rows.length, 1) * ROW + "px";
      canvas.appendChild(Lk.node);
    }
    if (divergence !== undefined && divergence !== null) {
      var line = el("div", "divergence");
      line.dataset.frame = divergence;
      line.style.left = (divergence < stream.n ? stream.x(divergence, axis) : 100) + "%";
      line.title = "first divergence: " + stream.unit + " " + divergence;
      canvas.appendChild(line);
    }
  }

  function drawTree(stream, host) {
    host.textContent = "";
    function node(i) {
      var span = stream.spans[i], li = el("li", "tree-node kind-" + span.kind + " status-" + span.status);
      li.dataset.span = i;
      var row = el("div", "tree-row");
      row.appendChild(el("span", "badge", span.kind));
      row.appendChild(el("span", "tree-name", span.name));
      if (span.duration) row.appendChild(el("span", "dur", fmtDuration(span.duration)));
      if (span.status !== "ok") row.appendChild(el("span", "status", span.status));
      if (hasText(span) && (span.text || span.tools.length)) row.appendChild(el("span", "preview", llmPreview(span)));
      li.appendChild(row);
      if (span.children.length) {
        var ul = el("ul");
        for (var c = 0; c < span.children.length; c++) ul.appendChild(node(span.children[c]));
        li.appendChild(ul);
      }
      return li;
    }
    var root = el("ul", "tree");
    for (var i = 0; i < stream.spans.length; i++) if (stream.spans[i].parent === null) root.appendChild(node(i));
    host.appendChild(root);
  }

  // frames table, virtual: only the visible rows exist
  function FrameList(stream, host, divergence) {
    this.stream = stream; this.host = host; this.divergence = divergence;
    host.textContent = "";
    var head = el("div", "frame-row head");
    ["#", "seq", "channel", "type", "namespace", "content"].forEach(function (h) { head.appendChild(el("span", "c-" + h.replace("#", "i"), h)); });
    host.appendChild(head);
    this.scroller = el("div", "frame-scroll");
    this.spacer = el("div", "frame-spacer");
    this.spacer.style.height = stream.n * 18 + "px";
    this.scroller.appendChild(this.spacer);
    host.appendChild(this.scroller);
    var self = this;
    this.scroller.addEventListener("scroll", function () { self.render(); });
    this.render(true);
  }
  FrameList.prototype.render = function (initial) {
    // the first rows are drawn without reading the layout: reading it would force a layout
    // of the whole page in the middle of building it
    var top = initial ? 0 : this.scroller.scrollTop;
    var height = initial ? 900 : this.scroller.clientHeight || 300;
    var first = Math.max(0, Math.floor(top / 18) - 5), last = Math.min(this.stream.n, Math.ceil((top + height) / 18) + 5);
    this.spacer.textContent = "";
    for (var i = first; i < last; i++) {
      var s = this.stream, row = el("div", "frame-row");
      row.dataset.frame = i;
      row.style.top = i * 18 + "px";
      if (s.violationsAt[i]) row.classList.add("has-violation");
      if (this.divergence === i) row.classList.add("is-divergence");
      if (state.selected && state.selected.frame === i && state.selected.side === s.side) row.classList.add("selected");
      row.appendChild(el("span", "c-i", String(i)));
      row.appendChild(el("span", "c-seq", s.raw.frames.seq[i] === null ? "" : String(s.raw.frames.seq[i])));
      row.appendChild(el("span", "c-channel", s.channel(i)));
      row.appendChild(el("span", "c-type", s.type(i)));
      row.appendChild(el("span", "c-namespace", s.ns(i)));
      var content = el("span", "c-content");
      content.innerHTML = marked(s.content(i).replace(/\n/g, "\\n"));
      row.appendChild(content);
      this.spacer.appendChild(row);
    }
  };
  FrameList.prototype.scrollTo = function (i) {
    this.scroller.scrollTop = Math.max(0, i * 18 - 60);
    this.render();
  };

  // -- details --------------------------------------------------------------------------------
  function section(title, id) {
    var box = el("section", "detail-section");
    if (id) box.id = id;
    box.appendChild(el("h3", null, title));
    return box;
  }
  function frameSection(stream, i, title) {
    var box = section(title + " — " + stream.unit + " " + i + " (" + stream.channel(i) + "/" + stream.type(i) + ")");
    box.dataset.frame = i;
    var pre = el("pre", "json");
    pre.innerHTML = jsonHtml(stream.frame(i));
    if (stream.violationsAt[i]) {
      stream.violationsAt[i].forEach(function (v) { box.appendChild(el("div", "violation-text", v.text)); });
    }
    box.appendChild(pre);
    return box;
  }
  function showSpan(stream, i) {
    var span = stream.spans[i], host = $("details");
    state.selected = { side: stream.side, span: i, frame: span.start };
    host.textContent = "";
    host.dataset.span = i;
    host.dataset.frame = "";
    var head = section(span.kind + ": " + span.name);
    head.appendChild(el("div", "meta", stream.unit + "s " + span.start + "–" + (span.end === null ? "(no end frame)" : span.end) +
      " · " + span.status + (span.duration ? " · " + fmtDuration(span.duration) : "") +
      (span.chunks ? " · " + span.chunks + " chunk(s)" : "")));
    if (span.detail) { var d = el("pre", "detail"); d.innerHTML = marked(span.detail); head.appendChild(d); }
    host.appendChild(head);
    if (hasText(span)) {
      var text = section("assembled text", "llm-text");
      var pre = el("pre", "llm-text"); pre.innerHTML = marked(span.text || ""); text.appendChild(pre);
      host.appendChild(text);
      if (span.thinking) {
        var th = section("thinking", "llm-thinking"), tp = el("pre", "llm-thinking"); tp.innerHTML = marked(span.thinking);
        th.appendChild(tp); host.appendChild(th);
      }
      if (span.tools.length) {
        var tc = section("tool calls", "llm-tools");
        span.tools.forEach(function (t) { var p = el("pre", "llm-tool"); p.innerHTML = marked(t[0] + "(" + t[1] + ")"); tc.appendChild(p); });
        host.appendChild(tc);
      }
    }
    host.appendChild(frameSection(stream, span.start, stream.chunked ? "first" : "start"));
    if (span.end !== null) host.appendChild(frameSection(stream, span.end, stream.chunked ? "last" : "end"));
    highlight();
  }
  function showFrame(stream, i) {
    var host = $("details");
    state.selected = { side: stream.side, frame: i, span: null };
    host.textContent = "";
    host.dataset.frame = i;
    host.dataset.span = "";
    var div = currentDivergence();
    if (div && div.frame === i) host.appendChild(divergenceSection(div));
    host.appendChild(frameSection(stream, i, DATA.compare ? DATA.sides[stream.side].label : stream.unit));
    if (DATA.compare) {
      var other = views[1 - stream.side];
      if (other && i < other.stream.n) host.appendChild(frameSection(other.stream, i, DATA.sides[1 - stream.side].label));
    }
    highlight();
    views.forEach(function (v) { if (v && (DATA.compare || v === views[stream.side])) v.list.scrollTo(i); });
  }
  function divergenceSection(div) {
    var unit = (views[0] && views[0].stream.unit) || "frame";
    var box = section("first divergence" + (div.frame === null ? "" : ": " + unit + " " + div.frame), "divergence-diff");
    var pre = el("pre", "diff");
    pre.innerHTML = div.lines.map(function (line) {
      var cls = / -> /.test(line) ? "diff-change" : "";
      return '<span class="' + cls + '">' + marked(line) + "</span>";
    }).join("\n");
    box.appendChild(pre);
    return box;
  }
  function highlight() {
    var sel = state.selected;
    document.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
    if (!sel) return;
    var root = views[sel.side] && views[sel.side].root;
    if (!root) return;
    if (sel.span !== null) root.querySelectorAll('[data-span="' + sel.span + '"]').forEach(function (n) { n.classList.add("selected"); });
    else root.querySelectorAll('[data-frame="' + sel.frame + '"]').forEach(function (n) { n.classList.add("selected"); });
  }

  // -- page -------------------------------------------------------------------------------------
  var views = [];
  function currentDivergence() {
    for (var d = 0; d < DATA.divergences.length; d++) {
      if (DATA.divergences[d].stream === state.stream) return DATA.divergences[d];
    }
    return null;
  }
  function streamAt(side, index) {
    var list = DATA.sides[side].streams;
    for (var i = 0; i < list.length; i++) if (list[i].index === index) return list[i];
    return null;
  }
  function render() {
    var main = $("sides");
    main.textContent = "";
    views = [];
    var div = currentDivergence(), timed = false;
    for (var side = 0; side < DATA.sides.length; side++) {
      var raw = streamAt(side, state.stream), root = el("section", "side");
      root.dataset.side = side;
      main.appendChild(root);
      if (DATA.compare) root.appendChild(el("h2", "side-label", (side === 0 ? "expected: " : "actual: ") + DATA.sides[side].label));
      if (!raw) { root.appendChild(el("p", "empty", "no stream " + state.stream + " in this recording")); views.push(null); continue; }
      var stream = new Stream(raw, side);
      timed = timed || raw.timed;
      var summary = el("div", "summary", "stream " + raw.index + " (" + raw.source + (raw.name ? ", " + raw.name : "") + "): " +
        stream.n + " " + stream.unit + "s, " + stream.spans.length + " spans, ended: " + raw.outcome +
        (raw.error ? " " + raw.error.type + ": " + raw.error.message : "") +
        (raw.violations.length ? " · " + (raw.violations.length + raw.more_violations) + " violation(s)" : ""));
      root.appendChild(summary);
      if (raw.violations.length) {
        var vl = el("ul", "violations");
        raw.violations.forEach(function (v) {
          var li = el("li", "violation-item", v.text);
          li.dataset.frame = v.frames.length ? v.frames[0] : "";
          vl.appendChild(li);
        });
        if (raw.more_violations) vl.appendChild(el("li", null, "… and " + raw.more_violations + " more (crewstream check lists them all)"));
        root.appendChild(vl);
      }
      var grid = el("div", "grid"), tree = el("div", "tree-panel"), timeline = el("div", "timeline"), list = el("div", "frames");
      grid.appendChild(tree); grid.appendChild(timeline);
      root.appendChild(grid);
      root.appendChild(list);
      var divFrame = div ? div.frame : null;
      drawTree(stream, tree);
      drawTimeline(stream, timeline, divFrame);
      views.push({ stream: stream, root: root, list: new FrameList(stream, list, divFrame) });
    }
    var axis = $("axis-time");
    axis.disabled = !timed;
    if (!timed) { axis.checked = false; state.axis = "index"; }
    $("axis-note").textContent = timed ? "" : "x: frame index (timestamps are all 0.0: order and nesting, no durations)";
    if (div) {
      var banner = $("divergence-banner");
      banner.hidden = false;
      banner.textContent = div.lines[0].indexOf("first divergence") >= 0 ? div.lines[0] : "first divergence: " + div.lines[0];
      banner.dataset.frame = div.frame === null ? "" : div.frame;
    } else if (DATA.compare) {
      $("divergence-banner").hidden = false;
      $("divergence-banner").textContent = "stream " + state.stream + " is the same in both recordings";
    }
    $("details").textContent = "";
    $("details").appendChild(el("p", "hint", "click a span, a frame, a mark or a violation to see its frames"));
    if (div && div.frame !== null && views[0]) showFrame(views[0].stream, div.frame);
  }
  function onClick(event) {
    var target = event.target.closest("[data-span],[data-frame]");
    if (!target || target.id === "details") return;
    var sideNode = target.closest("[data-side]");
    var side = sideNode ? Number(sideNode.dataset.side) : 0;
    if (target.id === "divergence-banner") side = 0;
    var view = views[side];
    if (!view) return;
    if (target.dataset.span !== undefined && target.dataset.span !== "") showSpan(view.stream, Number(target.dataset.span));
    else if (target.dataset.frame !== undefined && target.dataset.frame !== "") showFrame(view.stream, Number(target.dataset.frame));
  }

  function init() {
    document.title = "crewstream view: " + DATA.title;
    $("title").textContent = DATA.title;
    $("generator").textContent = DATA.generator;
    var select = $("stream-select"), seen = {};
    DATA.sides.forEach(function (side) {
      side.streams.forEach(function (s) {
        if (seen[s.index]) return;
        seen[s.index] = true;
        var option = el("option", null, "stream " + s.index + " (" + s.source + ") · " + s.frames.id.length + (s.chunked ? " chunks · " : " frames · ") + s.outcome);
        option.value = s.index;
        select.appendChild(option);
      });
    });
    var first = DATA.sides[0].streams[0] || (DATA.sides[1] && DATA.sides[1].streams[0]);
    state.stream = first ? first.index : 0;
    if (DATA.divergences.length) state.stream = DATA.divergences[0].stream;
    select.value = state.stream;
    select.addEventListener("change", function () { state.stream = Number(select.value); state.selected = null; render(); });
    $("axis-time").addEventListener("change", function (e) { state.axis = e.target.checked ? "time" : "index"; render(); });
    $("lane-mode").addEventListener("change", function (e) { state.lanes = e.target.value; render(); });
    $("zoom").addEventListener("input", function (e) { state.zoom = Number(e.target.value); render(); });
    document.addEventListener("click", onClick);
    if (first && first.timed) { state.axis = "time"; $("axis-time").checked = true; }
    render();
    document.body.dataset.ready = "true";
  }
  init();
})();
