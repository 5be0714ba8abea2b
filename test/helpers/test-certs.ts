// Throwaway PKI for TLS tests, made with the openssl CLI in a temp dir: CAs, server certificates
// (SAN DNS:localhost, IP:127.0.0.1) and client certificates. EC P-256 keys, valid for one day.

import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';

export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** SHA-256 fingerprint as node:tls reports it (AB:CD:...). */
  readonly fingerprint256: string;
  readonly serialNumber: string;
}

export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

const EXTENSIONS = {
  server: 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  client: 'extendedKeyUsage=clientAuth\n',
} as const;

/** SHA-256 fingerprint of the certificate a new TLS connection (ALPN h2) is served. */
export function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
      },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      },
    );
    socket.setTimeout(3000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.once('error', reject);
  });
}

/** Replaces a file the way a Secret update does: whole, in one rename. */
export function replaceFile(path: string, contents: string | Buffer): void {
  writeFileSync(`${path}.new`, contents);
  renameSync(`${path}.new`, path);
}

export class TestPki {
  private count = 0;

  private constructor(readonly dir: string) {}

  static create(): TestPki {
    return new TestPki(mkdtempSync(join(tmpdir(), 'cheq-rti-authz-tls-')));
  }

  /** A self-signed CA. */
  ca(name: string): TestCert {
    const { certFile, keyFile } = this.paths(name);
    this.openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]); // prettier-ignore
    return this.load(certFile, keyFile);
  }

  /** A server or client certificate signed by `ca`. */
  issue(ca: TestCert, name: string, kind: keyof typeof EXTENSIONS): TestCert {
    const { certFile, keyFile } = this.paths(name);
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, `basicConstraints=CA:FALSE\n${EXTENSIONS[kind]}`);
    this.openssl([
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', csr, '-subj', `/CN=${kind === 'server' ? 'localhost' : name}`,
    ]); // prettier-ignore
    this.openssl([
      'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile,
      '-set_serial', String(1000 + ++this.count), '-days', '1', '-extfile', ext, '-out', certFile,
    ]); // prettier-ignore
    return this.load(certFile, keyFile);
  }

  /** A file in the PKI dir holding `text`. */
  file(name: string, text: string | Buffer): string {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private paths(name: string): { certFile: string; keyFile: string } {
    return { certFile: join(this.dir, `${name}.crt`), keyFile: join(this.dir, `${name}.key`) };
  }

  private load(certFile: string, keyFile: string): TestCert {
    const cert = readFileSync(certFile);
    const { fingerprint256, serialNumber } = new X509Certificate(cert);
    return { certFile, keyFile, cert, key: readFileSync(keyFile), fingerprint256, serialNumber };
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }
}
