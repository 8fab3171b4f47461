// Parse each Mermaid diagram file with mermaid's own grammar; print one verdict per file as JSON.
// mermaid sanitises labels with DOMPurify, which needs a DOM: jsdom provides one, no browser.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import path from "node:path";

// ESM ignores NODE_PATH; resolve the packages from it as the CommonJS scripts do.
const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), "noop.js"));
const { JSDOM } = require("jsdom");
const { window } = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = window;
globalThis.document = window.document;

const entry = require.resolve("mermaid/dist/mermaid.core.mjs");
const { default: mermaid } = await import(pathToFileURL(entry).href);
mermaid.initialize({ startOnLoad: false });

const verdicts = [];
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  try {
    const result = await mermaid.parse(text);
    verdicts.push({ file, ok: true, diagramType: result.diagramType });
  } catch (err) {
    verdicts.push({ file, ok: false, error: String(err?.message ?? err).split("\n").slice(0, 4).join("\n") });
  }
}
process.stdout.write(JSON.stringify(verdicts));
