import * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceLostError, errorClasses, WebGpuUnavailableError } from '../errors.js';
import { installErrorTransfer } from './transfer.js';

// A real comlink round trip over a real MessageChannel: what a Worker boundary does to errors.
describe('error transfer across comlink', () => {
  const channels: MessageChannel[] = [];
  afterEach(() => channels.splice(0).forEach((c) => (c.port1.close(), c.port2.close())));

  function remote<T>(object: T): Comlink.Remote<T> {
    installErrorTransfer();
    const channel = new MessageChannel();
    channels.push(channel);
    Comlink.expose(object, channel.port1 as unknown as Comlink.Endpoint);
    return Comlink.wrap<T>(channel.port2 as unknown as Comlink.Endpoint);
  }

  it('keeps the class, message and fields', async () => {
    const api = remote({
      async noGpu(): Promise<void> {
        throw new WebGpuUnavailableError('adapter', 'no adapter: do this');
      },
      async lost(): Promise<void> {
        throw new DeviceLostError('destroyed', 'device gone');
      },
      async plain(): Promise<void> {
        throw new TypeError('plain type error');
      },
    });
    const noGpu = await api.noGpu().catch((e: unknown) => e);
    expect(noGpu).toBeInstanceOf(WebGpuUnavailableError);
    expect(noGpu).toMatchObject({
      name: 'WebGpuUnavailableError',
      missing: 'adapter',
      message: 'no adapter: do this',
    });
    // A real error object: what test runners and structured clone look for (Playwright's
    // page.evaluate showed only the class name of the object-made errors before).
    expect(Object.prototype.toString.call(noGpu)).toBe('[object Error]');
    expect(structuredClone(noGpu)).toMatchObject({ message: 'no adapter: do this' });
    const lost = await api.lost().catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(DeviceLostError);
    expect((lost as DeviceLostError).reason).toBe('destroyed');
    const plain = await api.plain().catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(Error);
    expect(plain).toMatchObject({ name: 'TypeError', message: 'plain type error' });
  });

  it('names every class by a string of its own, not by its (minifiable) class name', async () => {
    for (const [key, ErrorClass] of Object.entries(errorClasses)) {
      // What a minifier does to a class: its binding renamed, so `.name` of the class changes.
      const Renamed = { [`m${key.length}`]: class extends (ErrorClass as ErrorConstructor) {} }[
        `m${key.length}`
      ];
      expect(ErrorClass.prototype.name).toBe(key);
      expect(new Renamed('x').name).toBe(key);
    }
  });
});
