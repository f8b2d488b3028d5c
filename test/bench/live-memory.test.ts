import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { liveMemory } from '../../bench/live-memory.ts';
import type { ServerProcess } from '../../bench/support.ts';

const probes = fileURLToPath(new URL('../../bench/live-memory.ts', import.meta.url));

/**
 * A process that answers memory probes: it keeps `keptMb` of objects and Buffers, and lets go
 * of 48 MB it held long enough to reach V8's old space (garbage only a full collection frees)
 * before it says it is ready.
 */
async function prober(nodeArgs: string[], keptMb: number): Promise<ServerProcess> {
  const script = `
    const { answerMemoryProbes } = await import(${JSON.stringify(probes)});
    globalThis.kept = Array.from({ length: ${keptMb * 16} }, (_, i) => ({ i, bytes: Buffer.alloc(32 * 1024, i), list: Array.from({ length: 4096 }, (_, j) => j + 0.5) }));
    globalThis.garbage = Array.from({ length: 48 * 16 }, () => Array.from({ length: 8192 }, (_, j) => j + 0.5));
    globalThis.garbage = undefined;
    answerMemoryProbes();
    process.stdout.write('READY\\n');`;
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  assert.match(chunk.toString(), /READY/);
  return Object.assign(child, { name: 'prober', ready: '', output: () => '', stop: async () => void child.kill() });
}

describe('liveMemory (the soak’s memory check)', () => {
  it('counts what a process keeps, not the garbage it made', async () => {
    const [small, large] = await Promise.all([prober(['--expose-gc'], 0), prober(['--expose-gc'], 32)]);
    try {
      const [base, kept] = await Promise.all([liveMemory(small), liveMemory(large)]);
      assert.ok(base !== undefined && kept !== undefined, 'both answer');
      const mb = (bytes: number) => bytes / 2 ** 20;
      // 32 MB kept (half of it in Buffers, outside the V8 heap): all of it shows, the 48 MB of garbage does not.
      assert.ok(mb(kept - base) > 30 && mb(kept - base) < 50, `kept ${mb(kept - base)} MB`);
      assert.ok(mb(base) < 40, `a process that kept nothing: ${mb(base)} MB`);
    } finally {
      small.kill();
      large.kill();
    }
  });

  it('says nothing of a process started without --expose-gc', async () => {
    const child = await prober([], 0);
    try {
      assert.equal(await liveMemory(child, 1_000), undefined);
    } finally {
      child.kill();
    }
  });
});
