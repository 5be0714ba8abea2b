// The gRPC listener's TLS files: which settings name them, and whether what they hold is a
// usable certificate, key and client CA. Used at startup (loadConfig) and on every reload (the
// gRPC adapter). Messages name the setting and the file, never what the file holds.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { settingProblem, type ConfigProblem } from './config-error';
import type { SettingName, Settings } from './schema';

export interface GrpcTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: mTLS, clients must present a certificate signed by one of these CAs. */
  readonly clientCaFile: string | undefined;
  readonly reloadIntervalMs: number;
}

/** What the three files hold, as read. */
export interface TlsFileContents {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

/** Contents that passed every check, with what is safe to log about the certificate. */
export interface TlsMaterial extends TlsFileContents {
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validFrom: Date;
  readonly validTo: Date;
}

export type TlsCheck =
  | { readonly ok: true; readonly material: TlsMaterial }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

const CERT = 'grpc_tls_cert_file';
const KEY = 'grpc_tls_key_file';
const CLIENT_CA = 'grpc_tls_client_ca_file';
/** A problem with both the certificate and its key. */
const WITH_KEY = { with: { join: 'and', settings: [KEY] } } as const;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The TLS settings, or undefined when TLS is off; settings already checked. */
export function grpcTlsConfigOf(s: Settings): GrpcTlsConfig | undefined {
  if (s.grpc_tls_cert_file === '') return undefined;
  return {
    certFile: s.grpc_tls_cert_file,
    keyFile: s.grpc_tls_key_file,
    clientCaFile: s.grpc_tls_client_ca_file || undefined,
    reloadIntervalMs: s.grpc_tls_reload_interval_ms,
  };
}

/** Problems with the TLS settings, including files that cannot be read or used. */
export function grpcTlsProblems(s: Settings): ConfigProblem[] {
  // Tolerant of non-string values from a config file, which validation reports separately.
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  const cert = text(s.grpc_tls_cert_file);
  const key = text(s.grpc_tls_key_file);
  const clientCa = text(s.grpc_tls_client_ca_file);
  const problems: ConfigProblem[] = [];
  if (cert !== '' && key === '') problems.push(settingProblem(KEY, `must be set with ${CERT}`));
  if (key !== '' && cert === '') problems.push(settingProblem(CERT, `must be set with ${KEY}`));
  if (clientCa !== '' && (cert === '' || key === '')) {
    problems.push(settingProblem(CLIENT_CA, `needs ${CERT} and ${KEY} (mTLS is TLS)`));
  }
  if (problems.length > 0 || cert === '') return problems;
  const check = loadTlsFiles({ certFile: cert, keyFile: key, clientCaFile: clientCa || undefined });
  return check.ok ? [] : [...check.problems];
}

/** Reads and checks the files now (startup). */
export function loadTlsFiles(files: Omit<GrpcTlsConfig, 'reloadIntervalMs'>): TlsCheck {
  const problems: ConfigProblem[] = [];
  const read = (setting: SettingName, file: string): Buffer | undefined => {
    try {
      return readFileSync(file);
    } catch (err: unknown) {
      problems.push(settingProblem(setting, `cannot read ${file} (${codeOf(err)})`));
      return undefined;
    }
  };
  const cert = read(CERT, files.certFile);
  const key = read(KEY, files.keyFile);
  const clientCa =
    files.clientCaFile === undefined ? undefined : read(CLIENT_CA, files.clientCaFile);
  if (cert === undefined || key === undefined || problems.length > 0)
    return { ok: false, problems };
  return checkTlsFiles(files, { cert, key, clientCa });
}

/** Reads the files without blocking (reloads); a file that cannot be read is a problem. */
export async function readTlsFiles(
  files: Omit<GrpcTlsConfig, 'reloadIntervalMs'>,
): Promise<TlsFileContents | readonly ConfigProblem[]> {
  const read = (setting: SettingName, file: string): Promise<Buffer | ConfigProblem> =>
    readFile(file).catch((err: unknown) =>
      settingProblem(setting, `cannot read ${file} (${codeOf(err)})`),
    );
  const [cert, key, clientCa] = await Promise.all([
    read(CERT, files.certFile),
    read(KEY, files.keyFile),
    files.clientCaFile === undefined ? undefined : read(CLIENT_CA, files.clientCaFile),
  ]);
  const problems = [cert, key, clientCa].filter(
    (value): value is ConfigProblem => value !== undefined && !Buffer.isBuffer(value),
  );
  if (problems.length > 0) return problems;
  return { cert: cert as Buffer, key: key as Buffer, clientCa: clientCa as Buffer | undefined };
}

/** Whether the contents make a TLS server: PEM certificates, a PEM key that belongs to the first. */
export function checkTlsFiles(
  files: Omit<GrpcTlsConfig, 'reloadIntervalMs'>,
  contents: TlsFileContents,
): TlsCheck {
  const problems: ConfigProblem[] = [];
  const leaf = parseCertificates(CERT, files.certFile, contents.cert, problems)[0];
  if (contents.clientCa !== undefined && files.clientCaFile !== undefined) {
    parseCertificates(CLIENT_CA, files.clientCaFile, contents.clientCa, problems);
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey(contents.key);
  } catch (err: unknown) {
    const encrypted = /ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(contents.key.toString());
    const what = encrypted
      ? 'is an encrypted private key: give it unencrypted'
      : 'is not a PEM private key';
    problems.push(settingProblem(KEY, `${files.keyFile} ${what} (${codeOf(err)})`));
  }
  if (leaf !== undefined && key !== undefined && !leaf.checkPrivateKey(key)) {
    problems.push(
      settingProblem(
        CERT,
        `the key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`,
        WITH_KEY,
      ),
    );
  }
  if (leaf === undefined || problems.length > 0) return { ok: false, problems };
  try {
    // What the listener will do with them, so a reload cannot fail later in grpc-js.
    createSecureContext({ cert: contents.cert, key: contents.key, ca: contents.clientCa });
  } catch (err: unknown) {
    return {
      ok: false,
      problems: [settingProblem(CERT, `TLS refuses ${files.certFile} (${codeOf(err)})`, WITH_KEY)],
    };
  }
  return {
    ok: true,
    material: {
      ...contents,
      serialNumber: leaf.serialNumber,
      fingerprint256: leaf.fingerprint256,
      validFrom: new Date(leaf.validFrom),
      validTo: new Date(leaf.validTo),
    },
  };
}

function parseCertificates(
  setting: SettingName,
  file: string,
  pem: Buffer,
  problems: ConfigProblem[],
): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    problems.push(
      settingProblem(setting, `${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`),
    );
    return [];
  }
  const certificates: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      certificates.push(new X509Certificate(block));
    } catch (err: unknown) {
      problems.push(
        settingProblem(
          setting,
          `certificate ${index + 1} in ${file} is not valid (${codeOf(err)})`,
        ),
      );
    }
  }
  return certificates;
}

function codeOf(err: unknown): string {
  return err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
}
