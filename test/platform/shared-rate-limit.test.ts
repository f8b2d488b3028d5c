import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { RateLimitCounters } from '../../src/platform/rate-limit-counters.ts';
import { SharedWindowLimiter, type RateLimitDecision, type SharedCounters } from '../../src/platform/rate-limit.ts';
import { testDatabases } from '../helpers/databases.ts';

/** The shared counters, counting how often they are written to. */
function counting(counters: SharedCounters): SharedCounters & { writes: number } {
  const wrapped = {
    writes: 0,
    add(key: string, hits: number, windowMs: number) {
      wrapped.writes++;
      return counters.add(key, hits, windowMs);
    },
  };
  return wrapped;
}

const noErrors = (err: unknown) => {
  throw err;
};

/** `n` requests one after another, each waiting for its answer (as a request waits for its middleware). */
async function hits(limiter: SharedWindowLimiter, key: string, n: number): Promise<RateLimitDecision[]> {
  const decisions: RateLimitDecision[] = [];
  for (let i = 0; i < n; i++) decisions.push(await limiter.hit(key));
  return decisions;
}

for (const variant of testDatabases({ sqlite: 'file' })) {
  describe(`a limit shared through the database by several processes [${variant.label}]`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ database, cleanup } = await variant.open());
    });
    after(async () => {
      await cleanup();
    });

    const processes = (n: number, limit: number, windowMs = 60_000) => {
      const counters = counting(new RateLimitCounters(database, 'rate_limit_hits'));
      const name = `shared-${Math.random().toString(36).slice(2)}`;
      return { counters, limiters: Array.from({ length: n }, () => new SharedWindowLimiter(limit, windowMs, { counters, name, onError: noErrors })) };
    };

    it('a small limit is exact across processes: each request is counted in the database', async () => {
      const {
        limiters: [a, b],
      } = processes(2, 20);
      const decisions: RateLimitDecision[] = [];
      for (let i = 0; i < 15; i++) {
        decisions.push(await a!.hit('client'), await b!.hit('client'));
      }
      assert.equal(decisions.filter((d) => d.allowed).length, 20);
      assert.deepEqual(
        decisions.slice(0, 20).map((d) => d.remaining),
        Array.from({ length: 20 }, (_, i) => 19 - i),
      );
      assert.ok(
        decisions.slice(20).every((d) => !d.allowed && d.remaining === 0),
        'both processes refuse once the limit is reached',
      );
      assert.ok(
        decisions.every((d) => d.resetAt === decisions[0]!.resetAt && d.resetAt > Date.now()),
        'one window for both',
      );
      assert.equal((await b!.hit('another client')).allowed, true, 'per key');
    });

    it('a large limit is counted in batches, and still exact for two processes hitting it at once', async () => {
      const {
        counters,
        limiters: [a, b],
      } = processes(2, 2_000);
      const [fromA, fromB] = await Promise.all([hits(a!, 'client', 1_500), hits(b!, 'client', 1_500)]);
      const admitted = [...fromA!, ...fromB!].filter((d) => d.allowed).length;
      assert.equal(admitted, 2_000);
      assert.ok(fromA!.some((d) => d.allowed) && fromB!.some((d) => d.allowed), 'both processes admitted some');
      assert.ok(counters.writes < 3_000 / 4, `${counters.writes} database writes for 3,000 requests`);
      await Promise.all([a!.close(), b!.close()]);
    });

    it('hits admitted between batches reach the database: a process started later sees them', async () => {
      const {
        limiters: [a, later],
      } = processes(2, 10_000);
      await hits(a!, 'client', 300);
      await a!.close();
      const first = await later!.hit('client');
      assert.equal(first.remaining, 10_000 - 301);
    });

    it('a new window starts when the last one ends', async () => {
      const {
        limiters: [a, b],
      } = processes(2, 2, 300);
      assert.deepEqual(
        (await hits(a!, 'client', 2)).map((d) => d.allowed),
        [true, true],
      );
      assert.equal((await b!.hit('client')).allowed, false);
      await new Promise((resolve) => setTimeout(resolve, 350));
      assert.equal((await b!.hit('client')).allowed, true);
    });
  });
}

describe('a shared limit whose database cannot be reached', () => {
  it('counts in the process alone, says so, and uses the database again once it answers', async () => {
    let down = true;
    let total = 0;
    const errors: unknown[] = [];
    const counters: SharedCounters = {
      async add(_key, hits) {
        if (down) throw new Error('connection refused');
        total += hits;
        return { hits: total, resetsAt: Date.now() + 60_000 };
      },
    };
    const limiter = new SharedWindowLimiter(3, 60_000, { counters, name: 'down', onError: (err) => errors.push(err) });
    assert.deepEqual(
      (await hits(limiter, 'client', 4)).map((d) => d.allowed),
      [true, true, true, false],
    );
    assert.equal(errors.length, 4);
    down = false;
    const next = await limiter.hit('client');
    assert.equal(total, 5, 'the hits counted alone are added once the database answers');
    assert.equal(next.allowed, false);
  });
});
