/**
 * Shared by the services that let running work finish at shutdown (the job worker, the message consumers): how much
 * of the host's shutdown budget they wait, and the wait itself.
 */

/**
 * The part of the host's shutdown budget spent waiting for running work: all of it but 20 % (at most 5 s), kept to
 * hand unfinished work back before the host gives up on the service.
 */
export function shutdownGraceMs(budget: number): number {
  return Math.max(0, budget - Math.min(5_000, budget * 0.2));
}

/** Resolves when `promise` settles, `ms` pass, or `signal` aborts, whichever is first. */
export function waitWithin(promise: Promise<void>, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    promise.then(done, done);
  });
}
