import { PLATFORM_ERRORS, errorsOf } from '../platform/errors.ts';

/**
 * The app's error codes, with the status each answers (as a page, see web/http-errors.ts) and
 * the message the page shows. Codes the app reads from the Management API's answers keep its names.
 */
export const appErrors = errorsOf({
  ...PLATFORM_ERRORS,
  inexistent_user: { status: 404, message: 'The user does not exist.' },
  inexistent_identity: { status: 404, message: 'The identity does not exist on this user.' },
  link_secondary_has_identities: { status: 400, message: 'Unable to link with the secondary account.' },
  link_identity_in_use: { status: 409, message: 'Specified identity already exists.' },
  unlink_main_identity: { status: 400, message: 'Main identity cannot be removed.' },
  user_blocked: { status: 403, message: 'This account is blocked. Contact the administrator.' },
  management_unavailable: { status: 503, message: 'The identity service is not reachable right now. Try again in a moment.' },
  management_unauthorized: {
    status: 502,
    message: "The app's credentials for the identity service were refused. An administrator must check MANAGEMENT_CLIENT_ID/SECRET.",
  },
  management_error: { status: 502, message: 'The identity service refused the request.' },
  forbidden_origin: { status: 403, message: 'This request came from another site, so it was refused.' },
  sign_in_required: { status: 401, message: 'Sign in to continue.' },
  sign_in_failed: { status: 400, message: 'The sign-in could not be completed. Please try again.' },
  recent_login_required: { status: 403, message: 'For your security, sign in again before making this change.' },
  link_not_in_progress: {
    status: 400,
    message: 'No account link is in progress in this browser, or it has expired. Nothing was linked. Start again from your profile.',
  },
  link_wrong_account: {
    status: 400,
    message:
      'You signed in as a different account than the one you chose to link, so nothing was changed. To link that account, start again and sign in as it.',
  },
  link_login_stale: {
    status: 400,
    message: 'That sign-in was not recent enough to prove you control the account. Nothing was linked. Start again and sign in when asked.',
  },
  link_proof_invalid: { status: 400, message: 'The sign-in to the other account could not be verified. Nothing was linked.' },
  link_email_unverified: { status: 400, message: 'Both accounts need a verified email address before they can be linked. Nothing was linked.' },
  link_candidate_unknown: { status: 400, message: 'That account is not one you can link from here. Nothing was linked.' },
  link_already_linked: { status: 400, message: 'That account is already part of your profile.' },
  link_failed: { status: 502, message: 'The accounts could not be linked.' },
  link_confirm_taken: {
    status: 409,
    message:
      'These accounts are already being linked, or were linked, from another tab or window (or by a second click). Nothing more was done here; your profile shows the result.',
  },
  logout_token_invalid: { status: 400, message: 'The logout token is not valid.' },
  logout_unavailable: { status: 503, message: 'The sessions could not be ended right now. Try again.' },
});

export type AppErrorCode = keyof typeof appErrors.definitions;
export const appError = appErrors.error;
export const isAppError = appErrors.is;
