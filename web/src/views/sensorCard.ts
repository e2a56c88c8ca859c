/**
 * One sensor on the device page: its name, latest value, a note when the data is partial, and its chart,
 * marked while one of the device's open alerts is on this sensor.
 */

import { onSensorScale } from '../alerts';
import type { OpenAlert, SensorReading } from '../api/types';
import { SensorChart } from '../charts/sensorChart';
import { el, setText } from '../dom';
import type { TimeWindow } from '../range';
import type { Columns } from '../series';
import { showLatestValue } from './labels';

export class SensorCard {
  readonly element: HTMLElement;
  readonly chart: SensorChart;
  private readonly value = el('span', { class: 'value' });
  private readonly note = el('p', { class: 'note muted', hidden: true });

  constructor(
    private readonly sensor: string,
    unit: string | null,
    columns: Columns,
    timeWindow: () => TimeWindow,
  ) {
    this.chart = new SensorChart(sensor, unit, columns, timeWindow);
    this.element = el(
      'article',
      { class: 'card sensor-card', 'data-sensor': sensor },
      el('header', {}, el('h2', {}, sensor), this.value),
      this.note,
      this.chart.element,
    );
  }

  showLatest(reading: SensorReading): void {
    showLatestValue(this.value, this.element, reading);
  }

  /**
   * Marks the card when some of the device's open alerts are on this sensor, and draws their thresholds
   * that are readings (not a rate, a silence or a score, which the chart's axis does not measure).
   */
  showAlerts(alerts: readonly OpenAlert[]): void {
    const mine = alerts.filter((alert) => alert.sensor === this.sensor);
    this.element.classList.toggle('sensor-card--alerting', mine.length > 0);
    this.chart.setThresholds(mine.filter((alert) => onSensorScale(alert.condition)).map((alert) => alert.threshold));
  }

  /** Says what the chart does not show; null hides the note. */
  setNote(text: string | null): void {
    this.note.hidden = text === null;
    setText(this.note, text ?? '');
  }
}
