// The model-host worker entry: `new Worker(new URL('agentgpu/worker', import.meta.url), { type: 'module' })`.
import * as Comlink from 'comlink';
import { ModelHost } from './host.js';
import { installErrorTransfer } from './transfer.js';

installErrorTransfer();
Comlink.expose(new ModelHost((message) => self.postMessage(message)));
