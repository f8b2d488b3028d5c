import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import helmet from 'helmet';
import { replayHeaders } from '../../src/platform/static-headers.ts';

function response(): { req: IncomingMessage; res: ServerResponse } {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = '/login/abc';
  const res = new ServerResponse(req);
  res.setHeader('X-Powered-By', 'Express');
  return { req, res };
}

describe('headers computed once and replayed', () => {
  it("sets exactly helmet's headers, and removes what helmet removes", () => {
    for (const options of [
      {},
      { contentSecurityPolicy: { directives: { 'frame-ancestors': ["'none'"], 'form-action': null } }, frameguard: { action: 'deny' as const } },
    ]) {
      const expected = response();
      let nexts = 0;
      helmet(options)(expected.req, expected.res, () => nexts++);
      const replayed = response();
      replayHeaders(helmet(options))(replayed.req, replayed.res, () => nexts++);
      assert.equal(nexts, 2);
      assert.deepEqual(replayed.res.getHeaders(), expected.res.getHeaders());
      assert.ok(expected.res.getHeader('content-security-policy'));
      assert.equal(replayed.res.getHeader('x-powered-by'), undefined);
    }
  });

  it('refuses a middleware that does not answer at once', () => {
    assert.throws(() => replayHeaders((_req, _res, next) => void setImmediate(next)), /did not call next/);
  });
});
