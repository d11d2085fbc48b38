// Small SVG charts drawn from data the page already has. Each is an <svg role="img"> with a label, and
// every mark has a <title> (a tooltip, and what a screen reader can reach); colours come from CSS.

import { fmt, h } from "./dom.js";

const W = 640;

function frame(label, height, children) {
  return h("svg", { class: "chart", viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label,
    preserveAspectRatio: "xMidYMid meet" }, h("title", {}, label), children);
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

/**
 * Vertical bars per x value, one bar per series side by side:
 * columns(rows, {label, x: (row) => text, series: [{key, label, cls}]}).
 */
export function columns(rows, { label, x, series, height = 220 }) {
  const pad = { left: 48, right: 8, top: 10, bottom: 28 };
  const max = niceMax(Math.max(0, ...rows.flatMap((row) => series.map((s) => row[s.key]))));
  const plotW = W - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const slot = plotW / Math.max(1, rows.length);
  const barW = Math.max(1, (slot * 0.8) / series.length);
  const y = (v) => pad.top + plotH - (v / max) * plotH;
  const every = Math.ceil(rows.length / 8); // at most ~8 x labels
  return frame(label, height, [
    [0, 0.5, 1].map((f) => h("g", { class: "grid" },
      h("line", { x1: pad.left, x2: W - pad.right, y1: y(max * f), y2: y(max * f) }),
      h("text", { x: pad.left - 6, y: y(max * f) + 4, "text-anchor": "end" }, fmt.compact(max * f)))),
    rows.map((row, i) => h("g", {},
      series.map((s, j) => h("rect", { class: `bar ${s.cls || ""}`, x: pad.left + i * slot + slot * 0.1 + j * barW,
        y: y(row[s.key]), width: barW, height: Math.max(0, pad.top + plotH - y(row[s.key])) },
      h("title", {}, `${x(row)}: ${s.label} ${fmt.number(row[s.key])}`))),
      i % every === 0 ? h("text", { class: "axis", x: pad.left + i * slot + slot / 2, y: height - 8, "text-anchor": "middle" }, x(row)) : null)),
  ]);
}

/** Horizontal bars, one per row: bars(rows, {label, name: (row) => text, value: (row) => number}). */
export function bars(rows, { label, name, value }) {
  const rowH = 26;
  const height = Math.max(rowH, rows.length * rowH) + 8;
  const left = 210;
  const max = niceMax(Math.max(0, ...rows.map(value)));
  return frame(label, height, rows.map((row, i) => {
    const w = ((W - left - 80) * value(row)) / max;
    return h("g", {},
      h("text", { class: "axis", x: left - 8, y: i * rowH + 18, "text-anchor": "end" }, truncate(name(row), 26)),
      h("rect", { class: "bar", x: left, y: i * rowH + 5, width: Math.max(0, w), height: rowH - 10 },
        h("title", {}, `${name(row)}: ${fmt.number(value(row))}`)),
      h("text", { class: "value", x: left + w + 6, y: i * rowH + 18 }, fmt.number(value(row))));
  }));
}

/** A step line of a quantity over time: line(points [{t: iso, v: number}], {label, threshold}). */
export function line(points, { label, threshold = null, height = 200 }) {
  const pad = { left: 48, right: 12, top: 10, bottom: 28 };
  if (points.length === 0) return frame(label, height, h("text", { x: W / 2, y: height / 2, "text-anchor": "middle" }, "No history yet"));
  const times = points.map((p) => new Date(p.t).getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const max = niceMax(Math.max(1, threshold ?? 0, ...points.map((p) => p.v)));
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (W - pad.left - pad.right);
  const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  let d = "";
  points.forEach((p, i) => {
    const px = x(times[i]);
    d += i === 0 ? `M${px},${y(p.v)}` : `H${px}V${y(p.v)}`;
  });
  return frame(label, height, [
    [0, 0.5, 1].map((f) => h("g", { class: "grid" },
      h("line", { x1: pad.left, x2: W - pad.right, y1: y(max * f), y2: y(max * f) }),
      h("text", { x: pad.left - 6, y: y(max * f) + 4, "text-anchor": "end" }, fmt.compact(max * f)))),
    threshold !== null ? h("line", { class: "threshold", x1: pad.left, x2: W - pad.right, y1: y(threshold), y2: y(threshold) },
      h("title", {}, `Low-stock threshold ${fmt.number(threshold)}`)) : null,
    h("path", { class: "series", d }),
    points.map((p, i) => h("circle", { class: "point", cx: x(times[i]), cy: y(p.v), r: 3 },
      h("title", {}, `${fmt.datetime(p.t)}: ${fmt.number(p.v)}`))),
    h("text", { class: "axis", x: pad.left, y: height - 8 }, fmt.date(new Date(t0).toISOString())),
    h("text", { class: "axis", x: W - pad.right, y: height - 8, "text-anchor": "end" }, fmt.date(new Date(t1).toISOString())),
  ]);
}

function truncate(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
