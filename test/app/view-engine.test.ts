import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ejs from 'ejs';
import { ejsViewEngine } from '../../src/platform/view-engine.ts';
import { render, viewsDir } from '../helpers/view-render.ts';

const hostile = '<script>alert("x")</script>&\'';
const account = (n: number) => ({
  user_id: `auth0|${n}<b>`,
  method: `Method ${n} ${hostile}`,
  address: `a${n}@example.com`,
  created: n % 2 ? '1 Jan 2026' : '',
});
const page = {
  appName: `Accord ${hostile}`,
  user: { name: hostile, email: 'me@example.com' },
  path: '/profile',
  csrfToken: 'tok"en',
  flash: { kind: 'error', text: hostile },
};

/** Each of the app's pages with locals of the shapes its routes give it, hostile strings included. */
const renders: [string, Record<string, unknown>][] = [
  ['app/home', { title: 'Sign in', ended: true, appName: 'Accord', user: undefined, path: '/' }],
  [
    'app/profile',
    {
      ...page,
      title: 'Your profile',
      user: { name: hostile, email: 'me@example.com', email_verified: true, picture: 'https://example.com/a.png' },
      identities: [
        { method: 'Google', email: 'me@example.com', main: true, provider: 'google-oauth2', user_id: '1' },
        { method: hostile, email: hostile, main: false, provider: 'email', user_id: '2"' },
      ],
      recentLogin: false,
      candidates: [account(1), account(2)],
      kept: [{ ...account(3), candidate_id: 'auth0|3', since: '2 Jan 2026' }],
      history: [{ date: '3 Jan 2026', time: '2026-01-03T00:00:00Z', description: hostile }],
      restoreMetadata: true,
      created: '1 Jan 2026',
    },
  ],
  [
    'app/profile',
    {
      ...page,
      flash: undefined,
      title: 'Your profile',
      user: { email: 'me@example.com' },
      identities: [],
      recentLogin: true,
      candidates: [],
      kept: [],
      history: undefined,
      restoreMetadata: false,
      created: '',
    },
  ],
  ['app/suggestions', { ...page, title: 'Link these accounts?', candidates: [account(1)], returnTo: '/?a=1&b=<2>', email: hostile }],
  [
    'app/preview',
    {
      ...page,
      title: 'Review and link',
      primaryChoice: 'other',
      canSwitch: true,
      current: account(1),
      other: account(2),
      merged: { user_metadata: { theme: hostile }, app_metadata: {} },
      changes: { user_metadata: [{ key: 'theme', kind: 'added', to: hostile }], app_metadata: [] },
    },
  ],
  ['app/link-new', { ...page, title: 'Link another account', connections: [{ name: 'google-oauth2', label: hostile }] }],
  [
    'app/error',
    {
      ...page,
      title: 'Something went wrong',
      message: hostile,
      code: 'csrf_invalid',
      actions: [
        { kind: 'form', action: '/login', fields: { returnTo: hostile }, label: 'Sign in' },
        { kind: 'link', href: '/profile', label: hostile },
      ],
    },
  ],
];

describe("the app's view engine", () => {
  it('renders every page byte for byte as EJS does with its includes, escaping included', () => {
    const cached = ejsViewEngine(viewsDir);
    for (const [view, data] of renders) {
      const file = join(viewsDir, `${view}.ejs`);
      // What the engine did before: EJS itself, each include a template of its own.
      const expected = ejs.render(readFileSync(file, 'utf8'), data, { root: viewsDir, filename: file });
      assert.ok(!expected.includes('<script>'), `${view}: EJS escapes the hostile strings`);
      assert.equal(render(file, data, false), expected, view);
      assert.equal(render(file, data, true, cached), expected, `${view}, compiled once`);
      assert.equal(render(file, data, true, cached), expected, `${view}, from the compiled page`);
    }
  });

  it('reads the flash once: the page shows the message a one-time getter gives', () => {
    let reads = 0;
    const data = { ...renders[3]![1] };
    const flash = data.flash;
    Object.defineProperty(data, 'flash', {
      enumerable: true,
      get() {
        reads++;
        return reads === 1 ? flash : undefined;
      },
    });
    // Express copies the locals into the render's options (one read), as here.
    const html = render(join(viewsDir, 'app/suggestions.ejs'), { ...data }, true);
    assert.equal(reads, 1);
    assert.match(html, /class="flash flash-error"/);
  });

  it('passes a template error to the callback', () => {
    const engine = ejsViewEngine(viewsDir);
    let error: Error | null = null;
    engine(join(viewsDir, 'app/profile.ejs'), { cache: true }, (err) => {
      error = err;
    });
    assert.ok(error);
  });
});
