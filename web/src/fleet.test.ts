import { describe, expect, it } from 'vitest';
import type { Device } from './api/types';
import {
  filterDevices,
  mergeDevice,
  mergeReadings,
  nothingShownMessage,
  parseSortKey,
  sortDevices,
  tagChoices,
  tagsOf,
  withOpenAlerts,
  withTag,
} from './fleet';

function device(id: string, overrides: Partial<Device> = {}): Device {
  return {
    device_id: id,
    name: null,
    kind: null,
    location: null,
    status: 'online',
    tags: [],
    disabled_at: null,
    registered_at: '2026-11-23T09:00:00Z',
    last_seen: '2026-11-23T09:59:00Z',
    open_alerts: 0,
    alerts: [],
    sensors: [
      { sensor: 'humidity', value: 40, unit: '%', measured_at: '2026-11-23T09:59:00Z' },
      { sensor: 'temperature', value: 20, unit: 'C', measured_at: '2026-11-23T09:58:00Z' },
    ],
    ...overrides,
  };
}

describe('mergeReadings', () => {
  it('takes a newer reading as the latest value and moves last seen', () => {
    const merged = mergeReadings(device('a'), [
      { sensor: 'temperature', value: 21.5, unit: 'C', measured_at: '2026-11-23T10:00:00Z' },
    ]);
    expect(merged.sensors.find((s) => s.sensor === 'temperature')).toMatchObject({
      value: 21.5,
      measured_at: '2026-11-23T10:00:00Z',
    });
    expect(merged.last_seen).toBe('2026-11-23T10:00:00Z');
  });

  it('never lets a late reading hide a newer one', () => {
    const held = device('a');
    const merged = mergeReadings(held, [
      { sensor: 'humidity', value: 99, unit: '%', measured_at: '2026-11-23T09:00:00Z' },
    ]);
    expect(merged.sensors.find((s) => s.sensor === 'humidity')?.value).toBe(40);
    expect(merged.last_seen).toBe(held.last_seen);
  });

  it('uses the newest of several readings for one sensor in a batch, whatever their order', () => {
    const merged = mergeReadings(device('a'), [
      { sensor: 'temperature', value: 23, measured_at: '2026-11-23T10:00:02Z' },
      { sensor: 'temperature', value: 22, measured_at: '2026-11-23T10:00:01Z' },
    ]);
    expect(merged.sensors.find((s) => s.sensor === 'temperature')).toMatchObject({ value: 23, unit: null });
  });

  it('adds a new sensor in name order', () => {
    const merged = mergeReadings(device('a'), [
      { sensor: 'pressure', value: 1011, unit: 'hPa', measured_at: '2026-11-23T10:00:00Z' },
    ]);
    expect(merged.sensors.map((s) => s.sensor)).toEqual(['humidity', 'pressure', 'temperature']);
  });

  it('does not change the device it was given', () => {
    const held = device('a');
    mergeReadings(held, [{ sensor: 'temperature', value: 30, measured_at: '2026-11-23T10:00:00Z' }]);
    expect(held.sensors[1]?.value).toBe(20);
  });
});

describe('mergeDevice', () => {
  it('takes new details but keeps latest values newer than the incoming view', () => {
    const held = mergeReadings(device('a'), [
      { sensor: 'temperature', value: 25, unit: 'C', measured_at: '2026-11-23T10:00:05Z' },
    ]);
    const refreshed = device('a', { location: 'Hall B', status: 'decommissioned' });
    const merged = mergeDevice(held, refreshed);
    expect(merged).toMatchObject({ location: 'Hall B', status: 'decommissioned', last_seen: '2026-11-23T10:00:05Z' });
    expect(merged.sensors.find((s) => s.sensor === 'temperature')?.value).toBe(25);
  });

  it('takes the open alerts of the incoming view, raised or cleared', () => {
    const raised = {
      rule: 'too-hot',
      sensor: 'temperature',
      condition: 'above' as const,
      threshold: 26,
      value: 27.1,
      unit: 'C',
      message: null,
      raised_at: '2026-11-23T10:00:00Z',
    };
    const alerting = mergeDevice(device('a'), device('a', { open_alerts: 1, alerts: [raised] }));
    expect(alerting).toMatchObject({ open_alerts: 1, alerts: [raised] });
    expect(mergeDevice(alerting, device('a'))).toMatchObject({ open_alerts: 0, alerts: [] });
  });

  it('takes the tags and disabled time of the incoming view, set or removed', () => {
    const disabled = device('a', { status: 'disabled', tags: ['line-3'], disabled_at: '2026-11-23T10:00:00Z' });
    const held = mergeDevice(device('a'), disabled);
    expect(held).toMatchObject({ status: 'disabled', tags: ['line-3'], disabled_at: '2026-11-23T10:00:00Z' });
    expect(mergeDevice(held, device('a'))).toMatchObject({ status: 'online', tags: [], disabled_at: null });
  });

  it('takes a device it did not hold as it comes', () => {
    const incoming = device('b');
    expect(mergeDevice(undefined, incoming)).toBe(incoming);
  });
});

describe('filterDevices', () => {
  const fleet = [
    device('pump-1', { name: 'Pump One', location: 'Hall A' }),
    device('fan-2', { kind: 'ventilation', location: null, tags: ['line-3', 'site=Berlin'] }),
    device('sim-0003', { location: 'Roof' }),
  ];

  it('matches id, name, kind, location and tags in any case', () => {
    expect(filterDevices(fleet, 'PUMP').map((d) => d.device_id)).toEqual(['pump-1']);
    expect(filterDevices(fleet, 'hall a').map((d) => d.device_id)).toEqual(['pump-1']);
    expect(filterDevices(fleet, 'vent').map((d) => d.device_id)).toEqual(['fan-2']);
    expect(filterDevices(fleet, '0003').map((d) => d.device_id)).toEqual(['sim-0003']);
    expect(filterDevices(fleet, 'berlin').map((d) => d.device_id)).toEqual(['fan-2']);
  });

  it('reads a device from a server without tags as having none', () => {
    const untagged = device('old');
    delete untagged.tags;
    expect(tagsOf(untagged)).toEqual([]);
    expect(filterDevices([untagged], 'old')).toHaveLength(1);
  });

  it('keeps everything for an empty or blank filter', () => {
    expect(filterDevices(fleet, '  ')).toHaveLength(3);
  });
});

describe('withTag', () => {
  const fleet = [
    device('a', { tags: ['line-3', 'site=berlin'] }),
    device('b', { tags: ['line-30'] }),
    device('c', { tags: ['Line-3'] }),
    device('d'),
  ];
  const ids = (devices: Device[]) => devices.map((d) => d.device_id);

  it('keeps the devices carrying exactly that tag, case and all, as the API filters', () => {
    expect(ids(withTag(fleet, 'line-3'))).toEqual(['a']);
    expect(ids(withTag(fleet, 'site=berlin'))).toEqual(['a']);
    expect(ids(withTag(fleet, 'line'))).toEqual([]);
  });

  it('keeps every device without a tag to filter by', () => {
    expect(ids(withTag(fleet, null))).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('tagChoices', () => {
  it('lists every tag in the fleet once, in code-point order', () => {
    const fleet = [device('a', { tags: ['site=berlin', 'line-3'] }), device('b', { tags: ['line-3', 'Zone/1'] })];
    expect(tagChoices(fleet, null)).toEqual(['Zone/1', 'line-3', 'site=berlin']);
  });

  it('offers the chosen tag even when no device carries it', () => {
    expect(tagChoices([device('a', { tags: ['line-3'] })], 'gone')).toEqual(['gone', 'line-3']);
    expect(tagChoices([device('a', { tags: ['line-3'] })], 'line-3')).toEqual(['line-3']);
    expect(tagChoices([device('a')], null)).toEqual([]);
  });
});

describe('nothingShownMessage', () => {
  it('names the filters that left no device', () => {
    const none = { query: '', alertsOnly: false, tag: null };
    expect(nothingShownMessage({ ...none, query: ' hall ' })).toBe('No device matches “hall”.');
    expect(nothingShownMessage({ ...none, alertsOnly: true })).toBe('No device has an open alert.');
    expect(nothingShownMessage({ ...none, alertsOnly: true, query: 'hall' })).toBe(
      'No device with open alerts matches “hall”.',
    );
    expect(nothingShownMessage({ ...none, tag: 'line-3' })).toBe('No device is tagged “line-3”.');
    expect(nothingShownMessage({ ...none, tag: 'line-3', query: 'hall' })).toBe(
      'No device tagged “line-3” matches “hall”.',
    );
    expect(nothingShownMessage({ ...none, tag: 'line-3', alertsOnly: true })).toBe(
      'No device tagged “line-3” has an open alert.',
    );
    expect(nothingShownMessage({ query: 'hall', alertsOnly: true, tag: 'line-3' })).toBe(
      'No device tagged “line-3” with open alerts matches “hall”.',
    );
  });
});

describe('withOpenAlerts', () => {
  it('keeps the devices with at least one open alert', () => {
    const fleet = [device('a', { open_alerts: 2 }), device('b'), device('c', { open_alerts: 1 })];
    expect(withOpenAlerts(fleet).map((d) => d.device_id)).toEqual(['a', 'c']);
  });
});

describe('sortDevices', () => {
  const now = new Date('2026-11-23T10:00:00Z');
  const fleet = [
    device('c', { last_seen: '2026-11-23T09:59:59Z' }),
    device('a', { last_seen: null }),
    device('d', { status: 'decommissioned', last_seen: '2026-11-23T09:59:58Z' }),
    device('b', { last_seen: '2026-11-23T09:00:00Z' }),
  ];
  const ids = (devices: Device[]) => devices.map((d) => d.device_id);

  it('puts disabled devices after the working ones and before the decommissioned, even when seen just now', () => {
    const withDisabled = [
      ...fleet,
      device('e', { status: 'disabled', disabled_at: '2026-11-23T09:59:00Z', last_seen: '2026-11-23T09:59:59Z' }),
    ];
    expect(ids(sortDevices(withDisabled, 'status', now))).toEqual(['a', 'b', 'c', 'e', 'd']);
  });

  it('sorts by id', () => {
    expect(ids(sortDevices(fleet, 'id', now))).toEqual(['a', 'b', 'c', 'd']);
  });

  it('sorts by last seen, newest first and never-seen last', () => {
    expect(ids(sortDevices(fleet, 'last_seen', now))).toEqual(['c', 'd', 'b', 'a']);
  });

  it('sorts by status as of now: silent first, then online, then decommissioned; ties by id', () => {
    expect(ids(sortDevices(fleet, 'status', now))).toEqual(['a', 'b', 'c', 'd']);
    const pair = [
      device('x', { last_seen: '2026-11-23T09:59:59Z' }),
      device('y', { last_seen: '2026-11-23T09:00:00Z' }),
    ];
    expect(ids(sortDevices(pair, 'status', now))).toEqual(['y', 'x']);
    // Ten minutes later x has gone silent too, so the tie is broken by id.
    expect(ids(sortDevices(pair, 'status', new Date('2026-11-23T10:10:00Z')))).toEqual(['x', 'y']);
  });

  it('sorts by open alerts, most first; ties by id', () => {
    const alerting = [
      device('a', { open_alerts: 0 }),
      device('b', { open_alerts: 1 }),
      device('c', { open_alerts: 3 }),
      device('d', { open_alerts: 1, status: 'decommissioned' }),
    ];
    expect(ids(sortDevices(alerting, 'alerts', now))).toEqual(['c', 'b', 'd', 'a']);
  });

  it('reads unknown sort keys as id', () => {
    expect(parseSortKey('status')).toBe('status');
    expect(parseSortKey('alerts')).toBe('alerts');
    expect(parseSortKey('__proto__')).toBe('id');
    expect(parseSortKey(null)).toBe('id');
  });
});
