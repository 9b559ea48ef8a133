// Human-readable rendering of a bench report: a header (adapter, clock, roofline, tuning, peer)
// and one table row per case, grouped by family.
import type { BenchReport, CaseResult } from './schema.js';

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const num = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function row(r: CaseResult): string[] {
  const name = r.id.slice(r.family.length + 1);
  if (r.status !== 'ok' || !r.time) {
    const why = r.status === 'WRONG' ? `WRONG (rel err ${r.validation?.relErr.toExponential(1)})` : `ERROR ${r.error ?? ''}`;
    return [name, r.variant, '', '', '', '', '', '', '', why.slice(0, 80)];
  }
  const t = r.time;
  const peer = r.peer ? (r.peer.ratio != null ? `${r.peer.ratio.toFixed(2)}` : 'err') : '';
  return [
    name,
    r.variant,
    ms(t.median),
    `${ms(t.p10)}–${ms(t.p90)}`,
    num(r.throughput!.gflops),
    num(r.throughput!.gbps),
    r.roofline!.pct.toFixed(1),
    r.roofline!.bound === 'compute' ? 'C' : 'M',
    peer,
    r.validation ? `ok ${r.validation.method === 'sampled' ? 's' : 'f'} ${r.validation.relErr.toExponential(0)}` : '',
  ];
}

const HEAD = ['case', 'variant', 'ms', 'p10–p90', 'GFLOP/s', 'GB/s', 'roof%', 'b', 'peer×', 'check'];
const RIGHT = new Set([2, 3, 4, 5, 6, 8]);

export function formatTable(cases: readonly CaseResult[]): string {
  const rows = cases.map(row);
  const w = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (RIGHT.has(i) ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  const out: string[] = [fmt(HEAD), w.map((n) => '-'.repeat(n)).join('  ')];
  let family = '';
  cases.forEach((c, i) => {
    if (c.family !== family) {
      family = c.family;
      out.push(`${family}:`);
    }
    out.push(fmt(rows[i]));
  });
  return out.join('\n');
}

export function formatReport(r: BenchReport): string {
  const a = r.adapter;
  const roof = r.roofline;
  const clock =
    r.clock.kind === 'gpu-timestamp'
      ? `GPU timestamp queries (resolution ${r.clock.resolutionNs ?? '?'} ns)`
      : 'wall clock (submit → onSubmittedWorkDone)';
  const peer = r.peer.available ? `${r.peer.name} ${r.peer.version ?? ''} on the same GPUDevice (wall clock)` : `none (${r.peer.reason ?? 'unavailable'})`;
  return [
    `hlgfa bench (${r.mode}) — ${a.vendor} ${a.architecture} ${a.description}${a.isFallbackAdapter ? ' [fallback adapter]' : ''}`,
    `host: ${r.host.cpus}× ${r.host.cpuModel}, Node ${r.host.node}`,
    `clock: ${clock}`,
    `roofline: peak ${roof.peakGflops.toFixed(1)} GFLOP/s (FMA chains); copy ${roof.copyGBps.toFixed(1)} GB/s ` +
      `(copyBufferToBuffer ${roof.copyBufferGBps.toFixed(1)}, vec4 copy kernel ${roof.copyKernelGBps.toFixed(1)}; read + write)`,
    `tuning: ${r.tuning.source}`,
    `peer: ${peer}`,
    '',
    formatTable(r.cases),
    '',
    'ms: median per execution; p10–p90 spread; roof%: time at the roofline min(peak, intensity·copy) / measured;',
    'b: C compute- or M memory-bound model; peer×: our wall time / tfjs-webgpu wall time (< 1: ours faster);',
    'check: ok f(ull)/s(ampled) validation against the CPU reference, max |err| / rms(reference).',
    `${r.cases.length} cases, ${r.failures} failed, ${r.durationS.toFixed(0)} s`,
  ].join('\n');
}
