/** Bounds how many requests run at once, so lazily loaded sparklines do not crowd out the browser's few connections per host. */

export type Limited = <T>(task: () => Promise<T>) => Promise<T>;

/** Returns a runner that starts at most `limit` tasks at a time, in the order given. */
export function limitConcurrency(limit: number): Limited {
  let running = 0;
  const waiting: (() => void)[] = [];
  // A finishing task hands its slot straight to the next waiter, so no newcomer can slip in between.
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running < limit) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      release();
    }
  };
}
