import { PLATFORM_ERRORS, errorsOf } from '../platform/errors.ts';

/**
 * The tenant's error codes, with the status each answers (the Management API in Auth0's error
 * body, see management/http-errors.ts) and its default message. Codes and messages follow
 * Auth0's where Auth0 has one.
 */
export const tenantErrors = errorsOf({
  ...PLATFORM_ERRORS,
  metadata_too_deep: { status: 400, message: 'Metadata nests objects and arrays too deeply.' },
  metadata_too_large: { status: 400, message: 'Metadata is too large.' },
  invalid_token: { status: 401, message: 'Invalid token' },
  insufficient_scope: { status: 403, message: 'Insufficient scope.' },
  subject_mismatch: { status: 403, message: 'User to be acted on does not match subject in bearer token.' },
  inexistent_user: { status: 404, message: 'The user does not exist.' },
  inexistent_identity: { status: 404, message: 'The identity does not exist on this user.' },
  inexistent_connection: { status: 400, message: 'The connection does not exist.' },
  /** A sign-in page's address names a connection the tenant does not have (the API's is inexistent_connection). */
  unknown_sign_in_method: { status: 404, message: 'This sign-in method does not exist on this tenant.' },
  operation_not_supported: { status: 400, message: 'This connection does not support the operation.' },
  user_exists: { status: 409, message: 'The user already exists.' },
  password_required: { status: 400, message: 'A password is required for a database connection.' },
  password_strength_error: { status: 400, message: 'PasswordStrengthError: Password is too weak' },
  link_self: { status: 400, message: 'Main identity and the new one are the same.' },
  link_secondary_not_found: { status: 400, message: 'Provided secondary account not found.' },
  link_secondary_has_identities: { status: 400, message: 'Unable to link with the secondary account.' },
  link_identity_in_use: { status: 409, message: 'Specified identity already exists.' },
  link_with_invalid: { status: 400, message: 'Invalid token (link_with).' },
  link_with_alg: { status: 400, message: 'JWT (link_with) must have an alg of RS256.' },
  link_with_aud: { status: 400, message: 'JWT (link_with) contains an invalid aud claim.' },
  link_with_iss: { status: 400, message: 'JWT (link_with) must have the same issuer as the calling user.' },
  link_body_ambiguous: { status: 400, message: 'Provide either link_with, or provider and user_id, but not both.' },
  unlink_main_identity: { status: 400, message: 'Main identity cannot be removed.' },
  user_blocked: { status: 403, message: 'This account is blocked. Contact the administrator.' },
});

export type TenantErrorCode = keyof typeof tenantErrors.definitions;
export const tenantError = tenantErrors.error;
export const isTenantError = tenantErrors.is;
