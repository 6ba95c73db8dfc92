import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ERROR_MS, INFO_MS, notifyError, notifyInfo, useToasts } from "./toasts";

describe("toasts", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    useToasts.getState().clear();
    vi.useRealTimers();
  });

  it("fade: information after a few seconds, errors later, neither stays for ever", () => {
    notifyInfo("saved");
    notifyError("could not save");
    vi.advanceTimersByTime(INFO_MS);
    expect(useToasts.getState().toasts.map((t) => t.text)).toEqual(["could not save"]);
    vi.advanceTimersByTime(ERROR_MS - INFO_MS);
    expect(useToasts.getState().toasts).toEqual([]);
  });
});
