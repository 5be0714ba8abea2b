// A real redis-server for the tests: on a free loopback port, in a temp dir, nothing saved. It can
// be stopped and started again on the same port (a Redis restart), or paused with SIGSTOP (a Redis
// that keeps its connections and answers nothing). Missing redis-server fails the tests that need
// it: sharing that was not run is not sharing that passed (`npm run setup` installs it).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './nginx';

/** The redis-server binary, or undefined when it is not installed. */
export function findRedisServer(): string | undefined {
  if (existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** In a `before` hook: the binary, else a failure naming the package. */
export function requireRedisServer(): string {
  const binary = findRedisServer();
  if (binary !== undefined) return binary;
  throw new Error('redis-server is required (npm run setup, or apt-get install redis-server)');
}

export interface RedisServerOptions {
  /** AUTH for the default user (--requirepass). */
  readonly password?: string;
  /** A read-only replica of the Redis on this loopback port (--replicaof): XADD gets READONLY. */
  readonly replicaOf?: number;
  /**
   * Serve TLS only, with these PEM files (the plain port is turned off); `clientCerts`: clients
   * must present a certificate signed by the CA (mutual TLS).
   */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly caFile: string;
    readonly clientCerts?: boolean;
  };
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {}

  /** Starts one, on a free port unless `port` is given (fails without redis-server). */
  static async start(options: RedisServerOptions = {}, port?: number): Promise<RedisServer> {
    const server = new RedisServer(
      requireRedisServer(),
      port ?? (await freePort()),
      mkdtempSync(join(tmpdir(), 'cheq-redis-')),
      options,
    );
    await server.restart();
    return server;
  }

  /** `redis://` (or `rediss://` with TLS) URL, with the password when one is given. */
  url(password?: string): string {
    const scheme = this.options.tls ? 'rediss' : 'redis';
    const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
    return `${scheme}://${auth}127.0.0.1:${this.port}`;
  }

  /** What redis-server printed, for failure messages. */
  get log(): string {
    return this.output;
  }

  /** Starts the process (again, on the same port) and resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is running');
    const { password, replicaOf, tls } = this.options;
    const args = [
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'no',
      ...(password === undefined ? [] : ['--requirepass', password]),
      ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
      ...(tls
        ? [
            '--port',
            '0',
            '--tls-port',
            String(this.port),
            '--tls-cert-file',
            tls.certFile,
            '--tls-key-file',
            tls.keyFile,
            '--tls-ca-cert-file',
            tls.caFile,
            '--tls-auth-clients',
            tls.clientCerts ? 'yes' : 'no',
          ]
        : ['--port', String(this.port)]),
    ];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    const exited = new Promise<never>((_resolve, reject) =>
      child.once('exit', code => {
        this.child = undefined;
        reject(new Error(`redis-server exited (${code}):\n${this.output}`));
      }),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPort(this.port, 10_000), exited]);
  }

  /** SIGSTOP: the connections stay open, nothing is answered. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Kills the process (SIGKILL: no goodbye to its clients) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise(resolve => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills it and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolves once a TCP connection to the port succeeds; rejects after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>(resolve => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}
