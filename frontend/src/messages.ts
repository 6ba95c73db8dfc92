// Every text the designer shows when something goes wrong or is refused, in one place (STYLE.md).

export const MSG = {
  network: "The server did not answer. Check that ElasticCode is running (make run) and try again.",
  sessionExpired: "Your session has ended. Log in again; unsaved changes stay in this tab until you reload it.",
  serverError: (status: number) =>
    `The server failed (HTTP ${status}). Try again; if it keeps failing, the server log says why.`,
  notFound: "This flow does not exist or you may not see it. Pick one from the list.",
  readOnly: (reason: string) => `Read-only: ${reason}`,
  stale: (mine: number, theirs: number | undefined) =>
    `Someone else saved this flow (you edited version ${mine}${theirs ? `, it is now at version ${theirs}` : ""}). ` +
    "Your changes are still here and were not saved. Export them, or reload the flow to get theirs.",
  // The server's refusal of a stale save names no one; `who` is the saver as the merge banner says it.
  staleBy: (server: string, who: string) => server.replace(/^The flow was changed by someone else/, `${who} changed the flow`),
  remoteLoaded: (who: string, version: number) => `${who} saved this flow (version ${version}); you now see their version.`,
  remoteWhileEditing: (who: string, version: number) =>
    `${who} saved this flow (version ${version}) while you were editing. Your changes are still here: Save merges ` +
    "them with theirs where you did not change the same thing (a clash is refused and named).",
  presence: (others: string[]) => `Also here: ${others.join(", ")}`,
  unsavedLeave: "You have unsaved changes in this flow. Leave without saving?",
  // The server's own words (how many wait, where), then the choice.
  dropWaiting: (server: string) =>
    `${server}\n\nDelete anyway? The waiting messages are not lost: they move to your dead-letter archive.`,
  connect: {
    readOnly: "This flow is view-only for you, so it cannot be changed.",
    notOutput: "Drag from a result (●) or error (◆) output on the right of a socket.",
    notInput: "Drop the plug on a socket's input on the left of a processor.",
    duplicate: (kind: string, from: string, to: string) =>
      `${from} → ${to}: these sockets already have a ${kind} plug between them.`,
    self: (socket: string) =>
      `A plug from ${socket} to ${socket} itself is not allowed: it would run on its own output for ever. ` +
      "To repeat a step, plug it into another socket that decides whether to send it back.",
    loop: (path: string[]) =>
      `This plug closes a loop (${path.join(" → ")}): a message can come round again. ` +
      "That is allowed; make sure a function on the way stops it (by returning nothing, or sending along a named plug).",
    loopTitle: "Part of a loop: messages on it can come round again (allowed; a function on the loop must end it).",
    noSocket: "That processor has no socket yet: discover its functions and add one first.",
  },
  nameTaken: (what: string, name: string) => `Another ${what} in this flow is already called "${name}".`,
  nameEmpty: (what: string) => `A ${what} needs a name.`,
  noSockets: "No sockets yet. Discover the module's functions and add the ones this processor should run.",
  subdirectoryFound: (module: string, where: string) =>
    `${module} is in ${where ? `the repository's ${where}/ directory` : "the top of the repository"}: ` +
    `the subdirectory is set to "${where}" (save to keep it).`,
  saveFirst: "Save the flow first: the server runs what is saved.",
  // A test message that succeeded only because an error plug took a failure on its way.
  handledFailure: (socket: string, error: string, caught = false) =>
    `Handled failure: ${socket} raised ${error} — ${caught ? "the function that called it caught it" : "an error plug took it"}`,
  invalidJson: (error: string) => `The message is not valid JSON (${error}). Example: {"n": 1} or "text".`,
  importNotJson: (error: string) => `That file is not a flow export (${error}). Export one from a flow's menu.`,
  pure: {
    hint:
      "Same arguments, same result, no side effects: a call with arguments it has seen before (at the same commit) " +
      "takes the remembered result and the function does not run.",
    ttlHint: "How long a remembered result is kept, in seconds; empty: the server's default (ELASTICCODE_MEMO_TTL)",
    ttlRange: (max: number) => `Memo TTL: give a whole number of seconds from 1 to ${max}, or leave it empty for the default.`,
    badge: (ttl: number | null) =>
      `Pure: results memoized (kept ${ttl ? `${ttl} s` : "for the server's default time"}); a repeated call is a memo hit.`,
  },
  chaos: {
    banner: (percent: number) => `Chaos drill: ${percent} % of calls fail on purpose`,
    detail: "Each call fails with a ChaosError before its function runs, so retries, error plugs and dead letters can be seen working.",
    hint: (owner: string) =>
      `A chaos drill fails this percent of the flow's calls (0 to 45) on purpose; 0 is off. ` +
      `Only the flow's owner${owner ? ` (${owner})` : ""} may change it.`,
    range: "Chaos: give a whole percent from 0 to 45 (0 turns the drill off).",
    set: (percent: number) => (percent ? `Chaos drill on: ${percent} % of calls fail on purpose.` : "Chaos drill off."),
  },
  tap: {
    title: (kind: "plug" | "socket") =>
      `Watch the messages ${kind === "plug" ? "passing along this plug" : "arriving at this socket"} as they happen: ` +
      "a preview of each (the first 1 KiB), sampled and rate-limited. Anyone who may view the flow may tap it.",
    untapTitle: "Stop watching (untap)",
    waiting: "waiting for messages…",
    asked: "Asking the server to tap…",
    // The server's refusal, in its own words; one it does not know is most likely new since the last save.
    refused: (server: string, kind: "plug" | "socket") =>
      /^no (plug|socket) /.test(server)
        ? `The server has no such ${kind} in this flow: a new ${kind} can be tapped once the flow is saved.`
        : `The server refused the tap: ${server}`,
    rate: "Rate: give a number of messages per second from 0.1 to 50.",
    missed: (n: number) => `${n} message${n === 1 ? "" : "s"} passed while paused (not kept).`,
    cut: "preview cut at 1 KiB",
    mark: "Tapped: its messages show in the tap panel",
  },
  live: {
    // Why a live connection (websocket) was closed for good; the server's own words follow when it sent any.
    closed: (code: number, server = "") => {
      const why =
        code === 4401
          ? "Live updates stopped: your session has ended. Log in again and reload the page."
          : code === 4403
            ? "Live updates were refused: this page's address is not an allowed origin of the server " +
              "(ALLOWED_HOSTS). Open ElasticCode at its configured address."
            : code === 4404
              ? "Live updates stopped: this flow no longer exists or you may not see it. Pick one from the list."
              : `Live updates stopped (code ${code}). Reload the page to try again.`;
      return server ? `${why} (${server})` : why;
    },
    connecting: "Connecting live updates…",
    connected: "Live: counts, queue depths and status update as they happen.",
    reconnecting: (ms: number) =>
      `Live updates lost; reconnecting in ${Math.max(1, Math.round(ms / 1000))} s. ` +
      "What you see may be stale until then (the server sends everything again on reconnect).",
    statusFailed: (error: string) => `Run status could not be read: ${error}`,
  },
  dashboard: {
    noThroughput: "No flow moved a message in the last minute. Start a flow to see throughput.",
    noLatency: "No calls in the last minute, so no latency yet. Start a flow and send it a message.",
    noHistory: "No flow ran in this range. Pick a longer range, or start a flow and come back later.",
    historyFailed: (error: string) => `The history could not be loaded: ${error}`,
    noNodes:
      "No nodes to show: none has reported yet (start an agent: ec agent, or make run), " +
      "or you lack the LS_NODES right to see them (ask an administrator).",
    noAgents: "No agents. Start one (ec agent, or make run) to run processors on its node.",
    noWorkers: "No workers run. Start a processor (or a whole flow) to see its workers here.",
    noErrors: "No socket failed in the last minute.",
    noErrorsHistory: "No socket failed in this range.",
    noSlow: "No calls in this range.",
    noQueues: "Every queue is empty.",
  },
} as const;
