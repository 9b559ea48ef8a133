// Sum / max reductions over any set of axes, and the max backward (gradient to the arg-max).
// Input coordinates split into kept axes (one output each) and reduced axes (folded together).

struct Params {
  rank: u32,
  out_count: u32,
  red_count: u32,
  scale: f32,                       // 1 for sum/max, 1/red_count for mean
  kept_shape: array<vec4<u32>, 2>,  // input shape with reduced axes set to 1
  red_shape: array<vec4<u32>, 2>,   // reduced axes' sizes, kept axes set to 1
  in_strides: array<vec4<u32>, 2>,
  in_shape: array<vec4<u32>, 2>,    // max_bwd: full input shape
  out_strides: array<vec4<u32>, 2>, // max_bwd: output strides, 0 on reduced axes
  splits: u32,                      // fwd_wide: workgroups per output (>= 1)
  chunk: u32,                       // fwd_wide: reduced elements per workgroup
  inner: u32,                       // BLOCK: elements after the reduced block (its stride)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> ymax: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override OP: u32 = 0u; // 0 sum, 1 max
override WG: u32 = 64u;
// The reduced axes form one contiguous block of the (squeezed) shape [outer, red, inner]: element r
// of output o sits at (o / inner) * red * inner + o % inner + r * inner, with no per-element
// coordinate decoding (integer division is a scalar loop per lane on lavapipe).
override BLOCK: bool = false;

fn base_of(o: u32) -> u32 {
  if (BLOCK) { return (o / p.inner) * p.red_count * p.inner + o % p.inner; }
  return offset_of(o, p.kept_shape);
}

fn element(base: u32, r: u32) -> f32 {
  if (BLOCK) { return x[base + r * p.inner]; }
  return x[base + offset_of(r, p.red_shape)];
}

// #include "_common.wgsl"

var<workgroup> partial: array<f32, WG>;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 { return v[d / 4u][d % 4u]; }

fn offset_of(i: u32, shape: array<vec4<u32>, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(shape, u32(d));
    off += (rem % s) * dim(p.in_strides, u32(d));
    rem /= s;
  }
  return off;
}

fn combine(a: f32, b: f32) -> f32 {
  if (OP == 1u) { return max(a, b); }
  return a + b;
}

fn identity() -> f32 {
  if (OP == 1u) { return -3.4028234e38; }
  return 0.0;
}

// `splits` workgroups per output element, each folding one `chunk` of the reduced elements
// (threads stride over it) into out[o * splits + s]: with splits > 1 a second pass combines them,
// so a few long reductions (a loss, a map maximum) still spread over every core.
@compute @workgroup_size(WG)
fn fwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let flat = wid.y * nwg.x + wid.x;
  let o = flat / p.splits;
  if (o >= p.out_count) { return; } // uniform per workgroup: safe before the barrier
  let base = base_of(o);
  let r_end = min(p.red_count, (flat % p.splits + 1u) * p.chunk);
  var acc = identity();
  for (var r = (flat % p.splits) * p.chunk + lid; r < r_end; r += WG) {
    acc = combine(acc, element(base, r));
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] = combine(partial[lid], partial[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { out[flat] = partial[0] * p.scale; }
}

// One thread per output element: for short reductions.
@compute @workgroup_size(WG)
fn fwd_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = flat_id(wid, lid, nwg);
  if (o >= p.out_count) { return; }
  let base = base_of(o);
  var acc = identity();
  for (var r = 0u; r < p.red_count; r++) {
    acc = combine(acc, element(base, r));
  }
  out[o] = acc * p.scale;
}

// gx[i] = gy[o(i)] where x[i] equals the maximum, else 0 (ties all receive the gradient).
@compute @workgroup_size(WG)
fn max_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.out_count) { return; }
  var rem = i;
  var o = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.in_shape, u32(d));
    o += (rem % s) * dim(p.out_strides, u32(d));
    rem /= s;
  }
  out[i] = select(0.0, gy[o], x[i] == ymax[o]);
}
