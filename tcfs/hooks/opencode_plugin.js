// tcfs's OpenCode plugin: mail from a tcfs mount into the agent's turns.
// It holds no inbox logic: each event runs tcfs's hook command (below) with
// the event as one line of JSON on stdin, reads one line of JSON back
// ({context, continue, notice}), puts it into the turn, and only then writes
// "delivered", on which the hook marks the messages read. A hook call that
// takes longer than TIMEOUT_MS is killed and the turn goes on without mail.
//   a session's first prompt  chat.message: who the agent is, the cheat-sheet, what waits
//   every other prompt        chat.message: the unread messages, as a part of the prompt
//   a text of the agent ends  experimental.text.complete: unread messages become a new
//                             user message, so the turn goes on with them (once per prompt)
//   a file-editing tool call  tool.execute.before: a file another agent has reserved
//                             makes it throw, and the model gets why as the tool's result
import { spawn } from "node:child_process"

const COMMANDS = __TCFS_COMMANDS__
const TIMEOUT_MS = 2000
// OpenCode's tools that change files (their filePath, or the files a patchText names)
const EDIT_TOOLS = new Set(["edit", "write", "multiedit", "apply_patch", "patch"])

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
let lastMs = 0
let counter = 0

// An id of OpenCode's own shape for a part: "prt_", 12 hex digits of time and
// counter (so it sorts after the prompt's own parts), 14 random characters.
function partID() {
  const now = Date.now()
  counter = now === lastMs ? counter + 1 : 1
  lastMs = now
  const stamp = (BigInt(now) * 4096n + BigInt(counter)).toString(16).padStart(12, "0").slice(-12)
  const random = crypto.getRandomValues(new Uint8Array(14))
  return "prt_" + stamp + Array.from(random, (b) => ALPHABET[b % 62]).join("")
}

function within(ms, promise) {
  let timer
  const late = new Promise((resolve) => (timer = setTimeout(resolve, ms, undefined)))
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

export const TcfsMail = async ({ client, directory }) => {
  // session id -> what this process knows of it
  const sessions = new Map()

  // A toast in the TUI, and a line in OpenCode's log, written before the
  // hook returns (a turn that ends then may end the process).
  function notify(message) {
    const sent = [
      () => client.tui.showToast({ body: { message, variant: "warning" } }),
      () => client.app.log({ body: { service: "tcfs", level: "warn", message } }),
    ].map((send) => {
      try {
        return Promise.resolve(send()).catch(() => {})
      } catch {
        return Promise.resolve()
      }
    })
    return within(TIMEOUT_MS / 4, Promise.all(sent))
  }

  // Whether the session is a subagent's and whether it has no message yet,
  // asked once per session; unknown (an error, no answer in time) counts as
  // an ongoing top-level session.
  function session(id) {
    let known = sessions.get(id)
    if (known) return known
    known = { child: false, fresh: false, continued: false, injecting: false, agent: undefined }
    known.ready = within(
      TIMEOUT_MS / 4,
      Promise.all([client.session.get({ path: { id } }), client.session.messages({ path: { id } })]),
    )
      .then((answers) => {
        if (!answers) return
        const [info, messages] = answers
        known.child = Boolean(info?.data?.parentID)
        known.fresh = Array.isArray(messages?.data) && messages.data.length === 0
      })
      .catch(() => {})
    sessions.set(id, known)
    return known
  }

  // One hook call: `put(answer)` puts the answer into the turn and says
  // whether it did; only then is the hook told the messages were delivered.
  function hook(event, payload, put) {
    return new Promise((resolve) => {
      let child
      let answered = false
      let putting = Promise.resolve()
      let done = false
      const finish = (notice) => {
        if (done) return
        done = true
        clearTimeout(timer)
        if (notice) notify(notice).finally(resolve)
        else resolve()
      }
      const kill = () => {
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {}
      }
      const timer = setTimeout(() => {
        kill()
        finish(answered ? "" : `tcfs: the ${event} hook did not answer within ${TIMEOUT_MS / 1000} s; going on without mail`)
      }, TIMEOUT_MS)
      try {
        child = spawn("/bin/sh", ["-c", COMMANDS[event]], { stdio: ["pipe", "pipe", "ignore"], detached: true })
      } catch (err) {
        finish(`tcfs: the ${event} hook could not start: ${err?.message ?? err}`)
        return
      }
      child.on("error", (err) => finish(`tcfs: the ${event} hook could not start: ${err?.message ?? err}`))
      child.stdin.on("error", () => {}) // the hook may be gone: nothing was delivered then
      let out = ""
      child.stdout.setEncoding("utf8")
      child.stdout.on("data", (chunk) => {
        if (answered) return
        out += chunk
        const end = out.indexOf("\n")
        if (end < 0) return
        answered = true
        putting = (async () => {
          let ok = false
          try {
            const answer = JSON.parse(out.slice(0, end))
            if (answer.notice) await notify(answer.notice)
            ok = await put(answer)
          } catch (err) {
            await notify(`tcfs: the ${event} hook's answer could not be put into the turn: ${err?.message ?? err}`)
          }
          child.stdin.end(ok ? "delivered\n" : "\n")
        })()
      })
      child.on("close", () => putting.then(() => finish(answered ? "" : `tcfs: the ${event} hook gave no answer`)))
      child.stdin.write(JSON.stringify(payload) + "\n")
    })
  }

  return {
    "tool.execute.before": async (input, output) => {
      if (!EDIT_TOOLS.has(input.tool) || !COMMANDS.edit) return
      let denied
      const payload = {
        hook_event_name: "edit",
        session_id: input.sessionID,
        tool_name: input.tool,
        tool_input: output.args,
        cwd: directory,
      }
      await hook("edit", payload, async (answer) => {
        denied = answer.deny
        return false // nothing to mark read
      })
      if (denied) throw new Error(denied)
    },
    "chat.message": async (input, output) => {
      const s = session(input.sessionID)
      await s.ready
      if (s.injecting) return // the continuation this plugin is adding
      s.continued = false
      s.agent = output.message?.agent ?? input.agent
      if (s.child) return // mail is for the agent, not its subagents
      const event = s.fresh ? "session-start" : "prompt"
      s.fresh = false
      const payload = { hook_event_name: event, session_id: input.sessionID }
      await hook(event, payload, async (answer) => {
        if (!answer.context) return false
        output.parts.push({
          id: partID(),
          sessionID: input.sessionID,
          messageID: output.message.id,
          type: "text",
          text: answer.context,
          synthetic: true,
        })
        return true
      })
    },
    "experimental.text.complete": async (input) => {
      const s = session(input.sessionID)
      await s.ready
      if (s.child || s.continued || s.injecting) return // at most one continuation per prompt
      const payload = { hook_event_name: "stop", session_id: input.sessionID, stop_hook_active: false }
      await hook("stop", payload, async (answer) => {
        if (!answer.continue) return false
        s.injecting = true
        try {
          // noReply: the message joins the running turn, whose loop sees a
          // newer user message and goes on instead of ending; not synthetic,
          // so the user sees why the agent went on
          const sent = await client.session.prompt({
            path: { id: input.sessionID },
            body: { noReply: true, agent: s.agent, parts: [{ type: "text", text: answer.continue }] },
          })
          if (sent?.error) throw new Error(JSON.stringify(sent.error))
        } finally {
          s.injecting = false
        }
        s.continued = true
        return true
      })
    },
  }
}
