// A real browser for the tests: Debian's chromium, headless, driven by puppeteer-core. Where it is
// not installed the tests fail, never skip (`npm run setup` installs it), as for the proxies.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** The chromium binary, or undefined when it is not installed. */
export function findChromium(): string | undefined {
  for (const candidate of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/**
 * Launches headless chromium with a fresh profile; throws, naming the package, when it is not
 * installed. Chromium's sandbox refuses to run as root (CI's containers do), so only then is it
 * off; the pages the tests open are our own.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = findChromium();
  if (executablePath === undefined) {
    throw new Error('chromium is required (npm run setup, or apt-get install chromium)');
  }
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}
