import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { MAX_CODE_ATTEMPTS, PASSWORDLESS_LIMITS } from '../../src/tenant/connections/passwordless/passwordless-connection.ts';
import type { StoredMail } from '../../src/tenant/mail/mailer.ts';
import { testDatabases } from '../helpers/databases.ts';
import {
  type Authorization,
  authorize,
  browser,
  type Browser,
  csrfOf,
  exchangeCode,
  followToCallback,
  type RelyingParty,
  tenantPerSuite,
  type Tokens,
} from '../helpers/login-flow.ts';
import type { TestTenant } from '../helpers/tenant.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';

/** Each browser gets its own address (this tenant trusts X-Forwarded-For from loopback), so per-IP limits stay per test. */
const uniqueIp = () => `198.51.100.${1 + Math.floor(Math.random() * 250)}`;
let ipCounter = 0;
const nextIp = () => `203.0.113.${(ipCounter++ % 250) + 1}`;

for (const db of testDatabases()) {
  describe(`passwordless email login [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(
      db,
      (started) => {
        ({ t, rp } = started);
      },
      { trustProxy: ['loopback'] },
    );

    const agentFor = (ip = nextIp()): Browser => browser(t.tenant).set('X-Forwarded-For', ip);

    async function mailsTo(email: string): Promise<StoredMail[]> {
      const res = await t.request.get('/dev/mail.json');
      assert.equal(res.status, 200);
      return (res.body as StoredMail[]).filter((m) => m.to === email);
    }

    async function latestCode(email: string): Promise<string> {
      const [mail] = await mailsTo(email);
      assert.ok(mail, `a mail was sent to ${email}`);
      const code = /^\s+(\d{6})\s*$/m.exec(mail.text)?.[1];
      assert.ok(code, 'the mail shows a 6-digit code');
      return code;
    }

    /** Opens the email form of the interaction, asks for a code; returns the CSRF token of the code page. */
    async function requestCode(agent: Browser, auth: Authorization, email: string): Promise<string> {
      const form = await agent.get(`/login/${auth.uid}/email`);
      assert.equal(form.status, 200, form.text.slice(0, 300));
      const csrf = csrfOf(form.text);
      const sent = await agent.post(`/login/${auth.uid}/email`).type('form').send({ _csrf: csrf, email });
      assert.equal(sent.status, 303, sent.text.slice(0, 500));
      assert.match(sent.headers.location!, new RegExp(`^/login/${auth.uid}/email/code\\?`));
      const page = await agent.get(sent.headers.location!);
      assert.equal(page.status, 200);
      assert.match(page.text, /We sent a 6-digit code/);
      return csrfOf(page.text);
    }

    function enterCode(agent: Browser, auth: Authorization, csrf: string, email: string, code: string) {
      return agent.post(`/login/${auth.uid}/email/code`).type('form').send({ _csrf: csrf, email, code });
    }

    /** A complete sign-in by email code; returns the id_token claims. */
    async function signInWithCode(email: string) {
      const agent = agentFor();
      const auth = await authorize(agent, rp, { connection: 'email' });
      const csrf = await requestCode(agent, auth, email);
      const res = await enterCode(agent, auth, csrf, email, await latestCode(email));
      assert.equal(res.status, 303, res.text.slice(0, 500));
      const tokens = await exchangeCode(t.tenant, rp, auth, await followToCallback(agent, res.headers.location!));
      return tokens;
    }

    /** What the RP learns about the user: the id_token's claims, completed by /userinfo when the access token allows it. */
    async function claimsOf(tokens: Tokens): Promise<Record<string, unknown>> {
      const userinfo = await t.request.get('/userinfo').set('authorization', `Bearer ${tokens.access_token}`);
      return userinfo.status === 200 ? { ...userinfo.body, ...tokens.claims } : tokens.claims;
    }

    it('shows the email form pre-filled from login_hint, with a CSRF token', async () => {
      const agent = agentFor();
      const auth = await authorize(agent, rp, { connection: 'email', login_hint: 'hint@example.com' });
      const res = await agent.get(`/login/${auth.uid}/email`);
      assert.equal(res.status, 200);
      assert.match(res.text, /value="hint@example.com"/);
      assert.match(res.text, /Accord Test/);
      csrfOf(res.text);
    });

    it('a first code login creates a verified user; the id_token carries its sub; the mail names the tenant', async () => {
      const email = uniqueEmail('new');
      const tokens = await signInWithCode(email);
      const claims = await claimsOf(tokens);
      const [user] = await t.tenant.directory.findByEmail(email);
      assert.ok(user);
      assert.equal(claims.sub, user.user_id);
      assert.match(user.user_id, /^email\|[0-9a-f]{24}$/);
      assert.equal(user.email_verified, true);
      assert.equal(user.identities[0]!.connection, 'email');
      assert.equal(user.logins_count, 1);
      assert.equal(claims.email_verified, true);
      assert.equal(claims.email, email);

      const [mail] = await mailsTo(email);
      assert.match(mail!.subject, /Accord Test/);
      assert.match(mail!.text, /expires in 10 minutes/);
      assert.match(mail!.text, /If you did not try to sign in/);
    });

    it('a second login with the same email reuses the same user', async () => {
      const email = uniqueEmail('again');
      const first = await signInWithCode(email);
      const second = await signInWithCode(email.toUpperCase());
      assert.equal(second.claims.sub, first.claims.sub);
      const users = await t.tenant.directory.findByEmail(email);
      assert.equal(users.length, 1);
      assert.equal(users[0]!.logins_count, 2);
    });

    it('asking for a code says nothing about whether the address has an account: same answer, page and mail (docs/security.md case 39)', async () => {
      const existing = uniqueEmail('has-account');
      await t.tenant.directory.createUser({ connection: 'email', email: existing, email_verified: true }, SYSTEM_ACTOR);
      const fresh = uniqueEmail('no-account');
      const ask = async (email: string) => {
        const agent = agentFor();
        const auth = await authorize(agent, rp, { connection: 'email' });
        const form = await agent.get(`/login/${auth.uid}/email`);
        const sent = await agent
          .post(`/login/${auth.uid}/email`)
          .type('form')
          .send({ _csrf: csrfOf(form.text), email });
        const page = await agent.get(sent.headers.location!);
        const [mail] = await mailsTo(email);
        assert.ok(mail, `a code was mailed to ${email}`);
        const neutral = (text: string) =>
          text
            .replaceAll(encodeURIComponent(email), 'EMAIL')
            .replaceAll(email, 'EMAIL')
            .replaceAll(auth.uid, 'UID')
            .replace(/name="_csrf" value="[^"]+"/g, '')
            .replace(/\b\d{6}\b/, 'CODE');
        return { status: sent.status, location: neutral(sent.headers.location!), page: neutral(page.text), subject: mail.subject, mail: neutral(mail.text) };
      };
      const forExisting = await ask(existing);
      const forNew = await ask(fresh);
      assert.equal(forExisting.status, 303);
      assert.deepEqual(forExisting, forNew);
      assert.deepEqual(await t.tenant.directory.findByEmail(fresh), [], 'asking creates no account; only a right code does');
    });

    it('verifies an existing identity whose email was not verified', async () => {
      const email = uniqueEmail('unverified');
      const created = await t.tenant.directory.createUser({ connection: 'email', email, email_verified: false }, SYSTEM_ACTOR);
      const { claims } = await signInWithCode(email);
      assert.equal(claims.sub, created.user_id);
      assert.equal((await t.tenant.directory.getUser(created.user_id)).email_verified, true);
    });

    it('a passwordless identity linked into another user signs in as the primary', async () => {
      const email = uniqueEmail('linked');
      const primary = await t.tenant.directory.createUser(
        {
          connection: 'Username-Password-Authentication',
          email,
          email_verified: true,
          password: 'correct horse battery staple 42',
        },
        SYSTEM_ACTOR,
      );
      const secondary = await t.tenant.directory.createUser({ connection: 'email', email, email_verified: true }, SYSTEM_ACTOR);
      await t.tenant.directory.link(primary.user_id, { userId: secondary.user_id }, SYSTEM_ACTOR);
      const { claims } = await signInWithCode(email);
      assert.equal(claims.sub, primary.user_id);
      assert.equal((await t.tenant.directory.findByEmail(email)).length, 1, 'no new user was created');
    });

    it('rejects a form posted without its CSRF token (403), and sends nothing', async () => {
      const agent = agentFor();
      const auth = await authorize(agent, rp, { connection: 'email' });
      const email = uniqueEmail('csrf');
      const res = await agent.post(`/login/${auth.uid}/email`).type('form').send({ email });
      assert.equal(res.status, 403);
      assert.equal((await mailsTo(email)).length, 0);
      const guess = await agent.post(`/login/${auth.uid}/email/code`).type('form').send({ email, code: '123456', _csrf: 'forged' });
      assert.equal(guess.status, 403);
    });

    it('refuses a non-string or malformed email without sending', async () => {
      const agent = agentFor();
      const auth = await authorize(agent, rp, { connection: 'email' });
      const csrf = csrfOf((await agent.get(`/login/${auth.uid}/email`)).text);
      const arrays = await agent.post(`/login/${auth.uid}/email`).type('form').send(`_csrf=${csrf}&email=a%40example.com&email=b%40example.com`);
      assert.equal(arrays.status, 400);
      assert.match(arrays.text, /Enter a valid email address/);
      const bad = await agent.post(`/login/${auth.uid}/email`).type('form').send({ _csrf: csrf, email: 'not-an-email' });
      assert.equal(bad.status, 400);
    });

    describe('case 23: a passwordless code is single use, short-lived, and bound to the email and the interaction', () => {
      it('works once: replaying the used code is refused', async () => {
        const email = uniqueEmail('once');
        const agent = agentFor();
        const auth = await authorize(agent, rp, { connection: 'email' });
        const csrf = await requestCode(agent, auth, email);
        const code = await latestCode(email);
        const ok = await enterCode(agent, auth, csrf, email, code);
        assert.equal(ok.status, 303);
        // The same interaction cannot take it again (the interaction is finished, or the code is spent)…
        const replay = await enterCode(agent, auth, csrf, email, code);
        assert.notEqual(replay.status, 303);
        // …and the ticket is consumed in the database.
        const rows = await t.tenant.database.db.selectFrom('login_tickets').select(['consumed_at']).where('email_normalized', '=', email).execute();
        assert.equal(rows.length, 1);
        assert.notEqual(rows[0]!.consumed_at, null);
      });

      it('stores only a hash of the code, with a 10-minute expiry', async () => {
        const email = uniqueEmail('hash');
        const agent = agentFor();
        const auth = await authorize(agent, rp, { connection: 'email' });
        await requestCode(agent, auth, email);
        const code = await latestCode(email);
        const row = await t.tenant.database.db.selectFrom('login_tickets').selectAll().where('email_normalized', '=', email).executeTakeFirstOrThrow();
        assert.equal(row.kind, 'email_code');
        assert.equal(row.interaction_uid, auth.uid);
        assert.match(row.id, /^[0-9a-f]{64}$/);
        assert.ok(!JSON.stringify(row).includes(code), 'the code itself is not stored');
        const ttl = Number(row.expires_at) - Date.now() / 1000;
        assert.ok(ttl > 590 && ttl <= 600, `expires in ${ttl}s`);
      });

      it('refuses an expired code with a clear message', async () => {
        const email = uniqueEmail('expired');
        const agent = agentFor();
        const auth = await authorize(agent, rp, { connection: 'email' });
        const csrf = await requestCode(agent, auth, email);
        await t.tenant.database.db
          .updateTable('login_tickets')
          .set({ expires_at: Math.floor(Date.now() / 1000) - 1 })
          .where('email_normalized', '=', email)
          .execute();
        const res = await enterCode(agent, auth, csrf, email, await latestCode(email));
        assert.equal(res.status, 400);
        assert.match(res.text, /That code has expired/);
        assert.equal((await t.tenant.directory.findByEmail(email)).length, 0);
      });

      it(`after ${MAX_CODE_ATTEMPTS} wrong guesses the right code is refused; a new code works`, async () => {
        const email = uniqueEmail('guess');
        const agent = agentFor();
        const auth = await authorize(agent, rp, { connection: 'email' });
        const csrf = await requestCode(agent, auth, email);
        const code = await latestCode(email);
        const wrong = code === '000000' ? '000001' : '000000';
        for (let left = MAX_CODE_ATTEMPTS - 1; left >= 1; left--) {
          const res = await enterCode(agent, auth, csrf, email, wrong);
          assert.equal(res.status, 400);
          assert.match(res.text, new RegExp(`That code is not right, ${left} tr(y|ies) left`));
        }
        const fifth = await enterCode(agent, auth, csrf, email, wrong);
        assert.match(fifth.text, /too many times/);
        const right = await enterCode(agent, auth, csrf, email, code);
        assert.equal(right.status, 400);
        assert.match(right.text, /too many times.*Ask for a new one/s);

        const fresh = await requestCode(agent, auth, email);
        const newCode = await latestCode(email);
        if (newCode !== code) {
          const old = await enterCode(agent, auth, fresh, email, code);
          assert.equal(old.status, 400, 'the earlier code stopped working');
        }
        const ok = await enterCode(agent, auth, fresh, email, newCode);
        assert.equal(ok.status, 303);
      });

      it('is bound to the interaction: a code from sign-in A does not work in sign-in B, even for the same email', async () => {
        const email = uniqueEmail('bound');
        const agent = agentFor();
        const a = await authorize(agent, rp, { connection: 'email' });
        await requestCode(agent, a, email);
        const codeA = await latestCode(email);
        const b = await authorize(agent, rp, { connection: 'email' });
        const csrfB = await requestCode(agent, b, email);
        const codeB = await latestCode(email);
        if (codeA !== codeB) {
          const res = await enterCode(agent, b, csrfB, email, codeA);
          assert.equal(res.status, 400);
          assert.match(res.text, /not right/);
        }
        // A code asked for in A cannot be used in a sign-in that has none either.
        const c = await authorize(agent, rp, { connection: 'email' });
        const csrfC = csrfOf((await agent.get(`/login/${c.uid}/email`)).text);
        const none = await enterCode(agent, c, csrfC, email, codeA);
        assert.equal(none.status, 400);
        assert.match(none.text, /no code waiting/);
        // A's code still works in A.
        const csrfA = csrfOf((await agent.get(`/login/${a.uid}/email`)).text);
        const ok = await enterCode(agent, a, csrfA, email, codeA);
        assert.equal(ok.status, 303);
      });

      it('is bound to the email: a code sent to one address does not sign in another', async () => {
        const alice = uniqueEmail('alice');
        const mallory = uniqueEmail('mallory');
        const agent = agentFor();
        const auth = await authorize(agent, rp, { connection: 'email' });
        const csrf = await requestCode(agent, auth, mallory);
        const malloryCode = await latestCode(mallory);
        await requestCode(agent, auth, alice);
        const res = await enterCode(agent, auth, csrf, alice, malloryCode);
        assert.equal(res.status, 400);
        assert.equal((await t.tenant.directory.findByEmail(alice)).length, 0);
        const ok = await enterCode(agent, auth, csrf, alice, await latestCode(alice));
        assert.equal(ok.status, 303);
      });
    });

    describe('case 22: brute force against code sends and code guesses meets 429', () => {
      it(`more than ${PASSWORDLESS_LIMITS.sendsPerEmail} codes for one email, from any address, are refused`, async () => {
        const email = uniqueEmail('flood');
        for (let i = 0; i < PASSWORDLESS_LIMITS.sendsPerEmail; i++) {
          const agent = agentFor(uniqueIp());
          const auth = await authorize(agent, rp, { connection: 'email' });
          await requestCode(agent, auth, email);
        }
        const agent = agentFor();
        const auth = await authorize(agent, rp, { connection: 'email' });
        const csrf = csrfOf((await agent.get(`/login/${auth.uid}/email`)).text);
        const res = await agent.post(`/login/${auth.uid}/email`).type('form').send({ _csrf: csrf, email });
        assert.equal(res.status, 429);
        assert.match(res.text, /Too many sign-in codes were requested for this email address/);
        assert.equal((await mailsTo(email)).length, PASSWORDLESS_LIMITS.sendsPerEmail);
      });

      it(`more than ${PASSWORDLESS_LIMITS.sendsPerIp} code sends from one address are refused`, async () => {
        const agent = agentFor('192.0.2.10');
        const auth = await authorize(agent, rp, { connection: 'email' });
        const csrf = csrfOf((await agent.get(`/login/${auth.uid}/email`)).text);
        for (let i = 0; i < PASSWORDLESS_LIMITS.sendsPerIp; i++) {
          const res = await agent
            .post(`/login/${auth.uid}/email`)
            .type('form')
            .send({ _csrf: csrf, email: uniqueEmail('ip') });
          assert.equal(res.status, 303);
        }
        const res = await agent
          .post(`/login/${auth.uid}/email`)
          .type('form')
          .send({ _csrf: csrf, email: uniqueEmail('ip') });
        assert.equal(res.status, 429);
        assert.match(res.text, /Too many attempts/);
        assert.match(res.text, /from your network/);
      });

      it(`more than ${PASSWORDLESS_LIMITS.guessesPerIp} code guesses from one address are refused`, async () => {
        const agent = agentFor('192.0.2.20');
        const auth = await authorize(agent, rp, { connection: 'email' });
        const email = uniqueEmail('guesser');
        const csrf = await requestCode(agent, auth, email);
        const code = await latestCode(email);
        const wrong = code === '999999' ? '999998' : '999999';
        for (let i = 0; i < PASSWORDLESS_LIMITS.guessesPerIp; i++) {
          const res = await enterCode(agent, auth, csrf, email, wrong);
          assert.equal(res.status, 400);
        }
        const res = await enterCode(agent, auth, csrf, email, code);
        assert.equal(res.status, 429);
        assert.match(res.text, /Too many codes were tried/);
      });
    });
  });
}
