/** The device's latest stored events: type, stream sequence, when recorded, and what happened in a line. */

import type { Envelope } from '../api/types';
import { el, setText } from '../dom';
import { summarizeEvent } from '../events';
import { formatTimestamp } from '../format';

export class EventsTable {
  private readonly body = el('tbody');
  private readonly message = el('p', { class: 'message' }, 'Loading events…');
  readonly element = el(
    'section',
    { class: 'card events', 'data-testid': 'events' },
    el('h2', {}, 'Latest events'),
    this.message,
    el(
      'div',
      { class: 'scroll' },
      el(
        'table',
        {},
        el(
          'thead',
          {},
          el('tr', {}, ...['Type', 'Seq', 'Recorded', 'Summary'].map((h) => el('th', { scope: 'col' }, h))),
        ),
        this.body,
      ),
    ),
  );

  show(events: readonly Envelope[]): void {
    this.message.hidden = events.length > 0;
    setText(this.message, 'No events.');
    this.body.replaceChildren(
      ...events.map((event) =>
        el(
          'tr',
          { 'data-seq': event.stream_seq },
          el('td', { 'data-label': 'Type' }, event.event_type),
          el('td', { 'data-label': 'Seq', class: 'num' }, String(event.stream_seq)),
          el(
            'td',
            { 'data-label': 'Recorded' },
            el('time', { datetime: event.recorded_at }, formatTimestamp(new Date(event.recorded_at))),
          ),
          el('td', { 'data-label': 'Summary' }, summarizeEvent(event)),
        ),
      ),
    );
  }

  /** Keeps the rows shown (they are still true, only maybe no longer the latest) and says why they did not update. */
  showError(message: string): void {
    this.message.hidden = false;
    setText(this.message, `Could not load events: ${message}`);
  }
}
