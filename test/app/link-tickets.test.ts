import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sessionUserFromClaims, type SessionUser } from '../../src/app/auth/tenant-oidc.ts';
import { ClientError } from 'openid-client';
import { signInFailure } from '../../src/app/linking/link-callback.ts';
import { checkProof, issueTicket, type LinkTicket } from '../../src/app/linking/link-tickets.ts';
import { AccordError } from '../../src/platform/errors.ts';
import type { AppErrorCode } from '../../src/app/app-errors.ts';

// checkProof decides whether a fresh sign-in proves control of the account a link ticket
// asked for. The flows test it over HTTP; these pin down each rule on its own.

const NOW = 1_800_000_000;
const MAX_AGE = 300;
const CURRENT = 'demo-social|current';
const CANDIDATE = 'auth0|candidate';

function ticket(overrides: Partial<LinkTicket> = {}): LinkTicket {
  return {
    ...issueTicket(
      { mode: 'suggested', currentId: CURRENT, candidateId: CANDIDATE, connection: 'Username-Password-Authentication', loginHint: 'ada@example.com' },
      NOW - 20,
    ),
    ...overrides,
  };
}

function signedInAs(user_id: string, auth_time: number): SessionUser {
  return { user_id, email: 'ada@example.com', email_verified: true, name: undefined, picture: undefined, auth_time };
}

function check(options: { ticket?: LinkTicket | undefined; currentId?: string | undefined; other?: SessionUser; now?: number }) {
  return () =>
    checkProof({
      ticket: 'ticket' in options ? options.ticket : ticket(),
      currentId: 'currentId' in options ? options.currentId : CURRENT,
      other: options.other ?? signedInAs(CANDIDATE, NOW - 10),
      now: options.now ?? NOW,
      maxAge: MAX_AGE,
    });
}

const refusedWith = (code: AppErrorCode) => (err: unknown) => err instanceof AccordError && err.code === code;

describe('link tickets', () => {
  it('issues tickets with an unguessable id, each different, stamped with the time', () => {
    const a = ticket();
    const b = ticket();
    assert.match(a.id, /^[\w-]{22}$/, '16 random bytes, base64url');
    assert.notEqual(a.id, b.id);
    assert.equal(a.issuedAt, NOW - 20);
  });

  it('accepts a fresh sign-in to exactly the chosen candidate, by the user who asked', () => {
    assert.doesNotThrow(check({}));
    // auth_time within the allowed clock skew of the ticket still counts (clocks differ a little).
    assert.doesNotThrow(check({ other: signedInAs(CANDIDATE, NOW - 22) }));
  });

  it('refuses without a ticket: no link in progress', () => {
    assert.throws(check({ ticket: undefined }), refusedWith('link_not_in_progress'));
  });

  it('refuses an expired ticket as too old, even with a fresh sign-in', () => {
    assert.throws(check({ ticket: ticket({ issuedAt: NOW - MAX_AGE - 1 }), other: signedInAs(CANDIDATE, NOW - 1) }), refusedWith('link_login_stale'));
    assert.doesNotThrow(check({ ticket: ticket({ issuedAt: NOW - MAX_AGE }), other: signedInAs(CANDIDATE, NOW - 1) }), 'exactly max_age is still in time');
  });

  it('refuses a ticket of another session user (the session changed), or no session user', () => {
    assert.throws(check({ currentId: 'auth0|someone-else' }), refusedWith('link_not_in_progress'));
    assert.throws(check({ currentId: undefined }), refusedWith('link_not_in_progress'));
  });

  it('refuses a sign-in from before the ticket was issued (a reused session)', () => {
    assert.throws(check({ other: signedInAs(CANDIDATE, NOW - 20 - 6) }), refusedWith('link_login_stale'));
    assert.throws(check({ other: signedInAs(CANDIDATE, NOW - 3600) }), refusedWith('link_login_stale'));
  });

  it('refuses a sign-in without auth_time (0, as a missing or non-numeric claim is read) or one dated in the future', () => {
    assert.throws(check({ other: signedInAs(CANDIDATE, 0) }), refusedWith('link_login_stale'));
    for (const claims of [{ sub: CANDIDATE }, { sub: CANDIDATE, auth_time: String(NOW - 10) }]) {
      const other = sessionUserFromClaims(claims as unknown as Parameters<typeof sessionUserFromClaims>[0]);
      assert.equal(other.auth_time, 0);
      assert.throws(check({ other }), refusedWith('link_login_stale'), JSON.stringify(claims));
    }
    assert.throws(check({ other: signedInAs(CANDIDATE, NOW + 60) }), refusedWith('link_login_stale'));
  });

  it('refuses a sign-in older than max_age when it is checked', () => {
    const old = ticket({ issuedAt: NOW - MAX_AGE });
    assert.throws(check({ ticket: old, other: signedInAs(CANDIDATE, NOW - MAX_AGE - 6) }), refusedWith('link_login_stale'));
  });

  it('refuses a sign-in as another account than the chosen candidate', () => {
    assert.throws(check({ other: signedInAs('email|someone-else', NOW - 10) }), refusedWith('link_wrong_account'));
    const error = (() => {
      try {
        check({ other: signedInAs('email|x', NOW - 10) })();
      } catch (err) {
        return err as Error;
      }
    })();
    assert.match(error?.message ?? '', /You signed in as a different account/);
  });

  it('refuses a sign-in to the same account as the session (nothing to link)', () => {
    // User-initiated: any account is accepted except the one already signed in.
    const open = ticket({ mode: 'user-initiated', candidateId: undefined, loginHint: undefined });
    assert.throws(check({ ticket: open, other: signedInAs(CURRENT, NOW - 10) }), refusedWith('link_already_linked'));
    assert.doesNotThrow(check({ ticket: open, other: signedInAs('google-oauth2|new', NOW - 10) }));
    // Suggested: the current account is not the candidate, so it is the wrong account.
    assert.throws(check({ other: signedInAs(CURRENT, NOW - 10) }), refusedWith('link_wrong_account'));
  });
});

// openid-client's own error class, as the link strategy passes it on.
describe("the other account's sign-in refused by openid-client", () => {
  it('is stale when an id_token time check failed (auth_time older than max_age), by its code, whatever the message says', () => {
    const tooOld = Object.assign(new ClientError('JWT timestamp claim value failed validation'), { code: 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' });
    assert.ok(refusedWith('link_login_stale')(signInFailure(tooOld)));
  });

  it('is not verifiable for any other code, even one whose message names auth_time', () => {
    const missing = Object.assign(new ClientError('JWT "auth_time" (authentication time) claim missing'), { code: 'OAUTH_INVALID_RESPONSE' });
    assert.ok(refusedWith('link_proof_invalid')(signInFailure(missing)));
    assert.ok(refusedWith('link_proof_invalid')(signInFailure(new Error('max_age elapsed'))));
  });
});
