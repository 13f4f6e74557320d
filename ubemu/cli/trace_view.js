// The trace viewer's drawing and controls (ubemu/cli/trace_view.py embeds this in the page).
//
// render(data, t0, t1, width) draws the time window [t0, t1] (microseconds) of a digested
// trace as an SVG string: a row per operation track (the operation's slice, its runs of
// steps inside it; none narrower than MIN_PX), then per link class the utilisation of the
// links in use (solid) and of the whole class (dotted), then the time axis. It is a pure
// function, so tests run it under node; start(data) wires it to the page: wheel to zoom at
// the cursor, drag to pan, buttons and keys, the window kept in the address (#t0=..&t1=..).
"use strict";

const MIN_PX = 2, LEFT = 180, RIGHT = 16, ROW = 26, CHART = 36, TOP = 34, AXIS = 26;
const COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
                 "#b07aa1", "#ff9da7", "#9c755f"];

function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

function niceStep(span, n) {
  const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function fmtTime(us, step, ms) {
  // a tick at ``us`` of ticks ``step`` apart, in ms (``ms``) or us, with the digits it needs
  const [v, s, unit] = ms ? [us / 1000, step / 1000, " ms"] : [us, step, " us"];
  const dec = Math.max(0, -Math.floor(Math.log10(s) + 1e-9));
  return v.toFixed(Math.min(dec, 6)) + unit;
}

function fmtDur(us) {
  return us >= 1000 ? (us / 1000).toPrecision(4) + " ms" : us.toPrecision(4) + " us";
}

function height(data) {
  return TOP + ROW * data.tracks.length + (CHART + 14) * data.counters.length + AXIS + 8;
}

function render(data, t0, t1, width) {
  const plotW = width - LEFT - RIGHT, H = height(data);
  const X = (t) => LEFT + plotW * (t - t0) / (t1 - t0);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" ` +
               `font-family="sans-serif" font-size="12">`,
               `<defs><clipPath id="plot"><rect x="${LEFT}" y="0" width="${plotW}" ` +
               `height="${H}"/></clipPath></defs>`,
               `<text x="8" y="20" font-size="14">${esc(data.title)}` +
               ` <tspan fill="#666" font-size="12">view ${fmtDur(t1 - t0)} of ` +
               `${fmtDur(data.end)}; link utilisation: solid the links in use, dotted the ` +
               `whole class</tspan></text>`];
  data.tracks.forEach((track, i) => {
    const y = TOP + ROW * i, colour = track.compute ? "#bab0ac" : COLOURS[i % COLOURS.length];
    const labels = [];
    out.push(`<text class="track" x="8" y="${y + 17}">${esc(track.name)}</text>`);
    out.push(`<g clip-path="url(#plot)">`);
    for (const [ts, dur, name, inner] of track.slices) {
      if (ts > t1 || ts + dur < t0) continue;
      // clamped to the window (a margin outside it), at least MIN_PX wide
      const x0 = Math.max(X(ts), LEFT - 1);
      const w = Math.max(Math.min(X(ts + dur), LEFT + plotW + 1) - x0, MIN_PX);
      const [top, h, op] = inner ? [y + 7, 12, 0.95] : [y + 1, 24, 0.35];
      out.push(`<rect class="slice" x="${x0.toFixed(2)}" y="${top}" width="${w.toFixed(2)}" ` +
               `height="${h}" fill="${colour}" fill-opacity="${op}" stroke="white" ` +
               `stroke-width="0.5"><title>${esc(name)}: ${fmtDur(dur)} from ` +
               `${fmtDur(ts)}</title></rect>`);
      const a = Math.max(x0, LEFT), b = Math.min(x0 + w, LEFT + plotW);  // the part in view
      const text = `${name} ${fmtDur(dur)}`;
      if (!inner && b - a > 6.5 * text.length + 8) {
        labels.push(`<text class="label" x="${((a + b) / 2).toFixed(1)}" y="${y + 17}" ` +
                    `font-size="11" text-anchor="middle">${esc(text)}</text>`);
      }
    }
    out.push(...labels, `</g>`);
  });
  const y0 = TOP + ROW * data.tracks.length + 6;
  data.counters.forEach((c, j) => {
    const y = y0 + (CHART + 14) * j, Y = (u) => y + CHART - CHART * Math.min(u, 1);
    const names = c.name.split(" = ");  // merged classes: one line each
    out.push(`<text class="counter" x="8" y="${y + 12}" font-size="11">` +
             names.map((n, k) => `<tspan x="8" dy="${k ? 12 : 0}">${k ? "= " : ""}` +
                                 `${esc(n)}</tspan>`).join("") + `</text>`);
    out.push(`<text x="${LEFT - 6}" y="${y + 9}" font-size="9" text-anchor="end">100%</text>`);
    out.push(`<text x="${LEFT - 6}" y="${y + CHART}" font-size="9" text-anchor="end">0</text>`);
    out.push(`<rect x="${LEFT}" y="${y}" width="${plotW}" height="${CHART}" fill="#f6f6f6"/>`);
    for (const [key, dash] of [["group", ""], ["whole", ` stroke-dasharray="2,2"`]]) {
      const pts = [];
      for (let k = 0; k < c.t.length; k++) {
        const a = c.t[k], b = k + 1 < c.t.length ? c.t[k + 1] : data.end;
        if (b < t0 || a > t1) continue;
        const yy = Y(c[key][k]).toFixed(1);
        pts.push(`${X(Math.max(a, t0)).toFixed(1)},${yy} ${X(Math.min(b, t1)).toFixed(1)},${yy}`);
      }
      out.push(`<polyline class="${key}" points="${pts.join(" ")}" fill="none" ` +
               `stroke="${key === "group" ? "#333" : "#999"}"${dash}/>`);
    }
  });
  const axisY = H - AXIS, step = niceStep(t1 - t0, Math.max(2, Math.floor(plotW / 110)));
  out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${axisY}" y2="${axisY}" stroke="#333"/>`);
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9 * step; t += step) {
    const x = X(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${axisY}" y2="${axisY + 4}" stroke="#333"/>`);
    out.push(`<text class="tick" x="${x}" y="${axisY + 16}" font-size="10" ` +
             `text-anchor="middle">${fmtTime(t, step, t1 >= 1000)}</text>`);
  }
  out.push("</svg>");
  return out.join("");
}

function commWindow(data) {
  // the span of every slice that is not compute, with a margin
  let a = Infinity, b = -Infinity;
  for (const track of data.tracks) {
    if (track.compute) continue;
    for (const [ts, dur] of track.slices) { a = Math.min(a, ts); b = Math.max(b, ts + dur); }
  }
  if (!(b > a)) return [0, data.end];
  const m = 0.03 * (b - a);
  return [Math.max(0, a - m), Math.min(data.end, b + m)];
}

function start(data) {
  const el = document.getElementById("view");
  let [t0, t1] = [0, data.end];
  const fromHash = () => {
    const m = /t0=([\d.e+-]+)&t1=([\d.e+-]+)/.exec(location.hash);
    if (m && +m[1] < +m[2]) [t0, t1] = [+m[1], +m[2]];
  };
  const width = () => Math.max(600, el.clientWidth);
  const draw = () => {
    el.innerHTML = render(data, t0, t1, width());
    history.replaceState(null, "", `#t0=${t0.toPrecision(9)}&t1=${t1.toPrecision(9)}`);
  };
  const zoom = (f, at) => {
    const span = Math.min(data.end, Math.max((t1 - t0) * f, data.end * 1e-9));
    const c = at === undefined ? (t0 + t1) / 2 : at, r = (c - t0) / (t1 - t0);
    t0 = Math.min(Math.max(0, c - r * span), data.end - span);
    t1 = t0 + span;
    draw();
  };
  const timeAt = (px) => t0 + (px - LEFT) / (width() - LEFT - RIGHT) * (t1 - t0);
  el.addEventListener("wheel", (e) => {
    e.preventDefault();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, timeAt(e.offsetX));
  }, {passive: false});
  let drag = null;
  el.addEventListener("mousedown", (e) => { drag = [e.clientX, t0, t1]; });
  window.addEventListener("mouseup", () => { drag = null; });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const span = drag[2] - drag[1];
    const dt = (drag[0] - e.clientX) / (width() - LEFT - RIGHT) * span;
    t0 = Math.min(Math.max(0, drag[1] + dt), data.end - span);
    t1 = t0 + span;
    draw();
  });
  const buttons = {fit: () => { [t0, t1] = [0, data.end]; draw(); },
                   comm: () => { [t0, t1] = commWindow(data); draw(); },
                   zin: () => zoom(0.5), zout: () => zoom(2)};
  for (const [id, fn] of Object.entries(buttons)) document.getElementById(id).onclick = fn;
  window.addEventListener("keydown", (e) => {
    const pan = (f) => {
      const span = t1 - t0;
      t0 = Math.min(Math.max(0, t0 + span * f), data.end - span);
      t1 = t0 + span;
      draw();
    };
    ({w: () => zoom(0.8), s: () => zoom(1.25), a: () => pan(-0.2), d: () => pan(0.2),
      f: buttons.fit, c: buttons.comm}[e.key] || (() => {}))();
  });
  window.addEventListener("resize", draw);
  fromHash();
  draw();
}

if (typeof module !== "undefined") module.exports = {render, commWindow, height};
