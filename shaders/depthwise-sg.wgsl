// fwd_v4 with the filter shared across a subgroup (shaders/depthwise.wgsl, included, has the
// rest of the family). A file of its own because `enable subgroups;` makes a whole module need the
// device feature.
//
// Why: the blocked forward reads K taps of the filter for every (input row, output row) pair of a
// block, K·K·BH per block, each a per-lane loop on lavapipe (Mesa 25.0), about as many loads as
// the input rows themselves; without them the kernel ran 1.1-1.8x faster. Here the lanes of a
// plane, in groups of H = min(TPP, 8) consecutive lanes, hold its filter: lane i of a group holds
// taps i, i + H, ... (NQ of them), and every lane reads a tap by subgroupShuffle from its group.
// Needs subgroups of at least H lanes (groups never straddle two). Every lane walks every input
// row (rows outside the image read as zeros) so that all of them take part in the shuffles.
enable subgroups;
// The early exit below is taken by whole subgroups only (subgroupAll), so the shuffles after it
// still run in subgroup-uniform control flow; WGSL's analysis cannot see that.
diagnostic(off, subgroup_uniformity);

// #include "depthwise.wgsl"

override H: u32 = 8u;  // lanes holding one copy of a plane's filter: min(TPP, 8)
override NQ: u32 = 2u; // ceil(K·K / H): filter taps each lane holds (at most 7)

// Filter tap `tap` (the same for every lane) of this lane's plane: slot tap / H of lane
// base + tap % H, base being the first lane of this lane's group.
fn tap_of(w: array<f32, 7>, tap: u32, base: u32) -> f32 {
  let lane = base + tap % H;
  var v = subgroupShuffle(w[0], lane);
  for (var q = 1u; q < NQ; q++) {
    v = select(v, subgroupShuffle(w[q], lane), tap / H == q);
  }
  return v;
}

// accumulate_row with the taps from the subgroup (see above).
fn accumulate_row_sg(acc: ptr<function, array<f32, MAX_ACC>>, row: array<f32, MAX_SPAN>, j: u32, w: array<f32, 7>,
                     base: u32) {
  for (var r = 0u; r < BH; r++) {
    let dy = i32(j) - i32(r * S);
    if (dy >= 0 && dy % i32(D) == 0 && dy / i32(D) < i32(K)) {
      let ky = u32(dy) / D;
      for (var kx = 0u; kx < K; kx++) {
        let wv = tap_of(w, ky * K + kx, base);
        for (var b = 0u; b < BW; b++) {
          (*acc)[r * BW + b] = fma(wv, row[b * S + kx * D], (*acc)[r * BW + b]);
        }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn fwd_v4_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) sl: u32) {
  let it = forward_item(wid, lid, nwg);
  let live = it.x < p.planes && it.y < p.tiles;
  if (subgroupAll(!live)) { return; }
  let plane = min(it.x, p.planes - 1u);
  let at = block_at(plane, min(it.y, p.tiles - 1u));
  var w: array<f32, 7>;
  for (var q = 0u; q < NQ; q++) { w[q] = wt[at.wb + min(H * q + sl % H, K * K - 1u)]; }
  let base = sl - sl % H;
  var acc: array<f32, MAX_ACC>;
  for (var j = 0u; j < p.rows; j++) {
    let iy = at.iy0 + i32(j);
    let row = x_window4(at.xb + u32(clamp(iy, 0, i32(p.h) - 1)) * p.w, at.ix0, iy >= 0 && iy < i32(p.h));
    accumulate_row_sg(&acc, row, j, w, base);
  }
  if (live) { store_block4(finish_block(plane, at, acc)); }
}
