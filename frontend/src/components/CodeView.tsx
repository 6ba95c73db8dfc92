// Read-only Python source with syntax highlighting (highlight.js escapes the text it highlights).
import hljs from "highlight.js/lib/core";
import python from "highlight.js/lib/languages/python";
import { useMemo } from "react";
import "highlight.js/styles/github.css";

hljs.registerLanguage("python", python);

export function CodeView({ source, firstLine = 1 }: { source: string; firstLine?: number }) {
  const html = useMemo(() => hljs.highlight(source, { language: "python" }).value, [source]);
  const lines = source.split("\n").length;
  return (
    <div className="code-view" data-testid="code-view">
      <pre className="code-lines" aria-hidden>
        {Array.from({ length: lines }, (_, i) => firstLine + i).join("\n")}
      </pre>
      <pre className="code-source">
        <code className="hljs language-python" dangerouslySetInnerHTML={{ __html: html }} />
      </pre>
    </div>
  );
}
