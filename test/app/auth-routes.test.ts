import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express from 'express';
import supertest from 'supertest';
import { authRoutes } from '../../src/app/auth/auth-routes.ts';
import type { AppPassport, SessionUser, TenantOidc } from '../../src/app/auth/tenant-oidc.ts';

const user: SessionUser = { user_id: 'auth0|abc', email: 'a@example.com', email_verified: true, name: undefined, picture: undefined, auth_time: 1 };

describe('the sign-in callback', () => {
  it('hands over the verified user before the new session is made and saved, then marks the new session', async () => {
    const events: string[] = [];
    // passport's part, as its strategy answers once the tenant's tokens are verified.
    const passport = {
      authenticate: (_strategy: string, done: (err: unknown, user: unknown) => void) => () => {
        done(null, user);
      },
    } as unknown as AppPassport;
    const app = express();
    app.use((req, _res, next) => {
      req.session = {
        save: (cb: () => void) => {
          events.push('save');
          cb();
        },
      } as never;
      req.logIn = ((_user: unknown, cb: (err?: unknown) => void) => {
        events.push('session regenerated');
        cb();
      }) as never;
      next();
    });
    app.use(
      authRoutes({
        passport,
        oidc: {} as TenantOidc,
        appUrl: 'http://app.test',
        recentLoginMaxAge: 300,
        onVerified: (u) => {
          events.push(`verified ${u.user_id}`);
        },
        onSignIn: (_req, u) => {
          events.push(`signed in ${u.user_id}`);
        },
      }),
    );
    const res = await supertest(app).get('/callback?code=x&state=y');
    assert.equal(res.status, 303);
    assert.deepEqual(events, ['verified auth0|abc', 'session regenerated', 'signed in auth0|abc', 'save']);
  });
});
