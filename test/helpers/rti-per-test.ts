// The usual frames of an integration test: a fresh FakeRti before each test (or one for the
// whole describe block), and the service the test started (if any) closed after it.

import { FakeRti } from './fake-rti-server';
import type { TestService } from './start-service';
import { createServer, type AddressInfo } from 'node:net';

export interface RtiPerTest {
  /** The FakeRti of the running test (rtiPerTest) or of the describe block (rtiPerSuite). */
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

/**
 * Registers the hooks in the calling describe block: one FakeRti started before its first test
 * and closed after its last, and the service each test started closed after that test.
 */
export function rtiPerSuite(): RtiPerTest {
  const context = { service: undefined } as RtiPerTest;
  before(async () => {
    context.rti = await FakeRti.start();
  });
  after(async () => {
    await context.rti.close();
  });
  afterEach(async () => {
    await context.service?.close();
    context.service = undefined;
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
