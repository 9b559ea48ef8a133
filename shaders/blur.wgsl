// Separable Gaussian blur of NCHW images: a horizontal pass then a vertical pass, both with
// PyTorch/kornia 'reflect' borders (mirror without repeating the edge: -1 -> 1, n -> n - 2),
// reflected repeatedly when the radius exceeds the image, so every read is in bounds.
//
// Each thread produces 4 * SPAN consecutive outputs along the filtered axis. It keeps a sliding
// window of the 4 * SPAN inputs under the kernel in vec4 registers: one load, one weight and
// SPAN vec4 multiply-adds per tap, instead of 4 * SPAN loads.

struct Params {
  count: u32,  // threads with work
  width: u32,
  height: u32,
  radius: u32,
  taps: u32,   // 2 * radius + 1
  blocks: u32, // ceil(length of the filtered axis / (4 * SPAN))
  scale: f32,  // stored: value * scale + shift (1 and 0 but in the last pass: an affine fused in)
  shift: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>; // normalised weights, `taps` of them
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> x_v4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> out_v4: array<vec4<f32>>;

override WG: u32 = 64u;
// 1: 4 outputs per thread, 2: 8 outputs per thread.
override SPAN: u32 = 1u;

// #include "_common.wgsl"

// 'reflect' index into [0, n): period 2n - 2, applied as often as needed.
fn mirror(i: i32, n: i32) -> i32 {
  if (i >= 0 && i < n) { return i; }
  if (n <= 1) { return 0; }
  let period = 2 * n - 2;
  var m = i % period;
  if (m < 0) { m += period; }
  return select(m, period - m, m >= n);
}

// Threads away from the borders (`inside`) skip the mirroring.
fn src_index(i: i32, n: i32, inside: bool) -> u32 {
  if (inside) { return u32(i); }
  return u32(mirror(i, n));
}

// Shifts `v` into the window (oldest element drops out of w0.x).
fn push(w0: ptr<function, vec4<f32>>, w1: ptr<function, vec4<f32>>, v: f32) {
  if (SPAN == 2u) {
    *w0 = vec4<f32>((*w0).yzw, (*w1).x);
    *w1 = vec4<f32>((*w1).yzw, v);
  } else {
    *w0 = vec4<f32>((*w0).yzw, v);
  }
}

// A thread's line: 4 * SPAN consecutive outputs along the filtered axis, starting at output
// `first` of a line of `n` elements that lie `stride` apart from `base`.
struct Line { base: u32, stride: u32, n: i32, first: i32 }

fn blur_line(l: Line) {
  let r = i32(p.radius);
  let span = i32(4u * SPAN);
  let start = l.first - r;
  let inside = start >= 0 && l.first + span - 1 + r < l.n;
  var w0 = vec4<f32>(0.0);
  var w1 = vec4<f32>(0.0);
  for (var j = 0; j < span - 1; j++) {
    push(&w0, &w1, x[l.base + src_index(start + j, l.n, inside) * l.stride]);
  }
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  for (var k = 0; k < i32(p.taps); k++) {
    push(&w0, &w1, x[l.base + src_index(start + k + span - 1, l.n, inside) * l.stride]);
    let wk = wt[k];
    a0 += wk * w0;
    if (SPAN == 2u) { a1 += wk * w1; }
  }
  let b0 = a0 * p.scale + p.shift;
  let b1 = a1 * p.scale + p.shift;
  for (var j = 0; j < 4; j++) {
    if (l.first + j < l.n) { out[l.base + u32(l.first + j) * l.stride] = b0[j]; }
  }
  if (SPAN == 2u) {
    for (var j = 0; j < 4; j++) {
      if (l.first + 4 + j < l.n) { out[l.base + u32(l.first + 4 + j) * l.stride] = b1[j]; }
    }
  }
}

// Horizontal pass: thread t takes block t % blocks of image row t / blocks (rows of all planes
// stacked).
@compute @workgroup_size(WG)
fn fwd_h(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  blur_line(Line((t / p.blocks) * p.width, 1u, i32(p.width), i32(t % p.blocks) * i32(4u * SPAN)));
}

// Vertical pass: neighbouring threads take neighbouring columns, so each tap's loads are
// contiguous across the workgroup.
@compute @workgroup_size(WG)
fn fwd_v(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let rest = t / p.width;
  let base = (rest / p.blocks) * p.height * p.width + t % p.width;
  blur_line(Line(base, p.width, i32(p.height), i32(rest % p.blocks) * i32(4u * SPAN)));
}

// fwd_v on 4 columns at once (width % 4 == 0): a thread takes 4 columns × 4·SPAN rows, and each tap
// loads one vec4 (a row's 4 columns) where fwd_v loads one float for a quarter of the outputs.
// Window and sums are mat4x4 columns (rows 4i..4i+3 of the window in w0, the next four in w1):
// registers, as every index is a constant.
fn push4(w0: ptr<function, mat4x4<f32>>, w1: ptr<function, mat4x4<f32>>, v: vec4<f32>) {
  if (SPAN == 2u) {
    *w0 = mat4x4<f32>((*w0)[1], (*w0)[2], (*w0)[3], (*w1)[0]);
    *w1 = mat4x4<f32>((*w1)[1], (*w1)[2], (*w1)[3], v);
  } else {
    *w0 = mat4x4<f32>((*w0)[1], (*w0)[2], (*w0)[3], v);
  }
}

fn store4(base4: u32, w4: u32, row: i32, n: i32, v: vec4<f32>) {
  if (row < n) { out_v4[base4 + u32(row) * w4] = v * p.scale + p.shift; }
}

@compute @workgroup_size(WG)
fn fwd_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }         // count = planes * blocks * width / 4
  let w4 = p.width / 4u;
  let rest = t / w4;
  let base4 = (rest / p.blocks) * p.height * w4 + t % w4;
  let n = i32(p.height);
  let r = i32(p.radius);
  let span = i32(4u * SPAN);
  let first = i32(rest % p.blocks) * span;
  let start = first - r;
  let inside = start >= 0 && first + span - 1 + r < n;
  var w0 = mat4x4<f32>();
  var w1 = mat4x4<f32>();
  for (var j = 0; j < span - 1; j++) {
    push4(&w0, &w1, x_v4[base4 + src_index(start + j, n, inside) * w4]);
  }
  var a0 = mat4x4<f32>();
  var a1 = mat4x4<f32>();
  for (var k = 0; k < i32(p.taps); k++) {
    push4(&w0, &w1, x_v4[base4 + src_index(start + k + span - 1, n, inside) * w4]);
    let wk = wt[k];
    a0 += wk * w0;
    if (SPAN == 2u) { a1 += wk * w1; }
  }
  store4(base4, w4, first, n, a0[0]);
  store4(base4, w4, first + 1, n, a0[1]);
  store4(base4, w4, first + 2, n, a0[2]);
  store4(base4, w4, first + 3, n, a0[3]);
  if (SPAN == 2u) {
    store4(base4, w4, first + 4, n, a1[0]);
    store4(base4, w4, first + 5, n, a1[1]);
    store4(base4, w4, first + 6, n, a1[2]);
    store4(base4, w4, first + 7, n, a1[3]);
  }
}
