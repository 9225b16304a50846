import { expect, test } from '@playwright/test';

// The same kernel checks as the vitest suite, run by the demo page inside its model-host
// Web Worker on Chromium's WebGPU: one case per kernel and weight format with subgroups (every
// weight decode in every kernel that reads weights, through Chromium's Tint; vitest runs every
// case, variant and shape in Node: here each variant is a compile, and one case per variant
// took 2.7 minutes of the suite, every case 2.5, one per format 25 s), then one case per kernel
// on the workgroup reduction path, and one per kernel on the page's own device (`?in=page`; the
// page's generation has tests of its own).
const runs = [
  { where: 'worker', subgroups: 'on', cases: 'formats' },
  { where: 'worker', subgroups: 'off', cases: 'kernels' },
  { where: 'page', subgroups: 'on', cases: 'kernels' },
];
for (const { where, subgroups, cases } of runs) {
  test(`kernels pass in the ${where} (subgroups ${subgroups}; cases: ${cases})`, async ({
    page,
  }) => {
    // Every kernel case compiles its own pipeline; on SwiftShader all of them take minutes.
    test.setTimeout(540_000);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`/kernels.html?subgroups=${subgroups}&in=${where}&cases=${cases}`);
    await expect(page.locator('body')).toHaveAttribute('data-host', where);

    await expect(page.locator('#facts')).toContainText('architecture');
    await expect(page.locator('#facts')).toContainText('swiftshader');
    const selfCheck = page.locator('#self-check');
    await expect(selfCheck).toHaveAttribute('data-passed', 'true');
    await expect(selfCheck).toContainText(subgroups === 'on' ? '_sg_' : '_wg_');

    await page.locator('#run-checks').click();
    const summary = page.locator('#checks-summary');
    await expect(summary).toHaveAttribute('data-failed', /\d+/, { timeout: 420_000 });
    const failedRows = await page.locator('#checks tr:has(.fail)').allInnerTexts();
    expect(failedRows).toEqual([]);
    expect(Number(await summary.getAttribute('data-passed'))).toBeGreaterThanOrEqual(15);
    await expect(page.locator('#error')).toBeHidden();
    expect(errors).toEqual([]);
  });
}
