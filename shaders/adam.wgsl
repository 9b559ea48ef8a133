// One Adam update, in place on param, m and v (PyTorch torch.optim.Adam, amsgrad = false):
//   g = grad + weight_decay * param
//   m = m + (1 - beta1) * (g - m)            (exp_avg.lerp_(g, 1 - beta1))
//   v = beta2 * v + (1 - beta2) * g * g
//   param -= step_size * m / (sqrt(v) / bc2_sqrt + eps),  step_size = lr / (1 - beta1^t),
//                                                          bc2_sqrt = sqrt(1 - beta2^t)
// The bias corrections are computed on the CPU in float64. `adam4` moves one vec4 per thread.

struct Params {
  n: u32,            // elements (vec4s for adam4)
  one_minus_beta1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  weight_decay: f32,
  step_size: f32,
  bc2_sqrt: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@group(0) @binding(1) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> v4: array<vec4<f32>>;

override WG: u32 = 64u;

fn item(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 { return (wid.y * nwg.x + wid.x) * WG + lid; }

@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = item(wid, lid, nwg);
  if (i >= p.n) { return; }
  let w = param[i];
  let g = grad[i] + p.weight_decay * w;
  let mi = m[i] + p.one_minus_beta1 * (g - m[i]);
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = w - p.step_size * mi / (sqrt(vi) / p.bc2_sqrt + p.eps);
}

@compute @workgroup_size(WG)
fn adam4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = item(wid, lid, nwg);
  if (i >= p.n) { return; }
  let w = param4[i];
  let g = grad4[i] + p.weight_decay * w;
  let mi = m4[i] + p.one_minus_beta1 * (g - m4[i]);
  let vi = p.beta2 * v4[i] + p.one_minus_beta2 * g * g;
  m4[i] = mi;
  v4[i] = vi;
  param4[i] = w - p.step_size * mi / (sqrt(vi) / p.bc2_sqrt + p.eps);
}
