// The console: signs in once per tab, then draws what the live socket sends (agents, tasks
// and their plan trees, federation) and reads the rest on demand (a trace, the memory).
// Pages are chosen by the address's fragment: #/agents, #/tasks[/<id>], #/trace/<id>,
// #/memory, #/federation.

import { ApiError, getJSON, live, startRun, token } from "./api.js";
import { $, fill, h, when } from "./dom.js";
import { PlanTree, renderTree } from "./plan.js";
import { renderWaterfall } from "./waterfall.js";

const SETTLED = new Set(["completed", "failed", "canceled", "rejected", "input-required", "auth-required"]);

const state = {
  hello: null,
  agents: [],
  models: [],
  federation: null,
  tasks: new Map(), // id -> summary
  trees: new Map(), // id -> PlanTree (tasks with routing events)
  page: "agents",
  selected: null,
};

// --- signing in -------------------------------------------------------------------------

async function boot() {
  let hello;
  try {
    hello = await getJSON("/console/api/hello");
  } catch (error) {
    showError($("signin-error"), error);
    show("signin");
    return;
  }
  if (!hello.signed_in) {
    if (token.get()) {
      token.clear();
      showError($("signin-error"), "That token was not accepted.");
    }
    show("signin");
    return;
  }
  $("nav").hidden = false;
  $("sign-out").hidden = !hello.tokens;
  live(onFrame, (link) => {
    $("link").dataset.state = link;
    $("link").textContent = link;
    document.body.dataset.live = link === "live" ? "true" : "false";
  });
  window.addEventListener("hashchange", route);
  route();
}

function showError(element, error) {
  element.hidden = false;
  element.textContent = error instanceof ApiError || error instanceof Error ? error.message : error;
}

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token.set($("signin-token").value.trim());
  $("signin-token").value = "";
  $("signin-error").hidden = true;
  boot();
});

$("sign-out").addEventListener("click", () => {
  token.clear();
  location.hash = "";
  location.reload();
});

// --- pages --------------------------------------------------------------------------------

function show(page) {
  state.page = page;
  for (const section of document.querySelectorAll("section.page")) {
    section.hidden = section.id !== `page-${page}`;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("here", link.dataset.page === page || (page === "trace" && link.dataset.page === "tasks"));
  }
  document.body.dataset.page = page;
}

function route() {
  const [page, id] = location.hash.replace(/^#\/?/, "").split("/");
  if (page === "tasks") {
    state.selected = id ? decodeURIComponent(id) : null;
    show("tasks");
    drawTasks();
  } else if (page === "trace" && id) {
    show("trace");
    loadTrace(decodeURIComponent(id));
  } else if (page === "memory") {
    show("memory");
    loadMemory("");
  } else if (page === "federation") {
    show("federation");
    drawFederation();
  } else {
    show("agents");
    drawAgents();
  }
}

// --- the live socket --------------------------------------------------------------------------

function onFrame(frame) {
  switch (frame.type) {
    case "hello":
      state.hello = frame;
      state.tasks.clear();
      state.trees.clear();
      fill(
        $("who"),
        frame.principal ? `signed in as ${frame.principal}` : "no tokens on this gateway",
        frame.operator && frame.principal ? " (operator: every caller's tasks)" : "",
        frame.gateway ? ` · gateway ${frame.gateway}` : "",
      );
      document.body.classList.toggle("operator", Boolean(frame.operator));
      break;
    case "agents":
      state.agents = frame.agents;
      state.models = frame.models;
      drawAgents();
      fillSkills();
      break;
    case "federation":
      state.federation = frame;
      drawFederation();
      break;
    case "task":
      state.tasks.set(frame.task.id, frame.task);
      forgetOldTasks();
      drawTasks();
      break;
    case "event": {
      if (!state.trees.has(frame.task)) state.trees.set(frame.task, new PlanTree());
      state.trees.get(frame.task).feed(frame.event);
      if (frame.task === state.selected) drawDetail();
      break;
    }
    default:
      break; // a newer gateway's frame
  }
}

// --- agents ----------------------------------------------------------------------------------

function drawAgents() {
  fill(
    $("agent-rows"),
    state.agents.map((agent) =>
      h(
        "tr",
        { "data-agent": agent.name },
        h("td", {}, h("strong", {}, agent.name), h("div", { class: "muted" }, agent.description)),
        h("td", {}, agent.kind),
        h("td", {}, agent.protocol),
        h("td", {}, h("span", { class: "badge", "data-state": agent.state }, agent.state)),
        h("td", { class: "hosts" }, agent.hosts.join(", ")),
        h(
          "td",
          {},
          h("ul", { class: "skills" }, agent.skills.map((s) => h("li", { title: s.description }, s.name))),
        ),
      ),
    ),
  );
  fill(
    $("models"),
    state.models.length ? h("h3", {}, "Models") : null,
    state.models.map((m) =>
      h("p", {}, h("span", { class: "badge", "data-state": m.state }, m.state), ` ${m.name}`),
    ),
  );
}

// --- calling a skill ------------------------------------------------------------------------

function skillsOffered() {
  return state.agents
    .filter((agent) => agent.state === "up")
    .flatMap((agent) => agent.skills.map((skill) => ({ name: `${agent.name}.${skill.name}`, skill })));
}

function fillSkills() {
  const select = $("call-skill");
  const chosen = select.value;
  fill(select, skillsOffered().map(({ name }) => h("option", { value: name }, name)));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  describeSkill();
}

function describeSkill() {
  const found = skillsOffered().find(({ name }) => name === $("call-skill").value);
  const skill = found?.skill;
  $("call-about").textContent = skill ? skill.description : "";
  $("call-input").placeholder = skill?.examples?.[0] ?? "Text, or a JSON object for skills that take fields";
}

$("call-skill").addEventListener("change", describeSkill);

$("call-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const note = $("call-result");
  note.textContent = "starting…";
  try {
    const run = await startRun($("call-skill").value, $("call-input").value);
    note.textContent = `started ${run.run_id}`;
    location.hash = `#/tasks/${run.run_id}`;
  } catch (error) {
    note.textContent = error.message;
  }
});

// --- tasks ------------------------------------------------------------------------------------

// The gateway lists its newest tasks only; the page keeps as many, so a console left open
// for days does not grow without end.
const KEEP_TASKS = 200;

function forgetOldTasks() {
  if (state.tasks.size <= KEEP_TASKS) return;
  const oldest = [...state.tasks.values()].sort((a, b) => a.started - b.started);
  for (const task of oldest.slice(0, state.tasks.size - KEEP_TASKS)) {
    state.tasks.delete(task.id);
    state.trees.delete(task.id);
  }
}

function drawTasks() {
  const tasks = [...state.tasks.values()].sort((a, b) => b.started - a.started);
  $("no-tasks").hidden = tasks.length > 0;
  fill(
    $("task-rows"),
    tasks.map((task) => {
      const row = h(
        "tr",
        { "data-task-id": task.id, "data-state": task.state, class: task.id === state.selected ? "selected" : "" },
        h("td", {}, h("span", { class: "badge", "data-state": task.state }, task.state)),
        h("td", { class: "mono" }, task.skill),
        h("td", {}, task.input),
        h("td", { class: "owner" }, task.owner ?? ""),
        h("td", {}, when(task.started * 1000)),
      );
      row.addEventListener("click", () => {
        location.hash = `#/tasks/${task.id}`;
      });
      return row;
    }),
  );
  drawDetail();
}

function drawDetail() {
  const panel = $("task-detail");
  const task = state.selected ? state.tasks.get(state.selected) : undefined;
  panel.hidden = task === undefined;
  if (task === undefined) return;
  const tree = state.trees.get(task.id);
  fill(
    panel,
    h("h2", {}, task.skill),
    h("p", { class: "mono" }, task.id),
    h("p", {}, h("span", { class: "badge", "data-state": task.state, id: "detail-state" }, task.state),
      task.owner ? ` started by ${task.owner}` : ""),
    task.input ? h("p", {}, h("strong", {}, "Input: "), task.input) : null,
    task.status && !SETTLED.has(task.state) ? h("p", { class: "muted" }, task.status) : null,
    tree ? h("h3", {}, "Plan") : null,
    tree ? renderTree(tree, !SETTLED.has(task.state)) : null,
    task.result !== null ? h("h3", {}, "Result") : null,
    task.result !== null ? h("pre", { id: "detail-result" }, task.result || task.status) : null,
    h("p", {}, h("a", { href: `#/trace/${task.id}`, id: "detail-trace" }, "Trace")),
  );
}

// --- a trace ----------------------------------------------------------------------------------

let traceShown = null;

async function loadTrace(taskId) {
  traceShown = taskId;
  $("trace-task").textContent = taskId;
  $("trace-back").href = `#/tasks/${taskId}`;
  $("trace-note").textContent = "reading the trace file…";
  fill($("trace-view"));
  try {
    const body = await getJSON(`/console/api/trace/${encodeURIComponent(taskId)}`);
    if (traceShown !== taskId) return;
    $("trace-note").textContent = body.traces.length
      ? ""
      : "No spans of this task in the trace file yet (spans are written in batches): read again in a moment.";
    fill($("trace-view"), body.traces.map(renderWaterfall));
  } catch (error) {
    $("trace-note").textContent = error.message;
  }
}

$("trace-reload").addEventListener("click", () => {
  if (traceShown) loadTrace(traceShown);
});

// --- memory -------------------------------------------------------------------------------------

async function loadMemory(query) {
  $("memory-note").textContent = query ? "searching…" : "reading…";
  try {
    const body = await getJSON(`/console/api/memory?q=${encodeURIComponent(query)}`);
    if (body.agent === null) {
      $("memory-scope").textContent = "No memory agent is open to this token.";
      $("memory-note").textContent = "";
      fill($("memory-rows"));
      return;
    }
    $("memory-scope").textContent = `${body.agent}, scope ${body.scope} (this token's own)`;
    const what = query ? `closest to “${query}”` : "newest first";
    $("memory-note").textContent = body.error ?? `${body.memories.length} memories, ${what}`;
    fill(
      $("memory-rows"),
      body.memories.map((m) =>
        h(
          "tr",
          { "data-memory": m.id },
          h("td", {}, m.text),
          h("td", {}, m.kind ?? ""),
          h("td", {}, m.agent ?? ""),
          h("td", {}, when(m.created)),
          h("td", {}, typeof m.score === "number" ? m.score.toFixed(2) : ""),
        ),
      ),
    );
  } catch (error) {
    $("memory-note").textContent = error.message;
  }
}

$("memory-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadMemory($("memory-query").value);
});

$("memory-recent").addEventListener("click", () => {
  $("memory-query").value = "";
  loadMemory("");
});

// --- federation ---------------------------------------------------------------------------------

function drawFederation() {
  const status = state.federation;
  if (status === null) return;
  $("federation-self").textContent = status.gateway
    ? `This gateway is ${status.gateway}.`
    : "This gateway takes no part in a federation (no federation token).";
  fill(
    $("link-rows"),
    status.links.map((link) =>
      h(
        "tr",
        { "data-link": link.gateway },
        h("td", {}, link.gateway),
        h("td", {}, link.inbound ? "joined us" : "we joined"),
        h("td", {}, when(link.since * 1000)),
      ),
    ),
  );
  fill(
    $("origin-rows"),
    Object.entries(status.origins).map(([origin, about]) =>
      h(
        "tr",
        { "data-origin": origin },
        h("td", {}, origin),
        h("td", {}, about.path.join(" → ")),
        h("td", {}, about.agents.join(", ")),
      ),
    ),
  );
}

boot();
