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

  it('names the sensors a batch added', () => {
    expect(summary('SensorsAdded', { sensors: ['humidity', 'temperature'] })).toBe(
      'new sensors: humidity, temperature',
    );
  });

  it('says why an alert was retired', () => {
    expect(summary('AlertRetired', { rule: 'too-hot', reason: 'rule_deleted' })).toBe(
      'retired: too-hot, its rule was deleted',
    );
    expect(summary('AlertRetired', { rule: 'too-hot', reason: 'device_decommissioned' })).toBe(
      'retired: too-hot, device decommissioned',
    );
  });

  it('gives the decommissioning reason when there is one', () => {
    expect(summary('DeviceDecommissioned', { reason: 'replaced' })).toBe('decommissioned: replaced');
    expect(summary('DeviceDecommissioned', { reason: null })).toBe('decommissioned');
  });

  it('says what a rename, move or retag changed, or that it removed the value', () => {
    expect(summary('DeviceRenamed', { name: 'Pump 7' })).toBe('renamed to "Pump 7"');
    expect(summary('DeviceRenamed', { name: null })).toBe('name removed');
    expect(summary('DeviceMoved', { location: 'Hall C' })).toBe('moved to Hall C');
    expect(summary('DeviceMoved', { location: null })).toBe('location removed');
    expect(summary('DeviceRetagged', { tags: ['line-3', 'site=berlin'] })).toBe('tags: line-3, site=berlin');
    expect(summary('DeviceRetagged', { tags: [] })).toBe('tags removed');
  });

  it('gives the reason a device was disabled when there is one, and says when it is enabled', () => {
    expect(summary('DeviceDisabled', { reason: 'maintenance' })).toBe('disabled: maintenance');
    expect(summary('DeviceDisabled', { reason: null })).toBe('disabled');
    expect(summary('DeviceDisabled', {})).toBe('disabled');
    expect(summary('DeviceEnabled', {})).toBe('enabled');
  });

  it('still says something for a registry payload missing or mangling fields', () => {
    expect(summary('DeviceRenamed', {})).toBe('name removed');
    expect(summary('DeviceRetagged', { tags: 'line-3' })).toBe('tags removed');
    expect(summary('DeviceRetagged', { tags: ['line-3', 7, null] })).toBe('tags: line-3');
  });

  it('says which rule a reading broke, with the value, unit and threshold, then the message', () => {
    const raised = {
      rule: 'too-hot',
      sensor: 'temperature',
      condition: 'above',
      threshold: 26,
      value: 27.1,
      unit: 'C',
      message: null,
      measured_at: '2026-11-23T10:00:00Z',
    };
    expect(summary('AlertRaised', raised)).toBe('raised: too-hot on temperature 27.1 C > 26');
    expect(summary('AlertRaised', { ...raised, condition: 'below', threshold: 0.2, value: 0.1234, unit: null })).toBe(
      'raised: too-hot on temperature 0.123 < 0.2',
    );
    expect(summary('AlertRaised', { ...raised, message: 'Server room too hot' })).toBe(
      'raised: too-hot on temperature 27.1 C > 26 — Server room too hot',
    );
  });

  it('says what else a rule measured against its limit', () => {
    const raised = { rule: 'heating-fast', sensor: 'temperature', unit: '°C', message: null };
    expect(summary('AlertRaised', { ...raised, condition: 'rate_above', threshold: 0.5, value: 0.62 })).toBe(
      'raised: heating-fast on temperature rising 0.62 °C/s (limit 0.5 °C/s)',
    );
    expect(summary('AlertRaised', { ...raised, condition: 'anomaly', threshold: 4, value: 4.3, message: 'Odd' })).toBe(
      'raised: heating-fast on temperature z-score 4.3 (limit 4) — Odd',
    );
    expect(summary('AlertRaised', { ...raised, condition: 'model', threshold: 0.9, value: 0.97 })).toBe(
      'raised: heating-fast on temperature model score 0.97 (limit 0.9)',
    );
    expect(summary('AlertRaised', { ...raised, condition: 'silent', threshold: 60, value: 90, unit: 's' })).toBe(
      'raised: heating-fast on temperature silent for 1 min 30 s (limit 1 min)',
    );
  });

  it('says which rule a reading cleared, and at what value', () => {
    const cleared = {
      rule: 'too-hot',
      sensor: 'temperature',
      value: 25.4,
      unit: 'C',
      measured_at: '2026-11-23T10:05:00Z',
    };
    expect(summary('AlertCleared', cleared)).toBe('cleared: too-hot on temperature 25.4 C');
    expect(summary('AlertCleared', { ...cleared, unit: null })).toBe('cleared: too-hot on temperature 25.4');
  });

  it('still says something for an alert payload missing fields', () => {
    expect(summary('AlertRaised', {})).toBe('raised: alert');
    expect(summary('AlertCleared', { rule: 'too-hot' })).toBe('cleared: too-hot');
  });

  it('shows the payload of a type it does not know, shortened', () => {
    expect(summary('DeviceKeyRotated', {})).toBe('device key rotated');
    expect(summary('DeviceRepainted', { colour: 'x' })).toBe('{"colour":"x"}');
    expect(summary('Big', { text: 'y'.repeat(200) })).toHaveLength(80);
  });
});
