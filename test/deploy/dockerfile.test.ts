// No Docker engine runs here, so the image is proven by performing the Dockerfile's own steps
// (install, build, prune, copy) in a clean copy, then starting the result as the image would:
// as an unprivileged user, from a directory it cannot write to.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schema } from '../../src/config/schema';
import { emulateBuild, parseDockerfile, type StageResult } from '../helpers/dockerfile';
import { envoyCheckRequest } from '../helpers/envoy-check-request';
import { FakeRti } from '../helpers/fake-rti-server';
import { loopbackSettings } from '../helpers/start-service';
import { createUpstreamAuthorizationClient, upstreamCheck } from '../helpers/upstream-protos';

const ROOT = join(__dirname, '..', '..', '..');
const NOBODY = 65534;

describe('Dockerfile (its steps performed without Docker)', function () {
  this.timeout(240_000);
  let work: string;
  let image: StageResult;
  let stages: StageResult[];

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'cheq-image-'));
    chmodSync(work, 0o755);
    stages = emulateBuild(ROOT, 'Dockerfile', work);
    image = stages[stages.length - 1]!;
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it('is multi-stage on an official Node 20 base, and runs as a non-root user', () => {
    assert.equal(stages.length, 2);
    for (const stage of stages) assert.match(stage.base, /^node:20(-|$|@)/);
    assert.equal(image.user, 'node');
    assert.equal(image.env['NODE_ENV'], 'production');
  });

  it('exposes the real default ports and starts node directly (exec form)', () => {
    assert.deepEqual(
      [...image.exposed].sort(),
      [schema.grpc_port.default, schema.http_port.default, schema.metrics_port.default].sort(),
    );
    assert.deepEqual(image.entrypoint, [
      'node',
      '--heap-growing-percent=100',
      '--no-allocation-site-pretenuring',
      'dist/main.js',
    ]);
    const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const shellForm = parseDockerfile(text).filter(
      i => i.getKeyword() === 'CMD' && !i.getArgumentsContent()?.startsWith('['),
    );
    assert.deepEqual(shellForm, []);
  });

  it('ships production dependencies, compiled code and protos only', () => {
    const app = join(image.root, image.workdir);
    assert.deepEqual(readdirSync(app).sort(), ['dist', 'node_modules', 'package.json', 'proto']);
    for (const dev of ['typescript', 'mocha', 'eslint', '@grpc/grpc-js-xds']) {
      assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} is a dev dependency`);
    }
    for (const prod of ['@grpc/grpc-js', 'undici', 'prom-client', 'convict', 'yaml', 'pino']) {
      assert.ok(existsSync(join(app, 'node_modules', prod)), prod);
    }
    assert.ok(existsSync(join(app, 'dist', 'main.js')));
  });

  it('keeps the build context small: .dockerignore leaves out what the image does not need', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.git', 'node_modules', 'dist', 'build', 'test']) {
      assert.ok(ignored.includes(entry), entry);
    }
  });

  it('starts unprivileged from a read-only directory, answers a check, and stops on SIGTERM', async () => {
    const rti = await FakeRti.start();
    const app = join(image.root, image.workdir);
    const asNobody = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
    if (asNobody) spawnSync('chmod', ['-R', 'a-w', image.root]);
    const [command, ...args] = image.entrypoint;
    const argv = asNobody
      ? [
          'setpriv',
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          '--clear-groups',
          process.execPath,
          ...args,
        ]
      : [process.execPath, ...args];
    assert.equal(command, 'node');
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: app,
      env: {
        PATH: process.env['PATH'] ?? '',
        ...image.env,
        ...loopbackSettings(rti.url),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)));
    try {
      const until = Date.now() + 10_000;
      let listening: Record<string, unknown> | undefined;
      while (!listening && Date.now() < until) {
        const line = output.split('\n').find(l => l.includes('"cheq-rti-authz listening"'));
        if (line) listening = JSON.parse(line) as Record<string, unknown>;
        else await new Promise(resolve => setTimeout(resolve, 50));
      }
      assert.ok(listening, `did not start:\n${output}`);
      const client = createUpstreamAuthorizationClient(
        `127.0.0.1:${listening['grpcPort'] as number}`,
      );
      const response = (await upstreamCheck(client, envoyCheckRequest())) as {
        status?: { code?: number };
      };
      client.close();
      assert.equal(response.status?.code ?? 0, 0);
      assert.equal(rti.calls.length, 1);
      const health = await fetch(`http://127.0.0.1:${listening['metricsPort'] as number}/healthz`);
      assert.equal(health.status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    } finally {
      child.kill('SIGKILL');
      if (asNobody) spawnSync('chmod', ['-R', 'u+w', image.root]);
      await rti.close();
    }
  });
});
