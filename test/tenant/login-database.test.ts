import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import supertest from 'supertest';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { hashPassword } from '../../src/tenant/directory/passwords.ts';
import type { StoredMail } from '../../src/tenant/mail/mailer.ts';
import { testDatabases } from '../helpers/databases.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import {
  authorize,
  browser,
  type Browser,
  csrfOf,
  exchangeCode,
  followToCallback,
  type RelyingParty,
  RP_REDIRECT_URI,
  tenantPerSuite,
  type Tokens,
} from '../helpers/login-flow.ts';
import type { TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';
const PASSWORD = 'Correct-horse-9';
const NEW_PASSWORD = 'Battery-staple-42';

/** The page of the database connection at `path` in a fresh authorization, with its CSRF token. */
async function openPage(agent: Browser, rp: RelyingParty, path = '', extra: Record<string, string> = {}) {
  const auth = await authorize(agent, rp, extra);
  const base = `/login/${auth.uid}/${CONNECTION}`;
  const page = await agent.get(`${base}${path}`);
  assert.equal(page.status, 200, page.text.slice(0, 300));
  return { auth, base, page, csrf: csrfOf(page.text) };
}

/** Polls the development outbox for the newest message to `to` whose subject matches. */
async function mailTo(t: TestTenant, to: string, subject: RegExp, timeoutMs = 2000, unless?: string): Promise<StoredMail | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await t.request.get('/dev/mail.json');
    const found = (res.body as StoredMail[]).find((m) => m.to === to && subject.test(m.subject) && !(unless && m.text.includes(unless)));
    if (found || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The tenant path (with query) of the link to `route` in a mail. */
function linkIn(mail: StoredMail, route: string): string {
  const match = new RegExp(`https?://[^\\s]+${route}\\?token=[A-Za-z0-9_-]+`).exec(mail.text);
  assert.ok(match, `the mail links to ${route}`);
  const url = new URL(match[0]);
  return url.pathname + url.search;
}

async function signIn(t: TestTenant, rp: RelyingParty, email: string, password: string, agent = browser(t.tenant)) {
  const { auth, base, csrf } = await openPage(agent, rp);
  const res = await agent.post(base).type('form').send({ _csrf: csrf, email, password });
  return { agent, auth, res };
}

async function signInTokens(t: TestTenant, rp: RelyingParty, email: string, password: string, agent = browser(t.tenant)): Promise<Tokens> {
  const { auth, res } = await signIn(t, rp, email, password, agent);
  assert.equal(res.status, 303, res.text.slice(0, 400));
  return exchangeCode(t.tenant, rp, auth, await followToCallback(agent, res.headers.location!));
}

async function signUp(t: TestTenant, rp: RelyingParty, email: string, password = PASSWORD, agent = browser(t.tenant)) {
  const { auth, base, csrf } = await openPage(agent, rp, '/signup');
  const res = await agent.post(`${base}/signup`).type('form').send({ _csrf: csrf, email, password });
  return { agent, auth, res, base };
}

/** Asks for a password-reset link; returns the page shown. */
async function forgot(t: TestTenant, rp: RelyingParty, email: string) {
  const agent = browser(t.tenant);
  const { base, csrf } = await openPage(agent, rp, '/forgot');
  return agent.post(`${base}/forgot`).type('form').send({ _csrf: csrf, email });
}

/** `prompt=none` for a browser that signed in before: its callback (code, or an error). */
async function silentAuthorize(agent: Browser, rp: RelyingParty): Promise<URLSearchParams> {
  const query = new URLSearchParams({
    client_id: rp.clientId,
    response_type: 'code',
    redirect_uri: RP_REDIRECT_URI,
    scope: 'openid email',
    prompt: 'none',
    state: 'silent-state',
    nonce: 'n',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  });
  return followToCallback(agent, `/authorize?${query}`);
}

/** The path and query of a tenant URL (the agent talks to the tenant's app directly). */
const pathOf = (location: string) => {
  const url = new URL(location, 'http://tenant');
  return url.pathname + url.search;
};

async function countAccountRows(t: TestTenant, accountId: string): Promise<number> {
  const rows = await t.tenant.database.db
    .selectFrom('oidc_payloads')
    .select(['model', 'payload'])
    .where('model', 'in', ['Session', 'Grant', 'AccessToken', 'RefreshToken', 'AuthorizationCode'])
    .execute();
  return rows.filter((r) => (JSON.parse(r.payload) as { accountId?: string }).accountId === accountId).length;
}

for (const db of testDatabases()) {
  describe(`database connection sign-in [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(db, (started) => {
      ({ t, rp } = started);
    });

    it('shows an accessible sign-in form, pre-filled from login_hint, with sign-up and reset links', async () => {
      const agent = browser(t.tenant);
      const { page, base } = await openPage(agent, rp, '', { login_hint: 'hint@example.com' });
      assert.match(page.text, /<label for="email">/);
      assert.match(page.text, /autocomplete="username"/);
      assert.match(page.text, /autocomplete="current-password"/);
      assert.match(page.text, /value="hint@example.com"/);
      assert.ok(page.text.includes(`${base}/signup`));
      assert.ok(page.text.includes(`${base}/forgot`));
      assert.equal(page.headers['cache-control'], 'no-store');
    });

    it('signs up ("check your email"), mails a single-use verification link that verifies the email, and signs in with the password', async () => {
      const email = uniqueEmail('signup');
      const { agent, auth, res, base } = await signUp(t, rp, email);
      assert.equal(res.status, 200, res.text.slice(0, 400));
      assert.match(res.text, /Check your email/);
      assert.match(res.text, /We sent a message to/);
      // The page continues the same sign-in, with the address filled in.
      const onward = new RegExp(`href="${base}\\?login_hint=${encodeURIComponent(email).replace(/[.+]/g, '\\$&')}"`);
      assert.match(res.text, onward);
      const login = await agent.get(`${base}?login_hint=${encodeURIComponent(email)}`);
      const signedIn = await agent
        .post(base)
        .type('form')
        .send({ _csrf: csrfOf(login.text), email, password: PASSWORD });
      assert.equal(signedIn.status, 303, signedIn.text.slice(0, 400));
      const first = await exchangeCode(t.tenant, rp, auth, await followToCallback(agent, signedIn.headers.location!));
      assert.match(String(first.claims.sub), /^auth0\|[0-9a-f]{24}$/);
      assert.equal(first.claims.email, email);
      assert.equal(first.claims.email_verified, false);

      const mail = await mailTo(t, email, /Confirm your email/);
      assert.ok(mail, 'a verification mail was sent');
      assert.match(mail.subject, /Accord Test/);
      assert.ok(!mail.text.includes(PASSWORD) && !mail.html.includes(PASSWORD), 'the mail never contains the password');
      const link = linkIn(mail, '/account/verify-email');
      const ticketId = (
        await t.tenant.database.db
          .selectFrom('login_tickets')
          .select('id')
          .where('kind', '=', 'verify_email')
          .where('email_normalized', '=', email)
          .executeTakeFirstOrThrow()
      ).id;
      assert.ok(!link.includes(ticketId), 'the ticket is stored hashed, not as the secret');

      const verified = await browser(t.tenant).get(link);
      assert.equal(verified.status, 200);
      assert.match(verified.text, /Email address confirmed/);
      assert.equal((await t.tenant.directory.getUser(String(first.claims.sub))).email_verified, true);
      const again = await browser(t.tenant).get(link);
      assert.equal(again.status, 404);
      assert.match(again.text, /already been used/);

      const second = await signInTokens(t, rp, email, PASSWORD);
      assert.equal(second.claims.sub, first.claims.sub);
      assert.equal(second.claims.email_verified, true);
    });

    it('refuses a weak password with the rules, whether or not the address has an account', async () => {
      const taken = uniqueEmail('weak-taken');
      await t.tenant.directory.createUser({ connection: CONNECTION, email: taken, password: PASSWORD }, SYSTEM_ACTOR);
      for (const email of [uniqueEmail('weak'), taken]) {
        const weak = await signUp(t, rp, email, 'password');
        assert.equal(weak.res.status, 400);
        assert.match(weak.res.text, /role="alert"[^>]*>That password is too weak\. Use 8 or more characters/);
      }
    });

    it('signing up with an address that has an account answers as for a new one and mails its owner instead (docs/security.md case 39)', async () => {
      const taken = uniqueEmail('taken');
      const owner = await t.tenant.directory.createUser({ connection: CONNECTION, email: taken, password: PASSWORD, email_verified: true }, SYSTEM_ACTOR);
      const fresh = uniqueEmail('fresh');
      const neutral = (html: string, email: string, base: string) =>
        html
          .replaceAll(encodeURIComponent(email), 'EMAIL')
          .replaceAll(email, 'EMAIL')
          .replaceAll(base, 'BASE')
          .replace(/name="_csrf" value="[^"]+"/g, '');

      const forTaken = await signUp(t, rp, taken.toUpperCase(), 'Attacker-pass-1');
      const forNew = await signUp(t, rp, fresh, 'Attacker-pass-1');
      assert.equal(forTaken.res.status, 200);
      assert.equal(forNew.res.status, 200);
      assert.equal(neutral(forTaken.res.text, taken.toUpperCase(), forTaken.base), neutral(forNew.res.text, fresh, forNew.base), 'the same page');
      assert.doesNotMatch(forTaken.res.text, /already|exists/i);

      // The owner is told, with the ways forward; nothing about the account changed.
      const note = await mailTo(t, taken, /Someone tried to sign up/);
      assert.ok(note, 'the owner got a mail');
      assert.match(note.text, /It already has an account, so nothing was created and nothing changed/);
      assert.match(note.text, /sign in with your password instead: http:\/\/127\.0\.0\.1:3999\//, 'a link back to the application');
      assert.match(note.text, /If it was not you, ignore this message/);
      assert.ok(!note.text.includes('Attacker-pass-1') && !note.html.includes('Attacker-pass-1'), 'never the password typed');
      assert.equal(await mailTo(t, taken, /Confirm your email/, 300), undefined, 'no confirmation link for the existing address');
      assert.ok(await mailTo(t, fresh, /Confirm your email/), 'the new address gets its confirmation link');
      assert.deepEqual(
        (await t.tenant.directory.findByEmail(taken)).map((u) => u.user_id),
        [owner.user_id],
        'no second account',
      );
      assert.equal((await signIn(t, rp, taken, 'Attacker-pass-1')).res.status, 401, 'the password typed at sign-up opens nothing');
      assert.equal((await signIn(t, rp, taken, PASSWORD)).res.status, 303, 'the owner signs in as before');
      // Its reset link works for the owner.
      const reset = await browser(t.tenant).get(linkIn(note, '/account/reset-password'));
      assert.equal(reset.status, 200);
      assert.match(reset.text, /Choose a new password/);
    });

    it('signing up with an address that has an account costs the same password hashing as a new one (docs/security.md case 39)', async () => {
      const taken = uniqueEmail('timing');
      await t.tenant.directory.createUser({ connection: CONNECTION, email: taken, password: PASSWORD }, SYSTEM_ACTOR);
      // The fastest of three hashes: a busy machine only ever makes a measurement longer, so the
      // minimum is what one hash costs here, and a skipped hash stays far below half of it.
      let oneHash = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await hashPassword('Another-pass-2');
        oneHash = Math.min(oneHash, performance.now() - started);
      }
      const agent = browser(t.tenant);
      const { base, csrf } = await openPage(agent, rp, '/signup');
      const before = performance.now();
      const res = await agent.post(`${base}/signup`).type('form').send({ _csrf: csrf, email: taken, password: 'Another-pass-2' });
      const answered = performance.now() - before;
      assert.equal(res.status, 200);
      assert.ok(answered >= oneHash / 2, `the answer took ${answered.toFixed(1)} ms, an argon2 hash ${oneHash.toFixed(1)} ms: the hashing was skipped`);
    });

    it('answers a wrong password and an unknown email identically', async () => {
      const email = uniqueEmail('known');
      await t.tenant.directory.createUser({ connection: CONNECTION, email, password: PASSWORD }, SYSTEM_ACTOR);
      const unknownEmail = uniqueEmail('unknown');
      const wrong = await signIn(t, rp, email, 'Wrong-password-1');
      const unknown = await signIn(t, rp, unknownEmail, 'Wrong-password-1');
      const normalize = (html: string, e: string, uid: string) =>
        html
          .replaceAll(e, 'EMAIL')
          .replaceAll(uid, 'UID')
          .replaceAll(encodeURIComponent(e), 'EMAIL')
          .replace(/name="_csrf" value="[^"]+"/, '');
      assert.equal(wrong.res.status, 401);
      assert.equal(unknown.res.status, 401);
      assert.match(wrong.res.text, /role="alert">Wrong email or password\.</);
      assert.equal(normalize(wrong.res.text, email, wrong.auth.uid), normalize(unknown.res.text, unknownEmail, unknown.auth.uid));
    });

    it('refuses a blocked user, through its own identity and through one linked into it (case 27)', async () => {
      const email = uniqueEmail('blocked');
      const user = await t.tenant.directory.createUser({ connection: CONNECTION, email, password: PASSWORD }, SYSTEM_ACTOR);
      const secondaryEmail = uniqueEmail('blocked-secondary');
      const secondary = await t.tenant.directory.createUser({ connection: CONNECTION, email: secondaryEmail, password: PASSWORD }, SYSTEM_ACTOR);
      await t.tenant.directory.link(user.user_id, { userId: secondary.user_id }, SYSTEM_ACTOR);
      await t.tenant.directory.updateUser(user.user_id, { blocked: true }, SYSTEM_ACTOR);
      for (const address of [email, secondaryEmail]) {
        const { res } = await signIn(t, rp, address, PASSWORD);
        assert.equal(res.status, 403);
        assert.match(res.text, /This account is blocked/);
      }
    });

    it('signs in through a linked secondary password identity as the primary', async () => {
      const primary = await t.tenant.directory.createUser({ connection: 'email', email: uniqueEmail('primary'), email_verified: true }, SYSTEM_ACTOR);
      const secondaryEmail = uniqueEmail('secondary');
      const secondary = await t.tenant.directory.createUser({ connection: CONNECTION, email: secondaryEmail, password: PASSWORD }, SYSTEM_ACTOR);
      await t.tenant.directory.link(primary.user_id, { userId: secondary.user_id }, SYSTEM_ACTOR);
      const tokens = await signInTokens(t, rp, secondaryEmail, PASSWORD);
      assert.equal(tokens.claims.sub, primary.user_id);
    });

    it('resets a forgotten password without enumeration; the link is single use and expires; every session and grant is revoked (case 24)', async () => {
      const email = uniqueEmail('reset');
      const user = await t.tenant.directory.createUser({ connection: CONNECTION, email, password: PASSWORD }, SYSTEM_ACTOR);
      const google = await t.tenant.directory.createFederatedUser(
        { connection: 'google-oauth2', sub: `g-${Date.now()}`, email: uniqueEmail('google') },
        SYSTEM_ACTOR,
      );
      await t.tenant.directory.link(user.user_id, { userId: google.user_id }, SYSTEM_ACTOR);

      // A browser signed in before the reset.
      const oldBrowser = browser(t.tenant);
      await signInTokens(t, rp, email, PASSWORD, oldBrowser);
      assert.ok((await silentAuthorize(oldBrowser, rp)).get('code'), 'the old browser has a session');
      assert.ok((await countAccountRows(t, user.user_id)) > 0);

      // Known and unknown addresses get the same answer; only a real account gets mail.
      const unknownEmail = uniqueEmail('nobody');
      const known = await forgot(t, rp, email);
      const unknown = await forgot(t, rp, unknownEmail);
      assert.equal(known.status, 200);
      assert.equal(unknown.status, 200);
      assert.equal(
        known.text.replaceAll(email, 'EMAIL').replace(/\/login\/[^/"]+\//g, ''),
        unknown.text.replaceAll(unknownEmail, 'EMAIL').replace(/\/login\/[^/"]+\//g, ''),
      );
      assert.match(known.text, /If an account exists/);
      const mail = await mailTo(t, email, /Reset your Accord Test password/);
      assert.ok(mail, 'a reset mail was sent');
      assert.equal(await mailTo(t, unknownEmail, /./, 200), undefined);
      // The mail lists every way into the account.
      assert.match(mail.text, /Email and password/);
      assert.match(mail.text, /- Google/);
      const link = linkIn(mail, '/account/reset-password');

      const resetBrowser = browser(t.tenant);
      const form = await resetBrowser.get(link);
      assert.equal(form.status, 200);
      assert.match(form.text, /autocomplete="new-password"/);
      const token = new URLSearchParams(link.split('?')[1]).get('token')!;
      const csrf = csrfOf(form.text);
      // A missing CSRF token or a weak password does not consume the link.
      assert.equal((await resetBrowser.post('/account/reset-password').type('form').send({ token, password: NEW_PASSWORD })).status, 403);
      const weak = await resetBrowser.post('/account/reset-password').type('form').send({ _csrf: csrf, token, password: 'short' });
      assert.equal(weak.status, 400);
      assert.match(weak.text, /too weak\. Use 8 or more characters/);
      const done = await resetBrowser.post('/account/reset-password').type('form').send({ _csrf: csrf, token, password: NEW_PASSWORD });
      assert.equal(done.status, 200, done.text.slice(0, 400));
      assert.match(done.text, /Password changed/);
      const reused = await resetBrowser.post('/account/reset-password').type('form').send({ _csrf: csrf, token, password: 'Another-pass-7' });
      assert.equal(reused.status, 404);

      // Every session, grant and token of the user is gone.
      assert.equal(await countAccountRows(t, user.user_id), 0);
      assert.equal((await silentAuthorize(oldBrowser, rp)).get('error'), 'login_required');
      assert.equal((await signIn(t, rp, email, PASSWORD)).res.status, 401);
      assert.equal((await signInTokens(t, rp, email, NEW_PASSWORD)).claims.sub, user.user_id);

      // An expired link says so.
      await forgot(t, rp, email);
      const second = await mailTo(t, email, /Reset your/, 2000, link);
      assert.ok(second, 'a second reset mail was sent');
      const secondLink = linkIn(second, '/account/reset-password');
      await t.tenant.database.db
        .updateTable('login_tickets')
        .set({ expires_at: Math.floor(Date.now() / 1000) - 1 })
        .where('kind', '=', 'reset_password')
        .where('consumed_at', 'is', null)
        .execute();
      const expired = await browser(t.tenant).get(secondLink);
      assert.equal(expired.status, 410);
      assert.match(expired.text, /This link has expired/);
    });

    it('grants a first-party client at sign-in: the resumed authorization answers with the code, no consent step', async () => {
      const email = uniqueEmail('consent');
      await t.tenant.directory.createUser({ connection: CONNECTION, email, password: PASSWORD, email_verified: true }, SYSTEM_ACTOR);
      const { agent, auth, res } = await signIn(t, rp, email, PASSWORD);
      assert.equal(res.status, 303, res.text.slice(0, 400));
      assert.equal(new URL(res.headers.location!, 'http://tenant').pathname, `/authorize/${auth.uid}`);
      const resumed = await agent.get(pathOf(res.headers.location!));
      assert.equal(resumed.status, 303);
      assert.ok(resumed.headers.location!.startsWith(`${RP_REDIRECT_URI}?`), `straight back to the client, not to ${resumed.headers.location}`);
      const tokens = await exchangeCode(t.tenant, rp, auth, new URL(resumed.headers.location!).searchParams);
      assert.equal(tokens.claims.email, email);

      // What a sign-in does not grant by itself (here offline_access) is still granted, in a consent step.
      const other = browser(t.tenant);
      const { auth: auth2, base, csrf } = await openPage(other, rp, '', { scope: 'openid email offline_access', prompt: 'consent' });
      const posted = await other.post(base).type('form').send({ _csrf: csrf, email, password: PASSWORD });
      assert.equal(posted.status, 303, posted.text.slice(0, 400));
      const toConsent = await other.get(pathOf(posted.headers.location!));
      assert.equal(toConsent.status, 303);
      assert.match(new URL(toConsent.headers.location!, 'http://tenant').pathname, /^\/login\/[^/]+$/, 'a consent step');
      const callback = await followToCallback(other, toConsent.headers.location!);
      const token = await supertest(t.tenant.app)
        .post('/oauth/token')
        .type('form')
        .auth(rp.clientId, rp.clientSecret)
        .send({ grant_type: 'authorization_code', code: callback.get('code'), redirect_uri: RP_REDIRECT_URI, code_verifier: auth2.verifier });
      assert.equal(token.status, 200, JSON.stringify(token.body));
      assert.equal(typeof token.body.refresh_token, 'string', 'offline_access was granted');
    });

    it('refuses every form without its CSRF token, or with another one', async () => {
      const agent = browser(t.tenant);
      const { base } = await openPage(agent, rp);
      const other = await openPage(browser(t.tenant), rp);
      for (const path of ['', '/signup', '/forgot']) {
        const missing = await agent.post(`${base}${path}`).type('form').send({ email: 'x@example.com', password: PASSWORD });
        assert.equal(missing.status, 403, `${path}: ${missing.text.slice(0, 200)}`);
        const foreign = await agent.post(`${base}${path}`).type('form').send({ _csrf: other.csrf, email: 'x@example.com', password: PASSWORD });
        assert.equal(foreign.status, 403);
        assert.match(foreign.text, /Please try again/);
      }
    });

    it('case 1: an unverified account pre-created with the victim email stays unverified', async () => {
      const victimEmail = uniqueEmail('victim');
      const attacker = browser(t.tenant);
      const { res } = await signUp(t, rp, victimEmail, 'Attacker-pass-1', attacker);
      assert.equal(res.status, 200);
      const tokens = await signInTokens(t, rp, victimEmail, 'Attacker-pass-1', attacker);
      assert.equal(tokens.claims.email_verified, false);
      // The only link that verifies it went to the victim's mailbox; the attacker's own links do nothing for it.
      const attackerEmail = uniqueEmail('attacker');
      const own = await signUp(t, rp, attackerEmail, 'Attacker-pass-1');
      assert.equal(own.res.status, 200);
      assert.equal((await browser(t.tenant).get(linkIn((await mailTo(t, attackerEmail, /Confirm/))!, '/account/verify-email'))).status, 200);
      // The attacker signs in again, asks for a reset link: none of it verifies the address.
      await signInTokens(t, rp, victimEmail, 'Attacker-pass-1');
      await forgot(t, rp, victimEmail);
      assert.ok(await mailTo(t, victimEmail, /Reset your/));
      const user = await t.tenant.directory.getUser(String(tokens.claims.sub));
      assert.equal(user.email_verified, false);
      const again = await signInTokens(t, rp, victimEmail, 'Attacker-pass-1');
      assert.equal(again.claims.email_verified, false);
    });
  });

  describe(`database connection rate limits [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(
      db,
      (started) => {
        ({ t, rp } = started);
      },
      { loginRateLimits: { loginPerIpAndEmail: 3, loginPerIp: 8, forgotPerIp: 2, signupPerIp: 2 } },
    );

    it('answers 429 in words after too many failed password attempts for one email (case 22)', async () => {
      const email = uniqueEmail('brute');
      await t.tenant.directory.createUser({ connection: CONNECTION, email, password: PASSWORD }, SYSTEM_ACTOR);
      const agent = browser(t.tenant);
      for (let i = 0; i < 3; i++) assert.equal((await signIn(t, rp, email, `Guess-${i}-pass`, agent)).res.status, 401);
      const limited = await signIn(t, rp, email, PASSWORD, agent);
      assert.equal(limited.res.status, 429);
      assert.match(limited.res.text, /Too many failed sign-in attempts/);
      // The page links to the reset form it mentions, with the address filled in.
      const reset = /<a class="button" href="([^"]+)">Reset your password<\/a>/.exec(limited.res.text);
      assert.ok(reset, 'the page links to the password reset');
      const form = await agent.get(reset[1]!.replaceAll('&amp;', '&'));
      assert.equal(form.status, 200);
      assert.match(form.text, /Reset your password/);
      assert.ok(form.text.includes(`value="${email}"`), 'the reset form has the address filled in');
      // Another address from the same network still gets through (until the per-IP limit).
      const other = uniqueEmail('brute-other');
      await t.tenant.directory.createUser({ connection: CONNECTION, email: other, password: PASSWORD }, SYSTEM_ACTOR);
      assert.equal((await signIn(t, rp, other, PASSWORD)).res.status, 303);
    });

    it('limits password-reset requests per address', async () => {
      assert.equal((await forgot(t, rp, uniqueEmail('f1'))).status, 200);
      assert.equal((await forgot(t, rp, uniqueEmail('f2'))).status, 200);
      const limited = await forgot(t, rp, uniqueEmail('f3'));
      assert.equal(limited.status, 429);
      assert.match(limited.text, /Too many password-reset requests/);
    });
  });
}
