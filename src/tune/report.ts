// Human-readable rendering of a bench report: a header (adapter, clock, roofline, tuning, peer)
// and one table row per case, grouped by family; then the end-to-end section when it ran.
import type { BenchReport, CaseResult, E2EChildResult, E2EReport, PoolPeak, ShaderCacheResult, TimeStats, TrainingResult } from './schema.js';

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

function grid(head: string[], rows: string[][], left: number): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < left ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)].join('\n');
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const spread = (t: TimeStats | null) => (t && t.samples > 1 ? `${ms(t.p10)}–${ms(t.p90)}` : '');

/** The end-to-end section: inference, training, pool peaks, cold / warm shader cache. */
export function formatE2E(e: E2EReport): string {
  const head = ['what', 'batch', 'first ms', 'new pipelines', 'warm ms', 'p10–p90', 'images/s', 'ms/image', 'main thread ms', 'peak live MiB', 'peak alloc MiB', 'resident MiB'];
  const pool = (p: PoolPeak | null) => (p ? [mib(p.peakLiveBytes), mib(p.peakAllocatedBytes), mib(p.residentBytes)] : ['', '', '']);
  const line = (what: string, batch: number, first: number, pipes: number, t: TimeStats | null, ips: number, p: PoolPeak | null, main?: number) => [
    what, String(batch), ms(first), String(pipes), t ? ms(t.median) : '', spread(t), num(ips), ms(1e3 / ips), main === undefined ? '' : ms(main), ...pool(p),
  ];
  const tr = e.training;
  const step = (what: string, t: TrainingResult) => line(what, t.step.batch, t.step.firstMs, t.step.pipelinesCompiled, t.step.time, t.step.imagesPerS, t.stepsPool, t.mainThreadMs);
  const rows = [
    ...e.inference.map((i) => line(i.replay === false ? 'inference, no replay' : 'inference', i.batch, i.firstMs, i.pipelinesCompiled, i.time, i.imagesPerS, i.pool, i.mainThreadMs)),
    ...[tr, ...(e.trainingOtherReplay ? [e.trainingOtherReplay] : [])].map((t) => step(`training step${t.replay === undefined ? '' : t.replay ? ', replayed' : ', no replay'}`, t)),
    line('feature caching', tr.features.batch, tr.features.firstMs, tr.features.pipelinesCompiled, tr.features.time, tr.features.imagesPerS, null),
  ];
  const out = [
    `end to end — HLGFA S=${e.size}, ${e.backbone.architecture} taps ${e.taps.join(', ')}, synthetic ${e.images.category} images; wall clock, readback included`,
    grid(head, rows, 1),
    `training: ${tr.fitImages} fit images, ${tr.epochs} epochs × ${tr.steps / tr.epochs} steps, ${tr.totalS.toFixed(1)} s in all (feature caching, steps, mean map, threshold); ` +
      `loss ${tr.loss.first.toFixed(4)} → ${tr.loss.last.toFixed(4)}${tr.loss.finite ? '' : ' NOT FINITE'}; whole run peak live ${mib(tr.pool.peakLiveBytes)} MiB, allocated ${mib(tr.pool.peakAllocatedBytes)} MiB`,
    'first: the first call in this process (pipeline creation, first allocations); warm: later calls (after a warm-up);',
    'inference = Detector.score (preprocess, upload, backbone HR+LR, module, map, readback, score), its recorded GPU work replayed',
    'after the second call (no replay: every call runs the ops afresh); main thread: its busy ms per call or step; training step = one',
    `trainHlgfa step (augmentation, backbone on the noisy views, module forward/backward, Adam, loss readback), first as this`,
    `adapter runs it by default; replayed: the module's part recorded at the second step and replayed after (the default on GPUs);`,
    'feature caching = the clean HR+LR backbone features cached before the first epoch; pool MiB: BufferPool high-water marks.',
  ];
  if (e.shaderCache) out.push('', ...formatShaderCache(e.shaderCache));
  return out.join('\n');
}

/** The shader-cache runs of the end-to-end section (fresh processes, empty then warm driver cache). */
export function formatShaderCache(sc: ShaderCacheResult): string[] {
  const out = [`shader cache — fresh processes, inference batch ${sc.batch}; ${sc.env.join(', ')} → one temporary folder`];
  const runs: Array<[string, E2EChildResult | null | undefined, number]> = [
    ['empty cache', sc.coldCache, sc.cacheBytes.afterCold],
    ['same cache again', sc.warmCache, sc.cacheBytes.afterWarm],
    ['same cache, prepared', sc.warmCachePrepared, sc.cacheBytes.afterWarm],
  ];
  const ok = runs.filter((r): r is [string, E2EChildResult, number] => !!r[1]);
  if (ok.length) {
    const prepare = (c: E2EChildResult) => (c.prepareMs === undefined ? '' : ms(c.prepareMs));
    out.push(
      grid(
        ['run', 'init ms', 'load ms', 'prepare ms', 'first ms', 'pipelines', 'warm ms', 'cache MiB'],
        ok.map(([name, c, bytes]) => [name, ms(c.initMs), ms(c.loadMs), prepare(c), ms(c.inference.firstMs), String(c.preparedPipelines ?? c.inference.pipelinesCompiled), ms(c.inference.time.median), mib(bytes)]),
        1,
      ),
      `adapter: ${ok[0][1].adapter}; init: dawn.node import + adapter + device; load: backbone read, parse, upload; prepare: the pipelines created`,
      'together before the first call (Detector.preparePipelines, as loadDetector, `hlgfa detect` and the page do); pipelines: created by it or by the first call',
    );
  }
  if (sc.coldCache && sc.warmCache) {
    const c = sc.coldCache.inference;
    const saved = c.firstMs - sc.warmCache.inference.firstMs;
    const p = sc.warmCachePrepared;
    out.push(`first inference: ${ms(c.firstMs)} ms cold cache, ${ms(sc.warmCache.inference.firstMs)} ms warm cache` +
      `${p?.prepareMs !== undefined ? ` (${ms(p.prepareMs + p.inference.firstMs)} ms prepared: ${ms(p.prepareMs)} + ${ms(p.inference.firstMs)})` : ''}, ${ms(c.time.median)} ms fully warm; ` +
      `the cache saves ${ms(saved)} ms (${ms(saved / Math.max(1, c.pipelinesCompiled))} ms per pipeline)`);
  }
  if (sc.error) out.push(`shader cache runs failed: ${sc.error}`);
  return out;
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
    `clock: ${r.cases.length ? clock : 'no kernel case ran (the end-to-end section is timed by wall clock)'}`,
    `roofline: peak ${roof.peakGflops.toFixed(1)} GFLOP/s (FMA chains); copy ${roof.copyGBps.toFixed(1)} GB/s ` +
      `(copyBufferToBuffer ${roof.copyBufferGBps.toFixed(1)}, vec4 copy kernel ${roof.copyKernelGBps.toFixed(1)}; read + write); ` +
      `cache-resident vec4 loads ${roof.cachedLoadGBps.toFixed(1)} GB/s = ${(roof.peakGflops / (roof.cachedLoadGBps / 4)).toFixed(1)} FLOP per loaded float at peak`,
    `tuning: ${r.tuning.source}`,
    `peer: ${peer}`,
    ...(r.cases.length
      ? [
          '',
          formatTable(r.cases),
          '',
          'ms: median per execution; p10–p90 spread; roof%: time at the roofline min(peak, intensity·copy) / measured;',
          'b: C compute- or M memory-bound model; peer×: our wall time / tfjs-webgpu wall time (< 1: ours faster);',
          'check: ok f(ull)/s(ampled) validation against the CPU reference, max |err| / rms(reference).',
        ]
      : []),
    ...(r.e2e ? ['', formatE2E(r.e2e), ''] : []),
    `${r.cases.length} cases, ${r.failures} failed, ${r.durationS.toFixed(0)} s`,
  ].join('\n');
}
