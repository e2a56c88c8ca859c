// The browser side of the e2e tests: Debian's Chromium driven by playwright-core, pages watched for
// console and page errors (every test fails on one it did not expect), screenshots in web/test-results/.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from './watershed.mjs';

const RESULTS = path.join(REPO_ROOT, 'web', 'test-results');
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export function launchBrowser() {
  mkdirSync(RESULTS, { recursive: true });
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Console errors and page errors of the pages watched, less the messages the current test expects. */
export class PageErrors {
  #problems = [];
  #expected = [];

  watch(page) {
    page.on('console', (message) => {
      if (message.type() === 'error' && !this.#expected.some((pattern) => pattern.test(message.text()))) {
        this.#problems.push(`console error: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => this.#problems.push(`page error: ${error.message}`));
  }

  /** A console message this test expects, e.g. the browser's own report of a refused request. */
  expect(pattern) {
    this.#expected.push(pattern);
  }

  /** Fails on anything logged since the last check, and forgets what this test expected. */
  assertNone() {
    this.#expected.length = 0;
    assert.deepEqual(this.#problems.splice(0), [], 'the page logged errors');
  }
}

/** A page in a fresh context (its own storage), watched by `errors`. */
export async function newPage(browser, errors, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  errors.watch(page);
  return page;
}

export const screenshot = (page, name) => page.screenshot({ path: path.join(RESULTS, `${name}.png`), fullPage: true });
