"""The source of the Node.js worker, kept as a string so it ships inside the Python package.

The worker reads one JSON request a line on stdin and answers one JSON line on stdout with
the same ``id``. Three kinds of request cover every piece of inline JavaScript a promptfoo
config can hold:

* ``assertion``: a ``javascript`` assertion body, built as promptfoo's ``getInlineFunction``
  does (an expression is returned; ``const x = …; expr`` returns its last expression);
* ``function``: ``new Function(...params, body)(...args)``, the shape of promptfoo's
  ``transform`` and the http provider's ``transformResponse``;
* ``file``: an export of a ``file://x.js[:fn]`` module, called with ``args``, found the way
  promptfoo finds assertion and transform functions;
* ``export`` and ``invoke``: the export promptfoo's ``importModule(path, name)`` returns
  (``default.default``, else ``default``, else the module; then ``[name]``), described (its
  type and source) or called — prompt functions, test generators, Nunjucks filters;
* ``provider``: ``callApi`` of a custom provider class, constructed once per options.

Modules load once per worker, as ES modules first (a CommonJS file loads through the same
``import``); ``.ts``/``.cts``/``.mts`` files are compiled with esbuild, found from the file's
folder upwards, then in ``PROMPTGOV_RESOLVE_PATHS``. Compiled functions are cached by source,
so a suite of a thousand tests compiles its transform once. The worker exits when stdin
closes, so it never outlives its parent.
"""

from __future__ import annotations

__all__ = ["WORKER_JS"]

WORKER_JS = r"""
'use strict';
const readline = require('readline');
const fns = new Map();
const providers = new Map();
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
const TS = /\.[cm]?ts$/i;
let tsReady = false;
function registerTypescript(fromDir) {
  if (tsReady) return;
  const paths = [fromDir, ...JSON.parse(process.env.PROMPTGOV_RESOLVE_PATHS || '[]')];
  let esbuild;
  try {
    esbuild = require(require.resolve('esbuild', { paths }));
  } catch (e) {
    throw new Error('TypeScript files need the esbuild npm package, and it was not found from '
      + `${paths.join(', ')}. Run 'npm install esbuild' there, or set PROMPTGOV_NODE_MODULES `
      + 'to a folder whose node_modules holds it.');
  }
  const compile = (module, filename) => {
    const source = require('fs').readFileSync(filename, 'utf8');
    const out = esbuild.transformSync(source, {
      loader: 'ts', format: 'cjs', sourcefile: filename, target: 'node18', sourcemap: 'inline',
    });
    module._compile(out.code, filename);
  };
  for (const ext of ['.ts', '.cts', '.mts']) require.extensions[ext] = compile;
  tsReady = true;
}
const modules = new Map();
async function rawModule(path) {
  let mod = modules.get(path);
  if (mod === undefined) {
    if (TS.test(path)) {
      registerTypescript(require('path').dirname(path));
      const exp = require(path);
      // What import() gives for a compiled module: its exports as the default export.
      mod = exp && exp.__esModule ? { ...exp, default: exp.default } : { default: exp };
    } else {
      mod = await import(require('url').pathToFileURL(path).href);
    }
    modules.set(path, mod);
  }
  return mod;
}
async function promptfooExport(path, name) {
  const ns = await rawModule(path);
  const mod = (ns && ns.default && ns.default.default) || (ns && ns.default) || ns;
  return name ? mod[name] : mod;
}
async function loadFile(path, name) {
  const mod = await rawModule(path);
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
  if (m.kind === 'export') {
    const v = await promptfooExport(m.path, m.name);
    return typeof v === 'function'
      ? { type: 'function', source: String(v) }
      : { type: typeof v, value: v === undefined ? null : v };
  }
  if (m.kind === 'invoke') {
    const v = await promptfooExport(m.path, m.name);
    if (typeof v === 'function') return await Promise.resolve(v(...m.args));
    if (m.orValue) return v;
    throw new TypeError(`${m.what} is not a function`);
  }
  if (m.kind === 'provider') {
    const key = m.path + '\u0000' + JSON.stringify(m.options);
    let provider = providers.get(key);
    if (!provider) {
      const Cls = await promptfooExport(m.path, null);
      provider = new Cls(m.options);
      providers.set(key, provider);
    }
    return await provider.callApi(m.prompt, m.context);
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
