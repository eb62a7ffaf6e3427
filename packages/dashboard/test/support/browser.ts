/**
 * Chromium from Debian (/usr/bin/chromium, installed by .ci/run), driven by playwright-core. No browser is ever
 * downloaded: without that binary the browser tests skip with the reason (and fail under HOSTWORK_REQUIRE_SERVICES=1).
 */
import { existsSync } from 'node:fs';
import { after } from 'node:test';
import { type Browser, chromium } from 'playwright-core';

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = process.env.HOSTWORK_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run, or undefined. */
export function browserProblem(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}`;
}

let launched: Promise<Browser> | undefined;

/** The browser of this test file, launched once and closed after the file. */
export function browser(): Promise<Browser> {
  launched ??= chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return launched;
}

after(async () => {
  const running = launched;
  launched = undefined;
  await (await running)?.close();
});
