// An A2A agent written with the JavaScript SDK (@a2a-js/sdk) on express, as its users write
// one: the third-party A2A agent of tests/test_thirdparty_matrix.py.
//
// What it does depends on the first word of the message: "now X" answers with a Message at
// once; "stream" sends three artifact chunks (append) over a second; "long" works until it
// is cancelled; "ask" stops in input-required and greets the name it is answered with;
// "twice" asks for a name, then for a town, and greets both.
// It appends what it sees (start, cancel, resume, with the task id) as JSON lines to the
// file named by RECORD, and prints the port it listens on.
const fs = require("node:fs");
const { createRequire } = require("node:module");
const load = createRequire(process.env.NODE_MODULES + "/");
const express = load("express");
const server = load("@a2a-js/sdk/server");
const { agentCardHandler, jsonRpcHandler, restHandler, UserBuilder } = load(
  "@a2a-js/sdk/server/express",
);
const { TaskState, Role } = load("@a2a-js/sdk");

const record = (event, task) =>
  fs.appendFileSync(process.env.RECORD, JSON.stringify({ event, task }) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const textPart = (value) => ({
  content: { $case: "text", value },
  metadata: undefined,
  filename: "",
  mediaType: "text/plain",
});
const agentMessage = (text, taskId, contextId) => ({
  messageId: `m-${Date.now()}-${Math.random()}`,
  role: Role.ROLE_AGENT,
  parts: [textPart(text)],
  taskId,
  contextId,
  extensions: [],
  metadata: {},
  referenceTaskIds: [],
});

class Executor {
  constructor() {
    this.cancelled = new Set();
    this.twice = new Set();
    this.names = new Map();
  }

  cancelTask = async (taskId, bus) => {
    record("cancel", taskId);
    this.cancelled.add(taskId);
  };

  status(bus, taskId, contextId, state, text) {
    bus.publish(
      server.AgentEvent.statusUpdate({
        taskId,
        contextId,
        status: {
          state,
          timestamp: new Date().toISOString(),
          message: text === undefined ? undefined : agentMessage(text, taskId, contextId),
        },
        metadata: {},
      }),
    );
  }

  async execute(context, bus) {
    const { taskId, contextId, task } = context;
    const text = context.userMessage.parts.map((p) => p.content?.value ?? "").join("");
    const [word, ...rest] = text.trim().split(/\s+/);
    if (task && task.status.state === TaskState.TASK_STATE_INPUT_REQUIRED) {
      record("resume", taskId);
      bus.publish(server.AgentEvent.task(task));
      if (this.twice.has(taskId) && !this.names.has(taskId)) {
        this.names.set(taskId, text.trim());
        this.status(bus, taskId, contextId, TaskState.TASK_STATE_INPUT_REQUIRED, "What town?");
        return;
      }
      const name = this.names.get(taskId);
      const greeting = name === undefined ? text.trim() : `${name} from ${text.trim()}`;
      this.status(bus, taskId, contextId, TaskState.TASK_STATE_COMPLETED, `hello ${greeting}`);
      return;
    }
    if (word === "now") {
      record("start", taskId);
      bus.publish(server.AgentEvent.message(agentMessage(`now: ${rest.join(" ")}`, undefined, contextId)));
      return;
    }
    record("start", taskId);
    bus.publish(
      server.AgentEvent.task({
        id: taskId,
        contextId,
        status: { state: TaskState.TASK_STATE_SUBMITTED, timestamp: new Date().toISOString() },
        artifacts: [],
        history: [context.userMessage],
        metadata: {},
      }),
    );
    this.status(bus, taskId, contextId, TaskState.TASK_STATE_WORKING);
    if (word === "stream") {
      const chunks = ["one ", "two ", "three"];
      for (let i = 0; i < chunks.length; i++) {
        await sleep(500);
        bus.publish(
          server.AgentEvent.artifactUpdate({
            taskId,
            contextId,
            artifact: {
              artifactId: "story",
              name: "story",
              description: "",
              parts: [textPart(chunks[i])],
              metadata: {},
              extensions: [],
            },
            append: i > 0,
            lastChunk: i === chunks.length - 1,
            metadata: {},
          }),
        );
      }
      this.status(bus, taskId, contextId, TaskState.TASK_STATE_COMPLETED);
    } else if (word === "long") {
      for (let i = 0; i < 240 && !this.cancelled.has(taskId); i++) await sleep(250);
      this.status(bus, taskId, contextId, TaskState.TASK_STATE_CANCELED);
    } else if (word === "ask" || word === "twice") {
      if (word === "twice") this.twice.add(taskId);
      this.status(bus, taskId, contextId, TaskState.TASK_STATE_INPUT_REQUIRED, "What name?");
    } else {
      this.status(bus, taskId, contextId, TaskState.TASK_STATE_FAILED, `unknown ${word}`);
    }
  }
}

const app = express();
const listener = app.listen(0, "127.0.0.1", () => {
  const base = `http://127.0.0.1:${listener.address().port}`;
  const card = {
    name: "js-agent",
    description: "A third-party A2A agent on @a2a-js/sdk",
    supportedInterfaces: [
      { url: `${base}/a2a/jsonrpc`, protocolBinding: "JSONRPC", tenant: "", protocolVersion: "1.0" },
      { url: `${base}/a2a/rest`, protocolBinding: "HTTP+JSON", tenant: "", protocolVersion: "1.0" },
    ],
    version: "1.0.0",
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: [
      {
        id: "demo",
        name: "demo",
        description: "now, stream, long or ask",
        tags: ["demo"],
        examples: ["now hello"],
        inputModes: [],
        outputModes: [],
        securityRequirements: [],
      },
    ],
    documentationUrl: "",
    signatures: [],
  };
  const handler = new server.DefaultRequestHandler(card, new server.InMemoryTaskStore(), new Executor());
  const noAuth = UserBuilder.noAuthentication;
  app.use("/.well-known/agent-card.json", agentCardHandler({ agentCardProvider: handler }));
  app.use("/a2a/jsonrpc", jsonRpcHandler({ requestHandler: handler, userBuilder: noAuth }));
  app.use("/a2a/rest", restHandler({ requestHandler: handler, userBuilder: noAuth }));
  process.stdout.write(`${listener.address().port}\n`);
});
