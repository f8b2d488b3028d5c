import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { TouchThrottle } from '../../src/app/sessions/touch-throttle.ts';
import { CsrfTokens } from '../../src/app/web/csrf.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A clock the test moves by hand. */
function clock(start = 1_000_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('the session touch throttle', () => {
  it('skips a touch within a minute of the expiry it knows, and not after', () => {
    const time = clock();
    const throttle = new TouchThrottle(time.now);
    throttle.remember('a', time.now() + HOUR);
    time.advance(30_000);
    assert.equal(throttle.skips('a', time.now() + HOUR), true);
    time.advance(30_000);
    assert.equal(throttle.skips('a', time.now() + HOUR), false, 'a touch a minute later moves the expiry a minute');
    assert.equal(throttle.skips('b', time.now() + HOUR), false, 'an unknown session is touched');
  });

  it('forgets the sessions remembered a minute ago or more, however many there were', () => {
    const time = clock();
    const throttle = new TouchThrottle(time.now);
    for (let i = 0; i < 5_000; i++) throttle.remember(`old-${i}`, time.now() + HOUR);
    assert.equal(throttle.size, 5_000);
    time.advance(MINUTE);
    throttle.remember('new', time.now() + HOUR);
    assert.equal(throttle.size, 1, 'only the session of the last minute is kept');
    assert.equal(throttle.skips('new', time.now() + HOUR), true);
    assert.equal(throttle.skips('old-0', time.now() + HOUR), false);
  });

  it('keeps every session of the last minute, and forgets a destroyed one', () => {
    const time = clock();
    const throttle = new TouchThrottle(time.now);
    for (let i = 0; i < 100; i++) {
      throttle.remember(`s-${i}`, time.now() + HOUR);
      time.advance(500);
    }
    assert.equal(throttle.size, 100);
    throttle.remember('s-99', undefined);
    assert.equal(throttle.size, 99);
    assert.equal(throttle.skips('s-99', time.now() + HOUR), false);
    assert.equal(throttle.skips('s-0', time.now() + HOUR), true, '50 s after it was remembered');
  });

  it('answers the same however often a read tells the same expiry again', () => {
    const time = clock();
    const throttle = new TouchThrottle(time.now);
    const expiresAt = time.now() + HOUR;
    throttle.remember('s', expiresAt);
    for (let seconds = 10; seconds <= 60; seconds += 10) {
      time.advance(10_000);
      throttle.remember('s', expiresAt);
      assert.equal(throttle.skips('s', time.now() + HOUR), seconds < 60, `${seconds} s after the expiry was written`);
    }
    throttle.remember('s', time.now() + HOUR);
    assert.equal(throttle.skips('s', time.now() + 10_000 + HOUR), true, 'a new expiry counts from then on');
    throttle.remember('s', undefined);
    assert.equal(throttle.skips('s', time.now() + HOUR), false, 'a destroyed session is touched');
  });

  it('leaves an entry as it was when its expiry is told again unchanged, and forgets it a minute after it was first told', () => {
    const time = clock();
    const throttle = new TouchThrottle(time.now);
    throttle.remember('read-again', time.now() + HOUR);
    throttle.remember('touched', time.now() + HOUR);
    time.advance(30_000);
    throttle.remember('read-again', time.now() - 30_000 + HOUR); // each request's read of the session
    throttle.remember('touched', time.now() + HOUR); // a touch written
    time.advance(30_000);
    throttle.remember('new', time.now() + HOUR);
    assert.equal(throttle.size, 2, 'the entry read again was not moved: a minute old, it is forgotten');
    assert.equal(throttle.skips('read-again', time.now() + HOUR), false);
    assert.equal(throttle.skips('touched', time.now() + HOUR), true, 'a changed expiry was moved, and counts from then on');
  });

  it('keeps no more than its bound within a minute', () => {
    const time = clock();
    const throttle = new TouchThrottle(time.now);
    for (let i = 0; i < 50_500; i++) throttle.remember(`s-${i}`, time.now() + HOUR);
    assert.equal(throttle.size, 50_000);
    assert.equal(throttle.skips('s-0', time.now() + HOUR), false, 'the oldest went first');
    assert.equal(throttle.skips('s-50499', time.now() + HOUR), true);
  });
});

describe('the CSRF tokens kept', () => {
  const secret = 'a-secret-for-the-csrf-token-test';
  const expected = (sid: string) => createHmac('sha256', secret).update(`csrf:${sid}`).digest('base64url');

  it('hands out the HMAC of the session id, kept or computed again', () => {
    const time = clock();
    const tokens = new CsrfTokens(secret, time.now);
    assert.equal(tokens.tokenOf('sid-1'), expected('sid-1'));
    assert.equal(tokens.tokenOf('sid-1'), expected('sid-1'));
    time.advance(2 * MINUTE);
    assert.equal(tokens.tokenOf('sid-1'), expected('sid-1'));
    assert.notEqual(tokens.tokenOf('sid-2'), tokens.tokenOf('sid-1'));
  });

  it('keeps the tokens of the last minute only, however many sessions came before', () => {
    const time = clock();
    const tokens = new CsrfTokens(secret, time.now);
    for (let i = 0; i < 5_000; i++) tokens.tokenOf(`old-${i}`);
    assert.equal(tokens.size, 5_000);
    time.advance(MINUTE);
    tokens.tokenOf('new');
    assert.equal(tokens.size, 1);
  });

  it('keeps no more than its bound within a minute', () => {
    const tokens = new CsrfTokens(secret, clock().now);
    for (let i = 0; i < 10_500; i++) tokens.tokenOf(`s-${i}`);
    assert.equal(tokens.size, 10_000);
  });
});
