import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { ConfigError } from './env.ts';

/** The certificate (chain) and private key a half serves https with, as PEM. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

function readSetting(name: string, file: string): Buffer {
  const path = resolve(file);
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'ENOENT'
        ? 'which does not exist'
        : code === 'EACCES'
          ? 'which this process may not read'
          : `which cannot be read (${code ?? (err as Error).message})`;
    throw new ConfigError(`${name} points to ${path}, ${why}`);
  }
}

/**
 * TLS_CERT_FILE and TLS_KEY_FILE, read and checked once at start: both or neither, readable,
 * PEM, and the key the certificate's. A mistake is a failed start saying which, never a
 * server that listens and then fails every handshake.
 */
export function loadTlsCredentials(certFile: string | undefined, keyFile: string | undefined): TlsCredentials | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined)
    throw new ConfigError(
      `${certFile === undefined ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'} is set without ${certFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'}: https needs both the certificate and its private key`,
    );
  const credentials = { cert: readSetting('TLS_CERT_FILE', certFile), key: readSetting('TLS_KEY_FILE', keyFile) };
  try {
    createSecureContext(credentials);
  } catch (err) {
    throw new ConfigError(
      `TLS_CERT_FILE ${resolve(certFile)} and TLS_KEY_FILE ${resolve(keyFile)} cannot serve https: ${(err as Error).message} (both must be PEM, the key the certificate's)`,
    );
  }
  return credentials;
}

/** The URL a half publishes by default: https when it serves TLS itself. */
export function localUrl(port: number, tls: TlsCredentials | undefined): string {
  return `${tls ? 'https' : 'http'}://localhost:${port}`;
}

/** A published URL must be https when the half serves TLS itself (a browser would be sent to the wrong scheme). */
export function requireHttpsWithTls(name: string, url: string, tls: TlsCredentials | undefined): void {
  if (tls && !url.startsWith('https://'))
    throw new ConfigError(
      `${name} is ${url}, but TLS_CERT_FILE is set, so it serves https: give an https:// ${name} (or unset TLS_CERT_FILE and TLS_KEY_FILE)`,
    );
}
