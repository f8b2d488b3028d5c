/**
 * The detours of the product in a real browser (issue 16): what a person reads and can do
 * when a step goes another way than the happy path — how methods are named, errors, expired
 * or doubled steps, the re-authentication of a link proof, signing out. Each journey would
 * fail on the pages as they were before that issue. Every page is checked by axe.
 */
import assert from 'node:assert/strict';
import { createVerifiedPasswordAccount, type TestAccord } from '../helpers/accord.ts';
import type { Person } from '../helpers/chromium.ts';
import { browserJourneys, signInWithDemo, signInWithPassword, signOut, sitemap } from '../helpers/journeys.ts';
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

browserJourneys('Detours in Chromium', (journey) => {
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
});
