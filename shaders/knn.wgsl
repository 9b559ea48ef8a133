// Nearest-neighbour distances to a memory bank, and the greedy coreset that builds the bank.
// Points and queries are laid out [N, D, P]: N items of P positions with D features each, the
// feature axis strided (as a backbone's [N, C, H, W] is), so neighbouring threads handle
// neighbouring positions and read neighbouring addresses.
//
// min_sqdist: given dots = b · x for one chunk of bank rows b [K, D] ([N, K, P], from a matmul),
//   bn[k] = |b_k|² and qn[n, p] = |x[n, :, p]|²:
//     out[n, p] = max(0, qn[n, p] + min_k (bn[k] − 2 dots[n, k, p]))       (FIRST)
//     out[n, p] = min(out[n, p], that)                                    (later chunks)
//   and, with ROOT on the last chunk, the square root of the result (the Euclidean distance).
//   One thread per (n, p) walks the chunk's k; the clamp removes the tiny negatives rounding
//   leaves when a query coincides with a bank row.
// coreset_update / coreset_pick: greedy k-center ("farthest point first") selection over the
//   points z [N, D, P]. Iteration t: update sets d[i] = |z_i − z_c|² (t = 0) or
//   min(d[i], |z_i − z_c|²) with c = sel[t], and each workgroup writes its largest d and that
//   point's index (the lowest on ties) to partials; pick reduces the partials in one workgroup and
//   sets sel[t + 1]. Nothing returns to the CPU between iterations. coreset_update_v4 takes four
//   neighbouring points per thread as vec4 (P % 4 == 0): one vec4 load per feature serves four
//   points, and the centre's coordinates are loaded once for all four — a quarter of the loads,
//   which bound this kernel on lavapipe (every storage load is a per-lane loop there).

struct Params {
  items: u32,  // N * P
  p: u32,      // positions per item
  k: u32,      // min_sqdist: bank rows in this chunk; coreset: unused
  koff: u32,   // min_sqdist: first bank row of this chunk (index into bn)
  d: u32,      // features per point
  t: u32,      // coreset: iteration (sel[t] is the newest centre)
  groups: u32, // coreset_pick: partials to reduce
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dots: array<f32>;
@group(0) @binding(2) var<storage, read> bn: array<f32>;
@group(0) @binding(3) var<storage, read> qn: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> dist: array<f32>;
@group(0) @binding(3) var<storage, read_write> sel: array<u32>;
@group(0) @binding(4) var<storage, read_write> part_val: array<f32>;
@group(0) @binding(5) var<storage, read_write> part_idx: array<u32>;
@group(0) @binding(1) var<storage, read> z_v4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dist_v4: array<vec4<f32>>;

override WG: u32 = 256u; // a power of two (tree reductions)
override FIRST: bool = false;
override ROOT: bool = false;

// #include "_common.wgsl"

@compute @workgroup_size(WG)
fn min_sqdist(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.items) { return; }
  let n = i / p.p;
  let q = i - n * p.p;
  var o = n * p.k * p.p + q;
  var best = 3.4028234e38;
  for (var k = 0u; k < p.k; k++) {
    best = min(best, bn[p.koff + k] - 2.0 * dots[o]);
    o += p.p;
  }
  var v = max(0.0, qn[i] + best);
  if (!FIRST) { v = min(out[i], v); }
  if (ROOT) { v = sqrt(v); }
  out[i] = v;
}

var<workgroup> red_val: array<f32, WG>;
var<workgroup> red_idx: array<u32, WG>;

/** Address of feature 0 of point i in the [N, D, P] layout (feature f is f·P further). */
fn base(i: u32) -> u32 {
  let n = i / p.p;
  return n * p.d * p.p + (i - n * p.p);
}

/** The larger value, or on a tie the lower index. */
fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return va > vb || (va == vb && ia < ib);
}

/** Reduces the workgroup's (red_val, red_idx) into slot 0. */
fn reduce_workgroup(lid: u32) {
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s && better(red_val[lid + s], red_idx[lid + s], red_val[lid], red_idx[lid])) {
      red_val[lid] = red_val[lid + s];
      red_idx[lid] = red_idx[lid + s];
    }
  }
  workgroupBarrier();
}

/** The workgroup's farthest point (value v, index ix per lane) into partial `group`. */
fn publish(lid: u32, group: u32, v: f32, ix: u32) {
  red_val[lid] = v;
  red_idx[lid] = ix;
  reduce_workgroup(lid);
  if (lid == 0u) {
    part_val[group] = red_val[0];
    part_idx[group] = red_idx[0];
  }
}

@compute @workgroup_size(WG)
fn coreset_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = wid.y * nwg.x + wid.x;
  let i = group * WG + lid;
  var v = -1.0; // below every distance: a thread past the end never wins
  if (i < p.items) {
    var oi = base(i);
    var oc = base(sel[p.t]);
    var s = 0.0;
    for (var f = 0u; f < p.d; f++) {
      let e = z[oi] - z[oc];
      s += e * e;
      oi += p.p;
      oc += p.p;
    }
    if (FIRST) { v = s; } else { v = min(dist[i], s); }
    dist[i] = v;
  }
  publish(lid, group, v, i);
}

@compute @workgroup_size(WG)
fn coreset_update_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let group = wid.y * nwg.x + wid.x;
  let j = group * WG + lid; // points 4j .. 4j + 3
  var v = -1.0;
  var vi = 0u;
  if (4u * j < p.items) {
    var oi = base(4u * j) / 4u;
    var oc = base(sel[p.t]);
    var s = vec4<f32>(0.0);
    for (var f = 0u; f < p.d; f++) {
      let e = z_v4[oi] - vec4<f32>(z_v4[oc / 4u][oc % 4u]);
      s += e * e;
      oi += p.p / 4u;
      oc += p.p;
    }
    if (!FIRST) { s = min(dist_v4[j], s); }
    dist_v4[j] = s;
    // The largest of the four, the lowest index on ties.
    v = s.x;
    vi = 4u * j;
    for (var c = 1u; c < 4u; c++) {
      if (s[c] > v) {
        v = s[c];
        vi = 4u * j + c;
      }
    }
  }
  publish(lid, group, v, vi);
}

@compute @workgroup_size(WG)
fn coreset_pick(@builtin(local_invocation_index) lid: u32) {
  var v = -2.0;
  var ix = 0xffffffffu;
  for (var g = lid; g < p.groups; g += WG) {
    if (better(part_val[g], part_idx[g], v, ix)) {
      v = part_val[g];
      ix = part_idx[g];
    }
  }
  red_val[lid] = v;
  red_idx[lid] = ix;
  reduce_workgroup(lid);
  if (lid == 0u) { sel[p.t + 1u] = red_idx[0]; }
}
