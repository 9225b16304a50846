/// <reference types="vite-plugin-pwa/client" />
// The agentgpu demo assistant: a small team of agents (router, responder, summarizer) on a
// GGUF model in Web Workers, long-term memory in IndexedDB, optional cloud offload, telemetry
// and the decision audit log. Installable and offline-capable (vite-plugin-pwa).
import MarkdownIt from 'markdown-it';
import { openDB, type IDBPDatabase } from 'idb';
import {
  MemoryStore,
  OpenAICompatibleClient,
  PolicyError,
  createEngine,
  formatBytes,
  parseOffloadPolicy,
  type Engine,
  type SearchHit,
} from '../src/index.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (string | Node)[]
) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

const md = new MarkdownIt({ html: false, linkify: true, breaks: true });
const MODEL_CACHE = 'agentgpu-demo-models';
const CHOSEN = 'agentgpu-demo-model';

interface CatalogModel {
  id: string;
  name: string;
  url: string;
  size: number;
  quant: string;
  license: string;
  recommended?: boolean;
  generated?: boolean;
}

interface StoredMessage {
  id?: number;
  conversation: string;
  role: 'user' | 'assistant';
  content: string;
  at: number;
}

let engine: Engine | undefined;
let memory: MemoryStore | undefined;
let catalog: CatalogModel[] = [];
let activeModel: CatalogModel | undefined;
let cloud: { client: OpenAICompatibleClient; model: string; policy: unknown } | undefined;
let apiKey = '';
let running: AbortController | undefined;
let conversation = localStorage.getItem('agentgpu-demo-conversation') ?? newConversationId();
let hasWebGpu = false;

function setStatus(text: string): void {
  $('status').textContent = text;
}

function banner(id: string, text: string | undefined): void {
  document.getElementById(`banner-${id}`)?.remove();
  if (!text) return;
  $('banners').append(el('p', { id: `banner-${id}`, className: 'banner', role: 'note' }, text));
}

function newConversationId(): string {
  const id = `c${Date.now().toString(36)}`;
  localStorage.setItem('agentgpu-demo-conversation', id);
  return id;
}

// ---- conversations (IndexedDB) ----

let db: Promise<IDBPDatabase> | undefined;
function chatDb(): Promise<IDBPDatabase> {
  db ??= openDB('agentgpu-demo', 1, {
    upgrade(d) {
      const s = d.createObjectStore('messages', { keyPath: 'id', autoIncrement: true });
      s.createIndex('conversation', 'conversation');
    },
  });
  return db;
}

async function saveMessage(m: StoredMessage): Promise<void> {
  const tx = (await chatDb()).transaction('messages', 'readwrite');
  await Promise.all([tx.store.add(m), tx.done]);
}

async function loadConversation(): Promise<StoredMessage[]> {
  return (await chatDb()).getAllFromIndex('messages', 'conversation', conversation);
}

function renderMessage(m: Pick<StoredMessage, 'role' | 'content'>): HTMLLIElement {
  const body = el('div', { className: 'body' });
  body.innerHTML = md.render(m.content);
  return el(
    'li',
    { className: m.role },
    el('div', { className: 'who' }, m.role === 'user' ? 'You' : 'Assistant'),
    body,
  );
}

async function showConversation(): Promise<void> {
  const messages = await loadConversation();
  $('messages').replaceChildren(...messages.map(renderMessage));
}

// ---- models (Cache Storage) ----

async function cachedModels(): Promise<{ url: string; bytes: number }[]> {
  const cache = await caches.open(MODEL_CACHE);
  const keys = await cache.keys();
  return Promise.all(
    keys.map(async (req) => {
      const res = await cache.match(req);
      return { url: req.url, bytes: Number(res?.headers.get('content-length') ?? 0) };
    }),
  );
}

function absolute(url: string): string {
  return new URL(url, location.href).href;
}

/** Downloads a model into Cache Storage with a progress bar (bytes and speed). */
async function download(model: CatalogModel): Promise<Blob> {
  const cache = await caches.open(MODEL_CACHE);
  const hit = await cache.match(absolute(model.url));
  if (hit) return hit.blob();
  const progress = $('progress');
  const bar = $<HTMLProgressElement>('progress-bar');
  const text = $('progress-text');
  $('progress-label').textContent = `Downloading ${model.name}`;
  progress.hidden = false;
  const started = performance.now();
  try {
    const res = await fetch(model.url);
    if (!res.ok || !res.body) throw new Error(`the server answered ${res.status} for ${model.url}`);
    const total = Number(res.headers.get('content-length') ?? model.size) || model.size;
    const reader = res.body.getReader();
    const parts: Uint8Array[] = [];
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.length;
      const seconds = (performance.now() - started) / 1000;
      bar.value = total ? loaded / total : 0;
      text.textContent =
        `${formatBytes(loaded)}${total ? ` of ${formatBytes(total)}` : ''}, ` +
        `${formatBytes(loaded / Math.max(seconds, 0.001))}/s`;
    }
    const blob = new Blob(parts as BlobPart[], { type: 'application/octet-stream' });
    await cache.put(
      absolute(model.url),
      new Response(blob, { headers: { 'content-length': String(blob.size) } }),
    );
    return blob;
  } finally {
    progress.hidden = true;
  }
}

async function showModels(): Promise<void> {
  const cached = new Map((await cachedModels()).map((c) => [c.url, c.bytes]));
  $('catalog').replaceChildren(
    ...catalog.map((m) => {
      const isCached = cached.has(absolute(m.url));
      const use = el('button', { type: 'button' }, isCached ? 'Use' : 'Download and use');
      use.addEventListener('click', () => void useModel(m));
      return el(
        'li',
        {},
        el('strong', {}, m.name),
        el(
          'p',
          { className: 'meta' },
          `${m.quant}${m.size ? `, about ${formatBytes(m.size)}` : ''} · ${m.license}` +
            (activeModel?.id === m.id ? ' · in use' : ''),
        ),
        use,
      );
    }),
  );
  const rows = [...cached].map(([url, bytes]) => {
    const name = catalog.find((m) => absolute(m.url) === url)?.name ?? url;
    const del = el('button', { type: 'button', className: 'quiet' }, 'Delete');
    del.setAttribute('aria-label', `Delete ${name}`);
    del.addEventListener('click', async () => {
      await (await caches.open(MODEL_CACHE)).delete(url);
      await showModels();
    });
    return el('tr', {}, el('td', {}, name), el('td', {}, formatBytes(bytes)), el('td', {}, del));
  });
  $('cached').replaceChildren(
    el('tr', {}, el('th', {}, 'Model'), el('th', {}, 'Size'), el('th', {}, '')),
    ...(rows.length ? rows : [el('tr', {}, el('td', { colSpan: 3 }, 'Nothing cached yet.'))]),
  );
  const estimate = await navigator.storage?.estimate?.();
  $('storage').textContent = estimate
    ? `Storage: ${formatBytes(estimate.usage ?? 0)} used of ${formatBytes(estimate.quota ?? 0)} available to this site.`
    : '';
}

// ---- the engine ----

async function startEngine(model: CatalogModel, source: Blob): Promise<void> {
  setStatus(`Loading ${model.name}…`);
  await engine?.close();
  engine = undefined;
  memory ??= await MemoryStore.open({ name: 'agentgpu-demo-memory' });
  const policy = cloud?.policy as Record<string, unknown> | undefined;
  engine = await createEngine({
    memory,
    models: [{ id: 'local', source, options: { contextSize: 1024, maxBatch: 64, sequences: 3 } }],
    agents: [
      { name: 'router', model: 'local', systemPrompt: 'Answer with one word: chat or task.' },
      {
        name: 'responder',
        model: 'local',
        systemPrompt: 'You are a helpful, brief assistant.',
        placement: policy ? 'auto' : 'local',
        memory: { summarizer: 'summarizer', budgetTokens: 128, embeddings: false },
      },
      { name: 'summarizer', model: 'local', role: 'background' },
    ],
    ...(policy && { offload: { policy, apiKey: async () => apiKey || undefined } }),
  });
  activeModel = model;
  localStorage.setItem(CHOSEN, model.id);
  banner(
    'noise',
    model.generated
      ? 'This is the generated test model: it runs offline, and its output is noise. Pick a real model under Models for real answers.'
      : undefined,
  );
  $('start').hidden = true;
  setStatus(`Ready: ${model.name}`);
  $<HTMLButtonElement>('send').disabled = false;
}

async function useModel(model: CatalogModel): Promise<void> {
  try {
    const blob = await download(model);
    await startEngine(model, blob);
    await showModels();
    selectTab('chat');
  } catch (error) {
    setStatus(`Could not load ${model.name}: ${(error as Error).message}`);
  }
}

function guidedStart(): void {
  const real = catalog.find((m) => m.recommended);
  const generated = catalog.find((m) => m.generated);
  const start = $('start');
  const buttons: HTMLButtonElement[] = [];
  if (real && navigator.onLine) {
    const b = el(
      'button',
      { type: 'button' },
      `Download ${real.name} (about ${formatBytes(real.size)})`,
    );
    b.addEventListener('click', () => void useModel(real));
    buttons.push(b);
  }
  if (generated) {
    const b = el(
      'button',
      { type: 'button', className: real && navigator.onLine ? 'quiet' : '' },
      'Use the generated test model (offline, noise)',
    );
    b.id = 'use-generated';
    b.addEventListener('click', () => void useModel(generated));
    buttons.push(b);
  }
  start.replaceChildren(
    el('h2', {}, 'Welcome'),
    el(
      'p',
      {},
      navigator.onLine
        ? 'No model on this device yet. A small instruct model is a one-time download; it stays cached for offline use.'
        : 'You are offline and no model is cached: the generated test model works offline, but its output is noise.',
    ),
    el('div', { className: 'actions' }, ...buttons),
  );
  start.hidden = false;
  setStatus('Pick a model to start');
}

// ---- chat ----

async function send(text: string): Promise<void> {
  const user: StoredMessage = { conversation, role: 'user', content: text, at: Date.now() };
  await saveMessage(user);
  $('messages').append(renderMessage(user));
  const history = (await loadConversation()).map((m) => ({ role: m.role, content: m.content }));
  const reply = renderMessage({ role: 'assistant', content: '' });
  $('messages').append(reply);
  const body = reply.querySelector('.body')!;
  running = new AbortController();
  $<HTMLButtonElement>('stop').disabled = false;
  $<HTMLButtonElement>('send').disabled = true;
  let content = '';
  let frame = 0;
  const paint = () => {
    frame = 0;
    body.innerHTML = md.render(content);
  };
  try {
    if (engine) {
      // The router classifies the request (a few tokens); the responder answers it.
      const route = await engine.chat.completions.create(
        {
          agent: 'router',
          messages: [{ role: 'user', content: text }],
          max_tokens: 2,
          temperature: 0,
        },
        { signal: running.signal },
      );
      reply.dataset.route = route.choices[0].message.content ?? '';
      const stream = await engine.chat.completions.create(
        { agent: 'responder', messages: history, max_tokens: 96, temperature: 0.7, stream: true },
        { signal: running.signal },
      );
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta.content ?? '';
        frame ||= requestAnimationFrame(paint);
      }
    } else if (cloud) {
      for await (const chunk of cloud.client.chatCompletionStream(
        { model: cloud.model, messages: history, max_tokens: 256 },
        { signal: running.signal },
      )) {
        content += chunk.choices[0]?.delta.content ?? '';
        frame ||= requestAnimationFrame(paint);
      }
    } else {
      throw new Error('no model is loaded and no cloud endpoint is set');
    }
  } catch (error) {
    if (!running.signal.aborted) content += `\n\n*Error: ${(error as Error).message}*`;
  }
  if (running.signal.aborted) content += `${content ? '\n\n' : ''}*Stopped.*`;
  if (frame) cancelAnimationFrame(frame);
  paint();
  reply.dataset.done = 'true';
  running = undefined;
  $<HTMLButtonElement>('stop').disabled = true;
  $<HTMLButtonElement>('send').disabled = false;
  await saveMessage({ conversation, role: 'assistant', content, at: Date.now() });
}

// ---- agents, memory, telemetry ----

async function showAgents(): Promise<void> {
  if (!engine) return;
  const snapshot = await engine.telemetry.snapshot();
  const state = (a: (typeof snapshot.agents)[number]) =>
    a.running > 0 ? 'running' : a.queued > 0 ? 'queued' : 'idle';
  const placement = (name: string) =>
    name === 'responder' && cloud ? 'auto (cloud when the policy says)' : 'local';
  $('agents').replaceChildren(
    el(
      'tr',
      {},
      ...['Agent', 'Model', 'Placement', 'State', 'Decode tok/s'].map((h) => el('th', {}, h)),
    ),
    ...snapshot.agents.map((a) =>
      el(
        'tr',
        {},
        el('td', {}, a.name),
        el('td', {}, activeModel?.name ?? a.model),
        el('td', {}, placement(a.name)),
        el('td', {}, state(a)),
        el('td', {}, a.lastDecodeTokensPerSecond ? a.lastDecodeTokensPerSecond.toFixed(1) : '—'),
      ),
    ),
  );
}

async function showMemory(query = ''): Promise<void> {
  if (!memory) {
    $('memory').replaceChildren(el('tr', {}, el('td', {}, 'Memory starts with the first model.')));
    return;
  }
  type Item = Pick<SearchHit, 'kind' | 'id' | 'text'>;
  let hits: Item[];
  if (query) hits = await memory.search('responder', query, { k: 50 });
  else {
    const all = await memory.export('responder');
    hits = [
      ...all.facts.map((f): Item => ({ kind: 'fact', id: f.id!, text: f.text })),
      ...all.summaries.map((s): Item => ({ kind: 'summary', id: s.id!, text: s.text })),
      ...all.episodes
        .slice(-50)
        .map((e): Item => ({ kind: 'episode', id: e.id!, text: e.content })),
    ];
  }
  $('memory').replaceChildren(
    el('tr', {}, el('th', {}, 'Kind'), el('th', {}, 'Text'), el('th', {}, '')),
    ...hits.map((h) => {
      const del = el('button', { type: 'button', className: 'quiet' }, 'Delete');
      del.setAttribute('aria-label', `Delete ${h.kind} ${h.id}`);
      del.addEventListener('click', async () => {
        await memory!.forget({ agent: 'responder', items: [{ kind: h.kind, id: h.id }] });
        await showMemory(query);
      });
      const edit = el('button', { type: 'button', className: 'quiet' }, 'Edit');
      edit.setAttribute('aria-label', `Edit ${h.kind} ${h.id}`);
      edit.addEventListener('click', async () => {
        const text = prompt('Edit this memory (kept as a fact):', h.text);
        if (text === null || text === h.text) return;
        await memory!.forget({ agent: 'responder', items: [{ kind: h.kind, id: h.id }] });
        await memory!.addFact('responder', text, {
          kind: 'user',
          note: `edited ${h.kind} ${h.id}`,
        });
        await showMemory(query);
      });
      return el('tr', {}, el('td', {}, h.kind), el('td', {}, h.text), el('td', {}, edit, ' ', del));
    }),
  );
}

const series = {
  tps: [] as number[],
  kv: [] as number[],
  gpu: [] as number[],
  queue: [] as number[],
};

function chart(id: string, values: number[]): void {
  const canvas = $<HTMLCanvasElement>(id);
  const g = canvas.getContext('2d');
  if (!g) return;
  const { width, height } = canvas;
  g.clearRect(0, 0, width, height);
  const max = Math.max(1, ...values);
  g.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue('--accent');
  g.lineWidth = 2;
  g.beginPath();
  values.forEach((v, i) => {
    const x = (i / Math.max(1, values.length - 1)) * (width - 4) + 2;
    const y = height - 4 - (v / max) * (height - 26);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
  g.fillStyle = g.strokeStyle;
  g.font = '12px system-ui';
  g.fillText(`${(values.at(-1) ?? 0).toFixed(1)} (max ${max.toFixed(1)})`, 4, 14);
}

async function sampleTelemetry(): Promise<void> {
  if (!engine) return;
  const s = await engine.telemetry.snapshot();
  const model = s.hosts[0]?.models[0];
  const push = (list: number[], v: number) => {
    list.push(v);
    if (list.length > 60) list.shift();
  };
  push(series.tps, Math.max(0, ...s.agents.map((a) => a.lastDecodeTokensPerSecond ?? 0)));
  push(series.kv, model?.kv.usedBlocks ?? 0);
  push(series.gpu, (s.hosts[0]?.gpuBytes ?? 0) / 2 ** 20);
  push(
    series.queue,
    s.agents.reduce((n, a) => n + a.queued, 0),
  );
  if (!$('panel-agents').hidden) await showAgents();
  if ($('panel-telemetry').hidden) return;
  chart('chart-tps', series.tps);
  chart('chart-kv', series.kv);
  chart('chart-gpu', series.gpu);
  chart('chart-queue', series.queue);
  $('audit').replaceChildren(
    ...engine.audit
      .query({})
      .slice(-40)
      .reverse()
      .map((d) =>
        el('li', {}, el('strong', {}, `${d.kind}: ${d.decision}`), ` — ${d.reason} (${d.subject})`),
      ),
  );
}

// ---- offload settings ----

const defaultPolicy = (endpoint: string, model: string) => ({
  version: 1,
  cloud: { baseURL: endpoint || 'http://127.0.0.1:8080/v1', model: model || 'model' },
  rules: { maxLocalPromptTokens: 512, latencyBudgetMs: 15000 },
  fallback: { cloudToLocal: true, localToCloud: true },
  redact: true,
});

function checkPolicy(): Record<string, unknown> | undefined {
  const errors = $('policy-errors');
  try {
    const policy = parseOffloadPolicy($<HTMLTextAreaElement>('policy').value);
    errors.replaceChildren();
    $('policy').removeAttribute('aria-invalid');
    return policy as unknown as Record<string, unknown>;
  } catch (error) {
    const problems = error instanceof PolicyError ? error.problems : [(error as Error).message];
    errors.replaceChildren(...problems.map((p) => el('li', {}, p)));
    $('policy').setAttribute('aria-invalid', 'true');
    return undefined;
  }
}

/** The cloud endpoint a checked policy names (the key is asked for at each request). */
function cloudFrom(policy: Record<string, unknown> | undefined): typeof cloud {
  const config = policy?.cloud as { baseURL: string; model: string } | undefined;
  if (!policy || !config) return undefined;
  const client = new OpenAICompatibleClient({
    baseURL: config.baseURL,
    apiKey: async () => apiKey || undefined,
  });
  return { client, model: config.model, policy };
}

async function applyOffload(event: Event): Promise<void> {
  event.preventDefault();
  const policy = checkPolicy();
  if (!policy) return;
  apiKey = $<HTMLInputElement>('api-key').value;
  localStorage.setItem('agentgpu-demo-policy', JSON.stringify(policy));
  cloud = cloudFrom(policy);
  $('offload-result').textContent = 'Applied.';
  if (activeModel) {
    const hit = await (await caches.open(MODEL_CACHE)).match(absolute(activeModel.url));
    if (hit) await startEngine(activeModel, await hit.blob());
  }
}

async function testOffload(): Promise<void> {
  const result = $('offload-result');
  if (!cloud) {
    result.textContent = 'Apply a policy with a cloud endpoint first.';
    return;
  }
  result.textContent = 'Sending…';
  try {
    const reply = await cloud.client.chatCompletion({
      model: cloud.model,
      messages: [{ role: 'user', content: 'Say hello.' }],
      max_tokens: 8,
    });
    result.textContent = `The endpoint answered: ${JSON.stringify(reply.choices[0]?.message.content ?? '')}`;
    result.dataset.ok = 'true';
  } catch (error) {
    result.textContent = `The endpoint failed: ${(error as Error).message}`;
    result.dataset.ok = 'false';
  }
}

// ---- tabs ----

const tabs = ['chat', 'models', 'agents', 'memory', 'telemetry', 'settings'];

function selectTab(name: string): void {
  for (const t of tabs) {
    const selected = t === name;
    const tab = $(`tab-${t}`);
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`panel-${t}`).hidden = !selected;
  }
  if (name === 'models') void showModels();
  if (name === 'agents') void showAgents();
  if (name === 'memory') void showMemory();
  if (name === 'telemetry') void sampleTelemetry();
}

function wireTabs(): void {
  for (const [i, t] of tabs.entries()) {
    const tab = $(`tab-${t}`);
    tab.addEventListener('click', () => selectTab(t));
    tab.addEventListener('keydown', (e) => {
      const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      selectTab(next);
      $(`tab-${next}`).focus();
    });
  }
}

// ---- start ----

async function main(): Promise<void> {
  wireTabs();
  if (import.meta.env.PROD) {
    const { registerSW } = await import('virtual:pwa-register');
    registerSW({ immediate: true });
  }
  const update = () =>
    banner('offline', navigator.onLine ? undefined : 'Offline: local models only.');
  addEventListener('online', update);
  addEventListener('offline', update);
  update();

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLTextAreaElement>('prompt');
    const text = input.value.trim();
    if (!text || running) return;
    input.value = '';
    void send(text);
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      $<HTMLFormElement>('composer').requestSubmit();
    }
  });
  $('stop').addEventListener('click', () => running?.abort());
  $('new-chat').addEventListener('click', () => {
    conversation = newConversationId();
    void showConversation();
  });
  $('url-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = $<HTMLInputElement>('model-url').value;
    const name = decodeURIComponent(url.split('/').pop() ?? url);
    void useModel({ id: url, name, url, size: 0, quant: '?', license: 'see its model card' });
  });
  const drop = $('drop');
  const file = $<HTMLInputElement>('file');
  const useFile = (f: File) =>
    void startEngine(
      { id: f.name, name: f.name, url: f.name, size: f.size, quant: '?', license: '?' },
      f,
    ).catch((error: Error) => setStatus(`Could not load ${f.name}: ${error.message}`));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) useFile(f);
  });
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') file.click();
  });
  drop.addEventListener('click', () => file.click());
  file.addEventListener('change', () => file.files?.[0] && useFile(file.files[0]));
  $('memory-search').addEventListener('submit', (e) => {
    e.preventDefault();
    void showMemory($<HTMLInputElement>('memory-query').value);
  });
  $('memory-export').addEventListener('click', async () => {
    if (!memory) return;
    const data = await memory.export('responder');
    const a = el('a', {
      href: URL.createObjectURL(
        new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }),
      ),
      download: 'agentgpu-memory.json',
    });
    a.click();
    URL.revokeObjectURL(a.href);
  });
  $('memory-import').addEventListener('change', async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (!f || !memory) return;
    await memory.import(JSON.parse(await f.text()), 'responder');
    await showMemory();
  });
  const savedPolicy = localStorage.getItem('agentgpu-demo-policy');
  $<HTMLTextAreaElement>('policy').value =
    savedPolicy ?? JSON.stringify(defaultPolicy('', ''), null, 2);
  // A policy applied before comes back (the API key does not: it lives in this tab only).
  if (savedPolicy) cloud = cloudFrom(checkPolicy());
  for (const id of ['endpoint', 'cloud-model']) {
    $(id).addEventListener('change', () => {
      const current = checkPolicy() ?? defaultPolicy('', '');
      const endpoint = $<HTMLInputElement>('endpoint').value;
      const model = $<HTMLInputElement>('cloud-model').value;
      const base = defaultPolicy(endpoint, model);
      $<HTMLTextAreaElement>('policy').value = JSON.stringify(
        { ...current, cloud: { ...base.cloud } },
        null,
        2,
      );
      checkPolicy();
    });
  }
  $('policy').addEventListener('input', () => checkPolicy());
  $('offload-form').addEventListener('submit', (e) => void applyOffload(e));
  $('offload-test').addEventListener('click', () => void testOffload());
  setInterval(() => void sampleTelemetry().catch(() => {}), 1000);

  await showConversation();
  catalog = ((await (await fetch('/models.json')).json()) as { models: CatalogModel[] }).models;
  hasWebGpu = !!(await navigator.gpu?.requestAdapter().catch(() => null));
  if (!hasWebGpu) {
    banner(
      'gpu',
      'This browser offers no WebGPU adapter: the assistant can only use a cloud endpoint. Set one under Offload.',
    );
    setStatus('Cloud only');
    return;
  }
  const chosen = catalog.find((m) => m.id === localStorage.getItem(CHOSEN));
  const cache = await caches.open(MODEL_CACHE);
  const hit = chosen && (await cache.match(absolute(chosen.url)));
  if (chosen && hit) await startEngine(chosen, await hit.blob());
  else guidedStart();
}

main().catch((error: Error) => setStatus(`Could not start: ${error.message}`));
