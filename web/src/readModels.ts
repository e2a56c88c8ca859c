/**
 * The read models' generation as the header shows it: a quiet 'read models: generation 2' while one
 * generation answers, the progress while `watershed rebuild read-models` builds the next, and a warning
 * when a rebuild stopped reporting (the server keeps its record until the next rebuild takes over).
 */

import type { FinishedRebuild, ReadModelsStatus, Rebuild, RebuildPhase } from './api/types';
import { formatDuration, formatEvents, formatNumber, formatTimestamp } from './format';

/** The server's rule (domain REBUILD_STALE_AFTER): a rebuild quiet for this long is taken to be dead. */
const REBUILD_STALE_AFTER_MS = 30 * 1000;

const PHASE_LABELS: Record<RebuildPhase, string> = {
  building: 'building',
  catching_up: 'switched, catching up',
};

export interface ReadModelsLine {
  text: string;
  /** More for the tooltip: when the last rebuild finished, or how this one is going. */
  hint: string;
  /** `stalled`: a rebuild whose last report is older than the server's 30 s. */
  state: 'current' | 'rebuilding' | 'stalled';
}

/**
 * How much of the history a rebuild has applied, in whole percent rounded down, so that it says 100 %
 * only when every event counted is applied. An empty history is done.
 */
export function rebuildPercent(rebuild: Pick<Rebuild, 'applied_events' | 'history_events'>): number {
  if (rebuild.history_events <= 0) return 100;
  return Math.min(100, Math.floor((rebuild.applied_events * 100) / rebuild.history_events));
}

/** The header's line for the read models at `now` (the browser's clock, as for device status). */
export function describeReadModels(status: ReadModelsStatus, now: Date): ReadModelsLine {
  const { generation, rebuild, last_rebuild: last } = status;
  if (!rebuild) {
    return {
      text: `read models: generation ${generation}`,
      hint: last ? describeFinished(last) : 'as first built: never rebuilt',
      state: 'current',
    };
  }
  const quietMs = now.getTime() - Date.parse(rebuild.heartbeat_at);
  const started = `started ${formatTimestamp(new Date(rebuild.started_at))}`;
  const progress = `${rebuildPercent(rebuild)} % (${formatNumber(rebuild.applied_events)} of ${formatEvents(rebuild.history_events)})`;
  if (quietMs >= REBUILD_STALE_AFTER_MS) {
    return {
      text: `Rebuild of generation ${rebuild.generation} stopped at ${progress}: no report for ${formatDuration(quietMs / 1000)}`,
      hint:
        `generation ${generation} answers; ${started}. A rebuild quiet for 30 s is taken to be dead: ` +
        'the next `watershed rebuild read-models` removes what it left behind',
      state: 'stalled',
    };
  }
  const answering =
    rebuild.phase === 'building'
      ? `generation ${generation} answers until the switch`
      : `generation ${rebuild.generation} answers; the events that arrived meanwhile are applied, then the old generation is removed`;
  return {
    text: `Rebuilding read models: generation ${rebuild.generation}, ${progress}, ${PHASE_LABELS[rebuild.phase]}`,
    hint: `${answering}; ${started}`,
    state: 'rebuilding',
  };
}

function describeFinished(last: FinishedRebuild): string {
  const took = (Date.parse(last.finished_at) - Date.parse(last.started_at)) / 1000;
  return (
    `generation ${last.generation} rebuilt ${formatTimestamp(new Date(last.finished_at))} ` +
    `from ${formatEvents(last.applied_events)} in ${formatDuration(took)}`
  );
}
