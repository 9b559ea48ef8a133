// Spatial resizing of NCHW images: bilinear (PyTorch `F.interpolate(mode='bilinear')`, both
// align_corners settings) and integer-factor area downsampling, forward and backward.
//
// Bilinear sampling positions come from a per-call table `tab` built on the CPU
// (src/ops/resize.ts), one vec4<u32> per row:
//   [0, out_h)                  H taps for output row o:    (i0, i1, bits(l0), bits(l1))
//   [tw_off, tw_off + out_w)    W taps for output column o: (i0, i1, bits(l0), bits(l1))
//   [rh_off, rh_off + in_h)     backward: the output rows that read input row i: [lo, hi)
//   [rw_off, rw_off + in_w)     backward: the output columns that read input column i: [lo, hi)
// so forward and backward agree on every index decision. The backward gathers over those ranges:
// each input index sums its own contributions, no atomics.

struct Params {
  count: u32,      // threads with work
  in_h: u32,
  in_w: u32,
  out_h: u32,
  out_w: u32,
  col_blocks: u32, // blocks of VEC outputs per thread along the blocked axis
  tw_off: u32,
  rh_off: u32,
  rw_off: u32,
  factor: u32,     // area: block edge; bilinear_fwd_up4: the upsampling factor
  inv_area: f32,   // area: 1 / factor^2
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> tab: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> x_v4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> out_v4: array<vec4<f32>>;

override WG: u32 = 64u;
// Outputs per thread along a row (bilinear forward and backward passes), 1..8.
override VEC: u32 = 4u;

// #include "_common.wgsl"

// Weight with which output tap `t` (i0, i1, l0, l1) reads input index `i` (0 if it does not).
fn tap_weight(t: vec4<u32>, i: u32) -> f32 {
  return select(0.0, bitcast<f32>(t.z), t.x == i) + select(0.0, bitcast<f32>(t.w), t.y == i);
}

// One thread: VEC consecutive output pixels of one row of one (n, c) plane.
@compute @workgroup_size(WG)
fn bilinear_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let cb = t % p.col_blocks;
  let row = t / p.col_blocks;           // plane * out_h + oh
  let oh = row % p.out_h;
  let plane = row / p.out_h;
  let th = tab[oh];
  let lh0 = bitcast<f32>(th.z);
  let lh1 = bitcast<f32>(th.w);
  let in_base = plane * p.in_h * p.in_w;
  let r0 = in_base + th.x * p.in_w;
  let r1 = in_base + th.y * p.in_w;
  let out_base = row * p.out_w;
  let c0 = cb * VEC;
  for (var j = 0u; j < VEC; j++) {
    let ow = c0 + j;
    if (ow >= p.out_w) { break; }
    let tw = tab[p.tw_off + ow];
    let lw0 = bitcast<f32>(tw.z);
    let lw1 = bitcast<f32>(tw.w);
    out[out_base + ow] = lh0 * (lw0 * x[r0 + tw.x] + lw1 * x[r0 + tw.y]) +
                         lh1 * (lw0 * x[r1 + tw.x] + lw1 * x[r1 + tw.y]);
  }
}

// Exact integer upsampling by F along W (align_corners = false, in_w % 4 == 0, out_w = F in_w),
// any H taps from the table: the HLGFA alignment Up(Fl) (F = 2) and map upsampling (F = 4..16).
// Along W, output F i + m lies at i + d_m, d_m = (2m + 1 - F) / 2F, so it reads x[i-1], x[i] (d < 0)
// or x[i], x[i+1] (d >= 0) with weights fixed by m — the table's weights, edges clamped the same
// way. One thread: input columns 4k..4k+3 of one output row, i.e. 4F outputs, from one vec4 and
// two neighbours in each of the two input rows: 7 storage reads instead of 4F table reads plus
// 16F pixel reads (each read is a per-lane loop on lavapipe).
override F: u32 = 2u;

fn upf_window(r: u32, k: u32) -> array<f32, 6> {
  let v = x_v4[r / 4u + k];
  return array<f32, 6>(x[r + select(4u * k - 1u, 0u, k == 0u)], v.x, v.y, v.z, v.w, x[r + min(4u * k + 4u, p.in_w - 1u)]);
}

// Output e (0 ≤ e < 4F) of the block from the vertically interpolated window v (v[1 + q] is input
// column 4k + q, v[0] and v[5] its clamped neighbours). F is a pipeline constant: all indices fold.
fn upf_value(v: array<f32, 6>, e: u32) -> f32 {
  let q = e / F;
  let d = f32(2u * (e % F) + 1u) / f32(2u * F) - 0.5;
  return select(v[1u + q] * (1.0 - d) + v[2u + q] * d, v[q] * (-d) + v[1u + q] * (1.0 + d), d < 0.0);
}

// Thread t's block (count = planes * out_h * in_w / 4): output row `row` (plane * out_h + oh), input
// columns 4k..4k+3, and v: the two input rows under it interpolated vertically (see upf_value).
struct UpBlock { row: u32, k: u32, v: array<f32, 6> }

fn up_block(t: u32) -> UpBlock {
  let w4 = p.in_w / 4u;
  let k = t % w4;
  let row = t / w4;
  let oh = row % p.out_h;
  let plane_base = (row - oh) / p.out_h * p.in_h * p.in_w;
  let th = tab[oh];
  let a = upf_window(plane_base + th.x * p.in_w, k);
  let b = upf_window(plane_base + th.y * p.in_w, k);
  var v: array<f32, 6>;
  for (var i = 0u; i < 6u; i++) { v[i] = bitcast<f32>(th.z) * a[i] + bitcast<f32>(th.w) * b[i]; }
  return UpBlock(row, k, v);
}

@compute @workgroup_size(WG)
fn bilinear_fwd_up(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let u = up_block(t);
  let v = u.v;
  let o4 = (u.row * p.out_w) / 4u + F * u.k;
  for (var g = 0u; g < F; g++) {
    out_v4[o4 + g] = vec4<f32>(upf_value(v, 4u * g), upf_value(v, 4u * g + 1u), upf_value(v, 4u * g + 2u), upf_value(v, 4u * g + 3u));
  }
}

// bilinear_fwd_up for F a multiple of 4, given as p.factor: one pipeline serves F = 4, 8, 16 (the
// anomaly maps of every level; three pipelines cost 0.23 s of a cold start on lavapipe). Input column
// 4k + q's F outputs are F / 4 whole vec4s, all from the window v[q..q+2]: the four columns are
// written out (constant indices into v) and the loop over a column's vec4s runs F / 4 times.
fn up4_column(o4: u32, f: u32, a: f32, b: f32, c: f32) {
  for (var j = 0u; j < f / 4u; j++) {
    let d = (2.0 * (f32(4u * j) + vec4<f32>(0.0, 1.0, 2.0, 3.0)) + 1.0) / f32(2u * f) - 0.5;
    out_v4[o4 + j] = select(b * (1.0 - d) + c * d, a * (-d) + b * (1.0 + d), d < vec4<f32>(0.0));
  }
}

@compute @workgroup_size(WG)
fn bilinear_fwd_up4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let u = up_block(t);
  let v = u.v;
  let f = p.factor;
  let o4 = (u.row * p.out_w) / 4u + f * u.k;
  up4_column(o4, f, v[0], v[1], v[2]);
  up4_column(o4 + f / 4u, f, v[1], v[2], v[3]);
  up4_column(o4 + f / 2u, f, v[2], v[3], v[4]);
  up4_column(o4 + 3u * f / 4u, f, v[3], v[4], v[5]);
}

// The backward gx = Wh^T gy Ww runs as two gathers, each input index summing the outputs that
// read it (ranges from the table): first along W into tmp [planes, out_h, in_w], then along H.

// One thread: input column iw for VEC consecutive output rows oh of one plane.
@compute @workgroup_size(WG)
fn bilinear_bwd_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let iw = t % p.in_w;
  let rest = t / p.in_w;
  let rb = rest % p.col_blocks;         // here: blocks of VEC output rows
  let plane = rest / p.col_blocks;
  let oh0 = rb * VEC;
  let rw = tab[p.rw_off + iw];
  let g_base = plane * p.out_h * p.out_w;
  let last = p.out_h - 1u;
  var acc: array<f32, 8>;
  for (var ow = rw.x; ow < rw.y; ow++) {
    let ww = tap_weight(tab[p.tw_off + ow], iw);
    for (var j = 0u; j < VEC; j++) {
      acc[j] += ww * gy[g_base + min(oh0 + j, last) * p.out_w + ow];
    }
  }
  let o_base = plane * p.out_h * p.in_w + iw;
  for (var j = 0u; j < VEC; j++) {
    if (oh0 + j < p.out_h) { out[o_base + (oh0 + j) * p.in_w] = acc[j]; }
  }
}

// One thread: VEC consecutive input columns of input row ih of one plane; x holds tmp.
@compute @workgroup_size(WG)
fn bilinear_bwd_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let cb = t % p.col_blocks;
  let row = t / p.col_blocks;           // plane * in_h + ih
  let ih = row % p.in_h;
  let plane = row / p.in_h;
  let iw0 = cb * VEC;
  let rh = tab[p.rh_off + ih];
  let last = p.in_w - 1u;
  var acc: array<f32, 8>;
  for (var oh = rh.x; oh < rh.y; oh++) {
    let wh = tap_weight(tab[oh], ih);
    let base = (plane * p.out_h + oh) * p.in_w;
    for (var j = 0u; j < VEC; j++) {
      acc[j] += wh * x[base + min(iw0 + j, last)];
    }
  }
  for (var j = 0u; j < VEC; j++) {
    if (iw0 + j < p.in_w) { out[row * p.in_w + iw0 + j] = acc[j]; }
  }
}

// One thread per output pixel: mean of its factor x factor input block.
@compute @workgroup_size(WG)
fn area_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let ow = t % p.out_w;
  let row = t / p.out_w;
  let oh = row % p.out_h;
  let plane = row / p.out_h;
  let f = p.factor;
  var idx = (plane * p.in_h + oh * f) * p.in_w + ow * f;
  var acc = 0.0;
  for (var dy = 0u; dy < f; dy++) {
    for (var dx = 0u; dx < f; dx++) {
      acc += x[idx + dx];
    }
    idx += p.in_w;
  }
  out[t] = acc * p.inv_area;
}

// area_fwd for factor 2 on rows of a multiple of 8 inputs (the detector's LR view): one thread
// averages 2 × 8 inputs, read as 4 vec4s, into 4 outputs stored as one vec4 (a quarter of the
// threads, a sixteenth of the storage loads of area_fwd, each a per-lane loop on lavapipe).
@compute @workgroup_size(WG)
fn area2_fwd_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }          // count = planes * out_h * out_w / 4
  let w4 = p.out_w / 4u;
  let q = t % w4;
  let row = t / w4;                      // plane * out_h + oh
  let top = (2u * row * p.in_w) / 4u + 2u * q; // input row 2 oh of the plane, vec4 at column 8q
  let below = top + p.in_w / 4u;
  let a = x_v4[top] + x_v4[below];
  let b = x_v4[top + 1u] + x_v4[below + 1u];
  out_v4[t] = vec4<f32>(a.x + a.y, a.z + a.w, b.x + b.y, b.z + b.w) * p.inv_area;
}

// One thread per output pixel: writes gy / factor^2 to the whole input block it averaged.
@compute @workgroup_size(WG)
fn area_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let ow = t % p.out_w;
  let row = t / p.out_w;
  let oh = row % p.out_h;
  let plane = row / p.out_h;
  let f = p.factor;
  let g = gy[t] * p.inv_area;
  var idx = (plane * p.in_h + oh * f) * p.in_w + ow * f;
  for (var dy = 0u; dy < f; dy++) {
    for (var dx = 0u; dx < f; dx++) {
      out[idx + dx] = g;
    }
    idx += p.in_w;
  }
}
