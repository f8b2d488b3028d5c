import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { importJWK, SignJWT } from 'jose';
import { isTenantError } from '../../src/tenant/tenant-errors.ts';
import { testDatabases } from '../helpers/databases.ts';
import { formsOf } from '../helpers/html-forms.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import {
  authorize,
  browser,
  type Browser,
  csrfOf,
  exchangeCode,
  followToCallback,
  registerRelyingParty,
  type RelyingParty,
  RP_REDIRECT_URI,
  type Tokens,
} from '../helpers/login-flow.ts';
import { accordCli } from '../helpers/cli.ts';
import { childEnv } from '../helpers/processes.ts';
import { startTestTenant, TEST_AUDIENCE, type TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';
const PASSWORD = 'Correct-horse-9';
const LOGOUT_URI = 'http://127.0.0.1:3999/signed-out';

/** The header and claims of a JWT, unverified. */
function decodeJwt(jwt: string): { header: { alg: string; kid?: string }; payload: { iat: number; exp: number } & Record<string, unknown> } {
  const [header, payload] = jwt
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  return { header, payload };
}

/** Signs a new user up through the database connection in `agent`, then in, leaving a tenant session behind. */
async function signUp(t: TestTenant, rp: RelyingParty, agent: Browser): Promise<Tokens> {
  const auth = await authorize(agent, rp);
  const base = `/login/${auth.uid}/${CONNECTION}`;
  const page = await agent.get(`${base}/signup`);
  assert.equal(page.status, 200, page.text.slice(0, 300));
  const email = uniqueEmail('logout');
  const signedUp = await agent
    .post(`${base}/signup`)
    .type('form')
    .send({ _csrf: csrfOf(page.text), email, password: PASSWORD });
  assert.equal(signedUp.status, 200, signedUp.text.slice(0, 400));
  const res = await agent
    .post(base)
    .type('form')
    .send({ _csrf: csrfOf(page.text), email, password: PASSWORD });
  assert.equal(res.status, 303, res.text.slice(0, 400));
  return exchangeCode(t.tenant, rp, auth, await followToCallback(agent, res.headers.location!));
}

/** A plain /authorize, as the RP sends it: with a live session it goes straight back with a code. */
async function authorizeAgain(agent: Browser, rp: RelyingParty): Promise<URLSearchParams> {
  const query = new URLSearchParams({
    client_id: rp.clientId,
    response_type: 'code',
    redirect_uri: RP_REDIRECT_URI,
    scope: 'openid profile email',
    state: 'again',
    nonce: 'n',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  return followToCallback(agent, `/authorize?${query}`);
}

/** The confirmation form oidc-provider hands to the logout page: where it posts, and its xsrf token. */
function logoutForm(html: string): { action: string; xsrf: string } {
  const form = /<form id="op\.logoutForm" method="post" action="([^"]+)">/.exec(html);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html);
  assert.ok(form && xsrf, 'the page carries the logout form with its xsrf field');
  return { action: new URL(form[1]!, 'http://tenant').pathname, xsrf: xsrf[1]! };
}

/** Asserts the browser has no tenant session: /authorize sends it to the sign-in page. */
async function assertSignedOut(agent: Browser, rp: RelyingParty): Promise<void> {
  const auth = await authorize(agent, rp);
  const page = await agent.get(auth.loginPath);
  assert.equal(page.status, 200);
  assert.match(page.text, /Choose how to sign in/);
}

for (const db of testDatabases()) {
  describe(`RP-initiated logout [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    let cleanup: () => Promise<void>;

    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      t = await startTestTenant(opened.database);
      rp = await registerRelyingParty(t.tenant, { postLogoutRedirectUris: [LOGOUT_URI] });
    });
    after(async () => {
      await t.close();
      await cleanup();
    });

    it('advertises the end_session_endpoint', async () => {
      const res = await t.request.get('/.well-known/openid-configuration');
      assert.equal(new URL(res.body.end_session_endpoint).pathname, '/oidc/logout');
    });

    it("ends the session at once on the application's own request (its id_token_hint of this session, a registered return address) and returns", async () => {
      const agent = browser(t.tenant);
      const tokens = await signUp(t, rp, agent);
      assert.ok((await authorizeAgain(agent, rp)).get('code'), 'signed in: /authorize answers without a page');

      const page = await agent.get('/oidc/logout').query({ id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGOUT_URI, state: 'bye' });
      assert.equal(page.status, 200, page.text.slice(0, 300));
      assert.doesNotMatch(page.text, /Sign out of Accord Test\?/, 'no question');
      assert.match(page.text, /<h1 id="page-title">Signing you out<\/h1>/);
      // The page submits itself: its one script is allowed by its hash, not by 'unsafe-inline'.
      const script = /<script>([^<]*)<\/script>/.exec(page.text)?.[1];
      assert.equal(script, 'document.forms[0].submit();');
      const policy = String(page.headers['content-security-policy']);
      assert.ok(policy.includes(`'sha256-${createHash('sha256').update(script).digest('base64')}'`), policy);
      assert.doesNotMatch(policy, /script-src[^;]*unsafe-inline/);
      assert.match(page.text, /<noscript><button type="submit" form="op\.logoutForm"[^>]*>Continue<\/button><\/noscript>/, 'a button without scripts');
      const form = formsOf(page.text)[0]!;
      assert.equal(new URL(form.action).pathname, '/oidc/logout/confirm');
      assert.equal(form.fields.logout, 'yes', 'the whole tenant session ends');

      const confirmed = await agent.post(new URL(form.action).pathname).type('form').send(form.fields);
      assert.equal(confirmed.status, 303, confirmed.text.slice(0, 300));
      assert.equal(confirmed.headers.location, `${LOGOUT_URI}?state=bye`);
      await assertSignedOut(agent, rp);
      const userinfo = await t.request.get('/userinfo').set('Authorization', `Bearer ${tokens.access_token}`);
      assert.equal(userinfo.status, 401, 'the grant and its tokens ended with the session');
    });

    it('asks first when the request cannot be trusted (docs/security.md case 44), without any script, with a way back that changes nothing', async () => {
      const agent = browser(t.tenant);
      const tokens = await signUp(t, rp, agent);
      const someoneElse = await signUp(t, rp, browser(t.tenant));
      const clientName = (await t.tenant.clients.get(rp.clientId))!.name;
      for (const [why, query] of [
        ['no id_token_hint (a link on any page can send this)', { client_id: rp.clientId, post_logout_redirect_uri: LOGOUT_URI }],
        ["another account's id_token_hint", { id_token_hint: someoneElse.id_token, post_logout_redirect_uri: LOGOUT_URI }],
        ['no return address', { id_token_hint: tokens.id_token }],
      ] as const) {
        const page = await agent.get('/oidc/logout').query(query);
        assert.equal(page.status, 200, `${why}: ${page.text.slice(0, 300)}`);
        assert.match(page.text, /Sign out of Accord Test\?/, why);
        assert.ok(page.text.includes(`${clientName} asked to sign you out`), `${why}: names the client`);
        assert.ok(page.text.includes(String(tokens.claims.email)), `${why}: names the account signed in here`);
        assert.match(page.text, /<button type="submit" form="op\.logoutForm" name="logout" value="yes"[^>]*>Sign out<\/button>/);
        assert.ok(page.text.includes(`<a class="button secondary" href="${LOGOUT_URI}">Stay signed in and go back to ${clientName}</a>`), `${why}: a way back`);
        assert.doesNotMatch(page.text, /<script/i, `${why}: no script: the page works without JavaScript and under the CSP`);
        assert.match(page.text, /href="\/css\/tenant\.css"/);
        assert.doesNotMatch(String(page.headers['content-security-policy']), /script-src[^;]*unsafe-inline/);
        assert.ok((await authorizeAgain(agent, rp)).get('code'), `${why}: still signed in, until the person says so`);
      }

      const tampered = `${tokens.id_token.slice(0, -4)}AAAA`;
      const refused = await agent.get('/oidc/logout').query({ id_token_hint: tampered, post_logout_redirect_uri: LOGOUT_URI }).set('Accept', 'text/html');
      assert.equal(refused.status, 400, 'a hint whose signature does not verify is refused');
      assert.match(refused.text, /We could not sign you out/);
      assert.ok((await authorizeAgain(agent, rp)).get('code'), 'still signed in');

      const page = await agent.get('/oidc/logout').query({ client_id: rp.clientId, post_logout_redirect_uri: LOGOUT_URI, state: 'bye' });
      const { action, xsrf } = logoutForm(page.text);
      assert.equal(action, '/oidc/logout/confirm');
      const confirmed = await agent.post(action).type('form').send({ xsrf, logout: 'yes' });
      assert.equal(confirmed.status, 303, confirmed.text.slice(0, 300));
      assert.equal(confirmed.headers.location, `${LOGOUT_URI}?state=bye`);
      await assertSignedOut(agent, rp);
    });

    it("asks when a hint without sid was issued before this session's sign-in (an earlier session's token)", async () => {
      const agent = browser(t.tenant);
      const tokens = await signUp(t, rp, agent);
      const { header, payload } = decodeJwt(tokens.id_token);
      // The same token as the tenant would have issued it an hour ago, signed with its key.
      const key = t.tenant.keys.signing[0]!;
      const earlier = await new SignJWT({ ...payload, iat: payload.iat - 3600, exp: payload.exp - 3600 })
        .setProtectedHeader(header)
        .sign(await importJWK(key, 'RS256'));
      const asked = await agent.get('/oidc/logout').query({ id_token_hint: earlier, post_logout_redirect_uri: LOGOUT_URI });
      assert.equal(asked.status, 200, asked.text.slice(0, 300));
      assert.match(asked.text, /Sign out of Accord Test\?/);
      const atOnce = await agent.get('/oidc/logout').query({ id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGOUT_URI });
      assert.match(atOnce.text, /Signing you out/, "this session's own token");
    });

    it('refuses a post_logout_redirect_uri the client did not register, in words', async () => {
      const agent = browser(t.tenant);
      const tokens = await signUp(t, rp, agent);
      for (const query of [
        { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'https://attacker.example/' },
        { client_id: rp.clientId, post_logout_redirect_uri: `${LOGOUT_URI}/other` },
      ]) {
        // As a browser asks: oidc-provider answers JSON unless HTML is preferred.
        const res = await agent.get('/oidc/logout').query(query).set('Accept', 'text/html');
        assert.equal(res.status, 400);
        assert.match(res.text, /We could not sign you out/);
        assert.match(res.text, /post_logout_redirect_uri not registered/);
      }
      assert.ok((await authorizeAgain(agent, rp)).get('code'), 'still signed in');
    });

    it('rejects a forged confirmation (no xsrf) and keeps the session', async () => {
      const agent = browser(t.tenant);
      await signUp(t, rp, agent);
      const res = await agent.post('/oidc/logout/confirm').type('form').send({ xsrf: 'forged', logout: 'yes' });
      assert.equal(res.status, 400);
      assert.ok((await authorizeAgain(agent, rp)).get('code'), 'still signed in');
    });

    it('returns a browser without a session to the app too', async () => {
      const agent = browser(t.tenant);
      const page = await agent.get('/oidc/logout').query({ client_id: rp.clientId, post_logout_redirect_uri: LOGOUT_URI });
      assert.equal(page.status, 200);
      // oidc-provider submits this one by itself; its script is allowed by hash, and <noscript> has a button.
      assert.match(String(page.headers['content-security-policy']), /script-src[^;]*'sha256-/);
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1];
      assert.ok(xsrf);
      const confirmed = await agent.post('/oidc/logout/confirm').type('form').send({ xsrf, logout: 'yes' });
      assert.equal(confirmed.status, 303);
      assert.equal(confirmed.headers.location, LOGOUT_URI);
    });

    describe("Auth0's /v2/logout", () => {
      it('hands a registered returnTo over to the OpenID Connect logout, which ends the session', async () => {
        const agent = browser(t.tenant);
        await signUp(t, rp, agent);
        const res = await agent.get('/v2/logout').query({ client_id: rp.clientId, returnTo: LOGOUT_URI });
        assert.equal(res.status, 302);
        const next = new URL(res.headers.location!, 'http://tenant');
        assert.equal(next.pathname, '/oidc/logout');
        assert.deepEqual(Object.fromEntries(next.searchParams), { client_id: rp.clientId, post_logout_redirect_uri: LOGOUT_URI });

        const page = await agent.get(next.pathname + next.search);
        assert.equal(page.status, 200);
        const { action, xsrf } = logoutForm(page.text);
        const confirmed = await agent.post(action).type('form').send({ xsrf, logout: 'yes' });
        assert.equal(confirmed.status, 303);
        assert.equal(confirmed.headers.location, LOGOUT_URI);
        await assertSignedOut(agent, rp);
      });

      it('without returnTo, signs out and shows that the user is signed out', async () => {
        const agent = browser(t.tenant);
        await signUp(t, rp, agent);
        const res = await agent.get('/v2/logout').query({ client_id: rp.clientId });
        assert.equal(res.status, 302);
        assert.equal(res.headers.location, `/oidc/logout?client_id=${rp.clientId}`);
        const page = await agent.get(res.headers.location!);
        const { action, xsrf } = logoutForm(page.text);
        const confirmed = await agent.post(action).type('form').send({ xsrf, logout: 'yes' });
        assert.equal(confirmed.status, 303);
        const done = await agent.get(new URL(confirmed.headers.location!, 'http://tenant').pathname);
        assert.equal(done.status, 200);
        assert.match(done.text, /You are signed out/);
        assert.doesNotMatch(done.text, /<script/i);
        await assertSignedOut(agent, rp);
      });

      it('refuses an unregistered returnTo, an unknown client and a returnTo without client_id with a page in words', async () => {
        const agent = browser(t.tenant);
        await signUp(t, rp, agent);
        for (const query of [
          { client_id: rp.clientId, returnTo: 'https://attacker.example/' },
          { client_id: rp.clientId, returnTo: `${LOGOUT_URI}/` },
          { client_id: 'no-such-client', returnTo: LOGOUT_URI },
          { returnTo: LOGOUT_URI },
        ]) {
          const res = await agent.get('/v2/logout').query(query);
          assert.equal(res.status, 400, JSON.stringify(query));
          assert.match(res.text, /We could not sign you out/);
          assert.equal(res.headers.location, undefined);
        }
        const twice = await agent.get(`/v2/logout?client_id=${rp.clientId}&returnTo=${encodeURIComponent(LOGOUT_URI)}&returnTo=x`);
        assert.equal(twice.status, 400);
        assert.ok((await authorizeAgain(agent, rp)).get('code'), 'still signed in');
      });
    });
  });

  describe(`client registration and provisioning [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;

    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      t = await startTestTenant(opened.database);
    });
    after(async () => {
      await t.close();
      await cleanup();
    });

    it('refuses redirect and logout URIs that are not absolute http(s) URLs', async () => {
      for (const bad of ['javascript:alert(1)', '/relative', 'not a url', 'https://app.example/cb#frag', 'ftp://app.example/']) {
        for (const field of ['redirectUris', 'postLogoutRedirectUris'] as const) {
          await assert.rejects(
            t.tenant.clients.create({ name: 'web', grantTypes: ['authorization_code'], scopes: [], redirectUris: [RP_REDIRECT_URI], [field]: [bad] }),
            (err) => isTenantError(err, 'invalid_body') && err.message.includes(`"${bad}"`) && /absolute http\(s\) URL/.test(err.message),
          );
        }
      }
      assert.deepEqual(await t.tenant.clients.list(), []);
    });

    it('provision() creates, then updates in place with a new secret: the old one stops working', async () => {
      const tokenWith = (clientId: string, secret: string) =>
        t.request.post('/oauth/token').type('form').auth(clientId, secret).send({ grant_type: 'client_credentials', audience: TEST_AUDIENCE });
      const name = 'Accord app (development)';
      const first = await t.tenant.clients.provision({
        name,
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
        scopes: ['read:users'],
        redirectUris: ['http://localhost:3000/callback'],
        postLogoutRedirectUris: ['http://localhost:3000/'],
      });
      assert.equal(first.name, name);
      assert.deepEqual(first.post_logout_redirect_uris, ['http://localhost:3000/']);
      assert.equal((await tokenWith(first.client_id, first.client_secret)).status, 200);

      const second = await t.tenant.clients.provision({
        name,
        grantTypes: ['authorization_code', 'client_credentials'],
        scopes: ['read:users', 'update:users'],
        redirectUris: ['http://localhost:3001/callback'],
        postLogoutRedirectUris: ['http://localhost:3001/', 'http://localhost:3001/bye'],
        webOrigins: ['http://localhost:3001'],
        backchannelLogoutUri: 'http://localhost:3001/backchannel-logout',
      });
      assert.equal(second.client_id, first.client_id, 'the same client, kept up to date');
      assert.notEqual(second.client_secret, first.client_secret);
      assert.equal(second.created_at, first.created_at);

      const old = await tokenWith(first.client_id, first.client_secret);
      assert.equal(old.status, 401);
      assert.equal(old.body.error, 'invalid_client');
      const fresh = await tokenWith(second.client_id, second.client_secret);
      assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
      assert.equal(fresh.body.scope, 'read:users update:users');

      const stored = (await t.tenant.clients.list()).filter((c) => c.name === name);
      assert.equal(stored.length, 1);
      assert.deepEqual(stored[0], {
        client_id: first.client_id,
        name,
        app_type: 'regular_web',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'client_credentials'],
        scopes: ['read:users', 'update:users'],
        redirect_uris: ['http://localhost:3001/callback'],
        post_logout_redirect_uris: ['http://localhost:3001/', 'http://localhost:3001/bye'],
        web_origins: ['http://localhost:3001'],
        backchannel_logout_uri: 'http://localhost:3001/backchannel-logout',
        created_at: first.created_at,
      });
      const metadata = await t.tenant.clients.asOidcMetadata(first.client_id);
      assert.deepEqual(metadata?.post_logout_redirect_uris, ['http://localhost:3001/', 'http://localhost:3001/bye']);
      assert.equal(metadata?.backchannel_logout_uri, 'http://localhost:3001/backchannel-logout');
      assert.equal(metadata?.backchannel_logout_session_required, true, 'the id_token carries sid');

      // A bad URI changes nothing, the secret included.
      await assert.rejects(
        t.tenant.clients.provision({ name, grantTypes: ['client_credentials'], scopes: [], postLogoutRedirectUris: ['javascript:x'] }),
        (err) => isTenantError(err, 'invalid_body'),
      );
      assert.equal((await tokenWith(second.client_id, second.client_secret)).status, 200);
    });
  });
}

describe('accord clients create --logout-uri', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-cli-logout-'));
  const env = childEnv({ DATA_DIR: dir, LOG_LEVEL: 'silent' });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('registers logout URIs, and refuses ones that are not absolute http(s) URLs with a clear message', async () => {
    const base = ['clients', 'create', '--name', 'web', '--grant', 'authorization_code', '--redirect-uri', 'http://localhost:3000/callback'];
    for (const bad of ['javascript:alert(1)', '/signed-out', 'https://app.example/#x']) {
      const res = await accordCli([...base, '--logout-uri', bad], env);
      assert.equal(res.code, 2, res.stderr);
      assert.ok(res.stderr.includes(`--logout-uri must be an absolute http(s) URL; "${bad}"`), res.stderr);
    }
    const badRedirect = await accordCli(['clients', 'create', '--name', 'web', '--grant', 'authorization_code', '--redirect-uri', 'callback'], env);
    assert.equal(badRedirect.code, 2);
    assert.match(badRedirect.stderr, /--redirect-uri must be an absolute http\(s\) URL; "callback" is not an absolute URL/);

    const res = await accordCli([...base, '--logout-uri', 'http://localhost:3000/', '--logout-uri', 'http://localhost:3000/bye'], env);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout).post_logout_redirect_uris, ['http://localhost:3000/', 'http://localhost:3000/bye']);
    const list = JSON.parse((await accordCli(['clients', 'list'], env)).stdout);
    assert.deepEqual(
      list.map((c: { post_logout_redirect_uris: string[] }) => c.post_logout_redirect_uris),
      [['http://localhost:3000/', 'http://localhost:3000/bye']],
    );

    const help = await accordCli(['--help'], env);
    assert.match(help.stdout, /\[--logout-uri URL\]\.\.\./);
  });
});
