import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appError } from '../../src/app/app-errors.ts';
import { platformErrors } from '../../src/platform/errors.ts';
import { isDependencyError } from '../../src/platform/dependency-errors.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDependencyError', () => {
  it('recognises a dependency that is down, cut off or too slow', () => {
    for (const err of [
      withCode('ECONNREFUSED'),
      withCode('ECONNRESET'),
      withCode('ETIMEDOUT'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Query read timeout'),
      withCode('57014', 'canceling statement due to statement timeout'),
      withCode('57P01', 'terminating connection due to administrator command'),
      withCode('08006'),
      withCode('53300'),
      // fetch (the tenant over HTTP) and net.connect wrap the socket's error.
      new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') }),
      new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')]),
      appError('management_unavailable'),
    ])
      assert.equal(isDependencyError(err), true, String(err));
  });

  it("recognises node-redis' offline, closed and timed-out errors by their class", async () => {
    const errors = await import('@redis/client/dist/lib/errors.js');
    for (const err of [
      new errors.ClientOfflineError(),
      new errors.ClientClosedError(),
      new errors.TimeoutError(),
      new errors.SocketClosedUnexpectedlyError(),
      new errors.ConnectionTimeoutError(),
    ]) {
      assert.equal(isDependencyError(err), true, err.constructor.name);
    }
  });

  it('leaves bugs, bad requests and refusals alone', () => {
    for (const err of [
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      withCode('23505', 'duplicate key value'),
      withCode('42P01', 'relation does not exist'),
      platformErrors.error('invalid_body'),
      platformErrors.error('internal_error'),
      undefined,
      null,
      'ECONNREFUSED',
    ])
      assert.equal(isDependencyError(err), false, String(err));
  });
});
