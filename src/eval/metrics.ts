// Anomaly-detection metrics with the MVTec AD conventions (portable: no Node APIs).
//
// - auroc: exact area under the ROC curve, ties handled as the trapezoid over distinct thresholds,
//   which equals the Mann–Whitney U statistic with half credit for tied (positive, negative) pairs.
// - pixelAuroc: the same over every pixel of every image (positives = mask pixels).
// - aupro: MVTec AD's per-region overlap (PRO) curve against the false-positive rate on normal
//   pixels, integrated from FPR 0 up to `maxFpr` (default 0.3, the value at maxFpr linearly
//   interpolated) and divided by maxFpr. Regions are the 8-connected components of each
//   ground-truth mask (scipy.ndimage.label with a 3×3 structure of ones); the curve starts at
//   (0, 0) and has one point per distinct score, as in the reference implementation
//   (mvtec_ad_evaluation: compute_pro + trapezoid).
// All of them sort once (radix sort for float32 maps, the built-in typed-array sort otherwise; no
// comparator on the big arrays) and sweep the distinct thresholds: 100 maps of 256×256 take
// ~0.3 s of CPU once warm. Undefined cases throw a clear error instead of returning NaN: AUROC
// without both classes, AUPRO without any anomalous region or without normal pixels. Only
// `pixelMetrics` (pixel AUROC and AUPRO in one pass, for reports) returns NaN for them.

/** A 2-D array of values, row-major. */
export interface Grid {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** A flat map/mask or a Grid. Flat inputs are fine wherever the shape is not needed. */
export type MapLike = ArrayLike<number> | Grid;

function dataOf(m: MapLike): ArrayLike<number> {
  return 'data' in m && typeof (m as Grid).width === 'number' ? (m as Grid).data : (m as ArrayLike<number>);
}

type Scores = Float32Array | Float64Array;

/**
 * Ascending sort of float32 values by LSD radix sort on their bit patterns (3 passes of 11 bits),
 * ~3× faster than the built-in sort on millions of values. With `payload`, returns the permutation
 * too (sorted[k] = values[perm[k]]). No NaN allowed (callers check).
 */
export function radixSortF32(values: Float32Array, payload = false): { sorted: Float32Array; perm: Uint32Array | null } {
  const n = values.length;
  let keys = new Uint32Array(n);
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const x = bits[i];
    keys[i] = x & 0x80000000 ? ~x : x | 0x80000000; // order-preserving map of IEEE floats to uints
  }
  let tmp = new Uint32Array(n);
  let idx = payload ? Uint32Array.from({ length: n }, (_, i) => i) : null;
  let idxTmp = payload ? new Uint32Array(n) : null;
  const count = new Uint32Array(2048);
  for (const shift of [0, 11, 22]) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(keys[i] >>> shift) & 2047]++;
    let sum = 0;
    for (let b = 0; b < 2048; b++) {
      const c = count[b];
      count[b] = sum;
      sum += c;
    }
    if (idx && idxTmp) {
      for (let i = 0; i < n; i++) {
        const x = keys[i];
        const d = count[(x >>> shift) & 2047]++;
        tmp[d] = x;
        idxTmp[d] = idx[i];
      }
      [idx, idxTmp] = [idxTmp, idx];
    } else {
      for (let i = 0; i < n; i++) {
        const x = keys[i];
        tmp[count[(x >>> shift) & 2047]++] = x;
      }
    }
    [keys, tmp] = [tmp, keys];
  }
  for (let i = 0; i < n; i++) {
    const x = keys[i];
    keys[i] = x & 0x80000000 ? x & 0x7fffffff : ~x;
  }
  return { sorted: new Float32Array(keys.buffer), perm: idx };
}

function sortedF64(values: number[] | Float64Array, what: string): Float64Array {
  const a = values instanceof Float64Array ? values : Float64Array.from(values);
  a.sort();
  if (a.length && Number.isNaN(a[a.length - 1])) throw new Error(`${what}: scores contain NaN`);
  return a;
}

/**
 * Mann–Whitney AUC from ascending-sorted positive and negative scores:
 * P(score_pos > score_neg) + ½ P(equal).
 */
function aucSorted(pos: Scores, neg: Scores): number {
  let below = 0; // negatives strictly below the current positive value
  let j = 0;
  let acc = 0;
  for (let i = 0; i < pos.length; ) {
    const v = pos[i];
    let np = 0;
    while (i < pos.length && pos[i] === v) {
      i++;
      np++;
    }
    while (j < neg.length && neg[j] < v) {
      j++;
      below++;
    }
    let eq = 0;
    let k = j;
    while (k < neg.length && neg[k] === v) {
      k++;
      eq++;
    }
    acc += np * (below + 0.5 * eq);
  }
  return acc / (pos.length * neg.length);
}

/**
 * Image-level AUROC. `labels`: 1/true = anomalous, 0/false = normal. Throws unless both classes
 * are present, on length mismatch, and on NaN scores. ±Infinity scores are allowed.
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  if (scores.length !== labels.length) throw new Error(`auroc: ${scores.length} scores but ${labels.length} labels`);
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < scores.length; i++) (labels[i] ? pos : neg).push(scores[i]);
  if (pos.length === 0 || neg.length === 0) {
    throw new Error(`auroc: undefined with ${pos.length} anomalous and ${neg.length} normal samples (both classes are needed)`);
  }
  return aucSorted(sortedF64(pos, 'auroc'), sortedF64(neg, 'auroc'));
}

function checkPairs(maps: readonly MapLike[], masks: readonly MapLike[], what: string): void {
  if (maps.length !== masks.length) throw new Error(`${what}: ${maps.length} maps but ${masks.length} masks`);
  for (let i = 0; i < maps.length; i++) {
    const a = dataOf(maps[i]).length;
    const b = dataOf(masks[i]).length;
    if (a !== b) throw new Error(`${what}: map ${i} has ${a} values but its mask has ${b} (resize the mask to the map size first)`);
  }
}

/** Pixel scores split by ground truth and sorted ascending; with regions, the weight 1/|region| of each anomalous pixel. */
interface Prepared {
  pos: Scores;
  neg: Scores;
  /** posWeight[k] belongs to pos[k]; null unless regions were asked for. */
  posWeight: Float64Array | null;
  regions: number;
}

function widthOf(m: MapLike, k: number, width: number | undefined, n: number, what: string): number {
  const w = 'width' in m && typeof (m as Grid).width === 'number' ? (m as Grid).width : width;
  if (w === undefined || !Number.isInteger(w) || w < 1 || n % w !== 0) {
    throw new Error(`${what}: mask ${k} (${n} values) needs a width: pass {width, height, data} or opts.width`);
  }
  return w;
}

function prepare(maps: readonly MapLike[], masks: readonly MapLike[], what: string, regionsFor: { width?: number } | null): Prepared {
  checkPairs(maps, masks, what);
  const f32 = maps.every((m) => dataOf(m) instanceof Float32Array); // sort exactly in float32 (radix) when the maps are float32
  let np = 0;
  let total = 0;
  const labels: (Int32Array | null)[] = [];
  const sizes: number[][] = [];
  let regions = 0;
  for (let k = 0; k < masks.length; k++) {
    const d = dataOf(masks[k]);
    total += d.length;
    for (let i = 0; i < d.length; i++) if (d[i]) np++;
    if (regionsFor) {
      const w = widthOf(masks[k], k, regionsFor.width, d.length, what);
      const cc = connectedComponents(d, w, d.length / w);
      labels.push(cc.labels);
      sizes.push(cc.sizes);
      regions += cc.count;
    }
  }
  const Ctor = f32 ? Float32Array : Float64Array;
  const pos = new Ctor(np);
  const neg = new Ctor(total - np);
  const w = regionsFor ? new Float64Array(np) : null;
  let a = 0;
  let b = 0;
  for (let k = 0; k < maps.length; k++) {
    const s = dataOf(maps[k]);
    const m = dataOf(masks[k]);
    const lab = labels[k];
    for (let i = 0; i < s.length; i++) {
      const v = s[i];
      if (v !== v) throw new Error(`${what}: anomaly map ${k} contains NaN (pixel ${i})`);
      if (m[i]) {
        if (w && lab) w[a] = 1 / sizes[k][lab[i] - 1];
        pos[a++] = v;
      } else neg[b++] = v;
    }
  }
  let sortedNeg: Scores;
  let sortedPos: Scores;
  let posWeight: Float64Array | null = null;
  if (neg instanceof Float32Array) sortedNeg = radixSortF32(neg).sorted;
  else sortedNeg = neg.sort();
  if (pos instanceof Float32Array) {
    const r = radixSortF32(pos, w !== null);
    sortedPos = r.sorted;
    if (w && r.perm) posWeight = Float64Array.from(r.perm, (i) => w[i]);
  } else if (w) {
    const order = Uint32Array.from({ length: np }, (_, i) => i).sort((x, y) => (pos[x] < pos[y] ? -1 : pos[x] > pos[y] ? 1 : 0));
    sortedPos = Float64Array.from(order, (i) => pos[i]);
    posWeight = Float64Array.from(order, (i) => w[i]);
  } else sortedPos = pos.sort();
  return { pos: sortedPos, neg: sortedNeg, posWeight, regions };
}

function pixelAurocOf(p: Prepared): number {
  if (p.pos.length === 0 || p.neg.length === 0) {
    throw new Error(`pixelAuroc: undefined with ${p.pos.length} anomalous and ${p.neg.length} normal pixels (both are needed)`);
  }
  return aucSorted(p.pos, p.neg);
}

/** Pixel-level AUROC over all pixels of all images; masks: nonzero = anomalous. */
export function pixelAuroc(maps: readonly MapLike[], masks: readonly MapLike[]): number {
  return pixelAurocOf(prepare(maps, masks, 'pixelAuroc', null));
}

export interface Components {
  /** Per pixel: 0 = background, 1..count = component, numbered in raster order of first pixel (as scipy). */
  labels: Int32Array;
  count: number;
  /** sizes[k] = pixels of component k + 1. */
  sizes: number[];
}

/** 8-connected components of the nonzero pixels of a w×h mask. */
export function connectedComponents(mask: ArrayLike<number>, w: number, h: number): Components {
  if (mask.length !== w * h) throw new Error(`connectedComponents: mask has ${mask.length} values, expected ${w}×${h} = ${w * h}`);
  const labels = new Int32Array(w * h);
  const sizes: number[] = [];
  const stack = new Int32Array(w * h);
  let count = 0;
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || labels[start]) continue;
    const id = ++count;
    let top = 0;
    let size = 0;
    stack[top++] = start;
    labels[start] = id;
    while (top > 0) {
      const p = stack[--top];
      size++;
      const x = p % w;
      const y = (p - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const q = yy * w + xx;
          if (mask[q] && !labels[q]) {
            labels[q] = id;
            stack[top++] = q;
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, count, sizes };
}

export interface ProCurve {
  /** Non-decreasing FPRs, starting at 0; one point per distinct score (highest first), stopped after passing maxFpr. */
  fpr: Float64Array;
  /** Mean per-region overlap at the same thresholds. */
  pro: Float64Array;
  regions: number;
  normalPixels: number;
}

export interface AuproOptions {
  /** Integration limit on the FPR axis (default 0.3). */
  maxFpr?: number;
  /** Row length for flat (non-Grid) masks; Grids carry their own. */
  width?: number;
}

/**
 * The PRO curve up to the first point with FPR ≥ maxFpr (maxFpr = 1 gives the whole curve).
 * Throws when there is no anomalous region or no normal pixel.
 */
export function proCurve(maps: readonly MapLike[], masks: readonly MapLike[], opts: AuproOptions = {}): ProCurve {
  checkMaxFpr(opts.maxFpr ?? 0.3);
  return proCurveOf(prepare(maps, masks, 'aupro', opts), opts.maxFpr ?? 0.3, masks.length);
}

function checkMaxFpr(maxFpr: number): void {
  if (!(maxFpr > 0 && maxFpr <= 1)) throw new Error(`aupro: maxFpr = ${maxFpr}, expected 0 < maxFpr ≤ 1`);
}

/**
 * Sweeps distinct thresholds from the highest score down (predicted anomalous = score ≥ threshold),
 * integrating PRO over FPR up to maxFpr on the fly; records the curve points when `curve` is given.
 */
function sweepPro(p: Prepared, maxFpr: number, images: number, curve: { fpr: number[]; pro: number[] } | null): number {
  const { pos, neg, posWeight, regions } = p;
  if (regions === 0 || !posWeight) throw new Error(`aupro: undefined — the ${images} ground-truth mask(s) contain no anomalous region`);
  const nNeg = neg.length;
  if (nNeg === 0) throw new Error('aupro: undefined — there are no normal pixels to measure the false-positive rate on');
  let i = nNeg - 1;
  let j = pos.length - 1;
  let fp = 0;
  let overlap = 0;
  let x0 = 0;
  let y0 = 0;
  let area = 0;
  while (i >= 0 || j >= 0) {
    const v = Math.max(i >= 0 ? neg[i] : -Infinity, j >= 0 ? pos[j] : -Infinity);
    while (i >= 0 && neg[i] === v) {
      fp++;
      i--;
    }
    while (j >= 0 && pos[j] === v) {
      overlap += posWeight[j];
      j--;
    }
    const x = fp / nNeg;
    const y = Math.min(1, overlap / regions);
    curve?.fpr.push(x);
    curve?.pro.push(y);
    if (x > x0) {
      if (x >= maxFpr) {
        // last segment: interpolate PRO at maxFpr (as the reference trapezoid does)
        area += 0.5 * (y0 + y0 + ((y - y0) * (maxFpr - x0)) / (x - x0)) * (maxFpr - x0);
        break;
      }
      area += 0.5 * (y0 + y) * (x - x0);
    }
    x0 = x;
    y0 = y;
  }
  return area;
}

function proCurveOf(p: Prepared, maxFpr: number, images: number): ProCurve {
  const curve = { fpr: [0], pro: [0] };
  sweepPro(p, maxFpr, images, curve);
  return { fpr: Float64Array.from(curve.fpr), pro: Float64Array.from(curve.pro), regions: p.regions, normalPixels: p.neg.length };
}

/** ∫₀^xMax y dx by the trapezoid rule over (x, y) points with x non-decreasing, y linearly interpolated at xMax. */
export function trapezoidTo(x: ArrayLike<number>, y: ArrayLike<number>, xMax: number): number {
  let area = 0;
  for (let k = 1; k < x.length; k++) {
    const x0 = x[k - 1];
    if (x0 >= xMax) break;
    let x1 = x[k];
    let y1 = y[k];
    if (x1 > xMax) {
      y1 = y[k - 1] + ((y[k] - y[k - 1]) * (xMax - x0)) / (x1 - x0);
      x1 = xMax;
    }
    area += 0.5 * (y[k - 1] + y1) * (x1 - x0);
  }
  return area;
}

/**
 * AUPRO up to `maxFpr` (default 0.3), normalised to [0, 1] by dividing by maxFpr. Masks: nonzero =
 * anomalous, as Grids (or flat with opts.width). Throws if no mask has an anomalous region.
 */
export function aupro(maps: readonly MapLike[], masks: readonly MapLike[], opts: AuproOptions = {}): number {
  const maxFpr = opts.maxFpr ?? 0.3;
  checkMaxFpr(maxFpr);
  return sweepPro(prepare(maps, masks, 'aupro', opts), maxFpr, masks.length, null) / maxFpr;
}

/**
 * Pixel AUROC and AUPRO together, sharing one split and sort of the pixels (about half the time
 * of calling both). Either is NaN (not an error) when undefined: no anomalous pixel / no normal pixel.
 */
export function pixelMetrics(maps: readonly MapLike[], masks: readonly MapLike[], opts: AuproOptions = {}): { pixelAuroc: number; aupro: number } {
  const maxFpr = opts.maxFpr ?? 0.3;
  checkMaxFpr(maxFpr);
  const p = prepare(maps, masks, 'pixelMetrics', opts);
  const defined = p.pos.length > 0 && p.neg.length > 0;
  if (!defined) return { pixelAuroc: NaN, aupro: NaN };
  return { pixelAuroc: aucSorted(p.pos, p.neg), aupro: sweepPro(p, maxFpr, masks.length, null) / maxFpr };
}

/**
 * Resizes a binary mask (nonzero = 1) to dw×dh like a float image — area average when shrinking,
 * bilinear (half-pixel centres) when enlarging, per axis — then binarises at ≥ 0.5.
 */
export function resizeMask(mask: ArrayLike<number>, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  if (mask.length !== sw * sh) throw new Error(`resizeMask: mask has ${mask.length} values, expected ${sw}×${sh}`);
  if (!(Number.isInteger(dw) && Number.isInteger(dh) && dw > 0 && dh > 0)) throw new Error(`resizeMask: invalid target size ${dw}×${dh}`);
  const src = Float32Array.from(mask, (v) => (v ? 1 : 0));
  const rows = resampleAxis(src, sw, sh, dw, true);
  const out = resampleAxis(rows, dw, sh, dh, false);
  return Uint8Array.from(out, (v) => (v >= 0.5 - 1e-6 ? 1 : 0));
}

/** Resamples along x (horizontal = true) or y: box filter over the source footprint when shrinking, bilinear when enlarging. */
function resampleAxis(src: Float32Array, w: number, h: number, n: number, horizontal: boolean): Float32Array {
  const len = horizontal ? w : h;
  const lines = horizontal ? h : w;
  const out = new Float32Array(horizontal ? n * h : w * n);
  const at = (line: number, k: number) => (horizontal ? src[line * w + k] : src[k * w + line]);
  const put = (line: number, k: number, v: number) => {
    if (horizontal) out[line * n + k] = v;
    else out[k * w + line] = v;
  };
  const scale = len / n;
  for (let line = 0; line < lines; line++) {
    for (let k = 0; k < n; k++) {
      let v: number;
      if (scale > 1) {
        const a = k * scale;
        const b = a + scale;
        let s = 0;
        for (let p = Math.floor(a); p < Math.min(len, Math.ceil(b)); p++) s += at(line, p) * (Math.min(b, p + 1) - Math.max(a, p));
        v = s / scale;
      } else {
        const c = Math.min(len - 1, Math.max(0, (k + 0.5) * scale - 0.5));
        const p = Math.floor(c);
        const t = c - p;
        v = at(line, p) * (1 - t) + at(line, Math.min(len - 1, p + 1)) * t;
      }
      put(line, k, v);
    }
  }
  return out;
}

/**
 * Mean of the largest max(1, round(fraction·n)) values; fraction 0 is the maximum. NaN anywhere
 * gives NaN. The k largest are found by selection (O(n): a full sort cost ~5 ms per 256² map, on
 * every inference's critical path) among the candidates at or above a threshold taken from a
 * sample (about 2k values, so one comparison per value instead of a copy and a selection over all:
 * 0.85 → 0.35 ms per 256² map at 1 %), and summed in ascending order, as a full sort would.
 */
export function topkMean(map: Float32Array, fraction: number): number {
  const n = map.length;
  const k = Math.max(1, Math.round(n * fraction));
  if (k === 1) {
    let m = -Infinity;
    for (const v of map) m = Math.max(m, v);
    return m;
  }
  const values = topCandidates(map, k);
  if (!values) return NaN;
  const count = values.length;
  if (k < count) selectLargest(values, count - k);
  const top = values.subarray(Math.max(0, count - k)).sort();
  let s = 0;
  for (const v of top) s += v;
  return s / k;
}

/** Scratch for topCandidates (a map's worth of floats, reused: no allocation per image). */
let scratch = new Float32Array(0);

/**
 * The values of `map` at or above a threshold that at least k of them reach, so the k largest are
 * among them (all of them when the sampled threshold is reached by fewer); null when one is NaN.
 * A view of a shared scratch buffer, valid until the next call.
 */
function topCandidates(map: Float32Array, k: number): Float32Array | null {
  const n = map.length;
  if (scratch.length < n) scratch = new Float32Array(n);
  const step = Math.max(1, Math.floor(n / 4096));
  let t = -Infinity;
  if (2 * k < n) {
    const sample = new Float32Array(Math.ceil(n / step));
    for (let i = 0, j = 0; i < n; i += step, j++) sample[j] = map[i];
    sample.sort(); // NaN last: a NaN threshold takes no value, and the full pass below finds the NaN
    t = sample[Math.max(0, sample.length - 1 - Math.ceil((2 * k) / step))];
  }
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = map[i];
    if (v >= t) scratch[count++] = v;
    else if (v !== v) return null;
  }
  if (count < k) {
    for (let i = 0; i < n; i++) if (Number.isNaN(map[i])) return null;
    scratch.set(map);
    count = n;
  }
  return scratch.subarray(0, count);
}

function selectLargest(a: Float32Array, at: number): void {
  let lo = 0;
  let hi = a.length - 1;
  for (let rounds = 2 * Math.ceil(Math.log2(a.length + 1)); hi > lo; rounds--) {
    if (rounds === 0) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const mid = (lo + hi) >>> 1;
    const x = a[lo];
    const y = a[mid];
    const z = a[hi];
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    // Now a[lo..j] <= pivot <= a[i..hi], and anything between equals the pivot.
    if (at <= j) hi = j;
    else if (at >= i) lo = i;
    else return;
  }
}
