import { expect, test } from '@playwright/test';

// Chromium without WebGPU flags on a GPU-less machine offers no adapter. The worker's error
// must reach the page as one clear WebGpuUnavailableError (its class kept across comlink).
test('no WebGPU adapter gives one clear error', async ({ page }) => {
  await page.goto('/kernels.html');
  const error = page.locator('#error');
  await expect(error).toBeVisible();
  await expect(error).toHaveAttribute('data-error-name', 'WebGpuUnavailableError');
  await expect(error).toContainText('offered no adapter');
  await expect(error).toContainText('--enable-unsafe-webgpu');
  // A message, not a stack trace ("at fn (file.js:12:3)").
  expect(await error.textContent()).not.toMatch(/\bat .*:\d+:\d+/);
});
