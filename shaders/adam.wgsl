// One Adam update, in place on param, m and v (PyTorch torch.optim.Adam, amsgrad = false):
//   g = grad + weight_decay * param
//   m = m + (1 - beta1) * (g - m)            (exp_avg.lerp_(g, 1 - beta1))
//   v = beta2 * v + (1 - beta2) * g * g
//   param -= step_size * m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - beta1^t),
//                                                          bc2_sqrt = sqrt(1 - beta2^t)
// The hyperparameters come from a storage buffer, two vec4 per parameter (slot), written by the
// CPU before each step with the bias corrections computed in float64: the step count changes every
// step, and a recorded training step (Runtime.record) replays the same uniforms but re-uploads
// this buffer (Runtime.upload). `step_v4` moves one vec4 per thread.

struct Params {
  n: u32,    // elements (vec4s for step_v4)
  slot: u32, // this parameter's pair in `hyper`
}

@group(0) @binding(0) var<uniform> p: Params;
// (1 - beta1, beta2, 1 - beta2, eps), (weight_decay, step_size, bc2_sqrt, unused) per slot
@group(0) @binding(5) var<storage, read> hyper: array<vec4<f32>>;

override WG: u32 = 64u;

// #include "_common.wgsl"

// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
@group(0) @binding(1) var<storage, read_write> param$V: array<$T>;
@group(0) @binding(2) var<storage, read> grad$V: array<$T>;
@group(0) @binding(3) var<storage, read_write> m$V: array<$T>;
@group(0) @binding(4) var<storage, read_write> v$V: array<$T>;

@compute @workgroup_size(WG)
fn step$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  let h = hyper[2u * p.slot];
  let h2 = hyper[2u * p.slot + 1u];
  let w = param$V[i];
  let g = grad$V[i] + h2.x * w;
  let mi = m$V[i] + h.x * (g - m$V[i]);
  let vi = h.y * v$V[i] + h.z * g * g;
  m$V[i] = mi;
  v$V[i] = vi;
  param$V[i] = w - h2.y * mi / (sqrt(vi) / h2.z + h.w);
}
// #end
