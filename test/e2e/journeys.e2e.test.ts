/**
 * The product in a real browser (Debian's Chromium through playwright-core), the way a
 * person uses it: the app and the tenant listen on ports of 127.0.0.1, every click is a
 * click (or, in journey 7, a key), and every journey ends by checking what the page shows
 * and what the tenant holds, read through its Management API. Every page a journey lands
 * on, the tenant's included, is checked by axe-core. A failing journey leaves a screenshot
 * and the HTML of its pages under test-results/.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { maskEmail } from '../../src/app/web/display.ts';
import { createVerifiedPasswordAccount, DATABASE_CONNECTION, PASSWORD, type TestAccord } from '../helpers/accord.ts';
import type { Person } from '../helpers/chromium.ts';
import {
  accountsOf,
  browserJourneys,
  chooseSignIn,
  DEMO,
  demoIdpForm,
  escapeRe,
  flash,
  profileMethods,
  profileSection,
  proveWithPassword,
  signInWithDemo,
  signInWithEmailCode,
  signInWithPassword,
  signOut,
  sitemap,
  tenantUser,
  userOn,
} from '../helpers/journeys.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';

/**
 * Journey 1 (and, by keyboard, 7): sign up with a password, verify the address from the
 * outbox, sign out; sign in with the demo social provider with the same email; link the
 * two with a fresh password sign-in; sign in with demo social again: the same user.
 */
async function signUpThenLinkSocial(person: Person, accord: TestAccord): Promise<void> {
  const pages = sitemap(accord);
  const email = uniqueEmail('ada');

  await chooseSignIn(person, accord, 'Email and password', pages.connection(DATABASE_CONNECTION));
  await person.press({ role: 'link', name: 'Create an account' }, pages.signup);
  assert.equal(await person.heading(), 'Create your account');
  await person.type('Email address', email);
  await person.type('Password', PASSWORD);
  // The same answer as for an address that has an account (docs/security.md case 39): no sign-in yet.
  await person.press({ role: 'button', name: 'Create account' }, pages.signup);
  assert.equal(await person.heading(), 'Check your email');
  await person.press({ role: 'link', name: 'Continue to sign in' }, pages.connection(DATABASE_CONNECTION));
  assert.equal(await person.locate({ label: 'Email address' }).inputValue(), email, 'the address is filled in');
  await person.type('Password', PASSWORD);
  await person.press({ role: 'button', name: 'Sign in' }, pages.profile);
  assert.equal(await person.heading(), email);
  assert.match(await person.mainText(), /not verified/);
  const password = await userOn(accord, email, DATABASE_CONNECTION);
  assert.equal(password.email_verified, false);

  await person.open(`${accord.tenantUrl}/dev/mail`);
  await person.press({ role: 'link', name: /\/account\/verify-email\?token=/ }, new RegExp(`^${escapeRe(accord.tenantUrl)}/account/verify-email\\?`));
  assert.equal(await person.heading(), 'Email address confirmed');
  assert.equal((await tenantUser(accord, password.user_id)).email_verified, true);

  await person.open(pages.profile);
  await signOut(person, accord);

  await signInWithDemo(person, accord, { email, name: 'Ada Lovelace' }, pages.suggestions);
  assert.equal(await person.heading(), 'Link these accounts?');
  const suggestion = await person.mainText();
  assert.match(suggestion, new RegExp(`You signed in with ${escapeRe(email)}`));
  assert.match(suggestion, /Email and password/);
  assert.match(
    await person.page.locator('li.candidate .account-meta').innerText(),
    new RegExp(`^${escapeRe(maskEmail(email))} · created `),
    "the candidate's address masked",
  );
  const social = await userOn(accord, email, DEMO);

  await proveWithPassword(person, accord, email);
  assert.match(await person.mainText(), /Stays as your account .*Demo social .*Becomes a sign-in method of it .*Email and password/i);
  await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
  assert.equal(await flash(person), 'Accounts linked. Both sign-in methods now lead to this account.');
  assert.equal(await person.heading(), 'Ada Lovelace');
  assert.deepEqual(await profileMethods(person), ['Demo social (main)', 'Email and password']);
  assert.deepEqual(await accountsOf(accord, email), [{ user_id: social.user_id, connections: [DEMO, DATABASE_CONNECTION] }]);
  const logins = (await tenantUser(accord, social.user_id)).logins_count ?? 0;

  await signOut(person, accord);
  await signInWithDemo(person, accord, { email, name: 'Ada Lovelace' }, pages.profile);
  assert.deepEqual(await profileMethods(person), ['Demo social (main)', 'Email and password']);
  assert.deepEqual(await accountsOf(accord, email), [{ user_id: social.user_id, connections: [DEMO, DATABASE_CONNECTION] }], 'the same user_id');
  assert.equal((await tenantUser(accord, social.user_id)).logins_count, logins + 1, 'the sign-in went to that user');
}

// The product's pages by title: each journey has axe check every page it lands on, and the
// last test checks that together they landed on all of these. (The tenant's sign-out question
// is a detour's page: detours.e2e.test.ts D5 lands on it.)
const PAGES_OF_THE_PRODUCT = [
  'Sign in · Accord',
  'Your profile · Accord',
  'Link these accounts? · Accord',
  'Review and link · Accord',
  'Link another account · Accord',
  'You signed in to a different account · Accord',
  'Sign in · Accord Test',
  "Confirm it's you to link this account to Accord app · Accord Test",
  'Create your account · Accord Test',
  'Check your email · Accord Test',
  'Development outbox · Accord Test',
  'Email address confirmed · Accord Test',
  'Sign in with an email code · Accord Test',
  'Enter your code · Accord Test',
  'Sign in to Demo social · Demo social',
];

browserJourneys('Accord in Chromium', (journey, audited) => {
  journey('1. sign up with a password, verify, sign in with demo social → link → the same user from either sign-in', async (accord, newPerson) => {
    await signUpThenLinkSocial(await newPerson(), accord);
  });

  journey('2. the same, keeping the other (password) account as the primary', async (accord, newPerson) => {
    const pages = sitemap(accord);
    const email = uniqueEmail('grace');
    await createVerifiedPasswordAccount(accord, email);
    const password = await userOn(accord, email, DATABASE_CONNECTION);
    const person = await newPerson();

    await signInWithDemo(person, accord, { email, name: 'Grace Hopper' }, pages.suggestions);
    const social = await userOn(accord, email, DEMO);
    await proveWithPassword(person, accord, email);
    await person.press({ role: 'link', name: 'Keep the other account instead' }, `${accord.appUrl}/link/preview?primary=other`);
    assert.match(
      await person.mainText(),
      /Stays as your account .*Email and password .*You will be signed in to it after linking\. Becomes a sign-in method of it .*Demo social/i,
    );
    await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
    assert.match(await flash(person), /^Accounts linked\. You are now signed in to the account you chose to keep/);
    assert.equal(await person.heading(), email, "the password account's profile (its name is its email)");
    assert.deepEqual(await profileMethods(person), ['Email and password (main)', 'Demo social']);
    assert.deepEqual(await accountsOf(accord, email), [{ user_id: password.user_id, connections: [DATABASE_CONNECTION, DEMO] }]);
    await assert.rejects(tenantUser(accord, social.user_id), /404/, 'the demo social user is gone');

    await signOut(person, accord);
    await signInWithDemo(person, accord, { email, name: 'Grace Hopper' }, pages.profile);
    assert.equal(await person.heading(), email);
    assert.deepEqual(
      await accountsOf(accord, email),
      [{ user_id: password.user_id, connections: [DATABASE_CONNECTION, DEMO] }],
      'demo social opens the password user',
    );
  });

  journey('3. email code + password accounts, Keep separate: not asked again at the next sign-in; undone from the profile', async (accord, newPerson) => {
    const pages = sitemap(accord);
    const email = uniqueEmail('katherine');
    await createVerifiedPasswordAccount(accord, email);
    const person = await newPerson();

    await signInWithEmailCode(person, accord, email, pages.suggestions);
    assert.match(await person.mainText(), /Email and password/);
    const separate = await accountsOf(accord, email);
    assert.equal(separate.length, 2);
    await person.press({ role: 'button', name: 'Keep separate Email and password account' }, pages.profile);
    assert.equal(await flash(person), 'We will not suggest linking that account again. You can change this on your profile.');
    assert.match((await profileSection(person, 'kept')) ?? '', /Kept separate .*Email and password/i);
    assert.equal(await profileSection(person, 'suggested'), undefined);
    assert.deepEqual(await accountsOf(accord, email), separate, 'nothing changed at the tenant');

    await signOut(person, accord);
    const from = person.visited.length;
    await signInWithEmailCode(person, accord, email, pages.profile);
    assert.ok(!person.visited.slice(from).some((url) => pages.suggestions.test(url)), 'not asked again');
    assert.deepEqual(await profileMethods(person), ['Email code (main)']);
    assert.ok(await profileSection(person, 'kept'));

    await person.press({ role: 'button', name: 'Suggest again' }, pages.profile);
    assert.equal(await flash(person), 'That account will be suggested for linking again.');
    assert.equal(await profileSection(person, 'kept'), undefined);
    assert.match((await profileSection(person, 'suggested')) ?? '', /Email and password/);
    assert.deepEqual(await accountsOf(accord, email), separate);
  });

  journey('4. signing in to the wrong account when asked to prove the other one: a clear message, nothing linked', async (accord, newPerson) => {
    const pages = sitemap(accord);
    const email = uniqueEmail('mary');
    const otherEmail = uniqueEmail('mary-work');
    await createVerifiedPasswordAccount(accord, email);
    await createVerifiedPasswordAccount(accord, otherEmail);
    const person = await newPerson();

    await signInWithDemo(person, accord, { email, name: 'Mary Jackson' }, pages.suggestions);
    const before = await accountsOf(accord, email);
    const other = await accountsOf(accord, otherEmail);
    await person.press({ role: 'button', name: 'Link Email and password account' }, pages.connection(DATABASE_CONNECTION));
    // The proof page offers only the account being proven (read-only). A changed form (an old
    // page, an extension, the developer tools) can still send another account: the app refuses it.
    const field = person.locate({ label: 'Email address' });
    assert.equal(await field.getAttribute('readonly'), '');
    await field.evaluate((input) => input.removeAttribute('readonly'));
    await person.type('Email address', otherEmail);
    await person.type('Password', PASSWORD);
    await person.press({ role: 'button', name: 'Sign in' }, pages.linkCallback);
    assert.match(await person.mainText(), /You signed in as a different account than the one you chose to link, so nothing was changed/);
    assert.equal(await person.heading(), 'You signed in to a different account', 'what happened, in words (issue 16 item 2)');
    assert.equal(await person.page.getByRole('button', { name: 'Link again' }).count(), 1, 'the direct way to start again');

    assert.deepEqual(await accountsOf(accord, email), before, 'nothing linked');
    assert.deepEqual(await accountsOf(accord, otherEmail), other);
    await person.press({ role: 'link', name: 'Back to your profile' }, pages.profile);
    assert.deepEqual(await profileMethods(person), ['Demo social (main)']);
    assert.match((await profileSection(person, 'suggested')) ?? '', /Email and password/, 'still suggested');
  });

  journey('5. unlink from the profile: the identity signs in as a separate user again', async (accord, newPerson) => {
    const pages = sitemap(accord);
    const email = uniqueEmail('dorothy');
    await createVerifiedPasswordAccount(accord, email);
    const password = await userOn(accord, email, DATABASE_CONNECTION);
    const person = await newPerson();
    await signInWithDemo(person, accord, { email, name: 'Dorothy Vaughan' }, pages.suggestions);
    const social = await userOn(accord, email, DEMO);
    await proveWithPassword(person, accord, email);
    await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
    assert.deepEqual(await profileMethods(person), ['Demo social (main)', 'Email and password']);

    await person.press({ role: 'button', name: 'Unlink Email and password' }, pages.profile);
    assert.match(await flash(person), /^Unlinked\. Your Email and password sign-in is a separate account again, without any profile information/);
    assert.deepEqual(await profileMethods(person), ['Demo social (main)']);
    assert.match((await profileSection(person, 'suggested')) ?? '', /Email and password/);
    assert.deepEqual(
      await accountsOf(accord, email),
      [
        { user_id: password.user_id, connections: [DATABASE_CONNECTION] },
        { user_id: social.user_id, connections: [DEMO] },
      ].sort((a, b) => a.user_id.localeCompare(b.user_id)),
      'two users again, the unlinked one with its own id',
    );

    await signOut(person, accord);
    await signInWithPassword(person, accord, email, pages.suggestions);
    assert.match(await person.mainText(), /Demo social/, 'the password sign-in is its own account, offered the demo one');
    await person.press({ role: 'link', name: 'Decide later' }, pages.profile);
    assert.equal(await person.heading(), email);
    assert.deepEqual(await profileMethods(person), ['Email and password (main)']);
    assert.equal((await tenantUser(accord, password.user_id)).identities.length, 1);
    assert.equal((await tenantUser(accord, social.user_id)).identities.length, 1);
  });

  journey('6. Link another account from the profile: a new demo social identity with another email', async (accord, newPerson) => {
    const pages = sitemap(accord);
    const email = uniqueEmail('hedy');
    const socialEmail = uniqueEmail('hedy-home');
    await createVerifiedPasswordAccount(accord, email);
    const password = await userOn(accord, email, DATABASE_CONNECTION);
    const person = await newPerson();

    await signInWithPassword(person, accord, email, pages.profile);
    assert.deepEqual(await profileMethods(person), ['Email and password (main)']);
    await person.press({ role: 'link', name: 'Link another account' }, `${accord.appUrl}/link/new`);
    await person.press({ role: 'button', name: 'Continue with Demo social' }, pages.demoIdp);
    await demoIdpForm(person, { email: socialEmail, name: 'Hedy at home' }, pages.preview);
    assert.match(await person.mainText(), /Stays as your account .*Email and password .*Becomes a sign-in method of it .*Demo social/i);
    await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
    assert.match(await flash(person), /^Accounts linked/);
    assert.deepEqual(await profileMethods(person), ['Email and password (main)', 'Demo social']);

    const linked = await tenantUser(accord, password.user_id);
    assert.deepEqual(
      linked.identities.map((i) => i.connection),
      [DATABASE_CONNECTION, DEMO],
    );
    const users = await accountsOf(accord, socialEmail);
    assert.ok(
      users.every((u) => u.user_id === password.user_id),
      'no separate user is left for the new identity',
    );
  });

  journey('7. journey 1 by keyboard only (Tab, Enter, Space), in dark mode', async (accord, newPerson) => {
    // Dark mode has colours of its own: axe checks their contrast on the pages of journey 1.
    await signUpThenLinkSocial(await newPerson({ keyboard: true, colorScheme: 'dark' }), accord);
  });

  journey(
    "8. a suggestion right after verifying: the check after sign-in reads the tenant as it is now, not the app's read cache",
    async (accord, newPerson) => {
      const pages = sitemap(accord);
      const email = uniqueEmail('annie');
      const person = await newPerson();
      await chooseSignIn(person, accord, 'Email and password', pages.connection(DATABASE_CONNECTION));
      await person.press({ role: 'link', name: 'Create an account' }, pages.signup);
      await person.type('Email address', email);
      await person.type('Password', PASSWORD);
      await person.press({ role: 'button', name: 'Create account' }, pages.signup);
      assert.equal(await person.heading(), 'Check your email');

      // Not verified yet: no suggestion, and the app's read cache (whose TTL outlives this
      // journey) now holds the unverified account; only a fresh read sees it verified.
      await signInWithDemo(person, accord, { email, name: 'Annie Easley' }, pages.profile);
      assert.equal(await profileSection(person, 'suggested'), undefined);
      await person.open(`${accord.tenantUrl}/dev/mail`);
      await person.press({ role: 'link', name: /\/account\/verify-email\?token=/ }, new RegExp(`^${escapeRe(accord.tenantUrl)}/account/verify-email\\?`));
      assert.equal(await person.heading(), 'Email address confirmed');

      await person.open(pages.profile);
      await signOut(person, accord);
      await signInWithDemo(person, accord, { email, name: 'Annie Easley' }, pages.suggestions);
      assert.equal(await person.heading(), 'Link these accounts?');
      assert.match(await person.mainText(), /Email and password/);
    },
    { env: { MANAGEMENT_CACHE_TTL: '60' } },
  );

  it("7. axe checked every page of the product on the way, the tenant's included: no serious or critical violation", () => {
    const missing = PAGES_OF_THE_PRODUCT.filter((title) => !audited.has(title));
    assert.deepEqual(missing, [], `pages no journey landed on (checked: ${[...audited.keys()].join(', ')})`);
  });
});
