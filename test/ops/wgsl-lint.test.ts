// Static checks on the WGSL sources for traps the compilers we run on do not report.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SHADERS = join(import.meta.dirname, '..', '..', 'shaders');

/**
 * Variables declared without an initializer inside a loop body that the loop then accumulates
 * into (`x += …`, `x[i] *= …`, `x++`) or hands on by pointer (`&x`). WGSL zeroes such a variable at
 * every iteration; Dawn's compiler (webgpu 0.6.2, lavapipe) zeroes it once, so it carries the last
 * iteration's value (shaders/README.md).
 */
export function bareLoopAccumulators(source: string): string[] {
  const text = source.replace(/\/\/[^\n]*/g, '');
  interface Block { loop: boolean; end: number }
  const stack: Block[] = [];
  const decls: { name: string; at: number; loop: Block }[] = [];
  let parens = 0;
  let stmtStart = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') parens++;
    else if (ch === ')') parens--;
    else if (ch === '{') {
      stack.push({ loop: /^(for|while|loop)\b/.test(text.slice(stmtStart, i).trim()), end: text.length });
      stmtStart = i + 1;
    } else if (ch === '}') {
      const b = stack.pop();
      if (b) b.end = i;
      stmtStart = i + 1;
    } else if (ch === ';' && parens === 0) {
      const m = /^var\s+(\w+)\s*:[^=]*$/.exec(text.slice(stmtStart, i).trim());
      const loop = [...stack].reverse().find((b) => b.loop);
      if (m && loop) decls.push({ name: m[1], at: i, loop });
      stmtStart = i + 1;
    }
  }
  return decls
    .filter(({ name, at, loop }) => {
      const body = text.slice(at, loop.end);
      const accumulates = new RegExp(`\\b${name}\\b(\\s*\\[[^\\]]*\\])*(\\.[xyzw]+)?\\s*(<<|>>|[-+*/%&|^])=|\\b${name}\\b\\s*(\\+\\+|--)`);
      return accumulates.test(body) || new RegExp(`&\\s*${name}\\b`).test(body);
    })
    .map(({ name }) => name);
}

describe('WGSL lint', () => {
  it('finds a bare accumulator declared in a loop, and accepts initialised or function-scope ones', () => {
    const bad = `fn f() {
      for (var i = 0u; i < 4u; i++) {
        var acc: array<vec4<f32>, 4>; // zeroed once on Dawn
        acc[i % 4u] += vec4<f32>(1.0);
        var n: u32;
        n++;
        var s: f32;
        add_to(&s);
        var t: f32;
        t = 1.0;
      }
    }`;
    expect(bareLoopAccumulators(bad)).toEqual(['acc', 'n', 's']);
    const good = `fn f() {
      var acc: array<vec4<f32>, 4>;
      loop {
        var row = array<f32, 4>();
        row[0] += 1.0;
        acc[0] += vec4<f32>(row[0]);
        var m: mat4x4<f32>;
        m = mat4x4<f32>();
        if (acc[0].x > 3.0) { break; }
      }
    }`;
    expect(bareLoopAccumulators(good)).toEqual([]);
  });

  it('no shader declares a bare accumulator inside a loop', () => {
    const files = readdirSync(SHADERS).filter((f) => f.endsWith('.wgsl'));
    expect(files.length).toBeGreaterThan(10);
    const found = files.flatMap((f) => bareLoopAccumulators(readFileSync(join(SHADERS, f), 'utf8')).map((v) => `${f}: ${v}`));
    expect(found).toEqual([]);
  });
});
