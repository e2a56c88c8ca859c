/**
 * One device in the fleet table: its tags (each a button that filters the fleet by it), status, location,
 * last seen, latest value per sensor with a last-hour sparkline, open alerts. Kept as elements and
 * updated in place, since on a wall screen live readings touch it every second.
 */

import { alertsTooltip } from '../alerts';
import type { Device, SensorReading } from '../api/types';
import { Sparkline } from '../charts/sparkline';
import { el, setText } from '../dom';
import { tagsOf } from '../fleet';
import { formatAgo, formatTimestamp } from '../format';
import { deviceHref } from '../routes';
import { addReading, dropBefore, emptyColumns, type Columns } from '../series';
import { statusAt } from '../status';
import { showLatestValue, showStatusBadge, showTags } from './labels';

/** The sparklines' window. */
export const SPARK_WINDOW_MS = 60 * 60 * 1000;

class SensorCell {
  readonly element: HTMLElement;
  private readonly value = el('span', { class: 'value' });
  private readonly spark: Sparkline;
  private columns = emptyColumns('1m');

  constructor(sensor: string) {
    this.spark = new Sparkline(`${sensor}, last hour`);
    this.element = el(
      'div',
      { class: 'sensor', 'data-sensor': sensor },
      el('span', { class: 'sensor-name' }, sensor),
      this.value,
      this.spark.element,
    );
  }

  show(reading: SensorReading): void {
    showLatestValue(this.value, this.element, reading);
  }

  setHistory(columns: Columns): void {
    this.columns = columns;
  }

  add(reading: SensorReading): void {
    addReading(this.columns, Date.parse(reading.measured_at), reading.value);
  }

  draw(now: Date): void {
    dropBefore(this.columns, now.getTime() - SPARK_WINDOW_MS);
    this.spark.draw(this.columns, (now.getTime() - SPARK_WINDOW_MS) / 1000, now.getTime() / 1000);
  }
}

export class DeviceRow {
  readonly element: HTMLTableRowElement;
  /** Whether the sparklines' history was asked for (it is, once the row first scrolls into view). */
  historyRequested = false;
  private device: Device;
  private readonly link = el('a', { class: 'device-link' });
  private readonly details = el('span', { class: 'details' });
  private readonly tags = el('span', { class: 'tags' });
  private readonly badge = el('span', { class: 'badge' });
  private readonly location = el('td', { 'data-label': 'Location' });
  private readonly lastSeen = el('time');
  private readonly sensorList = el('div', { class: 'sensors' });
  private readonly alerts = el('td', { 'data-label': 'Alerts', class: 'alerts' });
  private readonly sensors = new Map<string, SensorCell>();

  /** @param onTag called with a tag whose chip was clicked: the overview then shows only devices carrying it. */
  constructor(
    device: Device,
    now: Date,
    private readonly onTag: (tag: string) => void,
  ) {
    this.device = device;
    this.element = el(
      'tr',
      { 'data-device-id': device.device_id },
      el('td', { 'data-label': 'Device', class: 'device' }, el('div', {}, this.link, this.details, this.tags)),
      el('td', { 'data-label': 'Status' }, this.badge),
      this.location,
      el('td', { 'data-label': 'Last seen' }, this.lastSeen),
      el('td', { 'data-label': 'Latest · last hour', class: 'latest' }, this.sensorList),
      this.alerts,
    );
    this.link.href = deviceHref(device.device_id);
    setText(this.link, device.device_id);
    this.update(device, now);
  }

  get id(): string {
    return this.device.device_id;
  }

  get sensorNames(): string[] {
    return this.device.sensors.map((s) => s.sensor);
  }

  update(device: Device, now: Date): void {
    this.device = device;
    setText(this.details, [device.name, device.kind].filter(Boolean).join(' · '));
    showTags(this.tags, tagsOf(device), (tag) => this.tagChip(tag));
    setText(this.location, device.location ?? '–');
    setText(this.alerts, String(device.open_alerts));
    // Which rules, without opening the device; the device page lists them in full.
    this.alerts.title = alertsTooltip(device.alerts);
    this.alerts.classList.toggle('alerts--open', device.open_alerts > 0);
    device.sensors.forEach((reading, index) => this.cell(reading.sensor, index).show(reading));
    this.tick(now);
  }

  /** Folds live readings into the sparklines (the latest values come with `update`). */
  addReadings(readings: readonly SensorReading[]): void {
    for (const reading of readings) this.sensors.get(reading.sensor)?.add(reading);
  }

  setHistory(sensor: string, columns: Columns): void {
    this.sensors.get(sensor)?.setHistory(columns);
  }

  /** Redraws what depends on the clock: the status badge, "last seen", the sparklines' window. */
  tick(now: Date): void {
    const status = statusAt(this.device, now);
    showStatusBadge(this.badge, status);
    this.element.dataset.status = status;
    const seen = this.device.last_seen ? new Date(this.device.last_seen) : null;
    setText(this.lastSeen, formatAgo(seen, now));
    if (seen) {
      this.lastSeen.dateTime = this.device.last_seen!;
      this.lastSeen.title = formatTimestamp(seen);
    }
    for (const cell of this.sensors.values()) cell.draw(now);
  }

  private tagChip(tag: string): HTMLElement {
    const chip = el('button', { type: 'button', class: 'tag', title: `show only devices tagged ${tag}` }, tag);
    chip.addEventListener('click', () => this.onTag(tag));
    return chip;
  }

  /** The sensor's cell, made and put at `index` (sensors are in name order) when new. */
  private cell(sensor: string, index: number): SensorCell {
    let cell = this.sensors.get(sensor);
    if (!cell) {
      cell = new SensorCell(sensor);
      this.sensors.set(sensor, cell);
      this.sensorList.insertBefore(cell.element, this.sensorList.children[index] ?? null);
    }
    return cell;
  }
}
