/**
 * The detours of the product in a real browser (issue 16): what a person reads and can do
 * when a step goes another way than the happy path — how methods are named, errors, expired
 * or doubled steps, the re-authentication of a link proof, signing out. Each journey would
 * fail on the pages as they were before that issue. Every page is checked by axe.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createVerifiedPasswordAccount, DATABASE_CONNECTION, PASSWORD, type TestAccord } from '../helpers/accord.ts';
import type { Person } from '../helpers/chromium.ts';
import {
  accountsOf,
  browserJourneys,
  chooseSignIn,
  escapeRe,
  profileMethods,
  proveWithPassword,
  signInWithDemo,
  signInWithPassword,
  signOut,
  sitemap,
} from '../helpers/journeys.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';

/** The names of the buttons and links on the page that start with `prefix`. */
async function controlsStartingWith(person: Person, prefix: string): Promise<string[]> {
  const names = await person.page.locator('main a, main button').evaluateAll((els) => els.map((el) => (el.textContent ?? '').replace(/\s+/g, ' ').trim()));
  return names.filter((name) => name.startsWith(prefix)).sort();
}

/** A verified password account and a demo social account of the same person (the demo one signed out). */
async function twoAccounts(person: Person, accord: TestAccord, name: string): Promise<string> {
  const email = uniqueEmail(name);
  await createVerifiedPasswordAccount(accord, email);
  await signInWithDemo(person, accord, { email, name }, sitemap(accord).suggestions);
  await person.press({ role: 'link', name: 'Decide later' }, sitemap(accord).profile);
  await signOut(person, accord);
  return email;
}

// The detours' pages by title that no happy journey lands on: the last test checks that the
// detours landed on each (and so axe checked it).
const PAGES_OF_THE_DETOURS = ['Sign out of Accord Test? · Accord Test'];

browserJourneys('Detours in Chromium', (journey, audited) => {
  journey(
    'D5. sign-out in one click from the app; a sign-out another site starts asks first, and its way back keeps the person signed in (item 4)',
    async (accord, newPerson) => {
      const pages = sitemap(accord);
      const person = await newPerson();
      const email = uniqueEmail('rosalind');
      await createVerifiedPasswordAccount(accord, email);
      await signInWithPassword(person, accord, email, pages.profile);
      await signOut(person, accord, 'at once');

      // A link on any page (logout CSRF, docs/security.md case 44): no id_token_hint, so the tenant asks.
      await signInWithPassword(person, accord, email, pages.profile);
      const fromElsewhere = `${accord.tenantUrl}/v2/logout?client_id=${encodeURIComponent(accord.appConfig.clientId)}&returnTo=${encodeURIComponent(pages.home)}`;
      const question = new RegExp(`^${escapeRe(accord.tenantUrl)}/oidc/logout\\?`);
      await person.open(fromElsewhere, question);
      assert.equal(await person.heading(), 'Sign out of Accord Test?');
      assert.match(await person.mainText(), new RegExp(`Accord app asked to sign you out\\. Signed in as ${escapeRe(email)}\\.`));
      await person.press({ role: 'link', name: 'Stay signed in and go back to Accord app' }, pages.profile);
      assert.equal(await person.heading(), email, 'still signed in at the app');

      await person.open(fromElsewhere, question);
      // Back at the app, which hears of it by back-channel logout, in the background: the app's
      // page may come before (the profile) or after (the start page, or its way to sign in).
      const back = new RegExp(`^${escapeRe(accord.appUrl)}/(profile)?$|${pages.chooser.source}`);
      await person.press({ role: 'button', name: 'Sign out' }, back);
      await accord.tenant.backchannelLogout.settled();
      await person.open(pages.home);
      assert.equal(await person.page.getByRole('button', { name: 'Sign out' }).count(), 0, 'signed out of the app too');
      await person.press({ role: 'link', name: 'Sign in' }, pages.chooser);
    },
  );
  journey(
    'D4. the confirmation page leads back to the app; the proof page offers only the account being proven and says why; the preview shows both full addresses (items 3, 5, 6, 8)',
    async (accord, newPerson) => {
      const pages = sitemap(accord);
      const person = await newPerson();
      const email = uniqueEmail('emmy');
      await chooseSignIn(person, accord, 'Email and password', pages.connection(DATABASE_CONNECTION));
      await person.press({ role: 'link', name: 'Create an account' }, pages.signup);
      await person.type('Email address', email);
      await person.type('Password', PASSWORD);
      await person.press({ role: 'button', name: 'Create account' }, pages.signup);
      await person.open(`${accord.tenantUrl}/dev/mail`);
      await person.press({ role: 'link', name: /\/account\/verify-email\?token=/ }, new RegExp(`^${escapeRe(accord.tenantUrl)}/account/verify-email\\?`));
      assert.equal(await person.heading(), 'Email address confirmed');
      await person.press({ role: 'link', name: 'Continue to Accord app' }, pages.home);

      await signInWithDemo(person, accord, { email, name: 'Emmy Noether' }, pages.suggestions);
      await person.press({ role: 'button', name: 'Link Email and password account' }, pages.connection(DATABASE_CONNECTION));
      assert.equal(await person.heading(), "Confirm it's you to link this account to Accord app");
      assert.match(await person.mainText(), /To link this account to Accord app, sign in to it once more/);
      const field = person.locate({ label: 'Email address' });
      assert.equal(await field.inputValue(), email);
      assert.equal(await field.getAttribute('readonly'), '', 'only the account being proven');
      for (const detour of ['Create an account', 'Other ways to sign in']) {
        assert.equal(await person.page.getByRole('link', { name: detour }).count(), 0, `no "${detour}" during a proof`);
      }
      assert.equal(await person.page.getByRole('link', { name: 'Forgot your password?' }).count(), 1);
      await person.type('Password', PASSWORD);
      await person.press({ role: 'button', name: 'Sign in' }, pages.preview);
      const addresses = await person.page.locator('.pair .account-meta').allInnerTexts();
      assert.equal(addresses.length, 2);
      for (const address of addresses) assert.match(address, new RegExp(`^${escapeRe(email)} · created `), 'the full address of a proven account');
    },
  );
  journey('D2. a bad form goes back to the form; the back button after a link says the link is complete (items 2, 7)', async (accord, newPerson) => {
    const pages = sitemap(accord);
    const person = await newPerson();
    const email = uniqueEmail('lise');
    await createVerifiedPasswordAccount(accord, email);
    await signInWithDemo(person, accord, { email, name: 'Lise Meitner' }, pages.suggestions);

    // A form that lost a field (as a broken extension or a stale page may send it).
    await person.page.locator('form[action="/link/start"] input[name="candidate"]').evaluate((input) => input.remove());
    await person.press({ role: 'button', name: 'Link Email and password account' }, `${accord.appUrl}/link/start`);
    assert.equal(await person.heading(), 'That form was incomplete');
    assert.doesNotMatch(await person.mainText(), /Error 400|That did not work/);
    await person.press({ role: 'link', name: 'Back to the form' }, pages.suggestions);

    await proveWithPassword(person, accord, email);
    await person.press({ role: 'button', name: 'Link accounts' }, pages.profile);
    await person.back(pages.preview);
    assert.equal(await person.heading(), 'This link step has expired');
    assert.match(await person.mainText(), /the accounts are linked, and your profile shows them/);
    await person.press({ role: 'link', name: 'Back to your profile' }, pages.profile);
    assert.deepEqual(await profileMethods(person), ['Demo social (main)', 'Email and password']);
  });

  journey(
    'D3. two tabs on "Link these accounts?": the older tab says its step expired and offers "Link again", which links (item 7)',
    async (accord, newPerson) => {
      const pages = sitemap(accord);
      const first = await newPerson();
      const email = uniqueEmail('chien-shiung');
      await createVerifiedPasswordAccount(accord, email);
      await signInWithDemo(first, accord, { email, name: 'Chien-Shiung Wu' }, pages.suggestions);
      const second = await newPerson({ tabOf: first });
      await second.open(`${accord.appUrl}/link/suggestions`);

      await first.press({ role: 'button', name: 'Link Email and password account' }, pages.connection(DATABASE_CONNECTION));
      await second.press({ role: 'button', name: 'Link Email and password account' }, pages.connection(DATABASE_CONNECTION));
      await first.type('Password', PASSWORD);
      await first.press({ role: 'button', name: 'Sign in' }, pages.linkCallback);
      assert.equal(await first.heading(), 'This link step has expired');
      assert.match(await first.mainText(), /started again in another tab/);
      assert.doesNotMatch(await first.mainText(), /No account link is in progress/);
      assert.equal((await accountsOf(accord, email)).length, 2, 'nothing linked');

      await first.press({ role: 'button', name: 'Link again' }, pages.connection(DATABASE_CONNECTION));
      await first.type('Password', PASSWORD);
      await first.press({ role: 'button', name: 'Sign in' }, pages.preview);
      await first.press({ role: 'button', name: 'Link accounts' }, pages.profile);
      assert.deepEqual(await profileMethods(first), ['Demo social (main)', 'Email and password']);
    },
  );

  journey(
    'D1. one name per sign-in method, the same at the tenant and in the app; "Link <method> account" says "account" once (items 1, 10)',
    async (accord, newPerson) => {
      const pages = sitemap(accord);
      const person = await newPerson();
      const email = await twoAccounts(person, accord, 'ida');

      await person.open(pages.home);
      await person.press({ role: 'link', name: 'Sign in' }, pages.chooser);
      const atTenant = await controlsStartingWith(person, 'Continue with ');
      await signInWithPassword(person, accord, email, pages.suggestions);
      assert.equal(await person.page.getByRole('button', { name: 'Link Demo social account', exact: true }).count(), 1);
      assert.equal(await person.page.getByRole('button', { name: 'Keep separate Demo social account', exact: true }).count(), 1);
      assert.match(await person.page.locator('li.candidate .account-method').innerText(), /^Demo social$/);

      await person.press({ role: 'link', name: 'Decide later' }, pages.profile);
      await person.press({ role: 'link', name: 'Link another account' }, `${accord.appUrl}/link/new`);
      const inApp = await controlsStartingWith(person, 'Continue with ');
      assert.ok(atTenant.includes('Continue with Demo social'), atTenant.join(', '));
      assert.deepEqual(
        inApp.filter((c) => atTenant.includes(c)),
        inApp,
        `the app names methods as the tenant does: ${inApp.join(', ')} / ${atTenant.join(', ')}`,
      );
    },
  );

  it('the detours landed on every page no happy journey shows, and axe checked each', () => {
    const missing = PAGES_OF_THE_DETOURS.filter((title) => !audited.has(title));
    assert.deepEqual(missing, [], `pages no detour landed on (checked: ${[...audited.keys()].join(', ')})`);
  });
});
