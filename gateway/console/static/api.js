// The console's calls to its gateway: the token (kept in this tab's session storage, never in
// a cookie), JSON reads, ACP runs, and the live socket with its reconnects.

const KEY = "effmesh.token";
const SUBPROTOCOL = "effmesh.console";
const BEARER = "effmesh.bearer.";

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra = {}) {
  const value = token.get();
  return value ? { ...extra, Authorization: `Bearer ${value}` } : extra;
}

async function answer(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = body?.error?.message ?? body?.message ?? `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

export async function getJSON(path) {
  const response = await fetch(path, { headers: headers(), cache: "no-store", credentials: "omit" });
  return answer(response);
}

// Runs a skill the way any ACP client does (POST /acp/runs, async): the run is a task of the
// gateway's runtime, so it shows in the tasks list like every other.
export async function startRun(skill, input) {
  const text = input.trim();
  let part = { content_type: "text/plain", content: input };
  if (text.startsWith("{")) {
    try {
      JSON.parse(text);
      part = { content_type: "application/json", content: text };
    } catch {
      // Not JSON after all: send it as the text it is.
    }
  }
  const response = await fetch("/acp/runs", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    credentials: "omit",
    body: JSON.stringify({
      agent_name: skill,
      mode: "async",
      input: [{ role: "user", parts: [part] }],
    }),
  });
  return answer(response);
}

function base64url(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// The live socket: onFrame gets each frame the gateway sends, onState "live" or "offline".
// A closed socket is opened again, sooner at first, then every 10 s at most.
export function live(onFrame, onState) {
  let delay = 500;
  let stopped = false;
  let socket = null;
  const open = () => {
    const protocols = [SUBPROTOCOL];
    const value = token.get();
    if (value) protocols.push(BEARER + base64url(value));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/console/ws`, protocols);
    socket.onopen = () => {
      delay = 500;
      onState("live");
    };
    socket.onmessage = (message) => onFrame(JSON.parse(message.data));
    socket.onclose = () => {
      onState("offline");
      if (stopped) return;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
  return () => {
    stopped = true;
    socket?.close();
  };
}
