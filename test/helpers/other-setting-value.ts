// Another valid value of a process setting than its default, as its variable holds it: tests that
// a setting is read (or a change of it noticed) must give a value a loader that ignored it lacks.

import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { schema, type SettingName } from '../../src/config/schema';

/**
 * @param tlsEnv the CHEQ_ variables of a valid TLS setup (cert, key, client CA); a TLS file
 *   setting's other value is a copy of its file in `dir`
 */
export function otherSettingValue(
  key: SettingName,
  tlsEnv: Readonly<Record<string, string>>,
  dir: string,
): string {
  const value: unknown = schema[key].default;
  if (key.startsWith('grpc_tls_') && key.endsWith('_file')) {
    // The same PEM under another name: a different setting, still a valid one.
    const copy = join(dir, `${key}.pem`);
    copyFileSync(tlsEnv[schema[key].env] ?? '', copy);
    return copy;
  }
  if (key === 'redis_tls_ca_file' || key === 'redis_tls_cert_file') {
    return otherSettingValue('grpc_tls_cert_file', tlsEnv, dir);
  }
  if (key === 'redis_tls_key_file') return otherSettingValue('grpc_tls_key_file', tlsEnv, dir);
  if (key === 'redis_password_file') {
    const file = join(dir, 'redis-password');
    writeFileSync(file, 'another-redis-password\n');
    return file;
  }
  const text: Partial<Record<SettingName, string>> = {
    redis_url: 'redis://127.0.0.1:6390',
    redis_username: 'cheq',
    redis_password: 'another-redis-password',
    redis_stream: 'another:stream',
  };
  if (text[key] !== undefined) return text[key];
  if (key === 'host') return '127.0.0.1';
  if (key === 'log_level') return 'debug';
  if (typeof value === 'boolean') return String(!value);
  if (typeof value === 'number') return String(value > 0 && value < 1 ? value / 2 : value + 1);
  throw new Error(`no other value for ${key}`);
}
