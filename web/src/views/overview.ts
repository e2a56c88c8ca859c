/**
 * The fleet overview: every device with tags, status, location, last seen, latest values with last-hour
 * sparklines and open alerts, under the fleet's open-alert total; filter (text, tag, open alerts only)
 * and sort, kept in the address so a wall screen reopens as it was.
 */

import { fleetOpenAlerts, formatAlertCount } from '../alerts';
import { describeError, isUnauthorized, type ApiClient } from '../api/client';
import type { Device } from '../api/types';
import { limitConcurrency } from '../concurrency';
import { el, setText } from '../dom';
import {
  filterDevices,
  mergeDevice,
  mergeReadings,
  nothingShownMessage,
  parseSortKey,
  sortDevices,
  tagChoices,
  withOpenAlerts,
  withTag,
  type SortKey,
} from '../fleet';
import type { LiveUpdate } from '../live/stream';
import { overviewHref } from '../routes';
import { columnsFrom } from '../series';
import { DeviceRow, SPARK_WINDOW_MS } from './deviceRow';
import type { View } from './view';

/** A full refresh now and then, a safety net for anything the live stream did not carry. */
const REFRESH_MS = 60_000;
/** Sparkline requests in flight at once; the browser allows only a few connections per host and the stream holds one. */
const SPARK_REQUESTS = 4;

const SORT_LABELS: Record<SortKey, string> = {
  id: 'id',
  last_seen: 'last seen',
  status: 'status (silent first)',
  alerts: 'open alerts (most first)',
};
/** The address parameter of the "open alerts only" filter: `#/?alerts=open`. */
const ALERTS_ONLY_PARAM = 'alerts';
const ALERTS_ONLY_VALUE = 'open';
/** The address parameter of the tag filter: `#/?tag=site%3Dberlin`. */
const TAG_PARAM = 'tag';

export class OverviewView implements View {
  readonly element: HTMLElement;
  readonly ready: Promise<void>;
  private readonly devices = new Map<string, Device>();
  private readonly rows = new Map<string, DeviceRow>();
  private readonly body = el('tbody');
  private readonly count = el('span', {});
  /** A live region: a screen reader hears the total change (it is written only when it does). */
  private readonly alertTotal = el('span', {
    class: 'fleet-alerts',
    role: 'status',
    'data-testid': 'fleet-alerts',
    title: 'open alerts of every device, whatever the filter',
  });
  private readonly summary = el(
    'p',
    { class: 'summary muted', 'data-testid': 'summary' },
    this.count,
    ' · ',
    this.alertTotal,
  );
  private readonly message = el('p', { class: 'message', 'data-testid': 'message' }, 'Loading devices…');
  /** Its options follow the tags the fleet carries (see showTagChoices). */
  private readonly tagFilter = el('select', { name: 'tag', 'aria-label': 'Filter by tag', class: 'tag-filter' });
  private readonly lookups = new Set<string>();
  private readonly limited = limitConcurrency(SPARK_REQUESTS);
  private readonly onScreen: IntersectionObserver;
  private readonly timers: number[];
  private query: string;
  private sort: SortKey;
  private alertsOnly: boolean;
  /** Only devices carrying this tag, exactly; null for all. */
  private tag: string | null;
  private loaded = false;
  private loadError: string | null = null;

  constructor(
    private readonly api: ApiClient,
    params: URLSearchParams,
  ) {
    this.query = params.get('q') ?? '';
    this.sort = parseSortKey(params.get('sort'));
    this.alertsOnly = params.get(ALERTS_ONLY_PARAM) === ALERTS_ONLY_VALUE;
    this.tag = params.get(TAG_PARAM) || null;
    this.onScreen = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const row = entry.isIntersecting && this.rows.get((entry.target as HTMLElement).dataset.deviceId ?? '');
        if (row) this.loadHistory(row);
      }
    });
    this.element = el(
      'section',
      { class: 'overview' },
      this.controls(),
      this.summary,
      this.message,
      el(
        'table',
        { class: 'fleet' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...['Device', 'Status', 'Location', 'Last seen', 'Latest · last hour', 'Alerts'].map((h) =>
              el('th', { scope: 'col' }, h),
            ),
          ),
        ),
        this.body,
      ),
    );
    this.ready = this.load();
    this.timers = [
      window.setInterval(() => this.render(), 1000),
      window.setInterval(() => void this.load(), REFRESH_MS),
    ];
  }

  live(update: LiveUpdate): void {
    if (update.type === 'device') {
      this.put(update.data);
      this.render();
      return;
    }
    const { device_id: id, readings } = update.data;
    const held = this.devices.get(id);
    if (!held) {
      // Readings of a device this page has not seen (registered while disconnected): fetch it once.
      void this.lookup(id);
      return;
    }
    const device = mergeReadings(held, readings);
    this.devices.set(id, device);
    const row = this.rows.get(id)!;
    row.update(device, new Date());
    row.addReadings(readings);
    // Re-sorting waits for the next second's render, so a busy fleet does not reshuffle rows per reading.
  }

  resync(): void {
    for (const row of this.rows.values()) {
      row.historyRequested = false;
      // Observing again reports whether the row is on screen, which reloads its sparklines if so.
      this.onScreen.unobserve(row.element);
      this.onScreen.observe(row.element);
    }
    void this.load();
  }

  destroy(): void {
    this.timers.forEach((timer) => window.clearInterval(timer));
    this.onScreen.disconnect();
  }

  private controls(): HTMLElement {
    const filter = el('input', {
      type: 'search',
      class: 'filter',
      placeholder: 'Filter by id, name, kind, location, tag',
      'aria-label': 'Filter devices',
      value: this.query,
    });
    filter.addEventListener('input', () => {
      this.query = filter.value;
      this.saveView();
      this.render();
    });
    this.tagFilter.addEventListener('change', () => this.filterByTag(this.tagFilter.value || null));
    const sort = el(
      'select',
      { name: 'sort', 'aria-label': 'Sort devices' },
      ...Object.entries(SORT_LABELS).map(([key, label]) =>
        el('option', { value: key, selected: key === this.sort }, `sort by ${label}`),
      ),
    );
    sort.addEventListener('change', () => {
      this.sort = parseSortKey(sort.value);
      this.saveView();
      this.render();
    });
    const alertsOnly = el('input', { type: 'checkbox', checked: this.alertsOnly });
    alertsOnly.addEventListener('change', () => {
      this.alertsOnly = alertsOnly.checked;
      this.saveView();
      this.render();
    });
    return el(
      'div',
      { class: 'controls' },
      el('h1', {}, 'Fleet'),
      filter,
      this.tagFilter,
      el('label', { class: 'alerts-only' }, alertsOnly, 'open alerts only'),
      sort,
    );
  }

  /** Puts filter and sort in the address without a new history entry (and without a hashchange). */
  private saveView(): void {
    const params = new URLSearchParams();
    if (this.query) params.set('q', this.query);
    if (this.tag !== null) params.set(TAG_PARAM, this.tag);
    if (this.alertsOnly) params.set(ALERTS_ONLY_PARAM, ALERTS_ONLY_VALUE);
    if (this.sort !== 'id') params.set('sort', this.sort);
    history.replaceState(history.state, '', overviewHref(params));
  }

  private async load(): Promise<void> {
    try {
      for (const device of await this.api.devices()) this.put(device);
      this.loaded = true;
      this.loadError = null;
    } catch (error) {
      // Shown until a later refresh works.
      if (isUnauthorized(error)) return;
      this.loadError = describeError(error);
    }
    this.render();
  }

  private async lookup(id: string): Promise<void> {
    if (this.lookups.has(id)) return;
    this.lookups.add(id);
    try {
      this.put(await this.api.device(id));
      this.render();
    } catch {
      // It will come with the next refresh.
    } finally {
      this.lookups.delete(id);
    }
  }

  private put(incoming: Device): void {
    const device = mergeDevice(this.devices.get(incoming.device_id), incoming);
    this.devices.set(device.device_id, device);
    const row = this.rows.get(device.device_id);
    if (row) {
      row.update(device, new Date());
      return;
    }
    const created = new DeviceRow(device, new Date(), (tag) => this.filterByTag(tag));
    this.rows.set(device.device_id, created);
    this.onScreen.observe(created.element);
  }

  /** Fetches the last hour in 1-minute buckets for each of the row's sensors; afterwards live readings keep it current. */
  private loadHistory(row: DeviceRow): void {
    if (row.historyRequested) return;
    row.historyRequested = true;
    const to = new Date();
    const from = new Date(to.getTime() - SPARK_WINDOW_MS);
    for (const sensor of row.sensorNames) {
      this.limited(() => this.api.readings(row.id, { sensor, from, to, resolution: '1m' }))
        .then((series) => {
          row.setHistory(sensor, columnsFrom(series));
          row.tick(new Date());
        })
        // A sparkline without history still fills from live readings; the values beside it are unaffected.
        .catch(() => undefined);
    }
  }

  /** From the tag select or a row's tag chip; null shows every device again. */
  private filterByTag(tag: string | null): void {
    this.tag = tag;
    this.saveView();
    this.render();
  }

  /**
   * Offers the fleet's tags (and the chosen one), rebuilding the options only when they changed, so an
   * open select is not disturbed by the once-a-second render. Hidden while there is no tag to choose.
   */
  private showTagChoices(devices: readonly Device[]): void {
    const tags = tagChoices(devices, this.tag);
    const listed = JSON.stringify(tags);
    if (this.tagFilter.dataset.tags !== listed) {
      this.tagFilter.dataset.tags = listed;
      this.tagFilter.replaceChildren(
        el('option', { value: '' }, 'any tag'),
        ...tags.map((tag) => el('option', { value: tag }, tag)),
      );
    }
    const chosen = this.tag ?? '';
    if (this.tagFilter.value !== chosen) this.tagFilter.value = chosen;
    this.tagFilter.hidden = tags.length === 0;
  }

  /** Puts the rows that pass the filter in the chosen order, touching the table only when that changed. */
  private render(): void {
    const now = new Date();
    const all = [...this.devices.values()];
    this.showTagChoices(all);
    const matching = withTag(filterDevices(all, this.query), this.tag);
    const shown = sortDevices(this.alertsOnly ? withOpenAlerts(matching) : matching, this.sort, now);
    const wanted = shown.map((d) => this.rows.get(d.device_id)!.element);
    const current = [...this.body.children];
    if (wanted.length !== current.length || wanted.some((row, i) => row !== current[i])) {
      this.body.replaceChildren(...wanted);
    }
    for (const device of shown) this.rows.get(device.device_id)!.tick(now);
    const total = this.devices.size;
    setText(
      this.count,
      shown.length === total ? `${total} ${total === 1 ? 'device' : 'devices'}` : `${shown.length} of ${total} devices`,
    );
    const openAlerts = fleetOpenAlerts(all);
    setText(this.alertTotal, formatAlertCount(openAlerts));
    this.alertTotal.dataset.open = String(openAlerts > 0);
    const notice = this.loadError
      ? `Could not load devices: ${this.loadError}`
      : !this.loaded
        ? 'Loading devices…'
        : total === 0
          ? 'No devices yet. They appear here as soon as they are registered.'
          : shown.length === 0
            ? nothingShownMessage({ query: this.query, alertsOnly: this.alertsOnly, tag: this.tag })
            : '';
    this.message.hidden = !notice;
    setText(this.message, notice);
  }
}
