// Browser tests of the dashboard against the real Watershed server (WATERSHED_BIN): the fleet overview,
// a device page, live updates over SSE (and after the server restarts), phone width, the token form, and
// the read models' generation across a real `watershed rebuild read-models`.
// Every test fails on a console error or page error. Screenshots go to web/test-results/.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { DESKTOP, launchBrowser, newPage as openPage, PageErrors, PHONE, screenshot } from './browser.mjs';
import { api, eventually, runWatershed, sendReading as sendTo, startWatershed, watershedBinary } from './watershed.mjs';

/** "Within a second or two", with room for a loaded 2-core CI machine. */
const LIVE_MS = 5000;
/** The page polls /v1/status every 5 s (src/app.ts STATUS_POLL_MS); twice that, with room. */
const STATUS_MS = 12_000;

// Fail fast, before starting anything, when the binary or the build is missing.
watershedBinary();

let server;
let browser;
let page;
const errors = new PageErrors();

const newPage = (viewport) => openPage(browser, errors, viewport);

const shot = (name) => screenshot(page, name);

/** Every row of the fleet table as the page shows it. */
const rowsOnPage = () =>
  page.$$eval('tr[data-device-id]', (rows) =>
    rows.map((row) => ({
      id: row.dataset.deviceId,
      status: row.dataset.status,
      alerts: Number(row.querySelector('td.alerts').textContent),
      sensors: [...row.querySelectorAll('.sensor')].map((cell) => ({
        sensor: cell.dataset.sensor,
        value: Number(cell.dataset.value),
        measuredAt: cell.dataset.measuredAt,
        text: cell.querySelector('.value').textContent,
      })),
    })),
  );

const row = (id) => page.locator(`tr[data-device-id="${id}"]`);

const sendReading = (deviceKey, deviceId, reading) => sendTo(server, deviceKey, deviceId, reading);

before(async () => {
  server = await startWatershed({ simulate: 3 });
  await eventually('3 simulated devices with readings', async () => {
    const { devices } = await api(server, '/v1/devices');
    return devices.length === 3 && devices.every((d) => d.sensors.length > 0);
  });
  browser = await launchBrowser();
  page = await newPage();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

afterEach(() => errors.assertNone());

describe('dashboard against the real server', () => {
  let probeKey;

  it('shows every device with the sensors and latest values the API reports', async () => {
    const { devices: before } = await api(server, '/v1/devices');
    await page.goto(server.dashboardUrl);
    await page
      .locator('tr[data-device-id]')
      .nth(before.length - 1)
      .waitFor();
    // Give each sensor cell its value (they fill from the same answer as the rows, so this is at once).
    await page.waitForFunction(() => [...document.querySelectorAll('.sensor')].every((c) => c.dataset.value));
    const shown = await rowsOnPage();
    const { devices: afterwards } = await api(server, '/v1/devices');

    assert.deepEqual(
      shown.map((r) => r.id),
      before.map((d) => d.device_id),
      'device ids, sorted by id',
    );
    for (const [i, device] of before.entries()) {
      const later = afterwards[i];
      assert.deepEqual(
        shown[i].sensors.map((s) => s.sensor),
        device.sensors.map((s) => s.sensor),
        `sensors of ${device.device_id}`,
      );
      assert.equal(shown[i].status, 'online', `${device.device_id} is online`);
      for (const cell of shown[i].sensors) {
        // Values change every second: what the page shows must be no older than the API's answer before
        // the page loaded and no newer than its answer after; when it is that latest reading, it is equal.
        const first = device.sensors.find((s) => s.sensor === cell.sensor);
        const last = later.sensors.find((s) => s.sensor === cell.sensor);
        const at = Date.parse(cell.measuredAt);
        assert.ok(
          at >= Date.parse(first.measured_at) && at <= Date.parse(last.measured_at),
          `${device.device_id}/${cell.sensor} at ${cell.measuredAt}`,
        );
        if (at === Date.parse(last.measured_at)) assert.equal(cell.value, last.value);
        if (first.unit) assert.match(cell.text, new RegExp(` ${first.unit}$`));
      }
    }

    // Open alerts can be raised or cleared while the page loads: compare where both answers agree.
    for (const [i, device] of before.entries()) {
      if (device.open_alerts === afterwards[i].open_alerts) {
        assert.equal(shown[i].alerts, device.open_alerts, `open alerts of ${device.device_id}`);
      }
    }
    // Read together, so an alert raised in between cannot split them.
    const [total, cells] = await page.evaluate(() => [
      document.querySelector('[data-testid=fleet-alerts]').textContent,
      [...document.querySelectorAll('tr[data-device-id] td.alerts')].map((cell) => Number(cell.textContent)),
    ]);
    const openAlerts = cells.reduce((sum, count) => sum + count, 0);
    assert.equal(
      total,
      openAlerts === 0 ? 'no open alerts' : `${openAlerts} open ${openAlerts === 1 ? 'alert' : 'alerts'}`,
      'the fleet total is the sum of the rows',
    );

    assert.ok(!page.url().includes(server.readToken), 'the token is gone from the address bar');
    assert.equal(await page.evaluate(() => localStorage.getItem('watershed.token')), server.readToken);
    await page.waitForFunction(() => document.querySelector('[data-testid=live]').dataset.state === 'live');
    assert.match(
      await page.textContent('[data-testid=lag]'),
      /^projections (up to date|\S+( \S+)* behind \([\d,]+ events?\))$/,
    );
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.spark')].every((s) => Number(s.dataset.points) > 0),
    );
    await shot('overview-desktop');
  });

  it('shows a device registered now, and its first reading, without a reload', async () => {
    await page.evaluate(() => (window.notReloaded = true));
    const probe = await api(server, '/v1/devices', {
      token: server.adminToken,
      method: 'POST',
      body: { device_id: 'e2e-probe', name: 'E2E probe', kind: 'probe', location: 'E2E Lab' },
    });
    probeKey = probe.device_key;
    await api(server, '/v1/devices', {
      token: server.adminToken,
      method: 'POST',
      body: { device_id: 'e2e-quiet', name: null, kind: null, location: 'E2E Lab' },
    });

    await row('e2e-probe').waitFor({ timeout: LIVE_MS });
    assert.equal(await row('e2e-probe').getAttribute('data-status'), 'silent', 'no readings yet');
    assert.match(await row('e2e-probe').textContent(), /E2E Lab/);

    await sendReading(probeKey, 'e2e-probe', { sensor: 'pressure', value: 777.7, unit: 'kPa' });
    const cell = row('e2e-probe').locator('.sensor[data-sensor=pressure]');
    await cell.and(page.locator('[data-value="777.7"]')).waitFor({ timeout: LIVE_MS });
    assert.equal(await cell.locator('.value').textContent(), '777.7 kPa');
    await page.waitForFunction(
      () => document.querySelector('tr[data-device-id="e2e-probe"]').dataset.status === 'online',
      null,
      { timeout: LIVE_MS },
    );
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  });

  it('filters by text and open alerts and sorts by id, last seen, status and alerts, keeping them in the address', async () => {
    const ids = async () => (await rowsOnPage()).map((r) => r.id);
    await page.fill('input[type=search]', 'e2e lab');
    assert.deepEqual(await ids(), ['e2e-probe', 'e2e-quiet']);
    assert.match(page.url(), /#\/\?q=e2e\+lab$/);
    await page.fill('input[type=search]', 'sim-0002');
    assert.deepEqual(await ids(), ['sim-0002']);
    await page.fill('input[type=search]', '');

    await page.selectOption('select[name=sort]', 'status');
    assert.equal((await ids())[0], 'e2e-quiet', 'the silent device leads');
    assert.match(page.url(), /sort=status/);
    await page.selectOption('select[name=sort]', 'last_seen');
    assert.equal((await ids()).at(-1), 'e2e-quiet', 'a device never seen comes last');
    await page.selectOption('select[name=sort]', 'alerts');
    const counts = (await rowsOnPage()).map((r) => r.alerts);
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => b - a),
      'most open alerts first',
    );
    await page.selectOption('select[name=sort]', 'id');
    assert.deepEqual(await ids(), [...(await ids())].sort());

    await page.check('.alerts-only input');
    assert.match(page.url(), /alerts=open/);
    assert.ok(
      (await rowsOnPage()).every((r) => r.alerts > 0),
      'only devices with open alerts',
    );
    await page.uncheck('.alerts-only input');
    assert.doesNotMatch(page.url(), /alerts=/);
    assert.ok((await ids()).includes('e2e-quiet'), 'every device again');
  });

  it('shows tags as chips and filters by them, and a device disabled and enabled again, live', async () => {
    const ids = async () => (await rowsOnPage()).map((r) => r.id);
    const admin = server.adminToken;
    await api(server, '/v1/devices/e2e-quiet', {
      token: admin,
      method: 'PATCH',
      body: { tags: ['site=berlin', 'line-3'] },
    });
    const chips = row('e2e-quiet').locator('.tags');
    await chips.and(page.locator('[data-tags="line-3 site=berlin"]')).waitFor({ timeout: LIVE_MS });
    assert.deepEqual(await chips.locator('.tag').allTextContents(), ['line-3', 'site=berlin'], 'sorted, as the API');

    // A tag chosen in the select, or a chip clicked, leaves the devices carrying it, and stays in the address.
    await page.selectOption('select[name=tag]', 'line-3');
    assert.deepEqual(await ids(), ['e2e-quiet']);
    assert.match(page.url(), /tag=line-3/);
    await page.reload();
    await row('e2e-quiet').waitFor();
    assert.deepEqual(await ids(), ['e2e-quiet'], 'the same filter after a reload');
    await page.selectOption('select[name=tag]', '');
    assert.doesNotMatch(page.url(), /tag=/);
    await chips.locator('.tag', { hasText: 'site=berlin' }).click();
    assert.deepEqual(await ids(), ['e2e-quiet']);
    assert.match(page.url(), /tag=site%3Dberlin/);
    await page.selectOption('select[name=tag]', '');

    await api(server, '/v1/devices/e2e-quiet/disable', {
      token: admin,
      method: 'POST',
      body: { reason: 'maintenance' },
    });
    await page.waitForFunction(
      () => document.querySelector('tr[data-device-id="e2e-quiet"]').dataset.status === 'disabled',
      null,
      { timeout: LIVE_MS },
    );
    assert.equal(await row('e2e-quiet').locator('.badge').textContent(), 'disabled');
    await shot('overview-tags-disabled');

    // Its page: the tags, since when it is disabled, and the registry's events in words.
    await page.click('a[href="#/devices/e2e-quiet"]');
    const note = page.locator('[data-testid=disabled]');
    await note.waitFor();
    assert.match(await note.textContent(), /^disabled since \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(/);
    assert.deepEqual(await page.locator('[data-testid=tags] .tag').allTextContents(), ['line-3', 'site=berlin']);
    const summary = (seq) => page.textContent(`[data-testid=events] tr[data-seq="${seq}"] td[data-label=Summary]`);
    await page.locator('[data-testid=events] tr[data-seq="3"]').waitFor({ timeout: 10_000 });
    assert.equal(await summary(2), 'tags: line-3, site=berlin');
    assert.equal(await summary(3), 'disabled: maintenance');
    await shot('device-disabled');

    await api(server, '/v1/devices/e2e-quiet/enable', { token: admin, method: 'POST' });
    await page.waitForFunction(() => document.querySelector('.device-head .badge').textContent === 'silent', null, {
      timeout: LIVE_MS,
    });
    assert.ok(await note.isHidden(), 'no disabled time once enabled');
    await page.locator('[data-testid=events] tr[data-seq="4"]').waitFor({ timeout: 10_000 });
    assert.equal(await summary(4), 'enabled');
    // Back to the fleet, where the next test starts.
    await page.goBack();
    await row('e2e-quiet').waitFor();
  });

  it('opens a device with one chart per sensor, drawn with data, and its latest events', async () => {
    const { devices } = await api(server, '/v1/devices');
    const device = devices.find((d) => d.device_id === 'sim-0001');
    // Asked before the page opens: the simulator keeps appending, so the page can only know newer events.
    const { events } = await api(server, '/v1/devices/sim-0001/events?limit=5');
    await page.click('a[href="#/devices/sim-0001"]');
    await page.waitForFunction(
      (count) => {
        const charts = [...document.querySelectorAll('[data-sensor-chart]')];
        return (
          charts.length === count && charts.every((c) => Number(c.dataset.points) > 0 && c.querySelector('canvas'))
        );
      },
      device.sensors.length,
      { timeout: 10_000 },
    );
    const charts = await page.$$eval('[data-sensor-chart]', (all) =>
      all.map((c) => ({ sensor: c.dataset.sensorChart, resolution: c.dataset.resolution })),
    );
    assert.deepEqual(charts.map((c) => c.sensor).sort(), device.sensors.map((s) => s.sensor).sort());
    assert.ok(
      charts.every((c) => c.resolution === 'raw'),
      'the last hour is drawn from raw readings',
    );

    // The open alerts the API reports, by rule, oldest first; a quiet line when there are none.
    await page.locator('[data-testid=alerts]:not([hidden])').waitFor();
    await eventually('the open alerts the API reports', async () => {
      const { alerts } = await api(server, '/v1/devices/sim-0001');
      const rules = await page.$$eval('[data-testid=alerts] li', (items) => items.map((li) => li.dataset.rule));
      return JSON.stringify(rules) === JSON.stringify(alerts.map((a) => a.rule));
    });
    if ((await page.locator('[data-testid=alerts] li').count()) === 0) {
      assert.equal(await page.textContent('[data-testid=alerts] p'), 'No open alerts.');
    }

    await page.locator('[data-testid=events] tbody tr').first().waitFor();
    const seqs = await page.$$eval('[data-testid=events] tbody tr', (rows) => rows.map((r) => Number(r.dataset.seq)));
    assert.ok(seqs[0] >= events[0].stream_seq, 'the newest event is listed first');
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => b - a),
    );
    assert.match(await page.textContent('[data-testid=events] tbody tr'), /ReadingsRecorded.*\d+ readings?, batch /);

    // Hovering shows the exact time and value under the cursor (the newest data is at the right edge).
    const canvas = page.locator('[data-sensor-chart] .u-over').first();
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
    const legend = await page.locator('[data-sensor-chart] .u-legend').first().textContent();
    assert.match(legend, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
    assert.match(legend, /\d+(\.\d+)? \S+/);
    await shot('device-desktop');

    for (const [range, resolution] of [
      ['24h', '1m'],
      ['7d', '1h'],
      ['15m', 'raw'],
    ]) {
      await page.click(`button[data-range="${range}"]`);
      await page.waitForFunction(
        (wanted) =>
          [...document.querySelectorAll('[data-sensor-chart]')].every(
            (c) => c.dataset.resolution === wanted && Number(c.dataset.points) > 0,
          ),
        resolution,
      );
      assert.match(page.url(), new RegExp(`range=${range}$`));
    }
  });

  it('adds a new reading to the device page live', async () => {
    await page.evaluate(() => (location.hash = '#/devices/e2e-probe'));
    const chart = page.locator('[data-sensor-chart=pressure]');
    await page.waitForFunction(() => document.querySelector('[data-sensor-chart=pressure]')?.dataset.points === '1');
    await sendReading(probeKey, 'e2e-probe', { sensor: 'pressure', value: 778.8, unit: 'kPa' });
    await page.waitForFunction(
      () => document.querySelector('[data-sensor-chart=pressure]')?.dataset.points === '2',
      null,
      { timeout: LIVE_MS },
    );
    assert.equal(await page.getAttribute('.sensor-card[data-sensor=pressure]', 'data-value'), '778.8');
    assert.equal(await chart.locator('canvas').count(), 1);
    // The events table follows too (it refreshes at most every few seconds).
    await page.locator('[data-testid=events] tbody tr[data-seq="3"]').waitFor({ timeout: 10_000 });
  });

  it('fits a phone screen', async () => {
    await page.setViewportSize(PHONE);
    for (const [hash, name] of [
      ['#/', 'overview-phone'],
      ['#/devices/sim-0001', 'device-phone'],
    ]) {
      await page.evaluate((h) => (location.hash = h), hash);
      await page.waitForFunction(() => document.querySelector('tr[data-device-id], [data-sensor-chart] canvas'));
      await page.waitForFunction(() =>
        [...document.querySelectorAll('[data-sensor-chart]')].every((c) => Number(c.dataset.points) > 0),
      );
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= PHONE.width, `${hash} is ${width}px wide, no sideways scrolling`);
      await shot(name);
    }
    await page.setViewportSize(DESKTOP);
  });

  it('asks for a token when none is saved, and again when the server rejects it', async () => {
    const fresh = await newPage();
    await fresh.goto(server.baseUrl);
    await fresh.locator('[data-testid=token-form]').waitFor();
    await fresh.fill('#token', server.readToken);
    await fresh.click('button[type=submit]');
    await fresh.locator('tr[data-device-id="sim-0001"]').waitFor();

    const rejected = await newPage();
    // The browser itself reports the refused request on the console; that one message is expected here.
    errors.expect(/status of 401/);
    await rejected.goto(`${server.baseUrl}/#token=not-the-token`);
    await rejected.locator('[data-testid=token-form] [role=alert]').waitFor();
    assert.equal(
      await rejected.evaluate(() => localStorage.getItem('watershed.token')),
      null,
      'the rejected token is forgotten',
    );
    await fresh.context().close();
    await rejected.context().close();
  });

  it("shows the read models' generation, a rebuild in progress, and the new generation after a real rebuild", async () => {
    await page.evaluate(() => (location.hash = '#/'));
    await row('e2e-probe').waitFor();
    const readModels = page.locator('[data-testid=read-models]');
    await readModels.and(page.locator('[data-generation="1"]')).waitFor();
    assert.equal(await readModels.textContent(), 'read models: generation 1');
    assert.equal(await readModels.getAttribute('title'), 'as first built: never rebuilt');

    // A rebuild of this small history is over between two polls, so its progress is shown here from the
    // server's own answer with a rebuild added (as `GET /v1/status` reports one), not from a real one.
    await page.route('**/v1/status', async (route) => {
      const response = await route.fetch();
      const status = await response.json();
      const now = new Date().toISOString();
      status.read_models.rebuild = {
        generation: 2,
        phase: 'building',
        applied_events: 1200,
        history_events: 5000,
        started_at: now,
        heartbeat_at: now,
      };
      await route.fulfill({ response, json: status });
    });
    await readModels.and(page.locator('[data-state=rebuilding]')).waitFor({ timeout: STATUS_MS });
    assert.equal(
      await readModels.textContent(),
      'Rebuilding read models: generation 2, 24 % (1,200 of 5,000 events), building',
    );
    await page.unroute('**/v1/status');
    await readModels.and(page.locator('[data-state=current]')).waitFor({ timeout: STATUS_MS });

    // The real thing, beside the running server and its simulated fleet: the command line an operator runs.
    const rebuild = await runWatershed([
      'rebuild',
      'read-models',
      '--data-dir',
      server.dataDir,
      '--grace-seconds',
      '2',
    ]);
    assert.equal(rebuild.code, 0, `rebuild failed:\n${rebuild.stderr}`);
    assert.match(rebuild.stdout, /^rebuild: generation 2 answers, built from \d+ events; generation 1 is removed$/m);
    await readModels.and(page.locator('[data-generation="2"]')).waitFor({ timeout: STATUS_MS });
    assert.equal(await readModels.textContent(), 'read models: generation 2');
    assert.match(
      await readModels.getAttribute('title'),
      /^generation 2 rebuilt \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} from [\d,]+ events in \S+/,
    );

    // The server follows the new generation: a reading sent now is projected into it and shown live.
    await page.evaluate(() => (window.notReloaded = true));
    await sendReading(probeKey, 'e2e-probe', { sensor: 'pressure', value: 780.8, unit: 'kPa' });
    await row('e2e-probe').locator('.sensor[data-sensor=pressure][data-value="780.8"]').waitFor({ timeout: LIVE_MS });
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
    await shot('read-models-rebuilt');
  });

  it('says reconnecting while the server is down and goes on live when it is back', async () => {
    await page.evaluate(() => (location.hash = '#/'));
    await row('e2e-probe').waitFor();
    await page.evaluate(() => (window.notReloaded = true));
    const port = new URL(server.baseUrl).port;
    const { adminToken, readToken, dataDir } = server;
    // Failed requests while the server is down are the browser's console messages, not the page's.
    errors.expect(/net::ERR_/);
    await server.stop({ signal: 'SIGKILL', keepData: true });
    await page.waitForFunction(() => document.querySelector('[data-testid=live]').textContent === 'reconnecting…');

    server = await startWatershed({
      simulate: 0,
      dataDir,
      listen: `127.0.0.1:${port}`,
      args: ['--admin-token', adminToken, '--read-token', readToken],
    });
    await page.waitForFunction(() => document.querySelector('[data-testid=live]').dataset.state === 'live', null, {
      timeout: 45_000,
    });
    await sendReading(probeKey, 'e2e-probe', { sensor: 'pressure', value: 779.9, unit: 'kPa' });
    await row('e2e-probe').locator('.sensor[data-sensor=pressure][data-value="779.9"]').waitFor({ timeout: LIVE_MS });
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  });
});
