import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { pauseContextWhenIdle } from '../../src/tenant/oidc/request-context.ts';

const req = {} as IncomingMessage;
const res = {} as ServerResponse;

function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('the OpenID Provider request context is switched off while idle', () => {
  it('keeps it on while any request is in flight, and switches it off after the last one', async () => {
    const storage = new AsyncLocalStorage<string>();
    const first = gate();
    const second = gate();
    let readLater: (() => string | undefined) | undefined;
    const seen: Array<string | undefined> = [];
    const handler = pauseContextWhenIdle(
      (_req, _res) =>
        storage.run('request', async () => {
          readLater ??= () => storage.getStore();
          await (seen.length === 0 ? (seen.push('started'), first.opened) : second.opened);
          seen.push(storage.getStore());
        }),
      storage,
    );

    const a = handler(req, res);
    const b = handler(req, res);
    second.open();
    await b;
    // b has ended while a is still running: a must still read its own context.
    first.open();
    await a;
    assert.deepEqual(seen, ['started', 'request', 'request']);
    // Both have ended: the storage is off, so even code created inside a request reads nothing.
    assert.equal(readLater!(), undefined);
    // The next request's run() switches it back on.
    await pauseContextWhenIdle(
      () =>
        storage.run('next', async () => {
          assert.equal(storage.getStore(), 'next');
        }),
      storage,
    )(req, res);
  });

  it('counts a handler that throws, or rejects, as ended', async () => {
    let disabled = 0;
    const context = {
      disable: () => {
        disabled += 1;
      },
    };
    assert.throws(
      () =>
        pauseContextWhenIdle(() => {
          throw new Error('sync');
        }, context)(req, res),
      /sync/,
    );
    assert.equal(disabled, 1);
    await assert.rejects(
      Promise.resolve(
        pauseContextWhenIdle(async () => {
          throw new Error('async');
        }, context)(req, res),
      ),
      /async/,
    );
    assert.equal(disabled, 2);
  });
});
