import { expect, test, type Page } from '@playwright/test';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { demoPort } from '../playwright.config.js';
import { startServeProcess } from '../src/node/testing/serve-process.js';

// The demo assistant as `npm start` serves it (built, with its service worker), in Chromium on
// SwiftShader: a first run with the generated model, a streamed chat and a stop, a reload while
// offline (the service worker controls the page; the conversation and memory persist), the
// offload settings sending a request to agentgpu's edge server, no console errors, and a
// screenshot of each screen at desktop and phone width (test-results/screens/).

const demo = `http://127.0.0.1:${demoPort}`;
const screens = 'test-results/screens';
let server: ChildProcess | undefined;
let edgeUrl: string;

test.beforeAll(async () => {
  mkdirSync(screens, { recursive: true });
  ({ url: edgeUrl, child: server } = await startServeProcess([
    // The pages calling it: the dev server's (the tests) and the built demo's.
    '--allow-origin',
    `http://127.0.0.1:${demoPort - 1}`,
    '--allow-origin',
    `http://127.0.0.1:${demoPort}`,
    '--model',
    'public/models/generated.gguf',
    '--id',
    'edge',
  ]));
});
test.afterAll(() => server?.kill());

const tabs = ['chat', 'models', 'agents', 'memory', 'telemetry', 'settings'] as const;

async function shoot(page: Page, name: string): Promise<void> {
  for (const [label, size] of [
    ['desktop', { width: 1280, height: 860 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    await page.setViewportSize(size);
    await page.screenshot({ path: `${screens}/${name}-${label}.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 860 });
}

test('the demo assistant: first run, chat, offline reload, offload, screens', async ({
  page,
  context,
}) => {
  test.setTimeout(420_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));

  // First run: no model yet, a guided start that offers the generated model.
  await page.goto(demo);
  await expect(page.locator('#start')).toBeVisible();
  await shoot(page, 'first-run');
  await page.locator('#use-generated').click();
  await expect(page.locator('#status')).toHaveText(/^Ready: Generated test model/, {
    timeout: 120_000,
  });
  await expect(page.locator('#banner-noise')).toContainText('its output is noise');

  // Chat: the reply streams in, then a second one is stopped.
  await page.locator('#prompt').fill('Hello! Please **remember** that my cat is called Pepper.');
  await page.keyboard.press('Enter');
  const first = page.locator('#messages li.assistant').first();
  await expect(first).toHaveAttribute('data-done', 'true', { timeout: 180_000 });
  await expect(first).toHaveAttribute('data-route', /.*/);
  await expect(page.locator('#messages li.user').first()).toContainText('remember');
  await expect(page.locator('#messages li.user strong').first()).toHaveText('remember');
  await page.locator('#prompt').fill('Tell me a very long story about trains.');
  await page.locator('#send').click();
  await expect(page.locator('#stop')).toBeEnabled();
  await page.locator('#stop').click();
  await expect(page.locator('#messages li.assistant').nth(1)).toHaveAttribute('data-done', 'true', {
    timeout: 60_000,
  });
  await expect(page.locator('#messages li.assistant').nth(1)).toContainText('Stopped.');
  await expect(page.locator('#send')).toBeEnabled();
  await shoot(page, 'chat');

  // Every screen, keyboard-reachable tabs.
  for (const tab of tabs.slice(1)) {
    await page.locator(`#tab-${tab}`).click();
    await expect(page.locator(`#panel-${tab}`)).toBeVisible();
    if (tab === 'models')
      await expect(page.locator('#cached')).toContainText('Generated test model');
    if (tab === 'agents') await expect(page.locator('#agents')).toContainText('summarizer');
    if (tab === 'memory') await expect(page.locator('#memory')).toContainText('Pepper');
    if (tab === 'telemetry') await expect(page.locator('#audit li').first()).toBeVisible();
    await shoot(page, tab);
  }
  await page.locator('#tab-settings').focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.locator('#tab-chat')).toBeFocused();

  // Offline: the service worker serves the app; the model, conversation and memory persist.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  expect(await page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
  await context.setOffline(true);
  await page.reload();
  await expect(page.locator('#banner-offline')).toBeVisible();
  await expect(page.locator('#status')).toHaveText(/^Ready: Generated test model/, {
    timeout: 120_000,
  });
  await expect(page.locator('#messages li.user').first()).toContainText('Pepper');
  await page.locator('#tab-memory').click();
  await expect(page.locator('#memory')).toContainText('Pepper');
  await shoot(page, 'offline');
  await context.setOffline(false);

  // Offload settings: a bad policy is shown inline; a good one reaches the edge server.
  await page.locator('#tab-settings').click();
  await page.locator('#policy').fill('{"version": 2, "rules": {"maxLocalPromptTokens": 0}}');
  await expect(page.locator('#policy-errors')).toContainText('/version: must be 1');
  await expect(page.locator('#policy-errors')).toContainText('/rules/maxLocalPromptTokens');
  await shoot(page, 'settings-errors');
  await page
    .locator('#policy')
    .fill(JSON.stringify({ version: 1, cloud: { baseURL: edgeUrl, model: 'edge' } }, null, 2));
  await expect(page.locator('#policy-errors li')).toHaveCount(0);
  await page.locator('#offload-form button[type=submit]').click();
  await expect(page.locator('#status')).toHaveText(/^Ready/, { timeout: 120_000 });
  await page.locator('#offload-test').click();
  await expect(page.locator('#offload-result')).toHaveAttribute('data-ok', 'true', {
    timeout: 60_000,
  });
  await expect(page.locator('#offload-result')).toContainText('The endpoint answered');

  expect(errors).toEqual([]);
});
