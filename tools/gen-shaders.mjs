// Embeds shaders/*.wgsl into src/gpu/shaders.gen.ts so that Node and the browser bundle load the
// very same kernel text without a file system, with each shader's reflection (entry points'
// bindings, uniform struct layouts, module-scope constants) computed here by wgsl_reflect: parsing
// the WGSL in JavaScript cost every process ~150 ms before its first inference (src/gpu/kernel.ts
// reads the result). Run by `npm run build` and `npm test`.
//
// Two directives, both WGSL comments so an editor still highlights the file (shaders/README.md):
//
//   // #include "NAME.wgsl"
//     replaced by that file's text (once per module). A file whose name starts with `_` is only
//     ever included, never a shader of its own. Lets a variant that needs a WGSL `enable` directive
//     (which must precede every declaration and makes the whole module need the device feature)
//     reuse a family's declarations without copying them.
//
//   // #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
//   …lines using $T and $V (or ${T}, ${V})…
//   // #end
//     the lines between emitted once per tuple, each `$NAME` replaced by that tuple's value: one
//     body serves the scalar and the vec4 entry points (and any other instantiation). A single
//     name needs no parentheses: `// #for W in _wide, _narrow`. Values are bare words or
//     "quoted" (quotes for the empty string or a value holding a comma).
import { readdirSync, readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'shaders');
const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort();

/** Splits `a, "b, c", d` at top-level commas; a quoted value is taken as written, a bare one trimmed. */
function splitList(text, where) {
  const out = [];
  let bare = '';
  let quoted = null; // the quoted value being read, or the finished one
  let inQuote = false;
  let depth = 0;
  const push = () => {
    if (quoted !== null && bare.trim()) throw new Error(`${where}: text beside a quoted value in "${text}"`);
    out.push(quoted ?? bare.trim());
    bare = '';
    quoted = null;
  };
  for (const ch of text) {
    if (inQuote) {
      if (ch === '"') inQuote = false;
      else quoted += ch;
    } else if (ch === '"') {
      inQuote = true;
      quoted = '';
    } else if (ch === ',' && depth === 0) {
      push();
    } else {
      if (ch === '<') depth++;
      if (ch === '>') depth--;
      bare += ch;
    }
  }
  if (inQuote) throw new Error(`${where}: unterminated quote in "${text}"`);
  push();
  return out;
}

/** Parses the tuple list of a #for: `(a, b), (c, d)` or `a, b` for a single name. */
function parseTuples(text, arity, where) {
  if (arity === 1 && !text.trim().startsWith('(')) return splitList(text, where).map((v) => [v]);
  const tuples = [];
  const re = /\(((?:[^()"]|"[^"]*")*)\)\s*(,|$)/y;
  let at = 0;
  const t = text.trim();
  while (at < t.length) {
    re.lastIndex = at;
    const m = re.exec(t);
    if (!m) throw new Error(`${where}: cannot read the tuples at "${t.slice(at)}"`);
    const values = splitList(m[1], where);
    if (values.length !== arity) throw new Error(`${where}: tuple (${m[1]}) has ${values.length} values, expected ${arity}`);
    tuples.push(values);
    at = re.lastIndex;
    while (t[at] === ' ') at++;
  }
  return tuples;
}

/** Expands every `// #for … // #end` block of `text` (not nested). */
function instantiate(text, name) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^\s*\/\/ #for\s+(?:\(([\w\s,]+)\)|(\w+))\s+in\s+(.+)$/.exec(lines[i]);
    if (!head) {
      if (/^\s*\/\/ #(for|end)\b/.test(lines[i])) throw new Error(`shaders/${name}:${i + 1}: malformed directive "${lines[i].trim()}"`);
      out.push(lines[i]);
      continue;
    }
    const where = `shaders/${name}:${i + 1}`;
    const names = (head[1] ?? head[2]).split(',').map((s) => s.trim());
    const tuples = parseTuples(head[3], names.length, where);
    const end = lines.findIndex((l, j) => j > i && /^\s*\/\/ #end\s*$/.test(l));
    if (end < 0) throw new Error(`${where}: #for without #end`);
    const body = lines.slice(i + 1, end);
    if (body.some((l) => /^\s*\/\/ #for\b/.test(l))) throw new Error(`${where}: #for blocks do not nest`);
    const sub = new RegExp(`\\$(?:\\{(${names.join('|')})\\}|(${names.join('|')})(?![A-Za-z0-9_]))`, 'g');
    for (const values of tuples) {
      const env = Object.fromEntries(names.map((n, k) => [n, values[k]]));
      for (const l of body) out.push(l.replace(sub, (_, a, b) => env[a ?? b]));
    }
    i = end;
  }
  const left = out.findIndex((l) => /\$/.test(l.replace(/\/\/.*$/, '')));
  if (left >= 0) throw new Error(`shaders/${name}: "$" outside a #for block (or an unknown name) in "${out[left].trim()}"`);
  return out.join('\n');
}

function expand(name, seen = new Set()) {
  if (seen.has(name)) return '';
  seen.add(name);
  const text = readFileSync(join(dir, name), 'utf8');
  const included = text.replace(/^\/\/ #include "([\w.-]+\.wgsl)"$/gm, (_, inc) => {
    if (!files.includes(inc)) throw new Error(`shaders/${name}: #include of unknown shaders/${inc}`);
    return `// ---- shaders/${inc} ----\n${expand(inc, seen)}// ---- end of shaders/${inc} ----`;
  });
  return instantiate(included, name);
}

/** A type as kernel.ts reads it: name, size, and for uniforms the struct's members, arrays' elements. */
function typeOf(t) {
  if (!t) return null;
  const out = { name: t.name, size: t.size };
  if (t.format) out.format = typeOf(t.format);
  if (t.count !== undefined) out.count = t.count;
  if (t.stride !== undefined) out.stride = t.stride;
  if (t.members) out.members = t.members.map((m) => ({ name: m.name, offset: m.offset, type: typeOf(m.type) }));
  return out;
}

/** What src/gpu/kernel.ts needs of a shader (its ShaderReflection), from wgsl_reflect. */
function reflection(name, code) {
  const r = new WgslReflect(code);
  const entries = {};
  for (const ep of r.entry.compute) {
    const resources = ep.resources.map((res) => {
      // resourceType 0 = uniform, 1 = storage (wgsl_reflect ResourceType)
      const kind = res.resourceType === 0 ? 'uniform' : res.resourceType === 1 ? (res.access === 'read' ? 'read-only-storage' : 'storage') : null;
      if (!kind) throw new Error(`shaders/${name}: ${ep.name}: resource ${res.name} has an unsupported type`);
      return { name: res.name, group: res.group, binding: res.binding, kind, ...(kind === 'uniform' ? { type: typeOf(res.type) } : {}) };
    });
    entries[ep.name] = { resources };
  }
  const consts = {};
  for (const [k, v] of r._constValues ?? new Map()) if (typeof v === 'number' && Number.isFinite(v)) consts[k] = v;
  return { entries, consts };
}

const shaders = files.filter((f) => !f.startsWith('_')).map((f) => [f.replace(/\.wgsl$/, ''), expand(f)]);
const lines = [
  '// Generated by tools/gen-shaders.mjs from shaders/*.wgsl. Do not edit.',
  "import type { ShaderReflection } from './kernel.js';",
  '',
  'export const SHADERS: Readonly<Record<string, string>> = {',
];
for (const [name, code] of shaders) lines.push(`  ${JSON.stringify(name)}: ${JSON.stringify(code)},`);
lines.push('};', '', 'export const REFLECTIONS: Readonly<Record<string, ShaderReflection>> = {');
for (const [name, code] of shaders) lines.push(`  ${JSON.stringify(name)}: ${JSON.stringify(reflection(name, code))},`);
lines.push('};', '');
const out = join(root, 'src/gpu/shaders.gen.ts');
const text = lines.join('\n');
if (!existsSync(out) || readFileSync(out, 'utf8') !== text) {
  writeFileSync(out + '.tmp', text);
  renameSync(out + '.tmp', out);
}
