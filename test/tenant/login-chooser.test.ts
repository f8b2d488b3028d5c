import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDatabases } from '../helpers/databases.ts';
import { authorize, browser, type RelyingParty, tenantPerSuite } from '../helpers/login-flow.ts';
import { startTestTenant, type TestTenant } from '../helpers/tenant.ts';

for (const db of testDatabases()) {
  describe(`universal login [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(db, (started) => {
      ({ t, rp } = started);
    });

    it('sends an authorization request to the login page, framed nowhere and cached nowhere', async () => {
      const agent = browser(t.tenant);
      const auth = await authorize(agent, rp);
      const page = await agent.get(auth.loginPath);
      assert.equal(page.status, 200);
      assert.match(page.text, /<h1 id="page-title">Sign in<\/h1>/);
      assert.match(page.text, /Accord Test/);
      assert.equal(page.headers['x-frame-options'], 'DENY');
      assert.match(page.headers['content-security-policy']!, /frame-ancestors 'none'/);
      assert.equal(page.headers['cache-control'], 'no-store');
      const stylesheet = page.text.match(/<link rel="stylesheet" href="([^"]+)">/)?.[1];
      assert.equal(stylesheet, '/css/tenant.css');
      const css = await agent.get(stylesheet);
      assert.equal(css.status, 200);
      assert.match(css.headers['content-type']!, /^text\/css/);
    });

    it("goes straight to the connection named by Auth0's connection parameter, and refuses an unknown one", async () => {
      const agent = browser(t.tenant);
      const auth = await authorize(agent, rp, { connection: 'email' });
      assert.equal(auth.firstPath, `/login/${auth.uid}/email`, 'the authorization skips the chooser');
      const page = await agent.get(auth.firstPath);
      assert.equal(page.status, 200);
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.equal(page.headers['x-frame-options'], 'DENY');
      const res = await agent.get(auth.loginPath);
      assert.equal(res.status, 303, 'the chooser, reached again, still sends it on');
      assert.equal(res.headers.location, `/login/${auth.uid}/email`);
      const cancelled = await agent.get(`${auth.loginPath}/abort`);
      assert.equal(cancelled.status, 303, 'the interaction cookie still covers the cancel link');
      const unknown = await authorize(agent, rp, { connection: 'nope' });
      assert.equal(unknown.firstPath, unknown.loginPath);
      const refused = await agent.get(unknown.loginPath);
      assert.equal(refused.status, 404);
      assert.match(refused.text, /does not exist/);
    });

    it('explains an expired or foreign sign-in in words', async () => {
      const auth = await authorize(browser(t.tenant), rp);
      const other = await browser(t.tenant).get(auth.loginPath);
      assert.equal(other.status, 400);
      assert.match(other.text, /This sign-in has expired/);
    });

    it('lets the user cancel: the client receives access_denied', async () => {
      const agent = browser(t.tenant);
      const auth = await authorize(agent, rp);
      const res = await agent.get(`${auth.loginPath}/abort`);
      assert.equal(res.status, 303);
      const resume = await agent.get(new URL(res.headers.location!, 'http://tenant').pathname);
      const callback = new URL(resume.headers.location!);
      assert.equal(callback.searchParams.get('error'), 'access_denied');
    });
  });
}

describe('the development outbox', () => {
  it('lists sent mail at /dev/mail (HTML) and /dev/mail.json, newest first', async () => {
    const [db] = testDatabases();
    const opened = await db!.open();
    const t = await startTestTenant(opened.database);
    try {
      await t.tenant.mailer.send({ to: 'first@example.com', subject: 'First', text: 'one: https://example.com/verify?token=a&b=1 <now>', html: '<p>one</p>' });
      await t.tenant.mailer.send({ to: 'second@example.com', subject: 'Second <b>', text: 'two', html: '<p>two</p>' });
      const json = await t.request.get('/dev/mail.json');
      assert.equal(json.status, 200);
      assert.deepEqual(
        json.body.map((m: { subject: string }) => m.subject),
        ['Second <b>', 'First'],
      );
      const html = await t.request.get('/dev/mail');
      assert.equal(html.status, 200);
      assert.match(html.text, /Development outbox/);
      assert.match(html.text, /Second &lt;b&gt;/, 'subjects are escaped');
      assert.ok(html.text.indexOf('Second') < html.text.indexOf('First'));
      const link = 'https://example.com/verify?token=a&amp;b=1';
      assert.ok(html.text.includes(`one: <a href="${link}">${link}</a> &lt;now&gt;`), 'links are clickable, the rest escaped');
    } finally {
      await t.close();
      await opened.cleanup();
    }
  });

  it('does not exist when mail goes out by SMTP', async () => {
    const [db] = testDatabases();
    const opened = await db!.open();
    const t = await startTestTenant(opened.database, { mail: { transport: 'smtp', smtpUrl: 'smtp://127.0.0.1:1', from: 'x@example.com' } });
    try {
      assert.equal((await t.request.get('/dev/mail')).status, 404);
      assert.equal((await t.request.get('/dev/mail.json')).status, 404);
    } finally {
      await t.close();
      await opened.cleanup();
    }
  });
});
