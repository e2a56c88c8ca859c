/** The page frame: the header with the projection lag and the live-stream state, and the main area the pages fill. */

import type { Status } from '../api/types';
import { el, setText } from '../dom';
import { formatLag } from '../format';
import type { LiveState } from '../live/stream';
import { overviewHref } from '../routes';

const LIVE_LABELS: Record<LiveState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
};

export class Shell {
  readonly main = el('main', { id: 'main' });
  private readonly lag = el('span', { class: 'lag', 'data-testid': 'lag' }, 'projections: …');
  private readonly live = el('span', { class: 'live', 'data-testid': 'live', 'data-state': 'connecting' });
  private readonly health = el('div', { class: 'health' }, this.lag, this.live);

  constructor(root: HTMLElement) {
    const header = el(
      'header',
      { class: 'top' },
      el('a', { class: 'brand', href: overviewHref() }, 'Watershed'),
      this.health,
    );
    root.replaceChildren(header, this.main);
    this.setLive('connecting');
  }

  /** Hides the lag and stream state while there is nothing to be live about (no token yet). */
  showHealth(visible: boolean): void {
    this.health.hidden = !visible;
  }

  setLive(state: LiveState): void {
    this.live.dataset.state = state;
    setText(this.live, LIVE_LABELS[state]);
  }

  /** Shows the lag as the API reports it; `null` when the status could not be read (then it says so rather than guess). */
  setStatus(status: Status | null): void {
    if (status) {
      setText(this.lag, formatLag(status.lag_events, status.lag_seconds));
      this.lag.dataset.behind = String(status.lag_events > 0);
    } else {
      setText(this.lag, 'projection lag unknown');
      delete this.lag.dataset.behind;
    }
  }

  /** Swaps what the main area shows. */
  show(content: HTMLElement): void {
    this.main.replaceChildren(content);
  }
}
