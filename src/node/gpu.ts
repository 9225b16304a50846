import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type * as Dawn from 'webgpu';
import { WebGpuUnavailableError } from '../errors.js';
import { GpuContext, type GpuContextOptions } from '../gpu/context.js';
import { fileShaderSource } from './shader-files.js';

/** Where Debian's chromium package puts SwiftShader, the CPU Vulkan driver. */
const swiftShaderIcdPaths = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

export interface NodeGpuOptions extends GpuContextOptions {
  /** Skip hardware adapters and go straight to SwiftShader (deterministic tests). */
  forceSwiftShader?: boolean;
  /**
   * 'null': Dawn's null backend, which compiles and validates shaders (shader-f16 included)
   * but runs nothing. For checking variants this machine's adapter cannot run.
   */
  backend?: 'null';
}

async function loadDawn(): Promise<typeof Dawn> {
  try {
    const dawn = await import('webgpu');
    // GPUBufferUsage, GPUMapMode and the classes, as browsers have them.
    Object.assign(globalThis, dawn.globals);
    return dawn;
  } catch (cause) {
    throw new WebGpuUnavailableError(
      'dawn',
      `WebGPU for Node (the optional "webgpu" package, Dawn) did not load (${String(cause)}): ` +
        'run `npm install webgpu` on linux-x64, linux-arm64, macOS or Windows',
      { cause },
    );
  }
}

/**
 * The SwiftShader ICD to fall back to: $AGENTGPU_SWIFTSHADER_ICD when set (an empty value turns
 * the fallback off), else Debian/Ubuntu chromium's.
 */
function swiftShaderIcd(): string | undefined {
  const configured = process.env.AGENTGPU_SWIFTSHADER_ICD;
  if (configured !== undefined)
    return configured && existsSync(configured) ? configured : undefined;
  return swiftShaderIcdPaths.find((path) => existsSync(path));
}

/**
 * Dawn opens `libvulkan.so.1` by name. When the system has no Vulkan loader, load the one that
 * ships beside SwiftShader first: once a library with that soname is loaded, Dawn's dlopen
 * finds it. RTLD_NODELETE (0x1000) keeps it loaded after process.dlopen rejects it as an addon.
 */
function ensureVulkanLoader(icd: string): void {
  const flags = constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL | 0x1000;
  for (const library of ['libvulkan.so.1', join(dirname(icd), 'libvulkan.so.1')]) {
    try {
      process.dlopen({ exports: {} }, library, flags);
    } catch (error) {
      // Loaded fine, it just is not a Node addon.
      if (String(error).includes('did not self-register')) return;
    }
  }
}

/**
 * Dawn's flags for a hardware adapter. NVIDIA's Vulkan driver has shader-f16, but Dawn offers it
 * there only with this toggle (Chrome leaves it off); with it every f16 kernel check passes on an
 * H200. Other adapters ignore it.
 */
const HARDWARE_FLAGS = ['enable-dawn-features=vulkan_enable_f16_on_nvidia'];

/**
 * A GpuContext on Dawn. Uses the hardware adapter when Vulkan (or Metal/D3D12) offers one; when
 * none does, points Vulkan at SwiftShader and says so in facts.notes and on stderr.
 */
export async function acquireNodeGpu(options: NodeGpuOptions = {}): Promise<GpuContext> {
  const dawn = await loadDawn();
  const powerPreference = options.powerPreference ?? 'high-performance';
  const notes = [...(options.notes ?? [])];
  process.env.XDG_RUNTIME_DIR ??= '/tmp';

  if (options.backend === 'null') {
    const instance = dawn.create(['backend=null']);
    const adapter = await instance.requestAdapter();
    if (!adapter)
      throw new WebGpuUnavailableError(
        'adapter',
        "Dawn's null backend is not in this build of the webgpu package",
      );
    notes.push("Dawn's null backend: shaders compile and validate, nothing runs");
    return GpuContext.fromAdapter(adapter, fileShaderSource(), {
      ...options,
      notes,
      owner: instance,
      wgslLanguageFeatures: instance.wgslLanguageFeatures,
      executesNothing: true,
    });
  }
  let instance: GPU | undefined;
  let adapter: GPUAdapter | null = null;
  if (!options.forceSwiftShader) {
    instance = dawn.create(HARDWARE_FLAGS);
    adapter = await instance.requestAdapter({ powerPreference });
  }
  if (!adapter && process.platform === 'linux') {
    const icd = swiftShaderIcd();
    if (!icd) {
      throw new WebGpuUnavailableError(
        'vulkan',
        'no WebGPU adapter: Vulkan found no GPU driver and SwiftShader (the CPU fallback) is not ' +
          "installed. Install your GPU's Vulkan driver (mesa-vulkan-drivers, or the NVIDIA driver) " +
          'with libvulkan1, or `apt-get install chromium` for SwiftShader',
      );
    }
    process.env.VK_ICD_FILENAMES = icd;
    ensureVulkanLoader(icd);
    instance = dawn.create([]);
    adapter = await instance.requestAdapter({ powerPreference });
    if (adapter) {
      const note = `no hardware GPU adapter found; running on SwiftShader (CPU Vulkan, ${icd}): correct but slow`;
      notes.push(note);
      if (!options.forceSwiftShader) console.warn(`agentgpu: ${note}`);
    }
  }
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'adapter',
      'Dawn offered no WebGPU adapter: install a Vulkan driver for your GPU with libvulkan1 ' +
        '(on Linux, `apt-get install chromium` also provides the SwiftShader CPU driver)',
    );
  }
  return GpuContext.fromAdapter(adapter, fileShaderSource(), {
    ...options,
    notes,
    owner: instance,
    wgslLanguageFeatures: instance?.wgslLanguageFeatures,
  });
}
