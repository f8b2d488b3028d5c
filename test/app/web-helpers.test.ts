import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionLabel, formatDate, maskEmail } from '../../src/app/web/display.ts';
import { safeReturnTo } from '../../src/app/web/return-to.ts';

describe('safeReturnTo', () => {
  it('keeps same-origin paths, normalised', () => {
    assert.equal(safeReturnTo('/'), '/');
    assert.equal(safeReturnTo('/profile?tab=1#x'), '/profile?tab=1#x');
    assert.equal(safeReturnTo('/link/confirm?x=a%20b'), '/link/confirm?x=a%20b');
    assert.equal(safeReturnTo('/a/./b/../c'), '/a/c');
    assert.equal(safeReturnTo('/../profile'), '/profile');
    assert.equal(safeReturnTo('/café'), '/caf%C3%A9');
    assert.equal(safeReturnTo('/javascript:alert(1)'), '/javascript:alert(1)');
  });

  it('falls back for protocol-relative and backslash tricks (checklist case 18)', () => {
    for (const value of ['//evil', '//evil.com/path', '///evil', '/\\evil', '\\\\evil', '/x\\y', '\\/evil']) {
      assert.equal(safeReturnTo(value), '/', value);
    }
  });

  it('falls back for absolute URLs and schemes', () => {
    for (const value of [
      'https://evil',
      'http://app.invalid/profile',
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<b>x</b>',
      'evil.com',
      'profile',
      '',
    ]) {
      assert.equal(safeReturnTo(value), '/', value);
    }
  });

  it('falls back for whitespace and control characters anywhere, raw or percent-encoded', () => {
    for (const value of [
      '\t/evil',
      '\n/evil',
      ' /profile',
      '/\t/evil',
      '/\n/evil',
      '/\r/evil',
      '/pro file',
      '/profile\u0000',
      '/profile\u00a0',
      '/\u200b/evil',
      '/\u202e/evil',
      '/%09/evil',
      '/%0a/evil',
      '/%0D/evil',
      '/%00',
      '/profile?x=%0a',
      '/%2f/evil',
      '/%5Cevil',
    ]) {
      assert.equal(safeReturnTo(value), '/', JSON.stringify(value));
    }
  });

  it('falls back when normalisation would produce a protocol-relative path', () => {
    assert.equal(safeReturnTo('/.//evil'), '/');
    assert.equal(safeReturnTo('/..//evil'), '/');
    assert.equal(safeReturnTo('/a/..//evil'), '/');
  });

  it('falls back for non-strings, including arrays from returnTo[]=…', () => {
    for (const value of [['/profile'], ['//evil', '/profile'], 42, null, undefined, { toString: () => '/profile' }, true]) {
      assert.equal(safeReturnTo(value), '/');
    }
  });

  it('falls back for very long values (over 2048 characters)', () => {
    const ok = `/${'a'.repeat(2047)}`;
    assert.equal(safeReturnTo(ok), ok);
    assert.equal(safeReturnTo(`/${'a'.repeat(2048)}`), '/');
    // Also when percent-encoding makes the normalised path too long.
    assert.equal(safeReturnTo(`/${'é'.repeat(1000)}`), '/');
  });

  it('uses the given fallback', () => {
    assert.equal(safeReturnTo('//evil', '/profile'), '/profile');
    assert.equal(safeReturnTo(undefined, '/home'), '/home');
    assert.equal(safeReturnTo('/ok', '/home'), '/ok');
  });
});

describe('maskEmail', () => {
  it('keeps two characters of the local part, the first of the domain and the TLD', () => {
    assert.equal(maskEmail('jane.doe@example.com'), 'ja•••••@e•••••.com');
    assert.equal(maskEmail('jane@example.com'), 'j•••@e•••••.com');
    assert.equal(maskEmail('bob@gmail.com'), 'b••@g••••.com');
    assert.equal(maskEmail('alice@example.com'), 'al•••@e•••••.com');
    assert.equal(maskEmail('user@mail.example.co.uk'), 'u•••@m•••••.uk');
  });

  it('keeps one character of short local parts and always shows at least one bullet', () => {
    assert.equal(maskEmail('jo@x.io'), 'j•@x•.io');
    assert.equal(maskEmail('a@b.co'), 'a•@b•.co');
  });

  it('handles odd values gracefully', () => {
    assert.equal(maskEmail(undefined as unknown as string), '');
    assert.equal(maskEmail(null as unknown as string), '');
    assert.equal(maskEmail(42 as unknown as string), '');
    assert.equal(maskEmail(''), '');
    assert.equal(maskEmail('   '), '');
    assert.equal(maskEmail('username'), 'us•••••');
    assert.equal(maskEmail('@example.com'), '•@e•••••.com');
    assert.equal(maskEmail('jane@'), 'j•••');
    assert.equal(maskEmail('x@localhost'), 'x•@l•••••');
    assert.equal(maskEmail('"a@b"@example.com'), '"a•••@e•••••.com');
    assert.equal(maskEmail(' Jane@Example.com '), 'J•••@E•••••.com');
    assert.equal(maskEmail('😀😀😀@example.com'), '😀••@e•••••.com');
  });
});

describe('connectionLabel', () => {
  it('names well-known connections', () => {
    assert.equal(connectionLabel('Username-Password-Authentication'), 'Email and password');
    assert.equal(connectionLabel('email'), 'Email code');
    assert.equal(connectionLabel('google-oauth2'), 'Google');
    assert.equal(connectionLabel('github'), 'GitHub');
    assert.equal(connectionLabel('demo-social'), 'Demo social');
    assert.equal(connectionLabel('windowslive'), 'Microsoft');
    assert.equal(connectionLabel('apple'), 'Apple');
    assert.equal(connectionLabel('facebook'), 'Facebook');
    assert.equal(connectionLabel({ name: 'google-oauth2', strategy: 'google-oauth2' }), 'Google');
  });

  it('prefers display_name, then the strategy, then a title-cased name', () => {
    assert.equal(connectionLabel({ name: 'corp-sso', display_name: 'Acme staff login' }), 'Acme staff login');
    assert.equal(connectionLabel({ name: 'staff-db', strategy: 'auth0', display_name: 'Staff' }), 'Staff');
    assert.equal(connectionLabel({ name: 'staff-db', strategy: 'auth0' }), 'Email and password');
    assert.equal(connectionLabel({ name: 'magic-links', strategy: 'email' }), 'Email code');
    assert.equal(connectionLabel({ name: 'corp-sso', strategy: 'samlp', display_name: '  ' }), 'Corp Sso');
    assert.equal(connectionLabel('my_okta-SAML'), 'My Okta SAML');
    assert.equal(connectionLabel('constructor'), 'Constructor');
    assert.equal(connectionLabel(''), '');
  });
});

describe('formatDate', () => {
  it('formats ISO dates as en-GB long dates in UTC', () => {
    assert.equal(formatDate('2026-03-12T10:00:00.000Z'), '12 March 2026');
    assert.equal(formatDate('2026-03-12'), '12 March 2026');
    assert.equal(formatDate('2015-10-08T18:35:18.102Z'), '8 October 2015');
    // Late evening in New York is already the next day in UTC.
    assert.equal(formatDate('2026-03-12T23:30:00-05:00'), '13 March 2026');
    // No offset → read as UTC, so the output does not depend on the server's zone.
    assert.equal(formatDate('2026-03-12T23:59:59'), '12 March 2026');
    assert.equal(formatDate('2026-03-12 00:00:00'), '12 March 2026');
  });

  it('writes what Intl writes for en-GB long dates in UTC', () => {
    const intl = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
    for (const iso of ['0001-01-01', '0999-12-31T23:59:59Z', '1970-01-01', '2024-02-29T12:00:00Z', '9999-12-31T23:00:00-05:00']) {
      assert.equal(formatDate(iso), intl.format(new Date(iso)), iso);
    }
    for (let day = Date.UTC(1999, 0, 1); day < Date.UTC(2031, 0, 1); day += 86_400_000) {
      const iso = new Date(day).toISOString();
      assert.equal(formatDate(iso), intl.format(new Date(iso)), iso);
    }
  });

  it('returns an empty string for invalid input', () => {
    for (const value of [
      '',
      'yesterday',
      '12',
      '2026-13-01',
      '2026-02-30',
      '2026-02-30T10:00:00Z',
      '2026-03-12T25:00:00Z',
      'Thu, 12 Mar 2026 10:00:00 GMT',
      '0000-06-01',
      '0001-01-01T00:30:00+01:00',
    ]) {
      assert.equal(formatDate(value), '', value);
    }
    assert.equal(formatDate(undefined as unknown as string), '');
    assert.equal(formatDate(1773309600000 as unknown as string), '');
  });
});
