/** The JSON shapes of Watershed's HTTP API (`/v1`), as the dashboard reads them. Timestamps are RFC 3339 strings in UTC. */

/** `disabled`: an administrator stopped its ingest until it is enabled again; `decommissioned`: for good. */
export type DeviceStatus = 'online' | 'silent' | 'disabled' | 'decommissioned';

/** A sensor's latest reading; also one reading of a live `readings` event. */
export interface SensorReading {
  sensor: string;
  value: number;
  /** Absent or null when the device sent no unit. */
  unit?: string | null;
  measured_at: string;
}

export interface Device {
  device_id: string;
  name: string | null;
  kind: string | null;
  location: string | null;
  status: DeviceStatus;
  /**
   * Sorted, each 1–64 of `A-Z a-z 0-9 - _ . : = /` (`line-3`, `site=berlin`). This and `disabled_at` are
   * absent from servers older than the device registry: a dashboard hosted apart from the API can be
   * deployed before the API it calls.
   */
  tags?: string[];
  /** Since when the device is disabled, while it is. */
  disabled_at?: string | null;
  registered_at: string;
  last_seen: string | null;
  /** How many alerts are open: `alerts.length`, sent on its own for clients that only count. */
  open_alerts: number;
  /** The open alerts, oldest first (by `raised_at`). */
  alerts: OpenAlert[];
  /** Sorted by sensor name. */
  sensors: SensorReading[];
}

/**
 * What broke a rule. `above` and `below`: a reading past the threshold, in the sensor's unit. `silent`:
 * no reading for longer than the threshold, in seconds (the value too). `rate_above` and `rate_below`:
 * the sensor's change in its unit per second. `anomaly`: a z-score; `model`: a model's score (no unit).
 */
export const CONDITIONS = ['above', 'below', 'silent', 'rate_above', 'rate_below', 'anomaly', 'model'] as const;

export type Condition = (typeof CONDITIONS)[number];

/** An alert rule that a reading broke and no later reading has cleared. */
export interface OpenAlert {
  rule: string;
  sensor: string;
  condition: Condition;
  threshold: number;
  /** The reading that raised it, or what the condition measures (see `CONDITIONS`). */
  value: number;
  /** The sensor's unit (`s` for a silence). */
  unit: string | null;
  /** The rule's own text for people, if it has one. */
  message: string | null;
  raised_at: string;
}

/** Alert severities, gravest first: the order the alerts page sorts by. */
export const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const;

export type Severity = (typeof SEVERITIES)[number];

/** `rule`: a reading came back past `clear_at`; `manual`: someone cleared it; `decommissioned`: its device was. */
export type ClearReason = 'rule' | 'manual' | 'decommissioned' | 'rule_deleted';

/** One alert of `GET /v1/alerts`: what raised it, as an open alert says, and what has happened to it since. */
export interface Alert extends OpenAlert {
  /** The event id of its `AlertRaised`: what `/v1/alerts/{id}/ack` and `/clear` take. */
  id: string;
  device_id: string;
  severity: Severity;
  state: 'active' | 'cleared';
  acknowledged: boolean;
  cleared_at: string | null;
  clear_reason: ClearReason | null;
  /** Who cleared it by hand, and why. */
  cleared_by: string | null;
  clear_note: string | null;
  /** The reading that cleared it, when its rule did. */
  clear_value: number | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  ack_note: string | null;
}

/** How a rule judges a sensor; its parameters are the `AlertRule` fields of the same group. */
export const DETECTORS = ['threshold', 'rate', 'anomaly', 'silence', 'model'] as const;

export type Detector = (typeof DETECTORS)[number];

/**
 * One rule of `GET /v1/alert-rules`. A field left out is not set; each detector reads only its own
 * parameters. Its scope is one `device`, or every device of one `kind`, or (neither) every device.
 */
export interface AlertRule {
  name: string;
  severity: Severity;
  detector: Detector;
  /** Where in the rules stream it was last defined. */
  revision: number;
  defined_at: string;
  /** Absent only for a silence of the whole device (no reading of any sensor). */
  sensor?: string;
  device?: string;
  kind?: string;
  message?: string;
  /** threshold: raised by a reading strictly past either. */
  above?: number;
  below?: number;
  /** rate: the change in the sensor's unit per second, over `window` seconds. */
  rate_above?: number;
  rate_below?: number;
  window?: number;
  /** anomaly: a reading's z-score against its smoothed history (`alpha`), after `warm_up` readings. */
  zscore_above?: number;
  alpha?: number;
  warm_up?: number;
  /** silence: seconds without a reading. */
  silent_for?: number;
  /** model: its score of the latest `inputs` readings. */
  score_above?: number;
  inputs?: number;
  model?: RuleModel;
  /** Where a raised alert clears, on the detector's scale (every detector but silence). */
  clear_at?: number;
}

/** The model a `model` rule scores with, named by its content. */
export interface RuleModel {
  sha256: string;
  bytes: number;
}

/** `GET /v1/alert-rules`: every rule, and the rules stream's position they are as of. */
export interface AlertRuleList {
  version: number;
  rules: AlertRule[];
}

/** What an operator does to an alert; also the last segment of its path, `/v1/alerts/{id}/ack`. */
export type AlertAction = 'ack' | 'clear';

/** The body of an action: who acts (1–128 printable characters, no spaces at the ends) and why. */
export interface AlertActionRequest {
  by: string;
  note?: string;
}

/** Where an alert stands after an action; `changed` is false when it already stood there. */
export interface AlertActionDone {
  id: string;
  device_id: string;
  state: Alert['state'];
  acknowledged: boolean;
  changed: boolean;
}

export type Resolution = 'raw' | '1m' | '1h';

export interface RawPoint {
  t: string;
  value: number;
}

/** A 1-minute or 1-hour bucket; `t` is the bucket's start. */
export interface BucketPoint {
  t: string;
  count: number;
  min: number;
  max: number;
  avg: number;
}

interface SeriesCommon {
  device_id: string;
  sensor: string;
  unit: string | null;
  from: string;
  to: string;
  /** The server cut the answer at its point limit. */
  truncated: boolean;
}

export type Series =
  | (SeriesCommon & { resolution: 'raw'; points: RawPoint[] })
  | (SeriesCommon & { resolution: '1m' | '1h'; points: BucketPoint[] });

export interface Envelope {
  event_id: string;
  stream_id: string;
  stream_seq: number;
  position: number;
  event_type: string;
  schema_version: number;
  occurred_at: string;
  recorded_at: string;
  correlation_id: string | null;
  causation_id: string | null;
  payload: unknown;
}

export interface Status {
  lag_events: number;
  lag_capped: boolean;
  /** Null when events wait where the server cannot date them (in Kafka): the count still tells. */
  lag_seconds: number | null;
  devices: number;
  /**
   * Absent from servers older than read-model generations: a dashboard hosted apart from the API
   * (App Service) can be deployed before the API it calls.
   */
  read_models?: ReadModelsStatus;
}

/** Which generation of the read models answers, and the rebuild going on or last finished. */
export interface ReadModelsStatus {
  generation: number;
  rebuild: Rebuild | null;
  last_rebuild: FinishedRebuild | null;
}

/**
 * `building`: the new generation is being filled while the current one answers. `catching_up`: the new
 * one answers already, and the rebuild applies the events that arrived meanwhile before it retires the old one.
 */
export type RebuildPhase = 'building' | 'catching_up';

/** A rebuild in progress (`watershed rebuild read-models`). */
export interface Rebuild {
  /** The generation being built. */
  generation: number;
  phase: RebuildPhase;
  applied_events: number;
  /** Events in the history when last counted: `applied_events` of it is done. */
  history_events: number;
  started_at: string;
  /** When the rebuild last reported (every second); one quiet for 30 s is taken to be dead. */
  heartbeat_at: string;
}

export interface FinishedRebuild {
  generation: number;
  applied_events: number;
  started_at: string;
  finished_at: string;
}

/** Data of the live stream's `readings` event: readings already projected into the read models. */
export interface LiveReadings {
  device_id: string;
  stream_seq: number;
  readings: SensorReading[];
}

/** The error body every failing `/v1` call answers with. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}
