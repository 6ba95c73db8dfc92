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
  unsavedLeave: "You have unsaved changes in this flow. Leave without saving?",
  connect: {
    readOnly: "This flow is view-only for you, so it cannot be changed.",
    notOutput: "Drag from a result (●) or error (▲) output on the right of a socket.",
    notInput: "Drop the plug on a socket's input on the left of a processor.",
    duplicate: (kind: string) => `These sockets already have a ${kind} plug between them.`,
    noSocket: "That processor has no socket yet: discover its functions and add one first.",
  },
  nameTaken: (what: string, name: string) => `Another ${what} in this flow is already called "${name}".`,
  nameEmpty: (what: string) => `A ${what} needs a name.`,
  noSockets: "No sockets yet. Discover the module's functions and add the ones this processor should run.",
  saveFirst: "Save the flow first: the server runs what is saved.",
  invalidJson: (error: string) => `The message is not valid JSON (${error}). Example: {"n": 1} or "text".`,
  importNotJson: (error: string) => `That file is not a flow export (${error}). Export one from a flow's menu.`,
} as const;
