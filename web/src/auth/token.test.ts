import { describe, expect, it } from 'vitest';
import { takeTokenFromFragment } from './token';

describe('takeTokenFromFragment', () => {
  it('takes the token from the address watershed up prints', () => {
    expect(takeTokenFromFragment('#token=EF3Wm_iZ-N')).toEqual({ token: 'EF3Wm_iZ-N', rest: '' });
  });

  it('takes it from after a route and keeps the route and its other parameters', () => {
    expect(takeTokenFromFragment('#/devices/pump-1?range=24h&token=abc')).toEqual({
      token: 'abc',
      rest: '#/devices/pump-1?range=24h',
    });
    expect(takeTokenFromFragment('#/?token=abc')).toEqual({ token: 'abc', rest: '#/' });
  });

  it('decodes an escaped token', () => {
    expect(takeTokenFromFragment('#token=a%2Bb%3D').token).toBe('a+b=');
  });

  it('leaves a fragment without a token as it is', () => {
    expect(takeTokenFromFragment('#/devices/pump-1')).toEqual({ token: null, rest: '#/devices/pump-1' });
    expect(takeTokenFromFragment('')).toEqual({ token: null, rest: '' });
  });

  it('treats an empty token as none, but still removes it from the address', () => {
    expect(takeTokenFromFragment('#token=')).toEqual({ token: null, rest: '' });
  });
});
