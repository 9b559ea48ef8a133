// Parameter-free instance normalisation over H*W and its fused modulation
//   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)  (biased variance, per (n, c) row)
//   y    = xhat                          (MOD = false)
//   y    = xhat * (1 + gamma) + beta     (MOD = true; gamma, beta have x's shape)
// Forward computes the row statistics (two passes: mean, then squared deviations) and writes y in
// the same kernel; it saves (mean, rstd) per row in `stats` for the backward:
//   gh = gy * (1 + gamma),  gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)),
//   ggamma = gy * xhat,  gbeta = gy.
// Entries: *_wide   one workgroup per row, threads stride over the row, tree reduction in
//                   workgroup memory (no atomics);   *_wide4 the same on vec4s (hw % 4 == 0);
//          *_narrow one thread per row (short rows).

struct Params {
  rows: u32,   // N * C
  hw: u32,     // H * W (elements per row; vec4s per row in the *4 entries)
  eps: f32,
  inv_hw: f32, // 1 / (H * W) in elements
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> gx: array<f32>;
@group(0) @binding(7) var<storage, read_write> ggamma: array<f32>;
@group(0) @binding(8) var<storage, read_write> gbeta: array<f32>;
@group(0) @binding(9) var<storage, read_write> stats: array<vec2<f32>>; // (mean, rstd) per row

@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> gamma4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> beta4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> gy4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> gx4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> ggamma4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> gbeta4: array<vec4<f32>>;

override WG: u32 = 64u;        // power of two
override MOD: bool = false;
override WANT_GX: bool = true;  // backward outputs; unwanted ones are bound to dummies
override WANT_GG: bool = false;
override WANT_GB: bool = false;

var<workgroup> red: array<vec2<f32>, WG>;

// Sum of `v` over the workgroup, returned to every thread. Call from uniform control flow.
fn wg_sum(v: vec2<f32>, lid: u32) -> vec2<f32> {
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

fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }

// ---- forward ----------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn fwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; } // uniform per workgroup
  let base = r * p.hw;
  var s = 0.0;
  for (var i = lid; i < p.hw; i += WG) { s += x[base + i]; }
  let mean = wg_sum(vec2(s, 0.0), lid).x * p.inv_hw;
  var q = 0.0;
  for (var i = lid; i < p.hw; i += WG) { let d = x[base + i] - mean; q += d * d; }
  let rstd = 1.0 / sqrt(wg_sum(vec2(q, 0.0), lid).x * p.inv_hw + p.eps);
  for (var i = lid; i < p.hw; i += WG) {
    let k = base + i;
    let h = (x[k] - mean) * rstd;
    if (MOD) { y[k] = h * (1.0 + gamma[k]) + beta[k]; } else { y[k] = h; }
  }
  if (lid == 0u) { stats[r] = vec2(mean, rstd); }
}

@compute @workgroup_size(WG)
fn fwd_wide4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  var s = vec4(0.0);
  for (var i = lid; i < p.hw; i += WG) { s += x4[base + i]; }
  let mean = wg_sum(vec2(dot(s, vec4(1.0)), 0.0), lid).x * p.inv_hw;
  var q = vec4(0.0);
  for (var i = lid; i < p.hw; i += WG) { let d = x4[base + i] - mean; q += d * d; }
  let rstd = 1.0 / sqrt(wg_sum(vec2(dot(q, vec4(1.0)), 0.0), lid).x * p.inv_hw + p.eps);
  for (var i = lid; i < p.hw; i += WG) {
    let k = base + i;
    let h = (x4[k] - mean) * rstd;
    if (MOD) { y4[k] = h * (1.0 + gamma4[k]) + beta4[k]; } else { y4[k] = h; }
  }
  if (lid == 0u) { stats[r] = vec2(mean, rstd); }
}

@compute @workgroup_size(WG)
fn fwd_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg) * WG + lid;
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  var s = 0.0;
  for (var i = 0u; i < p.hw; i++) { s += x[base + i]; }
  let mean = s * p.inv_hw;
  var q = 0.0;
  for (var i = 0u; i < p.hw; i++) { let d = x[base + i] - mean; q += d * d; }
  let rstd = 1.0 / sqrt(q * p.inv_hw + p.eps);
  for (var i = 0u; i < p.hw; i++) {
    let k = base + i;
    let h = (x[k] - mean) * rstd;
    if (MOD) { y[k] = h * (1.0 + gamma[k]) + beta[k]; } else { y[k] = h; }
  }
  stats[r] = vec2(mean, rstd);
}

@compute @workgroup_size(WG)
fn fwd_narrow4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg) * WG + lid;
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  var s = vec4(0.0);
  for (var i = 0u; i < p.hw; i++) { s += x4[base + i]; }
  let mean = dot(s, vec4(1.0)) * p.inv_hw;
  var q = vec4(0.0);
  for (var i = 0u; i < p.hw; i++) { let d = x4[base + i] - mean; q += d * d; }
  let rstd = 1.0 / sqrt(dot(q, vec4(1.0)) * p.inv_hw + p.eps);
  for (var i = 0u; i < p.hw; i++) {
    let k = base + i;
    let h = (x4[k] - mean) * rstd;
    if (MOD) { y4[k] = h * (1.0 + gamma4[k]) + beta4[k]; } else { y4[k] = h; }
  }
  stats[r] = vec2(mean, rstd);
}

// ---- backward ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn bwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  let st = stats[r];
  var acc = vec2(0.0);
  for (var i = lid; i < p.hw; i += WG) {
    let k = base + i;
    let h = (x[k] - st.x) * st.y;
    var g = gy[k];
    if (MOD) { g *= 1.0 + gamma[k]; }
    acc += vec2(g, g * h);
  }
  let m = wg_sum(acc, lid) * p.inv_hw;
  for (var i = lid; i < p.hw; i += WG) {
    let k = base + i;
    let h = (x[k] - st.x) * st.y;
    let d = gy[k];
    if (WANT_GX) {
      var g = d;
      if (MOD) { g *= 1.0 + gamma[k]; }
      gx[k] = st.y * (g - m.x - h * m.y);
    }
    if (WANT_GG) { ggamma[k] = d * h; }
    if (WANT_GB) { gbeta[k] = d; }
  }
}

@compute @workgroup_size(WG)
fn bwd_wide4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  let st = stats[r];
  var a0 = vec4(0.0);
  var a1 = vec4(0.0);
  for (var i = lid; i < p.hw; i += WG) {
    let k = base + i;
    let h = (x4[k] - st.x) * st.y;
    var g = gy4[k];
    if (MOD) { g *= 1.0 + gamma4[k]; }
    a0 += g;
    a1 += g * h;
  }
  let m = wg_sum(vec2(dot(a0, vec4(1.0)), dot(a1, vec4(1.0))), lid) * p.inv_hw;
  for (var i = lid; i < p.hw; i += WG) {
    let k = base + i;
    let h = (x4[k] - st.x) * st.y;
    let d = gy4[k];
    if (WANT_GX) {
      var g = d;
      if (MOD) { g *= 1.0 + gamma4[k]; }
      gx4[k] = st.y * (g - m.x - h * m.y);
    }
    if (WANT_GG) { ggamma4[k] = d * h; }
    if (WANT_GB) { gbeta4[k] = d; }
  }
}

@compute @workgroup_size(WG)
fn bwd_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg) * WG + lid;
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  let st = stats[r];
  var acc = vec2(0.0);
  for (var i = 0u; i < p.hw; i++) {
    let k = base + i;
    let h = (x[k] - st.x) * st.y;
    var g = gy[k];
    if (MOD) { g *= 1.0 + gamma[k]; }
    acc += vec2(g, g * h);
  }
  let m = acc * p.inv_hw;
  for (var i = 0u; i < p.hw; i++) {
    let k = base + i;
    let h = (x[k] - st.x) * st.y;
    let d = gy[k];
    if (WANT_GX) {
      var g = d;
      if (MOD) { g *= 1.0 + gamma[k]; }
      gx[k] = st.y * (g - m.x - h * m.y);
    }
    if (WANT_GG) { ggamma[k] = d * h; }
    if (WANT_GB) { gbeta[k] = d; }
  }
}

@compute @workgroup_size(WG)
fn bwd_narrow4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = row_of(wid, nwg) * WG + lid;
  if (r >= p.rows) { return; }
  let base = r * p.hw;
  let st = stats[r];
  var a0 = vec4(0.0);
  var a1 = vec4(0.0);
  for (var i = 0u; i < p.hw; i++) {
    let k = base + i;
    let h = (x4[k] - st.x) * st.y;
    var g = gy4[k];
    if (MOD) { g *= 1.0 + gamma4[k]; }
    a0 += g;
    a1 += g * h;
  }
  let m = vec2(dot(a0, vec4(1.0)), dot(a1, vec4(1.0))) * p.inv_hw;
  for (var i = 0u; i < p.hw; i++) {
    let k = base + i;
    let h = (x4[k] - st.x) * st.y;
    let d = gy4[k];
    if (WANT_GX) {
      var g = d;
      if (MOD) { g *= 1.0 + gamma4[k]; }
      gx4[k] = st.y * (g - m.x - h * m.y);
    }
    if (WANT_GG) { ggamma4[k] = d * h; }
    if (WANT_GB) { gbeta4[k] = d; }
  }
}
