import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { testRedis } from './app-databases.ts';

/** Runs `fn` with REDIS_URL set to `url`, restoring it after. */
async function withRedisUrl<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.REDIS_URL;
  process.env.REDIS_URL = url;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = before;
  }
}

describe("the tests' Redis probe", () => {
  it('finds a server that answered while the event loop was held up past the timeout', async () => {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const found = await withRedisUrl(`redis://127.0.0.1:${port}`, () => {
        const probe = testRedis();
        // Synchronous work longer than the probe's timeout, as module loading on a loaded machine.
        const until = Date.now() + 2_500;
        while (Date.now() < until);
        return probe;
      });
      assert.equal(found.url, `redis://127.0.0.1:${port}`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('gives the reason when nothing answers', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const found = await withRedisUrl(`redis://127.0.0.1:${port}`, testRedis);
    assert.equal(found.url, undefined);
    assert.match('reason' in found ? found.reason : '', new RegExp(`no Redis answers at 127\\.0\\.0\\.1:${port}`));
  });
});
