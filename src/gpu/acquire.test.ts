import { describe, expect, it } from 'vitest';
import { WebGpuUnavailableError } from '../errors.js';
import { acquireBrowserGpu } from './acquire.js';

// The browser path with navigator.gpu absent (e2e covers "present but no adapter" in Chromium).
describe('acquireBrowserGpu without WebGPU', () => {
  it('names navigator.gpu and what to do', async () => {
    const error = await acquireBrowserGpu({}, { navigator: {}, isSecureContext: true }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WebGpuUnavailableError);
    expect(error).toMatchObject({ missing: 'navigator.gpu' });
    expect((error as Error).message).toMatch(/navigator\.gpu is undefined.*Chrome or Edge 113/);
  });

  it('says when the page is not a secure context', async () => {
    const error = await acquireBrowserGpu({}, { navigator: {}, isSecureContext: false }).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toMatch(
      /not a secure context: serve it over https or from localhost/,
    );
  });
});
