/**
 * The device page's open alerts, oldest first: the rule, what is wrong, the reading that raised it and
 * how long ago (the exact time on hover). A quiet line when there are none.
 */

import { describeAlert, describeValue, onSensorScale } from '../alerts';
import type { OpenAlert } from '../api/types';
import { el, setText } from '../dom';
import { formatAgo, formatTimestamp } from '../format';

export class AlertList {
  private readonly heading = el('h2', { id: 'open-alerts' }, 'Open alerts');
  private readonly none = el('p', { class: 'muted' }, 'No open alerts.');
  private readonly list = el('ul', { 'aria-labelledby': 'open-alerts' });
  /** Hidden until the device has loaded, so it does not say "no open alerts" before it knows. */
  readonly element = el(
    'section',
    { class: 'open-alerts', 'data-testid': 'alerts', hidden: true },
    this.heading,
    this.none,
    this.list,
  );
  /** The list drawn, to skip redrawing it for a device update that left the alerts as they were. */
  private shown: readonly OpenAlert[] | null = null;
  private times: { element: HTMLTimeElement; at: Date }[] = [];

  show(alerts: readonly OpenAlert[], now: Date): void {
    // Live readings keep the device's alerts array as it was (fleet.ts merges by spreading), so a
    // reading a second does not rebuild the list under the reader's pointer.
    if (alerts === this.shown) return;
    this.shown = alerts;
    const open = alerts.length > 0;
    this.element.hidden = false;
    this.element.dataset.open = String(open);
    this.heading.hidden = !open;
    this.list.hidden = !open;
    this.none.hidden = open;
    this.times = [];
    this.list.replaceChildren(...alerts.map((alert) => this.item(alert)));
    this.tick(now);
  }

  /** Updates the "raised … ago" times. */
  tick(now: Date): void {
    for (const { element, at } of this.times) setText(element, `raised ${formatAgo(at, now)}`);
  }

  private item(alert: OpenAlert): HTMLLIElement {
    const at = new Date(alert.raised_at);
    const time = el('time', { datetime: alert.raised_at, title: `raised ${formatTimestamp(at)}` });
    this.times.push({ element: time, at });
    return el(
      'li',
      { 'data-rule': alert.rule, 'data-sensor': alert.sensor },
      el('strong', { class: 'rule' }, alert.rule),
      // 'reading 95.5 C', but 'rising 0.62 C/s' or 'z-score 4.3' for what is not a reading.
      `: ${describeAlert(alert)} · ${onSensorScale(alert.condition) ? 'reading ' : ''}`,
      el('span', { class: 'value' }, describeValue(alert)),
      ' · ',
      time,
    );
  }
}
