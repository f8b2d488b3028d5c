import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Logger } from '../../src/platform/logger.ts';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { subscribeIdentityNotifications, verifiedAddresses } from '../../src/tenant/mail/identity-notifications.ts';
import type { MailMessage, StoredMail } from '../../src/tenant/mail/mailer.ts';
import { testDatabases } from '../helpers/databases.ts';
import { openDirectory, testConnections } from '../helpers/directory.ts';
import { api, createEmailUser, createSocialUser, enc } from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { startTestTenant, type TestTenant } from '../helpers/tenant.ts';

for (const db of testDatabases()) {
  describe(`link and unlink notifications [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;
    let token: string;
    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      t = await startTestTenant(opened.database);
      token = await t.token();
    });
    after(async () => {
      await t.close();
      await cleanup();
    });

    async function outbox(): Promise<StoredMail[]> {
      const res = await t.request.get('/dev/mail.json');
      assert.equal(res.status, 200);
      return res.body as StoredMail[];
    }

    /** Notifications go out in the background, after the change: wait for `count` mails to `to` matching `subject`. */
    async function waitForMails(to: string, subject: RegExp, count = 1): Promise<StoredMail[]> {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const mails = (await outbox()).filter((m) => m.to === to && subject.test(m.subject));
        if (mails.length >= count || Date.now() > deadline) {
          assert.equal(mails.length, count, `${count} mail(s) "${subject.source}" to ${to}`);
          return mails;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }

    const mailsTo = async (to: string) => (await outbox()).filter((m) => m.to.toLowerCase() === to.toLowerCase());
    const LINKED = /was linked to your Accord Test account/;
    const UNLINKED = /was removed from your Accord Test account/;

    it('a link through the Management API mails every verified address of the account, naming the tenant and the connection', async () => {
      const primary = await createEmailUser(t);
      const secondary = await createSocialUser(t);
      const res = await api(t, token).post(`/users/${enc(primary.user_id)}/identities`, {
        provider: 'google-oauth2',
        user_id: secondary.identities[0]!.user_id,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));

      for (const to of [primary.email!, secondary.email!]) {
        const [mail] = await waitForMails(to, /^A sign-in method was linked to your Accord Test account$/);
        assert.match(mail!.text, /The sign-in method Google \(connection "google-oauth2"\) for .+@gmail\.com was linked to your Accord Test account/);
        assert.match(mail!.text, /When: .+ UTC/);
        assert.match(mail!.text, /How: by an application connected to Accord Test/);
        assert.match(mail!.text, /If this was not you/);
        assert.match(mail!.html, /google-oauth2/);
        assert.ok(!mail!.text.includes(token) && !mail!.html.includes(token), 'no token in the mail');
      }
    });

    it('an unlink mails the account and the detached identity, when verified', async () => {
      const primary = await createEmailUser(t);
      const secondary = await createSocialUser(t);
      const sub = secondary.identities[0]!.user_id;
      await t.tenant.directory.link(primary.user_id, { userId: secondary.user_id }, SYSTEM_ACTOR);
      await waitForMails(primary.email!, LINKED);

      const res = await api(t, token).delete(`/users/${enc(primary.user_id)}/identities/google-oauth2/${enc(sub)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      for (const to of [primary.email!, secondary.email!]) {
        const [mail] = await waitForMails(to, UNLINKED);
        assert.match(mail!.text, /The sign-in method Google \(connection "google-oauth2"\) for .+ was unlinked from your Accord Test account/);
        assert.match(mail!.text, /now opens a separate account/);
      }
    });

    it('an unverified address gets nothing, on link or unlink', async () => {
      const primary = await createEmailUser(t);
      const unverified = await createSocialUser(t, { email_verified: false });
      const sub = unverified.identities[0]!.user_id;
      const linked = await api(t, token).post(`/users/${enc(primary.user_id)}/identities`, { provider: 'google-oauth2', user_id: sub });
      assert.equal(linked.status, 201);
      await waitForMails(primary.email!, LINKED);
      const unlinked = await api(t, token).delete(`/users/${enc(primary.user_id)}/identities/google-oauth2/${enc(sub)}`);
      assert.equal(unlinked.status, 200);
      await waitForMails(primary.email!, UNLINKED);
      assert.deepEqual(await mailsTo(unverified.email!), []);
    });

    it('an unverified root email gets nothing; the verified linked identity does', async () => {
      const primary = await createEmailUser(t, { email_verified: false });
      const secondary = await createSocialUser(t);
      const res = await api(t, token).post(`/users/${enc(primary.user_id)}/identities`, {
        provider: 'google-oauth2',
        user_id: secondary.identities[0]!.user_id,
      });
      assert.equal(res.status, 201);
      await waitForMails(secondary.email!, LINKED);
      assert.deepEqual(await mailsTo(primary.email!), []);
    });

    it('one mail per address, however many identities share it', async () => {
      const email = uniqueEmail('shared');
      const primary = await createEmailUser(t, { email });
      const secondary = await createSocialUser(t, { email: email.toUpperCase() });
      await t.tenant.directory.link(primary.user_id, { userId: secondary.user_id }, SYSTEM_ACTOR);
      const [mail] = await waitForMails(email, LINKED);
      assert.match(mail!.text, /automatically by Accord Test at sign-in/);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal((await mailsTo(email)).length, 1);
    });
  });

  describe(`link notifications when mail fails [${db.label}]`, () => {
    it('logs the failure and never fails or undoes the link', async () => {
      const { directory, cleanup } = await openDirectory(db);
      try {
        const errors: { obj: Record<string, unknown>; msg: string }[] = [];
        const logger = {
          error: (obj: Record<string, unknown>, msg: string) => {
            errors.push({ obj, msg });
          },
        } as unknown as Logger;
        const attempted: MailMessage[] = [];
        const notifications = subscribeIdentityNotifications({
          directory,
          connections: testConnections(),
          tenantName: 'Accord Test',
          logger,
          mailer: {
            transport: 'smtp',
            send: async (message) => {
              attempted.push(message);
              throw new Error('SMTP server unreachable');
            },
          },
        });
        const primary = await directory.createUser({ connection: 'email', email: uniqueEmail('fail'), email_verified: true }, SYSTEM_ACTOR);
        const social = await directory.createFederatedUser(
          { connection: 'google-oauth2', sub: '115012345', email: uniqueEmail('g', 'gmail.com'), email_verified: true },
          SYSTEM_ACTOR,
        );
        const identities = await directory.link(primary.user_id, { userId: social.user_id }, SYSTEM_ACTOR);
        assert.equal(identities.length, 2);
        await notifications.idle();
        assert.equal(attempted.length, 2, 'both verified addresses were tried');
        assert.equal(errors.length, 1);
        assert.match(errors[0]!.msg, /could not send the identity change notification/);
        assert.equal((await directory.getUser(primary.user_id)).identities.length, 2, 'the link stands');
      } finally {
        await cleanup();
      }
    });
  });
}

describe('verifiedAddresses', () => {
  it('keeps verified root and identity emails, deduplicated by normalized form', () => {
    const base = { created_at: '', updated_at: '', logins_count: 0, blocked: false, user_metadata: {}, app_metadata: {} };
    const addresses = verifiedAddresses([
      {
        ...base,
        user_id: 'email|1',
        email: 'Me@Example.com',
        email_verified: true,
        identities: [
          { provider: 'email', user_id: '1', connection: 'email', isSocial: false },
          {
            provider: 'google-oauth2',
            user_id: '2',
            connection: 'google-oauth2',
            isSocial: true,
            profileData: { email: 'me@example.com', email_verified: true },
          },
          { provider: 'oidc', user_id: '3', connection: 'corp', isSocial: true, profileData: { email: 'other@example.com', email_verified: false } },
          { provider: 'oidc', user_id: '4', connection: 'corp', isSocial: true, profileData: { email: 'third@example.com', email_verified: true } },
        ],
      },
      undefined,
    ]);
    assert.deepEqual(addresses, ['Me@Example.com', 'third@example.com']);
  });

  it('never trusts a string "true"', () => {
    const base = { created_at: '', updated_at: '', logins_count: 0, blocked: false, user_metadata: {}, app_metadata: {} };
    const addresses = verifiedAddresses([
      {
        ...base,
        user_id: 'email|1',
        email: 'a@example.com',
        email_verified: false,
        identities: [
          {
            provider: 'x',
            user_id: '2',
            connection: 'x',
            isSocial: true,
            profileData: { email: 'b@example.com', email_verified: 'true' as unknown as boolean },
          },
        ],
      },
    ]);
    assert.deepEqual(addresses, []);
  });
});
