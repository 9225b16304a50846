// `agentgpu serve` in a child process, as it is deployed, for the tests and benchmarks that
// need a server they can kill: resolves with its API root (…/v1) once it listens.
import { spawn, type ChildProcess } from 'node:child_process';

export async function startServeProcess(
  args: string[],
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['bin/agentgpu.js', 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /at (http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`agentgpu serve exited with ${code}: ${out}`)));
  });
  return { url, child };
}
