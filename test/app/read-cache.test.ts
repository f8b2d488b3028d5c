import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ReadCache } from '../../src/app/management/read-cache.ts';

describe('the read cache', () => {
  it('hands out a read again within its ttl, and loads anew after it', async () => {
    const cache = new ReadCache(40);
    let loads = 0;
    const load = async () => ++loads;
    assert.equal(await cache.read('a', false, load), 1);
    assert.equal(await cache.read('a', false, load), 1);
    assert.equal(cache.peek('a'), 1);
    await sleep(60);
    assert.equal(cache.peek('a'), undefined);
    assert.equal(await cache.read('a', false, load), 2);
  });

  it('keeps no read past its ttl once another is stored, so a busy app holds only its recent reads', async () => {
    const cache = new ReadCache(40);
    for (let i = 0; i < 100; i++) await cache.read(`old-${i}`, false, async () => i);
    assert.equal(cache.size, 100);
    await sleep(60);
    await cache.read('new', false, async () => 'new');
    assert.equal(cache.size, 1);
    assert.equal(cache.peek('new'), 'new');
  });

  it('keeps reads still within their ttl', async () => {
    const cache = new ReadCache(60_000);
    for (let i = 0; i < 100; i++) await cache.read(`k-${i}`, false, async () => i);
    assert.equal(cache.size, 100);
    assert.equal(cache.peek('k-0'), 0);
  });
});
