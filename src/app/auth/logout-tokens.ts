import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { appError } from '../app-errors.ts';
import type { OnceClaims } from '../sessions/once-claims.ts';
import type { SessionSelector } from '../sessions/session-owner.ts';

/** The `events` member that makes a JWT a logout token (OpenID Connect Back-Channel Logout 1.0). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Seconds after its `iat` a logout token is still accepted (and its `jti` remembered). */
export const LOGOUT_TOKEN_MAX_AGE = 300;
/** Seconds the app's and the tenant's clocks may differ. */
const CLOCK_TOLERANCE = 60;

/** What a verified logout token asks for. */
export interface LogoutRequest {
  sub: string | undefined;
  sid: string | undefined;
  /** The sessions to end: the tenant session's when the token names one, else the user's. */
  selector: SessionSelector;
  /** The claim on the token's `jti`: given back if the sessions could not be ended, so a retry works. */
  claimKey: string;
}

export interface LogoutTokenVerifierOptions {
  /** The issuer exactly as discovery gives it (Auth0's ends with `/`). */
  issuer: string;
  jwksUri: string;
  /** The app's client id: the token's audience. */
  clientId: string;
  /** Signing algorithms the tenant may use; none and HMAC are never accepted. */
  algorithms: string[];
  claims: OnceClaims;
}

/** jose's refusals of the token itself; anything else (the JWKS unreachable) is no verdict on it. */
const TOKEN_FAULTS = new Set([
  joseErrors.JWTClaimValidationFailed.code,
  joseErrors.JWTExpired.code,
  joseErrors.JOSEAlgNotAllowed.code,
  joseErrors.JOSENotSupported.code,
  joseErrors.JWSInvalid.code,
  joseErrors.JWTInvalid.code,
  joseErrors.JWKSNoMatchingKey.code,
  joseErrors.JWKSMultipleMatchingKeys.code,
  joseErrors.JWSSignatureVerificationFailed.code,
]);

/** `typ` values of a logout token: the spec's, or a plain JWT (Auth0), or none. */
const ACCEPTED_TYPES = new Set([undefined, 'jwt', 'logout+jwt', 'application/logout+jwt']);

const refuse = (description: string) => appError('logout_token_invalid', description);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 1024;

/**
 * Verifies OpenID Connect Back-Channel Logout tokens (section 2.6 of the spec): signed by the
 * tenant's key (its JWKS), from its issuer, for this app, recent, carrying the logout event,
 * no `nonce` (so an id_token is never one), a `sub` or a `sid`, and a `jti` seen only once
 * by any app process. Throws `logout_token_invalid` with the reason, or `logout_unavailable`
 * when the tenant's keys or the claim store cannot be reached.
 */
export class LogoutTokenVerifier {
  readonly #options: LogoutTokenVerifierOptions;
  readonly #keys: JWTVerifyGetKey;

  constructor(options: LogoutTokenVerifierOptions) {
    this.#options = options;
    this.#keys = createRemoteJWKSet(new URL(options.jwksUri));
  }

  async verify(token: unknown): Promise<LogoutRequest> {
    if (typeof token !== 'string' || token.length === 0)
      throw refuse('The request carries no logout_token (one form field, application/x-www-form-urlencoded).');
    let payload: JWTPayload;
    let typ: string | undefined;
    try {
      const verified = await jwtVerify(token, this.#keys, {
        issuer: this.#options.issuer,
        audience: this.#options.clientId,
        algorithms: this.#options.algorithms,
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE,
        clockTolerance: CLOCK_TOLERANCE,
      });
      payload = verified.payload;
      typ = verified.protectedHeader.typ?.toLowerCase();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== undefined && TOKEN_FAULTS.has(code)) throw refuse(`The logout token was refused: ${(err as Error).message}.`);
      throw appError('logout_unavailable', "The identity service's signing keys could not be read, so the logout token could not be checked. Try again.");
    }
    if (!ACCEPTED_TYPES.has(typ)) throw refuse(`A logout token is typed logout+jwt (or JWT), not ${typ}.`);
    const events = payload.events;
    if (!isObject(events) || !isObject(events[BACKCHANNEL_LOGOUT_EVENT]))
      throw refuse(`The logout token has no "events" claim with the ${BACKCHANNEL_LOGOUT_EVENT} event.`);
    if ('nonce' in payload) throw refuse('A logout token must not carry a nonce.');
    const sub = payload.sub;
    const sid = payload.sid;
    if (sub !== undefined && !nonEmpty(sub)) throw refuse('The logout token\'s "sub" is not a string.');
    if (sid !== undefined && !nonEmpty(sid)) throw refuse('The logout token\'s "sid" is not a string.');
    if (sub === undefined && sid === undefined) throw refuse('The logout token names neither a user ("sub") nor a session ("sid").');
    if (!nonEmpty(payload.jti)) throw refuse('The logout token has no "jti".');

    const claimKey = `logout-jti:${createHash('sha256').update(`${this.#options.issuer}\u0000${payload.jti}`).digest('base64url')}`;
    let first: boolean;
    try {
      first = await this.#options.claims.claim(claimKey, LOGOUT_TOKEN_MAX_AGE + 2 * CLOCK_TOLERANCE);
    } catch {
      throw appError('logout_unavailable');
    }
    if (!first) throw refuse('This logout token was already used (its "jti" was seen before).');
    return { sub, sid, selector: sid !== undefined ? { tenantSid: sid } : { userId: sub! }, claimKey };
  }
}
