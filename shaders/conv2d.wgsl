// 2-D convolution, NCHW, zero padding: forward (direct convolution with register blocking), input
// gradient (the forward on flipped weights for stride 1, a gather kernel otherwise), weight gradient
// (im2col, the patch matrix a matmul multiplies gy with; or bwd_w, split over output rows and
// summed by bwd_w_sum), bias gradient, and wprep, which lays the
// weights out as wt[c_in][kh][kw][c_out] with c_out padded to 8 so kernels read them as vec4.
//
// A thread of fwd / bwd_x owns 8 output channels x PX consecutive pixels of one row; lavapipe
// turns every storage load into a per-lane loop, so the input row segment a thread needs for one
// (channel, kernel row) is loaded once and reused across the kw taps, as aligned vec4 where rows
// allow (fwd_v4). shaders/conv2d-sg.wgsl adds fwd_v4_sg, which also shares the weights
// across a subgroup.

struct Params {
  n: u32,
  cin: u32,        // input channels of the convolution this dispatch runs
  h: u32,          // its input height / width
  w: u32,
  cout: u32,       // its output channels
  ho: u32,         // its output height / width
  wo: u32,
  cout8: u32,      // cout rounded up to 8: the row length of wt
  pad_h: i32,      // top / left padding
  pad_w: i32,
  wblocks: u32,    // ceil(wo / PX)
  rows_per_split: u32,
  count: u32,      // wprep / bwd_w_sum: number of outputs
  splits: u32,
  kh: u32,         // kernel height, vertical stride and dilation
  sh: u32,
  dh: u32,
  kw: u32,         // wprep: kernel width
  has_bias: u32,
  flip: u32,       // wprep: swap channel roles and flip the taps (input gradient)
  act: u32,        // fwd*: the stored output goes through activate() (after the bias): 1 ReLU6, 2 ReLU
  lx: u32,         // im2col: log2 of the threads a workgroup puts along an output row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt_v4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read> gy_v4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> wsrc: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read> x_v4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> cols_v4: array<vec4<f32>>;

// #include "_activation.wgsl"

// Horizontal kernel geometry is compiled in (the kw taps unroll over a register row segment);
// the vertical one is uniform, so the kernel-row loop stays a loop and one pipeline serves them all.
override KW: u32 = 3u;
override SW: u32 = 1u;
override DW: u32 = 1u;
override GY4: bool = false;    // bwd_w: read gy as vec4 (wo % 4 == 0)
override COLS4: bool = false;  // im2col: read input rows as aligned vec4 pairs (SW == 1, w % 4 == 0)

const PXMAX = 16u;
override PX: u32 = 8u;         // fwd / bwd_x: output pixels per thread (<= PXMAX)
const PXW = 4u;                // bwd_w: pixels per step (a vec4 of gy)
const SEGMAX = 40u;
const TH = 3u;                 // bwd_w: kernel rows x columns of taps per thread
const TW = 4u;
// Input elements a row of PX outputs reads for all kw taps (bwd_w: for up to TW taps); loaded
// once and reused when they fit in registers.
override SEGLEN: u32 = (PX - 1u) * SW + (KW - 1u) * DW + 1u;
override SEG: bool = SEGLEN <= SEGMAX;
override XPH: u32 = 0u;        // fwd_v4: (-pad_w) mod 4, where a thread's first column sits in its vec4 window
override NV: u32 = (XPH + SEGLEN + 3u) / 4u;
override SEGLEN_W: u32 = (PXW - 1u) * SW + (min(KW, TW) - 1u) * DW + 1u;
override SEG_W: bool = SEGLEN_W <= SEGMAX;

fn load_x(row: u32, ok: bool, iw: i32) -> f32 {
  return select(0.0, x[row + u32(clamp(iw, 0, i32(p.w) - 1))], ok && iw >= 0 && iw < i32(p.w));
}

// out[n, co, oh, ow0 + j] for the thread's 8 channels (acc0: co0..co0+3, acc1: co0+4..co0+7).
fn store_px(nimg: u32, co0: u32, oh: u32, ow0: u32, acc0: array<vec4<f32>, PXMAX>, acc1: array<vec4<f32>, PXMAX>) {
  // Runtime loop bounds keep these loops rolled: each store is a per-lane loop on lavapipe, and 32
  // unrolled copies of it would dominate the pipeline's compile time.
  let nc = min(8u, p.cout - co0);
  let np = min(PX, p.wo - ow0);
  for (var c = 0u; c < nc; c++) {
    let co = co0 + c;
    var b = 0.0;
    if (p.has_bias != 0u) { b = bias[co]; }
    let o = ((nimg * p.cout + co) * p.ho + oh) * p.wo + ow0;
    for (var j = 0u; j < np; j++) {
      let v = select(acc1[j][c & 3u], acc0[j][c & 3u], c < 4u) + b;
      out[o + j] = activate(v, p.act);
    }
  }
}

// A fwd thread: output row oh, pixels ow0.., image nimg, channel vec4s cq, cq + 1.
struct FwdAt { oh: u32, ow0: u32, nimg: u32, cq: u32, ih0: i32, iw0: i32 }

fn fwd_at(wid: vec3<u32>, t: u32) -> FwdAt {
  let oh = t / p.wblocks;
  let ow0 = (t - oh * p.wblocks) * PX;
  return FwdAt(oh, ow0, wid.z, wid.y * 2u, i32(oh * p.sh) - p.pad_h, i32(ow0 * SW) - p.pad_w);
}

// Row ih of input channel ci: (start offset, inside the image).
fn x_row(at: FwdAt, ci: u32, kh: u32) -> vec2<u32> {
  let ih = at.ih0 + i32(kh * p.dh);
  let ok = ih >= 0 && ih < i32(p.h);
  return vec2<u32>(((at.nimg * p.cin + ci) * p.h + u32(clamp(ih, 0, i32(p.h) - 1))) * p.w, u32(ok));
}

// acc += the thread's PX pixels x 8 channels over the KW taps of one (channel, kernel row), the
// inputs being seg (SEGLEN values from the thread's first column) and the weights at row wr.
fn accumulate_taps(acc0: ptr<function, array<vec4<f32>, PXMAX>>, acc1: ptr<function, array<vec4<f32>, PXMAX>>,
                   seg: array<f32, SEGMAX>, wr: u32, q8: u32) {
  for (var kw = 0u; kw < KW; kw++) {
    let w0 = wt_v4[wr + kw * q8];
    let w1 = wt_v4[wr + kw * q8 + 1u];
    for (var j = 0u; j < PX; j++) {
      let v = seg[j * SW + kw * DW];
      (*acc0)[j] += v * w0;
      (*acc1)[j] += v * w1;
    }
  }
}

@compute @workgroup_size(64)
fn fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x * 64u + lid;
  if (t >= p.wblocks * p.ho) { return; }
  let at = fwd_at(wid, t);
  let q8 = p.cout8 / 4u;          // vec4s per wt row
  var acc0: array<vec4<f32>, PXMAX>;
  var acc1: array<vec4<f32>, PXMAX>;
  for (var ci = 0u; ci < p.cin; ci++) {
    for (var kh = 0u; kh < p.kh; kh++) {
      let xr = x_row(at, ci, kh);
      let rowok = xr.y != 0u;
      let wr = (ci * p.kh + kh) * KW * q8 + at.cq;
      if (SEG) {
        var seg: array<f32, SEGMAX>;
        for (var s = 0u; s < SEGLEN; s++) { seg[s] = load_x(xr.x, rowok, at.iw0 + i32(s)); }
        accumulate_taps(&acc0, &acc1, seg, wr, q8);
      } else {
        for (var kw = 0u; kw < KW; kw++) {
          let w0 = wt_v4[wr + kw * q8];
          let w1 = wt_v4[wr + kw * q8 + 1u];
          for (var j = 0u; j < PX; j++) {
            let v = load_x(xr.x, rowok, at.iw0 + i32(j * SW + kw * DW));
            acc0[j] += v * w0;
            acc1[j] += v * w1;
          }
        }
      }
    }
  }
  store_px(at.nimg, at.cq * 4u, at.oh, at.ow0, acc0, acc1);
}

// The SEGLEN inputs of row xr (xr.y: inside the image) from column a0 + XPH, read as NV aligned
// vec4 (w % 4 == 0, so a vec4 is wholly inside or outside the row).
fn x_window(xr: vec2<u32>, a0: i32) -> array<f32, SEGMAX> {
  var seg: array<f32, SEGMAX>;
  for (var v = 0u; v < NV; v++) {
    let ia = a0 + i32(4u * v);
    let ok = xr.y != 0u && ia >= 0 && ia < i32(p.w);
    let q = select(vec4<f32>(0.0), x_v4[(xr.x + u32(clamp(ia, 0, i32(p.w) - 4))) / 4u], ok);
    for (var c = 0u; c < 4u; c++) {
      let s = 4u * v + c;
      if (s >= XPH && s - XPH < SEGLEN) { seg[s - XPH] = q[c]; }
    }
  }
  return seg;
}

// fwd reading each row segment as vec4 (w % 4 == 0 and PX·SW % 4 == 0, so every thread's
// window starts XPH columns early, and SEG): lavapipe loads a vec4 for the price of a scalar, so
// SEGLEN loads per (channel, kernel row) become NV.
@compute @workgroup_size(64)
fn fwd_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x * 64u + lid;
  if (t >= p.wblocks * p.ho) { return; }
  let at = fwd_at(wid, t);
  let q8 = p.cout8 / 4u;
  var acc0: array<vec4<f32>, PXMAX>;
  var acc1: array<vec4<f32>, PXMAX>;
  for (var ci = 0u; ci < p.cin; ci++) {
    for (var kh = 0u; kh < p.kh; kh++) {
      let seg = x_window(x_row(at, ci, kh), at.iw0 - i32(XPH));
      accumulate_taps(&acc0, &acc1, seg, (ci * p.kh + kh) * KW * q8 + at.cq, q8);
    }
  }
  store_px(at.nimg, at.cq * 4u, at.oh, at.ow0, acc0, acc1);
}

// Input gradient for any stride: gy [n, cin, h, w] is the forward output gradient (cin = forward
// Cout), out [n, cout, ho, wo] the input gradient; wt from wprep with flip.
@compute @workgroup_size(64)
fn bwd_x(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x * 64u + lid;
  if (t >= p.wblocks * p.ho) { return; }
  let ih = t / p.wblocks;
  let iw0 = (t - ih * p.wblocks) * PX;
  let nimg = wid.z;
  let q8 = p.cout8 / 4u;
  let cq = wid.y * 2u;
  var acc0: array<vec4<f32>, PXMAX>;
  var acc1: array<vec4<f32>, PXMAX>;
  for (var co = 0u; co < p.cin; co++) {
    for (var kh = 0u; kh < p.kh; kh++) {
      let th = i32(ih) + p.pad_h - i32(kh * p.dh); // = oh * sh when this tap reaches ih
      let thu = u32(max(th, 0));
      let rowok = th >= 0 && thu % p.sh == 0u && thu / p.sh < p.h;
      let gr = ((nimg * p.cin + co) * p.h + min(thu / p.sh, p.h - 1u)) * p.w;
      let wr = (co * p.kh + (p.kh - 1u - kh)) * KW * q8 + cq;
      for (var kw = 0u; kw < KW; kw++) {
        let w0 = wt_v4[wr + (KW - 1u - kw) * q8];
        let w1 = wt_v4[wr + (KW - 1u - kw) * q8 + 1u];
        for (var j = 0u; j < PX; j++) {
          let tw = i32(iw0 + j) + p.pad_w - i32(kw * DW);
          let twu = u32(max(tw, 0));
          let ok = rowok && tw >= 0 && twu % SW == 0u && twu / SW < p.w;
          let v = select(0.0, gy[gr + min(twu / SW, p.w - 1u)], ok);
          acc0[j] += v * w0;
          acc1[j] += v * w1;
        }
      }
    }
  }
  store_px(nimg, cq * 4u, ih, iw0, acc0, acc1);
}

// Weight gradient: a thread owns 8 output channels x (ci, a TH x TW block of taps) and sums
// x * gy over the output rows [z * rows_per_split, ...) of all images into out slice z. Each gy
// vec4 it loads feeds all its taps: for 3 x 3 kernels one thread covers the whole kernel.
@compute @workgroup_size(64)
fn bwd_w(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let hch = (p.kh + TH - 1u) / TH;
  let wch = (KW + TW - 1u) / TW;
  let t = wid.x * 64u + lid;
  if (t >= p.cin * hch * wch) { return; }
  let ci = t / (hch * wch);
  let kh0 = ((t / wch) % hch) * TH;
  let kw0 = (t % wch) * TW;
  let co0 = wid.y * 8u;
  let hw = p.ho * p.wo;
  let r0 = wid.z * p.rows_per_split;
  let r1 = min(p.n * p.ho, r0 + p.rows_per_split);
  var acc0: array<vec4<f32>, TH * TW>; // [th * TW + tw]
  var acc1: array<vec4<f32>, TH * TW>;
  for (var r = r0; r < r1; r++) {
    let nimg = r / p.ho;
    let oh = r - nimg * p.ho;
    let gr = (nimg * p.cout + co0) * hw + oh * p.wo;
    let xc = (nimg * p.cin + ci) * p.h;
    for (var ow0 = 0u; ow0 < p.wo; ow0 += PXW) {
      // g0[j] / g1[j]: gy of channels co0..co0+3 / co0+4..co0+7 at pixel ow0 + j
      var g0: array<vec4<f32>, PXW>;
      var g1: array<vec4<f32>, PXW>;
      for (var c = 0u; c < 8u; c++) {
        let o = gr + min(c, p.cout - 1u - co0) * hw;
        var v: vec4<f32>;
        if (GY4) {
          v = gy_v4[(o + ow0) / 4u];
        } else {
          for (var j = 0u; j < PXW; j++) { v[j] = select(0.0, gy[o + min(ow0 + j, p.wo - 1u)], ow0 + j < p.wo); }
        }
        v = select(vec4<f32>(0.0), v, co0 + c < p.cout);
        for (var j = 0u; j < PXW; j++) {
          if (c < 4u) { g0[j][c] = v[j]; } else { g1[j][c & 3u] = v[j]; }
        }
      }
      let iw0 = i32(ow0 * SW) - p.pad_w + i32(kw0 * DW);
      for (var th = 0u; th < TH; th++) {
        let ih = i32(oh * p.sh) - p.pad_h + i32((kh0 + th) * p.dh);
        let rowok = ih >= 0 && ih < i32(p.h) && kh0 + th < p.kh;
        let xr = (xc + u32(clamp(ih, 0, i32(p.h) - 1))) * p.w;
        if (SEG_W) {
          var seg: array<f32, SEGMAX>;
          for (var s = 0u; s < SEGLEN_W; s++) { seg[s] = load_x(xr, rowok, iw0 + i32(s)); }
          for (var tw = 0u; tw < min(KW, TW); tw++) {
            for (var j = 0u; j < PXW; j++) {
              let v = seg[j * SW + tw * DW];
              acc0[th * TW + tw] += v * g0[j];
              acc1[th * TW + tw] += v * g1[j];
            }
          }
        } else {
          for (var tw = 0u; tw < min(KW, TW); tw++) {
            for (var j = 0u; j < PXW; j++) {
              let v = load_x(xr, rowok, iw0 + i32(j * SW + tw * DW));
              acc0[th * TW + tw] += v * g0[j];
              acc1[th * TW + tw] += v * g1[j];
            }
          }
        }
      }
    }
  }
  let base = wid.z * p.count;
  let nc = min(8u, p.cout - co0);
  let nh = min(TH, p.kh - kh0);
  let nw = min(TW, KW - kw0);
  for (var c = 0u; c < nc; c++) {
    for (var th = 0u; th < nh; th++) {
      for (var tw = 0u; tw < nw; tw++) {
        let o = base + (((co0 + c) * p.cin + ci) * p.kh + kh0 + th) * KW + kw0 + tw;
        out[o] = select(acc1[th * TW + tw][c & 3u], acc0[th * TW + tw][c & 3u], c < 4u);
      }
    }
  }
}

// Bias gradient: one workgroup per channel sums gy[n, co, :, :] over all images.
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn bwd_b(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let co = wid.x;
  let hw = p.ho * p.wo;
  var s = 0.0;
  for (var nimg = 0u; nimg < p.n; nimg++) {
    let base = (nimg * p.cout + co) * hw;
    for (var q = lid; q < hw; q += 64u) { s += gy[base + q]; }
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) {
    if (lid < k) { partial[lid] += partial[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[co] = partial[0]; }
}

// wt[((c_in * kh + r) * KW + kw) * cout8 + c_out] from wsrc [Cout, Cin, kh, KW]: c_in = Cin,
// c_out = Cout (forward); with flip c_in = Cout, c_out = Cin and the taps flipped (input gradient).
@compute @workgroup_size(256)
fn wprep(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (e >= p.count) { return; }
  let co = e % p.cout8;
  let r = e / p.cout8;
  let kw = r % p.kw;
  let kh = (r / p.kw) % p.kh;
  let c = r / (p.kw * p.kh);
  var v = 0.0;
  if (co < p.cout) {
    if (p.flip != 0u) {
      v = wsrc[((c * p.cout + co) * p.kh + (p.kh - 1u - kh)) * p.kw + (p.kw - 1u - kw)];
    } else {
      v = wsrc[((co * p.cin + c) * p.kh + kh) * p.kw + kw];
    }
  }
  out[e] = v;
}

// The weight gradient as a GEMM (src/ops/conv2d.ts: gradWeight), its B operand: for image n and
// tap (ci, r, c), the input pixels each output pixel reads through that tap, as one row of the
// image's [cin·kh·KW, ho·wo] matrix; zero where the tap falls in the padding. Needs wo % 4 == 0.
// A thread makes 4 pixels of IM2COL_ROWS output rows for all KW taps of one (n, ci, r) (wid.z):
// lavapipe pays ~1 µs per workgroup, which one tap and one row per thread made most of the
// pass. A workgroup puts 2^lx threads along a row (lx: the smallest power of two reaching wo / 4,
// at most 64) and 64 / 2^lx along the rows, so lanes split by shift and mask, and every
// coordinate but the pixel is workgroup-uniform (lavapipe divides per lane in a loop).
const IM2COL_ROWS = 4u;

@compute @workgroup_size(64)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lx = p.lx;
  let ow0 = ((wid.x << lx) + (lid & ((1u << lx) - 1u))) * 4u;
  let oh0 = ((wid.y << (6u - lx)) + (lid >> lx)) * IM2COL_ROWS;
  if (ow0 >= p.wo || oh0 >= p.ho) { return; }
  let img = wid.z / (p.cin * p.kh);
  let t = wid.z % (p.cin * p.kh);
  let ci = t / p.kh;
  let r = t % p.kh;
  let plane = (img * p.cin + ci) * p.h;
  let hw = p.ho * p.wo;
  for (var i = 0u; i < IM2COL_ROWS; i++) {
    let oh = oh0 + i;
    if (oh >= p.ho) { break; }
    let ih = i32(oh * p.sh + r * p.dh) - p.pad_h;
    let row = (plane + u32(clamp(ih, 0, i32(p.h) - 1))) * p.w;
    let rowok = ih >= 0 && ih < i32(p.h);
    for (var c = 0u; c < KW; c++) {
      let iw0 = i32(ow0 * SW + c * DW) - p.pad_w;
      var v: vec4<f32>;
      if (COLS4) {
        // Columns iw0..iw0+3 from the two aligned vec4s around them (two loads instead of four):
        // the phase is the tap's, the same in every lane. Columns outside the row read as zeros.
        let ph = ((c * DW) % 4u + 4u - u32(p.pad_w) % 4u) % 4u;
        let a = iw0 - i32(ph);
        let last = i32(p.w) - 4;
        let v0 = x_v4[(row + u32(clamp(a, 0, last))) / 4u];
        let v1 = x_v4[(row + u32(clamp(a + 4, 0, last))) / 4u];
        v = select(select(select(v0, vec4<f32>(v0.yzw, v1.x), ph == 1u), vec4<f32>(v0.zw, v1.xy), ph == 2u), vec4<f32>(v0.w, v1.xyz), ph == 3u);
        let iw = vec4<i32>(iw0) + vec4<i32>(0, 1, 2, 3);
        v = select(vec4<f32>(0.0), v, (iw >= vec4<i32>(0)) & (iw < vec4<i32>(i32(p.w))) & vec4<bool>(rowok));
      } else {
        for (var j = 0u; j < 4u; j++) { v[j] = load_x(row, rowok, iw0 + i32(j * SW)); }
      }
      cols_v4[((wid.z * KW + c) * hw + oh * p.wo + ow0) / 4u] = v;
    }
  }
}

// out[i] = sum over s < splits of x[s * count + i]: the second pass of the weight gradient.
@compute @workgroup_size(256)
fn bwd_w_sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.count) { return; }
  var s = 0.0;
  for (var j = 0u; j < p.splits; j++) { s += x[j * p.count + i]; }
  out[i] = s;
}
