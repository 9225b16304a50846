import { expect, test } from '@playwright/test';

// The same kernel checks as the vitest suite, run by the demo page inside its model-host
// Web Worker on Chromium's WebGPU, on both reduction paths.
// `?in=page` runs them once on the page's own device too.
const runs = [
  { where: 'worker', subgroups: 'on' },
  { where: 'worker', subgroups: 'off' },
  { where: 'page', subgroups: 'on' },
];
for (const { where, subgroups } of runs) {
  test(`kernels pass in the ${where} (subgroups ${subgroups})`, async ({ page }) => {
    // Every kernel case compiles its own pipeline; on SwiftShader without subgroups that is
    // most of four minutes.
    test.setTimeout(540_000);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`/kernels.html?subgroups=${subgroups}&in=${where}`);
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
    expect(Number(await summary.getAttribute('data-passed'))).toBeGreaterThanOrEqual(20);
    await expect(page.locator('#error')).toBeHidden();
    expect(errors).toEqual([]);
  });
}
