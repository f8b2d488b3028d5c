import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Express's `trust proxy` setting: from which peers `X-Forwarded-For` (the client's address)
 * and `X-Forwarded-Proto` count. `false` trusts nobody; `true` trusts every hop (only behind
 * a proxy that overwrites the header); a number trusts that many hops in front of the
 * server; a list trusts the named ranges (`loopback`, `linklocal`, `uniquelocal`), addresses
 * and CIDR ranges. Express walks `X-Forwarded-For` from the right and stops at the first
 * address that is not trusted, so a client cannot choose its address by sending the header.
 */
export type TrustProxy = boolean | number | string[];

const RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** Why `entry` is not something Express can trust, or undefined if it is. */
function entryProblem(entry: string): string | undefined {
  if (RANGE_NAMES.has(entry)) return undefined;
  const [address = '', prefix, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return `"${entry}" is not an IP address, a CIDR range (10.0.0.0/8) or one of ${[...RANGE_NAMES].join(', ')}`;
  if (prefix === undefined) return undefined;
  const max = version === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${entry}" has a prefix length that is not a number from 0 to ${max}`;
  return undefined;
}

/**
 * Reads a TRUST_PROXY value: `true`/`false` (also `on`/`off`), a number of proxies, or a
 * comma-separated list of addresses, CIDR ranges and range names. Throws an Error whose
 * message says what is wrong.
 */
export function parseTrustProxy(raw: string): TrustProxy {
  const value = raw.trim().toLowerCase();
  if (value === '' || value === 'false' || value === 'off') return false;
  if (value === 'true' || value === 'on') return true;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 100) throw new Error(`${hops} proxies in front of the server is not plausible; give the number of proxies (1 for one load balancer)`);
    return hops === 0 ? false : hops;
  }
  const entries = value.split(',').map((entry) => entry.trim());
  if (entries.some((entry) => entry === '')) throw new Error('the list has an empty entry; separate addresses and ranges with single commas');
  for (const entry of entries) {
    const problem = entryProblem(entry);
    if (problem)
      throw new Error(
        `${problem}. Use true, false, a number of proxies, or a comma-separated list of addresses, CIDR ranges and loopback, linklocal, uniquelocal`,
      );
  }
  return entries;
}

/** TRUST_PROXY in an environment schema: unset means no proxy is trusted. */
export const trustProxySetting = z
  .string()
  .optional()
  .transform((raw, ctx): TrustProxy => {
    if (raw === undefined) return false;
    try {
      return parseTrustProxy(raw);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
