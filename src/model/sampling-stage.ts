import type { ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Argmax } from '../kernels/argmax.js';
import { Penalties, PENALTY_ENTRY_BYTES, type PenaltySettings } from '../kernels/penalties.js';
import { Sampler, SAMPLER_SETTINGS_BYTES, type SamplingSettings } from '../kernels/sample.js';
import { maskWords, TokenMask } from '../kernels/token-mask.js';

// The end of a step: the logits of each entry's last row, and the kernels that turn them into
// token ids on the GPU (penalties, grammar masks, the draw, or argmax), so only the ids are
// read back.

/** Distinct recent tokens the penalties can cover (llama.cpp's default window is 64). */
const MAX_PENALTY_TOKENS = 4096;

/** Penalties on one row's logits: the settings and the recent tokens' counts. */
export interface RowPenalties {
  settings: PenaltySettings;
  counts: ReadonlyMap<number, number>;
}

/** One row of sampleRows(): its settings, uniform draw in [0, 1), penalties and grammar mask. */
export interface SampleRow {
  settings: SamplingSettings;
  u: number;
  penalties?: RowPenalties;
  /** Allowed tokens, maskWords(vocabSize) u32 bitset words (grammar-constrained sampling). */
  mask?: Uint32Array;
}

export class SamplingStage {
  private constructor(
    private readonly gpu: GpuContext,
    /** Tokens in the vocabulary: values per row of the logits. */
    private readonly vocab: number,
    private readonly kernels: {
      argmax: Argmax;
      sampler: Sampler;
      penalties: Penalties;
      tokenMask: TokenMask;
    },
    private readonly buffers: {
      /** (rows, vocab) f32: the output projection writes them. */
      logits: GPUBuffer;
      /** (rows,) u32: the ids drawn. */
      token: GPUBuffer;
      settings: GPUBuffer;
      penaltyEntries: GPUBuffer;
      mask: GPUBuffer;
    },
  ) {}

  /** For up to `rows` rows of `vocab` logits; `built` counts each kernel as it compiles. */
  static async load(
    gpu: GpuContext,
    rows: number,
    vocab: number,
    built: <T>(kernel: Promise<T>) => Promise<T>,
  ): Promise<SamplingStage> {
    const kernels = {
      argmax: await built(Argmax.load(gpu)),
      sampler: await built(Sampler.load(gpu)),
      penalties: await built(Penalties.load(gpu)),
      tokenMask: await built(TokenMask.load(gpu)),
    };
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffers: Partial<SamplingStage['buffers']> = {};
    try {
      buffers.logits = await gpu.createBuffer(rows * vocab * 4, storage, 'scratch:logits');
      buffers.token = await gpu.createBuffer(Math.max(16, 4 * rows), storage, 'scratch:token');
      buffers.settings = await gpu.createBuffer(
        Math.max(64, rows * SAMPLER_SETTINGS_BYTES),
        storage,
        'scratch:sample_settings',
      );
      buffers.penaltyEntries = await gpu.createBuffer(
        MAX_PENALTY_TOKENS * PENALTY_ENTRY_BYTES,
        storage,
        'scratch:penalty_entries',
      );
      buffers.mask = await gpu.createBuffer(
        rows * maskWords(vocab) * 4,
        storage,
        'scratch:token_mask',
      );
    } catch (error) {
      for (const b of Object.values(buffers)) b.destroy();
      throw error;
    }
    return new SamplingStage(gpu, vocab, kernels, buffers as SamplingStage['buffers']);
  }

  /** The kernels it compiles (Decoder.load counts them for its progress). */
  static readonly KERNELS = 4;

  /** (rows, vocab) f32: where a step's output projection writes its logits. */
  get logits(): GPUBuffer {
    return this.buffers.logits;
  }

  /** Row `row`'s logits, read back. */
  async logitsRow(row: number): Promise<Float32Array> {
    const bytes = this.vocab * 4;
    return new Float32Array(await this.gpu.read(this.buffers.logits, row * bytes, bytes));
  }

  /** The greedy token of each of the first `count` rows, computed on the GPU. */
  async argmaxRows(count: number): Promise<number[]> {
    const batch = this.gpu.batch('argmax');
    this.kernels.argmax.encode(batch, {
      logits: this.buffers.logits,
      ids: this.buffers.token,
      rows: count,
      n: this.vocab,
    });
    await batch.submit();
    return Array.from(new Uint32Array(await this.gpu.read(this.buffers.token, 0, count * 4)));
  }

  /** Submits `batch` and reads back the first `count` sampled token ids, in one submission. */
  async read(batch: ComputeBatch, count: number): Promise<number[]> {
    const ids = await this.gpu.submitAndRead(batch, this.buffers.token, 0, count * 4);
    return Array.from(new Uint32Array(ids));
  }

  /** Records sampling the logits' rows into `batch`: penalties, grammar masks, the draw. */
  encode(batch: ComputeBatch, rows: readonly SampleRow[]): void {
    const { gpu, buffers: s, kernels: k } = this;
    const n = this.vocab;
    // Rows with the same penalty settings share a dispatch; each group its own entries region.
    const groups = new Map<
      string,
      { settings: PenaltySettings; counts: Map<number, ReadonlyMap<number, number>> }
    >();
    rows.forEach(({ penalties: p }, row) => {
      if (!p || p.counts.size === 0) return;
      const key = `${p.settings.repeat}|${p.settings.frequency}|${p.settings.presence}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { settings: p.settings, counts: new Map() }));
      group.counts.set(row, p.counts);
    });
    const align = gpu.facts.limits.minStorageBufferOffsetAlignment;
    let offset = 0;
    for (const group of groups.values()) {
      const perRow = Array.from(
        { length: rows.length },
        (_, r) => group.counts.get(r) ?? new Map(),
      );
      const entries = Penalties.entries(perRow);
      const count = entries.length / 3;
      if (offset + entries.byteLength > MAX_PENALTY_TOKENS * PENALTY_ENTRY_BYTES) {
        throw new RangeError(
          `penalties cover ${count} distinct tokens, more than the ${MAX_PENALTY_TOKENS} a step holds: shorten the penalty window`,
        );
      }
      gpu.write(s.penaltyEntries, entries, offset);
      k.penalties.encode(batch, {
        logits: s.logits,
        entries: { buffer: s.penaltyEntries, offset, size: entries.byteLength },
        count,
        n,
        settings: group.settings,
      });
      offset += Math.ceil(entries.byteLength / align) * align;
    }
    if (rows.some((r) => r.mask)) {
      const words = maskWords(n);
      const masks = new Uint32Array(rows.length * words).fill(0xffffffff);
      rows.forEach((r, i) => r.mask && masks.set(r.mask, i * words));
      gpu.write(s.mask, masks);
      k.tokenMask.encode(batch, { logits: s.logits, mask: s.mask, rows: rows.length, n });
    }
    gpu.write(s.settings, Sampler.settings(rows));
    k.sampler.encode(batch, {
      logits: s.logits,
      settings: s.settings,
      ids: s.token,
      rows: rows.length,
      n,
    });
  }

  destroy(): void {
    for (const b of Object.values(this.buffers)) b.destroy();
  }
}
