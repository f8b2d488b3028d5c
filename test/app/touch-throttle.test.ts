import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TouchThrottle } from '../../src/app/sessions/touch-throttle.ts';

const MINUTE = 60_000;
/** How many expiries the throttle keeps (KNOWN_EXPIRY_MAX). */
const KEPT = 50_000;

describe('TouchThrottle', () => {
  it('skips a touch only while the known expiry is less than a minute older, however often it is told again', () => {
    const throttle = new TouchThrottle();
    const at = Date.now() + 60 * MINUTE;
    assert.equal(throttle.skips('s', at), false, 'nothing known: written');
    throttle.remember('s', at);
    for (let read = 0; read < 5; read++) {
      throttle.remember('s', at); // each request's read of the session tells the same expiry
      assert.equal(throttle.skips('s', at + 10_000), true);
      assert.equal(throttle.skips('s', at + MINUTE), false);
    }
    throttle.remember('s', at + MINUTE);
    assert.equal(throttle.skips('s', at + MINUTE + 10_000), true, 'a new expiry counts from then on');
    throttle.remember('s', undefined);
    assert.equal(throttle.skips('s', at + MINUTE + 10_000), false, 'a destroyed session is written again');
  });

  it('moves an entry only when its expiry changes: the one changed longest ago is dropped first', () => {
    const throttle = new TouchThrottle();
    const at = Date.now() + 60 * MINUTE;
    throttle.remember('read-again', at);
    throttle.remember('changed', at);
    for (let i = 0; i < KEPT - 2; i++) throttle.remember(`other-${i}`, at);
    // Read again unchanged (every request does this) and changed (a touch written).
    throttle.remember('read-again', at);
    throttle.remember('changed', at + MINUTE);
    throttle.remember('one-more', at);
    assert.equal(throttle.skips('read-again', at + 10_000), false, 'the oldest change is dropped');
    assert.equal(throttle.skips('changed', at + MINUTE + 10_000), true, 'a changed entry went to the end');
    assert.equal(throttle.skips('other-0', at + 10_000), true);
  });
});
