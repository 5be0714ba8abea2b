// The usual frame of an integration test: a fresh FakeRti before each test, and the service
// the test started (if any) and the FakeRti closed after it.

import { FakeRti } from './fake-rti-server';
import type { TestService } from './start-service';
import { createServer, type AddressInfo } from 'node:net';

export interface RtiPerTest {
  /** The FakeRti of the running test. */
  rti: FakeRti;
  /** Set by the test to the service it started; closed after the test. */
  service: TestService | undefined;
}

/** Registers the hooks in the calling describe block. */
export function rtiPerTest(): RtiPerTest {
  const context = { service: undefined } as RtiPerTest;
  beforeEach(async () => {
    context.rti = await FakeRti.start();
  });
  afterEach(async () => {
    await context.service?.close();
    context.service = undefined;
    await context.rti.close();
  });
  return context;
}

/** A loopback URL nothing listens on: connections to it are refused. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise(resolve => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
