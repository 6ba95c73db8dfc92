// A JSON value as a tree a person can fold, as n8n shows a step's data: objects and arrays open to two levels,
// deeper ones folded; long lists show their first MAX_ITEMS entries. Strings are shown as JSON (quoted).
import { useState } from "react";

const MAX_ITEMS = 100;

function Scalar({ value }: { value: unknown }) {
  const kind = value === null ? "null" : typeof value;
  return <span className={`json-${kind}`}>{JSON.stringify(value)}</span>;
}

function Node({ name, value, depth }: { name?: string; value: unknown; depth: number }) {
  const container = value !== null && typeof value === "object";
  const [open, setOpen] = useState(depth < 2);
  const label = name !== undefined ? <span className="json-key">{name}: </span> : null;
  if (!container) {
    return (
      <li>
        {label}
        <Scalar value={value} />
      </li>
    );
  }
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, unknown>);
  const [start, end] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return (
    <li>
      <button type="button" className="json-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "▾" : "▸"}
      </button>
      {label}
      {start}
      {!open && <span className="muted"> {entries.length} {Array.isArray(value) ? "items" : "keys"} </span>}
      {open && (
        <ul className="json-children">
          {entries.slice(0, MAX_ITEMS).map(([key, child]) => (
            <Node key={key} name={Array.isArray(value) ? undefined : key} value={child} depth={depth + 1} />
          ))}
          {entries.length > MAX_ITEMS && <li className="muted">… {entries.length - MAX_ITEMS} more</li>}
        </ul>
      )}
      {end}
    </li>
  );
}

export function JsonTree({ value, testId }: { value: unknown; testId?: string }) {
  return (
    <ul className="json-tree" data-testid={testId}>
      <Node value={value} depth={0} />
    </ul>
  );
}
