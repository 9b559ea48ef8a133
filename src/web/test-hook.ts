// `window.hlgfaTest`: fixed computations run with the page's engine, returning plain numbers, so
// the browser tests can compare the page against Node (see test/web/). Harmless for users.
import { runtime } from '../gpu/runtime.js';
import type { Backbone } from '../models/backbone.js';
import type { BackboneIdentity } from '../models/detector.js';
import type { RgbaImage } from '../io/image.js';
import { forwardProbe, pixelHash, trainProbe, type ForwardProbeOptions, type TrainProbeOptions } from './probe.js';

export interface TestHookDeps {
  ready: Promise<void>;
  exclusive: <T>(task: () => Promise<T>) => Promise<T>;
  backbone: () => { backbone: Backbone; id: BackboneIdentity } | null;
  /** The images the user gave the page, decoded. */
  images: () => { train: { name: string; img: RgbaImage }[]; test: { name: string; img: RgbaImage }[] };
}

export interface HlgfaTestHook {
  /** Resolves once WebGPU and the backbone are ready; rejects with the reason otherwise. */
  ready(): Promise<{ vendor: string; architecture: string; description: string }>;
  forward(o?: ForwardProbeOptions): Promise<{ pixels: string; fh: number[][]; fl: number[][]; fhat: number[][]; map: number[]; ms: number }>;
  train(o?: TrainProbeOptions): Promise<{ pixels: string[]; losses: number[]; threshold: number; ms: number }>;
  /** pixelHash of every decoded user image, keyed "train/NAME" and "test/NAME". */
  decoded(): Record<string, string>;
}

declare global {
  interface Window {
    hlgfaTest?: HlgfaTestHook;
  }
}

export function installTestHook(d: TestHookDeps): void {
  const need = () => {
    const bb = d.backbone();
    if (!bb) throw new Error('hlgfaTest: no backbone loaded');
    return bb;
  };
  const plain = (xs: Float32Array[]) => xs.map((x) => Array.from(x));
  window.hlgfaTest = {
    async ready() {
      await d.ready;
      const i = runtime().gpu.info;
      return { vendor: i.vendor, architecture: i.architecture, description: i.description };
    },
    forward: (o) =>
      d.exclusive(async () => {
        const t0 = performance.now();
        const r = await forwardProbe(need().backbone, o);
        return { pixels: r.pixels, fh: plain(r.fh), fl: plain(r.fl), fhat: plain(r.fhat), map: Array.from(r.map), ms: performance.now() - t0 };
      }),
    train: (o) =>
      d.exclusive(async () => {
        const t0 = performance.now();
        const bb = need();
        const r = await trainProbe(bb.backbone, bb.id, o);
        return { ...r, ms: performance.now() - t0 };
      }),
    decoded() {
      const { train, test } = d.images();
      const out: Record<string, string> = {};
      for (const t of train) out[`train/${t.name}`] = pixelHash(t.img);
      for (const t of test) out[`test/${t.name}`] = pixelHash(t.img);
      return out;
    },
  };
}
