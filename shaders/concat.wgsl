// Concatenation and splitting along any axis as strided block copies. Viewing a tensor as
// [outer, axis * inner], each part is a block of `len` contiguous elements in every one of the
// `outer` rows, at column `src_off` of a source row of `src_row` elements and at column
// `dst_off` of a destination row of `dst_row` elements.

struct Params {
  count: u32,   // threads with work
  blocks: u32,  // ceil(row length handled / VEC)
  len: u32,     // elements copied per row
  src_row: u32,
  src_off: u32,
  dst_row: u32,
  dst_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// The _v4 entries count in vec4s (every row, offset and length a multiple of 4 elements) and bind
// the same slots as vec4 arrays: a quarter of the per-lane load and store loops on lavapipe.
// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
@group(0) @binding(1) var<storage, read> src$V: array<$T>;
@group(0) @binding(2) var<storage, read_write> dst$V: array<$T>;
// #end

override WG: u32 = 64u;
// Consecutive elements (vec4s in the _v4 entries) per thread.
override VEC: u32 = 4u;

// #include "_common.wgsl"

// The row and first column of thread t's VEC elements.
fn block_of(t: u32) -> vec2<u32> {
  return vec2<u32>(t / p.blocks, (t % p.blocks) * VEC);
}

// #for (T, V) in (f32, ""), (vec4<f32>, "_v4")
// dst[o, dst_off + r] = src[o, src_off + r] for r < len. Threads: outer * ceil(len / VEC).
@compute @workgroup_size(WG)
fn copy_block$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let o = block_of(t).x;
  let r0 = block_of(t).y;
  let s = o * p.src_row + p.src_off + r0;
  let d = o * p.dst_row + p.dst_off + r0;
  let m = min(VEC, p.len - r0);
  for (var j = 0u; j < m; j++) {
    dst$V[d + j] = src$V[s + j];
  }
}

// Writes every element of dst: src's row (len = src_row elements) at column dst_off, zeros
// elsewhere (the gradient of one split part). Threads: outer * ceil(dst_row / VEC).
@compute @workgroup_size(WG)
fn embed$V(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
         @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_id(wid, lid, nwg);
  if (t >= p.count) { return; }
  let o = block_of(t).x;
  let r0 = block_of(t).y;
  let m = min(VEC, p.dst_row - r0);
  for (var j = 0u; j < m; j++) {
    let r = r0 + j;
    var v = $T(0.0);
    if (r >= p.dst_off && r < p.dst_off + p.len) { v = src$V[o * p.src_row + r - p.dst_off]; }
    dst$V[o * p.dst_row + r] = v;
  }
}
// #end
