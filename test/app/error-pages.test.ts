import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appErrors } from '../../src/app/app-errors.ts';
import { backPath, errorPageContent } from '../../src/app/web/error-pages.ts';

const signedIn = { signedIn: true, back: undefined, again: undefined, retry: undefined };

describe('error pages say what happened and what to do next (issue 16 items 2 and 7)', () => {
  it('every code of the app has a heading of its own words: never a status code or "That did not work"', () => {
    for (const [code, definition] of Object.entries(appErrors.definitions)) {
      const page = errorPageContent({ code, status: definition.status, message: definition.message }, signedIn);
      assert.doesNotMatch(page.title, /^Error|\d{3}|did not work/i, code);
      assert.ok(page.actions.length > 0, `${code} offers a way on`);
    }
  });

  it('an expired, replayed or doubled link step offers "Link again" for the same account, as a form', () => {
    const page = errorPageContent(
      { code: 'link_expired', status: 409, message: appErrors.definitions.link_expired.message },
      {
        ...signedIn,
        again: { candidate: 'auth0|abc' },
      },
    );
    assert.equal(page.title, 'This link step has expired');
    assert.deepEqual(page.actions[0], { kind: 'form', action: '/link/start', fields: { candidate: 'auth0|abc' }, label: 'Link again' });
    assert.deepEqual(page.actions.at(-1), { kind: 'link', href: '/profile', label: 'Back to your profile' });
  });

  it('a link never started offers to start one, not "Link again"', () => {
    const page = errorPageContent({ code: 'link_not_in_progress', status: 400, message: 'x' }, signedIn);
    assert.deepEqual(
      page.actions.map((a) => a.label),
      ['Link an account', 'Back to your profile'],
    );
  });

  it('a bad form goes back to that form first', () => {
    const page = errorPageContent({ code: 'invalid_body', status: 400, message: 'x' }, { ...signedIn, back: '/link/suggestions?returnTo=%2Fprofile' });
    assert.deepEqual(page.actions[0], { kind: 'link', href: '/link/suggestions?returnTo=%2Fprofile', label: 'Back to the form' });
  });

  it('an outage offers to load the page again; a signed-out person goes back to the start', () => {
    const page = errorPageContent({ code: undefined, status: 503, message: 'x' }, { signedIn: false, back: undefined, again: undefined, retry: '/profile' });
    assert.equal(page.title, 'Sign-in is unavailable right now');
    assert.deepEqual(
      page.actions.map((a) => a.label),
      ['Try again', 'Back to the start'],
    );
  });

  it('"Back to the form" is only ever a page of this app', () => {
    assert.equal(backPath('http://127.0.0.1:3000/link/suggestions?x=1', '127.0.0.1:3000', '/link/start'), '/link/suggestions?x=1');
    assert.equal(backPath('https://evil.example/link/suggestions', '127.0.0.1:3000', '/link/start'), undefined);
    assert.equal(backPath('javascript:alert(1)', '127.0.0.1:3000', '/link/start'), undefined);
    assert.equal(backPath('http://127.0.0.1:3000//evil.example/', '127.0.0.1:3000', '/link/start'), undefined);
    assert.equal(backPath('http://127.0.0.1:3000/link/start', '127.0.0.1:3000', '/link/start'), undefined, 'not the page that failed');
    assert.equal(backPath(undefined, '127.0.0.1:3000', '/link/start'), undefined);
  });
});
