/**
 * The page frame: the header with the pages' links, the projection lag, the read models' generation (and
 * any rebuild), the live-stream state, and the main area the pages fill.
 */

import type { Status } from '../api/types';
import { el, setText } from '../dom';
import { formatLag } from '../format';
import type { LiveState } from '../live/stream';
import { describeReadModels } from '../readModels';
import { alertsHref, overviewHref, type Route } from '../routes';

const LIVE_LABELS: Record<LiveState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
};

export class Shell {
  readonly main = el('main', { id: 'main' });
  /** The pages one goes to, not the device pages one goes through. */
  private readonly links = new Map<Route['page'], HTMLAnchorElement>([
    ['overview', el('a', { href: overviewHref() }, 'Fleet')],
    ['alerts', el('a', { href: alertsHref() }, 'Alerts')],
  ]);
  private readonly lag = el('span', { class: 'lag', 'data-testid': 'lag' }, 'projections: …');
  private readonly readModels = el('span', { class: 'read-models', 'data-testid': 'read-models', hidden: true });
  private readonly live = el('span', { class: 'live', 'data-testid': 'live', 'data-state': 'connecting' });
  private readonly health = el('div', { class: 'health' }, this.lag, this.readModels, this.live);

  constructor(root: HTMLElement) {
    const header = el(
      'header',
      { class: 'top' },
      el('a', { class: 'brand', href: overviewHref() }, 'Watershed'),
      el('nav', { class: 'pages', 'aria-label': 'Pages' }, ...this.links.values()),
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

  /**
   * Shows the lag and the read models as the API reports them; `null` when the status could not be read
   * (then it says so rather than guess, and hides the read models' line).
   */
  setStatus(status: Status | null): void {
    if (status) {
      setText(this.lag, formatLag(status.lag_events, status.lag_seconds));
      this.lag.dataset.behind = String(status.lag_events > 0);
    } else {
      setText(this.lag, 'projection lag unknown');
      delete this.lag.dataset.behind;
    }
    const readModels = status?.read_models;
    this.readModels.hidden = !readModels;
    if (readModels) {
      const line = describeReadModels(readModels, new Date());
      setText(this.readModels, line.text);
      this.readModels.title = line.hint;
      this.readModels.dataset.state = line.state;
      this.readModels.dataset.generation = String(readModels.generation);
    }
  }

  /** Marks the link of the page shown (none for a device page or an unknown address). */
  setPage(page: Route['page']): void {
    for (const [linked, link] of this.links) {
      if (linked === page) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  /** Swaps what the main area shows. */
  show(content: HTMLElement): void {
    this.main.replaceChildren(content);
  }
}
