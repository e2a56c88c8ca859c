import { describe, expect, it } from 'vitest';
import { parseUpdate, retryDelay } from './stream';

describe('parseUpdate', () => {
  it('reads a readings event', () => {
    const data =
      '{"device_id":"sim-0001","stream_seq":12,"readings":[{"sensor":"temperature","value":21.5,"unit":"C","measured_at":"2026-11-23T10:00:00Z"}]}';
    expect(parseUpdate('readings', data)).toEqual({ type: 'readings', data: JSON.parse(data) });
  });

  it('reads a device event', () => {
    const update = parseUpdate('device', '{"device_id":"sim-0001","status":"online","sensors":[]}');
    expect(update).toMatchObject({ type: 'device', data: { device_id: 'sim-0001' } });
  });

  it('skips data that is not what the contract promises', () => {
    expect(parseUpdate('readings', 'not json')).toBeNull();
    expect(parseUpdate('readings', '{"device_id":"a"}')).toBeNull();
    expect(parseUpdate('device', '[]')).toBeNull();
    expect(parseUpdate('device', 'null')).toBeNull();
  });
});

describe('retryDelay', () => {
  it('doubles from one second up to thirty', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(retryDelay)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
});
