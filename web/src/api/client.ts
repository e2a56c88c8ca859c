/**
 * The dashboard's client for Watershed's API (the reads, acting on alerts, listing and deleting alert
 * rules): every call sends a bearer token and turns failures into `ApiError`.
 */

import { parseActionDone, parseAlertList } from './parseAlerts';
import { parseRuleList } from './parseRules';
import type {
  Alert,
  AlertAction,
  AlertActionDone,
  AlertActionRequest,
  AlertRuleList,
  Device,
  Envelope,
  ErrorBody,
  Resolution,
  Series,
  Status,
} from './types';

/** A failed call. `status` is 0 when the server could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ReadingsQuery {
  sensor: string;
  from: Date;
  to: Date;
  resolution: Resolution;
}

export class ApiClient {
  /**
   * @param base '' for same origin, else the API's absolute URL without a trailing slash.
   * @param token the current token, read at each call so a newly entered one takes effect at once.
   * @param onUnauthorized called when the server rejects the token (401), before the call fails.
   */
  constructor(
    readonly base: string,
    private readonly token: () => string | null,
    private readonly onUnauthorized: () => void,
  ) {}

  async devices(): Promise<Device[]> {
    return (await this.get<{ devices: Device[] }>('/v1/devices')).devices;
  }

  device(id: string): Promise<Device> {
    return this.get<Device>(`/v1/devices/${encodeURIComponent(id)}`);
  }

  readings(id: string, query: ReadingsQuery): Promise<Series> {
    return this.get<Series>(`/v1/devices/${encodeURIComponent(id)}/readings`, {
      sensor: query.sensor,
      from: query.from.toISOString(),
      to: query.to.toISOString(),
      resolution: query.resolution,
    });
  }

  async events(id: string, limit: number): Promise<Envelope[]> {
    const path = `/v1/devices/${encodeURIComponent(id)}/events`;
    return (await this.get<{ events: Envelope[] }>(path, { limit: String(limit) })).events;
  }

  status(): Promise<Status> {
    return this.get<Status>('/v1/status');
  }

  /** `GET /v1/alerts` with `query` (state, acknowledged, severity, device, limit), newest raised first. */
  async alerts(query: URLSearchParams): Promise<Alert[]> {
    return parseAlertList(await this.request('/v1/alerts', { params: query }));
  }

  /**
   * Acknowledges or clears an alert. The server takes only the admin token for this: pass it as `token`,
   * or null to try the page's own (someone may have opened the dashboard with the admin token). A 401
   * for a token passed here is the caller's to handle: it says nothing about the page's own token.
   */
  async actOnAlert(
    id: string,
    action: AlertAction,
    body: AlertActionRequest,
    token: string | null,
  ): Promise<AlertActionDone> {
    const path = `/v1/alerts/${encodeURIComponent(id)}/${action}`;
    return parseActionDone(await this.request(path, { method: 'POST', body, token }));
  }

  /**
   * `GET /v1/alert-rules`, which only the admin token may read: `token` as for `actOnAlert`. A server
   * older than the rules API answers 404.
   */
  async alertRules(token: string | null): Promise<AlertRuleList> {
    return parseRuleList(await this.request('/v1/alert-rules', { token }));
  }

  /** `DELETE /v1/alert-rules/{name}` with the admin token (`token` as for `actOnAlert`); 404 when there is none by that name. */
  async deleteAlertRule(name: string, token: string | null): Promise<void> {
    await this.request(`/v1/alert-rules/${encodeURIComponent(name)}`, { method: 'DELETE', token });
  }

  /** The live stream's address. The token goes in the query because EventSource cannot send headers. */
  streamUrl(): string {
    return this.url('/v1/stream', { access_token: this.token() ?? '' });
  }

  private url(path: string, params: Record<string, string> | URLSearchParams = {}): string {
    const query = new URLSearchParams(params).toString();
    return `${this.base}${path}${query ? `?${query}` : ''}`;
  }

  private async get<T>(path: string, params?: Record<string, string>): Promise<T> {
    return (await this.request(path, { params })) as T;
  }

  private async request(path: string, options: RequestOptions = {}): Promise<unknown> {
    const { params, method = 'GET', body, token = null } = options;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token ?? this.token() ?? ''}`,
      Accept: 'application/json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(this.url(path, params), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'unreachable', `cannot reach the API${this.base ? ` at ${this.base}` : ''}`);
    }
    // 204 (a deletion) has no body to read.
    if (response.status === 204) return undefined;
    if (response.ok) return response.json();
    const failure = await errorFrom(response);
    // Only a refusal of the page's own token brings up the token form; a token passed in is the caller's.
    if (response.status === 401 && token === null) this.onUnauthorized();
    throw failure;
  }
}

interface RequestOptions {
  params?: Record<string, string> | URLSearchParams;
  method?: 'GET' | 'POST' | 'DELETE';
  /** Sent as JSON. */
  body?: unknown;
  /** A token other than the page's own (the admin token); null for the page's own. */
  token?: string | null;
}

async function errorFrom(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as ErrorBody;
    return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    return new ApiError(response.status, 'http_error', `the API answered ${response.status} ${response.statusText}`);
  }
}

/** Whether the API refused the token: the app answers that one by asking for a token, so pages need not show it. */
export function isUnauthorized(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}

/** An error's message for people. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
