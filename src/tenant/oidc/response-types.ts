import type { NextFunction, Request, Response } from 'express';
import type { ResponseType } from 'oidc-provider';

/**
 * The response types Auth0 lists that OpenID Connect defines, in oidc-provider's spelling (words
 * sorted). A bare `token` is the one Auth0 type left out: OpenID Connect does not define it (an
 * access token with no id_token says nothing about who signed in), see `refuseBareToken`.
 */
export const RESPONSE_TYPES: readonly ResponseType[] = ['code', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'];

/**
 * A client's response types, from the grants it was created with (Auth0's grant names): `code`
 * with `authorization_code`, the implicit types with `implicit`, the hybrid types with both.
 */
export function responseTypesForGrants(grants: readonly string[]): ResponseType[] {
  const code = grants.includes('authorization_code');
  const implicit = grants.includes('implicit');
  return RESPONSE_TYPES.filter((type) => {
    const hasCode = type.split(' ').includes('code');
    const hasImplicit = type !== 'code';
    return (!hasCode || code) && (!hasImplicit || implicit);
  });
}

/** `response_type` as oidc-provider compares it: words deduplicated and sorted. */
function normalized(responseType: string): string {
  return [...new Set(responseType.split(' ').filter(Boolean))].sort().join(' ');
}

/**
 * Answers an authorization request for a bare `token` with `unsupported_response_type` and the
 * reason, where oidc-provider would say only "unsupported response_type requested". Only GET is
 * looked at: reading a POST body here would take it from oidc-provider, which then answers the
 * same error code in its own words.
 */
export function refuseBareToken() {
  return (req: Request, res: Response, next: NextFunction) => {
    const responseType = req.query.response_type;
    if (req.method !== 'GET' || typeof responseType !== 'string' || normalized(responseType) !== 'token') return next();
    res
      .status(400)
      .set('Cache-Control', 'no-store')
      .render('tenant/error', {
        error: 'unsupported_response_type',
        description:
          'response_type=token is not supported: OpenID Connect does not define a bare "token" response type. ' +
          'Ask for "id_token token" (implicit), "code id_token" (hybrid) or "code" (recommended).',
        title: undefined,
      });
  };
}
