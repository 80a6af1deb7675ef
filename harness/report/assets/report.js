// The report page: builds every section from the embedded JSON. Every string from the store goes into the DOM
// through textContent (never innerHTML) and into plotly escaped, so a hostile model name stays text.
// Plots are drawn lazily when scrolled into view (IntersectionObserver): a 1,000-point report stays interactive.
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const RUN = DATA.runs[DATA.main];
  const MAIN = document.getElementById("main");
  const NAV = document.getElementById("nav");
  const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  const MAX_TRACES = 40;

  // ------------------------------------------------------------------ DOM helpers (text only)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "title") node.title = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    }
    return node;
  }
  function note(parent, text) { parent.appendChild(el("p", { class: "note" }, text)); }
  function section(id, title) {
    const body = el("section", { id: id }, el("h2", {}, title));
    MAIN.appendChild(body);
    NAV.appendChild(el("a", { href: "#" + id }, title));
    return body;
  }
  // plotly renders a small HTML subset in its text: escape so data shows literally
  function ptext(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  function short(v, n) {
    const t = String(v), max = n || 28;
    return t.length > max ? "…" + t.slice(t.length - max + 1) : t;
  }
  function select(options, chosen, onChange, label) {
    const node = el("select", { "aria-label": label || "choose" });
    for (const opt of options) {
      const o = el("option", {}, opt);
      o.value = opt;
      if (opt === chosen) o.selected = true;
      node.appendChild(o);
    }
    node.addEventListener("change", () => onChange(node.value));
    return node;
  }

  // ------------------------------------------------------------------ numbers
  const UNITS = { bytes: "MiB", "tok/s": "tok/s", "req/s": "req/s", ms: "ms", s: "s", J: "J", W: "W", kg: "kg",
    "%": "%", "FLOP/s": "FLOP/s", "bytes/s": "B/s", "FLOP/byte": "FLOP/B", USD: "USD", "USD/h": "USD/h",
    "USD/Mtok": "USD/Mtok" };
  function unit(metric) {
    const declared = (DATA.catalogue || {})[metric];
    if (declared) return UNITS[declared.unit] || "";
    if (metric.endsWith("_bytes")) return "MiB";
    const m = metric.match(/_(ms|s|tok_s|req_s|j|w|kg|pct)(?:_(p\d+|mean|std))?$/);
    const names = { ms: "ms", s: "s", tok_s: "tok/s", req_s: "req/s", j: "J", w: "W", kg: "kg", pct: "%" };
    return m ? names[m[1]] : "";
  }
  function scaled(metric, v) {
    if (v === null || v === undefined) return null;
    return metric.endsWith("_bytes") ? v / 1048576 : v;
  }
  function fmt(v, metric) {
    if (v === null || v === undefined) return "–";
    if (metric && metric.endsWith("_bytes")) {
      return v >= 2 ** 30 ? (v / 2 ** 30).toFixed(2) + " GiB" : (v / 2 ** 20).toFixed(1) + " MiB";
    }
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(3);
    if (a >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 1 });
    return String(Number(v.toPrecision(4)));
  }
  function axisTitle(metric) { const u = unit(metric); return u ? metric + " (" + u + ")" : metric; }
  const COL = {};
  function columnsOf(run) {
    if (!COL[run.run_id]) COL[run.run_id] = Object.fromEntries(run.metrics.map((m, i) => [m, i]));
    return COL[run.run_id];
  }
  function val(run, point, metric) {
    const i = columnsOf(run)[metric];
    if (i === undefined) return { v: null, lo: null, hi: null };
    return { v: point.v[i], lo: point.lo[i], hi: point.hi[i] };
  }
  function has(run, metric) {
    const i = columnsOf(run)[metric];
    return i !== undefined && run.points.some((p) => p.v[i] !== null);
  }
  function errorBars(metric, vals) {
    return {
      type: "data", symmetric: false, visible: true, thickness: 1.2, width: 3,
      array: vals.map((x) => (x.v === null || x.hi === null ? null : scaled(metric, x.hi - x.v))),
      arrayminus: vals.map((x) => (x.v === null || x.lo === null ? null : scaled(metric, x.v - x.lo))),
    };
  }

  // ------------------------------------------------------------------ lazy plots
  const plots = new Map(); // id -> {div, build, drawn: Promise|null}
  const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const e of entries) if (e.isIntersecting) draw(e.target.id);
  }, { rootMargin: "150px" }) : null;

  function addPlot(parent, id, build) {
    const div = el("div", { id: id, class: "plot" });
    parent.appendChild(div);
    plots.set(id, { div: div, build: build, drawn: null });
    return div;
  }
  function draw(id) {
    const entry = plots.get(id);
    if (!entry) return Promise.reject(new Error("no plot " + id));
    if (!entry.drawn) {
      if (observer) observer.unobserve(entry.div);
      const fig = entry.build();
      entry.drawn = Plotly.newPlot(entry.div, fig.data, fig.layout, PLOT_CONFIG).then(() => {
        entry.div.dataset.drawn = "1";
      });
    }
    return entry.drawn;
  }
  function redraw(id) {
    const entry = plots.get(id);
    if (!entry || !entry.drawn) return;
    entry.drawn = entry.drawn.then(() => {
      const fig = entry.build();
      return Plotly.react(entry.div, fig.data, fig.layout, PLOT_CONFIG);
    });
  }
  function baseLayout(xTitle, yTitle, extra) {
    return Object.assign({
      margin: { l: 64, r: 12, t: 30, b: 52 }, hovermode: "closest",
      xaxis: { title: { text: ptext(xTitle) }, automargin: true, zeroline: false },
      yaxis: { title: { text: ptext(yTitle) }, automargin: true, zeroline: false },
      legend: { font: { size: 10 }, orientation: "h", y: -0.25, yanchor: "top" }, font: { size: 11 },
    }, extra || {});
  }
  function emptyFigure(message) {
    return { data: [], layout: { xaxis: { visible: false }, yaxis: { visible: false },
      annotations: [{ text: ptext(message), showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] } };
  }

  // ------------------------------------------------------------------ summary
  function time(epoch) {
    return epoch ? new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
  }
  // one row per fact, one column per run; rows empty in every run are left out
  function factTable(header, rows) {
    const t = el("table", { class: "kv" });
    if (header) t.appendChild(el("tr", {}, el("th", {}), ...header.map((h) => el("th", {}, h))));
    for (const [k, ...vs] of rows) {
      if (vs.every((v) => v === null || v === undefined || v === "")) continue;
      t.appendChild(el("tr", {}, el("td", {}, k), ...vs.map((v) => el("td", {},
        v === null || v === undefined ? "" : String(v)))));
    }
    return t;
  }
  function runFacts(run, i) {
    const fp = run.fingerprint || {};
    const gpus = (fp.gpus || []).map((g) => g.name + " (" + fmt(g.memory_total_bytes, "x_bytes") + ")").join(", ");
    const slo = Object.entries(run.suite.slo || {}).filter(([, v]) => v !== null).map(([k, v]) => k + " ≤ " + v);
    return [
      ["role", DATA.runs.length < 2 ? "" : i === 0 ? "reference" : i === DATA.main ? "shown in detail below" : ""],
      ["suite", run.suite_name], ["status", run.status], ["tags", (run.tags || []).join(", ")],
      ["started", time(run.started_at)], ["finished", time(run.finished_at)],
      ["points", Object.entries(run.counts).map(([k, n]) => n + " " + k).join(", ")],
      ["repetitions", run.suite.repetitions], ["harness", run.harness_version],
      ["CPU", fp.cpu_model], ["cores (logical/physical)", fp.cpu_count_logical + " / " + fp.cpu_count_physical],
      ["memory", fmt(fp.memory_total_bytes, "x_bytes")], ["GPUs", gpus || fp.gpu_note || "none"],
      ["driver", fp.driver], ["CUDA_VISIBLE_DEVICES", fp.cuda_visible_devices], ["python", fp.python],
      ["platform", fp.platform], ["host", fp.hostname], ["git", fp.git_sha],
      ["samplers", (run.suite.samplers || []).join(", ") || "none"], ["SLO", slo.join(", ")],
    ];
  }
  function summarySection() {
    const s = section("summary", "Run summary");
    const facts = DATA.runs.map(runFacts);
    const rows = facts[0].map((row, r) => [row[0], ...facts.map((f) => f[r][1])]);
    s.appendChild(factTable(DATA.runs.map((r) => "run " + r.run_id), rows));
    const names = [...new Set(DATA.runs.flatMap((r) => Object.keys((r.fingerprint || {}).packages || {})))].sort();
    if (names.length) {
      const d = el("details", {}, el("summary", {}, "package versions"));
      d.appendChild(factTable(DATA.runs.map((r) => r.run_id),
        names.map((n) => [n, ...DATA.runs.map((r) => ((r.fingerprint || {}).packages || {})[n])])));
      s.appendChild(d);
    }
    DATA.runs.forEach((run) => {
      const d = el("details", {}, el("summary", {}, "suite of run " + run.run_id));
      d.appendChild(el("pre", {}, run.suite_yaml || ""));
      s.appendChild(d);
    });
  }

  // ------------------------------------------------------------------ points table
  const TABLE_METRICS = DATA.table_metrics; // from the metric catalogue
  function cellText(run, p, metric) {
    const x = val(run, p, metric);
    let text = fmt(x.v, metric);
    if (x.v !== null && x.lo !== null && x.hi !== null && x.hi > x.lo && !metric.endsWith("_bytes")) {
      text += " ±" + fmt((x.hi - x.lo) / 2, metric);
    }
    return text;
  }
  function pointsSection() {
    const s = section("points", "Points");
    if (!RUN.points.length) { note(s, "this run stored no points"); return; }
    const metrics = TABLE_METRICS.filter((m) => has(RUN, m));
    const axes = RUN.axes.map((a) => a.name);
    // with swept axes, their columns name the point; without, its label does
    const cols = [{ key: "#", get: (p) => p.idx, num: true }]
      .concat(axes.length ? [] : [{ key: "point", get: (p) => p.label }])
      .concat([{ key: "status", get: (p) => p.status }])
      .concat(axes.map((a) => ({ key: a, get: (p) => p.axes[a], num: RUN.axes.find((x) => x.name === a).numeric })))
      .concat([{ key: "reps", get: (p) => p.reps, num: true }])
      .concat(metrics.map((m) => ({ key: m + (unit(m) ? " (" + unit(m) + ")" : ""), metric: m,
        get: (p) => val(RUN, p, m).v, num: true })));
    note(s, RUN.points.length + " points; medians across repetitions ± half the 95% bootstrap CI. " +
      "Click a column to sort (all rows are sorted, the first 200 shown until you ask for all). Every metric is in the plots below.");
    const table = el("table", { id: "points-table" });
    const head = el("tr");
    const tbody = el("tbody");
    let sortCol = 0, ascending = true, showAll = false;
    const FIRST_ROWS = 200; // the rest on request: a 1,000-row table would delay the first screen
    function fill() {
      const col = cols[sortCol];
      const rows = RUN.points.slice().sort((a, b) => {
        const x = col.get(a), y = col.get(b);
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        const c = col.num ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
        return ascending ? c : -c;
      });
      const frag = document.createDocumentFragment();
      for (const p of showAll ? rows : rows.slice(0, FIRST_ROWS)) {
        const tr = el("tr");
        for (const c of cols) {
          let text;
          if (c.metric) text = cellText(RUN, p, c.metric);
          else { const v = c.get(p); text = v === null || v === undefined ? "" : String(v); }
          const td = el("td", { class: c.num ? "num" : c.key === "status" ? "status-" + p.status : "" }, text);
          if (c.key === "status" && p.error) td.title = p.error;
          tr.appendChild(td);
        }
        frag.appendChild(tr);
      }
      tbody.replaceChildren(frag);
    }
    cols.forEach((c, i) => {
      const th = el("th", { class: "sortable" + (c.num ? " num" : ""), title: "sort by " + c.key }, c.key);
      th.addEventListener("click", () => {
        ascending = sortCol === i ? !ascending : true;
        sortCol = i;
        fill();
      });
      head.appendChild(th);
    });
    table.appendChild(el("thead", {}, head));
    table.appendChild(tbody);
    fill();
    s.appendChild(el("div", { class: "scroll" }, table));
    if (RUN.points.length > FIRST_ROWS) {
      const more = el("button", { type: "button" }, "show all " + RUN.points.length + " rows");
      more.addEventListener("click", () => { showAll = true; more.remove(); fill(); });
      s.appendChild(more);
    }
  }

  // ------------------------------------------------------------------ metric vs axis (with CI error bars)
  function seriesKey(p, axis) {
    const parts = RUN.axes.filter((a) => a.name !== axis).map((a) => a.name + "=" + p.axes[a.name]);
    return parts.join(" ") || "all points";
  }
  function axisFigure(run, axis, metric) {
    const ok = run.points.filter((p) => p.status === "ok" && val(run, p, metric).v !== null);
    if (!ok.length) return emptyFigure("no point has " + metric);
    const groups = new Map();
    for (const p of ok) {
      const key = axis ? seriesKey(p, axis.name) : "points";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(p);
    }
    const data = [];
    let i = 0;
    for (const [key, pts] of groups) {
      if (i >= MAX_TRACES) break;
      if (axis && axis.numeric) pts.sort((a, b) => a.axes[axis.name] - b.axes[axis.name]);
      const vals = pts.map((p) => val(run, p, metric));
      data.push({
        type: "scatter", mode: axis && pts.length > 1 ? "lines+markers" : "markers", name: ptext(key),
        x: pts.map((p) => (axis ? p.axes[axis.name] : ptext(p.label))),
        y: vals.map((x) => scaled(metric, x.v)), error_y: errorBars(metric, vals),
        text: pts.map((p) => ptext(p.label)), hovertemplate: "%{text}<br>%{y}<extra></extra>",
        marker: { color: COLORS[i % COLORS.length], size: 7 }, line: { width: 1.5 },
      });
      i++;
    }
    const layout = baseLayout(axis ? axis.name : "point", axisTitle(metric), { showlegend: groups.size > 1 });
    if (axis && !axis.numeric) {
      layout.xaxis.type = "category";
      layout.xaxis.categoryorder = "array";
      layout.xaxis.categoryarray = axis.values;
      layout.xaxis.tickvals = axis.values;
      layout.xaxis.ticktext = axis.values.map((v) => ptext(short(v)));
    } else if (axis) {
      const v = axis.values.filter((x) => x > 0);
      if (v.length === axis.values.length && v.length > 2 && Math.max(...v) / Math.min(...v) >= 16) {
        layout.xaxis.type = "log";
        // ticks at the swept values only: plotly's own log ticks label stray digits ("9") between them
        layout.xaxis.tickvals = axis.values;
        layout.xaxis.ticktext = axis.values.map((x) => String(x));
      }
    } else {
      layout.xaxis.type = "category";
    }
    if (groups.size > MAX_TRACES) {
      layout.title = { text: ptext("first " + MAX_TRACES + " of " + groups.size + " series shown"), font: { size: 11 } };
    }
    return { data: data, layout: layout };
  }
  function axisPlots(s, prefix, metrics, chosen) {
    const grid = el("div", { class: "grid" });
    s.appendChild(grid);
    const axes = RUN.axes.length ? RUN.axes : [null];
    axes.forEach((axis) => {
      const box = el("div", { class: "plotbox" });
      const id = prefix + "-" + (axis ? axis.name.replace(/[^A-Za-z0-9_-]/g, "_") : "points");
      let metric = chosen;
      const controls = el("div", { class: "controls" }, el("span", {}, "metric "),
        select(metrics, metric, (m) => { metric = m; redraw(id); }, "metric for " + id),
        el("span", {}, axis ? " against " + axis.name : " per point (no swept axis)"));
      box.appendChild(controls);
      addPlot(box, id, () => axisFigure(RUN, axis, metric));
      grid.appendChild(box);
    });
  }
  function axesSection() {
    const s = section("axes", "Metrics against swept axes");
    const ok = RUN.points.filter((p) => p.status === "ok");
    if (!ok.length) { note(s, "no point succeeded: nothing to plot (see Failed points)"); return; }
    if (!RUN.axes.length) note(s, "this run sweeps no axis; each point is shown on its own");
    else note(s, "swept axes: " + RUN.axes.map((a) => a.name).join(", ") +
      ". Error bars: 95% bootstrap CI of the median across repetitions; one line per combination of the other axes.");
    const metrics = RUN.metrics.filter((m) => has(RUN, m));
    const first = ["output_throughput_tok_s", "e2e_ms_p50", "ttft_ms_p50", "tpot_ms_p50"].filter((m) => has(RUN, m));
    const ordered = first.concat(metrics.filter((m) => !first.includes(m)));
    axisPlots(s, "axis", ordered, ordered[0]);
  }

  // ------------------------------------------------------------------ Pareto: throughput vs latency
  function paretoSection() {
    const s = section("pareto", "Throughput against latency (Pareto front)");
    const latencies = Object.keys(RUN.fronts.latency || {});
    if (!latencies.length) { note(s, "no successful point with throughput and latency figures"); return; }
    note(s, "one colour per engine/precision; the line joins its Pareto-optimal points (no other point of the same " +
      "engine has both higher throughput and lower latency). Error bars: 95% CIs.");
    let lat = latencies[0];
    const box = el("div", { class: "plotbox" });
    box.appendChild(el("div", { class: "controls" }, el("span", {}, "latency "),
      select(latencies, lat, (m) => { lat = m; redraw("pareto-plot"); }, "latency metric")));
    s.appendChild(box);
    addPlot(box, "pareto-plot", () => {
      const y = "output_throughput_tok_s";
      const groups = new Map();
      RUN.points.forEach((p, i) => {
        if (p.status !== "ok") return;
        if (!groups.has(p.group)) groups.set(p.group, []);
        groups.get(p.group).push(i);
      });
      const data = [];
      let c = 0;
      for (const [g, idx] of groups) {
        const color = COLORS[c++ % COLORS.length];
        const pts = idx.map((i) => RUN.points[i]);
        const xs = pts.map((p) => val(RUN, p, lat)), ys = pts.map((p) => val(RUN, p, y));
        data.push({ type: "scatter", mode: "markers", name: ptext(g), legendgroup: ptext(g),
          x: xs.map((v) => v.v), y: ys.map((v) => v.v), error_x: errorBars(lat, xs), error_y: errorBars(y, ys),
          text: pts.map((p) => ptext(p.label)), hovertemplate: "%{text}<br>%{x} / %{y}<extra></extra>",
          marker: { color: color, size: 7, opacity: 0.75 } });
        const front = ((RUN.fronts.latency[lat] || {})[g] || []).map((i) => RUN.points[i]);
        if (front.length) {
          data.push({ type: "scatter", mode: "lines", name: ptext(g + " front"), legendgroup: ptext(g),
            showlegend: false, x: front.map((p) => val(RUN, p, lat).v), y: front.map((p) => val(RUN, p, y).v),
            line: { color: color, width: 2, shape: "hv" }, hoverinfo: "skip" });
        }
      }
      return { data: data, layout: baseLayout(axisTitle(lat), axisTitle(y)) };
    });
  }

  // ------------------------------------------------------------------ efficiency: roofline, % of bound, predicted
  const PHASE_MARKERS = { prefill: { symbol: "circle", color: "#ff7f0e" }, decode: { symbol: "diamond", color: "#1f77b4" } };
  function effNotes(s) {
    const eff = RUN.efficiency || { sources: [], missing: [] };
    for (const src of eff.sources) {
      let text = "peaks: " + (src.peak_source || "none") + " (" + (src.device || "?") + ", " + (src.compute_dtype || "?") +
        ")" + (src.spec_source && String(src.peak_source).includes("spec") ? " from " + src.spec_source : "");
      if (src.usd_per_device_hour !== null && src.usd_per_device_hour !== undefined) {
        text += "; price $" + src.usd_per_device_hour + " per device-hour from " + src.price_source;
      }
      note(s, text + " — " + src.points + " point(s)");
    }
    for (const m of eff.missing) note(s, "missing for " + m.points + " point(s): " + m.reason);
  }
  function roofs(run) {
    const seen = new Map();
    for (const p of run.points) {
      const f = val(run, p, "peak_flops_s").v, b = val(run, p, "peak_bytes_s").v;
      if (f !== null && b !== null) seen.set(f + "|" + b, [f, b]);
    }
    return [...seen.values()];
  }
  function rooflineFigure() {
    const data = [];
    let xs = [];
    for (const phase of ["prefill", "decode"]) {
      const pts = RUN.points.filter((p) => p.status === "ok" && val(RUN, p, phase + "_intensity_flop_per_byte").v !== null &&
        val(RUN, p, phase + "_flops_s").v !== null);
      if (!pts.length) continue;
      const x = pts.map((p) => val(RUN, p, phase + "_intensity_flop_per_byte").v);
      xs = xs.concat(x);
      const pct = (v) => (v === null ? "–" : (100 * v).toPrecision(3) + "%");
      data.push({ type: "scatter", mode: "markers", name: phase, x: x, y: pts.map((p) => val(RUN, p, phase + "_flops_s").v),
        text: pts.map((p) => ptext(p.label)),
        customdata: pts.map((p) => [pct(val(RUN, p, phase + "_mfu").v), pct(val(RUN, p, phase + "_mbu").v),
          fmt(val(RUN, p, phase + "_pct_of_bound").v) + "%"]),
        hovertemplate: "%{text}<br>" + phase + ": %{x:.3g} FLOP/B, %{y:.3g} FLOP/s<br>MFU %{customdata[0]} · MBU " +
          "%{customdata[1]} · %{customdata[2]} of bound<extra></extra>",
        marker: { size: 10, symbol: PHASE_MARKERS[phase].symbol, color: PHASE_MARKERS[phase].color, opacity: 0.85 } });
    }
    if (!data.length) return emptyFigure("no point has FLOPs and bytes per phase");
    roofs(RUN).forEach(([flops, bw], i) => {
      const ridge = flops / bw;
      const lo = Math.min(...xs, ridge) / 4, hi = Math.max(...xs, ridge) * 4;
      data.push({ type: "scatter", mode: "lines", name: "roof " + (i + 1) + ": " + fmt(flops / 1e12) + " TFLOP/s, " +
        fmt(bw / 1e9) + " GB/s", x: [lo, ridge, hi], y: [lo * bw, flops, flops], hoverinfo: "name",
        line: { color: "#333", dash: i ? "dot" : "dash", width: 1.5 } });
    });
    return { data: data, layout: baseLayout("arithmetic intensity (FLOP/byte)", "achieved FLOP/s",
      { xaxis: { type: "log", title: { text: "arithmetic intensity (FLOP/byte)" }, automargin: true },
        yaxis: { type: "log", title: { text: "achieved FLOP/s" }, automargin: true } }) };
  }
  function memoryMeasured(p) {
    for (const m of ["torch_cuda_max_allocated_bytes", "gpu_mem_peak_bytes", "mem_peak_rss_bytes"]) {
      const x = val(RUN, p, m).v;
      if (x !== null) return [x, m];
    }
    return [null, ""];
  }
  function predictedTable(s) {
    const rows = RUN.points.filter((p) => p.status === "ok" && (val(RUN, p, "prefill_ideal_ms").v !== null ||
      val(RUN, p, "mem_predicted_bytes").v !== null));
    if (!rows.length) return;
    s.appendChild(el("h3", {}, "Predicted (idealized, as harness predict computes it) beside measured"));
    const head = ["#", "point", "prefill ms ideal / measured", "decode tok/s ideal / measured", "% of bound (prefill, decode)",
      "bound (prefill, decode)", "memory predicted / measured", "max batch at this context"];
    const t = el("table", { id: "predicted-table" }, el("tr", {}, ...head.map((h) => el("th", {}, h))));
    const bound = (p, ph) => { const v = val(RUN, p, ph + "_memory_bound").v; return v === null ? "–" : v ? "memory" : "compute"; };
    for (const p of rows) {
      const [mem, which] = memoryMeasured(p);
      t.appendChild(el("tr", {}, el("td", { class: "num" }, p.idx), el("td", {}, p.label),
        el("td", { class: "num" }, fmt(val(RUN, p, "prefill_ideal_ms").v) + " / " + fmt(val(RUN, p, "prefill_ms_mean").v)),
        el("td", { class: "num" }, fmt(val(RUN, p, "decode_ideal_tok_s").v) + " / " +
          fmt(val(RUN, p, "decode_throughput_tok_s").v)),
        el("td", { class: "num" }, fmt(val(RUN, p, "prefill_pct_of_bound").v) + "%, " +
          fmt(val(RUN, p, "decode_pct_of_bound").v) + "%"),
        el("td", {}, bound(p, "prefill") + ", " + bound(p, "decode")),
        el("td", { class: "num", title: which }, fmt(val(RUN, p, "mem_predicted_bytes").v, "x_bytes") + " / " +
          fmt(mem, "x_bytes")),
        el("td", { class: "num" }, fmt(val(RUN, p, "max_batch_fit").v))));
    }
    s.appendChild(el("div", { class: "scroll" }, t));
  }
  function efficiencySection() {
    const s = section("efficiency", "Efficiency against the hardware (roofline)");
    effNotes(s);
    if (!RUN.points.some((p) => p.status === "ok")) { note(s, "no point succeeded"); return; }
    note(s, "one marker per point and phase: arithmetic intensity (model FLOPs ÷ the fewest bytes moved) against " +
      "achieved FLOP/s, under the device's compute roof and bandwidth slope (the peaks above). Hover for MFU, MBU and " +
      "% of the bound (idealized ÷ measured time).");
    const box = el("div", { class: "plotbox" });
    s.appendChild(box);
    addPlot(box, "roofline-plot", rooflineFigure);
    const bound = ["decode_pct_of_bound", "prefill_pct_of_bound", "decode_mbu", "prefill_mfu", "window_mfu",
      "decode_vs_ideal", "prefill_vs_ideal"].filter((m) => has(RUN, m));
    if (bound.length) {
      s.appendChild(el("h3", {}, "% of bound against the swept axes"));
      axisPlots(s, "bound", bound, bound[0]);
    }
    predictedTable(s);
  }

  // ------------------------------------------------------------------ cost against latency
  function bestTable(s) {
    const best = (RUN.efficiency || {}).best || [];
    if (!best.length) return;
    const t = el("table", { id: "best-table" }, el("tr", {}, ...["model", "cheapest point meeting the SLO", "ranked by",
      "USD per million tokens", "note"].map((h) => el("th", {}, h))));
    for (const b of best) {
      const p = b.point === null ? null : RUN.points[b.point];
      t.appendChild(el("tr", {}, el("td", {}, b.model), el("td", {}, p ? "#" + p.idx + " " + p.label : "none"),
        el("td", {}, b.metric || "–"), el("td", { class: "num" }, fmt(b.value)), el("td", {}, b.note)));
    }
    s.appendChild(el("div", { class: "scroll" }, t));
  }
  function costSection() {
    const s = section("cost", "Cost against latency");
    const keys = Object.keys(RUN.fronts.cost || {});
    const limits = Object.entries(RUN.suite.slo || {}).filter(([, v]) => v !== null).map(([k, v]) => k + " ≤ " + v);
    note(s, "USD per million output tokens at the device-hour price above; at goodput only requests meeting every SLO " +
      "(" + (limits.join(", ") || "none set") + ") count. A point meets the SLO at p99, as the SLO search's trials do.");
    bestTable(s);
    if (!keys.length) {
      const why = ((RUN.efficiency || {}).missing || []).filter((m) => /price/.test(m.reason));
      note(s, "no cost figures" + (why.length ? ": " + why[0].reason : ""));
      return;
    }
    const lats = [...new Set(keys.map((k) => k.split("|")[0]))], costs = [...new Set(keys.map((k) => k.split("|")[1]))];
    let lat = lats[0], usd = costs[0];
    const box = el("div", { class: "plotbox" });
    box.appendChild(el("div", { class: "controls" }, el("span", {}, "latency "),
      select(lats, lat, (m) => { lat = m; redraw("cost-plot"); }, "latency metric"), el("span", {}, " cost "),
      select(costs, usd, (m) => { usd = m; redraw("cost-plot"); }, "cost metric")));
    s.appendChild(box);
    addPlot(box, "cost-plot", () => {
      const groups = new Map();
      RUN.points.forEach((p) => {
        if (p.status !== "ok" || val(RUN, p, usd).v === null) return;
        if (!groups.has(p.group)) groups.set(p.group, []);
        groups.get(p.group).push(p);
      });
      const data = [];
      let c = 0;
      for (const [g, pts] of groups) {
        const xs = pts.map((p) => val(RUN, p, lat)), ys = pts.map((p) => val(RUN, p, usd));
        data.push({ type: "scatter", mode: "markers", name: ptext(g), x: xs.map((v) => v.v), y: ys.map((v) => v.v),
          error_x: errorBars(lat, xs), error_y: errorBars(usd, ys), text: pts.map((p) => ptext(p.label)),
          hovertemplate: "%{text}<br>%{x} ms / $%{y}<extra></extra>", marker: { size: 9, color: COLORS[c++ % COLORS.length] } });
      }
      const front = (RUN.fronts.cost[lat + "|" + usd] || []).map((i) => RUN.points[i]);
      if (front.length > 1) {
        data.push({ type: "scatter", mode: "lines", name: "Pareto front", x: front.map((p) => val(RUN, p, lat).v),
          y: front.map((p) => val(RUN, p, usd).v), line: { color: "#333", dash: "dot", shape: "hv" }, hoverinfo: "skip" });
      }
      return { data: data, layout: baseLayout(axisTitle(lat), usd + " (USD per million tokens)") };
    });
  }

  // ------------------------------------------------------------------ energy and memory
  function energySection() {
    const s = section("energy", "Energy and memory");
    const energy = RUN.families.energy, memory = RUN.families.memory;
    const samplers = RUN.suite.samplers || [];
    s.appendChild(el("h3", {}, "Energy"));
    if (!energy.length) {
      const configured = samplers.filter((x) => ["nvml", "rapl", "codecarbon"].includes(x));
      note(s, configured.length
        ? "no energy figures: the energy samplers (" + configured.join(", ") + ") recorded nothing on this machine"
        : "no energy sampler in this run (samplers: " + (samplers.join(", ") || "none") +
          "); add nvml (GPU) or rapl (CPU) to the suite's samplers");
    } else {
      const sources = [...new Set(RUN.points.map((p) => p.energy_source).filter((x) => x))];
      note(s, "energy source: " + (sources.join(", ") || "unknown") + ". Net energy subtracts idle power × duration.");
      axisPlots(s, "energy", energy, energy[0]);
    }
    s.appendChild(el("h3", {}, "Memory"));
    if (!memory.length) note(s, "no memory figures (the psutil sampler records peak RSS)");
    else axisPlots(s, "memory", memory, memory[0]);
  }

  // ------------------------------------------------------------------ timelines
  const PANELS = { memory: "memory (MiB)", power: "power (W)", utilisation: "utilisation (%)" };
  const PHASE_COLORS = { prefill: "rgba(255,127,14,0.18)", decode: "rgba(31,119,180,0.13)",
    mixed: "rgba(148,103,189,0.18)" };
  function timelineSection() {
    const s = section("timelines", "Timelines");
    const ids = RUN.points.filter((p) => RUN.timelines[p.id]).map((p) => p.id);
    if (!ids.length) { note(s, "no sampler timelines stored in this run (samplers: " +
      ((RUN.suite.samplers || []).join(", ") || "none") + ")"); return; }
    const byLabel = new Map(RUN.points.filter((p) => RUN.timelines[p.id]).map((p) => [p.label, p.id]));
    let current = ids[0];
    const panels = Object.keys(PANELS).filter((panel) =>
      ids.some((id) => RUN.timelines[id].series.some((x) => x.panel === panel)));
    const missing = Object.keys(PANELS).filter((p) => !panels.includes(p));
    note(s, "first measured repetition of the chosen point, on the run's clock (ms from the window's start); " +
      "shaded: prefill (orange), decode (blue), both at once (purple), from the request events; the steady-state " +
      "window (first completion to last send, where the steady_* figures come from) is outlined in green. Long timelines " +
      "are decimated to min/max per bucket." + (missing.includes("power") ? " No power timeline: no nvml sampler " +
      "recorded power in this run." : ""));
    const chooser = select([...byLabel.keys()], RUN.points.find((p) => p.id === current).label, (label) => {
      current = byLabel.get(label);
      panels.forEach((panel) => redraw("timeline-" + panel));
    }, "timeline point");
    s.appendChild(el("div", { class: "controls" }, el("span", {}, "point "), chooser));
    const grid = el("div", { class: "grid" });
    s.appendChild(grid);
    for (const panel of panels) {
      const box = el("div", { class: "plotbox" });
      grid.appendChild(box);
      addPlot(box, "timeline-" + panel, () => {
        const tl = RUN.timelines[current];
        const series = tl.series.filter((x) => x.panel === panel);
        if (!series.length) return emptyFigure("this point has no " + panel + " samples");
        const data = series.map((x, i) => ({ type: "scatter", mode: "lines", name: ptext(x.sampler + "." + x.field),
          x: x.t, y: x.v, line: { width: 1.4, color: COLORS[i % COLORS.length] } }));
        const shapes = [];
        for (const [phase, spans] of Object.entries(tl.phases)) {
          for (const [a, b] of spans) {
            shapes.push({ type: "rect", xref: "x", yref: "paper", x0: a, x1: b, y0: 0, y1: 1, line: { width: 0 },
              fillcolor: PHASE_COLORS[phase] || "rgba(0,0,0,0.08)", layer: "below" });
          }
        }
        if (tl.steady) {
          shapes.push({ type: "rect", xref: "x", yref: "paper", x0: tl.steady[0], x1: tl.steady[1], y0: 0, y1: 1,
            line: { width: 1.5, color: "rgba(44,160,44,0.9)", dash: "dot" }, fillcolor: "rgba(44,160,44,0.07)",
            layer: "below" });
        }
        return { data: data, layout: baseLayout("ms (repetition " + tl.rep + ")", PANELS[panel],
          { shapes: shapes, title: { text: ptext(panel), font: { size: 12 } } }) };
      });
    }
  }

  // ------------------------------------------------------------------ SLO and goodput vs rate
  function sloSection() {
    const s = section("slo", "SLO attainment and goodput");
    const slo = RUN.families.slo;
    const rate = RUN.axes.find((a) => a.name === "rate");
    const limits = RUN.suite.slo ? Object.entries(RUN.suite.slo).filter(([, v]) => v !== null)
      .map(([k, v]) => k + " ≤ " + v).join(", ") : "";
    if (!slo.length) { note(s, "no SLO figures in this run"); return; }
    if (!rate) {
      note(s, "no request-rate axis in this run (serving sweeps add an axis named rate); SLO attainment and " +
        "goodput per point are in the Points table" + (limits ? ". SLO: " + limits : ""));
      return;
    }
    note(s, "SLO: " + (limits || "none set") + ". Goodput counts requests that met every SLO.");
    const grid = el("div", { class: "grid" });
    s.appendChild(grid);
    for (const metric of slo) {
      const box = el("div", { class: "plotbox" });
      grid.appendChild(box);
      addPlot(box, "slo-" + metric, () => axisFigure(RUN, rate, metric));
    }
  }

  // ------------------------------------------------------------------ quantization: fidelity vs cost
  function quantSection() {
    const s = section("quantization", "Quantization: fidelity against cost");
    const keys = Object.keys(RUN.fronts.fidelity || {});
    if (!keys.length) {
      note(s, "no fidelity figures in this run (a suite with fidelity: true measures KL divergence, top-1 " +
        "agreement and perplexity against float32)");
      return;
    }
    const fids = [...new Set(keys.map((k) => k.split("|")[0]))];
    const costs = [...new Set(keys.map((k) => k.split("|")[1]))];
    let fx = fids[0], cy = costs[0];
    note(s, "each point of the run; the line joins the Pareto-optimal ones (better fidelity and lower cost / " +
      "higher throughput than any other).");
    const box = el("div", { class: "plotbox" });
    box.appendChild(el("div", { class: "controls" },
      el("span", {}, "fidelity "), select(fids, fx, (m) => { fx = m; redraw("quant-plot"); }, "fidelity metric"),
      el("span", {}, " cost "), select(costs, cy, (m) => { cy = m; redraw("quant-plot"); }, "cost metric")));
    s.appendChild(box);
    addPlot(box, "quant-plot", () => {
      const groups = new Map();
      RUN.points.forEach((p) => {
        if (p.status !== "ok" || val(RUN, p, fx).v === null) return;
        const engine = RUN.engines[p.engine];
        const key = engine.quantization + " · " + engine.dtype;
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(p);
      });
      const data = [];
      let c = 0;
      for (const [g, pts] of groups) {
        const xs = pts.map((p) => val(RUN, p, fx)), ys = pts.map((p) => val(RUN, p, cy));
        data.push({ type: "scatter", mode: "markers", name: ptext(g), x: xs.map((v) => v.v),
          y: ys.map((v) => scaled(cy, v.v)), error_y: errorBars(cy, ys), text: pts.map((p) => ptext(p.label)),
          hovertemplate: "%{text}<br>%{x} / %{y}<extra></extra>",
          marker: { size: 9, color: COLORS[c++ % COLORS.length] } });
      }
      const front = (RUN.fronts.fidelity[fx + "|" + cy] || []).map((i) => RUN.points[i]);
      if (front.length > 1) {
        data.push({ type: "scatter", mode: "lines", name: "Pareto front", x: front.map((p) => val(RUN, p, fx).v),
          y: front.map((p) => scaled(cy, val(RUN, p, cy).v)), line: { color: "#333", dash: "dot" }, hoverinfo: "skip" });
      }
      return { data: data, layout: baseLayout(axisTitle(fx), axisTitle(cy)) };
    });
  }

  // ------------------------------------------------------------------ failures
  function failureSection() {
    const s = section("failures", "Failed and skipped points");
    const bad = RUN.points.filter((p) => p.status !== "ok");
    if (!bad.length) { note(s, "all " + RUN.points.length + " points succeeded"); return; }
    const t = el("table", { id: "failures-table" }, el("tr", {}, el("th", {}, "#"), el("th", {}, "point"),
      el("th", {}, "status"), el("th", {}, "error")));
    for (const p of bad) {
      t.appendChild(el("tr", {}, el("td", { class: "num" }, p.idx), el("td", {}, p.label),
        el("td", { class: "status-" + p.status }, p.status), el("td", { class: "err" }, p.error || "")));
    }
    s.appendChild(el("div", { class: "scroll" }, t));
  }

  // ------------------------------------------------------------------ comparison
  const VERDICT_ORDER = ["regression", "failed", "inconclusive", "improvement", "no change", "missing", "new"];
  function comparisonSection() {
    const cmp = DATA.comparison;
    if (!cmp) return;
    const s = section("comparison", "Comparison");
    note(s, "reference run " + cmp.runs[0] + "; changes are relative to it. Verdicts are the regression gate's " +
      "(harness gate): a regression needs a change beyond the threshold and a one-sided Mann-Whitney U test.");
    cmp.gates.forEach((g, gi) => {
      s.appendChild(el("h3", {}, "gate: " + g.candidate + " against " + g.baseline));
      if (g.note) { note(s, g.note); return; }
      s.appendChild(el("p", { class: g.failed ? "fail" : g.result === "inconclusive" ? "inconclusive" : "pass" }, g.summary));
      if (g.environment_changes.length) {
        s.appendChild(el("p", {}, "environment changed — compare with care:"));
        s.appendChild(el("ul", {}, ...g.environment_changes.map((c) => el("li", {}, c))));
      }
      const rows = g.comparisons.slice().sort((a, b) =>
        VERDICT_ORDER.indexOf(a.verdict) - VERDICT_ORDER.indexOf(b.verdict) || String(a.point).localeCompare(b.point));
      const t = el("table", { class: "gate-table" }, el("tr", {}, ...["verdict", "point", "metric", "baseline",
        "candidate", "change", "threshold", "p", "note"].map((h) => el("th", {}, h))));
      for (const c of rows) {
        t.appendChild(el("tr", {}, el("td", { class: "verdict-" + c.verdict.replace(" ", "-") }, c.verdict),
          el("td", {}, c.point), el("td", {}, c.metric), el("td", { class: "num" }, fmt(c.baseline, c.metric)),
          el("td", { class: "num" }, fmt(c.candidate, c.metric)),
          el("td", { class: "num" }, c.change_pct === null ? "" : (c.change_pct > 0 ? "+" : "") +
            c.change_pct.toFixed(1) + "%"),
          el("td", { class: "num" }, c.threshold_pct === null ? "" : "±" + c.threshold_pct + "%"),
          el("td", { class: "num" }, c.p_value === null ? "" : c.p_value.toFixed(3)), el("td", {}, c.note || "")));
      }
      s.appendChild(el("div", { class: "scroll" }, t));
      // change per point and gated metric, as bars
      const gated = g.comparisons.filter((c) => c.change_pct !== null && c.metric !== "*");
      if (gated.length) {
        const box = el("div", { class: "plotbox" });
        s.appendChild(box);
        addPlot(box, "comparison-plot-" + gi, () => {
          const metrics = [...new Set(gated.map((c) => c.metric))];
          const number = new Map(RUN.points.map((p) => [p.label, "#" + p.idx]));
          const data = metrics.map((m, i) => {
            const cs = gated.filter((c) => c.metric === m);
            return { type: "bar", name: ptext(m), x: cs.map((c) => number.get(c.point) || ptext(short(c.point))),
              y: cs.map((c) => c.change_pct), customdata: cs.map((c) => [ptext(c.point), c.verdict]),
              hovertemplate: "%{customdata[0]}<br>%{y:.1f}%: %{customdata[1]}<extra>" + ptext(m) + "</extra>",
              marker: { color: COLORS[i % COLORS.length] } };
          });
          return { data: data, layout: baseLayout("point (# as in the Points table)", "change against the baseline (%)",
            { barmode: "group", xaxis: { type: "category", automargin: true,
              title: { text: "point (# as in the Points table)" } } }) };
        });
      }
    });
    // every compared metric with its value in each run
    const groups = new Map();
    for (const r of cmp.rows) {
      const key = r.point + "\u0000" + r.metric;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    }
    if (groups.size) {
      const d = el("details", {}, el("summary", {}, "values in every run (median [95% CI], change vs reference)"));
      const t = el("table", { class: "compare-table" },
        el("tr", {}, el("th", {}, "point"), el("th", {}, "metric"), ...cmp.runs.map((r) => el("th", {}, r))));
      for (const rows of groups.values()) {
        const cells = rows.map((r) => {
          if (r.status !== "ok") return el("td", { class: "status-failed" }, r.status);
          let text = fmt(r.value, r.metric);
          if (r.ci_low !== null && r.ci_high !== null && r.ci_high > r.ci_low) {
            text += " [" + fmt(r.ci_low, r.metric) + ", " + fmt(r.ci_high, r.metric) + "]";
          }
          if (r.run_id !== cmp.runs[0] && r.change_pct !== null) {
            text += " (" + (r.change_pct > 0 ? "+" : "") + r.change_pct.toFixed(1) + "%)";
          }
          return el("td", { class: "num" }, text);
        });
        t.appendChild(el("tr", {}, el("td", {}, rows[0].point), el("td", {}, rows[0].metric), ...cells));
      }
      d.appendChild(el("div", { class: "scroll" }, t));
      s.appendChild(d);
    }
  }

  // ------------------------------------------------------------------ build
  document.getElementById("loading").remove();
  summarySection();
  comparisonSection();
  pointsSection();
  paretoSection();
  efficiencySection();
  costSection();
  axesSection();
  energySection();
  timelineSection();
  sloSection();
  quantSection();
  failureSection();

  const ids = [...plots.keys()];
  const visible = ids.filter((id) => {
    const r = plots.get(id).div.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight;
  });
  for (const id of ids) if (observer && !visible.includes(id)) observer.observe(plots.get(id).div);
  const firstScreen = Promise.all(visible.map(draw)).then(() => performance.mark("report-first-screen"));
  // no IntersectionObserver (very old browsers), or #all in the address (printing, benchmarks): draw everything
  const allDrawn = !observer || location.hash === "#all"
    ? Promise.all(ids.map(draw)).then(() => performance.mark("report-all-drawn")) : null;

  // for tests and the scale benchmark (harness/report/browser.py)
  window.harnessReport = {
    expected: ids,
    firstScreen: firstScreen,
    drawn: () => ids.filter((id) => plots.get(id).div.dataset.drawn === "1"),
    whenDrawn: (id) => (plots.get(id).drawn || new Promise((resolve) => {
      const wait = () => (plots.get(id).drawn ? plots.get(id).drawn.then(resolve) : setTimeout(wait, 20));
      wait();
    })),
    renderAll: () => allDrawn || Promise.all(ids.map(draw)).then(() => performance.mark("report-all-drawn")),
  };
})();
