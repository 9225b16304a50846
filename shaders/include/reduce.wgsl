// Sum (and max) of one f32 per invocation across a 1-D workgroup of WG invocations, returned
// to all of them. Subgroup variant: subgroupAdd, then one partial per subgroup through workgroup memory
// (subgroups are taken to be runs of consecutive local_invocation_index, as on every driver we
// know). Workgroup variant: a tree over workgroup memory; WG must be a power of two.
// Call from uniform control flow: it contains barriers.

override WG: u32 = 256;

struct Invocation {
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
}

// The flat workgroup index of a grid spread over x and y (see workgroupGrid in gpu/batch.ts).
fn flat_workgroup(inv: Invocation) -> u32 {
  return inv.wg.x + inv.wg.y * inv.nwg.x;
}

var<workgroup> reduce_scratch: array<f32, WG>;

#if SUBGROUPS
// The partials are combined by invocation 0 alone and handed out through one slot: where
// every invocation summed them itself, a CPU device with 4-wide subgroups (SwiftShader) made
// WG * WG / 4 workgroup-memory reads per reduction, most of an RMSNorm's time.
var<workgroup> reduce_result: f32;

fn workgroup_max(value: f32, inv: Invocation) -> f32 {
  let partial = subgroupMax(value);
  if (inv.sg_lane == 0u) {
    reduce_scratch[inv.lid / inv.sg_size] = partial;
  }
  workgroupBarrier();
  if (inv.lid == 0u) {
    var best = reduce_scratch[0];
    let subgroups = (WG + inv.sg_size - 1u) / inv.sg_size;
    for (var i = 1u; i < subgroups; i++) {
      best = max(best, reduce_scratch[i]);
    }
    reduce_result = best;
  }
  workgroupBarrier();
  // Safe to return without a third barrier: the next reduction writes reduce_result only
  // after its first barrier, which every invocation reaches after this read.
  return reduce_result;
}

fn workgroup_sum(value: f32, inv: Invocation) -> f32 {
  let partial = subgroupAdd(value);
  if (inv.sg_lane == 0u) {
    reduce_scratch[inv.lid / inv.sg_size] = partial;
  }
  workgroupBarrier();
  if (inv.lid == 0u) {
    var total = 0.0;
    let subgroups = (WG + inv.sg_size - 1u) / inv.sg_size;
    for (var i = 0u; i < subgroups; i++) {
      total += reduce_scratch[i];
    }
    reduce_result = total;
  }
  workgroupBarrier();
  return reduce_result;
}
#else
fn workgroup_max(value: f32, inv: Invocation) -> f32 {
  reduce_scratch[inv.lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (inv.lid < stride) {
      reduce_scratch[inv.lid] = max(reduce_scratch[inv.lid], reduce_scratch[inv.lid + stride]);
    }
    workgroupBarrier();
  }
  let best = reduce_scratch[0];
  workgroupBarrier();
  return best;
}

fn workgroup_sum(value: f32, inv: Invocation) -> f32 {
  reduce_scratch[inv.lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (inv.lid < stride) {
      reduce_scratch[inv.lid] += reduce_scratch[inv.lid + stride];
    }
    workgroupBarrier();
  }
  let total = reduce_scratch[0];
  workgroupBarrier();
  return total;
}
#endif
