// Polls until a condition holds: for effects that travel through another process (Redis, a
// server) and take however long the machine takes. The overall timeout is generous on purpose.

/** Resolves with the first truthy value `probe` returns; rejects with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}
