// Per-position cosine similarity across channels (PyTorch F.cosine_similarity(a, b, dim=1)):
//   cos = sum_c a_c b_c * sa * sb,   sa = 1 / max(|a|, eps),  sb = 1 / max(|b|, eps)
// for a, b = [N, C, P] (P = H*W; channel is the strided axis), output [N, P]. One thread per
// (n, position) loops over C: neighbouring threads read neighbouring addresses. The `_v4` entries
// take four neighbouring positions per thread as a vec4 (P % 4 == 0).
// Backward, with the coefficients saved by the forward in stats = [N, 3, P] (u, va, vb):
//   ga_c = gy * (u * b_c - va * a_c),  gb_c = gy * (u * a_c - vb * b_c)
//   u = sa * sb,  va = cos * sa / |a|,  vb = cos * sb / |b|   (va = 0 when |a| = 0)
// which is PyTorch's gradient: its eps clamp is outside autograd, the norms' own gradient is kept.

struct Params {
  items: u32, // N * P threads (N * P / 4 in the _v4 entries)
  p: u32,     // positions per image (P / 4 in the _v4 entries)
  c: u32,     // channels
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

override WG: u32 = 64u;
override SAVE: bool = false;     // forward writes the backward coefficients
override WANT_GA: bool = true;
override WANT_GB: bool = true;

// #include "_common.wgsl"

// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
@group(0) @binding(1) var<storage, read> a$V: array<$T>;
@group(0) @binding(2) var<storage, read> b$V: array<$T>;
@group(0) @binding(3) var<storage, read> gy$V: array<$T>;
@group(0) @binding(4) var<storage, read_write> y$V: array<$T>;
@group(0) @binding(5) var<storage, read_write> stats$V: array<$T>;
@group(0) @binding(6) var<storage, read_write> ga$V: array<$T>;
@group(0) @binding(7) var<storage, read_write> gb$V: array<$T>;

@compute @workgroup_size(WG)
fn fwd$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.items) { return; }
  let n = i / p.p;
  let q = i - n * p.p;
  var o = n * p.c * p.p + q;
  var ab = $T(0.0);
  var aa = $T(0.0);
  var bb = $T(0.0);
  for (var c = 0u; c < p.c; c++) {
    let u = a$V[o];
    let v = b$V[o];
    ab += u * v;
    aa += u * u;
    bb += v * v;
    o += p.p;
  }
  let na = sqrt(aa);
  let nb = sqrt(bb);
  let sa = 1.0 / max(na, $T(p.eps));
  let sb = 1.0 / max(nb, $T(p.eps));
  let cs = ab * (sa * sb);
  y$V[i] = cs;
  if (SAVE) {
    let s = n * 3u * p.p + q;
    stats$V[s] = sa * sb;
    stats$V[s + p.p] = select($T(0.0), cs * sa / na, na > $T(0.0));
    stats$V[s + 2u * p.p] = select($T(0.0), cs * sb / nb, nb > $T(0.0));
  }
}

@compute @workgroup_size(WG)
fn bwd$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.items) { return; }
  let n = i / p.p;
  let q = i - n * p.p;
  let s = n * 3u * p.p + q;
  let g = gy$V[i];
  let u = g * stats$V[s];
  let va = g * stats$V[s + p.p];
  let vb = g * stats$V[s + 2u * p.p];
  var o = n * p.c * p.p + q;
  for (var c = 0u; c < p.c; c++) {
    let ai = a$V[o];
    let bi = b$V[o];
    if (WANT_GA) { ga$V[o] = u * bi - va * ai; }
    if (WANT_GB) { gb$V[o] = u * ai - vb * bi; }
    o += p.p;
  }
}
// #end
