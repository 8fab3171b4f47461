"""The source of the Node.js worker, kept as a string so it ships inside the Python package.

The worker reads one JSON request a line on stdin and answers one JSON line on stdout with
the same ``id``. Three kinds of request cover every piece of inline JavaScript a promptfoo
config can hold:

* ``assertion``: a ``javascript`` assertion body, built as promptfoo's ``getInlineFunction``
  does (an expression is returned; ``const x = …; expr`` returns its last expression);
* ``function``: ``new Function(...params, body)(...args)``, the shape of promptfoo's
  ``transform`` and the http provider's ``transformResponse``;
* ``file``: an export of a ``file://x.js[:fn]`` module, called with ``args``.

Compiled functions are cached by source, so a suite of a thousand tests compiles its
transform once. The worker exits when stdin closes, so it never outlives its parent.
"""

from __future__ import annotations

__all__ = ["WORKER_JS"]

WORKER_JS = r"""
'use strict';
const readline = require('readline');
const fns = new Map();
function escaped(code, i) {
  let n = 0;
  for (let j = i - 1; j >= 0 && code[j] === '\\'; j--) n++;
  return n % 2 === 1;
}
function lastSemi(code) {
  let s = false, d = false, t = false, last = -1;
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (!escaped(code, i)) {
      if (c === "'" && !d && !t) s = !s;
      else if (c === '"' && !s && !t) d = !d;
      else if (c === '`' && !s && !d) t = !t;
    }
    if (c === ';' && !s && !d && !t) last = i;
  }
  return last;
}
function assertionBody(code) {
  if (code.includes('\n')) return code;
  const trimmed = code.trim().replace(/;+\s*$/, '');
  if (/^(const|let|var)\s/.test(trimmed)) {
    const i = lastSemi(trimmed);
    if (i !== -1) {
      const st = trimmed.slice(0, i + 1), ex = trimmed.slice(i + 1).trim();
      if (ex) return `${st} return ${ex}`;
    }
    return trimmed;
  }
  return `return ${trimmed}`;
}
function compiled(params, body) {
  const key = params.join(',') + '\u0000' + body;
  let fn = fns.get(key);
  if (!fn) {
    fn = new Function(...params, body);
    fns.set(key, fn);
  }
  return fn;
}
function isGrading(r) {
  return typeof r === 'object' && r !== null && typeof r.pass === 'boolean'
    && typeof r.score === 'number' && typeof r.reason === 'string';
}
async function validate(r) {
  r = await Promise.resolve(r);
  if (typeof r === 'boolean' || typeof r === 'number' || isGrading(r)) return r;
  throw new Error('Custom function must return a boolean, number, or GradingResult object. '
    + `Got type ${typeof r}: ${JSON.stringify(r)}`);
}
async function loadFile(path, name) {
  let mod;
  try {
    mod = require(path);
  } catch (e) {
    if (!e || e.code !== 'ERR_REQUIRE_ESM') throw e;
    mod = await import(require('url').pathToFileURL(path).href);
  }
  if (name && typeof mod[name] === 'function') return mod[name];
  if (typeof mod === 'function') return mod;
  if (mod && typeof mod.default === 'function') return mod.default;
  if (name && mod && mod.default && typeof mod.default[name] === 'function') {
    return mod.default[name];
  }
  throw new Error(`Assertion malformed: ${path} must export a function `
    + 'or have a default export as a function');
}
async function handle(m) {
  if (m.kind === 'assertion') {
    const fn = compiled(['output', 'context', 'process'], assertionBody(m.code));
    return await validate(fn(m.output, m.context, process));
  }
  if (m.kind === 'function') {
    return await Promise.resolve(compiled(m.params, m.body)(...m.args));
  }
  const fn = await loadFile(m.path, m.name);
  return await Promise.resolve(fn(...m.args));
}
function send(obj) {
  let line;
  try {
    line = JSON.stringify(obj);
  } catch (e) {
    line = JSON.stringify({ id: obj.id, ok: false, error: `result is not JSON: ${e.message}` });
  }
  process.stdout.write(line + '\n');
}
const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  let m;
  try { m = JSON.parse(line); } catch (e) { return; }
  handle(m).then(
    (r) => send({ id: m.id, ok: true, result: r === undefined ? null : r, undef: r === undefined }),
    (e) => send({
      id: m.id, ok: false,
      error: String(e && e.message !== undefined ? e.message : e), stack: String(e && e.stack),
    }),
  );
});
rl.on('close', () => process.exit(0));
"""
