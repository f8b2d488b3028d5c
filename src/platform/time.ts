/** Seconds since the epoch, the unit of OpenID and of the tenant's expiry columns. */
export const epochSeconds = (): number => Math.floor(Date.now() / 1000);
