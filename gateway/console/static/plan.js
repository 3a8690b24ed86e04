// A router run's events folded into its plan tree: the fold of the terminal's view
// (gateway/cli/ask/view.py, RunView), ported so the page draws the tree as the events arrive.
// Events it does not know are ignored, as there: an older page keeps working with a newer router.
// Ported rather than run on the server: nothing in the gateway may import the command line.

import { h } from "./dom.js";

export const MARKS = { pending: "○", running: "◐", completed: "✓", failed: "✗", skipped: "⊘" };
const FINISHED = { completed: "completed", failed: "failed", skipped: "skipped" };
const SNIPPET_CHARS = 60;

export function snippet(text, limit = SNIPPET_CHARS) {
  const flat = String(text).split(/\s+/).filter(Boolean).join(" ");
  return flat.length <= limit ? flat : flat.slice(0, limit - 1) + "…";
}

export class PlanTree {
  constructor() {
    this.routing = null;
    this.plans = new Map(); // parent subtask id ("" for the run's own plan) -> plan
    this.nodes = new Map(); // subtask path -> node
  }

  feed(event) {
    const kind = event?.event;
    if (kind === "routing") this.routing = event;
    else if (kind === "plan") this.plan(event);
    else if (kind === "subtask.started" && typeof event.id === "string") {
      const node = this.node(event);
      node.state = "running";
      node.attempt = Number.isInteger(event.attempt) ? event.attempt : 1;
    } else if (kind === "subtask.finished" && typeof event.id === "string") {
      const node = this.node(event);
      node.state = FINISHED[String(event.state)] ?? "failed";
      node.seconds = typeof event.seconds === "number" ? event.seconds : null;
      node.output = String(event.output ?? "");
      node.error = typeof event.error === "string" ? event.error : null;
    }
  }

  // The node an event is about; one no plan announced joins its parent's plan.
  node(event) {
    const id = event.id;
    if (!this.nodes.has(id)) {
      this.nodes.set(id, newNode(id, String(event.skill ?? "?"), []));
      const cut = id.lastIndexOf(".");
      const parent = cut < 0 ? "" : id.slice(0, cut);
      const plan = this.plans.get(parent) ?? { planner: "?", ids: [], fallback: null };
      this.plans.set(parent, { ...plan, ids: [...plan.ids, id] });
    }
    return this.nodes.get(id);
  }

  plan(event) {
    const parent = typeof event.parent === "string" ? event.parent : "";
    const prefix = parent ? `${parent}.` : "";
    const ids = [];
    for (const sub of event.subtasks ?? []) {
      if (typeof sub?.id !== "string") continue;
      const path = prefix + sub.id;
      const deps = (sub.depends_on ?? []).filter((d) => typeof d === "string");
      ids.push(path);
      this.nodes.set(path, newNode(path, String(sub.skill ?? "?"), deps));
    }
    const fallback = typeof event.fallback === "string" && event.fallback ? event.fallback : null;
    this.plans.set(parent, { planner: String(event.planner ?? "?"), ids, fallback });
  }
}

function newNode(id, skill, dependsOn) {
  return { id, skill, dependsOn, state: "pending", attempt: 0, seconds: null, output: "", error: null };
}

function factor(raw) {
  if (typeof raw?.name !== "string") return "";
  for (const key of ["score", "value"]) {
    if (typeof raw[key] === "number") return `${raw.name} ${raw[key].toFixed(2)}`;
  }
  return "";
}

function nodeLine(node) {
  const after = node.dependsOn.length ? ` (after ${node.dependsOn.join(", ")})` : "";
  let text = `${node.id} ${node.skill}${after}`;
  if (node.state === "running" && node.attempt > 1) text += `, attempt ${node.attempt}`;
  if (node.seconds !== null && node.state !== "skipped") text += ` ${node.seconds.toFixed(2)}s`;
  const detail = node.state === "failed" || node.state === "skipped" ? node.error : node.output;
  return h(
    "li",
    { class: "node", "data-node-id": node.id, "data-state": node.state },
    h("span", { class: "mark", title: node.state }, MARKS[node.state]),
    " ",
    text,
    detail ? h("span", { class: "muted" }, `: ${snippet(detail)}`) : "",
  );
}

// The run as a tree: the routing decision, the plan, each subtask under its plan.
export function renderTree(tree, running) {
  if (tree.routing === null) return h("p", { class: "muted" }, running ? "routing…" : "no routing");
  const r = tree.routing;
  const score = typeof r.score === "number" ? r.score.toFixed(2) : "?";
  const out = h("div", { class: "plan-tree" });
  out.append(h("p", { class: "routing" }, `routing: ${r.strategy ?? "?"}, score ${score}`));
  if (typeof r.reason === "string" && r.reason) out.append(h("p", { class: "muted" }, r.reason));
  const factors = (r.factors ?? []).map(factor).filter(Boolean);
  if (factors.length) out.append(h("p", { class: "muted" }, `factors: ${factors.join(", ")}`));
  const top = tree.plans.get("");
  if (top === undefined) {
    out.append(h("p", { class: "muted" }, running ? "planning…" : "no plan"));
    return out;
  }
  out.append(h("p", {}, `plan by ${top.planner}, ${top.ids.length} subtasks`));
  if (top.fallback) out.append(h("p", { class: "muted" }, `model plan refused: ${top.fallback}`));
  out.append(branch(tree, top));
  return out;
}

function branch(tree, plan) {
  const list = h("ul", { class: "nodes" });
  for (const id of plan.ids) {
    const node = tree.nodes.get(id);
    const item = nodeLine(node);
    const sub = tree.plans.get(id);
    if (sub !== undefined) {
      const refused = sub.fallback ? `; model plan refused: ${sub.fallback}` : "";
      item.append(h("div", { class: "muted" }, `planned by ${sub.planner}${refused}`));
      item.append(branch(tree, sub));
    }
    list.append(item);
  }
  return list;
}
