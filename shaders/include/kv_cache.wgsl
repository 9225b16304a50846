// The paged KV cache layout, shared by kv_write.wgsl (writes) and attention.wgsl (reads).
// Needs `params` with kv_heads, block_tokens (BT) and head_dim, and the block `table`.
// A sequence's token j lives in page (table[table_offset + j / BT], kv head), slot j % BT.
//   float cache (`kv`: f32, or f16 with KV_F16): element
//     ((block * kv_heads + kv_head) * BT + slot) * head_dim + d
//   KV_INT8 cache, in u32 words: each page holds BT rows of head_dim int8 values, 4 to a word
//     (head_dim a multiple of 4), then BT f32 scales; value = int8 * its row's scale.

#if KV_F16
alias kv = f16;
#else
alias kv = f32;
#endif

struct KvRow {
  base: u32, // index of the row's first element (float) or word (int8)
  scale: u32, // KV_INT8: word index of the row's scale
}

fn kv_row(table_offset: u32, j: u32, kv_head: u32) -> KvRow {
  let page = table[table_offset + j / params.block_tokens] * params.kv_heads + kv_head;
  let slot = j % params.block_tokens;
#if KV_INT8
  let row_words = params.head_dim / 4u;
  let page_words = params.block_tokens * (row_words + 1u);
  let values = page * page_words;
  return KvRow(values + slot * row_words, values + params.block_tokens * row_words + slot);
#else
  return KvRow((page * params.block_tokens + slot) * params.head_dim, 0u);
#endif
}

// The signed byte `d % 4` of word `w`, as f32.
fn int8_of(w: u32, d: u32) -> f32 {
  return f32(bitcast<i32>(w << (24u - 8u * (d % 4u))) >> 24u);
}
