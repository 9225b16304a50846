import { WebGpuUnavailableError } from '../errors.js';
import { GpuContext, type GpuContextOptions } from './context.js';
import { bundledShaders } from './shader-library.browser.js';

/**
 * A GpuContext from `navigator.gpu`, in a page or a dedicated Worker. Throws
 * WebGpuUnavailableError naming what is missing and what to do.
 */
export async function acquireBrowserGpu(
  options: GpuContextOptions = {},
  scope: { navigator?: { gpu?: GPU }; isSecureContext?: boolean } = globalThis,
): Promise<GpuContext> {
  const gpu = scope.navigator?.gpu;
  if (!gpu) {
    throw new WebGpuUnavailableError(
      'navigator.gpu',
      scope.isSecureContext === false
        ? 'WebGPU is missing because this page is not a secure context: serve it over https or from localhost'
        : 'this browser has no WebGPU (navigator.gpu is undefined): use Chrome or Edge 113+, ' +
            'or enable WebGPU in Firefox/Safari; on Linux start Chromium with --enable-unsafe-webgpu',
    );
  }
  const adapter = await gpu.requestAdapter({
    powerPreference: options.powerPreference ?? 'high-performance',
  });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'adapter',
      'WebGPU is present but offered no adapter (no usable GPU, or the GPU is blocklisted): ' +
        'check chrome://gpu; on Linux start Chromium with --enable-unsafe-webgpu --enable-features=Vulkan, ' +
        'or add --use-webgpu-adapter=swiftshader to run on the CPU',
    );
  }
  return GpuContext.fromAdapter(adapter, bundledShaders, {
    ...options,
    wgslLanguageFeatures: gpu.wgslLanguageFeatures,
  });
}
