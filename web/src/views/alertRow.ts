/**
 * One alert in the alerts table: severity, device, rule, sensor, what it measured against its limit,
 * when raised, where it stands, who has acted on it, and the buttons for what is left to do. Made
 * afresh when the alert changes; the page keeps the row while it does not.
 */

import { ACTION_WORDS, actionsFor } from '../alertActions';
import { actedOn, describeLimit, describeState, describeValue } from '../alerts';
import type { Alert, AlertAction } from '../api/types';
import { el } from '../dom';
import { formatTimestamp } from '../format';
import { deviceHref } from '../routes';
import { severityBadge } from './labels';

export const ALERT_COLUMNS = [
  'Severity',
  'Device',
  'Rule',
  'Sensor',
  'Reading',
  'Raised',
  'State',
  'Handled',
  'Actions',
];

export function alertRow(alert: Alert, act: (alert: Alert, action: AlertAction) => void): HTMLTableRowElement {
  const cells = [
    severityBadge(alert.severity),
    el('a', { href: deviceHref(alert.device_id), class: 'device-link' }, alert.device_id),
    [el('strong', {}, alert.rule), alert.message && el('span', { class: 'details' }, alert.message)],
    alert.sensor,
    [
      el('span', { class: 'value' }, describeValue(alert)),
      el('span', { class: 'details' }, describeLimit(alert.condition, alert.threshold, alert.unit)),
    ],
    time(alert.raised_at),
    [el('span', { class: 'state' }, describeState(alert)), alert.cleared_at && time(alert.cleared_at)],
    handled(alert),
    el(
      'div',
      { class: 'alert-actions' },
      ...actionsFor(alert).map((action) => {
        const { verb } = ACTION_WORDS[action];
        // The visible word first, so speech input finds the button by what it shows.
        const label = `${verb} ${alert.rule} on ${alert.device_id}`;
        const button = el('button', { type: 'button', 'data-action': action, 'aria-label': label }, verb);
        button.addEventListener('click', () => act(alert, action));
        return button;
      }),
    ),
  ];
  return el(
    'tr',
    {
      'data-alert-id': alert.id,
      'data-device': alert.device_id,
      'data-rule': alert.rule,
      'data-state': alert.state,
      'data-acknowledged': String(alert.acknowledged),
      'data-severity': alert.severity,
    },
    ...cells.map((content, i) =>
      // One child per cell: on phones each cell is a labelled line, and its parts stack inside it.
      el('td', { 'data-label': ALERT_COLUMNS[i]! }, Array.isArray(content) ? el('div', {}, ...content) : content),
    ),
  );
}

/** Who acknowledged or cleared it, and their note; a dash when nobody has. */
function handled(alert: Alert): HTMLElement[] | string {
  const acts = actedOn(alert);
  if (acts.length === 0) return '–';
  return acts.map(({ what, by, note, at }) =>
    el(
      'span',
      { class: 'acted', title: at ? `${what.toLowerCase()} ${formatTimestamp(new Date(at))}` : null },
      `${what} by `,
      el('strong', { class: 'by' }, by),
      note && el('span', { class: 'note' }, `: ${note}`),
    ),
  );
}

function time(at: string): HTMLTimeElement {
  return el('time', { datetime: at }, formatTimestamp(new Date(at)));
}
