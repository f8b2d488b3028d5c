import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type supertest from 'supertest';
import { MANAGEMENT_SCOPES } from '../../src/tenant/clients/client-registry.ts';
import { testDatabases } from '../helpers/databases.ts';
import { createEmailUser, createSocialUser } from '../helpers/management.ts';
import { startTestTenant, type TestTenant } from '../helpers/tenant.ts';

/** What a client sees of an answer, less what changes from one call to the next (the date, the limit's count). */
function seen(res: supertest.Response) {
  const headers = Object.entries(res.headers).filter(([name]) => !['date', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after'].includes(name));
  return { status: res.status, headers, body: res.text };
}

// Calls to a route's exact path are dispatched from the router's table (router.ts); the same
// call with a trailing slash goes through Express's router. Both must answer alike.
for (const db of testDatabases()) {
  describe(`Management API: routes from the table answer as through Express's router [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;
    let admin: string;
    let email: string;

    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      t = await startTestTenant(opened.database, { managementRateLimitPerMinute: 50 });
      admin = await t.token(MANAGEMENT_SCOPES);
      email = (await createEmailUser(t)).email!;
    });
    after(async () => {
      await t.close();
      await cleanup();
    });

    const both = async (call: (path: (p: string) => string) => supertest.Test) => {
      const table = await call((p) => p);
      const router = await call((p) => (p.includes('?') ? p.replace('?', '/?') : `${p}/`));
      assert.deepEqual(seen(table), seen(router));
      return table;
    };
    const get = (path: string, headers: Record<string, string>) => both((p) => t.request.get(`/api/v2${p(path)}`).set(headers));
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    it('users-by-email: found, none, bad and extra query parameters', async () => {
      const found = await get(`/users-by-email?email=${encodeURIComponent(email.toUpperCase())}`, bearer(admin));
      assert.equal(found.status, 200);
      assert.equal((found.body as unknown[]).length, 1);
      assert.equal((await get('/users-by-email?email=nobody%40example.com', bearer(admin))).status, 200);
      assert.equal((await get('/users-by-email', bearer(admin))).status, 400);
      assert.equal((await get(`/users-by-email?email=${encodeURIComponent(email)}&x=1`, bearer(admin))).status, 400);
      assert.equal((await get('/users-by-email?email=a%00b', bearer(admin))).status, 400);
    });

    it('refuses a missing, malformed or foreign token and a token without the scope', async () => {
      assert.equal((await get('/users-by-email?email=a%40b.c', {})).status, 401);
      assert.equal((await get('/users-by-email?email=a%40b.c', { authorization: 'Basic x' })).status, 401);
      assert.equal((await get('/users-by-email?email=a%40b.c', bearer(`${admin}x`))).status, 401);
      const writer = await t.token(['update:users']);
      assert.equal((await get('/users-by-email?email=a%40b.c', bearer(writer))).status, 403);
      const person = await t.userToken('auth0|someone', ['read:current_user']);
      assert.equal((await get('/users-by-email?email=a%40b.c', bearer(person))).status, 403);
    });

    it('answers a browser from another origin the same way', async () => {
      const res = await get('/users-by-email?email=a%40b.c', { ...bearer(admin), origin: 'https://elsewhere.example' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.vary, 'Origin');
    });

    it('other routes without parameters: bodies parsed, refused and malformed', async () => {
      assert.equal((await get('/connections', bearer(admin))).status, 200);
      assert.equal((await get('/logs?per_page=2', bearer(admin))).status, 200);
      const post = (body: string) =>
        both((p) =>
          t.request
            .post(`/api/v2${p('/users')}`)
            .set({ ...bearer(admin), 'content-type': 'application/json' })
            .send(body),
        );
      assert.equal((await post('{"connection":"email"')).status, 400);
      assert.equal((await post('{"connection":"email","nope":1}')).status, 400);
      assert.equal((await post('[]')).status, 400);
    });

    it('routes with parameters: a link and an unlink, table then router, answer alike', async () => {
      const auth = bearer(await t.token(MANAGEMENT_SCOPES));
      const primary = `/users/${encodeURIComponent((await createEmailUser(t)).user_id)}`;
      const secondary = (await createSocialUser(t)).user_id;
      const bar = secondary.indexOf('|');
      const [provider, id] = [secondary.slice(0, bar), secondary.slice(bar + 1)];
      const link = (path: string) =>
        t.request
          .post(`/api/v2${path}`)
          .set({ ...auth, 'content-type': 'application/json' })
          .send(JSON.stringify({ provider, user_id: id }));
      const unlink = (path: string) => t.request.delete(`/api/v2${path}`).set(auth);
      const linked = await link(`${primary}/identities`);
      const unlinked = await unlink(`${primary}/identities/${provider}/${id}`);
      assert.equal(linked.status, 201);
      assert.equal((linked.body as unknown[]).length, 2);
      assert.equal(unlinked.status, 200);
      assert.deepEqual(seen(linked), seen(await link(`${primary}/identities/`)));
      assert.deepEqual(seen(unlinked), seen(await unlink(`${primary}/identities/${provider}/${id}/`)));
    });

    it('routes with parameters: refusals, encoded and undecodable parameters', async () => {
      const token = await t.token(MANAGEMENT_SCOPES);
      const auth = bearer(token);
      const user = (await createEmailUser(t)).user_id;
      const mine = `/users/${encodeURIComponent(user)}`;
      const call = (method: 'post' | 'delete' | 'patch' | 'get', path: string, headers: Record<string, string>, body?: string) =>
        both((p) => {
          const req = t.request[method](`/api/v2${p(path)}`).set(headers);
          return body === undefined ? req : req.set('content-type', 'application/json').send(body);
        });
      assert.equal((await call('get', mine, auth)).status, 200);
      assert.equal((await call('get', `/users/${user}`, auth)).status, 200);
      assert.equal((await call('get', '/users/auth0%7Cnobody', auth)).status, 404);
      assert.equal((await call('get', '/users/a%2Fb', auth)).status, 404);
      assert.equal((await call('get', '/users/%E0%A4%A', auth)).status, 400);
      assert.equal((await call('get', `${mine}/logs?per_page=1`, auth)).status, 200);
      assert.equal((await call('get', `${mine}?x=1`, auth)).status, 400);
      assert.equal((await call('patch', mine, auth, '{"nope":1}')).status, 400);
      assert.equal((await call('post', '/users/auth0%7Cnobody/identities', auth, '{"provider":"email","user_id":"x"}')).status, 400);
      assert.equal((await call('post', `${mine}/identities`, auth, '{"provider":"email"')).status, 400);
      assert.equal((await call('post', `${mine}/identities`, auth, '{"provider":"email","user_id":"x","nope":1}')).status, 400);
      assert.equal((await call('post', `${mine}/identities`, auth, JSON.stringify({ provider: 'email', user_id: user.split('|')[1] }))).status, 400);
      assert.equal((await call('post', `${mine}/identities`, {}, '{}')).status, 401);
      const other = await t.userToken('auth0|someone', ['update:current_user_identities']);
      assert.equal((await call('post', `${mine}/identities`, bearer(other), '{"provider":"email","user_id":"x"}')).status, 403);
      assert.equal((await call('delete', `${mine}/identities/email/nobody`, auth)).status, 404);
      assert.equal((await call('delete', `${mine}/identities/email/nobody?restore_metadata=maybe`, auth)).status, 400);
      assert.equal((await call('delete', `${mine}/identities/email/nobody?x=1`, auth)).status, 400);
      assert.equal((await call('delete', `${mine}/identities/email/%E0%A4%A`, auth)).status, 400);
    });

    it('throttles a client alike: 429 with Retry-After', async () => {
      const token = await t.token(['read:users']);
      let last: supertest.Response | undefined;
      for (let i = 0; i < 26; i++) last = await get('/users-by-email?email=a%40b.c', bearer(token));
      assert.equal(last!.status, 429);
      assert.ok(Number(last!.headers['retry-after']) >= 1);
    });
  });
}
