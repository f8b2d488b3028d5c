import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { ManagementClient } from '../../src/app/management/management-client.ts';
import { appRoute } from '../../src/app/web/app-route.ts';

const user = { user_id: 'auth0|1', auth_time: Math.floor(Date.now() / 1000) } as Express.User;
const call = (handler: RequestHandler, req: Partial<Request>) => handler(req as Request, {} as Response, (() => {}) as NextFunction);

describe('appRoute', () => {
  it('calls a handler that answers at once without making a promise, its form checked first', () => {
    const answered: unknown[] = [];
    const [, run] = appRoute({ form: z.object({ a: z.string() }) }, ({ form }) => {
      answered.push(form);
    });
    assert.equal(call(run!, { user, body: { a: 'x' } }), undefined);
    assert.deepEqual(answered, [{ a: 'x' }]);
    assert.throws(() => call(run!, { user, body: {} }), /incomplete or not valid/);
    assert.throws(
      () => call(run!, { body: { a: 'x' } }),
      (err: Error & { code?: string }) => err.code === 'sign_in_required',
    );
  });

  it('waits for the fresh user and the recent sign-in before the handler', async () => {
    const order: string[] = [];
    const management = {
      getUser: async () => {
        order.push('read');
        return { user_id: 'auth0|1', identities: [] };
      },
    } as unknown as ManagementClient;
    const [, run] = appRoute({ activeUser: management, recentLogin: { maxAge: -1, stale: async () => void order.push('stale') } }, () => {
      order.push('handler');
    });
    await call(run!, { user });
    assert.deepEqual(order, ['read', 'stale']);
  });
});
