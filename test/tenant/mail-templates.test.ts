import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ejs from 'ejs';
import { renderMail } from '../../src/tenant/mail/mail-templates.ts';

const views = fileURLToPath(new URL('../../views/mail/', import.meta.url));
const escapeHtml = (value: unknown): string => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const hostile = `<script>alert("x")</script> & 'quotes' é`;

/** Each mail with its locals as their callers pass them (mail-templates' callers), some hostile. */
const MAILS: Array<[string, Record<string, unknown>]> = [
  ['identity-changed', { tenant: hostile, linked: true, method: hostile, forEmail: ` for ${hostile}`, when: 'Sun, 06 Dec 2026 18:00:00 UTC', by: hostile }],
  ['identity-changed', { tenant: 'Accord', linked: false, method: 'Email code', forEmail: '', when: 'Sun, 06 Dec 2026 18:00:00 UTC', by: 'by Accord' }],
  ['verify-email', { tenant: hostile, href: `https://t.example/verify?x=${hostile}` }],
  ['reset-password', { tenant: hostile, href: 'https://t.example/reset', methods: ['Email code', hostile] }],
  ['account-exists', { tenant: hostile, signInUrl: 'https://t.example/', resetHref: 'https://t.example/reset' }],
  ['account-exists', { tenant: 'Accord', signInUrl: 'https://t.example/', resetHref: undefined }],
  ['sign-in-code', { tenant: hostile, code: '123456', minutes: 10 }],
];

describe('mail templates', () => {
  it("render each mail byte for byte as EJS's default `with (locals)` does", () => {
    for (const [name, locals] of MAILS) {
      const mail = renderMail(name, { to: 'a@example.com', subject: 's' }, locals);
      for (const part of ['text', 'html'] as const) {
        const filename = `${views}${name}.${part}.ejs`;
        const expected = (ejs.compile(readFileSync(filename, 'utf8'), { filename, escape: escapeHtml })(locals) as string).replace(/\n$/, '');
        assert.equal(mail[part], expected, `${name}.${part}`);
      }
    }
  });
});
