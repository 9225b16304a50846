// The model-host worker entry. spawnModelHost() starts it; an app that starts its own does so with
// `new Worker(new URL('agentgpu/worker', import.meta.url), { type: 'module' })` (webpack, vite)
// and hands it to connectModelHost().
import * as Comlink from 'comlink';
import { ModelHost } from './host.js';
import { installErrorTransfer } from './transfer.js';

installErrorTransfer();
Comlink.expose(new ModelHost((message) => self.postMessage(message)));
