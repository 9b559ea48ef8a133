// Average pooling (kernel kh×kw, stride, zero padding, count_include_pad), max pooling (−inf
// padding, arg-max routing of the gradient) and global average pooling, forward and backward,
// NCHW f32. Workgroups of the 2-D kernels own one (n, c) plane:
// x of the dispatch walks the plane's pixels, (y, z) the planes, so no thread divides by N·C.

struct Params {
  planes: u32,   // N * C
  h: u32,        // input height / width
  w: u32,
  oh: u32,       // output height / width
  ow: u32,
  kh: u32,       // window
  kw: u32,
  sh: u32,       // stride
  sw: u32,
  ph: i32,       // zero padding
  pw: i32,
  include_pad: u32, // 1: divide by kh·kw (windows never pass the padded border); 0: by the in-image count
  hw: u32,       // global pool: H * W
  scale: f32,    // global pool: 1 / (H * W)
  n: u32,        // global pool backward: elements
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
// Max pooling: plane-local arg-max (iy · W + ix) of each output, written by the forward when a
// gradient is needed and read by the backward.
@group(0) @binding(4) var<storage, read_write> idx_out: array<u32>;
@group(0) @binding(5) var<storage, read> idx: array<u32>;

override WG: u32 = 64u;

// #include "_common.wgsl"

var<workgroup> partial: array<f32, WG>;

// Number of window taps inside the image (count_include_pad = false).
fn valid_count(y0: i32, x0: i32) -> f32 {
  let ny = min(y0 + i32(p.kh), i32(p.h)) - max(y0, 0);
  let nx = min(x0 + i32(p.kw), i32(p.w)) - max(x0, 0);
  return f32(max(ny, 0) * max(nx, 0));
}

fn divisor(y0: i32, x0: i32) -> f32 {
  if (p.include_pad != 0u) { return f32(p.kh * p.kw); }
  return max(valid_count(y0, x0), 1.0);
}

// The input window of output pixel t of a plane: its corner (y0, x0), which may lie in the
// padding, and the rows [ylo, yhi) and columns [xlo, xhi) inside the image.
struct Window { y0: i32, x0: i32, ylo: u32, yhi: u32, xlo: u32, xhi: u32 }

fn window_of(t: u32) -> Window {
  let y0 = i32((t / p.ow) * p.sh) - p.ph;
  let x0 = i32((t % p.ow) * p.sw) - p.pw;
  return Window(y0, x0, u32(max(y0, 0)), u32(min(y0 + i32(p.kh), i32(p.h))), u32(max(x0, 0)), u32(min(x0 + i32(p.kw), i32(p.w))));
}

// The output windows that contain input pixel t of a plane: rows [oy0, oy1], columns [ox0, ox1]
// (windows oy with oy·sh − ph <= iy < oy·sh − ph + kh; numerators are >= 0 after the max).
struct Windows { oy0: i32, oy1: i32, ox0: i32, ox1: i32 }

fn windows_of(t: u32) -> Windows {
  let iy = i32(t / p.w);
  let ix = i32(t % p.w);
  let sh = i32(p.sh);
  let sw = i32(p.sw);
  return Windows((max(iy + p.ph - i32(p.kh) + 1, 0) + sh - 1) / sh, min((iy + p.ph) / sh, i32(p.oh) - 1),
                 (max(ix + p.pw - i32(p.kw) + 1, 0) + sw - 1) / sw, min((ix + p.pw) / sw, i32(p.ow) - 1));
}

@compute @workgroup_size(WG)
fn avg_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y + wid.z * nwg.y;
  let t = wid.x * WG + lid;
  if (plane >= p.planes || t >= p.oh * p.ow) { return; }
  let win = window_of(t);
  let xb = plane * p.h * p.w;
  var acc = 0.0;
  for (var iy = win.ylo; iy < win.yhi; iy++) {
    let rb = xb + iy * p.w;
    for (var ix = win.xlo; ix < win.xhi; ix++) { acc += x[rb + ix]; }
  }
  out[plane * p.oh * p.ow + t] = acc / divisor(win.y0, win.x0);
}

// gx[iy, ix] = Σ gy[oy, ox] / divisor(oy, ox) over the windows that contain (iy, ix).
@compute @workgroup_size(WG)
fn avg_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y + wid.z * nwg.y;
  let t = wid.x * WG + lid;
  if (plane >= p.planes || t >= p.h * p.w) { return; }
  let ws = windows_of(t);
  let gb = plane * p.oh * p.ow;
  var acc = 0.0;
  for (var oy = ws.oy0; oy <= ws.oy1; oy++) {
    for (var ox = ws.ox0; ox <= ws.ox1; ox++) {
      acc += gy[gb + u32(oy) * p.ow + u32(ox)] / divisor(oy * i32(p.sh) - p.ph, ox * i32(p.sw) - p.pw);
    }
  }
  out[plane * p.h * p.w + t] = acc;
}

// Global average pooling, one thread per plane: for small planes (no barrier, no idle lanes).
@compute @workgroup_size(WG)
fn gap_fwd_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = flat_id(wid, lid, nwg);
  if (plane >= p.planes) { return; }
  let xb = plane * p.hw;
  var acc = 0.0;
  for (var i = 0u; i < p.hw; i++) { acc += x[xb + i]; }
  out[plane] = acc * p.scale;
}

// Global average pooling, one workgroup per plane: threads stride over the plane, then a tree sum.
@compute @workgroup_size(WG)
fn gap_fwd_wide(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y * nwg.x + wid.x;
  if (plane >= p.planes) { return; } // uniform per workgroup: safe before the barriers
  let xb = plane * p.hw;
  var acc = 0.0;
  for (var i = lid; i < p.hw; i += WG) { acc += x[xb + i]; }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[plane] = partial[0] * p.scale; }
}

// gx[n, c, y, x] = gy[n, c] / (H·W).
@compute @workgroup_size(WG)
fn gap_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  out[i] = gy[i / p.hw] * p.scale;
}

// ---- max pooling --------------------------------------------------------------------------------
// PyTorch semantics: padding counts as −inf (never selected; with padding <= kernel / 2 every
// window holds an image pixel), the first maximum in row-major window order wins ties (strict >),
// and NaN propagates (a NaN tap is taken as the maximum, as in PyTorch's `val > max || isnan(val)`).

struct MaxTap {
  v: f32,
  i: u32,
}

// On the bits: WGSL lets compilers assume no NaNs, and lavapipe folds `v != v` to false.
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn max_window(plane: u32, t: u32) -> MaxTap {
  let win = window_of(t);
  let xb = plane * p.h * p.w;
  var best = MaxTap(x[xb + win.ylo * p.w + win.xlo], win.ylo * p.w + win.xlo);
  for (var iy = win.ylo; iy < win.yhi; iy++) {
    let rb = iy * p.w;
    for (var ix = win.xlo; ix < win.xhi; ix++) {
      let v = x[xb + rb + ix];
      if (v > best.v || is_nan(v)) { best = MaxTap(v, rb + ix); }
    }
  }
  return best;
}

@compute @workgroup_size(WG)
fn max_fwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y + wid.z * nwg.y;
  let t = wid.x * WG + lid;
  if (plane >= p.planes || t >= p.oh * p.ow) { return; }
  out[plane * p.oh * p.ow + t] = max_window(plane, t).v;
}

// The same, also saving the arg-max for the backward.
@compute @workgroup_size(WG)
fn max_fwd_idx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y + wid.z * nwg.y;
  let t = wid.x * WG + lid;
  if (plane >= p.planes || t >= p.oh * p.ow) { return; }
  let best = max_window(plane, t);
  out[plane * p.oh * p.ow + t] = best.v;
  idx_out[plane * p.oh * p.ow + t] = best.i;
}

// gx[iy, ix] = Σ gy[oy, ox] over the windows containing (iy, ix) whose arg-max is (iy, ix): a
// gather over at most ceil(kh / sh) · ceil(kw / sw) windows, deterministic, no atomics.
@compute @workgroup_size(WG)
fn max_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = wid.y + wid.z * nwg.y;
  let t = wid.x * WG + lid;
  if (plane >= p.planes || t >= p.h * p.w) { return; }
  let ws = windows_of(t);
  let gb = plane * p.oh * p.ow;
  var acc = 0.0;
  for (var oy = ws.oy0; oy <= ws.oy1; oy++) {
    for (var ox = ws.ox0; ox <= ws.ox1; ox++) {
      let o = gb + u32(oy) * p.ow + u32(ox);
      if (idx[o] == t) { acc += gy[o]; }
    }
  }
  out[plane * p.h * p.w + t] = acc;
}
