import { expect } from '@playwright/test';

/**
 * Every evicted span lies in exactly one summary, and every summary is a run of evicted spans
 * that follow one another (several evictions may share a summary).
 */
export function expectCoveredOnce(evicted: [number, number][], summaries: [number, number][]) {
  const e = [...evicted].sort((a, b) => a[0] - b[0]);
  const s = [...summaries].sort((a, b) => a[0] - b[0]);
  let i = 0;
  for (const [start, end] of s) {
    expect(e[i]?.[0]).toBe(start);
    while (i < e.length && e[i][1] <= end) {
      if (i > 0 && e[i][0] !== start) expect(e[i][0]).toBe(e[i - 1][1]);
      i++;
    }
    expect(e[i - 1][1]).toBe(end);
  }
  expect(i).toBe(e.length);
}
