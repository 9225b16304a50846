import {
  formatBytes,
  ModelHost,
  spawnModelHost,
  type DeviceLostMessage,
  type ModelHostApi,
  type GpuFacts,
  type KernelCheckResult,
} from '../src/index.js';
import { representativeCases } from '../src/runtime.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function row(cells: (string | Node)[], header = false): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement(header ? 'th' : 'td');
    td.append(cell);
    tr.append(td);
  }
  return tr;
}

function verdict(passed: boolean): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = passed ? 'pass' : 'fail';
  span.textContent = passed ? 'PASS' : 'FAIL';
  return span;
}

function showFacts(facts: GpuFacts): void {
  const l = facts.limits;
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  $('facts').replaceChildren(
    row(['vendor', facts.vendor]),
    row(['architecture', facts.architecture]),
    row(['description', facts.description || '—']),
    row(['kind', facts.software ? 'software (CPU)' : 'hardware GPU']),
    row(['shader-f16', yes(facts.features.shaderF16)]),
    row([
      'subgroups',
      facts.features.subgroups
        ? `yes (size ${facts.subgroupMinSize}..${facts.subgroupMaxSize})`
        : 'no',
    ]),
    row(['maxBufferSize', formatBytes(l.maxBufferSize)]),
    row(['maxStorageBufferBindingSize', formatBytes(l.maxStorageBufferBindingSize)]),
    row(['maxComputeWorkgroupStorageSize', formatBytes(l.maxComputeWorkgroupStorageSize)]),
    row(['maxComputeWorkgroupsPerDimension', String(l.maxComputeWorkgroupsPerDimension)]),
    row(['maxComputeInvocationsPerWorkgroup', String(l.maxComputeInvocationsPerWorkgroup)]),
  );
}

function describeCheck(r: KernelCheckResult): string {
  return `${r.kernel} ${r.shape} [${r.variant}]: nmse ${r.nmse.toExponential(2)} (limit ${r.limit.toExponential(0)}), max |err| ${r.maxAbsError.toExponential(2)}`;
}

function showError(error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  const box = $('error');
  box.hidden = false;
  box.dataset.errorName = e.name;
  box.textContent = `${e.name}: ${e.message}`;
  $('status').textContent = 'Stopped.';
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const subgroups = params.get('subgroups') !== 'off';
  // ?activations=f16 runs the kernel checks on f16 activations (needs shader-f16).
  const activations = params.get('activations') === 'f16' ? 'f16' : 'f32';
  // ?in=page runs the same host on the page's own device, to compare with the worker.
  const inPage = params.get('in') === 'page';
  // ?cases=variants: one case per kernel, format and variant; ?cases=formats: one per kernel
  // and weight format; ?cases=kernels: one per kernel.
  const subsets = { variants: 'variant', formats: 'format', kernels: 'kernel' } as const;
  const subset = params.get('cases');
  const cases =
    subset !== null && Object.hasOwn(subsets, subset)
      ? representativeCases(subsets[subset as keyof typeof subsets])
      : undefined;
  const lostDevice = (lost: DeviceLostMessage) =>
    showError(new Error(`GPU device lost (${lost.reason}): ${lost.message}`));
  let host: ModelHostApi;
  if (inPage) {
    host = new ModelHost((message) => {
      if (message.type === 'agentgpu:devicelost') lostDevice(message);
    });
  } else {
    const client = spawnModelHost();
    client.onDeviceLost(lostDevice);
    host = client.host;
  }
  document.body.dataset.host = inPage ? 'page' : 'worker';
  const facts = await host.init({ features: { subgroups } });
  showFacts(facts);
  $('status').textContent =
    `GPU ready in the ${inPage ? 'page' : 'worker'}; running the matvec self-check…`;

  const check = await host.selfCheck();
  const selfCheck = $('self-check');
  selfCheck.replaceChildren(verdict(check.passed), ' ', describeCheck(check));
  selfCheck.dataset.passed = String(check.passed);
  $('status').textContent = `Ready on ${facts.vendor} ${facts.architecture}.`;

  const button = $<HTMLButtonElement>('run-checks');
  button.disabled = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    $('checks-summary').textContent = 'running…';
    try {
      const results = await host.runKernelChecks(cases, { activations });
      const table = $('checks');
      table.replaceChildren(
        row(['', 'kernel', 'shape', 'variant', 'nmse', 'max |err|', 'guards'], true),
        ...results.map((r) =>
          row([
            verdict(r.passed),
            r.kernel,
            r.shape,
            r.variant,
            r.nmse.toExponential(2),
            r.maxAbsError.toExponential(2),
            r.guardViolations === 0 ? 'intact' : `${r.guardViolations} overwritten`,
          ]),
        ),
      );
      const passed = results.filter((r) => r.passed).length;
      const summary = $('checks-summary');
      summary.textContent = `${passed} passed, ${results.length - passed} failed`;
      summary.dataset.passed = String(passed);
      summary.dataset.failed = String(results.length - passed);
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
}

main().catch(showError);
