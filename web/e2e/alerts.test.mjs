// Browser tests of the alerts page against the real Watershed server (WATERSHED_BIN), run with alert
// rules of its own and no simulated fleet, so every alert is one a test raised with a reading: an alert
// shows up live, is acknowledged with the admin token the page asks for, is raised again after its rule
// cleared it and cleared by hand; filters and order stay in the address; the rules the server holds
// (GET /v1/alert-rules, admin token only) are listed once the page has the admin token, and one is
// deleted after the page asks; the page fits a phone.
// Every test fails on a console error or page error. Screenshots go to web/test-results/.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { DESKTOP, launchBrowser, newPage, PageErrors, PHONE, screenshot } from './browser.mjs';
import { api, eventually, registerDevice, sendReading, startWatershed, watershedBinary } from './watershed.mjs';

/** "Within a second or two", with room for a loaded 2-core CI machine; well under the page's 10 s poll. */
const LIVE_MS = 5000;

const RULES = `
[[rule]]
name = "boiler-hot"
sensor = "boiler"
above = 90.0
clear_at = 85.0
message = "Boiler above 90 °C"
severity = "critical"

[[rule]]
name = "low-pressure"
sensor = "pressure"
below = 1.0
clear_at = 1.2
severity = "warning"

# Never raises an alert here (no device has this kind, and the tests last less than an hour): the one
# the tests delete, so no alert is cleared by its deletion.
[[rule]]
name = "boiler-quiet"
sensor = "boiler"
silent_for = 3600.0
kind = "boiler"
severity = "info"
`;
/** The rules as the Rules table shows them (from GET /v1/alert-rules), gravest first, then by name. */
const RULE_ROWS = {
  'boiler-hot': {
    Rule: 'boiler-hot\nBoiler above 90 °C',
    Severity: 'critical',
    Scope: 'all devices',
    Sensor: 'boiler',
    Condition: 'above 90 (clears at 85)',
  },
  'low-pressure': {
    Rule: 'low-pressure',
    Severity: 'warning',
    Scope: 'all devices',
    Sensor: 'pressure',
    Condition: 'below 1 (clears at 1.2)',
  },
  'boiler-quiet': {
    Rule: 'boiler-quiet',
    Severity: 'info',
    Scope: 'kind boiler',
    Sensor: 'boiler',
    Condition: 'silent for 1 h',
  },
};
const NAME = 'Ana (on call)';

// Fail fast, before starting anything, when the binary or the build is missing.
watershedBinary();

let rulesDir;
let server;
let browser;
let page;
let boilerKey;
const errors = new PageErrors();

/** The alert rows on the page, in order. */
const rowsOnPage = () =>
  page.$$eval('.alert-table tbody tr', (rows) =>
    rows.map((row) => ({ id: row.dataset.alertId, rule: row.dataset.rule, state: row.dataset.state })),
  );

/** A row's cells by column (as rendered: the parts of a cell on lines of their own), and its buttons. */
const rowOnPage = (locator) =>
  locator.evaluate((row) => ({
    cells: Object.fromEntries([...row.cells].map((cell) => [cell.dataset.label, cell.innerText.trim()])),
    actions: [...row.querySelectorAll('button')].map((button) => button.dataset.action),
  }));

const alertRow = (id) => page.locator(`.alert-table tr[data-alert-id="${id}"]`);
const ruleRow = (name) => page.locator(`[data-testid=rules] tr[data-rule="${name}"]`);
/** The names in the Rules table, in order. */
const rulesOnPage = () => page.$$eval('[data-testid=rules] tbody tr', (rows) => rows.map((row) => row.dataset.rule));
const rulesMessage = () => page.locator('[data-testid=rules-message]');
const ruleDialog = () => page.locator('[data-testid=rule-action]');
const dialog = () => page.locator('[data-testid=alert-action]');
const submitButton = (verb) => dialog().getByRole('button', { name: verb, exact: true });
const notice = () => page.locator('[data-testid=alerts-notice]');

/** GET /v1/alert-rules, which takes the admin token only. */
const rulesInApi = () => api(server, '/v1/alert-rules', { token: server.adminToken });

/** Every alert the API lists, once `check` holds for them (the read models apply an action a moment after it). */
const alertsOnceThey = (what, check) =>
  eventually(what, async () => {
    const { alerts } = await api(server, '/v1/alerts?limit=1000');
    return check(alerts) && alerts;
  });

before(async () => {
  rulesDir = mkdtempSync(path.join(tmpdir(), 'watershed-e2e-rules-'));
  const rules = path.join(rulesDir, 'alert-rules.toml');
  writeFileSync(rules, RULES);
  server = await startWatershed({ simulate: 0, rules });
  boilerKey = await registerDevice(server, { device_id: 'boiler-1', location: 'Plant room' });
  browser = await launchBrowser();
  page = await newPage(browser, errors);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
});

afterEach(() => errors.assertNone());

describe('alerts page against the real server', () => {
  let firstId;
  let secondId;

  it('lists an alert raised while it is open, and acknowledges it with the admin token it asks for', async () => {
    // The page's own token is the read token: the server refuses it the rules, and later the acknowledgement.
    errors.expect(/status of 403/);
    await page.goto(server.dashboardUrl);
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Alerts' }).click();
    await page.locator('[data-testid=alerts-message]', { hasText: 'No active alerts.' }).waitFor();
    assert.match(page.url(), /#\/alerts$/);
    assert.equal(await page.getByRole('link', { name: 'Alerts' }).getAttribute('aria-current'), 'page');
    assert.equal(await page.title(), 'Alerts · Watershed');
    // The rules need the admin token: said, not an error, and nothing listed.
    await rulesMessage().filter({ hasText: 'The alert rules need the admin token.' }).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Enter admin token' }).isVisible());
    assert.equal((await rulesOnPage()).length, 0);

    await sendReading(server, boilerKey, 'boiler-1', { sensor: 'boiler', value: 95.5, unit: 'C' });
    const [raised] = await alertsOnceThey('the raised alert', (alerts) => alerts.length === 1);
    firstId = raised.id;
    const row = alertRow(firstId);
    await row.waitFor({ timeout: LIVE_MS });
    const { cells, actions } = await rowOnPage(row);
    const { Raised: raisedAt, ...rest } = cells;
    assert.deepEqual(rest, {
      Severity: 'critical',
      Device: 'boiler-1',
      Rule: 'boiler-hot\nBoiler above 90 °C',
      Sensor: 'boiler',
      Reading: '95.5 C\nabove 90 C',
      State: 'active',
      Handled: '–',
      Actions: 'Acknowledge\nClear',
    });
    assert.match(raisedAt, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.deepEqual(actions, ['ack', 'clear']);
    assert.equal(await row.getByRole('link', { name: 'boiler-1' }).getAttribute('href'), '#/devices/boiler-1');

    // The server refuses the read token, and the dialog asks for the admin token; a wrong one is refused too.
    errors.expect(/status of 401/);
    await row.getByRole('button', { name: 'Acknowledge boiler-hot on boiler-1' }).click();
    assert.equal(await dialog().getByRole('heading').textContent(), 'Acknowledge boiler-hot on boiler-1');
    await dialog().getByLabel('Your name').fill(NAME);
    await dialog().getByLabel('Note (optional)').fill('going to the plant room');
    await submitButton('Acknowledge').click();
    const token = dialog().getByLabel('Admin token');
    await token.waitFor();
    assert.match(await dialog().getByRole('alert').textContent(), /a read or analyst token cannot change anything/);
    await screenshot(page, 'alerts-admin-token');

    // A wrong admin token is refused in the dialog; the page keeps its own token and shows no token form.
    await token.fill('not-the-admin-token');
    await submitButton('Acknowledge').click();
    await dialog().getByRole('alert').filter({ hasText: 'did not take this admin token' }).waitFor();
    assert.equal(await page.locator('[data-testid=token-form]').count(), 0);
    assert.equal(await page.evaluate(() => localStorage.getItem('watershed.token')), server.readToken);

    await token.fill(server.adminToken);
    await submitButton('Acknowledge').click();
    await dialog().waitFor({ state: 'hidden' });
    assert.equal(await notice().textContent(), 'boiler-hot on boiler-1: acknowledged.');
    await page.locator(`tr[data-alert-id="${firstId}"][data-acknowledged=true]`).waitFor();
    const acknowledged = await rowOnPage(row);
    assert.equal(acknowledged.cells.Handled, `Acknowledged by ${NAME}: going to the plant room`);
    assert.deepEqual(acknowledged.actions, ['clear'], 'nothing left to acknowledge');
    const [listed] = await alertsOnceThey('the acknowledgement in the read models', ([a]) => a.acknowledged);
    assert.equal(listed.acknowledged_by, NAME);
    assert.equal(listed.ack_note, 'going to the plant room');

    const kept = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }, location.href]));
    assert.ok(!kept.includes(server.adminToken), 'the admin token is in no storage and not in the address');

    // With the admin token held, the Rules table lists what the server holds, gravest first, then by name.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=rules] tbody tr').length === 3);
    assert.ok(await rulesMessage().isHidden());
    const held = await rulesInApi();
    assert.deepEqual((await rulesOnPage()).toSorted(), held.rules.map((r) => r.rule.name).toSorted(), 'the API agrees');
    assert.deepEqual(await rulesOnPage(), ['boiler-hot', 'low-pressure', 'boiler-quiet']);
    assert.equal(await page.locator('[data-testid=rules]').getAttribute('data-version'), String(held.version));
    for (const [name, cells] of Object.entries(RULE_ROWS)) {
      const shown = await rowOnPage(ruleRow(name));
      const active = name === 'boiler-hot' ? '1' : '0';
      assert.deepEqual(shown, { cells: { ...cells, Active: active, Actions: 'Delete' }, actions: ['delete'] }, name);
    }
    await screenshot(page, 'alerts-desktop');
  });

  it('clears by hand an alert its rule raised again, and says who cleared it', async () => {
    // Back under clear_at: the rule clears the first alert, and the active list empties live.
    await sendReading(server, boilerKey, 'boiler-1', { sensor: 'boiler', value: 80, unit: 'C' });
    await alertRow(firstId).waitFor({ state: 'detached', timeout: LIVE_MS });
    await page.locator('[data-testid=alerts-message]', { hasText: 'No active alerts.' }).waitFor();

    await sendReading(server, boilerKey, 'boiler-1', { sensor: 'boiler', value: 97.25, unit: 'C' });
    const [again] = await alertsOnceThey('the alert raised again', (alerts) => alerts.length === 2);
    secondId = again.id;
    assert.notEqual(secondId, firstId);
    const row = alertRow(secondId);
    await row.waitFor({ timeout: LIVE_MS });

    await row.getByRole('button', { name: 'Clear boiler-hot on boiler-1' }).click();
    assert.equal(await dialog().getByLabel('Your name').inputValue(), NAME, 'the name given last, for this tab');
    assert.ok(await dialog().getByLabel('Admin token').isHidden(), 'the admin token is held for this tab');
    await dialog().getByLabel('Note (optional)').fill('valve reset');
    await submitButton('Clear').click();
    await dialog().waitFor({ state: 'hidden' });
    assert.equal(await notice().textContent(), 'boiler-hot on boiler-1: cleared.');
    // Cleared, it leaves the active alerts; all of them show it, and the first one as its rule cleared it.
    await row.waitFor({ state: 'detached' });
    await page.selectOption('select[name=state]', 'all');
    assert.match(page.url(), /#\/alerts\?state=all$/);
    await row.waitFor();
    const byHand = await rowOnPage(row);
    assert.match(byHand.cells.State, /^cleared by hand\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal(byHand.cells.Handled, `Cleared by ${NAME}: valve reset`);
    assert.deepEqual(byHand.actions, ['ack'], 'cleared, but nobody acknowledged it');
    const byRule = await rowOnPage(alertRow(firstId));
    assert.match(byRule.cells.State, /^cleared by its rule at 80 C\n/);
    assert.deepEqual(byRule.actions, []);
    assert.deepEqual(
      (await rowsOnPage()).map((r) => r.id),
      [secondId, firstId],
      'newest first',
    );

    const alerts = await alertsOnceThey('the manual clear in the read models', (all) =>
      all.some((a) => a.id === secondId && a.state === 'cleared'),
    );
    const cleared = alerts.find((a) => a.id === secondId);
    assert.deepEqual([cleared.clear_reason, cleared.cleared_by, cleared.clear_note], ['manual', NAME, 'valve reset']);
    await page.locator('[data-testid=rules] tr[data-rule="boiler-hot"][data-active="0"]').waitFor();
    await screenshot(page, 'alerts-cleared');
  });

  it('filters by acknowledgement, severity and device, sorts by severity, and keeps them in the address', async () => {
    await sendReading(server, boilerKey, 'boiler-1', { sensor: 'pressure', value: 0.6, unit: 'bar' });
    await page.locator('.alert-table tr[data-rule="low-pressure"]').waitFor({ timeout: LIVE_MS });
    const order = async () => (await rowsOnPage()).map((r) => r.rule);
    assert.deepEqual(await order(), ['low-pressure', 'boiler-hot', 'boiler-hot'], 'newest first');

    await page.selectOption('select[name=sort]', 'severity');
    assert.deepEqual(await order(), ['boiler-hot', 'boiler-hot', 'low-pressure'], 'critical first');
    assert.deepEqual((await rowsOnPage()).map((r) => r.id).slice(0, 2), [secondId, firstId], 'then newest first');
    await page.selectOption('select[name=acknowledged]', 'no');
    await page.waitForFunction(() => document.querySelectorAll('.alert-table tbody tr').length === 2);
    assert.deepEqual(await order(), ['boiler-hot', 'low-pressure'], 'nobody acknowledged these two');
    assert.equal((await rowsOnPage())[0].id, secondId);
    await page.selectOption('select[name=severity]', 'warning');
    await page.waitForFunction(() => document.querySelectorAll('.alert-table tbody tr').length === 1);
    assert.deepEqual(await order(), ['low-pressure']);
    assert.match(page.url(), /#\/alerts\?state=all&acknowledged=false&severity=warning&sort=severity$/);

    // A reload forgets the admin token: the rules are asked for with the read token again, and refused.
    errors.expect(/status of 403/);
    await page.reload();
    await page.locator('.alert-table tr[data-rule="low-pressure"]').waitFor();
    assert.deepEqual(await order(), ['low-pressure'], 'the same filter after a reload');
    for (const [name, value] of [
      ['state', 'all'],
      ['acknowledged', 'no'],
      ['severity', 'warning'],
      ['sort', 'severity'],
    ]) {
      assert.equal(await page.locator(`select[name=${name}]`).inputValue(), value, name);
    }

    await page.selectOption('select[name=severity]', 'any');
    await page.selectOption('select[name=acknowledged]', 'any');
    const device = page.locator('input[name=device]');
    await device.fill('boiler-2');
    await device.press('Enter');
    await page.locator('[data-testid=alerts-message]', { hasText: 'No alerts match these filters.' }).waitFor();
    assert.match(page.url(), /device=boiler-2/);
    // The server's own words for an id it cannot take.
    errors.expect(/status of 400/);
    await device.fill('boiler 1');
    await device.press('Enter');
    await page.locator('[data-testid=alerts-message]', { hasText: /^Could not load alerts: contains ' '/ }).waitFor();
    await device.fill('boiler-1');
    await device.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('.alert-table tbody tr').length === 3);
    assert.ok(await page.locator('[data-testid=alerts-message]').isHidden());
    await rulesMessage().filter({ hasText: 'The alert rules need the admin token.' }).waitFor();
  });

  it('shows the rules once given the admin token, and deletes one after asking', async () => {
    // After the reload above the page holds no admin token: it is asked for here.
    await page.getByRole('button', { name: 'Enter admin token' }).click();
    assert.equal(await ruleDialog().getByRole('heading').textContent(), 'Show the alert rules');
    await ruleDialog().getByLabel('Admin token').fill(server.adminToken);
    await ruleDialog().getByRole('button', { name: 'Show rules', exact: true }).click();
    await ruleDialog().waitFor({ state: 'hidden' });
    await ruleRow('boiler-quiet').waitFor();
    assert.deepEqual(await rulesOnPage(), ['boiler-hot', 'low-pressure', 'boiler-quiet']);
    assert.equal(await ruleRow('low-pressure').getAttribute('data-active'), '1', 'its alert is active');
    const before = await rulesInApi();

    // Cancel leaves it be.
    const remove = page.getByRole('button', { name: 'Delete rule boiler-quiet' });
    await remove.click();
    assert.equal(await ruleDialog().getByRole('heading').textContent(), 'Delete rule boiler-quiet');
    assert.match(await ruleDialog().locator('p').first().textContent(), /^boiler silent for 1 h, kind boiler\./);
    assert.ok(await ruleDialog().getByLabel('Admin token').isHidden(), 'the admin token is held');
    await screenshot(page, 'alerts-rule-delete');
    await ruleDialog().getByRole('button', { name: 'Cancel' }).click();
    await ruleDialog().waitFor({ state: 'hidden' });
    assert.ok(await ruleRow('boiler-quiet').isVisible());
    assert.ok(
      (await rulesInApi()).rules.some((r) => r.rule.name === 'boiler-quiet'),
      'not deleted',
    );

    await remove.click();
    await ruleDialog().getByRole('button', { name: 'Delete', exact: true }).click();
    await ruleDialog().waitFor({ state: 'hidden' });
    await ruleRow('boiler-quiet').waitFor({ state: 'detached' });
    assert.equal(await notice().textContent(), 'Rule boiler-quiet deleted.');
    assert.deepEqual(await rulesOnPage(), ['boiler-hot', 'low-pressure']);
    const after = await rulesInApi();
    assert.deepEqual(after.rules.map((r) => r.rule.name).toSorted(), ['boiler-hot', 'low-pressure']);
    assert.ok(after.version > before.version, `the rules' version moved on from ${before.version}`);
    // It stays gone through the next polls.
    await page.waitForFunction(
      (version) => document.querySelector('[data-testid=rules]').dataset.version === String(version),
      after.version,
    );
    assert.deepEqual(await rulesOnPage(), ['boiler-hot', 'low-pressure']);
  });

  it('fits a phone screen', async () => {
    await page.setViewportSize(PHONE);
    await page.locator('.alert-table tbody tr').first().waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `the alerts page is ${width}px wide, no sideways scrolling`);
    await screenshot(page, 'alerts-phone');
    await page.setViewportSize(DESKTOP);
  });
});
