// A trace as a waterfall: one row per span in tree order, indented by depth, its bar placed
// on the trace's time line (GET /console/api/trace/<task>, read from the trace file).

import { h, seconds } from "./dom.js";

export function renderWaterfall(trace) {
  const spans = trace.spans;
  const total = Math.max(1, ...spans.map((s) => s.end));
  const rows = spans.map((span) => {
    const bar = h("div", { class: span.error ? "bar error" : "bar" });
    bar.style.left = `${(100 * span.start) / total}%`;
    bar.style.width = `${Math.max(0.4, (100 * (span.end - span.start)) / total)}%`;
    const label = h("div", { class: "span-name", title: span.name }, span.name);
    label.style.paddingLeft = `${span.depth * 14}px`;
    const details = Object.entries(span.attributes).map(([k, v]) =>
      `${k}=${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(2) : v}`,
    );
    if (span.service) details.unshift(`@${span.service}`);
    return h(
      "div",
      { class: "span-row", "data-span": span.name },
      label,
      h("div", { class: "track" }, bar),
      h("div", { class: "span-time" }, seconds(span.end - span.start)),
      h("div", { class: "span-attrs muted" }, details.join("  ")),
    );
  });
  return h(
    "div",
    { class: "waterfall" },
    h("p", { class: "muted" }, `trace ${trace.trace_id}: ${spans.length} spans, ${seconds(total)}`),
    rows,
  );
}
