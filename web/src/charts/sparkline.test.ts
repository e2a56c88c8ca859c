import { describe, expect, it } from 'vitest';
import { sparklinePath } from './sparkline';

describe('sparklinePath', () => {
  it('scales time across the width and puts the highest value at the top', () => {
    expect(sparklinePath([0, 50, 100], [1, 3, 2], 0, 100, 100, 20)).toBe('M0 20 L50 0 L100 10');
  });

  it('places points by their time within the window, not by index', () => {
    expect(sparklinePath([60, 120], [1, 2], 0, 240, 100, 10)).toBe('M25 10 L50 0');
  });

  it('draws a flat series across the middle', () => {
    expect(sparklinePath([0, 60], [5, 5], 0, 60, 60, 24)).toBe('M0 12 L60 12');
  });

  it('breaks the line over a silence and draws a lone point as a dot', () => {
    expect(sparklinePath([0, 60, 600, 1200, 1260], [0, 1, 2, 3, 4], 0, 1260, 1260, 4)).toBe(
      'M0 4 L60 3 M600 2 h0 M1200 1 L1260 0',
    );
  });

  it('is empty without points', () => {
    expect(sparklinePath([], [], 0, 60)).toBe('');
  });
});
