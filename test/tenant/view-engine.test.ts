import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ejs from 'ejs';
import { ejsViewEngine } from '../../src/platform/view-engine.ts';
import { testDatabases } from '../helpers/databases.ts';
import { startTestTenant } from '../helpers/tenant.ts';
import { render, viewsDir } from '../helpers/view-render.ts';

const hostile = '<script>alert("x")</script>&\'"';
const page = { tenantName: `Tenant ${hostile}`, title: `Title ${hostile}` };
const proof = { app: `App ${hostile}`, email: `proof${hostile}@example.com` };

/** Each page the tenant renders (views/tenant, views/demo-idp) with locals of the shapes its routes give it, hostile strings included. */
const renders: [string, Record<string, unknown>][] = [
  [
    'tenant/choose-connection',
    {
      ...page,
      uid: 'u"1',
      connections: [
        { name: 'email', displayName: hostile },
        { name: 'a b/c', displayName: 'Demo' },
      ],
      loginHint: hostile,
    },
  ],
  ['tenant/choose-connection', { ...page, uid: 'u1', connections: [], loginHint: '' }],
  [
    'tenant/dev-mail',
    { ...page, messages: [{ subject: hostile, to: hostile, created_at: '2026-12-06', text: `Click https://x.example/a?b=<c>&d "${hostile}" now` }] },
  ],
  ['tenant/dev-mail', { ...page, messages: [] }],
  ['tenant/error', { ...page, description: hostile, error: 'invalid_request<' }],
  ['tenant/error', { tenantName: 'T', title: undefined, description: hostile, error: 'server_error' }],
  [
    'tenant/logout',
    { ...page, clientName: hostile, account: hostile, form: '<form id="op.logoutForm"></form>', back: { href: '/?a=1&b="2"', label: hostile } },
  ],
  ['tenant/logout', { ...page, clientName: '', account: undefined, form: '', back: undefined }],
  ['tenant/message', { ...page, message: hostile, link: { href: '/a?b=<c>', label: hostile } }],
  ['tenant/message', { ...page, message: hostile }],
  ['tenant/signing-out', { ...page, clientName: hostile, form: '<form></form>', script: 'document.forms[0].submit()' }],
  ['tenant/database/forgot', { ...page, base: '/login/u1/db', csrf: 'c"', email: hostile, error: hostile }],
  ['tenant/database/forgot', { ...page, base: '/login/u1/db', csrf: 'c', email: '', error: undefined }],
  ['tenant/database/login', { ...page, base: '/login/u1/db', csrf: 'c"', email: hostile, error: hostile, uid: 'u1', proof }],
  ['tenant/database/login', { ...page, base: '/login/u1/db', csrf: 'c', email: '', error: undefined, uid: 'u1', proof: undefined }],
  ['tenant/database/reset', { ...page, csrf: 'c"', token: hostile, email: hostile, error: hostile, rules: hostile }],
  ['tenant/database/signup', { ...page, base: '/login/u1/db', csrf: 'c', email: hostile, error: hostile, rules: hostile }],
  ['tenant/database/signup', { ...page, base: '/login/u1/db', csrf: 'c', email: '', error: undefined, rules: 'r' }],
  [
    'tenant/passwordless/code',
    {
      ...page,
      action: '/login/u1/email/code',
      resend: '/login/u1/email',
      csrf: 'c"',
      email: hostile,
      error: hostile,
      sent: true,
      minutes: 10,
      restart: '/r',
      proof,
    },
  ],
  [
    'tenant/passwordless/code',
    { ...page, action: '/a', resend: '/b', csrf: 'c', email: 'e@example.com', error: undefined, sent: false, minutes: 10, restart: '/r', proof: undefined },
  ],
  [
    'tenant/passwordless/email',
    {
      ...page,
      action: '/login/u1/email',
      csrf: 'c"',
      connection: { name: 'email' },
      email: hostile,
      error: hostile,
      chooser: '/login/u1',
      abort: '/login/u1/abort',
      proof,
    },
  ],
  ['tenant/passwordless/email', { ...page, action: '/a', csrf: 'c', email: '', error: undefined, chooser: undefined, abort: '/x', proof: undefined }],
  ['demo-idp/login', { ...page, uid: 'u"1', csrf: 'c"', email: hostile, name: hostile, emailVerified: true, error: hostile }],
  ['demo-idp/login', { ...page, uid: 'u1', csrf: 'c', email: '', name: '', emailVerified: false, error: undefined }],
];

const pagesUnder = (dir: string): string[] =>
  readdirSync(join(viewsDir, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ejs'))
    .map((name) => relative(viewsDir, join(viewsDir, dir, name)).replace(/\.ejs$/, ''));

describe("the tenant's pages through the view engine", () => {
  it('covers every page of views/tenant and views/demo-idp', () => {
    const rendered = new Set(renders.map(([view]) => view));
    for (const view of [...pagesUnder('tenant'), ...pagesUnder('demo-idp')]) assert.ok(rendered.has(view), `${view} is rendered below`);
  });

  it('renders every page byte for byte as EJS does with its relative includes, escaping included', () => {
    const cached = ejsViewEngine(viewsDir);
    for (const [view, data] of renders) {
      const file = join(viewsDir, `${view}.ejs`);
      // What Express's default EJS engine did: each include a template of its own, found relative to the page.
      const expected = ejs.render(readFileSync(file, 'utf8'), data, { filename: file });
      assert.ok(!expected.includes('<script>alert'), `${view}: EJS escapes the hostile strings`);
      assert.ok(expected.includes('</html>'), `${view}: the page has its partials`);
      assert.equal(render(file, data, false), expected, view);
      assert.equal(render(file, data, true, cached), expected, `${view}, compiled once`);
      assert.equal(render(file, data, true, cached), expected, `${view}, from the compiled page`);
    }
  });

  it('reuses compiled pages outside development, whatever NODE_ENV says', async () => {
    for (const [env, cached] of [
      ['test', true],
      ['production', true],
      ['development', false],
    ] as const) {
      const { database, cleanup } = await testDatabases({ sqlite: 'memory' })[0]!.open();
      const { tenant, close } = await startTestTenant(database, { env });
      try {
        assert.equal(tenant.app.enabled('view cache'), cached, env);
      } finally {
        await close();
        await cleanup();
      }
    }
  });
});
