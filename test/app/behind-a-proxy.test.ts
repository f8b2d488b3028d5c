import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import supertest from 'supertest';
import { accordPerSuite, type TestAccord } from '../helpers/accord.ts';
import { testAppDatabases } from '../helpers/app-databases.ts';
import { testDatabases } from '../helpers/databases.ts';

/** The app published at https behind a TLS-terminating proxy, reached here over plain http from loopback. */
const HTTPS_APP_URL = 'https://accounts.example.com';

/** Starts a sign-in as the proxy would forward it; the session cookie the app sets, if any. */
async function sessionCookie(accord: TestAccord, forwarded: Record<string, string>): Promise<string | undefined> {
  const request = supertest(accord.app.app).get('/login');
  for (const [name, value] of Object.entries(forwarded)) request.set(name, value);
  const res = await request;
  assert.equal(res.status, 302, res.text.slice(0, 200));
  return ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((cookie) => cookie.startsWith('accord.sid='));
}

const databases = testDatabases();
const appDatabases = testAppDatabases();

for (const [index, db] of databases.entries()) {
  const appDb = appDatabases[index]!;

  describe(`the app's TRUST_PROXY: secure cookies behind the proxies it names [${db.label}]`, () => {
    describe('TRUST_PROXY=loopback', () => {
      let accord: TestAccord;
      accordPerSuite(
        db,
        appDb,
        (a) => {
          accord = a;
        },
        { env: { APP_URL: HTTPS_APP_URL, TRUST_PROXY: 'loopback' } },
      );
      it("takes the proxy's word that the browser's connection is https, and sets a Secure session cookie", async () => {
        const cookie = await sessionCookie(accord, { 'X-Forwarded-Proto': 'https', 'X-Forwarded-For': '203.0.113.9' });
        assert.ok(cookie, 'the session cookie is set');
        assert.match(cookie, /; Secure/i);
        assert.equal(await sessionCookie(accord, {}), undefined, 'a request that did not come over https gets no Secure cookie');
      });
    });

    describe('TRUST_PROXY names another proxy', () => {
      let accord: TestAccord;
      accordPerSuite(
        db,
        appDb,
        (a) => {
          accord = a;
        },
        { env: { APP_URL: HTTPS_APP_URL, TRUST_PROXY: '10.0.0.0/8' } },
      );
      it('ignores X-Forwarded-Proto from a peer it does not trust', async () => {
        assert.equal(await sessionCookie(accord, { 'X-Forwarded-Proto': 'https' }), undefined);
      });
    });
  });
}
