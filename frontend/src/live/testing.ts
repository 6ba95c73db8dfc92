// A WebSocket stand-in for the tests of the live modules (imported by *.test.ts only, so never bundled): the test
// plays the server with accept / push / drop.
import type { TapEvent } from "./frames";

/** Event `n` of a tap on plug p1 (split → count). */
export const tapEvent = (n: number, over: Partial<TapEvent> = {}): TapEvent => ({
  kind: "plug", target: "p1", name: "split-to-count", from: "split", to: "count", message_id: `m${n}-0000-0000`,
  trace_id: `t${n}`, attempt: 1, at: 1_700_000_000 + n, payload: `{"n": ${n}}`, ...over,
});

export class FakeWebSocket {
  static all: FakeWebSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  closedWith: number | undefined;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1005) {
    this.closedWith = code;
    this.readyState = 3;
  }
  // What the server does:
  accept() {
    this.readyState = 1;
    this.onopen?.();
  }
  push(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}
