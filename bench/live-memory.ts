/**
 * What a server the bench started keeps in memory, as opposed to its RSS, which also counts the
 * garbage V8 lets pile up between collections (docs/performance.md "Scaling out"): the soak's
 * memory check.
 */
import type { ServerProcess } from './support.ts';

/** How a server answers `memory` on its stdin: its live memory, in bytes (see liveMemory). */
const MEMORY_LINE = /^MEMORY (\d+)$/m;

/**
 * In a server started with --expose-gc: answers each `memory` line on stdin with a full garbage
 * collection, then `MEMORY <bytes>` on stdout, the V8 heap in use plus the memory outside it
 * that JavaScript objects hold (Buffers). What a process keeps, unlike its RSS, which also
 * counts the garbage V8 lets pile up between collections.
 */
export function answerMemoryProbes(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line !== 'memory') continue;
      gc();
      const { heapUsed, external } = process.memoryUsage();
      process.stdout.write(`MEMORY ${heapUsed + external}\n`);
    }
  });
}

/** A server's live memory after a full collection (answerMemoryProbes); undefined if it does not answer within `timeoutMs`. */
export function liveMemory(server: ServerProcess, timeoutMs = 30_000): Promise<number | undefined> {
  if (server.exitCode !== null || server.signalCode !== null || !server.stdin?.writable) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let said = '';
    const onData = (d: Buffer) => {
      said += d.toString();
      const line = MEMORY_LINE.exec(said);
      if (line) done(Number(line[1]));
    };
    const done = (bytes: number | undefined) => {
      clearTimeout(timer);
      server.stdout!.off('data', onData);
      resolve(bytes);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    server.stdout!.on('data', onData);
    server.stdin!.write('memory\n');
  });
}
