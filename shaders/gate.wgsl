// Fused gated residual y = z + sigmoid(g) * r (all tensors the same shape), and its backward
// gz = gy, gg = gy * r * s * (1 - s), gr = gy * s with s = sigmoid(g), in one pass each.
// `_v4` entries move one vec4 per thread (element count a multiple of 4); the scalar entries take
// any count. Each thread handles UNROLL consecutive items (register blocking).

struct Params {
  n: u32, // items: elements for the scalar entries, vec4s for the `_v4` entries
}

@group(0) @binding(0) var<uniform> p: Params;

override WG: u32 = 64u;
override UNROLL: u32 = 1u;
// Which gradients the backward writes (unused outputs are bound to a small dummy buffer).
override WANT_GZ: bool = true;
override WANT_GG: bool = true;
override WANT_GR: bool = true;

fn first(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG * UNROLL + lid;
}

// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
@group(0) @binding(1) var<storage, read> z$V: array<$T>;
@group(0) @binding(2) var<storage, read> g$V: array<$T>;
@group(0) @binding(3) var<storage, read> r$V: array<$T>;
@group(0) @binding(4) var<storage, read> gy$V: array<$T>;
@group(0) @binding(5) var<storage, read_write> y$V: array<$T>;
@group(0) @binding(6) var<storage, read_write> gz$V: array<$T>;
@group(0) @binding(7) var<storage, read_write> gg$V: array<$T>;
@group(0) @binding(8) var<storage, read_write> gr$V: array<$T>;

// sigmoid(g) and its derivative from e = exp(-|g|): no overflow, and s * (1 - s) keeps its relative
// accuracy for large |g| (1 - s would round to 0).
struct Sig$V { s: $T, ds: $T }
// (Parameters are not named like a binding: wgsl_reflect would count them as a use of it.)
fn sig$V(t: $T) -> Sig$V {
  let e = exp(-abs(t));
  let q = 1.0 / (1.0 + e);
  return Sig$V(select(e * q, q, t >= $T(0.0)), e * q * q);
}

@compute @workgroup_size(WG)
fn fwd$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = first(wid, lid, nwg);
  for (var k = 0u; k < UNROLL; k++) {
    let i = i0 + k * WG;
    if (i < p.n) { y$V[i] = z$V[i] + sig$V(g$V[i]).s * r$V[i]; }
  }
}

@compute @workgroup_size(WG)
fn bwd$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = first(wid, lid, nwg);
  for (var k = 0u; k < UNROLL; k++) {
    let i = i0 + k * WG;
    if (i < p.n) {
      let d = gy$V[i];
      let sg = sig$V(g$V[i]);
      if (WANT_GZ) { gz$V[i] = d; }
      if (WANT_GG) { gg$V[i] = d * r$V[i] * sg.ds; }
      if (WANT_GR) { gr$V[i] = d * sg.s; }
    }
  }
}
// #end
