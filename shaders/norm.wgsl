// Parameter-free instance normalisation over H*W and its fused modulation
//   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)  (biased variance, per (n, c) row)
//   y    = xhat                          (MOD = false)
//   y    = xhat * (1 + gamma) + beta     (MOD = true; gamma, beta have x's shape)
// Forward computes the row statistics (two passes: mean, then squared deviations) and writes y in
// the same kernel; it saves (mean, rstd) per row in `stats` for the backward:
//   gh = gy * (1 + gamma),  gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)),
//   ggamma = gy * xhat,  gbeta = gy.
// Entries {fwd,bwd}_{wide,narrow}[_v4], one body each:
//   _wide    one workgroup per row, threads stride over the row, tree reduction in workgroup
//            memory (no atomics);
//   _narrow  one thread per row (short rows), WG rows per workgroup;
//   _v4      the row read as vec4s (hw % 4 == 0).

struct Params {
  rows: u32,   // N * C
  hw: u32,     // H * W (elements per row; vec4s per row in the _v4 entries)
  eps: f32,
  inv_hw: f32, // 1 / (H * W) in elements
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(9) var<storage, read_write> stats: array<vec2<f32>>; // (mean, rstd) per row

override WG: u32 = 64u;        // power of two
override MOD: bool = false;
override WANT_GX: bool = true;  // backward outputs; unwanted ones are bound to dummies
override WANT_GG: bool = false;
override WANT_GB: bool = false;

// #include "_common.wgsl"

var<workgroup> red: array<vec2<f32>, WG>;

// _wide: the row of workgroup wid, threads striding from lid; the sum over the workgroup, returned
// to every thread (call from uniform control flow); lane 0 writes the statistics.
fn row_wide(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }
fn start_wide(lid: u32) -> u32 { return lid; }
fn step_wide() -> u32 { return WG; }
fn sum_wide(v: vec2<f32>, lid: u32) -> vec2<f32> {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
fn writes_stats_wide(lid: u32) -> bool { return lid == 0u; }

// _narrow: row WG · workgroup + lid, walked by its one thread.
fn row_narrow(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 { return (wid.y * nwg.x + wid.x) * WG + lid; }
fn start_narrow(lid: u32) -> u32 { return 0u; }
fn step_narrow() -> u32 { return 1u; }
fn sum_narrow(v: vec2<f32>, lid: u32) -> vec2<f32> { return v; }
fn writes_stats_narrow(lid: u32) -> bool { return true; }

// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
@group(0) @binding(1) var<storage, read> x$V: array<$T>;
@group(0) @binding(2) var<storage, read> gamma$V: array<$T>;
@group(0) @binding(3) var<storage, read> beta$V: array<$T>;
@group(0) @binding(4) var<storage, read> gy$V: array<$T>;
@group(0) @binding(5) var<storage, read_write> y$V: array<$T>;
@group(0) @binding(6) var<storage, read_write> gx$V: array<$T>;
@group(0) @binding(7) var<storage, read_write> ggamma$V: array<$T>;
@group(0) @binding(8) var<storage, read_write> gbeta$V: array<$T>;
// #end

// #for (T, V, W) in (f32, "", _wide), (vec4<f32>, _v4, _wide), (f32, "", _narrow), (vec4<f32>, _v4, _narrow)
@compute @workgroup_size(WG)
fn fwd$W$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row$W(wid, lid, nwg);
  if (r >= p.rows) { return; } // _wide: uniform per workgroup, so the barriers stay uniform
  let base = r * p.hw;
  var s = $T(0.0);
  for (var i = start$W(lid); i < p.hw; i += step$W()) { s += x$V[base + i]; }
  let mean = sum$W(vec2(hsum$V(s), 0.0), lid).x * p.inv_hw;
  var q = $T(0.0);
  for (var i = start$W(lid); i < p.hw; i += step$W()) { let d = x$V[base + i] - mean; q += d * d; }
  let rstd = 1.0 / sqrt(sum$W(vec2(hsum$V(q), 0.0), lid).x * p.inv_hw + p.eps);
  for (var i = start$W(lid); i < p.hw; i += step$W()) {
    let k = base + i;
    let h = (x$V[k] - mean) * rstd;
    if (MOD) { y$V[k] = h * (1.0 + gamma$V[k]) + beta$V[k]; } else { y$V[k] = h; }
  }
  if (writes_stats$W(lid)) { stats[r] = vec2(mean, rstd); }
}

@compute @workgroup_size(WG)
fn bwd$W$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row$W(wid, lid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  let st = stats[r];
  var a0 = $T(0.0);
  var a1 = $T(0.0);
  for (var i = start$W(lid); i < p.hw; i += step$W()) {
    let k = base + i;
    let h = (x$V[k] - st.x) * st.y;
    var g = gy$V[k];
    if (MOD) { g *= 1.0 + gamma$V[k]; }
    a0 += g;
    a1 += g * h;
  }
  let m = sum$W(vec2(hsum$V(a0), hsum$V(a1)), lid) * p.inv_hw;
  for (var i = start$W(lid); i < p.hw; i += step$W()) {
    let k = base + i;
    let h = (x$V[k] - st.x) * st.y;
    let d = gy$V[k];
    if (WANT_GX) {
      var g = d;
      if (MOD) { g *= 1.0 + gamma$V[k]; }
      gx$V[k] = st.y * (g - m.x - h * m.y);
    }
    if (WANT_GG) { ggamma$V[k] = d * h; }
    if (WANT_GB) { gbeta$V[k] = d; }
  }
}
// #end
