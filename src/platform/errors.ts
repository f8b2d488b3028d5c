/**
 * The one error type of Accord. Domain code throws it with a stable code; the HTTP edge
 * (see tenant/management/http-errors.ts) maps the code to a status and Auth0's error body.
 */
export const ERROR_CODES = {
  invalid_body: 'The request body is not valid.',
  invalid_query_string: 'The query string is not valid.',
  invalid_json: 'The request body is not valid JSON.',
  payload_too_large: 'The request body is too large.',
  json_too_deep: 'The request body nests arrays and objects too deeply.',
  metadata_too_deep: 'Metadata nests objects and arrays too deeply.',
  metadata_too_large: 'Metadata is too large.',
  invalid_token: 'Invalid token',
  insufficient_scope: 'Insufficient scope.',
  subject_mismatch: 'User to be acted on does not match subject in bearer token.',
  inexistent_user: 'The user does not exist.',
  inexistent_identity: 'The identity does not exist on this user.',
  inexistent_connection: 'The connection does not exist.',
  operation_not_supported: 'This connection does not support the operation.',
  user_exists: 'The user already exists.',
  password_required: 'A password is required for a database connection.',
  password_strength_error: 'PasswordStrengthError: Password is too weak',
  link_self: 'Main identity and the new one are the same.',
  link_secondary_not_found: 'Provided secondary account not found.',
  link_secondary_has_identities: 'Unable to link with the secondary account.',
  link_identity_in_use: 'Specified identity already exists.',
  link_with_invalid: 'Invalid token (link_with).',
  link_with_alg: 'JWT (link_with) must have an alg of RS256.',
  link_with_aud: 'JWT (link_with) contains an invalid aud claim.',
  link_with_iss: 'JWT (link_with) must have the same issuer as the calling user.',
  link_body_ambiguous: 'Provide either link_with, or provider and user_id, but not both.',
  unlink_main_identity: 'Main identity cannot be removed.',
  inexistent_client: 'The client does not exist.',
  conflict: 'The change collided with a concurrent change to the same users; nothing was changed. Retry.',
  csrf_invalid: 'This form has expired or did not come from this page. Go back and try again.',
  user_blocked: 'This account is blocked. Contact the administrator.',
  invalid_credentials: 'Wrong email or password.',
  too_many_requests: 'Too many requests. Try again later.',
  management_unavailable: 'The identity service is not reachable right now. Try again in a moment.',
  management_unauthorized: "The app's credentials for the identity service were refused. An administrator must check MANAGEMENT_CLIENT_ID/SECRET.",
  management_error: 'The identity service refused the request.',
  forbidden_origin: 'This request came from another site, so it was refused.',
  sign_in_required: 'Sign in to continue.',
  sign_in_failed: 'The sign-in could not be completed. Please try again.',
  recent_login_required: 'For your security, sign in again before making this change.',
  link_not_in_progress: 'No account link is in progress in this browser, or it has expired. Nothing was linked. Start again from your profile.',
  link_wrong_account: 'You signed in as a different account than the one you chose to link, so nothing was changed. To link that account, start again and sign in as it.',
  link_login_stale: 'That sign-in was not recent enough to prove you control the account. Nothing was linked. Start again and sign in when asked.',
  link_proof_invalid: 'The sign-in to the other account could not be verified. Nothing was linked.',
  link_email_unverified: 'Both accounts need a verified email address before they can be linked. Nothing was linked.',
  link_candidate_unknown: 'That account is not one you can link from here. Nothing was linked.',
  link_already_linked: 'That account is already part of your profile.',
  link_failed: 'The accounts could not be linked.',
  link_confirm_taken: 'These accounts are already being linked, or were linked, from another tab or window (or by a second click). Nothing more was done here; your profile shows the result.',
  logout_token_invalid: 'The logout token is not valid.',
  logout_unavailable: 'The sessions could not be ended right now. Try again.',
  not_found: 'Not Found',
  internal_error: 'Internal error.',
  temporarily_unavailable: 'The service is temporarily unavailable. Try again in a minute.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AccordError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERROR_CODES[code]);
    this.name = 'AccordError';
    this.code = code;
    this.details = details;
  }
}

export function isAccordError(err: unknown, code?: ErrorCode): err is AccordError {
  return err instanceof AccordError && (code === undefined || err.code === code);
}

/** The one place where Accord's error codes become HTTP statuses. */
const STATUS: Record<ErrorCode, number> = {
  invalid_body: 400,
  invalid_query_string: 400,
  invalid_json: 400,
  payload_too_large: 413,
  json_too_deep: 400,
  metadata_too_deep: 400,
  metadata_too_large: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  subject_mismatch: 403,
  inexistent_user: 404,
  inexistent_identity: 404,
  inexistent_connection: 400,
  operation_not_supported: 400,
  user_exists: 409,
  password_required: 400,
  password_strength_error: 400,
  link_self: 400,
  link_secondary_not_found: 400,
  link_secondary_has_identities: 400,
  link_identity_in_use: 409,
  link_with_invalid: 400,
  link_with_alg: 400,
  link_with_aud: 400,
  link_with_iss: 400,
  link_body_ambiguous: 400,
  unlink_main_identity: 400,
  inexistent_client: 404,
  conflict: 409,
  csrf_invalid: 403,
  user_blocked: 403,
  invalid_credentials: 401,
  too_many_requests: 429,
  management_unavailable: 503,
  management_unauthorized: 502,
  management_error: 502,
  forbidden_origin: 403,
  sign_in_required: 401,
  sign_in_failed: 400,
  recent_login_required: 403,
  link_not_in_progress: 400,
  link_wrong_account: 400,
  link_login_stale: 400,
  link_proof_invalid: 400,
  link_email_unverified: 400,
  link_candidate_unknown: 400,
  link_already_linked: 400,
  link_failed: 502,
  link_confirm_taken: 409,
  logout_token_invalid: 400,
  logout_unavailable: 503,
  not_found: 404,
  internal_error: 500,
  temporarily_unavailable: 503,
};

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code];
}
