import { hash, verify } from '@node-rs/argon2';
import { tenantError } from '../tenant-errors.ts';

// OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
const PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_RULES = { minLength: 8, maxLength: 256 } as const;

/** Auth0's "fair" policy: at least 8 characters with three of lower, upper, digit, symbol. */
export function checkPasswordStrength(password: string): void {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (password.length < PASSWORD_RULES.minLength || password.length > PASSWORD_RULES.maxLength || classes < 3) {
    throw tenantError(
      'password_strength_error',
      `PasswordStrengthError: Password is too weak. Use ${PASSWORD_RULES.minLength}–${PASSWORD_RULES.maxLength} characters with at least three of: lower case, upper case, digits, symbols.`,
    );
  }
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS);
}

export function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  return verify(passwordHash, password);
}
