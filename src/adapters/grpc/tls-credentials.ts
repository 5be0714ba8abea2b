// TLS (and mTLS) credentials for the gRPC listener that follow the files on disk: the files are
// re-read every reloadIntervalMs, and changed contents that pass every check serve new
// connections from then on. Broken contents are logged and the previous certificate is kept.
//
// grpc-js's own FileWatcherCertificateProvider is not used: on a read error it withdraws the
// credentials (every new connection is dropped) and it hands unchecked bytes to the TLS server.
// Polling rather than fs.watch: Kubernetes swaps Secret volumes by renaming a symlinked
// directory, which per-file watches miss.

import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { formatProblem, type ConfigProblem } from '../../config/config-error';
import {
  checkTlsFiles,
  loadTlsFiles,
  readTlsFiles,
  type GrpcTlsConfig,
  type TlsFileContents,
  type TlsMaterial,
} from '../../config/tls-files';
import type { Logger } from '../../observability/logger';

const MAX_TIMER_MS = 2 ** 31 - 1;

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

export interface ReloadingTlsCredentials {
  readonly credentials: grpc.ServerCredentials;
  readonly mode: 'tls' | 'mtls';
  /** The certificate served now (serial, fingerprint, validity). */
  certificate(): Record<string, string>;
  /** Stops re-reading the files. */
  close(): void;
}

/** Reads and checks the files now (throws if they are unusable), then watches them. */
export function createReloadingTlsCredentials(
  config: GrpcTlsConfig,
  log: Logger,
): ReloadingTlsCredentials {
  const provider = new ReloadingTlsFiles(config, log);
  const mtls = config.clientCaFile !== undefined;
  // grpc-js 1.14 names the first parameter caCertificateProvider but uses it as the identity
  // provider; one provider for both roles keeps this right whichever way it is read. A null
  // CA provider means no client certificate is requested.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(
    provider,
    mtls ? provider : null,
    mtls,
  );
  return {
    credentials,
    mode: mtls ? 'mtls' : 'tls',
    certificate: () => describeCertificate(provider.material),
    close: () => provider.close(),
  };
}

/** What is safe to log about a certificate. */
export function describeCertificate(material: TlsMaterial): Record<string, string> {
  return {
    serialNumber: material.serialNumber,
    fingerprint256: material.fingerprint256,
    notBefore: material.validFrom.toISOString(),
    notAfter: material.validTo.toISOString(),
  };
}

class ReloadingTlsFiles implements grpc.experimental.CertificateProvider {
  private current: TlsMaterial;
  /** Contents last rejected, so one broken replacement is logged once, not every interval. */
  private rejected: string | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;
  private reading = false;

  constructor(
    private readonly config: GrpcTlsConfig,
    private readonly log: Logger,
  ) {
    const check = loadTlsFiles(config);
    if (!check.ok) {
      throw new Error(`gRPC TLS files unusable: ${check.problems.map(formatProblem).join('; ')}`);
    }
    this.current = check.material;
    warnIfNotValidNow(check.material, log);
    // Past 2^31-1 ms Node would fire every millisecond instead.
    const intervalMs = Math.min(config.reloadIntervalMs, MAX_TIMER_MS);
    this.timer = setInterval(() => void this.reload(), intervalMs);
    this.timer.unref();
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // Asynchronously: grpc-js registers its own watcher only after adding this listener.
    process.nextTick(() => listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private caUpdate(): grpc.experimental.CaCertificateUpdate | null {
    const ca = this.current.clientCa;
    return ca === undefined ? null : { caCertificate: ca };
  }

  private identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: this.current.cert, privateKey: this.current.key };
  }

  private async reload(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const read = await readTlsFiles(this.config);
      if (this.timer === undefined) return;
      if (isProblems(read)) {
        this.reject(read, read.map(formatProblem).join('\n'));
      } else if (sameContents(read, this.current)) {
        this.rejected = undefined;
      } else {
        const check = checkTlsFiles(this.config, read);
        if (check.ok) this.accept(check.material);
        else this.reject(check.problems, digestOf(read));
      }
    } catch (err: unknown) {
      this.log.error({ err }, 'gRPC TLS reload failed; keeping the previous certificate');
    } finally {
      this.reading = false;
    }
  }

  private accept(material: TlsMaterial): void {
    const previous = describeCertificate(this.current);
    this.current = material;
    this.rejected = undefined;
    this.log.info(
      { certificate: describeCertificate(material), previous },
      'gRPC TLS files changed: new connections use them',
    );
    warnIfNotValidNow(material, this.log);
    for (const listener of this.identityListeners) listener(this.identityUpdate());
    for (const listener of this.caListeners) listener(this.caUpdate());
  }

  private reject(problems: readonly ConfigProblem[], signature: string): void {
    if (this.rejected === signature) return;
    this.rejected = signature;
    this.log.error(
      { problems: problems.map(formatProblem), certificate: describeCertificate(this.current) },
      'gRPC TLS files changed but are unusable; keeping the previous certificate',
    );
  }
}

function digestOf(contents: TlsFileContents): string {
  const hash = createHash('sha256').update(contents.cert).update(contents.key);
  return hash.update(contents.clientCa ?? '').digest('hex');
}

function isProblems(
  read: TlsFileContents | readonly ConfigProblem[],
): read is readonly ConfigProblem[] {
  return Array.isArray(read);
}

function sameContents(a: TlsFileContents, b: TlsFileContents): boolean {
  const sameCa =
    a.clientCa === undefined || b.clientCa === undefined
      ? a.clientCa === b.clientCa
      : a.clientCa.equals(b.clientCa);
  return sameCa && a.cert.equals(b.cert) && a.key.equals(b.key);
}

function warnIfNotValidNow(material: TlsMaterial, log: Logger): void {
  const now = Date.now();
  if (material.validTo.getTime() < now || material.validFrom.getTime() > now) {
    log.warn(
      { certificate: describeCertificate(material) },
      'gRPC TLS certificate is not valid now (expired or not yet valid): clients will refuse it',
    );
  }
}
