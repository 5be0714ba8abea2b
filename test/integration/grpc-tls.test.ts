// TLS and mTLS on the gRPC listener with certificates openssl makes at test time: real grpc-js
// clients built from the upstream Envoy protos, node:tls to read the served certificate, and
// files replaced under the running server (reload, and a broken replacement it must survive).

import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti } from '../helpers/fake-rti-server';
import { startServerProcess } from '../helpers/server-process';
import { startService, type TestService } from '../helpers/start-service';
import {
  hasOpenssl,
  replaceFile,
  servedFingerprint,
  TestPki,
  type TestCert,
} from '../helpers/test-certs';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';

const REQUIRED = {
  CHEQ_API_KEY: 'k',
  CHEQ_TAG_HASH: 't',
  CHEQ_API_ENDPOINT: 'https://rti-global.cheqzone.com',
};

function tlsEnv(server: TestCert, clientCa?: TestCert): Record<string, string> {
  return {
    CHEQ_GRPC_TLS_CERT_FILE: server.certFile,
    CHEQ_GRPC_TLS_KEY_FILE: server.keyFile,
    ...(clientCa ? { CHEQ_GRPC_TLS_CLIENT_CA_FILE: clientCa.certFile } : {}),
  };
}

function configProblems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig({ env: { ...REQUIRED, ...env }, args: [] });
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

describe('gRPC listener TLS and mTLS (integration, openssl certificates)', function () {
  this.timeout(15_000);
  let pki: TestPki;
  let ca: TestCert, otherCa: TestCert, server: TestCert, otherServer: TestCert;
  let client: TestCert, strangerClient: TestCert;
  let rti: FakeRti;
  let service: TestService | undefined;
  const clients: grpc.Client[] = [];

  before(function () {
    if (!hasOpenssl()) throw new Error('openssl is required (apt-get install openssl)');
    pki = TestPki.create();
    ca = pki.ca('ca');
    otherCa = pki.ca('other-ca');
    server = pki.issue(ca, 'server', 'server');
    otherServer = pki.issue(otherCa, 'other-server', 'server');
    client = pki.issue(ca, 'client', 'client');
    strangerClient = pki.issue(otherCa, 'stranger', 'client');
  });
  beforeEach(async () => {
    rti = await FakeRti.start();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await service?.close();
    service = undefined;
    await rti.close();
  });
  after(() => pki?.remove());

  /** One Check on a fresh connection (no subchannel shared with earlier clients). */
  async function checkWith(credentials: grpc.ChannelCredentials): Promise<void> {
    const c = createUpstreamAuthorizationClient(service!.grpcAddress, credentials, {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.ssl_target_name_override': 'localhost', // as Envoy's SNI would (checks the DNS SAN)
    });
    clients.push(c);
    const response = (await upstreamCheck(c, envoyCheckRequest(), 3000)) as {
      status?: { code?: number };
      http_response?: string;
    };
    assert.equal(response.status?.code ?? 0, 0);
    assert.equal(response.http_response, 'ok_response');
    assert.equal(rti.calls.length > 0, true, 'RTI was asked');
  }

  async function assertRefused(credentials: grpc.ChannelCredentials): Promise<void> {
    await assert.rejects(checkWith(credentials), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE, err.message);
      return true;
    });
  }

  const trusting = (root: TestCert, own?: TestCert): grpc.ChannelCredentials =>
    grpc.credentials.createSsl(root.cert, own?.key ?? null, own?.cert ?? null);

  describe('TLS (no client CA)', () => {
    beforeEach(async () => {
      service = await startService(rti.url, tlsEnv(server));
    });

    it('answers a client that trusts the CA, and logs that TLS is on (not the files)', async () => {
      await checkWith(trusting(ca));
      const started = service!.logs.find(line => line['grpcTls'] === 'tls');
      assert.ok(started, 'a startup line says TLS is on');
      assert.equal(
        (started['certificate'] as Record<string, string>)['serialNumber'],
        server.serialNumber,
      );
      const text = JSON.stringify(service!.logs);
      assert.ok(!text.includes('PRIVATE KEY') && !text.includes('BEGIN CERTIFICATE'));
    });

    it('refuses a plaintext client and a client that trusts another CA', async () => {
      await assertRefused(grpc.credentials.createInsecure());
      await assertRefused(trusting(otherCa));
      assert.equal(rti.calls.length, 0);
    });
  });

  describe('mTLS (grpc_tls_client_ca_file)', () => {
    beforeEach(async () => {
      service = await startService(rti.url, tlsEnv(server, ca));
    });

    it('answers a client presenting a certificate the client CA signed', async () => {
      await checkWith(trusting(ca, client));
      assert.ok(service!.logs.some(line => line['grpcTls'] === 'mtls'));
    });

    it('refuses a client without a certificate', async () => {
      await assertRefused(trusting(ca));
    });

    it('refuses a client whose certificate another CA signed', async () => {
      await assertRefused(trusting(ca, strangerClient));
      assert.equal(rti.calls.length, 0);
    });
  });

  describe('reloading changed files', () => {
    it('serves replaced files to new connections, and survives a broken replacement', async () => {
      const certFile = pki.file('live.crt', server.cert);
      const keyFile = pki.file('live.key', server.key);
      service = await startService(rti.url, {
        CHEQ_GRPC_TLS_CERT_FILE: certFile,
        CHEQ_GRPC_TLS_KEY_FILE: keyFile,
        CHEQ_GRPC_TLS_RELOAD_INTERVAL_MS: '100',
      });
      const port = service.app.grpcPort;
      const errors = (): Record<string, unknown>[] =>
        service!.logs.filter(line => line['level'] === 'error');
      assert.equal(await servedFingerprint(port), server.fingerprint256);

      // A broken replacement: logged once, the previous certificate kept, still serving.
      replaceFile(certFile, 'not a certificate (SECRET-ISH)');
      await waitFor('the reload error', () => errors().length > 0);
      await new Promise(resolve => setTimeout(resolve, 350));
      assert.equal(errors().length, 1, 'logged once, not every interval');
      assert.match(String((errors()[0]?.['problems'] as string[])[0]), /^grpc_tls_cert_file /);
      assert.ok(!JSON.stringify(service.logs).includes('SECRET-ISH'));
      assert.equal(await servedFingerprint(port), server.fingerprint256);
      await checkWith(trusting(ca));

      // Files from another CA: new connections get them (waitFor's 5 s bound, far past the
      // 100 ms interval, is a bound on "never", not a measure of the interval).
      replaceFile(keyFile, otherServer.key);
      replaceFile(certFile, otherServer.cert);
      await waitFor('the new certificate', async () => {
        return (await servedFingerprint(port)) === otherServer.fingerprint256;
      });
      await checkWith(trusting(otherCa));
      await assertRefused(trusting(ca));
      assert.ok(
        service.logs.some(line => String(line['msg']).startsWith('gRPC TLS files changed:')),
      );
    });
  });

  describe('configuration errors (checked before listening)', () => {
    it('needs the key with the certificate, and the certificate with a client CA', () => {
      assert.deepEqual(configProblems({ CHEQ_GRPC_TLS_CERT_FILE: server.certFile }), [
        'grpc_tls_key_file (CHEQ_GRPC_TLS_KEY_FILE): must be set with grpc_tls_cert_file',
      ]);
      assert.deepEqual(configProblems({ CHEQ_GRPC_TLS_CLIENT_CA_FILE: ca.certFile }), [
        'grpc_tls_client_ca_file (CHEQ_GRPC_TLS_CLIENT_CA_FILE): needs grpc_tls_cert_file and ' +
          'grpc_tls_key_file (mTLS is TLS)',
      ]);
      assert.deepEqual(configProblems(tlsEnv(server, ca)), []);
    });

    it('names an unreadable file and its error code', () => {
      const missing = `${pki.dir}/missing.key`;
      assert.deepEqual(configProblems({ ...tlsEnv(server), CHEQ_GRPC_TLS_KEY_FILE: missing }), [
        `grpc_tls_key_file (CHEQ_GRPC_TLS_KEY_FILE): cannot read ${missing} (ENOENT)`,
      ]);
    });

    it('rejects files that are not PEM, or a key of another certificate, never quoting them', () => {
      const garbage = pki.file('garbage.pem', 'SECRET-LOOKING TEXT\n');
      const problems = configProblems({
        CHEQ_GRPC_TLS_CERT_FILE: garbage,
        CHEQ_GRPC_TLS_KEY_FILE: garbage,
        CHEQ_GRPC_TLS_CLIENT_CA_FILE: garbage,
      });
      assert.deepEqual(problems, [
        `grpc_tls_cert_file (CHEQ_GRPC_TLS_CERT_FILE): ${garbage} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
        `grpc_tls_client_ca_file (CHEQ_GRPC_TLS_CLIENT_CA_FILE): ${garbage} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
        `grpc_tls_key_file (CHEQ_GRPC_TLS_KEY_FILE): ${garbage} is not a PEM private key (ERR_OSSL_UNSUPPORTED)`,
      ]);
      assert.deepEqual(
        configProblems({ ...tlsEnv(server), CHEQ_GRPC_TLS_KEY_FILE: client.keyFile }),
        [
          'grpc_tls_cert_file (CHEQ_GRPC_TLS_CERT_FILE) and grpc_tls_key_file (CHEQ_GRPC_TLS_KEY_FILE): ' +
            `the key in ${client.keyFile} does not belong to the certificate in ${server.certFile}`,
        ],
      );
    });

    it('makes the server exit 2 with the message on stderr', async () => {
      const proc = startServerProcess([], {
        ...REQUIRED,
        CHEQ_GRPC_TLS_CERT_FILE: server.certFile,
        CHEQ_GRPC_TLS_KEY_FILE: `${pki.dir}/missing.key`,
      });
      assert.equal(await proc.exited, 2);
      assert.match(
        proc.stderr,
        /grpc_tls_key_file \(CHEQ_GRPC_TLS_KEY_FILE\): cannot read .* \(ENOENT\)/,
      );
    });
  });
});
