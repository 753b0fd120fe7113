import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate (for localhost and 127.0.0.1 unless told otherwise), made by openssl for one test run. */
export interface TestCertificate {
  key: Buffer;
  cert: Buffer;
  /** Removes the temporary directory. */
  remove(): void;
}

export function createTestCertificate(subjectAltName = 'DNS:localhost,IP:127.0.0.1'): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'wspipe-tls-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
        '-keyout', keyPath, '-out', certPath,
        '-subj', '/CN=localhost',
        '-addext', `subjectAltName=${subjectAltName}`,
        '-days', '1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 },
    );
    return {
      key: readFileSync(keyPath),
      cert: readFileSync(certPath),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      // A clear failure, not a skip: CI installs it.
      throw new Error(`'openssl' is not on PATH; the TLS tests make their certificates with it. Install it with: apt-get install -y openssl`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** The key and certificate alone, the temporary directory already gone. */
export function makeCertificate(subjectAltName?: string): { key: Buffer; cert: Buffer } {
  const { key, cert, remove } = createTestCertificate(subjectAltName);
  remove();
  return { key, cert };
}
