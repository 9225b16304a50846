import { expect, test } from '@playwright/test';
import { demoPort } from '../playwright.config.js';

// The demo assistant in a Chromium with no WebGPU adapter: a clear banner says it can only use
// a cloud endpoint, and nothing fails on the console.
test('the demo without WebGPU runs cloud-only and says so', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`http://127.0.0.1:${demoPort}/`);
  await expect(page.locator('#banner-gpu')).toContainText('no WebGPU adapter');
  await expect(page.locator('#status')).toHaveText('Cloud only');
  await page.locator('#tab-settings').click();
  await expect(page.locator('#policy')).toBeVisible();
  expect(errors).toEqual([]);
});
