// Starts the real `watershed up` for the browser tests, talks to its API, and runs the binary's other
// commands (e.g. `rebuild read-models`) beside it.
// The binary comes from WATERSHED_BIN; it runs from the repository root so it serves web/dist.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** The four lines `up` prints on stdout, in this order. */
const ANNOUNCEMENTS = {
  listening: /^watershed: listening on (http:\/\/\S+)$/,
  adminToken: /^watershed: admin token: (\S+)$/,
  readToken: /^watershed: read token: (\S+)$/,
  dashboard: /^watershed: dashboard: (\S+)$/,
};

export function watershedBinary() {
  const bin = process.env.WATERSHED_BIN;
  if (!bin) {
    throw new Error(
      'WATERSHED_BIN is not set. The browser tests run the real server: build it (cargo build) and run e.g.\n' +
        '  WATERSHED_BIN=~/.cache/watershed-target/debug/watershed npm run test:e2e',
    );
  }
  if (!existsSync(bin)) throw new Error(`WATERSHED_BIN=${bin} does not exist`);
  if (!existsSync(path.join(REPO_ROOT, 'web', 'dist', 'index.html'))) {
    throw new Error('web/dist is not built: run `npm run build` before `npm run test:e2e`');
  }
  return bin;
}

/**
 * Runs `watershed up` on a fresh data dir and resolves once it has printed its address and tokens.
 * To restart on the same data, pass the stopped server's `dataDir` (the new server then owns it) and
 * its port and tokens (`listen`, and `args` for extra flags). By default the alert rules are the example
 * ones, which fit the simulated fleet, so alerts are raised and cleared while tests run; `rules` names
 * another file (absolute, or from the repository root).
 */
export async function startWatershed({
  simulate = 3,
  listen = '127.0.0.1:0',
  dataDir,
  rules = 'alert-rules.example.toml',
  args = [],
} = {}) {
  const bin = watershedBinary();
  const dir = dataDir ?? mkdtempSync(path.join(tmpdir(), 'watershed-e2e-'));
  const env = testEnv();
  const child = spawn(
    bin,
    ['up', '--data-dir', dir, '--listen', listen, '--simulate', String(simulate), '--alert-rules', rules, ...args],
    {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  child.stderr.on('data', (chunk) => {
    log = (log + chunk).slice(-20_000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));

  const found = {};
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`watershed printed no address within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      exited.then((status) => reject(new Error(`watershed exited (${status}) before it was ready`)));
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        for (const [key, pattern] of Object.entries(ANNOUNCEMENTS)) {
          const match = pattern.exec(line);
          if (match) found[key] = match[1];
        }
        if (Object.keys(found).length === Object.keys(ANNOUNCEMENTS).length) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    if (!dataDir) rmSync(dir, { recursive: true, force: true });
    throw new Error(`${error.message}\n--- watershed stderr ---\n${log}`);
  }

  return {
    baseUrl: found.listening,
    adminToken: found.adminToken,
    readToken: found.readToken,
    dashboardUrl: found.dashboard,
    dataDir: dir,
    log: () => log,
    /** Stops the server (SIGTERM, then SIGKILL after a deadline; or `signal` at once) and removes its data dir unless `keepData`. */
    async stop({ signal = 'SIGTERM', keepData = false } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        let deadline;
        const stopped = await Promise.race([
          exited.then(() => true),
          new Promise((r) => (deadline = setTimeout(() => r(false), STOP_TIMEOUT_MS))),
        ]);
        // A pending timer keeps Node running: left alone, it held each test file's process for 10 s.
        clearTimeout(deadline);
        if (!stopped) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      if (!keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `$WATERSHED_BIN ...args` to its end from the repository root and resolves with its exit code and
 * output; rejects when it runs past `timeoutMs` (then it is killed).
 */
export function runWatershed(args, { timeoutMs = 60_000 } = {}) {
  const child = spawn(watershedBinary(), args, { cwd: REPO_ROOT, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-20_000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`watershed ${args.join(' ')} ran past ${timeoutMs} ms\n--- stderr ---\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    // `close`, not `exit`: the output is read to its end by then.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

/** The environment for a test process: settings from the caller's (WATERSHED_LISTEN, …) must not leak in. */
function testEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('WATERSHED_')));
}

/** Calls the API and returns the parsed body; throws with the server's error on a non-2xx answer. */
export async function api(server, route, { token = server.readToken, method = 'GET', body } = {}) {
  const response = await fetch(`${server.baseUrl}${route}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${route} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Registers a device with the admin token and resolves with its device key. */
export async function registerDevice(server, { device_id, name = null, kind = null, location = null }) {
  const body = { device_id, name, kind, location };
  return (await api(server, '/v1/devices', { token: server.adminToken, method: 'POST', body })).device_key;
}

/** Sends one reading, measured now, with the device's key. */
export function sendReading(server, deviceKey, deviceId, reading) {
  const measured_at = new Date().toISOString();
  return api(server, `/v1/devices/${deviceId}/readings`, {
    token: deviceKey,
    method: 'POST',
    body: { batch_id: `e2e-${Date.now()}-${Math.random()}`, readings: [{ ...reading, measured_at }] },
  });
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs` saying what was awaited. */
export async function eventually(what, check, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const result = await check();
      if (result) return result;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
