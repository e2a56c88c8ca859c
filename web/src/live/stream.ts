/**
 * The live stream (`GET /v1/stream`, Server-Sent Events). EventSource reconnects by itself after a
 * network drop; when the server refuses the stream instead (an HTTP error, e.g. a revoked token), the
 * browser gives up, so this module retries with a growing delay and tells the app, which checks the token.
 */

import type { Device, LiveReadings } from '../api/types';

export type LiveUpdate = { type: 'readings'; data: LiveReadings } | { type: 'device'; data: Device };

/** 'connecting' before the first connection, 'reconnecting' after any loss until connected again. */
export type LiveState = 'connecting' | 'live' | 'reconnecting';

export interface LiveHandlers {
  update(update: LiveUpdate): void;
  /** Connected (again): whatever happened while disconnected was not delivered. */
  open(): void;
  state(state: LiveState): void;
  /** The server answered the stream with an error rather than dropping it. */
  refused(): void;
}

const MAX_RETRY_MS = 30_000;

/** Delay before our own retry number `attempt` (0-based): 1 s, 2 s, 4 s … at most 30 s. */
export function retryDelay(attempt: number): number {
  return Math.min(1000 * 2 ** attempt, MAX_RETRY_MS);
}

/** Reads a stream event's data; null when it is not the JSON the contract promises (the event is skipped). */
export function parseUpdate(type: LiveUpdate['type'], data: string): LiveUpdate | null {
  try {
    const parsed: unknown = JSON.parse(data);
    if (typeof parsed !== 'object' || parsed === null || !('device_id' in parsed)) return null;
    if (type === 'readings' && !Array.isArray((parsed as LiveReadings).readings)) return null;
    return { type, data: parsed } as LiveUpdate;
  } catch {
    return null;
  }
}

export class LiveStream {
  private source: EventSource | null = null;
  private retryTimer: number | undefined;
  private attempt = 0;
  private everOpen = false;

  /** @param url read at each connection, so it carries the token in use then. */
  constructor(
    private readonly url: () => string,
    private readonly handlers: LiveHandlers,
  ) {}

  start(): void {
    this.stop();
    this.attempt = 0;
    this.everOpen = false;
    this.connect();
  }

  stop(): void {
    window.clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
  }

  private connect(): void {
    this.handlers.state(this.everOpen ? 'reconnecting' : 'connecting');
    const source = new EventSource(this.url());
    this.source = source;
    source.addEventListener('open', () => {
      this.attempt = 0;
      this.everOpen = true;
      this.handlers.state('live');
      this.handlers.open();
    });
    for (const type of ['readings', 'device'] as const) {
      source.addEventListener(type, (event) => {
        const update = parseUpdate(type, (event as MessageEvent<string>).data);
        if (update) this.handlers.update(update);
      });
    }
    source.addEventListener('error', () => {
      this.handlers.state('reconnecting');
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      source.close();
      this.source = null;
      this.handlers.refused();
      this.retryTimer = window.setTimeout(() => this.connect(), retryDelay(this.attempt++));
    });
  }
}
