import { describe, expect, it } from 'vitest';
import { limitConcurrency } from './concurrency';

describe('limitConcurrency', () => {
  it('never runs more than the limit at once and runs every task in order', async () => {
    const limited = limitConcurrency(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const task = (n: number) => async () => {
      started.push(n);
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return n * 10;
    };
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => limited(task(n))));
    expect(results).toEqual([10, 20, 30, 40, 50]);
    expect(started).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  it('frees the slot of a task that failed', async () => {
    const limited = limitConcurrency(1);
    await expect(limited(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limited(async () => 'next')).resolves.toBe('next');
  });
});
