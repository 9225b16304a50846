// The model-host worker for Node: a child process running the ModelHost on Dawn, spoken to over
// Node's IPC channel. A process, not a worker_thread: Dawn's Node binding aborts the whole
// process when a thread holding a device with pending GPU promises exits, so a host that
// crashes (or is killed by the watchdog) would take the coordinator with it.
import * as Comlink from 'comlink';
import { ModelHost, type HostEnvironment } from '../worker/host.js';
import { installErrorTransfer } from '../worker/transfer.js';
import { openModelSource } from '../model/loader/node.js';
import { acquireNodeGpu } from './gpu.js';
import { processEndpoint } from './ipc-endpoint.js';

const nodeEnvironment: HostEnvironment = {
  acquireGpu: (options) => acquireNodeGpu(options),
  openSource: (input, { cache, onProgress }) =>
    openModelSource(input, cache === false ? { cache: false, onProgress } : { onProgress }),
  crash: () => process.exit(70),
};

if (!process.send) throw new Error('host-process.js runs as a child process with an IPC channel');
installErrorTransfer();
const endpoint = processEndpoint(process);
Comlink.expose(
  new ModelHost((message) => endpoint.postMessage(message), nodeEnvironment),
  endpoint,
);
// The coordinator gone (its end of the channel closed): nothing left to serve.
process.on('disconnect', () => process.exit(0));
