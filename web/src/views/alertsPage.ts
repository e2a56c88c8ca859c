/**
 * The alerts: every alert the filter lets through (active ones by default), newest or gravest first,
 * each with Acknowledge and Clear while they apply, and below them the alert rules (for the admin token).
 * The filter and order stay in the address. The live stream says when a device's alerts open or close,
 * which refreshes the list; acknowledgements are not announced there, so it is also polled gently.
 */

import { ACTION_WORDS, applyAccepted, stillPending, type Accepted } from '../alertActions';
import {
  alertQuery,
  DEFAULT_FILTER,
  filterParams,
  matchesFilter,
  nothingListed,
  parseAlertFilter,
  sortAlerts,
  type AlertFilter,
} from '../alertFilter';
import { describeError, isUnauthorized, type ApiClient } from '../api/client';
import { SEVERITIES, type Alert, type AlertAction, type AlertActionDone, type AlertActionRequest } from '../api/types';
import type { Operator } from '../auth/operator';
import { el, setText } from '../dom';
import type { LiveUpdate } from '../live/stream';
import { alertsHref } from '../routes';
import { AlertActionDialog } from './alertActionDialog';
import { ALERT_COLUMNS, alertRow } from './alertRow';
import { RulesTable } from './rulesTable';
import type { View } from './view';

/** For what the live stream does not announce: acknowledgements, by anyone. */
const POLL_MS = 10_000;
/** A device event (alerts opened or closed) refreshes the list this soon: once for a burst of them. */
const LIVE_REFRESH_MS = 300;
/** Alerts listed at most (the server's default); the page says so when there may be more. */
const LIST_LIMIT = 100;
/** Every active alert, for the rules' counts whatever the filter: the most the server lists. */
const ACTIVE_LIMIT = 1000;

export class AlertsView implements View {
  readonly element: HTMLElement;
  readonly ready: Promise<void>;
  private filter: AlertFilter;
  /** As the server last listed them: the filter's alerts, and every active one. */
  private listed: Alert[] = [];
  private active: Alert[] = [];
  /** This page's actions the server accepted, shown until the list has them. */
  private accepted: Accepted[] = [];
  private loaded = false;
  private loadError: string | null = null;
  /** Bumped by each load, so an answer to an earlier filter (or a slower poll) is dropped. */
  private generation = 0;
  /** Rows by alert id, kept while the alert is unchanged so a poll does not take the focus from a button. */
  private rows = new Map<string, { key: string; element: HTMLTableRowElement }>();
  private readonly body = el('tbody');
  private readonly table = el(
    'table',
    { class: 'alert-table', hidden: true },
    el('thead', {}, el('tr', {}, ...ALERT_COLUMNS.map((h) => el('th', { scope: 'col' }, h)))),
    this.body,
  );
  private readonly summary = el('p', { class: 'summary muted', 'data-testid': 'alerts-summary' });
  /** What became of the last action, for everyone (it is written only when there is news). */
  private readonly notice = el('p', { class: 'notice', role: 'status', 'data-testid': 'alerts-notice' });
  private readonly message = el('p', { class: 'message', 'data-testid': 'alerts-message' }, 'Loading alerts…');
  private readonly devices = el('datalist', { id: 'alert-devices' });
  private readonly rules: RulesTable;
  private readonly dialog: AlertActionDialog;
  private readonly pollTimer: number;
  private liveTimer: number | undefined;

  constructor(
    private readonly api: ApiClient,
    operator: Operator,
    params: URLSearchParams,
  ) {
    this.filter = parseAlertFilter(params);
    this.dialog = new AlertActionDialog(api, operator, (alert, action, request, answer) =>
      this.done(alert, action, request, answer),
    );
    this.rules = new RulesTable(api, operator, (name) => this.ruleDeleted(name));
    document.title = 'Alerts · Watershed';
    this.element = el(
      'section',
      { class: 'alerts-page' },
      this.controls(),
      this.notice,
      this.summary,
      this.message,
      this.table,
      this.rules.element,
      this.dialog.element,
    );
    this.ready = this.load();
    this.pollTimer = window.setInterval(() => void this.load(), POLL_MS);
  }

  live(update: LiveUpdate): void {
    // Readings never change the list by themselves: the alerts they raise or clear come as a device event.
    if (update.type !== 'device' || this.liveTimer !== undefined) return;
    this.liveTimer = window.setTimeout(() => {
      this.liveTimer = undefined;
      void this.load();
    }, LIVE_REFRESH_MS);
  }

  resync(): void {
    void this.load();
  }

  destroy(): void {
    window.clearInterval(this.pollTimer);
    window.clearTimeout(this.liveTimer);
    this.dialog.element.close();
    this.rules.close();
  }

  private controls(): HTMLElement {
    const choose = <T extends string>(label: string, current: T, options: [T, string][], pick: (value: T) => void) => {
      const select = el(
        'select',
        { name: label.toLowerCase() },
        ...options.map(([value, text]) => el('option', { value, selected: value === current }, text)),
      );
      select.addEventListener('change', () => pick(select.value as T));
      return el('label', {}, `${label} `, select);
    };
    const { state, acknowledged, severity, device, sort } = this.filter;
    const deviceInput = el('input', {
      type: 'search',
      name: 'device',
      list: 'alert-devices',
      placeholder: 'any device',
      spellcheck: 'false',
      value: device ?? '',
    });
    // On Enter or leaving the field, not on every key: each change asks the server.
    deviceInput.addEventListener('change', () => this.setFilter({ device: deviceInput.value.trim() || null }));
    const form = el(
      'form',
      { class: 'alert-filters', role: 'search', 'aria-label': 'Filter alerts' },
      choose(
        'State',
        state,
        [
          ['active', 'active'],
          ['cleared', 'cleared'],
          ['all', 'all'],
        ],
        (value) => this.setFilter({ state: value }),
      ),
      choose(
        'Acknowledged',
        acknowledged === null ? 'any' : acknowledged ? 'yes' : 'no',
        [
          ['any', 'any'],
          ['yes', 'yes'],
          ['no', 'no'],
        ],
        (value) => this.setFilter({ acknowledged: value === 'any' ? null : value === 'yes' }),
      ),
      choose(
        'Severity',
        severity ?? 'any',
        [['any', 'any'], ...SEVERITIES.map((s): [string, string] => [s, s])],
        (value) => this.setFilter({ severity: SEVERITIES.find((s) => s === value) ?? null }),
      ),
      el('label', {}, 'Device ', deviceInput),
      this.devices,
      choose(
        'Sort',
        sort,
        [
          ['raised', 'newest first'],
          ['severity', 'severity, critical first'],
        ],
        (value) => this.setFilter({ sort: value }),
      ),
    );
    // Enter in the device field submits the form: apply it there instead of leaving the page.
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.setFilter({ device: deviceInput.value.trim() || null });
    });
    return el('div', { class: 'controls' }, el('h1', {}, 'Alerts'), form);
  }

  /** Takes a change of filter or order into the address, then asks the server again or just reorders. */
  private setFilter(change: Partial<AlertFilter>): void {
    const before = alertQuery(this.filter, LIST_LIMIT).toString();
    this.filter = { ...this.filter, ...change };
    history.replaceState(history.state, '', alertsHref(filterParams(this.filter)));
    if (alertQuery(this.filter, LIST_LIMIT).toString() !== before) {
      // The rows shown answer the old filter: gone until the new answer, so they are not taken for it.
      this.listed = [];
      this.loaded = false;
      this.loadError = null;
      void this.loadAlerts();
    }
    this.render();
  }

  /** The alerts and the rules; a failure of either is shown on its own. */
  private async load(): Promise<void> {
    await Promise.all([this.loadAlerts(), this.rules.load()]);
  }

  private async loadAlerts(): Promise<void> {
    const generation = ++this.generation;
    try {
      const [listed, active] = await Promise.all([
        this.api.alerts(alertQuery(this.filter, LIST_LIMIT)),
        this.api.alerts(alertQuery({ ...DEFAULT_FILTER, state: 'active' }, ACTIVE_LIMIT)),
      ]);
      if (generation !== this.generation) return;
      this.listed = listed;
      this.active = active;
      this.accepted = stillPending(this.accepted, [...listed, ...active], new Date());
      this.loaded = true;
      this.loadError = null;
    } catch (error) {
      // A 401 has brought up the token form; rows already shown stay, as still true if maybe not the latest.
      if (generation !== this.generation || isUnauthorized(error)) return;
      this.loadError = describeError(error);
    }
    this.render();
  }

  /** A dialog's action went through: shown at once over the list, which the read models catch up with. */
  private done(alert: Alert, action: AlertAction, request: AlertActionRequest, answer: AlertActionDone): void {
    const what = `${alert.rule} on ${alert.device_id}`;
    const { done } = ACTION_WORDS[action];
    if (answer.changed) {
      this.accepted.push({
        id: alert.id,
        action,
        by: request.by,
        note: request.note ?? null,
        at: new Date().toISOString(),
      });
      setText(this.notice, `${what}: ${done}.`);
    } else {
      setText(this.notice, `${what} was already ${done}.`);
    }
    this.render();
    void this.load();
  }

  /** A rule was deleted from this page: the server clears its active alerts, which the list shows a moment later. */
  private ruleDeleted(name: string): void {
    setText(this.notice, `Rule ${name} deleted.`);
    void this.loadAlerts();
  }

  private render(): void {
    const shown = sortAlerts(
      applyAccepted(this.listed, this.accepted).filter((alert) => matchesFilter(alert, this.filter)),
      this.filter.sort,
    );
    const rows = new Map<string, { key: string; element: HTMLTableRowElement }>();
    for (const alert of shown) {
      const key = JSON.stringify(alert);
      const kept = this.rows.get(alert.id);
      rows.set(
        alert.id,
        kept?.key === key ? kept : { key, element: alertRow(alert, (a, action) => this.dialog.open(a, action)) },
      );
    }
    this.rows = rows;
    const wanted = [...rows.values()].map((row) => row.element);
    const current = [...this.body.children];
    if (wanted.length !== current.length || wanted.some((row, i) => row !== current[i])) {
      this.body.replaceChildren(...wanted);
    }
    this.table.hidden = shown.length === 0;

    // After a change of filter the active alerts it counts are still the latest known.
    this.rules.countActive(applyAccepted([...this.listed, ...this.active], this.accepted));
    const ids = [...new Set([...this.listed, ...this.active].map((alert) => alert.device_id))].sort();
    if (ids.join('\n') !== [...this.devices.options].map((option) => option.value).join('\n')) {
      this.devices.replaceChildren(...ids.map((id) => el('option', { value: id })));
    }

    const count = `${shown.length} ${shown.length === 1 ? 'alert' : 'alerts'}`;
    setText(
      this.summary,
      this.listed.length >= LIST_LIMIT
        ? `${count}: the newest ${LIST_LIMIT} that match; narrow the filters for older ones`
        : count,
    );
    this.summary.hidden = !this.loaded;
    const message = this.loadError
      ? `Could not load alerts: ${this.loadError}`
      : !this.loaded
        ? 'Loading alerts…'
        : shown.length === 0
          ? nothingListed(this.filter)
          : '';
    this.message.hidden = !message;
    setText(this.message, message);
  }
}
