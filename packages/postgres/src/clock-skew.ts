/**
 * The start-up check of this process's clock against the database server's. Every time the store writes (lease
 * expiry, run times, schedule ticks, the maintenance leadership) comes from the writing process's `Date.now()`, so
 * worker machines must agree on the time: a maintenance leader whose clock runs ahead of another worker's by more
 * than `leaseMs − heartbeatMs` sees that worker's live leases as expired and hands its running jobs to others. The
 * server's clock is the one reference every process shares, so each process compares itself with it once, at
 * start-up, and warns when they differ by more than {@link CLOCK_SKEW_WARNING_MS}.
 */

/** Skew beyond which the store warns: far below the default lease margin (15 s lease − 5 s heartbeat = 10 s). */
export const CLOCK_SKEW_WARNING_MS = 1_000;

/** What one round trip to the server says about the two clocks. */
export interface ClockReading {
  /** `Date.now()` just before the query was sent. */
  readonly sentAt: number;
  /** `Date.now()` just after its answer arrived. */
  readonly receivedAt: number;
  /** The server's `clock_timestamp()` while it ran the query, in ms since the epoch. */
  readonly serverNow: number;
}

/**
 * This process's clock minus the server's, in ms (positive: this process is ahead). The server read its clock at
 * some moment of the round trip, so the skew is taken against the round trip's middle; half the round trip is how
 * far off that can be.
 */
export function clockSkewMs({ sentAt, receivedAt, serverNow }: ClockReading): number {
  return (sentAt + receivedAt) / 2 - serverNow;
}

/** The warning for a reading whose skew surely exceeds the threshold (beyond the round trip's uncertainty), else undefined. */
export function clockSkewWarning(where: string, reading: ClockReading): string | undefined {
  const skew = clockSkewMs(reading);
  const uncertainty = (reading.receivedAt - reading.sentAt) / 2;
  if (Math.abs(skew) - uncertainty <= CLOCK_SKEW_WARNING_MS) return undefined;
  const seconds = (Math.abs(skew) / 1000).toFixed(1);
  return (
    `${where}: this process's clock is ${seconds} s ${skew > 0 ? 'ahead of' : 'behind'} the database server's. ` +
    "Leases, run times and schedule ticks use each process's own clock: when the clocks of two worker machines " +
    'differ by more than leaseMs − heartbeatMs (10 s by default), the maintenance leader takes live jobs from the ' +
    'other worker and they run twice. Fix: synchronise the clocks of every machine running workers (NTP).'
  );
}
