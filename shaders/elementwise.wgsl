// Elementwise kernels: unary activations, broadcasting binary arithmetic, broadcast-expand, affine.
// Shapes of up to 8 dimensions travel as two vec4s; a stride of 0 marks a broadcast dimension.

struct Params {
  n: u32,            // output elements
  rank: u32,
  a: f32,            // affine scale / unary parameter
  b: f32,            // affine shift
  out_shape: array<vec4<u32>, 2>,
  a_strides: array<vec4<u32>, 2>,
  b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
// The vec4 entries (n % 4 == 0: four elements per thread, ~4x faster on CPU adapters) bind the
// same slots as vec4 arrays (x_v4, …); an entry point uses one set or the other.
// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
@group(0) @binding(1) var<storage, read> x$V: array<$T>;
@group(0) @binding(2) var<storage, read> y$V: array<$T>;
@group(0) @binding(3) var<storage, read_write> out$V: array<$T>;
// #end

// 0 relu, 1 relu6, 2 sigmoid, 3 copy, 4 affine (x*a+b)
override OP: u32 = 0u;
override WG: u32 = 256u;

// #include "_common.wgsl"

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

// Offset into an input with the given (possibly zero) strides for output element i.
fn strided(i: u32, strides: array<vec4<u32>, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.out_shape, u32(d));
    off += (rem % s) * dim(strides, u32(d));
    rem /= s;
  }
  return off;
}

// p.n counts vec4s in the _v4 entries.
// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
fn unary_op$V(v: $T) -> $T {
  switch OP {
    case 0u: { return max(v, $T(0.0)); }
    case 1u: { return clamp(v, $T(0.0), $T(6.0)); }
    case 2u: { return 1.0 / (1.0 + exp(-v)); }
    case 3u: { return v; }
    default: { return v * p.a + p.b; }
  }
}

@compute @workgroup_size(WG)
fn unary$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  out$V[i] = unary_op$V(x$V[i]);
}
// #end

// x = forward input (relu, relu6) or forward output (sigmoid); y = upstream gradient.
@compute @workgroup_size(WG)
fn unary_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  let v = x[i];
  let g = y[i];
  switch OP {
    case 0u: { out[i] = select(0.0, g, v > 0.0); }
    case 1u: { out[i] = select(0.0, g, v > 0.0 && v < 6.0); }
    case 2u: { out[i] = g * v * (1.0 - v); }
    default: { out[i] = g * p.a; }
  }
}

// 0 add, 1 sub, 2 mul, 3 div
override BOP: u32 = 0u;

// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
fn binary_op$V(u: $T, v: $T) -> $T {
  switch BOP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    default: { return u / v; }
  }
}

// Same-shape fast path: no index arithmetic.
@compute @workgroup_size(WG)
fn binary_same$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  out$V[i] = binary_op$V(x$V[i], y$V[i]);
}
// #end

@compute @workgroup_size(WG)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  out[i] = binary_op(x[strided(i, p.a_strides)], y[strided(i, p.b_strides)]);
}

// out = broadcast(x) to out_shape, times a.
@compute @workgroup_size(WG)
fn expand(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  out[i] = x[strided(i, p.a_strides)] * p.a;
}
