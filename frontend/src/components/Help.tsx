export const SHORTCUTS: [string, string][] = [
  ["Ctrl+S", "Save"],
  ["Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", "Undo / redo"],
  ["Ctrl+C / Ctrl+V", "Copy / paste the selected processors and the plugs between them"],
  ["Ctrl+A", "Select all"],
  ["Delete, Backspace", "Delete the selection"],
  ["Shift+drag, Ctrl+click", "Select several"],
  ["N", "Add a processor"],
  ["F", "Fit the flow in view"],
  ["M", "Show or hide the map (off at first for flows of more than 150 processors)"],
  ["L", "Auto-layout"],
  ["Ctrl+F or /", "Search; Enter for the next match"],
  ["Escape", "Close the panel, clear the selection"],
  ["?", "This help"],
];

export function Help({ onClose }: { onClose: () => void }) {
  return (
    <div className="modal" role="dialog" aria-label="Keyboard shortcuts" onClick={onClose}>
      <div className="modal-body" onClick={(e) => e.stopPropagation()}>
        <header>
          <h2>Keyboard shortcuts</h2>
          <button type="button" onClick={onClose} aria-label="Close help">×</button>
        </header>
        <table className="shortcuts">
          <tbody>
            {SHORTCUTS.map(([keys, what]) => (
              <tr key={keys}>
                <td><kbd>{keys}</kbd></td>
                <td>{what}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted">
          Connect a socket's result (●) or error (◆) output on the right to another socket's input on the left to
          make a plug.
        </p>
      </div>
    </div>
  );
}
