/**
 * What an error page says: a heading that names what happened (never a status code or a
 * shrug), the message, and the direct ways on from there. The message comes from the error;
 * the heading and the actions from its code, else its status.
 */
import { safeReturnTo } from './return-to.ts';

/** A way on from an error page: a link, or a small form (starting a link again is a POST). */
export type ErrorAction = { kind: 'link'; href: string; label: string } | { kind: 'form'; action: string; fields: Record<string, string>; label: string };

export interface ErrorPageContent {
  title: string;
  message: string;
  /** The first is the main one. */
  actions: ErrorAction[];
}

/** What a link step that went wrong may be started again with (an error's `details.again`). */
export type LinkAgain = { candidate: string } | { connection: string };

export interface ErrorPageContext {
  signedIn: boolean;
  /** A same-origin path of the page the failed form was on (from Referer), when known. */
  back: string | undefined;
  again: LinkAgain | undefined;
  /** The address to load again after an outage (the page asked for, when it was a GET). */
  retry: string | undefined;
}

const TITLES_BY_CODE: Record<string, string> = {
  invalid_body: 'That form was incomplete',
  invalid_query_string: 'That address was incomplete',
  payload_too_large: 'That form sent too much',
  csrf_invalid: 'This form has expired',
  forbidden_origin: 'Request refused',
  too_many_requests: 'Too many attempts',
  not_found: 'Page not found',
  sign_in_required: 'Sign in to continue',
  sign_in_failed: 'The sign-in did not finish',
  recent_login_required: 'Sign in again to continue',
  user_blocked: 'This account is blocked',
  inexistent_user: 'That account no longer exists',
  inexistent_identity: 'That sign-in method is not linked',
  unlink_main_identity: 'The main sign-in method stays',
  management_unavailable: 'Sign-in is unavailable right now',
  management_unauthorized: 'Sign-in is not set up correctly',
  management_error: 'The identity service said no',
  link_not_in_progress: 'No account link is in progress',
  link_expired: 'This link step has expired',
  link_wrong_account: 'You signed in to a different account',
  link_login_stale: 'That sign-in was too long ago',
  link_proof_invalid: 'That sign-in could not be checked',
  link_email_unverified: 'An email address is not verified',
  link_candidate_unknown: 'That account cannot be linked from here',
  link_already_linked: 'Already part of your profile',
  link_secondary_has_identities: 'These accounts cannot be merged',
  link_identity_in_use: 'That sign-in method belongs to another account',
  link_failed: 'The accounts could not be linked',
  link_confirm_taken: 'These accounts are already being linked',
  conflict: 'Something changed at the same time',
};

const TITLES_BY_STATUS: Record<number, string> = {
  400: 'That request could not be used',
  401: 'Sign in to continue',
  403: 'Request refused',
  404: 'Page not found',
  409: 'Something changed at the same time',
  413: 'That form sent too much',
  429: 'Too many attempts',
  502: 'The identity service did not answer as expected',
  503: 'Sign-in is unavailable right now',
};

/** Codes whose page offers to start the link again, when the error says what to start. */
const LINK_AGAIN = new Set(['link_expired', 'link_wrong_account', 'link_login_stale', 'link_proof_invalid', 'link_not_in_progress']);
/** Codes of a form that could not be used: the way on is back to that form. */
const BACK_TO_FORM = new Set(['invalid_body', 'csrf_invalid', 'payload_too_large']);

export function errorPageContent(error: { code: string | undefined; status: number; message: string }, context: ErrorPageContext): ErrorPageContent {
  const title = (error.code && TITLES_BY_CODE[error.code]) || TITLES_BY_STATUS[error.status] || 'Something went wrong on our side';
  const actions: ErrorAction[] = [];
  const code = error.code ?? '';
  if (context.signedIn && LINK_AGAIN.has(code)) {
    if (context.again) actions.push({ kind: 'form', action: '/link/start', fields: { ...context.again }, label: 'Link again' });
    else actions.push({ kind: 'link', href: '/link/new', label: 'Link an account' });
  }
  if (BACK_TO_FORM.has(code) || (error.status === 400 && !error.code)) {
    if (context.back) actions.push({ kind: 'link', href: context.back, label: 'Back to the form' });
  }
  if (code === 'sign_in_required' || code === 'sign_in_failed' || (!context.signedIn && error.status === 401)) {
    actions.push({ kind: 'link', href: '/login', label: code === 'sign_in_failed' ? 'Sign in again' : 'Sign in' });
  }
  if (error.status >= 500 && context.retry) actions.push({ kind: 'link', href: context.retry, label: 'Try again' });
  actions.push(context.signedIn ? { kind: 'link', href: '/profile', label: 'Back to your profile' } : { kind: 'link', href: '/', label: 'Back to the start' });
  return { title, message: error.message, actions: dedupe(actions) };
}

function dedupe(actions: ErrorAction[]): ErrorAction[] {
  const seen = new Set<string>();
  return actions.filter((a) => {
    const key = a.kind === 'link' ? a.href : `${a.action}?${JSON.stringify(a.fields)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The same-origin path of `referer`, when it is a page of this host; never another site's address. */
export function backPath(referer: string | undefined, host: string | undefined, currentPath: string): string | undefined {
  if (!referer || !host) return undefined;
  try {
    const url = new URL(referer);
    if (url.host !== host || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
    return url.pathname === currentPath ? undefined : safeReturnTo(`${url.pathname}${url.search}`, '') || undefined;
  } catch {
    return undefined;
  }
}
