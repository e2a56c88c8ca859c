/**
 * Hash routes, so any static host (and the Watershed binary's plain file server) serves every page:
 * `#/` the fleet overview (`?q=` filter, `?tag=`, `?alerts=open`, `?sort=`), `#/devices/<id>` a device
 * (`?range=` or `?from=&to=`), `#/alerts` the alerts (`?state=`, `?acknowledged=`, `?severity=`,
 * `?device=`, `?sort=`).
 */

export type Route =
  | { page: 'overview'; params: URLSearchParams }
  | { page: 'device'; deviceId: string; params: URLSearchParams }
  | { page: 'alerts'; params: URLSearchParams }
  | { page: 'not_found'; path: string };

export function parseRoute(hash: string): Route {
  const fragment = hash.replace(/^#/, '');
  const queryAt = fragment.indexOf('?');
  const path = queryAt >= 0 ? fragment.slice(0, queryAt) : fragment;
  const params = new URLSearchParams(queryAt >= 0 ? fragment.slice(queryAt + 1) : '');
  if (path === '' || path === '/') return { page: 'overview', params };
  if (/^\/alerts\/?$/.test(path)) return { page: 'alerts', params };
  const device = /^\/devices\/([^/]+)\/?$/.exec(path);
  if (device) return { page: 'device', deviceId: safeDecode(device[1]!), params };
  return { page: 'not_found', path };
}

export function overviewHref(params?: URLSearchParams): string {
  return withParams('#/', params);
}

export function deviceHref(deviceId: string, params?: URLSearchParams): string {
  return withParams(`#/devices/${encodeURIComponent(deviceId)}`, params);
}

export function alertsHref(params?: URLSearchParams): string {
  return withParams('#/alerts', params);
}

function withParams(path: string, params?: URLSearchParams): string {
  const query = params?.toString();
  return query ? `${path}?${query}` : path;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
