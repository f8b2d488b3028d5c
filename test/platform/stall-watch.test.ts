import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ActivityLookUp, type BackendActivity, StallWatch, type WatchedClient } from '../../src/platform/postgres-pool.ts';

const TIMEOUTS = { connectTimeoutMs: 5_000, statementTimeoutMs: 10_000 };

/** A pool's client as the watch sees it: a backend's process id and a socket it can end. */
function fakeClient(pid: number | undefined) {
  const client = { processID: pid, ended: 0, connection: { stream: { destroy: () => void client.ended++ } } };
  return client as typeof client & WatchedClient;
}

/** A watch on a clock of the test's, whose look at PostgreSQL is `answer` (run when asked, at `asked`). */
function watchWith(answer: (asked: number) => BackendActivity[] | undefined) {
  let time = 0;
  const lookUp: ActivityLookUp = async (_config, _bound, _pids, now) => {
    const asked = now();
    const rows = answer(asked);
    return rows && { asked, rows };
  };
  const watch = new StallWatch(lookUp, () => time);
  const at = (ms: number) => {
    time = ms;
  };
  return { watch, at };
}

describe('StallWatch: connections left without an answer', () => {
  it('ends a statement its backend never got: the backend idle, its last statement another', async () => {
    const client = fakeClient(42);
    const { watch, at } = watchWith(() => [{ pid: 42, state: 'idle in transaction', query: 'select previous', since_ms: 1_400 }]);
    watch.waiting(client, 'select ours');
    at(1_500);
    await watch.check({}, TIMEOUTS);
    assert.equal(client.ended, 1);
  });

  it('leaves a statement that is running, or that has not waited long enough', async () => {
    const running = fakeClient(42);
    const recent = fakeClient(43);
    const { watch, at } = watchWith(() => [
      { pid: 42, state: 'active', query: 'select ours', since_ms: 1_400 },
      { pid: 43, state: 'idle', query: 'select previous', since_ms: 500 },
    ]);
    watch.waiting(running, 'select ours');
    at(900);
    watch.waiting(recent, 'select ours');
    at(1_500);
    await watch.check({}, TIMEOUTS);
    assert.equal(running.ended, 0);
    assert.equal(recent.ended, 0);
  });

  it('leaves a client answered while PostgreSQL was asked, and now waiting on a later statement the look did not see', async () => {
    // Seen under load in the two-process storm: the stalled statement was answered during the
    // look, the transaction sent its next one, and the backend's state (its previous statement,
    // idle in transaction) was taken for the new statement's: a healthy connection was ended.
    const client = fakeClient(42);
    const { watch, at } = watchWith((asked) => {
      watch.answered(client);
      at(asked + 5);
      watch.waiting(client, 'insert into audit_events');
      return [{ pid: 42, state: 'idle in transaction', query: 'update identities', since_ms: 3 }];
    });
    watch.waiting(client, 'update identities');
    at(1_500);
    await watch.check({}, TIMEOUTS);
    assert.equal(client.ended, 0);
  });

  it('ends a connection attempt still under way once a fresh one succeeded, unless it finished meanwhile', async () => {
    const stuck = fakeClient(undefined);
    const finishing = fakeClient(undefined);
    const { watch, at } = watchWith(() => {
      watch.answered(finishing);
      return [];
    });
    watch.waiting(stuck);
    watch.waiting(finishing);
    at(1_500);
    await watch.check({}, TIMEOUTS);
    assert.equal(stuck.ended, 1);
    assert.equal(finishing.ended, 0);
  });

  it('ends nothing while PostgreSQL does not answer the look', async () => {
    const client = fakeClient(42);
    const { watch, at } = watchWith(() => undefined);
    watch.waiting(client, 'select ours');
    at(1_500);
    await watch.check({}, TIMEOUTS);
    assert.equal(client.ended, 0);
  });
});
