import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A certificate for localhost and 127.0.0.1 signed by a throwaway CA, as files and PEM. */
export interface TestCertificate {
  /** The CA's certificate: what a client trusts (`ca`, NODE_EXTRA_CA_CERTS). */
  caFile: string;
  ca: string;
  /** The server's certificate and key: TLS_CERT_FILE and TLS_KEY_FILE. */
  certFile: string;
  keyFile: string;
  /** The server key's SPKI SHA-256, for Chromium's --ignore-certificate-errors-spki-list: it trusts that key and no other. */
  spki: string;
}

/** Why certificates cannot be made here, or undefined when openssl is on the PATH. */
export function tlsTestsUnavailable(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is not on the PATH: the https tests need it to make a certificate';
  }
}

/** Makes a CA and a server certificate it signs (valid a day) in `dir`, with openssl. */
export function makeTestCertificate(dir: string): TestCertificate {
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=Accord test CA', '-keyout', at('ca.key'), '-out', at('ca.pem'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', at('server.key'), '-out', at('server.csr'));
  writeFileSync(
    at('server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    at('server.csr'),
    '-CA',
    at('ca.pem'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    at('server.ext'),
    '-out',
    at('server.pem'),
  );
  const spki = new X509Certificate(readFileSync(at('server.pem'))).publicKey.export({ type: 'spki', format: 'der' });
  return {
    caFile: at('ca.pem'),
    ca: readFileSync(at('ca.pem'), 'utf8'),
    certFile: at('server.pem'),
    keyFile: at('server.key'),
    spki: createHash('sha256').update(spki).digest('base64'),
  };
}
