import { describe, expect, it } from 'vitest';
import { summarizeEvent } from './events';

const summary = (event_type: string, payload: unknown) => summarizeEvent({ event_type, payload });

describe('summarizeEvent', () => {
  it('counts the readings of a batch and names the batch', () => {
    const readings = Array.from({ length: 100 }, () => ({ sensor: 't', value: 1, measured_at: '' }));
    expect(summary('ReadingsRecorded', { batch_id: 'b-123', readings })).toBe('100 readings, batch b-123');
    expect(summary('ReadingsRecorded', { batch_id: 'b-1', readings: readings.slice(0, 1) })).toBe(
      '1 reading, batch b-1',
    );
  });

  it('describes a registration with what it has', () => {
    expect(summary('DeviceRegistered', { name: 'Pump 1', kind: 'pump', location: 'Hall A' })).toBe(
      'registered as Pump 1 (pump) at Hall A',
    );
    expect(summary('DeviceRegistered', { name: null, kind: null, location: 'Roof' })).toBe('registered at Roof');
  });

  it('gives the decommissioning reason when there is one', () => {
    expect(summary('DeviceDecommissioned', { reason: 'replaced' })).toBe('decommissioned: replaced');
    expect(summary('DeviceDecommissioned', { reason: null })).toBe('decommissioned');
  });

  it('prefers an alert message, else says rule, sensor and value', () => {
    expect(
      summary('AlertRaised', {
        rule: 'too-hot',
        sensor: 'temperature',
        value: 81.234,
        message: 'temperature above 80 C',
      }),
    ).toBe('raised: temperature above 80 C');
    expect(summary('AlertCleared', { rule: 'too-hot', sensor: 'temperature', value: 70 })).toBe(
      'cleared: too-hot on temperature = 70',
    );
  });

  it('shows the payload of a type it does not know, shortened', () => {
    expect(summary('DeviceKeyRotated', {})).toBe('device key rotated');
    expect(summary('DeviceRenamed', { name: 'x' })).toBe('{"name":"x"}');
    expect(summary('Big', { text: 'y'.repeat(200) })).toHaveLength(80);
  });
});
