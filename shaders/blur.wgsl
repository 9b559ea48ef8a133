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
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>; // normalised weights, `taps` of them
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 64u;
// 1: 4 outputs per thread, 2: 8 outputs per thread.
override SPAN: u32 = 1u;

fn flat(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

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

// One thread: 4 * SPAN consecutive outputs of one image row (rows of all planes stacked).
@compute @workgroup_size(WG)
fn blur_h(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(wid, lid, nwg);
  if (t >= p.count) { return; }
  let blk = t % p.blocks;
  let row = t / p.blocks;
  let n = i32(p.width);
  let r = i32(p.radius);
  let span = i32(4u * SPAN);
  let c0 = i32(blk) * span;
  let start = c0 - r;
  let inside = start >= 0 && c0 + span - 1 + r < n;
  let base = row * p.width;
  var w0 = vec4<f32>(0.0);
  var w1 = vec4<f32>(0.0);
  for (var j = 0; j < span - 1; j++) {
    push(&w0, &w1, x[base + src_index(start + j, n, inside)]);
  }
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  for (var k = 0; k < i32(p.taps); k++) {
    push(&w0, &w1, x[base + src_index(start + k + span - 1, n, inside)]);
    let wk = wt[k];
    a0 += wk * w0;
    if (SPAN == 2u) { a1 += wk * w1; }
  }
  for (var j = 0; j < 4; j++) {
    if (c0 + j < n) { out[base + u32(c0 + j)] = a0[j]; }
  }
  if (SPAN == 2u) {
    for (var j = 0; j < 4; j++) {
      if (c0 + 4 + j < n) { out[base + u32(c0 + 4 + j)] = a1[j]; }
    }
  }
}

// One thread: 4 * SPAN consecutive outputs of one image column; neighbouring threads take
// neighbouring columns, so each tap's loads are contiguous across the workgroup.
@compute @workgroup_size(WG)
fn blur_v(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat(wid, lid, nwg);
  if (t >= p.count) { return; }
  let col = t % p.width;
  let rest = t / p.width;
  let blk = rest % p.blocks;
  let plane = rest / p.blocks;
  let n = i32(p.height);
  let r = i32(p.radius);
  let span = i32(4u * SPAN);
  let r0 = i32(blk) * span;
  let start = r0 - r;
  let inside = start >= 0 && r0 + span - 1 + r < n;
  let base = plane * p.height * p.width + col;
  let stride = p.width;
  var w0 = vec4<f32>(0.0);
  var w1 = vec4<f32>(0.0);
  for (var j = 0; j < span - 1; j++) {
    push(&w0, &w1, x[base + src_index(start + j, n, inside) * stride]);
  }
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  for (var k = 0; k < i32(p.taps); k++) {
    push(&w0, &w1, x[base + src_index(start + k + span - 1, n, inside) * stride]);
    let wk = wt[k];
    a0 += wk * w0;
    if (SPAN == 2u) { a1 += wk * w1; }
  }
  for (var j = 0; j < 4; j++) {
    if (r0 + j < n) { out[base + u32(r0 + j) * stride] = a0[j]; }
  }
  if (SPAN == 2u) {
    for (var j = 0; j < 4; j++) {
      if (r0 + 4 + j < n) { out[base + u32(r0 + 4 + j) * stride] = a1[j]; }
    }
  }
}
