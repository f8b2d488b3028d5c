import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialsOf, profileDefaults, withProfileDefaults } from '../../src/tenant/avatars.ts';
import type { UserProfile } from '../../src/tenant/directory/profile.ts';

/** The initials as first written (Unicode normalization and regular expressions for every source): the fast path must agree. */
function reference(user: { name?: string; email?: string }): string {
  const source = user.name && user.name !== user.email ? user.name : (user.email?.split('@')[0] ?? '');
  const words = source
    .normalize('NFD')
    .toLowerCase()
    .replace(/[^a-z0-9\s._-]/g, '')
    .split(/[\s._-]+/)
    .filter(Boolean);
  const initials = words.length >= 2 ? `${words[0]![0]}${words[1]![0]}` : (words[0] ?? '').slice(0, 2);
  return /^[a-z0-9]{1,2}$/.test(initials) ? initials : 'u';
}

const SOURCES = [
  'Grace Hopper',
  'grace',
  'G',
  'Ada-Lovelace',
  'ada.lovelace_2',
  '  leading and trailing  ',
  '!!! bob',
  'a!b c',
  "o'Brien Mc-Donald",
  '---',
  '',
  '42 Wallaby Way',
  'X Æ A-12',
  'Élodie Ünal',
  'Zoë',
  'Ωmega Δelta',
  '李 小龍',
  'tab\tseparated',
  'new\nline',
  'john+tag',
  'x_',
  '_x',
  '.a.b',
  'ab..cd',
  '%$#@!',
  'A1 b2',
];

describe('default avatars', () => {
  it('takes the same initials as the Unicode rules, through the ASCII fast path or not', () => {
    for (const source of SOURCES) {
      assert.equal(initialsOf({ name: source }), reference({ name: source }), JSON.stringify(source));
      const email = `${source}@example.com`;
      assert.equal(initialsOf({ name: email, email }), reference({ name: email, email }), JSON.stringify(email));
      assert.equal(initialsOf({ email }), reference({ email }), JSON.stringify(email));
    }
    assert.equal(initialsOf({}), 'u');
  });

  it('fills name, nickname and picture in the same order and with the same values, once per tenant URL or per call', () => {
    const user: UserProfile = {
      user_id: 'auth0|1',
      email: 'grace.hopper@example.com',
      email_verified: true,
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
      logins_count: 0,
      blocked: false,
      identities: [],
      user_metadata: {},
      app_metadata: {},
    };
    const shown = profileDefaults('https://tenant.example//')(user);
    assert.equal(
      JSON.stringify(shown),
      JSON.stringify({ ...user, name: 'grace.hopper@example.com', nickname: 'grace.hopper', picture: 'https://tenant.example/avatars/gh.svg' }),
    );
    assert.deepEqual(withProfileDefaults(user, 'https://tenant.example'), shown);
    const named = { ...user, name: 'Ada Lovelace', nickname: 'ada', picture: 'https://cdn.example/ada.png' };
    assert.equal(JSON.stringify(profileDefaults('https://tenant.example')(named)), JSON.stringify(named));
  });
});
