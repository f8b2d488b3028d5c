/**
 * App sessions follow the tenant (docs/security.md case 28): the app's OpenID Connect
 * Back-Channel Logout endpoint refuses every bad logout token and, for a good one, ends exactly
 * the sessions it names; and end to end, the tenant's sign-out, password reset, block, deletion
 * and linking-away end the app sessions of that user. On the SQL session store (SQLite,
 * PostgreSQL) and on Redis, with the app listening on a real port for the tenant to reach.
 */
import assert from 'node:assert/strict';
import { generateKeyPair, importJWK, SignJWT, type JWTPayload } from 'jose';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import supertest from 'supertest';
import { openAppDatabase } from '../../src/app/app-database.ts';
import { migrateApp } from '../../src/app/migrations/app-migrations.ts';
import { LOGOUT_TOKEN_MAX_AGE, LogoutTokenVerifier } from '../../src/app/auth/logout-tokens.ts';
import { SqlOnceClaims } from '../../src/app/sessions/once-claims.ts';
import { isAppError } from '../../src/app/app-errors.ts';
import { BACKCHANNEL_LOGOUT_EVENT } from '../../src/tenant/oidc/backchannel-logout.ts';
import { accordPerSuite, DATABASE_CONNECTION, enterDemoIdentity, enterPassword, signUpAndSignIn, startSignIn, type TestAccord } from '../helpers/accord.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { sessionStoreVariants } from '../helpers/app-databases.ts';
import type { WebBrowser } from '../helpers/web-browser.ts';

const NEW_PASSWORD = 'Battery-staple-8';

/** Whether `b` is signed in to the app: its profile answers, rather than sending it to sign in. */
async function signedIn(accord: TestAccord, b: WebBrowser): Promise<boolean> {
  const page = await b.open(`${accord.appUrl}/profile`, { follow: false });
  if (page.status === 200) return true;
  assert.equal(page.status, 303, `${page.status} ${page.text.slice(0, 200)}`);
  assert.match(page.headers.location!, /^\/login\?returnTo=/);
  return false;
}

/** A new browser signed in to the app through the demo social connection. */
async function demoSession(accord: TestAccord, email: string): Promise<WebBrowser> {
  const b = accord.browser();
  await startSignIn(b, 'demo-social', accord.appUrl);
  await enterDemoIdentity(b, { email });
  assert.ok(await signedIn(accord, b), 'signed in');
  return b;
}

async function userIdOf(accord: TestAccord, email: string): Promise<string> {
  const users = await accord.usersByEmail(email);
  assert.equal(users.length, 1);
  return users[0]!.user_id;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

for (const variant of await sessionStoreVariants()) {
  describe(`the app's back-channel logout endpoint (docs/security.md case 28) [${variant.label}]`, () => {
    let accord!: TestAccord;
    accordPerSuite(
      variant.db,
      variant.appDb,
      (a) => {
        accord = a;
      },
      {
        listen: true,
        env: variant.env,
        ...(variant.redisKeyPrefix ? { redisKeyPrefix: variant.redisKeyPrefix } : {}),
      },
    );

    /** A logout token signed with the tenant's own key, with `claims` changed (undefined removes one). */
    async function logoutToken(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      const payload = Object.fromEntries(
        Object.entries({
          iss: `${accord.tenantUrl}/`,
          aud: accord.appConfig.clientId,
          iat: now,
          exp: now + 120,
          jti: randomBytes(12).toString('base64url'),
          events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
          ...claims,
        }).filter(([, v]) => v !== undefined),
      ) as JWTPayload;
      const key = accord.tenant.keys.signing[0]!;
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'logout+jwt', ...header }).sign(await importJWK(key, 'RS256'));
    }

    const post = (body: Record<string, string | string[]> | string) => supertest(accord.appUrl).post('/backchannel-logout').type('form').send(body);

    it('refuses every bad logout token with 400 invalid_request, and ends no session', async () => {
      const email = uniqueEmail('bcl-bad');
      const b = await demoSession(accord, email);
      const sub = await userIdOf(accord, email);
      const now = Math.floor(Date.now() / 1000);
      const tenantKey = accord.tenant.keys.signing[0]!;
      const foreign = await generateKeyPair('RS256');
      const good = { sub };
      const cases: [string, string | Record<string, string | string[]>][] = [
        [
          'unsigned (alg none)',
          `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64({ iss: `${accord.tenantUrl}/`, aud: accord.appConfig.clientId, iat: now, jti: 'x', sub, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })}.`,
        ],
        [
          'signed with the client secret (HS256)',
          await new SignJWT({
            iss: `${accord.tenantUrl}/`,
            aud: accord.appConfig.clientId,
            iat: now,
            jti: 'h',
            sub,
            events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
          })
            .setProtectedHeader({ alg: 'HS256' })
            .sign(new TextEncoder().encode(accord.appConfig.clientSecret)),
        ],
        [
          "signed by another key under the tenant key's kid",
          await new SignJWT({
            iss: `${accord.tenantUrl}/`,
            aud: accord.appConfig.clientId,
            iat: now,
            jti: 'f',
            sub,
            events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
          })
            .setProtectedHeader({ alg: 'RS256', kid: tenantKey.kid, typ: 'logout+jwt' })
            .sign(foreign.privateKey),
        ],
        [
          'signed by a key the tenant does not publish',
          await new SignJWT({
            iss: `${accord.tenantUrl}/`,
            aud: accord.appConfig.clientId,
            iat: now,
            jti: 'k',
            sub,
            events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
          })
            .setProtectedHeader({ alg: 'RS256', kid: 'someone-else', typ: 'logout+jwt' })
            .sign(foreign.privateKey),
        ],
        ['from another issuer', await logoutToken({ ...good, iss: 'https://evil.example' })],
        ['for another audience', await logoutToken({ ...good, aud: 'another-client' })],
        ['too old', await logoutToken({ ...good, iat: now - LOGOUT_TOKEN_MAX_AGE - 120 })],
        ['issued in the future', await logoutToken({ ...good, iat: now + 600, exp: now + 720 })],
        ['expired', await logoutToken({ ...good, iat: now - 200, exp: now - 100 })],
        ['without events', await logoutToken({ ...good, events: undefined })],
        ['with another event only', await logoutToken({ ...good, events: { 'http://schemas.openid.net/event/other': {} } })],
        ['with the event as a string', await logoutToken({ ...good, events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } })],
        ['with the event as an array', await logoutToken({ ...good, events: { [BACKCHANNEL_LOGOUT_EVENT]: [] } })],
        ['with a nonce (an id_token)', await logoutToken({ ...good, nonce: 'n' })],
        ['with neither sub nor sid', await logoutToken({ sub: undefined })],
        ['with a sub that is not a string', await logoutToken({ sub: 42 })],
        ['without jti', await logoutToken({ ...good, jti: undefined })],
        ['typed as an access token', await logoutToken(good, { typ: 'at+jwt' })],
        ['not a JWT', 'not-a-jwt'],
      ];
      for (const [what, token] of cases) {
        const res = await post(typeof token === 'string' ? { logout_token: token } : token);
        assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
        assert.equal(res.body.error, 'invalid_request', what);
        assert.equal(typeof res.body.error_description, 'string', what);
        assert.equal(res.headers['cache-control'], 'no-store', what);
      }
      for (const [what, body] of [
        ['no logout_token', {}],
        ['logout_token twice', { logout_token: [await logoutToken(good), await logoutToken(good)] }],
      ] as const) {
        const res = await post(body as Record<string, string | string[]>);
        assert.equal(res.status, 400, what);
        assert.equal(res.body.error, 'invalid_request', what);
      }
      assert.ok(await signedIn(accord, b), 'no token ended the session');
    });

    it('checks the issuer exactly as discovery gives it, so Auth0\'s (ending with "/") works; a plain JWT without exp is accepted', async () => {
      const database = openAppDatabase({ sqliteFile: ':memory:' });
      await migrateApp(database);
      try {
        // As the app would be configured against Auth0, whose issuer is https://TENANT.auth0.com/.
        const verifier = new LogoutTokenVerifier({
          issuer: `${accord.tenantUrl}/`,
          jwksUri: `${accord.tenantUrl}/.well-known/jwks.json`,
          clientId: accord.appConfig.clientId,
          algorithms: ['RS256'],
          claims: new SqlOnceClaims({ db: database.db }),
        });
        const auth0Style = await logoutToken({ iss: `${accord.tenantUrl}/`, sub: 'auth0|abc', sid: 'auth0-session', exp: undefined }, { typ: 'JWT' });
        const accepted = await verifier.verify(auth0Style);
        assert.deepEqual(accepted.selector, { tenantSid: 'auth0-session' });
        await assert.rejects(
          verifier.verify(await logoutToken({ iss: accord.tenantUrl, sub: 'auth0|abc' })),
          (err) => isAppError(err, 'logout_token_invalid') && /iss/.test(err.message),
        );
      } finally {
        await database.close();
      }
    });

    it('answers 503 when the sessions cannot be ended, and takes the same token again once they can', async (t) => {
      if (variant.env.REDIS_URL) return t.skip('the SQL store is made to fail here');
      const email = uniqueEmail('bcl-down');
      const b = await demoSession(accord, email);
      const token = await logoutToken({ sub: await userIdOf(accord, email) });
      const db = accord.appDatabase.db;
      await db.schema.alterTable('app_sessions').renameTo('app_sessions_away').execute();
      let res: supertest.Response;
      try {
        res = await post({ logout_token: token });
      } finally {
        await db.schema.alterTable('app_sessions_away').renameTo('app_sessions').execute();
      }
      assert.equal(res.status, 503, res.text);
      assert.equal(res.body.error, 'temporarily_unavailable');
      const retried = await post({ logout_token: token });
      assert.equal(retried.status, 200, `the tenant's retry is not refused as a replay: ${retried.text}`);
      assert.equal(await signedIn(accord, b), false);
    });

    it('a good token naming the user ends every session of that user, and only those; replayed, it is refused', async () => {
      const [adaEmail, bobEmail] = [uniqueEmail('bcl-ada'), uniqueEmail('bcl-bob')];
      const ada1 = await demoSession(accord, adaEmail);
      const ada2 = await demoSession(accord, adaEmail);
      const bob = await demoSession(accord, bobEmail);
      const token = await logoutToken({ sub: await userIdOf(accord, adaEmail) }, { typ: 'JWT' });
      const res = await post({ logout_token: token });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(await signedIn(accord, ada1), false);
      assert.equal(await signedIn(accord, ada2), false);
      assert.equal(await signedIn(accord, bob), true, 'another user keeps their session');

      const replay = await post({ logout_token: token });
      assert.equal(replay.status, 400);
      assert.match(replay.body.error_description, /already used/);
    });

    it('signing out at the tenant ends the app session of that tenant session only (sub and sid)', async () => {
      const email = uniqueEmail('bcl-signout');
      const here = await demoSession(accord, email);
      const elsewhere = await demoSession(accord, email);
      // The person signs out at the tenant itself (another app of the tenant, or its own page).
      let page = await here.open(`${accord.tenantUrl}/oidc/logout?client_id=${accord.appConfig.clientId}`);
      page = await here.submit(/\/oidc\/logout\/confirm$/, { logout: 'yes' });
      assert.equal(page.status, 200, page.text.slice(0, 300));
      await accord.tenant.backchannelLogout.settled();
      assert.equal(await signedIn(accord, here), false, "this browser's app session ended with its tenant session");
      assert.equal(await signedIn(accord, elsewhere), true, 'the same user in another browser stays signed in');
    });

    it('linking in this browser replaces its tenant session; the app session it came from carries on and links', async () => {
      const email = uniqueEmail('bcl-link');
      const password = accord.browser();
      await startSignIn(password, DATABASE_CONNECTION, accord.appUrl);
      await signUpAndSignIn(password, email);
      const b = accord.browser();
      await startSignIn(b, 'demo-social', accord.appUrl);
      let page = await enterDemoIdentity(b, { email });
      page = await b.open(`${accord.appUrl}/link/new`);
      page = await b.submit('/link/start', {}, { where: { connection: DATABASE_CONNECTION } });
      page = await enterPassword(b, email);
      assert.equal(new URL(page.url).pathname, '/link/preview', page.text.slice(0, 300));
      page = await b.submit('/link/confirm');
      assert.equal(new URL(page.url).pathname, '/profile');
      await accord.tenant.backchannelLogout.settled();
      assert.ok(await signedIn(accord, b), 'still signed in after the tenant told the app its old tenant session ended');
      const users = await accord.usersByEmail(email);
      assert.equal(users.length, 1, 'linked');
    });

    it("the issue's reproduction: an attacker's session on the victim's address ends when the victim resets the password, and cannot link", async () => {
      const victimEmail = uniqueEmail('victim');
      // 1. The attacker signs up with the victim's address and signs in to the app.
      const attacker = accord.browser();
      await startSignIn(attacker, DATABASE_CONNECTION, accord.appUrl);
      let page = await signUpAndSignIn(attacker, victimEmail);
      assert.ok(await signedIn(accord, attacker), `the attacker is signed in: ${page.url}`);
      const profile = await attacker.open(`${accord.appUrl}/profile`);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(profile.text)![1]!;
      const accountId = await userIdOf(accord, victimEmail);

      // 2. The victim resets the password from the mailed link.
      const victim = accord.browser();
      page = await startSignIn(victim, DATABASE_CONNECTION, accord.appUrl);
      await victim.open(`${new URL(page.url).pathname}/forgot`);
      await victim.submit(/\/forgot$/, { email: victimEmail });
      const mail = await accord.mailTo(victimEmail, /reset/i);
      const link = /https?:\/\/\S+\/account\/reset-password\?token=[\w-]+/.exec(mail.text)![0];
      await victim.open(link);
      page = await victim.submit('/account/reset-password', { password: NEW_PASSWORD });
      assert.match(page.text, /Password changed/);
      await accord.tenant.backchannelLogout.settled();

      // 3. Cookie A no longer opens the account, and cannot start a link.
      assert.equal(await signedIn(accord, attacker), false, "the attacker's app session ended");
      const start = await attacker.post(`${accord.appUrl}/link/start`, { _csrf: csrf, connection: 'demo-social' });
      assert.ok(start.status === 401 || start.status === 403, `refused: ${start.status}`);
      assert.equal((await accord.user(accountId)).identities.length, 1, 'nothing was linked');

      // The victim signs in with the new password.
      const back = accord.browser();
      await startSignIn(back, DATABASE_CONNECTION, accord.appUrl);
      await enterPassword(back, victimEmail, NEW_PASSWORD);
      assert.ok(await signedIn(accord, back));
    });

    it("a blocked user's session ends; so does a deleted user's, and a secondary's that is linked away", async () => {
      const blockedEmail = uniqueEmail('bcl-blocked');
      const deletedEmail = uniqueEmail('bcl-deleted');
      const secondaryEmail = uniqueEmail('bcl-secondary');
      const primaryEmail = uniqueEmail('bcl-primary');
      const blocked = await demoSession(accord, blockedEmail);
      const deleted = await demoSession(accord, deletedEmail);
      const secondary = await demoSession(accord, secondaryEmail);
      const primary = await demoSession(accord, primaryEmail);

      assert.equal((await accord.admin('PATCH', `/users/${encodeURIComponent(await userIdOf(accord, blockedEmail))}`, { blocked: true })).status, 200);
      assert.equal((await accord.admin('DELETE', `/users/${encodeURIComponent(await userIdOf(accord, deletedEmail))}`)).status, 204);
      const secondaryId = await userIdOf(accord, secondaryEmail);
      const [provider, ...rest] = secondaryId.split('|');
      assert.equal(
        (await accord.admin('POST', `/users/${encodeURIComponent(await userIdOf(accord, primaryEmail))}/identities`, { provider, user_id: rest.join('|') }))
          .status,
        201,
      );
      await accord.tenant.backchannelLogout.settled();

      assert.equal(await signedIn(accord, blocked), false, 'blocked');
      assert.equal(await signedIn(accord, deleted), false, 'deleted');
      assert.equal(await signedIn(accord, secondary), false, 'linked away');
      assert.equal(await signedIn(accord, primary), true, 'the primary stays signed in');
    });
  });
}
