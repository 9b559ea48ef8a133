// Depthwise 2-D convolution (one k×k filter per channel, zero padding), NCHW f32, forward and
// backward, plus the helpers of the fused multi-scale op.
//
// K (3/5/7), stride S, dilation D and the register block (BW, BH) are override constants, so the
// loops over a thread's outputs, taps and row segment have constant trip counts and unroll, which
// keeps those arrays in registers. Loops whose length depends on the image (rows walked, work
// items) take their bounds from the uniforms and stay rolled: fully unrolled kernels were several
// times larger and slower on lavapipe.
//
// Cost model (lavapipe, the CPU Vulkan driver this project tests on): invocations run as 8-wide
// SIMD, and every load or store is a scalar loop over the lanes (~8 instructions a lane), even
// where every lane reads the same address (Mesa 25.0.7; shaders/README.md).
// Multiply-adds are nearly free next to that, so the kernels minimise divergent loads per output:
//  - fwd_rolling / bwd_w_rolling (stride 1, the default there) walk down a BW-wide column
//    strip keeping K partial rows in registers: each input / gy row segment is loaded once;
//  - forward / bwd_x / bwd_w (any stride) use BH×BW output blocks; forward_v4
//    reads input rows as aligned vec4 windows (a vec4 load costs about what a scalar one does);
//  - fwd_rolling and bwd_x give each workgroup one (n, c) plane, so its lanes read the same
//    weights (the _sg entries share them by shuffle); fwd* packs several small planes into one
//    workgroup.
//
// The fused multi-scale op (DW3 + DW5 + DW7, 'same' padding, shared stride and dilation) is one
// 7×7 pass with the three filters summed into a centred 7×7 filter (ms_combine); its weight
// gradient is cropped back into three (ms_split). The input is read once, at 49 taps per output
// instead of 9 + 25 + 49.

struct Params {
  total: u32,    // ms_combine / ms_split: elements
  c: u32,        // channels
  h: u32,        // input height / width
  w: u32,
  oh: u32,       // output height / width
  ow: u32,
  planes: u32,   // N * C
  tiles: u32,    // blocks per plane
  tiles_x: u32,  // blocks along a row
  rows: u32,     // forward: input rows a block reads; bwd_x: gy rows a block reads
  items: u32,    // bwd_w*: work items per channel; bwd_b: N * OH * OW
  splits: u32,   // bwd_w*: workgroups per channel (and filter row)
  chunks: u32,   // *_s1: chunks of a walk per row class (rows ≡ r mod D)
  steps: u32,    // *_s1: rows walked per chunk
  pad: i32,      // zero padding (all but bwd_x, which uses P); fwd_rolling with FLIP: may be < 0
  has_bias: u32, // fwd*: add bias[c]
  bh: u32,       // = BH, a run-time bound (see store_block)
  act: u32,      // fwd*: the stored output goes through activate() (after the bias): 1 ReLU6, 2 ReLU
  tpp_log2: u32, // fwd*: log2 of the lanes per plane, TPP (a power of two dividing WG)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> w3: array<f32>;
@group(0) @binding(7) var<storage, read> w5: array<f32>;
@group(0) @binding(8) var<storage, read> w7: array<f32>;
@group(0) @binding(9) var<storage, read> b3: array<f32>;
@group(0) @binding(10) var<storage, read> b5: array<f32>;
@group(0) @binding(11) var<storage, read> b7: array<f32>;
@group(0) @binding(12) var<storage, read_write> out_b: array<f32>;
@group(0) @binding(13) var<storage, read_write> out3: array<f32>;
@group(0) @binding(14) var<storage, read_write> out5: array<f32>;
@group(0) @binding(15) var<storage, read_write> out_v4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read> x_v4: array<vec4<f32>>;

override K: u32 = 3u;        // kernel size
override S: u32 = 1u;        // stride
override D: u32 = 1u;        // dilation
override P: u32 = 1u;        // bwd_x: zero padding (forward / bwd_w: p.pad)
override BW: u32 = 4u;       // outputs per thread along W (bwd_x: a multiple of S)
override BH: u32 = 1u;       // outputs per thread along H (bwd_x: a multiple of S)
override BIAS_MASK: u32 = 0u; // ms_combine: bit 0/1/2 = b3/b5/b7 present
override FLIP: u32 = 0u;      // fwd_rolling: use the filter rotated by 180° (stride-1 input gradient)
override WG: u32 = 64u;
override XPH: u32 = 0u;      // fwd_v4, X4: (−pad) mod 4, where a thread's input columns start in its vec4 window
override X4: bool = false;   // fwd_rolling: read rows through x_window4 (else x_v4 is bound to any buffer)

const MAX_ACC = 32u;  // BH * BW
const MAX_BW = 16u;
const MAX_KK = 49u;   // K · K
const MAX_GBUF = 64u; // bwd_w_rolling: K · BW
const MAX_SPAN = 64u; // input values one thread reads per row

// Input columns a row segment of BW outputs touches (fwd*, bwd_w*).
override SPAN: u32 = (BW - 1u) * S + (K - 1u) * D + 1u;
// x_window4: vec4 loads covering a row segment.
override NV: u32 = (XPH + SPAN + 3u) / 4u;

// #include "_common.wgsl"

// x[row base rb + ix0 + q], zero outside the row.
fn load_x_row(rb: u32, ix0: i32, q: u32) -> f32 {
  let ix = ix0 + i32(q);
  return select(0.0, x[rb + u32(clamp(ix, 0, i32(p.w) - 1))], ix >= 0 && ix < i32(p.w));
}

// Floor division by a positive divisor.
fn fdiv(a: i32, b: i32) -> i32 {
  return select(a / b, (a - b + 1) / b, a < 0);
}

// ---- forward ------------------------------------------------------------------------------------
// Any stride: a thread owns a BH×BW output block and walks the input rows it covers. A plane's
// blocks take TPP lanes of a workgroup, so WG / TPP planes share one when planes are small (a
// 8×8 stride-2 output is two 8×4 blocks); with TPP = WG a workgroup is one plane and weights load
// uniformly. TPP is a uniform (its log2: lanes split by shift and mask), not an override, so
// layers that differ only in plane size share a pipeline (each one compiled costs ~0.15 s).

// (plane, block) of an invocation of fwd*.
fn forward_item(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> vec2<u32> {
  let group = wid.y + wid.z * nwg.y;
  let l = p.tpp_log2;
  return vec2<u32>(group * (WG >> l) + (lid >> l), (wid.x << l) + (lid & ((1u << l) - 1u)));
}

// A thread's accumulated block, before the bias and the store.
struct FwdBlock { acc: array<f32, MAX_ACC>, base: u32, oy0: u32, ox0: u32, bv: f32 }

// Where block t of a plane starts: output origin, input origin, filter and plane offsets.
struct BlockAt { wb: u32, xb: u32, ox0: u32, oy0: u32, ix0: i32, iy0: i32 }

fn block_at(plane: u32, t: u32) -> BlockAt {
  let ox0 = (t % p.tiles_x) * BW;
  let oy0 = (t / p.tiles_x) * BH;
  return BlockAt((plane % p.c) * K * K, plane * p.h * p.w, ox0, oy0, i32(ox0 * S) - p.pad, i32(oy0 * S) - p.pad);
}

// Adds input row j of a block (its SPAN values in `row`) to the outputs whose taps read it.
fn accumulate_row(acc: ptr<function, array<f32, MAX_ACC>>, row: array<f32, MAX_SPAN>, j: u32, wb: u32) {
  for (var r = 0u; r < BH; r++) {
    let dy = i32(j) - i32(r * S); // = ky * D for the taps of output row r that use input row j
    if (dy >= 0 && dy % i32(D) == 0 && dy / i32(D) < i32(K)) {
      let ky = u32(dy) / D;
      for (var kx = 0u; kx < K; kx++) {
        let wv = wt[wb + ky * K + kx];
        for (var b = 0u; b < BW; b++) {
          (*acc)[r * BW + b] = fma(wv, row[b * S + kx * D], (*acc)[r * BW + b]);
        }
      }
    }
  }
}

// #include "_activation.wgsl"

// The fused activation (p.act), applied to stored values after the bias.
fn act(v: f32) -> f32 { return activate(v, p.act); }
fn act4(v: vec4<f32>) -> vec4<f32> { return activate4(v, p.act); }

fn finish_block(plane: u32, at: BlockAt, acc: array<f32, MAX_ACC>) -> FwdBlock {
  var bv = 0.0;
  if (p.has_bias != 0u) { bv = bias[plane % p.c]; }
  return FwdBlock(acc, plane * p.oh * p.ow, at.oy0, at.ox0, bv);
}

// The SPAN inputs of row rb from column ix0 (zero outside the row, or everywhere unless ok), read
// as NV aligned vec4: w % 4 == 0, so a vec4 is wholly inside or outside the row, and ix0 ≡ −XPH
// (mod 4) for every thread. On lavapipe a vec4 load costs about what a scalar one does:
// 4 / (1 + 3 / SPAN) times fewer loads.
fn x_window4(rb: u32, ix0: i32, ok: bool) -> array<f32, MAX_SPAN> {
  var row: array<f32, MAX_SPAN>;
  let a0 = ix0 - i32(XPH);
  for (var v = 0u; v < NV; v++) {
    let ia = a0 + i32(4u * v);
    let q = select(vec4<f32>(0.0), x_v4[(rb + u32(clamp(ia, 0, i32(p.w) - 4))) / 4u], ok && ia >= 0 && ia < i32(p.w));
    for (var c = 0u; c < 4u; c++) {
      let k = 4u * v + c;
      if (k >= XPH && k - XPH < SPAN) { row[k - XPH] = q[c]; }
    }
  }
  return row;
}

// A block's SPAN-wide input row segment at row base rb from column ix0 (zero outside the row):
// scalar loads, or (_v4) the NV aligned vec4 of x_window4 (BW·S % 4 == 0, so every block's window
// has phase XPH).
fn x_segment(rb: u32, ix0: i32) -> array<f32, MAX_SPAN> {
  var row: array<f32, MAX_SPAN>;
  for (var q = 0u; q < SPAN; q++) { row[q] = load_x_row(rb, ix0, q); }
  return row;
}
fn x_segment_v4(rb: u32, ix0: i32) -> array<f32, MAX_SPAN> { return x_window4(rb, ix0, true); }

// #for L in "", _v4
fn forward_block$L(plane: u32, t: u32) -> FwdBlock {
  let at = block_at(plane, t);
  var acc: array<f32, MAX_ACC>;
  for (var j = 0u; j < p.rows; j++) { // input rows of the block
    let iy = at.iy0 + i32(j);
    if (iy >= 0 && iy < i32(p.h)) {
      accumulate_row(&acc, x_segment$L(at.xb + u32(iy) * p.w, at.ix0), j, at.wb);
    }
  }
  return finish_block(plane, at, acc);
}
// #end

// Writes a block with vec4 stores (ow % 4 == 0, BW % 4 == 0): a store is a per-lane loop on
// lavapipe, so BW/4 of them per block row instead of BW.
fn store_block4(blk: FwdBlock) {
  for (var r = 0u; r < p.bh; r++) {
    let y = blk.oy0 + r;
    if (y < p.oh) {
      let v = block_row(blk.acc, r);
      for (var q = 0u; q < BW / 4u; q++) {
        let xx = blk.ox0 + 4u * q;
        if (xx < p.ow) {
          out_v4[(blk.base + y * p.ow + xx) / 4u] = act4(vec4<f32>(v[4u * q], v[4u * q + 1u], v[4u * q + 2u], v[4u * q + 3u]) + blk.bv);
        }
      }
    }
  }
}

fn store_fwd(blk: FwdBlock) { store_block(blk.base, blk.oy0, blk.ox0, p.oh, p.ow, blk.acc, blk.bv); }
fn store_fwd_st4(blk: FwdBlock) { store_block4(blk); }

// fwd: scalar loads and stores; fwd_st4: vec4 stores; fwd_v4: vec4 loads and stores.
// #for (E, L, O) in (fwd, "", ""), (fwd_st4, "", _st4), (fwd_v4, _v4, _st4)
@compute @workgroup_size(WG)
fn $E(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
      @builtin(num_workgroups) nwg: vec3<u32>) {
  let it = forward_item(wid, lid, nwg);
  if (it.x >= p.planes || it.y >= p.tiles) { return; }
  store_fwd$O(forward_block$L(it.x, it.y));
}
// #end

// Stride 1, rolling: a thread owns a strip of BW output columns and walks the output rows of one
// residue class modulo D (a chunk of p.steps of them) top to bottom. Input row j feeds output rows
// j + P − ky·D through filter row ky, so K partial output rows stay in registers; each step loads
// one input row segment, finishes the oldest partial row and stores it. Loads per output:
// (1 + (K−1) / steps) · (BW + (K−1)·D) / BW, against (BH + (K−1)·D) · (BW + (K−1)·D) / (BH · BW)
// for the BH×BW block of `fwd`. With FLIP it also computes the stride-1 input gradient: gx is
// gy convolved with the rotated filter and padding (K−1)·D − P (which may be negative).
// fwd_rolling_st4: the same with vec4 stores (ow % 4 == 0, BW % 4 == 0): BW / 4 stores per output
// row instead of BW, where a row's loads are NV vec4.
// #for O in "", _st4
@compute @workgroup_size(WG)
fn fwd_rolling$O(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y + wid.z * nwg.y; // uniform per workgroup, so weight loads are too
  let t = wid.x * WG + lid;
  if (plane >= p.planes || t >= p.tiles) { return; }
  let tx = t % p.tiles_x;
  let rest = t / p.tiles_x;
  let oy_a = rest / p.chunks + (rest % p.chunks) * p.steps * D; // class + chunk · steps · D
  if (oy_a >= p.oh) { return; }
  let ch = plane % p.c;
  var wk: array<f32, MAX_KK>;
  for (var ky = 0u; ky < K; ky++) {
    for (var kx = 0u; kx < K; kx++) {
      let src = select(ky * K + kx, (K - 1u - ky) * K + (K - 1u - kx), FLIP != 0u);
      wk[ky * K + kx] = wt[ch * K * K + src];
    }
  }
  var bv = 0.0;
  if (p.has_bias != 0u) { bv = bias[ch]; }
  let ox0 = tx * BW;
  let ix0 = i32(ox0) - p.pad;
  let n_rows = min(p.steps, (p.oh - oy_a + D - 1u) / D);
  let xb = plane * p.h * p.w;
  let ob = plane * p.oh * p.ow;
  var acc: array<f32, MAX_GBUF>; // slot k (BW values) = output row oy_a + (st − k) · D
  for (var st = 0u; st < n_rows + K - 1u; st++) {
    let j = i32(oy_a + st * D) - p.pad;
    if (j >= 0 && j < i32(p.h)) {
      let rb = xb + u32(j) * p.w;
      var row: array<f32, MAX_SPAN>;
      if (X4) { row = x_segment_v4(rb, ix0); } else { row = x_segment(rb, ix0); }
      for (var k = 0u; k < K; k++) {
        for (var kx = 0u; kx < K; kx++) {
          let wv = wk[k * K + kx];
          for (var b = 0u; b < BW; b++) { acc[k * BW + b] = fma(wv, row[b + kx * D], acc[k * BW + b]); }
        }
      }
    }
    if (st + 1u >= K) { // slot K − 1 has all K filter rows
      store_rolling$O(ob + (oy_a + (st + 1u - K) * D) * p.ow + ox0, ox0, &acc, bv);
    }
    for (var kk = 1u; kk < K; kk++) {
      let k = K - kk;
      for (var b = 0u; b < BW; b++) { acc[k * BW + b] = acc[(k - 1u) * BW + b]; }
    }
    for (var b = 0u; b < BW; b++) { acc[b] = 0.0; }
  }
}
// #end

// A finished output row segment of fwd_rolling (slot K − 1 of acc) at element o, column ox0.
fn store_rolling(o: u32, ox0: u32, acc: ptr<function, array<f32, MAX_GBUF>>, bv: f32) {
  for (var b = 0u; b < BW; b++) {
    if (ox0 + b < p.ow) { out[o + b] = act((*acc)[(K - 1u) * BW + b] + bv); }
  }
}
fn store_rolling_st4(o: u32, ox0: u32, acc: ptr<function, array<f32, MAX_GBUF>>, bv: f32) {
  let a = (K - 1u) * BW;
  for (var q = 0u; q < BW / 4u; q++) {
    if (ox0 + 4u * q < p.ow) {
      let v = vec4<f32>((*acc)[a + 4u * q], (*acc)[a + 4u * q + 1u], (*acc)[a + 4u * q + 2u], (*acc)[a + 4u * q + 3u]);
      out_v4[o / 4u + q] = act4(v + bv);
    }
  }
}

// Row r of a BH×BW block, picked with compile-time indices only (r is a run-time value).
fn block_row(acc: array<f32, MAX_ACC>, r: u32) -> array<f32, MAX_BW> {
  var v: array<f32, MAX_BW>;
  for (var rr = 0u; rr < BH; rr++) {
    if (rr == r) {
      for (var b = 0u; b < BW; b++) { v[b] = acc[rr * BW + b]; }
    }
  }
  return v;
}

// Writes a thread's BH×BW block (+ bias) to out. The loop over block rows takes its bound from
// the uniforms so it stays rolled: one row's BW stores are emitted once instead of BH times
// (on lavapipe each store is a loop over the SIMD lanes, so this halves the kernel's code).
fn store_block(base: u32, y0: u32, x0: u32, height: u32, width: u32, acc: array<f32, MAX_ACC>, bv: f32) {
  for (var r = 0u; r < p.bh; r++) {
    let y = y0 + r;
    if (y < height) {
      let v = block_row(acc, r);
      for (var b = 0u; b < BW; b++) {
        let xx = x0 + b;
        if (xx < width) { out[base + y * width + xx] = act(v[b] + bv); }
      }
    }
  }
}

// ---- gradient w.r.t. the input ----------------------------------------------------------------
// gx[iy, ix] = Σ gy[oy, ox] · w[ky, kx] over oy·S − P + ky·D = iy and ox·S − P + kx·D = ix. A thread
// owns a BH×BW block of gx whose origin is a multiple of S, so which tap meets which gy column is
// known at compile time; each gy row segment it needs is loaded once.

@compute @workgroup_size(WG)
fn bwd_x(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y + wid.z * nwg.y;
  let t = wid.x * WG + lid;
  if (plane >= p.planes || t >= p.tiles) { return; }
  let tx = t % p.tiles_x;
  let ty = t / p.tiles_x;
  let wb = (plane % p.c) * K * K;

  let s = i32(S);
  let d = i32(D);
  let pad = i32(P);
  // Column taps c = b + P − kx·D that are multiples of S read gy column ix0 / S + c / S, and
  // c / S >= q_lo; rows likewise. q_lo <= 0 is the same for rows and columns.
  let q_lo = -fdiv((i32(K) - 1) * d - pad, s);
  let gspan = fdiv(i32(BW) - 1 + pad, s) - q_lo + 1;

  let ix0 = tx * BW;
  let iy0 = ty * BH;
  let gx0 = i32(ix0 / S) + q_lo; // first gy column read
  let OW = i32(p.ow);
  let OH = i32(p.oh);
  let gb = plane * p.oh * p.ow;

  var acc: array<f32, MAX_ACC>;
  for (var q = 0u; q < p.rows; q++) { // p.rows gy rows, a run-time bound: the loop stays rolled
    let qy = q_lo + i32(q);
    let oy = i32(iy0 / S) + qy;
    if (oy >= 0 && oy < OH) {
      let rb = gb + u32(oy) * p.ow;
      var row: array<f32, MAX_SPAN>;
      for (var j = 0; j < gspan; j++) {
        let ox = gx0 + j;
        row[j] = select(0.0, gy[rb + u32(clamp(ox, 0, OW - 1))], ox >= 0 && ox < OW);
      }
      for (var r = 0u; r < BH; r++) {
        let dy = i32(r) + pad - qy * s; // = ky · D for the tap of gx row r that reads this gy row
        if (dy >= 0 && dy % d == 0 && dy / d < i32(K)) {
          let ky = u32(dy / d);
          for (var kx = 0u; kx < K; kx++) {
            let wv = wt[wb + ky * K + kx];
            for (var b = 0u; b < BW; b++) {
              let cx = i32(b) + pad - i32(kx) * d;
              if (cx % s == 0) {
                acc[r * BW + b] = fma(wv, row[cx / s - q_lo], acc[r * BW + b]);
              }
            }
          }
        }
      }
    }
  }

  store_block(plane * p.h * p.w, iy0, ix0, p.h, p.w, acc, 0.0);
}

// ---- gradient w.r.t. the weight ---------------------------------------------------------------
// dW[c, ky, kx] = Σ gy[n, c, oy, ox] · x[n, c, oy·S − P + ky·D, ox·S − P + kx·D]. Both kernels write
// per-workgroup partial sums part[(c · splits + split) · K·K + tap]; bwd_w_sum adds the splits.

fn load_gy(gb: u32, oy: i32, ox: u32) -> f32 {
  let ok = oy >= 0 && oy < i32(p.oh) && ox < p.ow;
  return select(0.0, gy[gb + u32(clamp(oy, 0, i32(p.oh) - 1)) * p.ow + min(ox, p.ow - 1u)], ok);
}

var<workgroup> red_s1: array<f32, WG * MAX_KK>;

// Stride 1, rolling. A thread owns a strip of BW gy columns of one plane and walks input rows
// j = c, c + D, c + 2D, ... (a chunk of p.steps of them): input row j meets gy row j + P − ky·D
// through filter row ky, so the K gy row segments it needs roll through registers (one new segment
// per step) and every x and gy row segment is loaded once for all K·K taps.
@compute @workgroup_size(WG)
fn bwd_w_rolling(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wid.y * nwg.x + wid.x; // uniform per workgroup
  let split = g % p.splits;
  let ch = g / p.splits;
  if (ch >= p.c) { return; } // uniform per workgroup: safe before the barrier

  let d = i32(D);
  var acc: array<f32, MAX_KK>;
  for (var it = split * WG + lid; it < p.items; it += p.splits * WG) {
    let tx = it % p.tiles_x;
    let rest = it / p.tiles_x;
    let chunk = rest % p.chunks;
    let cls = (rest / p.chunks) % D;
    let plane = (rest / p.chunks / D) * p.c + ch;
    let ox0 = tx * BW;
    let ix0 = i32(ox0) - p.pad;
    let gb = plane * p.oh * p.ow;
    let xb = plane * p.h * p.w;
    var j = i32(cls + chunk * p.steps * D);
    let j_end = min(j + i32(p.steps * D), i32(p.h));
    // Slot k holds gy row j + P − k·D; start from the state after a virtual step at j − D.
    var gbuf: array<f32, MAX_GBUF>;
    for (var k = 0u; k + 1u < K; k++) {
      let oy = j - d + p.pad - i32(k) * d;
      for (var b = 0u; b < BW; b++) { gbuf[k * BW + b] = load_gy(gb, oy, ox0 + b); }
    }
    for (; j < j_end; j += d) {
      for (var kk = 1u; kk < K; kk++) {
        let k = K - kk;
        for (var b = 0u; b < BW; b++) { gbuf[k * BW + b] = gbuf[(k - 1u) * BW + b]; }
      }
      for (var b = 0u; b < BW; b++) { gbuf[b] = load_gy(gb, j + p.pad, ox0 + b); }
      let rb = xb + u32(j) * p.w;
      var row = x_segment(rb, ix0);
      for (var ky = 0u; ky < K; ky++) {
        for (var kx = 0u; kx < K; kx++) {
          var sum = 0.0;
          for (var b = 0u; b < BW; b++) { sum = fma(gbuf[ky * BW + b], row[b + kx * D], sum); }
          acc[ky * K + kx] += sum;
        }
      }
    }
  }
  let kk2 = K * K;
  for (var i = 0u; i < kk2; i++) { red_s1[lid * kk2 + i] = acc[i]; }
  workgroupBarrier();
  for (var i = lid; i < kk2; i += WG) {
    var sum = 0.0;
    for (var t = 0u; t < WG; t++) { sum += red_s1[t * kk2 + i]; }
    out[(ch * p.splits + split) * kk2 + i] = sum;
  }
}

var<workgroup> red: array<f32, WG * 8u>;

// Any stride. Workgroup (channel, filter row ky, split) walks row segments (n, oy, BW columns)
// split, split + splits, ... of its channel with the K taps of filter row ky in registers.
@compute @workgroup_size(WG)
fn bwd_w(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wid.y * nwg.x + wid.x; // uniform per workgroup
  let ky = g % K;
  let split = (g / K) % p.splits;
  let ch = g / K / p.splits;
  if (ch >= p.c) { return; } // uniform per workgroup: safe before the barrier

  var acc: array<f32, 8>;
  for (var it = split * WG + lid; it < p.items; it += p.splits * WG) {
    let tx = it % p.tiles_x;
    let rest = it / p.tiles_x;
    let oy = rest % p.oh;
    let plane = (rest / p.oh) * p.c + ch;
    let ox0 = tx * BW;
    let gb = plane * p.oh * p.ow;
    var gv: array<f32, MAX_BW>;
    for (var b = 0u; b < BW; b++) { gv[b] = load_gy(gb, i32(oy), ox0 + b); }
    let iy = i32(oy * S + ky * D) - p.pad;
    if (iy >= 0 && iy < i32(p.h)) {
      let rb = (plane * p.h + u32(iy)) * p.w;
      let ix0 = i32(ox0 * S) - p.pad;
      var row = x_segment(rb, ix0);
      for (var kx = 0u; kx < K; kx++) {
        var sum = 0.0;
        for (var b = 0u; b < BW; b++) { sum = fma(gv[b], row[b * S + kx * D], sum); }
        acc[kx] += sum;
      }
    }
  }
  for (var i = 0u; i < 8u; i++) { red[lid * 8u + i] = acc[i]; }
  workgroupBarrier();
  if (lid < K) {
    var sum = 0.0;
    for (var t = 0u; t < WG; t++) { sum += red[t * 8u + lid]; }
    out[(ch * p.splits + split) * K * K + ky * K + lid] = sum;
  }
}

// Sums the per-split partials x = part into out = dW [C, K·K].
@compute @workgroup_size(WG)
fn bwd_w_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_id(wid, lid, nwg);
  let kk2 = K * K;
  if (e >= p.c * kk2) { return; }
  let ch = e / kk2;
  var sum = 0.0;
  for (var g = 0u; g < p.splits; g++) { sum += x[(ch * p.splits + g) * kk2 + e % kk2]; }
  out[e] = sum;
}

// ---- gradient w.r.t. the bias -----------------------------------------------------------------

var<workgroup> red_b: array<f32, WG>;

// out_b[c] = Σ gy[n, c, ·, ·]: one workgroup per channel, threads stride over (n, pixel).
@compute @workgroup_size(WG)
fn bwd_b(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  let ch = wid.y * nwg.x + wid.x;
  if (ch >= p.c) { return; } // uniform per workgroup: safe before the barriers
  let hw = p.oh * p.ow;
  var acc = 0.0;
  for (var e = lid; e < p.items; e += WG) { // p.items = N · OH · OW
    acc += gy[((e / hw) * p.c + ch) * hw + e % hw];
  }
  red_b[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_b[lid] += red_b[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out_b[ch] = red_b[0]; }
}

// ---- multi-scale helpers ----------------------------------------------------------------------

// out [C, 7·7] = w7 + w5 and w3 zero-padded to 7×7 (centred); out_b [C] = b3 + b5 + b7 (present ones).
@compute @workgroup_size(WG)
fn ms_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_id(wid, lid, nwg);
  if (e >= p.total) { return; }
  let ch = e / 49u;
  let i = e % 49u;
  let ky = i / 7u;
  let kx = i % 7u;
  var v = w7[e];
  if (ky >= 1u && ky <= 5u && kx >= 1u && kx <= 5u) { v += w5[ch * 25u + (ky - 1u) * 5u + kx - 1u]; }
  if (ky >= 2u && ky <= 4u && kx >= 2u && kx <= 4u) { v += w3[ch * 9u + (ky - 2u) * 3u + kx - 2u]; }
  out[e] = v;
  if (i == 0u && BIAS_MASK != 0u) {
    var bv = 0.0;
    if ((BIAS_MASK & 1u) != 0u) { bv += b3[ch]; }
    if ((BIAS_MASK & 2u) != 0u) { bv += b5[ch]; }
    if ((BIAS_MASK & 4u) != 0u) { bv += b7[ch]; }
    out_b[ch] = bv;
  }
}

// Crops the combined 7×7 weight gradient x [C, 49]: out = dW7 (all), out5 = centre 5×5, out3 = centre 3×3.
@compute @workgroup_size(WG)
fn ms_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = flat_id(wid, lid, nwg);
  if (e >= p.total) { return; }
  let ch = e / 49u;
  let i = e % 49u;
  let ky = i / 7u;
  let kx = i % 7u;
  let v = x[e];
  out[e] = v;
  if (ky >= 1u && ky <= 5u && kx >= 1u && kx <= 5u) { out5[ch * 25u + (ky - 1u) * 5u + kx - 1u] = v; }
  if (ky >= 2u && ky <= 4u && kx >= 2u && kx <= 4u) { out3[ch * 9u + (ky - 2u) * 3u + kx - 2u] = v; }
}
