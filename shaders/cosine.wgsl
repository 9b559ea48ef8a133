// Per-position cosine similarity across channels (PyTorch F.cosine_similarity(a, b, dim=1)):
//   cos = sum_c a_c b_c * sa * sb,   sa = 1 / max(|a|, eps),  sb = 1 / max(|b|, eps)
// for a, b = [N, C, P] (P = H*W; channel is the strided axis), output [N, P]. One thread per
// (n, position) loops over C: neighbouring threads read neighbouring addresses. The `*4` entries
// take four neighbouring positions per thread as a vec4 (P % 4 == 0).
// Backward, with the coefficients saved by the forward in stats = [N, 3, P] (u, va, vb):
//   ga_c = gy * (u * b_c - va * a_c),  gb_c = gy * (u * a_c - vb * b_c)
//   u = sa * sb,  va = cos * sa / |a|,  vb = cos * sb / |b|   (va = 0 when |a| = 0)
// which is PyTorch's gradient: its eps clamp is outside autograd, the norms' own gradient is kept.

struct Params {
  items: u32, // N * P threads (N * P / 4 in the *4 entries)
  p: u32,     // positions per image (P / 4 in the *4 entries)
  c: u32,     // channels
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> ga: array<f32>;
@group(0) @binding(7) var<storage, read_write> gb: array<f32>;

@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> gy4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> stats4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> ga4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> gb4: array<vec4<f32>>;

override WG: u32 = 64u;
override SAVE: bool = false;     // forward writes the backward coefficients
override WANT_GA: bool = true;
override WANT_GB: bool = true;

fn item(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 { return (wid.y * nwg.x + wid.x) * WG + lid; }

// ---- forward ----------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = item(wid, lid, nwg);
  if (i >= p.items) { return; }
  let n = i / p.p;
  let q = i - n * p.p;
  var o = n * p.c * p.p + q;
  var ab = 0.0;
  var aa = 0.0;
  var bb = 0.0;
  for (var c = 0u; c < p.c; c++) {
    let u = a[o];
    let v = b[o];
    ab += u * v;
    aa += u * u;
    bb += v * v;
    o += p.p;
  }
  let na = sqrt(aa);
  let nb = sqrt(bb);
  let sa = 1.0 / max(na, p.eps);
  let sb = 1.0 / max(nb, p.eps);
  let cs = ab * (sa * sb);
  y[i] = cs;
  if (SAVE) {
    let s = n * 3u * p.p + q;
    stats[s] = sa * sb;
    stats[s + p.p] = select(0.0, cs * sa / na, na > 0.0);
    stats[s + 2u * p.p] = select(0.0, cs * sb / nb, nb > 0.0);
  }
}

@compute @workgroup_size(WG)
fn fwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = item(wid, lid, nwg);
  if (i >= p.items) { return; }
  let n = i / p.p;
  let q = i - n * p.p;
  var o = n * p.c * p.p + q;
  var ab = vec4(0.0);
  var aa = vec4(0.0);
  var bb = vec4(0.0);
  for (var c = 0u; c < p.c; c++) {
    let u = a4[o];
    let v = b4[o];
    ab += u * v;
    aa += u * u;
    bb += v * v;
    o += p.p;
  }
  let na = sqrt(aa);
  let nb = sqrt(bb);
  let sa = 1.0 / max(na, vec4(p.eps));
  let sb = 1.0 / max(nb, vec4(p.eps));
  let cs = ab * (sa * sb);
  y4[i] = cs;
  if (SAVE) {
    let s = n * 3u * p.p + q;
    stats4[s] = sa * sb;
    stats4[s + p.p] = select(vec4(0.0), cs * sa / na, na > vec4(0.0));
    stats4[s + 2u * p.p] = select(vec4(0.0), cs * sb / nb, nb > vec4(0.0));
  }
}

// ---- backward ---------------------------------------------------------------------------------

@compute @workgroup_size(WG)
fn bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = item(wid, lid, nwg);
  if (i >= p.items) { return; }
  let n = i / p.p;
  let q = i - n * p.p;
  let s = n * 3u * p.p + q;
  let g = gy[i];
  let u = g * stats[s];
  let va = g * stats[s + p.p];
  let vb = g * stats[s + 2u * p.p];
  var o = n * p.c * p.p + q;
  for (var c = 0u; c < p.c; c++) {
    let x = a[o];
    let z = b[o];
    if (WANT_GA) { ga[o] = u * z - va * x; }
    if (WANT_GB) { gb[o] = u * x - vb * z; }
    o += p.p;
  }
}

@compute @workgroup_size(WG)
fn bwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = item(wid, lid, nwg);
  if (i >= p.items) { return; }
  let n = i / p.p;
  let q = i - n * p.p;
  let s = n * 3u * p.p + q;
  let g = gy4[i];
  let u = g * stats4[s];
  let va = g * stats4[s + p.p];
  let vb = g * stats4[s + 2u * p.p];
  var o = n * p.c * p.p + q;
  for (var c = 0u; c < p.c; c++) {
    let x = a4[o];
    let z = b4[o];
    if (WANT_GA) { ga4[o] = u * z - va * x; }
    if (WANT_GB) { gb4[o] = u * x - vb * z; }
    o += p.p;
  }
}
