// Helpers the families share (`// #include "_common.wgsl"`; the including shader declares
// `override WG`). Never a shader of its own: the file name starts with `_`.

// Invocation index of a 1-D launch whose workgroups are split over x and y (groups1d in
// src/ops/util.ts, which keeps each dimension under maxComputeWorkgroupsPerDimension).
fn flat_id(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// The sum of a value's components: the scalar and the vec4 instantiation of one body reduce alike.
fn hsum(v: f32) -> f32 { return v; }
fn hsum_v4(v: vec4<f32>) -> f32 { return dot(v, vec4<f32>(1.0)); }
