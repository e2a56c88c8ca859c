/**
 * A device: its details and tags (each a link to the fleet filtered by it), since when it is disabled if
 * it is, its open alerts, one chart per sensor over the chosen range, and its latest events. Preset
 * ranges follow the clock and take live readings; a custom range takes those that fall inside it.
 */

import { ApiError, describeError, isUnauthorized, type ApiClient } from '../api/client';
import type { Device, SensorReading } from '../api/types';
import { onSchemeChange } from '../charts/theme';
import { el, setText } from '../dom';
import { formatAgo, formatTimestamp } from '../format';
import { mergeDevice, mergeReadings, tagsOf } from '../fleet';
import type { LiveUpdate } from '../live/stream';
import { parseRange, rangeParams, resolutionFor, windowOf, type RangeChoice, type TimeWindow } from '../range';
import { deviceHref, overviewHref } from '../routes';
import { addReading, columnsFrom, dropBefore, emptyColumns } from '../series';
import { disabledNote, statusAt } from '../status';
import { AlertList } from './alertList';
import { EventsTable } from './eventsTable';
import { showStatusBadge, showTags } from './labels';
import { RangePicker } from './rangePicker';
import { SensorCard } from './sensorCard';
import type { View } from './view';

const EVENTS_SHOWN = 50;
/** Live readings refresh the events table at most this often. */
const EVENTS_REFRESH_MS = 3000;
/** How often preset-range charts slide with the clock when no reading moves them. */
const SLIDE_MS = 5000;

export class DeviceView implements View {
  readonly element: HTMLElement;
  readonly ready: Promise<void>;
  private device: Device | null = null;
  private range: RangeChoice;
  private readonly cards = new Map<string, SensorCard>();
  /** Bumped when charts are reloaded, so answers for an earlier range are dropped. */
  private generation = 0;
  /** Live readings since the charts were last asked for: a fetched series may predate some of them. */
  private sinceFetch: SensorReading[] = [];
  private eventsTimer: number | undefined;
  private readonly timers: number[];
  private readonly stopRestyle: () => void;
  private readonly title = el('h1', {});
  private readonly details = el('p', { class: 'muted details' });
  private readonly badge = el('span', { class: 'badge' });
  private readonly seen = el('span', { class: 'seen' });
  private readonly tags = el('p', { class: 'tags', 'data-testid': 'tags', hidden: true });
  private readonly disabled = el('p', { class: 'disabled-note', 'data-testid': 'disabled', hidden: true });
  private readonly alerts = new AlertList();
  private readonly message = el('p', { class: 'message', hidden: true });
  private readonly chartGrid = el('div', { class: 'charts' });
  private readonly events = new EventsTable();
  private readonly picker: RangePicker;

  constructor(
    private readonly api: ApiClient,
    private readonly deviceId: string,
    params: URLSearchParams,
  ) {
    this.range = parseRange(params);
    this.picker = new RangePicker(
      this.range,
      () => this.currentWindow(),
      (choice) => this.setRange(choice),
    );
    setText(this.title, deviceId);
    this.element = el(
      'section',
      { class: 'device-page', 'data-device-id': deviceId },
      el('a', { class: 'back', href: overviewHref() }, '← Fleet'),
      el(
        'div',
        { class: 'device-head' },
        this.title,
        this.badge,
        this.details,
        this.tags,
        el('p', { class: 'muted' }, this.seen),
        this.disabled,
      ),
      this.message,
      this.alerts.element,
      this.picker.element,
      this.chartGrid,
      this.events.element,
    );
    this.ready = this.load();
    this.timers = [window.setInterval(() => this.tickHeader(), 1000), window.setInterval(() => this.slide(), SLIDE_MS)];
    this.stopRestyle = onSchemeChange(() => this.cards.forEach((card) => card.chart.restyle()));
  }

  live(update: LiveUpdate): void {
    if (update.data.device_id !== this.deviceId) return;
    if (update.type === 'device') {
      this.showDevice(mergeDevice(this.device ?? undefined, update.data));
    } else if (this.device) {
      this.showDevice(mergeReadings(this.device, update.data.readings));
      this.sinceFetch.push(...update.data.readings);
      this.addToCharts(update.data.readings);
    }
    this.refreshEventsSoon();
  }

  resync(): void {
    void this.load();
  }

  destroy(): void {
    this.timers.forEach((timer) => window.clearInterval(timer));
    window.clearTimeout(this.eventsTimer);
    this.stopRestyle();
    this.cards.forEach((card) => card.chart.destroy());
  }

  /** The window shown now: a preset ends at this moment. */
  private currentWindow(): TimeWindow {
    return windowOf(this.range, new Date());
  }

  private async load(): Promise<void> {
    try {
      this.showDevice(await this.api.device(this.deviceId));
      this.message.hidden = true;
    } catch (error) {
      this.showProblem(error);
      return;
    }
    await Promise.all([this.loadCharts(), this.loadEvents()]);
  }

  private setRange(choice: RangeChoice): void {
    this.range = choice;
    this.picker.select(choice);
    history.replaceState(history.state, '', deviceHref(this.deviceId, rangeParams(choice)));
    void this.loadCharts();
  }

  /** Fetches every sensor's series for the current range, at the resolution the range calls for. */
  private async loadCharts(): Promise<void> {
    const generation = ++this.generation;
    this.sinceFetch = [];
    const shown = this.currentWindow();
    const resolution = resolutionFor(shown);
    const sensors = this.device?.sensors ?? [];
    await Promise.all(
      sensors.map(async (reading) => {
        const card = this.card(reading);
        try {
          const series = await this.api.readings(this.deviceId, { sensor: reading.sensor, ...shown, resolution });
          if (generation !== this.generation) return;
          card.chart.columns = columnsFrom(series);
          card.setNote(
            series.truncated
              ? `Only the first ${series.points.length} points of this range; choose a shorter range for the rest.`
              : series.points.length === 0
                ? 'No readings in this range.'
                : null,
          );
          // The answer may predate readings that arrived while it was on its way. Adding them again is
          // safe for raw points, which skip duplicates (see addReading).
          this.addToCharts(this.sinceFetch.filter((r) => r.sensor === reading.sensor));
          card.chart.update();
        } catch (error) {
          if (generation === this.generation) card.setNote(`Could not load readings: ${describeError(error)}`);
        }
      }),
    );
    if (generation === this.generation) this.sinceFetch = [];
  }

  private async loadEvents(): Promise<void> {
    try {
      this.events.show(await this.api.events(this.deviceId, EVENTS_SHOWN));
    } catch (error) {
      this.events.showError(describeError(error));
    }
  }

  private refreshEventsSoon(): void {
    if (this.eventsTimer !== undefined) return;
    this.eventsTimer = window.setTimeout(() => {
      this.eventsTimer = undefined;
      void this.loadEvents();
    }, EVENTS_REFRESH_MS);
  }

  /** Adds live readings that fall in the shown range (a preset range is open-ended: device clocks may run ahead). */
  private addToCharts(readings: readonly SensorReading[]): void {
    const shown = this.currentWindow();
    const touched = new Set<SensorCard>();
    for (const reading of readings) {
      const at = Date.parse(reading.measured_at);
      const inside = at >= shown.from.getTime() && (this.range.kind === 'preset' || at < shown.to.getTime());
      if (!inside) continue;
      const card = this.card(reading);
      addReading(card.chart.columns, at, reading.value);
      card.setNote(null);
      touched.add(card);
    }
    for (const card of touched) {
      if (this.range.kind === 'preset') dropBefore(card.chart.columns, shown.from.getTime());
      card.chart.update();
    }
  }

  /** Keeps preset charts moving with the clock while no readings arrive. */
  private slide(): void {
    if (this.range.kind !== 'preset') return;
    const from = this.currentWindow().from.getTime();
    for (const card of this.cards.values()) {
      dropBefore(card.chart.columns, from);
      card.chart.update();
    }
  }

  private showDevice(device: Device): void {
    this.device = device;
    setText(this.title, device.name ?? device.device_id);
    document.title = `${device.name ?? device.device_id} · Watershed`;
    setText(
      this.details,
      [device.name ? device.device_id : null, device.kind, device.location].filter(Boolean).join(' · '),
    );
    showTags(this.tags, tagsOf(device), (tag) =>
      el(
        'a',
        { class: 'tag', href: overviewHref(new URLSearchParams({ tag })), title: `every device tagged ${tag}` },
        tag,
      ),
    );
    this.alerts.show(device.alerts, new Date());
    for (const reading of device.sensors) {
      const card = this.card(reading);
      card.showLatest(reading);
      card.showAlerts(device.alerts);
    }
    this.tickHeader();
  }

  private tickHeader(): void {
    if (!this.device) return;
    const now = new Date();
    this.alerts.tick(now);
    showStatusBadge(this.badge, statusAt(this.device, now));
    const disabled = disabledNote(this.device, now);
    this.disabled.hidden = disabled === null;
    setText(this.disabled, disabled ?? '');
    const seen = this.device.last_seen ? new Date(this.device.last_seen) : null;
    const registered = formatTimestamp(new Date(this.device.registered_at));
    setText(
      this.seen,
      `last seen ${formatAgo(seen, now)}${seen ? ` (${formatTimestamp(seen)})` : ''} · registered ${registered}`,
    );
  }

  /** The sensor's card, made (with an empty chart at the current resolution) when the sensor is new. */
  private card(reading: SensorReading): SensorCard {
    let card = this.cards.get(reading.sensor);
    if (!card) {
      const columns = emptyColumns(resolutionFor(this.currentWindow()));
      card = new SensorCard(reading.sensor, reading.unit ?? null, columns, () => this.currentWindow());
      this.cards.set(reading.sensor, card);
      this.chartGrid.append(card.element);
      card.chart.mount();
    }
    return card;
  }

  private showProblem(error: unknown): void {
    if (isUnauthorized(error)) return;
    this.message.hidden = false;
    if (error instanceof ApiError && error.status === 404) {
      setText(this.message, `There is no device “${this.deviceId}”.`);
      return;
    }
    setText(this.message, `Could not load the device: ${describeError(error)}`);
  }
}
