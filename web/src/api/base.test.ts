import { describe, expect, it } from 'vitest';
import { chooseApiBase, normalizeBase } from './base';

describe('chooseApiBase', () => {
  it('is the same origin when nothing is configured', () => {
    expect(chooseApiBase('', null, undefined)).toEqual({ base: '' });
    expect(chooseApiBase('', null, '')).toEqual({ base: '' });
  });

  it('takes the build-time address, then a saved one over it', () => {
    expect(chooseApiBase('', null, 'https://api.example.com/')).toEqual({ base: 'https://api.example.com' });
    expect(chooseApiBase('', 'http://10.1.2.3:8080', 'https://api.example.com')).toEqual({
      base: 'http://10.1.2.3:8080',
    });
  });

  it('takes ?api= over everything and remembers it', () => {
    expect(
      chooseApiBase('?api=https%3A%2F%2Fws.example.org%2Fwatershed%2F', 'http://old:8080', 'https://built'),
    ).toEqual({
      base: 'https://ws.example.org/watershed',
      remember: 'https://ws.example.org/watershed',
    });
  });

  it('forgets the saved address on an empty ?api=', () => {
    expect(chooseApiBase('?api=', 'http://old:8080', 'https://built')).toEqual({
      base: 'https://built',
      remember: null,
    });
  });

  it('ignores an ?api= that is not an http(s) address', () => {
    expect(chooseApiBase('?api=javascript:alert(1)', 'http://old:8080', undefined)).toEqual({
      base: 'http://old:8080',
    });
    expect(chooseApiBase('?api=not a url', null, undefined)).toEqual({ base: '' });
  });
});

describe('normalizeBase', () => {
  it('drops trailing slashes and refuses what is not http(s)', () => {
    expect(normalizeBase(' http://127.0.0.1:8080// ')).toBe('http://127.0.0.1:8080');
    expect(normalizeBase('ftp://example.com')).toBeNull();
    expect(normalizeBase('')).toBeNull();
  });
});
