/**
 * Where the store reports trouble it recovers from by itself (a dropped notification connection, an idle pool
 * connection failing, a query stalled for seconds). The store has no logger of its own: the application passes
 * `onWarning` (typically forwarding to its logger), and by default warnings go to `process.emitWarning`, which Node
 * prints to stderr once per message.
 */

/** Receives a warning: a full sentence naming the store's schema, and the error behind it when there is one. */
export type WarningListener = (message: string, error?: unknown) => void;

/** The default {@link WarningListener}: `process.emitWarning` with the type 'HostworkPostgresWarning'. */
export const emitProcessWarning: WarningListener = (message, error) => {
  const detail = error instanceof Error ? error.message : error === undefined ? undefined : String(error);
  process.emitWarning(detail === undefined ? message : `${message} (${detail})`, {
    type: 'HostworkPostgresWarning',
  });
};

/** Wraps a listener so that one that throws never breaks the code path reporting the warning. */
export function safeWarningListener(listener: WarningListener): WarningListener {
  return (message, error) => {
    try {
      listener(message, error);
    } catch {
      // A warning must never become a failure of the operation that reported it.
    }
  };
}
