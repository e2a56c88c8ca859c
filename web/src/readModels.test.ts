import { describe, expect, it } from 'vitest';
import type { ReadModelsStatus, Rebuild } from './api/types';
import { formatTimestamp } from './format';
import { describeReadModels, rebuildPercent } from './readModels';

const now = new Date('2026-11-23T10:00:00Z');
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000).toISOString();

const rebuilding = (rebuild: Partial<Rebuild>): ReadModelsStatus => ({
  generation: 2,
  rebuild: {
    generation: 3,
    phase: 'building',
    applied_events: 1200,
    history_events: 5000,
    started_at: ago(60),
    heartbeat_at: ago(1),
    ...rebuild,
  },
  last_rebuild: null,
});

describe('rebuildPercent', () => {
  it('rounds down, so it says 100 % only when every event counted is applied', () => {
    expect(rebuildPercent({ applied_events: 1200, history_events: 5000 })).toBe(24);
    expect(rebuildPercent({ applied_events: 4999, history_events: 5000 })).toBe(99);
    expect(rebuildPercent({ applied_events: 5000, history_events: 5000 })).toBe(100);
  });

  it('counts an empty history as done, and never passes 100 %', () => {
    expect(rebuildPercent({ applied_events: 0, history_events: 0 })).toBe(100);
    expect(rebuildPercent({ applied_events: 5100, history_events: 5000 })).toBe(100);
  });
});

describe('describeReadModels', () => {
  it('names the generation quietly when no rebuild runs', () => {
    const line = describeReadModels({ generation: 1, rebuild: null, last_rebuild: null }, now);
    expect(line).toEqual({
      text: 'read models: generation 1',
      hint: 'as first built: never rebuilt',
      state: 'current',
    });
  });

  it('tells when the last rebuild finished, from how many events and how long it took', () => {
    const finished = ago(3600);
    const line = describeReadModels(
      {
        generation: 2,
        rebuild: null,
        last_rebuild: { generation: 2, applied_events: 5000, started_at: ago(3675), finished_at: finished },
      },
      now,
    );
    expect(line.text).toBe('read models: generation 2');
    expect(line.hint).toBe(
      `generation 2 rebuilt ${formatTimestamp(new Date(finished))} from 5,000 events in 1 min 15 s`,
    );
  });

  it('shows a running rebuild with its generation, progress and phase', () => {
    const line = describeReadModels(rebuilding({}), now);
    expect(line.state).toBe('rebuilding');
    expect(line.text).toBe('Rebuilding read models: generation 3, 24 % (1,200 of 5,000 events), building');
    expect(line.hint).toBe(`generation 2 answers until the switch; started ${formatTimestamp(new Date(ago(60)))}`);
  });

  it('says the new generation answers once the rebuild has switched to it', () => {
    const status = { ...rebuilding({ phase: 'catching_up', applied_events: 5000 }), generation: 3 };
    const line = describeReadModels(status, now);
    expect(line.text).toBe(
      'Rebuilding read models: generation 3, 100 % (5,000 of 5,000 events), switched, catching up',
    );
    expect(line.hint).toMatch(/^generation 3 answers; the events that arrived meanwhile are applied/);
  });

  it('warns about a rebuild quiet for 30 s, which the server takes to be dead', () => {
    expect(describeReadModels(rebuilding({ heartbeat_at: ago(29) }), now).state).toBe('rebuilding');
    const line = describeReadModels(rebuilding({ heartbeat_at: ago(125) }), now);
    expect(line.state).toBe('stalled');
    expect(line.text).toBe('Rebuild of generation 3 stopped at 24 % (1,200 of 5,000 events): no report for 2 min 5 s');
    expect(line.hint).toMatch(/^generation 2 answers; .*removes what it left behind$/);
  });

  it('takes a report slightly ahead of the browser clock as fresh', () => {
    const ahead = new Date(now.getTime() + 2000).toISOString();
    expect(describeReadModels(rebuilding({ heartbeat_at: ahead }), now).state).toBe('rebuilding');
  });
});
