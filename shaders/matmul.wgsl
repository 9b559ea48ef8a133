// Batched matrix multiply C[z] = op(A[z]) · op(B[z]) (+ bias), op = optional transpose.
// A is stored [M, K] (or [K, M] when ta), B is stored [K, N] (or [N, K] when tb), C is [M, N];
// consecutive batches are a_bs / b_bs / c_bs elements apart (0 = broadcast a single matrix).
// `reduce` sums every batch into one C: the grid's z then splits K into `splits` chunks, each writing
// its partial sum to slice z of C (c_bs apart), and `sum_splits` adds the slices (split-K;
// `sum_splits_v4` where N % 4 == 0).
//
// Entry points (same bindings by name; 32 x 32 output tile per 8 x 8 workgroup, 4 x 4 per thread,
// except fwd_rows):
//   fwd_vec4   vec4 loads of both operands: needs K % 4 == 0, M % 4 == 0 when ta, N % 4 == 0 when !tb.
//             Fastest on lavapipe, where every storage load is a per-lane scalar loop.
//   fwd_scalar same register blocking with scalar strided loads: any M, N, K.
//   fwd_tiled  classic shared-memory tiling (16-deep K tiles): for real GPUs.
//   fwd_rows   8 x 256 tile per 64-wide workgroup, A rows uniform per workgroup (below).
//   fwd_subgroup     in shaders/matmul-sg.wgsl (needs the 'subgroups' feature): A rows shared by subgroup
//             broadcasts, 16 x 4 per thread; the default wherever it can run (3x fwd_vec4 on lavapipe);
//             fwd_subgroup_ragged there takes B and C rows that do not start on vec4 boundaries, and
//             fwd_smallk products with K <= 32 (whole K in registers, B shared by broadcasts).

struct Params {
  m: u32,
  n: u32,
  k: u32,
  batches: u32,  // grid z (batched) or number of batches summed (reduce)
  lda: u32,      // row stride of the stored A
  ldb: u32,      // row stride of the stored B
  a_bs: u32,
  b_bs: u32,
  c_bs: u32,
  k_chunk: u32,  // reduce: K range per split (a multiple of 4)
  splits: u32,   // sum_splits: number of partial slices
  ta: u32,       // A stored transposed ([K, M])
  tb: u32,       // B stored transposed ([N, K])
  reduce: u32,   // sum all batches into one C (split-K over the grid's z)
  bias_mode: u32, // 0 none, 1 per row (bias[m])
  ln: u32,        // fwd_subgroup only: lanes along N per row block (a uniform, not an override, so one
                  // pipeline serves every N: lavapipe compiles fwd_subgroup slowly)
  act: u32,       // what is stored goes through activate() (after the bias and addend): 1 ReLU6, 2 ReLU
  add_mode: u32,  // 1: addend[i] added to what is stored at C[i] (after the bias, before the ReLU6): a
                  // residual connection fused into its convolution (fwd_subgroup: see adds())
  col_period: u32, // fwd_subgroup, sum_splits: 0, or C's columns n with n % col_period >= col_valid
  col_valid: u32,  // are stored as 0 (see kept4)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> a_v4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> b_v4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> bias: array<f32>;
@group(0) @binding(6) var<storage, read> parts: array<f32>;
@group(0) @binding(7) var<storage, read_write> c: array<f32>;
@group(0) @binding(8) var<storage, read_write> c_v4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> addend: array<f32>;
@group(0) @binding(10) var<storage, read> addend_v4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> parts_v4: array<vec4<f32>>;

// Transposes, bias and the reduction are uniforms, not overrides: they only pick strides and
// register renames, so one pipeline per entry point serves every call (lavapipe compiles slowly).

// Batches and K range this invocation covers: [zb, ze) x [kb, ke); `out` = C slice it writes.
struct Range { zb: u32, ze: u32, kb: u32, ke: u32, out: u32 }

fn range_of(z: u32) -> Range {
  if (p.reduce != 0u) {
    let kb = z * p.k_chunk;
    return Range(0u, p.batches, kb, min(p.k, kb + p.k_chunk), z * p.c_bs);
  }
  return Range(z, z + 1u, 0u, p.k, z * p.c_bs);
}

// #include "_activation.wgsl"

// The fused activation (p.act), applied to stored values after the bias.
fn act(v: f32) -> f32 { return activate(v, p.act); }
fn act4(v: vec4<f32>) -> vec4<f32> { return activate4(v, p.act); }

// Which of columns n0..n0+3 keep their value (fwd_subgroup, sum_splits): all unless p.col_period
// is set, when column n is stored as 0 where n % col_period >= col_valid. A feature map whose rows
// are padded to a multiple of 4 (src/models/row-padding.ts) needs its pad columns to read as the
// zero padding of the depthwise convolution that follows. A select, not a product: what the pad
// columns computed is never used, and 0 · inf would be NaN. col_period is a multiple of 4 (gemm
// checks) and n0 one too where all four are used, so one division serves the four columns: per
// lane on lavapipe, four cost fwd_subgroup's compile ~40 ms.
fn kept4(n0: u32) -> vec4<bool> {
  if (p.col_period == 0u) { return vec4<bool>(true); }
  return vec4<u32>(n0 % p.col_period) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.col_valid);
}

fn store_row(base: u32, m: u32, n0: u32, v: vec4<f32>) {
  if (m >= p.m) { return; }
  var r = v;
  if (p.bias_mode == 1u) { r += vec4<f32>(bias[m]); }
  let o = base + m * p.n + n0;
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < p.n) {
      var v = r[j];
      if (p.add_mode == 1u) { v += addend[o + j]; }
      c[o + j] = act(v);
    }
  }
}

// The 4 x 4 block of one fwd_vec4 invocation, before it is stored.
struct Block { acc: array<vec4<f32>, 4>, m0: u32, n0: u32, out: u32 }

fn vec4_block(wid: vec3<u32>, lid: vec3<u32>) -> Block {
  let m0 = (wid.y * 8u + lid.y) * 4u;
  let n0 = (wid.x * 8u + lid.x) * 4u;
  let rg = range_of(wid.z);
  let TA = p.ta != 0u;
  let TB = p.tb != 0u;
  let lda4 = p.lda / 4u;
  let ldb4 = p.ldb / 4u;
  // vec4 index step per 4-deep k block
  let sa = select(1u, 4u * lda4, TA);
  let sb = select(4u * ldb4, 1u, TB);
  var acc: array<vec4<f32>, 4>;
  for (var z = rg.zb; z < rg.ze; z++) {
    var ra: vec4<u32>;
    var rb: vec4<u32>;
    for (var i = 0u; i < 4u; i++) {
      // !TA: row m0+i of A (vec4 over k); TA: row k+i of the stored [K, M] (vec4 over m0..m0+3)
      ra[i] = select((z * p.a_bs + min(m0 + i, p.m - 1u) * p.lda) / 4u, (z * p.a_bs + min(m0, p.m - 4u)) / 4u + i * lda4, TA);
      rb[i] = select((z * p.b_bs + min(n0, p.n - 4u)) / 4u + i * ldb4, (z * p.b_bs + min(n0 + i, p.n - 1u) * p.ldb) / 4u, TB);
    }
    for (var kq = rg.kb / 4u; kq < rg.ke / 4u; kq++) {
      var am = mat4x4<f32>(a_v4[ra.x + kq * sa], a_v4[ra.y + kq * sa], a_v4[ra.z + kq * sa], a_v4[ra.w + kq * sa]);
      var bm = mat4x4<f32>(b_v4[rb.x + kq * sb], b_v4[rb.y + kq * sb], b_v4[rb.z + kq * sb], b_v4[rb.w + kq * sb]);
      if (TA) { am = transpose(am); } // am[i]: row i over the 4 k (uniform branch)
      if (TB) { bm = transpose(bm); } // bm[j]: k-step j over the 4 n
      acc[0] += bm * am[0];
      acc[1] += bm * am[1];
      acc[2] += bm * am[2];
      acc[3] += bm * am[3];
    }
  }
  return Block(acc, m0, n0, rg.out);
}

@compute @workgroup_size(8, 8)
fn fwd_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let blk = vec4_block(wid, lid);
  for (var i = 0u; i < 4u; i++) { store_row(blk.out, blk.m0 + i, blk.n0, blk.acc[i]); }
}

// fwd_vec4 with one vec4 store per row instead of four scalar ones (N % 4 == 0): with a short K
// (1x1 convolutions of 16-32 channels) the stores are a third of the storage accesses.
@compute @workgroup_size(8, 8)
fn fwd_vec4_st4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let blk = vec4_block(wid, lid);
  if (blk.n0 >= p.n) { return; }
  for (var i = 0u; i < 4u; i++) {
    let m = blk.m0 + i;
    if (m < p.m) {
      var r = blk.acc[i];
      if (p.bias_mode == 1u) { r += vec4<f32>(bias[m]); }
      let o = (blk.out + m * p.n + blk.n0) / 4u;
      if (p.add_mode == 1u) { r += addend_v4[o]; }
      c_v4[o] = act4(r);
    }
  }
}

// 8 rows x 256 columns per 64-wide workgroup, each invocation 8 x 4: the A rows depend on the
// workgroup id only, so a GPU can load them once per workgroup as uniforms and gather only B per
// lane — 8 FMAs per gathered value instead of fwd_vec4's 4 x 4 block's 2 (a tuning candidate:
// lavapipe, Mesa 25.0.7, still loads them lane by lane; fwd_subgroup shares them by shuffle).
// Same alignment needs as fwd_vec4, plus M % 4 == 0 when ta.
@compute @workgroup_size(64)
fn fwd_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n0 = (wid.x * 64u + lid.x) * 4u;
  let m0 = wid.y * 8u;
  let rg = range_of(wid.z);
  let TA = p.ta != 0u;
  let TB = p.tb != 0u;
  let lda4 = p.lda / 4u;
  let ldb4 = p.ldb / 4u;
  let sb = select(4u * ldb4, 1u, TB);
  var acc: array<vec4<f32>, 8>;
  for (var z = rg.zb; z < rg.ze; z++) {
    var rb: vec4<u32>;
    for (var i = 0u; i < 4u; i++) {
      rb[i] = select((z * p.b_bs + min(n0, p.n - 4u)) / 4u + i * ldb4, (z * p.b_bs + min(n0 + i, p.n - 1u) * p.ldb) / 4u, TB);
    }
    let abase = z * p.a_bs / 4u;
    for (var kq = rg.kb / 4u; kq < rg.ke / 4u; kq++) {
      var bm = mat4x4<f32>(b_v4[rb.x + kq * sb], b_v4[rb.y + kq * sb], b_v4[rb.z + kq * sb], b_v4[rb.w + kq * sb]);
      if (TB) { bm = transpose(bm); } // bm[j]: k-step j over the 4 n
      if (TA) {
        // rows 4kq..4kq+3 of the stored [K, M], two vec4 over m0..m0+7 each (uniform loads)
        for (var h = 0u; h < 2u; h++) {
          let o = abase + min(m0 + 4u * h, p.m - 4u) / 4u + 4u * kq * lda4;
          let am = transpose(mat4x4<f32>(a_v4[o], a_v4[o + lda4], a_v4[o + 2u * lda4], a_v4[o + 3u * lda4]));
          for (var i = 0u; i < 4u; i++) { acc[4u * h + i] += bm * am[i]; }
        }
      } else {
        for (var i = 0u; i < 8u; i++) {
          acc[i] += bm * a_v4[abase + min(m0 + i, p.m - 1u) * lda4 + kq];
        }
      }
    }
  }
  for (var i = 0u; i < 8u; i++) { store_row(rg.out, m0 + i, n0, acc[i]); }
}

// Element strides of the stored operands for the scalar-load kernels:
// A(m, k) = a[z·a_bs + m·am + k·ka], B(k, n) = b[z·b_bs + n·bn + k·kb].
struct Strides { ka: u32, kb: u32, am: u32, bn: u32 }

fn strides() -> Strides {
  let TA = p.ta != 0u;
  let TB = p.tb != 0u;
  return Strides(select(1u, p.lda, TA), select(p.ldb, 1u, TB), select(p.lda, 1u, TA), select(1u, p.ldb, TB));
}

@compute @workgroup_size(8, 8)
fn fwd_scalar(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = (wid.y * 8u + lid.y) * 4u;
  let n0 = (wid.x * 8u + lid.x) * 4u;
  let rg = range_of(wid.z);
  let st = strides();
  var acc: array<vec4<f32>, 4>;
  for (var z = rg.zb; z < rg.ze; z++) {
    var ra: vec4<u32>;
    var rb: vec4<u32>;
    for (var i = 0u; i < 4u; i++) {
      ra[i] = z * p.a_bs + min(m0 + i, p.m - 1u) * st.am;
      rb[i] = z * p.b_bs + min(n0 + i, p.n - 1u) * st.bn;
    }
    let k4 = rg.kb + ((rg.ke - rg.kb) & ~3u);
    for (var k = rg.kb; k < k4; k += 4u) {
      var am: mat4x4<f32>;
      var bm: mat4x4<f32>;
      for (var j = 0u; j < 4u; j++) {
        let oa = (k + j) * st.ka;
        let ob = (k + j) * st.kb;
        am[j] = vec4<f32>(a[ra.x + oa], a[ra.y + oa], a[ra.z + oa], a[ra.w + oa]);
        bm[j] = vec4<f32>(b[rb.x + ob], b[rb.y + ob], b[rb.z + ob], b[rb.w + ob]);
      }
      am = transpose(am);
      acc[0] += bm * am[0];
      acc[1] += bm * am[1];
      acc[2] += bm * am[2];
      acc[3] += bm * am[3];
    }
    for (var k = k4; k < rg.ke; k++) {
      let oa = k * st.ka;
      let ob = k * st.kb;
      let bv = vec4<f32>(b[rb.x + ob], b[rb.y + ob], b[rb.z + ob], b[rb.w + ob]);
      acc[0] += a[ra.x + oa] * bv;
      acc[1] += a[ra.y + oa] * bv;
      acc[2] += a[ra.z + oa] * bv;
      acc[3] += a[ra.w + oa] * bv;
    }
  }
  for (var i = 0u; i < 4u; i++) { store_row(rg.out, m0 + i, n0, acc[i]); }
}

const TK = 16u;
var<workgroup> ta: array<f32, 512>; // 32 rows x TK
var<workgroup> tb: array<f32, 512>; // TK x 32 columns

@compute @workgroup_size(8, 8)
fn fwd_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
  let mt = wid.y * 32u;
  let nt = wid.x * 32u;
  let rg = range_of(wid.z);
  let st = strides();
  var acc: array<vec4<f32>, 4>;
  for (var z = rg.zb; z < rg.ze; z++) {
    for (var k0 = rg.kb; k0 < rg.ke; k0 += TK) {
      for (var e = li; e < 512u; e += 64u) {
        let r = e / TK;
        let kk = k0 + e % TK;
        let m = mt + r;
        ta[e] = select(0.0, a[z * p.a_bs + min(m, p.m - 1u) * st.am + min(kk, rg.ke - 1u) * st.ka], m < p.m && kk < rg.ke);
        let kr = k0 + e / 32u;
        let n = nt + e % 32u;
        tb[e] = select(0.0, b[z * p.b_bs + min(kr, rg.ke - 1u) * st.kb + min(n, p.n - 1u) * st.bn], n < p.n && kr < rg.ke);
      }
      workgroupBarrier();
      for (var kk = 0u; kk < TK; kk++) {
        let o = kk * 32u + lid.x * 4u;
        let bv = vec4<f32>(tb[o], tb[o + 1u], tb[o + 2u], tb[o + 3u]);
        for (var i = 0u; i < 4u; i++) { acc[i] += ta[(lid.y * 4u + i) * TK + kk] * bv; }
      }
      workgroupBarrier();
    }
  }
  for (var i = 0u; i < 4u; i++) { store_row(rg.out, mt + lid.y * 4u + i, nt + lid.x * 4u, acc[i]); }
}

// c[i] = sum over s < splits of parts[s * c_bs + i] (+ bias, + addend): the second pass of split-K.
@compute @workgroup_size(256)
fn sum_splits(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.c_bs) { return; }
  var s = 0.0;
  for (var j = 0u; j < p.splits; j++) { s += parts[j * p.c_bs + i]; }
  if (p.bias_mode == 1u) { s += bias[i / p.n]; }
  if (p.add_mode == 1u) { s += addend[i]; }
  c[i] = select(0.0, act(s), kept4(i % p.n).x);
}

// sum_splits over vec4 (N % 4 == 0: a vec4 never straddles two rows): a quarter of the threads,
// loads and stores, where the pass is mostly launch and per-lane memory loops (lavapipe).
@compute @workgroup_size(256)
fn sum_splits_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = (wid.y * nwg.x + wid.x) * 256u + lid;
  let count = p.c_bs / 4u;
  if (q >= count) { return; }
  var s = vec4<f32>(0.0);
  for (var j = 0u; j < p.splits; j++) { s += parts_v4[j * count + q]; }
  let i = 4u * q;
  if (p.bias_mode == 1u) { s += vec4<f32>(bias[i / p.n]); }
  if (p.add_mode == 1u) { s += addend_v4[q]; }
  c_v4[q] = select(vec4<f32>(0.0), act4(s), kept4(i % p.n));
}
