/** What the app asks of a page (the overview, a device): show data, take live updates, reload after a gap. */

import type { LiveUpdate } from '../live/stream';

export interface View {
  readonly element: HTMLElement;
  /** Settles when the first data is shown; the app holds live updates until then so none is applied to nothing. */
  readonly ready: Promise<void>;
  live(update: LiveUpdate): void;
  /** The live stream was reconnected: updates may have been missed, so fetch again what is shown. */
  resync(): void;
  destroy(): void;
}
