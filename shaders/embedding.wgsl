// Embedding lookup: the rows of a (vocab, dim) table, in any weight format, for a list of token
// ids, dequantized. One invocation per 32-value unit of an output row (dense formats also
// handle a tail of dim % 32 values one by one). A table larger than one binding is bound a
// slice of rows at a time; each dispatch writes the tokens whose ids fall in its slice.
// table (vocab, dim) weights, ids (tokens,) u32 -> out (tokens, dim) act
#include "include/enables.wgsl"
#include "include/weights.wgsl"

struct Params {
  tokens: u32,
  dim: u32, // values per row
  row_bytes: u32, // bytes per table row
  vocab: u32, // rows in the table; ids past it yield zeros (written by the last slice)
  row_start: u32, // the first table row bound in this dispatch
  slice_rows: u32, // rows bound in this dispatch
  last: u32, // 1 for the dispatch holding the table's last rows
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let units = params.dim / UNIT_VALUES;
#if DENSE
  let per_row = units + select(0u, 1u, params.dim % UNIT_VALUES != 0u);
#else
  let per_row = units;
#endif
  let index = gid.x + gid.y * nwg.x * WG;
  if (index >= params.tokens * per_row) {
    return;
  }
  let token = index / per_row;
  let u = index % per_row;
  let id = ids[token];
  let dst = token * params.dim + u * UNIT_VALUES;
  if (id >= params.vocab) {
    if (params.last == 1u) {
      for (var j = 0u; j < min(UNIT_VALUES, params.dim - u * UNIT_VALUES); j++) {
        out[dst + j] = act(0.0);
      }
    }
    return;
  }
  if (id < params.row_start || id - params.row_start >= params.slice_rows) {
    return; // another dispatch's slice
  }
  let row_byte = (id - params.row_start) * params.row_bytes;
  if (u < units) {
    let unit = unit_at(row_byte, u);
    for (var i = 0u; i < 8u; i++) {
      let v = unit_w4(unit, i);
      out[dst + 4u * i] = act(v.x);
      out[dst + 4u * i + 1u] = act(v.y);
      out[dst + 4u * i + 2u] = act(v.z);
      out[dst + 4u * i + 3u] = act(v.w);
    }
    return;
  }
#if DENSE
  for (var j = units * UNIT_VALUES; j < params.dim; j++) {
    out[token * params.dim + j] = act(dense_weight(row_byte, j));
  }
#endif
}
