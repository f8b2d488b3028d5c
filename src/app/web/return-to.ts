/**
 * Sanitises a `returnTo` value before it is used in a redirect (security checklist case 18):
 * only same-origin paths survive, anything else becomes the fallback.
 */

const BASE = 'http://app.invalid';
const MAX_LENGTH = 2048;

// Whitespace, C0/C1 controls and invisible/bidi characters: browsers strip or reinterpret
// some of these (e.g. "\t/evil" → "//evil"), so none are allowed anywhere.
const UNSAFE_CHARS = /[\s\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/u;
// The same controls percent-encoded, which some proxies and frameworks decode before redirecting.
const ENCODED_CONTROLS = /%(?:[01][0-9a-f]|7f)/i;
// An encoded slash/backslash right after the leading "/" turns into "//host" if decoded once.
const ENCODED_SECOND_SLASH = /^\/%(?:2f|5c)/i;

function isSafePath(path: string): boolean {
  return (
    path.startsWith('/') &&
    !path.startsWith('//') &&
    !path.includes('\\') &&
    !UNSAFE_CHARS.test(path) &&
    !ENCODED_CONTROLS.test(path) &&
    !ENCODED_SECOND_SLASH.test(path) &&
    path.length <= MAX_LENGTH
  );
}

export function safeReturnTo(value: unknown, fallback = '/'): string {
  // Arrays (returnTo[]=…) and other non-strings never get through.
  if (typeof value !== 'string' || !isSafePath(value)) return fallback;

  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return fallback;
  }
  if (url.origin !== BASE) return fallback;

  // Normalisation can produce a new "//" (e.g. "/.//evil" → "//evil"), so check the output too.
  const normalized = `${url.pathname}${url.search}${url.hash}`;
  return isSafePath(normalized) ? normalized : fallback;
}
