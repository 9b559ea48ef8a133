// fwd_v4 with the weights shared across a subgroup (shaders/conv2d.wgsl, included, has the
// rest of the family). A file of its own because `enable subgroups;` makes a whole module need the
// device feature.
//
// Why: every lane of a fwd_v4 workgroup reads the same 2·KW weight vec4 per (input channel,
// kernel row), and lavapipe (Mesa 25.0) loads each of them as a per-lane loop anyway; with those
// loads removed the kernel ran 1.7-2.3x faster. Here lane l < 2·KW loads vec4 l (tap l / 2,
// channel half l % 2) and every lane takes them by subgroupShuffle, a register permute. Needs
// subgroups of at least 2·KW lanes; a workgroup's lanes share their output channels (wid.y) and
// walk the (channel, kernel row) loops in step, so any subgroup split of it works.
enable subgroups;
// The early exit below is taken by whole subgroups only (subgroupAll), so the shuffles after it
// still run in subgroup-uniform control flow; WGSL's analysis cannot see that.
diagnostic(off, subgroup_uniformity);

// #include "conv2d.wgsl"

// acc += the thread's PX pixels x 8 channels over the KW taps of one (channel, kernel row); wv is
// this lane's weight vec4 (see above).
fn accumulate_taps_sg(acc0: ptr<function, array<vec4<f32>, PXMAX>>, acc1: ptr<function, array<vec4<f32>, PXMAX>>,
                      seg: array<f32, SEGMAX>, wv: vec4<f32>) {
  for (var kw = 0u; kw < KW; kw++) {
    let w0 = subgroupShuffle(wv, 2u * kw);
    let w1 = subgroupShuffle(wv, 2u * kw + 1u);
    for (var j = 0u; j < PX; j++) {
      let v = seg[j * SW + kw * DW];
      (*acc0)[j] += v * w0;
      (*acc1)[j] += v * w1;
    }
  }
}

// A fwd_v4_sg thread: its block (lanes past the last work on a clamped one and store nothing:
// every lane of a subgroup must take part in the shuffles), whether it has one, and the weight
// vec4 this lane loads for each (channel, kernel row). Computed before the subgroup's early exit:
// so the kernel ran 0.77-0.92 of its time at Cin >= 24 on lavapipe (alternated runs,
// bench/RESULTS.md), compile time unchanged; LLVM's reason was not traced.
struct SgThread { at: FwdAt, live: bool, wo: u32 }

fn sg_thread(wid: vec3<u32>, lid: u32, sl: u32) -> SgThread {
  let blocks = p.wblocks * p.ho;
  let t = wid.x * 64u + lid;
  let at = fwd_at(wid, min(t, max(blocks, 1u) - 1u));
  let wl = min(sl, 2u * KW - 1u);
  return SgThread(at, t < blocks, at.cq + (wl / 2u) * (p.cout8 / 4u) + wl % 2u);
}

@compute @workgroup_size(64)
fn fwd_v4_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(subgroup_invocation_id) sl: u32) {
  let th = sg_thread(wid, lid, sl);
  if (subgroupAll(!th.live)) { return; } // a subgroup with no block at all leaves
  let q8 = p.cout8 / 4u;
  var acc0: array<vec4<f32>, PXMAX>;
  var acc1: array<vec4<f32>, PXMAX>;
  for (var ci = 0u; ci < p.cin; ci++) {
    for (var kh = 0u; kh < p.kh; kh++) {
      let seg = x_window(x_row(th.at, ci, kh), th.at.iw0 - i32(XPH));
      accumulate_taps_sg(&acc0, &acc1, seg, wt_v4[(ci * p.kh + kh) * KW * q8 + th.wo]);
    }
  }
  if (th.live) { store_px(th.at.nimg, th.at.cq * 4u, th.at.oh, th.at.ow0, acc0, acc1); }
}
