/**
 * The process exit codes of `host.run()`. Unlike .NET (up to 10), a crash never exits 0.
 */
export const ExitCodes = {
  /** Every service started and stopped cleanly. */
  success: 0,
  /** Start-up failed (bad configuration, a service's start threw) or a background service crashed. */
  failure: 1,
  /** At least one service did not stop within `shutdownTimeout` and was left behind. */
  shutdownTimeout: 3,
  /** A second SIGINT/SIGTERM forced the exit before the graceful stop finished. */
  forced: 130,
} as const;
