// Fused gated residual y = z + sigmoid(g) * r (all tensors the same shape), and its backward
// gz = gy, gg = gy * r * s * (1 - s), gr = gy * s with s = sigmoid(g), in one pass each.
// `*4` entries move one vec4 per thread (element count a multiple of 4); the scalar entries take
// any count. Each thread handles UNROLL consecutive items (register blocking).

struct Params {
  n: u32, // items: elements for the scalar entries, vec4s for the `*4` entries
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> gz: array<f32>;
@group(0) @binding(7) var<storage, read_write> gg: array<f32>;
@group(0) @binding(8) var<storage, read_write> gr: array<f32>;

@group(0) @binding(1) var<storage, read> z4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> r4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> gy4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> gz4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> gg4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> gr4: array<vec4<f32>>;

override WG: u32 = 64u;
override UNROLL: u32 = 1u;
// Which gradients the backward writes (unused outputs are bound to a small dummy buffer).
override WANT_GZ: bool = true;
override WANT_GG: bool = true;
override WANT_GR: bool = true;

fn first(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG * UNROLL + lid;
}

// sigmoid(g) and its derivative from e = exp(-|g|): no overflow, and s * (1 - s) keeps its relative
// accuracy for large |g| (1 - s would round to 0).
struct Sig { s: f32, ds: f32 }
// (Parameters are not named like a binding: wgsl_reflect would count them as a use of it.)
fn sig(t: f32) -> Sig {
  let e = exp(-abs(t));
  let q = 1.0 / (1.0 + e);
  return Sig(select(e * q, q, t >= 0.0), e * q * q);
}
struct Sig4 { s: vec4<f32>, ds: vec4<f32> }
fn sig4(t: vec4<f32>) -> Sig4 {
  let e = exp(-abs(t));
  let q = 1.0 / (1.0 + e);
  return Sig4(select(e * q, q, t >= vec4(0.0)), e * q * q);
}

@compute @workgroup_size(WG)
fn fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = first(wid, lid, nwg);
  for (var k = 0u; k < UNROLL; k++) {
    let i = i0 + k * WG;
    if (i < p.n) { y[i] = z[i] + sig(g[i]).s * r[i]; }
  }
}

@compute @workgroup_size(WG)
fn fwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = first(wid, lid, nwg);
  for (var k = 0u; k < UNROLL; k++) {
    let i = i0 + k * WG;
    if (i < p.n) { y4[i] = z4[i] + sig4(g4[i]).s * r4[i]; }
  }
}

@compute @workgroup_size(WG)
fn bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = first(wid, lid, nwg);
  for (var k = 0u; k < UNROLL; k++) {
    let i = i0 + k * WG;
    if (i < p.n) {
      let d = gy[i];
      let sg = sig(g[i]);
      if (WANT_GZ) { gz[i] = d; }
      if (WANT_GG) { gg[i] = d * r[i] * sg.ds; }
      if (WANT_GR) { gr[i] = d * sg.s; }
    }
  }
}

@compute @workgroup_size(WG)
fn bwd4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = first(wid, lid, nwg);
  for (var k = 0u; k < UNROLL; k++) {
    let i = i0 + k * WG;
    if (i < p.n) {
      let d = gy4[i];
      let sg = sig4(g4[i]);
      if (WANT_GZ) { gz4[i] = d; }
      if (WANT_GG) { gg4[i] = d * r4[i] * sg.ds; }
      if (WANT_GR) { gr4[i] = d * sg.s; }
    }
  }
}
