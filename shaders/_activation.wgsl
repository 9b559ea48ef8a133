// The activation a convolution or matmul applies in its output stores (p.act: 0 none, 1 ReLU6,
// 2 ReLU; src/ops/util.ts `activationCode`), after the bias and any residual: a pass fewer per
// layer. Never a shader of its own: the file name starts with `_`.

fn activate(v: f32, act: u32) -> f32 {
  return select(select(v, clamp(v, 0.0, 6.0), act == 1u), max(v, 0.0), act == 2u);
}

fn activate4(v: vec4<f32>, act: u32) -> vec4<f32> {
  return select(select(v, clamp(v, vec4<f32>(0.0), vec4<f32>(6.0)), act == 1u), max(v, vec4<f32>(0.0)), act == 2u);
}
