// Batched matrix multiply with subgroup shuffles: the `subgroup` variant of shaders/matmul.wgsl,
// which it includes (Params, bindings, range_of; sum_splits finishes a split-K). A file of its own
// because `enable subgroups;` makes a whole module need the device feature.
//
// Why: lavapipe (Mesa 25.0) turns a storage load whose address is not a compile-time constant into
// a loop over the 8 SIMD lanes with a bounds check per lane, even when every lane reads the same
// address, while reading another lane's value is a register permute. So the lanes of a
// subgroup split the A values they all need: lane l loads the rows ≡ l (mod G) of its row block,
// and every lane reads them from there (subgroupShuffle from a constant lane: one permute on
// 8-lane AVX2). A thread owns R = G·RG rows × 4 columns (G = 8, or 4 on adapters whose subgroups
// may be 4 wide: SwiftShader); per 4-deep k step it loads RG + 4 vec4 for 16·R multiply-adds
// (fwd_vec4: 8 for 64).
//
// Needs subgroups of at least G invocations, all in one row block: a workgroup is LN = p.ln lanes
// along N times 64 / LN row blocks, with LN at least the adapter's largest subgroup size (subgroups
// are runs of consecutive local invocation indices). TA is an override: lavapipe runs both sides of
// a branch, and the transposed A path has shuffles of its own.
//
// fwd_subgroup_ragged (AB = false) serves products whose B and C rows do not start on vec4
// boundaries (N, or B's batch stride, not a multiple of 4: MobileNetV2's 7×7 layers at 224, where
// H·W = 49): B's rows picked out of pairs of vec4, C stored as scalars, columns past N masked. A entry of its own, as C
// is written through the scalar view there and the vec4 view in fwd_subgroup (two writable views
// of one buffer may not be bound together).
//
// fwd_smallk serves products with K <= 32 (the 1×1 convolutions out of few channels: MobileNetV2's
// expand layers) where subgroups are 8 wide: a workgroup is one subgroup, each lane owns 4 rows
// and holds their whole K in registers, and the workgroup walks a run of columns 4 at a time;
// B's K rows at those columns are loaded once, K / 8 vec4 a lane, and shared by shuffles. Per
// output 1.5-2 loaded or stored values instead of fwd_subgroup's 2.5-4 (K = 16..32), on lavapipe
// where each costs ~10 instructions a lane. No addend (gemm runs such products on fwd_subgroup:
// a residual add cost ~50 ms of the pipeline's compile).
enable subgroups;
// idle_subgroup's early return is decided by subgroupAll, alike for every lane of a subgroup, which
// the uniformity analysis does not know: every later shuffle is reached by all its lanes or none.
diagnostic(off, subgroup_uniformity);

// #include "matmul.wgsl"

override RG: u32 = 2u;      // row groups per thread (1..4)
override G: u32 = 8u;       // rows per group = lanes sharing them: 8, or 4 where subgroups can be 4 wide
override TA: bool = false;  // A stored [K, M] (needs M % 4 == 0)
override AB: bool = true;   // B rows start on vec4 boundaries (false: b_rows_shifted; needs !TB)
override ADD: bool = false; // addend added with TA (see adds)

// Lane i's value of v for i < G (entries past G are unused).
fn lanes(v: vec4<f32>) -> array<vec4<f32>, 8> {
  var r: array<vec4<f32>, 8>;
  r[0] = subgroupShuffle(v, 0u);
  r[1] = subgroupShuffle(v, 1u);
  r[2] = subgroupShuffle(v, 2u);
  r[3] = subgroupShuffle(v, 3u);
  if (G == 8u) {
    r[4] = subgroupShuffle(v, 4u);
    r[5] = subgroupShuffle(v, 5u);
    r[6] = subgroupShuffle(v, 6u);
    r[7] = subgroupShuffle(v, 7u);
  }
  return r;
}

// Rows 0..G-1 of a row group over the 4 k of a step, from v, what this lane loaded: !TA: row l of
// the group; TA: stored row 4kq + l % 4 at the group's columns 4(l / 4)..+3, so row i's k-step j
// is component i % 4 of lane j + 4(i / 4).
fn rows(v: vec4<f32>) -> array<vec4<f32>, 8> {
  let l = lanes(v);
  if (!TA) { return l; }
  return array<vec4<f32>, 8>(
    vec4<f32>(l[0].x, l[1].x, l[2].x, l[3].x), vec4<f32>(l[0].y, l[1].y, l[2].y, l[3].y),
    vec4<f32>(l[0].z, l[1].z, l[2].z, l[3].z), vec4<f32>(l[0].w, l[1].w, l[2].w, l[3].w),
    vec4<f32>(l[4].x, l[5].x, l[6].x, l[7].x), vec4<f32>(l[4].y, l[5].y, l[6].y, l[7].y),
    vec4<f32>(l[4].z, l[5].z, l[6].z, l[7].z), vec4<f32>(l[4].w, l[5].w, l[6].w, l[7].w));
}

// acc[i] += bm · row i of a group. Written out: lavapipe keeps an array in registers only while
// every index is a constant, and loops of this size are not unrolled for it.
fn fma_rows(acc: ptr<function, array<vec4<f32>, 8>>, bm: mat4x4<f32>, v: vec4<f32>) {
  let r = rows(v);
  (*acc)[0] += bm * r[0];
  (*acc)[1] += bm * r[1];
  (*acc)[2] += bm * r[2];
  (*acc)[3] += bm * r[3];
  if (G == 8u) {
    (*acc)[4] += bm * r[4];
    (*acc)[5] += bm * r[5];
    (*acc)[6] += bm * r[6];
    (*acc)[7] += bm * r[7];
  }
}

// Whether this invocation adds the addend (same layout as C) before the activation: a residual
// fused into its convolution. p.add_mode where A is not transposed: the pipeline inference uses
// serves products with and without one (a second pipeline cost 0.76 s of a cold start on
// lavapipe, and the untaken uniform branch no measurable time); the ADD override elsewhere.
fn adds() -> bool { return ADD || (!TA && p.add_mode == 1u); }

// Stores row m (when < M) of a group: v plus its bias rb, through the activation unless adds(), in
// which case add_rows finishes it; columns not `kept` (kept4) as 0.
fn store_row4(out: u32, m: u32, n0: u32, v: vec4<f32>, rb: f32, kept: vec4<bool>) {
  if (m < p.m) {
    let r = v + vec4<f32>(rb);
    c_v4[(out + m * p.n + n0) / 4u] = select(vec4<f32>(0.0), select(act4(r), r, adds()), kept);
  }
}

// store_row4 for rows that may not start on a vec4 boundary: scalars, columns past N left alone
// (n0 itself is below N: the caller returned before otherwise).
fn store_row4_ragged(out: u32, m: u32, n0: u32, v: vec4<f32>, rb: f32) {
  if (m >= p.m) { return; }
  let o = out + m * p.n + n0;
  let s = v + vec4<f32>(rb);
  let r = select(act4(s), s, adds());
  c[o] = r.x;
  if (n0 + 1u < p.n) { c[o + 1u] = r.y; }
  if (n0 + 2u < p.n) { c[o + 2u] = r.z; }
  if (n0 + 3u < p.n) { c[o + 3u] = r.w; }
}

// Where adds(): the addend into the G·RG rows from m0 this invocation stored, then the activation.
// A loop after the stores rather than a load in each of the G·RG unrolled ones: lavapipe compiles
// the pipeline (LLVM, at its first dispatch) in 0.52-0.55 s so, in 0.88-0.92 s with the loads in
// the stores (one 1×1 conv in a fresh process, Mesa's cache off), and the rows read back here were
// written by this invocation a moment before (no slower at batch 1, bench/RESULTS.md).
fn add_rows(out: u32, m0: u32, n0: u32, kept: vec4<bool>) {
  if (!adds()) { return; }
  for (var m = m0; m < min(m0 + G * RG, p.m); m++) {
    let i = (out + m * p.n + n0) / 4u;
    c_v4[i] = select(vec4<f32>(0.0), act4(c_v4[i] + addend_v4[i]), kept);
  }
}

fn add_rows_ragged(out: u32, m0: u32, n0: u32) {
  if (!adds()) { return; }
  for (var m = m0; m < min(m0 + G * RG, p.m); m++) {
    for (var j = n0; j < min(n0 + 4u, p.n); j++) {
      let i = out + m * p.n + j;
      c[i] = act(c[i] + addend[i]);
    }
  }
}

// Stores rows m0..m0+G-1 of a group; rb[i]: row i's bias; `kept`: kept4(n0), computed once for
// every group (a division per lane). Written out with constant indices, and the biases loaded
// before (see fwd_subgroup): a loop over acc[i], or a load in each row's branch, makes lavapipe's
// compile (LLVM, at the first dispatch) several times slower.
fn store_rows(out: u32, m0: u32, n0: u32, acc: array<vec4<f32>, 8>, rb: array<f32, 8>, kept: vec4<bool>) {
  store_row4(out, m0, n0, acc[0], rb[0], kept);
  store_row4(out, m0 + 1u, n0, acc[1], rb[1], kept);
  store_row4(out, m0 + 2u, n0, acc[2], rb[2], kept);
  store_row4(out, m0 + 3u, n0, acc[3], rb[3], kept);
  if (G == 8u) {
    store_row4(out, m0 + 4u, n0, acc[4], rb[4], kept);
    store_row4(out, m0 + 5u, n0, acc[5], rb[5], kept);
    store_row4(out, m0 + 6u, n0, acc[6], rb[6], kept);
    store_row4(out, m0 + 7u, n0, acc[7], rb[7], kept);
  }
}

fn store_rows_ragged(out: u32, m0: u32, n0: u32, acc: array<vec4<f32>, 8>, rb: array<f32, 8>) {
  store_row4_ragged(out, m0, n0, acc[0], rb[0]);
  store_row4_ragged(out, m0 + 1u, n0, acc[1], rb[1]);
  store_row4_ragged(out, m0 + 2u, n0, acc[2], rb[2]);
  store_row4_ragged(out, m0 + 3u, n0, acc[3], rb[3]);
  if (G == 8u) {
    store_row4_ragged(out, m0 + 4u, n0, acc[4], rb[4]);
    store_row4_ragged(out, m0 + 5u, n0, acc[5], rb[5]);
    store_row4_ragged(out, m0 + 6u, n0, acc[6], rb[6]);
    store_row4_ragged(out, m0 + 7u, n0, acc[7], rb[7]);
  }
}

// Row group g's biases (zeros when bias_mode is 0): lane l loads row l, every lane reads them all.
fn row_bias(m0: u32, g: u32, l: u32) -> array<f32, 8> {
  let v = lanes(vec4<f32>(select(0.0, bias[min(m0 + G * g + l, p.m - 1u)], p.bias_mode == 1u)));
  return array<f32, 8>(v[0].x, v[1].x, v[2].x, v[3].x, v[4].x, v[5].x, v[6].x, v[7].x);
}

// vec4 index of what lane l (of G) loads for row group g at k = 0 (see rows).
fn a_origin(z: u32, m0: u32, g: u32, l: u32) -> u32 {
  let row = m0 + G * g;
  if (TA) { return (z * p.a_bs + min(row + 4u * (l / 4u), p.m - 4u)) / 4u + (l % 4u) * (p.lda / 4u); }
  return (z * p.a_bs + min(row + l, p.m - 1u) * p.lda) / 4u;
}

// The columns n0..n0+3 and first row m0 one invocation owns, and its lane within a row group.
struct Owned { n0: u32, m0: u32, l: u32 }

fn owned(wid: vec3<u32>, lid: u32, sl: u32) -> Owned {
  return Owned((wid.x * p.ln + lid % p.ln) * 4u, (wid.y * (64u / p.ln) + lid / p.ln) * G * RG, sl % G);
}

// Whether no lane of the invocation's subgroup owns anything: columns all past N, or rows past M.
// Such subgroups return at once instead of computing on clamped addresses: N = 196 and 784
// (MobileNetV2 at 224) filled 256- and 1024-column tiles. Decided by subgroupAll, alike for every
// lane whatever the order of lanes. Bit-identical; batch 1 at 224 0.5-0.6 ms faster, batch 8 3.7 %
// (alternated in one process).
fn idle_subgroup(o: Owned) -> bool {
  return subgroupAll(o.n0 >= p.n || o.m0 >= p.m);
}

// The 4 values from element 4q + s on, out of the two vec4 that hold them (s < 4).
fn shifted(v0: vec4<f32>, v1: vec4<f32>, s: u32) -> vec4<f32> {
  return select(select(select(v0, vec4<f32>(v0.yzw, v1.x), s == 1u), vec4<f32>(v0.zw, v1.xy), s == 2u), vec4<f32>(v0.w, v1.xyz), s == 3u);
}

// B's rows of a k step where they do not start on vec4 boundaries (AB false): row i's 4 columns
// start at element 4q[i] + s[i], s the same at every k step (a step moves 4 rows, 4·ldb elements).
// Two vec4 loads per row instead of four scalar ones: on lavapipe each load is a loop over the
// SIMD lanes. Bit-identical, 2-11 % faster on MobileNetV2's 7×7 layers (1×1 convs at S=224,
// alternated in one process). Columns past N read what follows the row: they only reach
// accumulators that are never stored (and reads past the binding are clamped by the API).
fn b_rows_shifted(q: vec4<u32>, s: vec4<u32>) -> mat4x4<f32> {
  return mat4x4<f32>(
    shifted(b_v4[q.x], b_v4[q.x + 1u], s.x), shifted(b_v4[q.y], b_v4[q.y + 1u], s.y),
    shifted(b_v4[q.z], b_v4[q.z + 1u], s.z), shifted(b_v4[q.w], b_v4[q.w + 1u], s.w));
}

// The invocation's G·RG × 4 block over its batches and K range, into acc0..acc3 (one per row group).
// No lane returns alone before the loop: every lane of a subgroup must take part in the broadcasts
// (whole idle subgroups do return: idle_subgroup). Lanes past N or M read clamped addresses and
// store nothing.
fn accumulate(o: Owned, rg: Range, acc0: ptr<function, array<vec4<f32>, 8>>, acc1: ptr<function, array<vec4<f32>, 8>>,
              acc2: ptr<function, array<vec4<f32>, 8>>, acc3: ptr<function, array<vec4<f32>, 8>>) {
  let TB = p.tb != 0u;
  let ldb4 = p.ldb / 4u;
  let sa = select(1u, p.lda, TA); // vec4 index step per 4-deep k block
  let sb = select(4u * ldb4, 1u, TB);
  for (var z = rg.zb; z < rg.ze; z++) {
    let ra = vec4<u32>(a_origin(z, o.m0, 0u, o.l), a_origin(z, o.m0, 1u, o.l), a_origin(z, o.m0, 2u, o.l), a_origin(z, o.m0, 3u, o.l));
    var rb: vec4<u32>;
    var bs: vec4<u32>; // AB false: where each B row of a k step starts in its first vec4
    for (var i = 0u; i < 4u; i++) {
      rb[i] = select((z * p.b_bs + min(o.n0, p.n - 4u)) / 4u + i * ldb4, (z * p.b_bs + min(o.n0 + i, p.n - 1u) * p.ldb) / 4u, TB);
      if (!AB) {
        let e = z * p.b_bs + i * p.ldb + o.n0;
        rb[i] = e / 4u;
        bs[i] = e % 4u;
      }
    }
    for (var kq = rg.kb / 4u; kq < rg.ke / 4u; kq++) {
      var bm: mat4x4<f32>;
      if (AB) {
        bm = mat4x4<f32>(b_v4[rb.x + kq * sb], b_v4[rb.y + kq * sb], b_v4[rb.z + kq * sb], b_v4[rb.w + kq * sb]);
        if (TB) { bm = transpose(bm); } // bm[j]: k-step j over the 4 n
      } else {
        bm = b_rows_shifted(rb + vec4<u32>(kq * p.ldb), bs);
      }
      fma_rows(acc0, bm, a_v4[ra.x + kq * sa]);
      if (RG > 1u) { fma_rows(acc1, bm, a_v4[ra.y + kq * sa]); }
      if (RG > 2u) { fma_rows(acc2, bm, a_v4[ra.z + kq * sa]); }
      if (RG > 3u) { fma_rows(acc3, bm, a_v4[ra.w + kq * sa]); }
    }
  }
}

// Every row group's biases. The shuffles of row_bias need every lane: before any return.
fn biases(o: Owned) -> array<array<f32, 8>, 4> {
  var r: array<array<f32, 8>, 4>;
  r[0] = row_bias(o.m0, 0u, o.l);
  if (RG > 1u) { r[1] = row_bias(o.m0, 1u, o.l); }
  if (RG > 2u) { r[2] = row_bias(o.m0, 2u, o.l); }
  if (RG > 3u) { r[3] = row_bias(o.m0, 3u, o.l); }
  return r;
}

@compute @workgroup_size(64)
fn fwd_subgroup(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(subgroup_invocation_id) sl: u32) {
  let o = owned(wid, lid, sl);
  if (idle_subgroup(o)) { return; }
  let rg = range_of(wid.z);
  var acc0: array<vec4<f32>, 8>;
  var acc1: array<vec4<f32>, 8>;
  var acc2: array<vec4<f32>, 8>;
  var acc3: array<vec4<f32>, 8>;
  accumulate(o, rg, &acc0, &acc1, &acc2, &acc3);
  let rb = biases(o);
  if (o.n0 >= p.n) { return; }
  let kept = kept4(o.n0);
  store_rows(rg.out, o.m0, o.n0, acc0, rb[0], kept);
  if (RG > 1u) { store_rows(rg.out, o.m0 + G, o.n0, acc1, rb[1], kept); }
  if (RG > 2u) { store_rows(rg.out, o.m0 + 2u * G, o.n0, acc2, rb[2], kept); }
  if (RG > 3u) { store_rows(rg.out, o.m0 + 3u * G, o.n0, acc3, rb[3], kept); }
  add_rows(rg.out, o.m0, o.n0, kept);
}

@compute @workgroup_size(64)
fn fwd_subgroup_ragged(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(subgroup_invocation_id) sl: u32) {
  let o = owned(wid, lid, sl);
  if (idle_subgroup(o)) { return; }
  let rg = range_of(wid.z);
  var acc0: array<vec4<f32>, 8>;
  var acc1: array<vec4<f32>, 8>;
  var acc2: array<vec4<f32>, 8>;
  var acc3: array<vec4<f32>, 8>;
  accumulate(o, rg, &acc0, &acc1, &acc2, &acc3);
  let rb = biases(o);
  if (o.n0 >= p.n) { return; }
  store_rows_ragged(rg.out, o.m0, o.n0, acc0, rb[0]);
  if (RG > 1u) { store_rows_ragged(rg.out, o.m0 + G, o.n0, acc1, rb[1]); }
  if (RG > 2u) { store_rows_ragged(rg.out, o.m0 + 2u * G, o.n0, acc2, rb[2]); }
  if (RG > 3u) { store_rows_ragged(rg.out, o.m0 + 3u * G, o.n0, acc3, rb[3]); }
  add_rows_ragged(rg.out, o.m0, o.n0);
}

// B's rows 4kq..4kq+3 at the step's columns, out of what the lanes loaded (row k: lane k % 8's
// v[k / 8]), into acc[i] += row i of w times them. Skipped past K (a uniform branch).
fn smallk_fma(acc: ptr<function, array<vec4<f32>, 4>>, v: array<vec4<f32>, 4>, kq: u32, w: mat4x4<f32>) {
  if (4u * kq >= p.k) { return; }
  let j = kq / 2u;
  let l = (kq % 2u) * 4u;
  let x = mat4x4<f32>(subgroupShuffle(v[j], l), subgroupShuffle(v[j], l + 1u), subgroupShuffle(v[j], l + 2u), subgroupShuffle(v[j], l + 3u));
  (*acc)[0] += x * w[0];
  (*acc)[1] += x * w[1];
  (*acc)[2] += x * w[2];
  (*acc)[3] += x * w[3];
}

@compute @workgroup_size(8)
fn fwd_smallk(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sl: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let m0 = (wid.y * 8u + sl) * 4u;
  let rg = range_of(wid.z);
  let rows = min(vec4<u32>(m0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m - 1u));
  let ab = rg.zb * p.a_bs / 4u;
  let lda4 = p.lda / 4u;
  // w[kq], column i: row m0 + i over k = 4kq..4kq+3 (zeros past K). Loaded in a loop with a
  // run-time bound, which stays a loop: unrolled, its 32 vec4 loads made the pipeline take 1.2 s
  // to compile on lavapipe.
  var w = array<mat4x4<f32>, 8>();
  for (var q = 0u; q < p.k; q++) { // column q % 4 of w[q / 4]
    w[q / 4u][q % 4u] = a_v4[ab + rows[q % 4u] * lda4 + q / 4u];
  }
  // Copied out once: read from the loop-indexed array at every step, the kernel ran 10-50 % slower.
  let w0 = w[0];
  let w1 = w[1];
  let w2 = w[2];
  let w3 = w[3];
  let w4 = w[4];
  let w5 = w[5];
  let w6 = w[6];
  let w7 = w[7];
  var rb = vec4<f32>(0.0);
  if (p.bias_mode == 1u) { rb = vec4<f32>(bias[rows.x], bias[rows.y], bias[rows.z], bias[rows.w]); }
  let ldb4 = p.ldb / 4u;
  // This lane loads B rows sl, sl + 8, sl + 16, sl + 24 (clamped to K - 1: rows past K are never read).
  let krow = min(vec4<u32>(sl) + vec4<u32>(0u, 8u, 16u, 24u), vec4<u32>(p.k - 1u)) * ldb4;
  let span = (p.n + 4u * nwg.x - 1u) / (4u * nwg.x) * 4u; // columns per workgroup
  let ne = min(wid.x * span + span, p.n);
  // Column n0's place in its padded row (gemm's zeroColumns; the period is a multiple of 4):
  // carried from step to step, where kept4 would divide per lane at each.
  var col = wid.x * span % max(p.col_period, 1u);
  for (var n0 = wid.x * span; n0 < ne; n0 += 4u) {
    let xb = (rg.zb * p.b_bs + n0) / 4u;
    var v = array<vec4<f32>, 4>();
    v[0] = b_v4[xb + krow.x];
    if (p.k > 8u) { v[1] = b_v4[xb + krow.y]; }
    if (p.k > 16u) { v[2] = b_v4[xb + krow.z]; }
    if (p.k > 24u) { v[3] = b_v4[xb + krow.w]; }
    var acc = array<vec4<f32>, 4>(); // zeroed at every step: a bare declaration is not (shaders/README.md)
    smallk_fma(&acc, v, 0u, w0);
    smallk_fma(&acc, v, 1u, w1);
    smallk_fma(&acc, v, 2u, w2);
    smallk_fma(&acc, v, 3u, w3);
    smallk_fma(&acc, v, 4u, w4);
    smallk_fma(&acc, v, 5u, w5);
    smallk_fma(&acc, v, 6u, w6);
    smallk_fma(&acc, v, 7u, w7);
    let kept = select(vec4<u32>(col) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.col_valid), vec4<bool>(true), p.col_period == 0u);
    col = select(col + 4u, 0u, col + 4u >= p.col_period);
    for (var i = 0u; i < 4u; i++) {
      if (m0 + i < p.m) {
        c_v4[(rg.out + (m0 + i) * p.n + n0) / 4u] = select(vec4<f32>(0.0), act4(acc[i] + vec4<f32>(rb[i])), kept);
      }
    }
  }
}
