// One Adam update, in place on param, m and v (PyTorch torch.optim.Adam, amsgrad = false):
//   g = grad + weight_decay * param
//   m = m + (1 - beta1) * (g - m)            (exp_avg.lerp_(g, 1 - beta1))
//   v = beta2 * v + (1 - beta2) * g * g
//   param -= step_size * m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - beta1^t),
//                                                          bc2_sqrt = sqrt(1 - beta2^t)
// The bias corrections are computed on the CPU in float64. `step_v4` moves one vec4 per thread.

struct Params {
  n: u32,            // elements (vec4s for step_v4)
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  weight_decay: f32,
  step_size: f32,
  bc2_sqrt: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

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
  let w = param$V[i];
  let g = grad$V[i] + p.weight_decay * w;
  let mi = m$V[i] + p.one_minus_beta1 * (g - m$V[i]);
  let vi = p.beta2 * v$V[i] + p.one_minus_beta2 * g * g;
  m$V[i] = mi;
  v$V[i] = vi;
  param$V[i] = w - p.step_size * mi / (sqrt(vi) / p.bc2_sqrt + p.eps);
}
// #end
