import { describe, expect, it } from 'vitest';
import { alertsHref, deviceHref, overviewHref, parseRoute } from './routes';

describe('parseRoute', () => {
  it('opens the overview for an empty or root fragment, with its parameters', () => {
    expect(parseRoute('')).toMatchObject({ page: 'overview' });
    const route = parseRoute('#/?q=hall&sort=status');
    expect(route.page).toBe('overview');
    if (route.page === 'overview') expect(Object.fromEntries(route.params)).toEqual({ q: 'hall', sort: 'status' });
  });

  it('opens a device, decoding its id', () => {
    const route = parseRoute('#/devices/pump%2042?range=24h');
    expect(route).toMatchObject({ page: 'device', deviceId: 'pump 42' });
    if (route.page === 'device') expect(route.params.get('range')).toBe('24h');
    expect(parseRoute('#/devices/sim-0001/')).toMatchObject({ page: 'device', deviceId: 'sim-0001' });
  });

  it('opens the alerts, with their filter', () => {
    const route = parseRoute('#/alerts?state=all&sort=severity');
    expect(route.page).toBe('alerts');
    if (route.page === 'alerts') expect(route.params.get('sort')).toBe('severity');
    expect(parseRoute('#/alerts/')).toMatchObject({ page: 'alerts' });
  });

  it('knows no other pages', () => {
    expect(parseRoute('#/alerts/123')).toEqual({ page: 'not_found', path: '/alerts/123' });
    expect(parseRoute('#/devices/a/b')).toEqual({ page: 'not_found', path: '/devices/a/b' });
    expect(parseRoute('#/nowhere')).toEqual({ page: 'not_found', path: '/nowhere' });
  });
});

describe('hrefs', () => {
  it('round-trip through parseRoute', () => {
    const href = deviceHref('odd/id?', new URLSearchParams({ range: '7d' }));
    expect(href).toBe('#/devices/odd%2Fid%3F?range=7d');
    expect(parseRoute(href)).toMatchObject({ page: 'device', deviceId: 'odd/id?' });
    expect(overviewHref()).toBe('#/');
    expect(overviewHref(new URLSearchParams({ q: 'a b' }))).toBe('#/?q=a+b');
    expect(alertsHref()).toBe('#/alerts');
    expect(parseRoute(alertsHref(new URLSearchParams({ device: 'a b' })))).toMatchObject({ page: 'alerts' });
  });

  it('keep a tag filter whole, with the = / : a tag may hold', () => {
    const href = overviewHref(new URLSearchParams({ tag: 'site=berlin/hall:3' }));
    expect(href).toBe('#/?tag=site%3Dberlin%2Fhall%3A3');
    const route = parseRoute(href);
    expect(route.page === 'overview' && route.params.get('tag')).toBe('site=berlin/hall:3');
  });
});
