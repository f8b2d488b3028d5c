/**
 * Is a SESSION_SECRET strong enough? It signs every session cookie and CSRF token, so it
 * must be random: made by a machine, not typed by a person.
 *
 * A small estimator rather than a password-strength library: those model human passwords
 * (zxcvbn-ts needs ~7 MB of dictionaries, half a second to load and up to 300 ms a check).
 * Here the words people put in made-up secrets ("secret", "session", "change", "production"…)
 * are cut out, and every remaining character is worth the bits of the alphabet the secret
 * draws from (its character classes, or twice its distinct characters if fewer), except what
 * a guesser predicts: a character continuing a run (`aaa`, `abc`, `321`) or repeating an
 * earlier stretch (`abab`, `xk3Qxk3Q`). It has no dictionary beyond those words: a phrase of
 * other words passes if it is long enough.
 */

/**
 * The bar: NIST's minimum security strength (SP 800-131A). The smallest random recipe, 16
 * bytes as hex (128 bits, 32 characters), estimates at 120 bits or more.
 */
export const MIN_SESSION_SECRET_BITS = 112;
export const MIN_SESSION_SECRET_LENGTH = 32;

export const SESSION_SECRET_ADVICE =
  "Make one with `openssl rand -base64 32` or `node -e \"console.log(require('crypto').randomBytes(32).toString('base64url'))\"`, " +
  'and give every app instance the same value.';

/**
 * Values Accord's repository has printed as examples: public, so never secret, whatever they
 * estimate. README.md and .env.example print none (a test refuses any value they print).
 */
const EXAMPLE_SECRETS = new Set(['a-session-secret-of-at-least-32-characters', 'test-session-secret-that-is-long-enough-0123']);

/**
 * What people put in a secret they make up: worth nothing to a guesser, so removed before
 * estimating. Three letters or more, so that random output rarely contains one by chance.
 */
const PLACEHOLDER_WORDS = [
  'secret',
  'session',
  'password',
  'passwd',
  'changeme',
  'change',
  'replace',
  'example',
  'sample',
  'placeholder',
  'default',
  'dummy',
  'testing',
  'test',
  'demo',
  'your',
  'this',
  'that',
  'super',
  'very',
  'long',
  'enough',
  'least',
  'characters',
  'chars',
  'random',
  'string',
  'value',
  'key',
  'token',
  'cookie',
  'signing',
  'production',
  'prod',
  'staging',
  'development',
  'local',
  'localhost',
  'accord',
  'express',
  'keyboard',
  'cat',
  'app',
  'admin',
  'qwerty',
  'letmein',
  'hello',
  'world',
  'foo',
  'bar',
  'baz',
].sort((a, b) => b.length - a.length);
const PLACEHOLDERS = new RegExp(PLACEHOLDER_WORDS.join('|'), 'gi');

type CharClass = 'lower' | 'upper' | 'digit' | 'symbol';
const CLASS_SIZES: Record<CharClass, number> = { lower: 26, upper: 26, digit: 10, symbol: 33 };

function classOf(c: string): CharClass {
  if (c >= 'a' && c <= 'z') return 'lower';
  if (c >= 'A' && c <= 'Z') return 'upper';
  if (c >= '0' && c <= '9') return 'digit';
  return 'symbol';
}

/** The secret's estimated entropy in bits (see the module comment for the model). */
export function estimateSecretBits(secret: string): number {
  if (secret.length === 0) return 0;
  const classAlphabet = [...new Set(Array.from(secret, classOf))].reduce((n, c) => n + CLASS_SIZES[c], 0);
  // Few distinct characters mean a small alphabet, whatever classes they come from (`0101…`).
  const perChar = Math.log2(Math.max(2, Math.min(classAlphabet, new Set(secret).size * 2)));
  // Placeholder words are cut out first: what is left must carry the entropy.
  const rest = secret.replace(PLACEHOLDERS, '\u0000');
  let bits = 0;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '\u0000') continue;
    if (i >= 2) {
      const step = rest.charCodeAt(i) - rest.charCodeAt(i - 1);
      // A run: `aaa`, `abc`, `321`.
      if (Math.abs(step) <= 1 && step === rest.charCodeAt(i - 1) - rest.charCodeAt(i - 2)) continue;
      // The three characters ending here appeared before: a repeated stretch (`abab`, `xk3Qxk3Q`).
      if (rest.slice(0, i - 1).includes(rest.slice(i - 2, i + 1))) continue;
    }
    bits += perChar;
  }
  return bits;
}

/** Why `secret` is not good enough for a session secret, or undefined when it is. */
export function sessionSecretWeakness(secret: string): string | undefined {
  if (secret.length < MIN_SESSION_SECRET_LENGTH) return `it must be at least ${MIN_SESSION_SECRET_LENGTH} characters long`;
  if (EXAMPLE_SECRETS.has(secret.trim().toLowerCase())) return 'it is an example value from the documentation, known to everyone';
  const bits = estimateSecretBits(secret);
  if (bits < MIN_SESSION_SECRET_BITS) {
    return (
      `it is not random enough (about ${Math.floor(bits)} bits of entropy, at least ${MIN_SESSION_SECRET_BITS} needed): ` +
      'repeated characters, sequences, words or a small alphabet are easy to guess'
    );
  }
  return undefined;
}
