/**
 * Wires the pages to the API and the live stream: checks the token (and asks for one), routes between
 * pages, polls the projection lag, and holds live updates until the page on screen has its first data.
 */

import { ApiClient, describeError, isUnauthorized } from './api/client';
import { Operator } from './auth/operator';
import type { TokenStore } from './auth/token';
import { askForToken } from './auth/tokenForm';
import { el } from './dom';
import { LiveStream, type LiveUpdate } from './live/stream';
import { parseRoute, type Route } from './routes';
import { AlertsView } from './views/alertsPage';
import { DeviceView } from './views/devicePage';
import { notFoundView } from './views/notFound';
import { OverviewView } from './views/overview';
import type { Shell } from './views/shell';
import type { View } from './views/view';

const STATUS_POLL_MS = 5000;
const RETRY_CONNECT_MS = 5000;
/** How long the first page waits for the live stream, so no update falls between its fetch and the stream's start. */
const FIRST_OPEN_WAIT_MS = 3000;
const REJECTED = 'The server did not accept this token. Enter the read token that watershed up printed.';

export class App {
  private readonly api: ApiClient;
  private readonly stream: LiveStream;
  /** Who acts on alerts: outlives a change of page, not a reload. */
  private readonly operator = new Operator();
  private view: View | null = null;
  /** Live updates waiting for the current page's first data; null once delivered straight through. */
  private held: LiveUpdate[] | null = null;
  private statusTimer: number | undefined;
  private retryTimer: number | undefined;
  private firstOpen: (() => void) | null = null;
  private asking = false;

  constructor(
    private readonly shell: Shell,
    apiBase: string,
    private readonly tokens: TokenStore,
  ) {
    this.api = new ApiClient(
      apiBase,
      () => tokens.get(),
      () => void this.askForToken(REJECTED),
    );
    this.stream = new LiveStream(() => this.api.streamUrl(), {
      update: (update) => this.deliver(update),
      open: () => {
        this.firstOpen?.();
        // Connected again: whatever happened meanwhile was not delivered, so the page reloads.
        this.view?.resync();
      },
      state: (state) => this.shell.setLive(state),
      // Refused rather than dropped: if the token is the reason, this call answers 401 and brings up the form.
      refused: () => void this.api.status().catch(() => undefined),
    });
    window.addEventListener('hashchange', () => this.route());
  }

  start(): void {
    if (this.tokens.get()) void this.connect();
    else void this.askForToken(null);
  }

  /** Checks the token with a status call, then starts the stream and shows the page the address names. */
  private async connect(): Promise<void> {
    this.shell.showHealth(true);
    try {
      this.shell.setStatus(await this.api.status());
    } catch (error) {
      if (isUnauthorized(error)) return;
      this.shell.setStatus(null);
      this.shell.show(el('p', { class: 'message' }, `${describeError(error)}. Trying again…`));
      this.retryTimer = window.setTimeout(() => void this.connect(), RETRY_CONNECT_MS);
      return;
    }
    this.statusTimer = window.setInterval(() => void this.pollStatus(), STATUS_POLL_MS);
    const opened = new Promise<void>((resolve) => (this.firstOpen = resolve));
    this.stream.start();
    await Promise.race([opened, new Promise((resolve) => window.setTimeout(resolve, FIRST_OPEN_WAIT_MS))]);
    this.firstOpen = null;
    this.route();
  }

  private async pollStatus(): Promise<void> {
    try {
      this.shell.setStatus(await this.api.status());
    } catch {
      // Unknown is shown as unknown; a 401 has brought up the token form already.
      this.shell.setStatus(null);
    }
  }

  private route(): void {
    if (this.asking) return;
    this.view?.destroy();
    const route = parseRoute(location.hash);
    document.title = 'Watershed';
    this.shell.setPage(route.page);
    const view = this.viewFor(route);
    this.view = view;
    this.held = [];
    this.shell.show(view.element);
    const deliverHeld = () => {
      if (this.view !== view || !this.held) return;
      const held = this.held;
      this.held = null;
      held.forEach((update) => view.live(update));
    };
    view.ready.then(deliverHeld, deliverHeld);
  }

  private viewFor(route: Route): View {
    switch (route.page) {
      case 'overview':
        return new OverviewView(this.api, route.params);
      case 'device':
        return new DeviceView(this.api, route.deviceId, route.params);
      case 'alerts':
        return new AlertsView(this.api, this.operator, route.params);
      case 'not_found':
        return notFoundView(route.path);
    }
  }

  private deliver(update: LiveUpdate): void {
    if (this.held) this.held.push(update);
    else this.view?.live(update);
  }

  private async askForToken(reason: string | null): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    this.stop();
    this.tokens.clear();
    this.shell.showHealth(false);
    document.title = 'Watershed';
    const token = await askForToken(this.shell.main, reason);
    this.tokens.set(token);
    this.asking = false;
    await this.connect();
  }

  private stop(): void {
    this.stream.stop();
    window.clearInterval(this.statusTimer);
    window.clearTimeout(this.retryTimer);
    this.view?.destroy();
    this.view = null;
    this.held = null;
  }
}
