// The forward as an implicit GEMM over workgroup-memory tiles, shaped for GPUs (shaders/conv2d.wgsl,
// included, has the rest of the family): y[co, pixel] = Σ_k w[co, k] · patch[k, pixel] with
// k = (ci, r, c), the patch column gathered from the input as the tile is staged (no im2col
// buffer). A workgroup of 8×8 threads makes a 32 output channels × 32 pixels tile of one image,
// each thread 4 channels × 4 neighbouring pixels, over K in steps of CK staged in workgroup memory:
// every staged value feeds 32 multiply-adds, the shape of the tiled matmul (matmul.wgsl fwd_tiled)
// and of tfjs-webgpu's conv2d. Real GPUs want this; lavapipe does not (a barrier costs tens of
// microseconds there, and the direct kernels already keep their operands in registers), so it is
// a tuning candidate (conv2d.tiled), off by default: `hlgfa tune` picks it where it wins.

// #include "conv2d.wgsl"

const CT = 32u; // tile edge: output channels, and pixels
const CK = 16u; // K step

var<workgroup> tile_w: array<f32, 512>; // [CT channels][CK]
var<workgroup> tile_x: array<f32, 512>; // [CK][CT pixels]

@compute @workgroup_size(8, 8)
fn fwd_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let hw = p.ho * p.wo;
  let taps = p.kh * KW;
  let k_len = p.cin * taps;
  let co0 = wid.y * CT;
  let px0 = wid.x * CT;
  let nimg = wid.z;
  var acc: array<vec4<f32>, 4>; // acc[i][j]: channel co0 + 4·lid.y + i, pixel px0 + 4·lid.x + j
  for (var k0 = 0u; k0 < k_len; k0 += CK) {
    for (var e = li; e < 512u; e += 64u) {
      // weights, from the original [Cout, Cin·kh·KW] layout: channel co0 + e / CK, k0 + e % CK
      let co = co0 + e / CK;
      let kw_ = k0 + e % CK;
      tile_w[e] = select(0.0, wsrc[min(co, p.cout - 1u) * k_len + min(kw_, k_len - 1u)], co < p.cout && kw_ < k_len);
      // the patch: tap k0 + e / CT at pixel px0 + e % CT, zero in the padding
      let k = k0 + e / CT;
      let px = px0 + e % CT;
      let ci = k / taps;
      let r = (k / KW) % p.kh;
      let oh = px / p.wo;
      let ih = i32(oh * p.sh + r * p.dh) - p.pad_h;
      let iw = i32((px - oh * p.wo) * SW + (k % KW) * DW) - p.pad_w;
      let ok = k < k_len && px < hw && ih >= 0 && ih < i32(p.h) && iw >= 0 && iw < i32(p.w);
      let row = (nimg * p.cin + min(ci, p.cin - 1u)) * p.h + u32(clamp(ih, 0, i32(p.h) - 1));
      tile_x[e] = select(0.0, x[row * p.w + u32(clamp(iw, 0, i32(p.w) - 1))], ok);
    }
    workgroupBarrier();
    for (var k = 0u; k < CK; k++) {
      let o = k * CT + lid.x * 4u;
      let xv = vec4<f32>(tile_x[o], tile_x[o + 1u], tile_x[o + 2u], tile_x[o + 3u]);
      for (var i = 0u; i < 4u; i++) { acc[i] += tile_w[(lid.y * 4u + i) * CK + k] * xv; }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let co = co0 + lid.y * 4u + i;
    if (co >= p.cout) { break; }
    var b = 0.0;
    if (p.has_bias != 0u) { b = bias[co]; }
    let base = (nimg * p.cout + co) * hw;
    for (var j = 0u; j < 4u; j++) {
      let px = px0 + lid.x * 4u + j;
      if (px < hw) {
        let v = acc[i][j] + b;
        out[base + px] = activate(v, p.act);
      }
    }
  }
}
