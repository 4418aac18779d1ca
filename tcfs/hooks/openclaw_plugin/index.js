// tcfs mail for OpenClaw: each hook runs tcfs's own hook entry point (the
// commands below, one per tcfs event, written by `tcfs hooks install
// openclaw`), which answers in Claude Code's shape, and hands the answer to
// OpenClaw.  A call that fails, or does not finish within LIMIT_MS, is
// killed and the turn goes on without mail.
import { spawn } from "node:child_process";

const LIMIT_MS = 2000;
const COMMANDS = /* tcfs: commands */ {};
// OpenClaw's tools that change files: an edit of a file another agent has
// reserved is blocked, and the model is told who holds it
const EDIT_TOOLS = ["write", "edit", "apply_patch"];

function call(event, payload, log) {
  const command = COMMANDS[event];
  if (typeof command !== "string") return Promise.resolve(null);
  return new Promise((resolve) => {
    let out = "";
    let settled = false;
    const finish = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // a complete answer counts even from a call killed after writing it:
      // tcfs marks mail read once the answer is written, so it must not be lost
      const line = out.split("\n", 1)[0];
      try {
        resolve(JSON.parse(line));
      } catch {
        if (why) log.warn(`tcfs: ${event} hook ${why}; going on without mail`);
        resolve(null);
      }
    };
    let child;
    try {
      // its own process group, so that a kill on expiry reaches the shell's child too
      child = spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "ignore"], detached: true });
    } catch (err) {
      log.warn(`tcfs: ${event} hook could not start: ${err}`);
      resolve(null);
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
      finish(`gave no answer within ${LIMIT_MS} ms`);
    }, LIMIT_MS);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.on("error", (err) => finish(`failed: ${err.message}`));
    child.on("close", (code) => finish(code === 0 ? "" : `exited ${code}`));
    child.stdin.on("error", () => {});
    child.stdin.end(JSON.stringify(payload));
  });
}

const TOOL_ROLES = new Set(["toolResult", "tool"]);
const TOOL_PARTS = new Set(["toolCall", "toolResult", "tool_use", "tool_result", "function_call"]);

function messagesOf(event) {
  return Array.isArray(event?.messages) ? event.messages.filter((m) => m) : [];
}

function isTool(m) {
  return (
    TOOL_ROLES.has(m.role) ||
    (Array.isArray(m.content) && m.content.some((part) => TOOL_PARTS.has(part?.type)))
  );
}

// A subagent's session (OpenClaw's isSubagentSessionKey): its runs belong to
// the agent that spawned it, which gets the mail itself.
function subagent(ctx) {
  return /(^|:)subagent:/i.test(String(ctx?.sessionKey ?? ""));
}

// A session's first prompt: no earlier assistant message in its history.
function firstTurn(event) {
  return !messagesOf(event).some((m) => m.role === "assistant");
}

// Whether this run called a tool since its prompt.  OpenClaw does not honour
// a revision after potential side effects (a tool ran): then tcfs does not ask,
// and the mail, still unread, comes with the next prompt instead of being lost.
function usedTools(event) {
  const messages = messagesOf(event);
  let start = messages.length;
  while (start > 0 && !(messages[start - 1].role === "user" && !isTool(messages[start - 1]))) {
    start -= 1;
  }
  return messages.slice(start).some(isTool);
}

export default {
  id: "tcfs",
  name: "tcfs mail",
  description: "Puts the agent's unread tcfs mail into its turns.",
  register(api) {
    const log = api.logger ?? console;
    const continued = new Set(); // runs tcfs already kept going once

    api.on("before_prompt_build", async (event, ctx) => {
      if (subagent(ctx)) return undefined;
      const hook = firstTurn(event) ? "session-start" : "prompt";
      const answer = await call(hook, { hook_event_name: hook, session_id: ctx?.sessionId }, log);
      if (answer?.systemMessage) log.warn(answer.systemMessage);
      const context = answer?.hookSpecificOutput?.additionalContext;
      return context ? { prependContext: context } : undefined;
    });

    api.on("before_agent_finalize", async (event, ctx) => {
      if (subagent(ctx) || usedTools(event)) return undefined;
      const run = ctx?.runId ?? event?.runId ?? ctx?.sessionKey ?? "";
      const payload = { hook_event_name: "stop", stop_hook_active: continued.has(run) };
      const answer = await call("stop", payload, log);
      if (answer?.systemMessage) log.warn(answer.systemMessage);
      if (answer?.decision !== "block" || !answer.reason) return undefined;
      continued.add(run);
      return { action: "revise", reason: answer.reason };
    });

    api.on(
      "before_tool_call",
      async (event, ctx) => {
        if (!COMMANDS.edit) return undefined;
        const input = { ...(event?.params ?? {}) };
        if (Array.isArray(event?.derivedPaths)) input.paths = event.derivedPaths;
        const payload = {
          hook_event_name: "edit",
          session_id: ctx?.sessionId,
          tool_name: event?.toolName,
          tool_input: input,
          cwd: ctx?.workspaceDir ?? process.cwd(),
        };
        const answer = await call("edit", payload, log);
        if (answer?.systemMessage) log.warn(answer.systemMessage);
        const decided = answer?.hookSpecificOutput;
        if (decided?.permissionDecision !== "deny" || !decided.permissionDecisionReason) return undefined;
        return { block: true, blockReason: decided.permissionDecisionReason };
      },
      { matcher: EDIT_TOOLS },
    );

    api.on("agent_end", (event, ctx) => {
      continued.delete(ctx?.runId ?? event?.runId ?? ctx?.sessionKey ?? "");
    });
  },
};
