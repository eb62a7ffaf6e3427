import { execFile } from 'node:child_process';
import { ApplicationLifetime } from '../hosting/application-lifetime.ts';
import type { HostBuilder } from '../hosting/host-builder.ts';
import type { HostedServiceWithHooks } from '../hosting/hosted-service.ts';
import { type Logger, LoggerFactory } from '../logging/index.ts';
import { HealthCheckService } from './health-check-service.ts';
import { healthChecksOf } from './health-checks.ts';

/** Sends one notification (`READY=1`, ...) to systemd; resolves when sent, rejects when it could not be. */
export type NotifySender = (assignments: readonly string[], socket: string) => Promise<void>;

/**
 * Sends through Debian's and every systemd distribution's `systemd-notify` (Node.js has no Unix datagram sockets).
 * `--pid` names this process as the service's main process, which it is when systemd started it (`ExecStart=node
 * ...`); a unit whose main process is a shell or npm needs `NotifyAccess=all`.
 */
export const systemdNotifySender: NotifySender = (assignments, socket) =>
  new Promise((resolve, reject) => {
    execFile(
      'systemd-notify',
      [`--pid=${process.pid}`, ...assignments],
      { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 5_000 },
      (error) => (error ? reject(error) : resolve()),
    );
  });

/**
 * systemd's notification protocol for a host run as a `Type=notify` service: `READY=1` once every hosted service has
 * started, `STOPPING=1` when the stop begins, and, with `WatchdogSec=`, `WATCHDOG=1` every half watchdog period while
 * the liveness checks are not unhealthy (a stuck process stops pinging, and systemd restarts it). Does nothing
 * without `NOTIFY_SOCKET`.
 */
export class SystemdNotifier implements HostedServiceWithHooks {
  readonly #socket: string | undefined;
  readonly #watchdogMs: number | undefined;
  readonly #health: HealthCheckService;
  readonly #lifetime: ApplicationLifetime;
  readonly #log: Logger;
  readonly #send: NotifySender;
  #watchdog: NodeJS.Timeout | undefined;
  #warned = false;

  constructor(
    env: NodeJS.ProcessEnv,
    health: HealthCheckService,
    lifetime: ApplicationLifetime,
    log: Logger,
    send: NotifySender = systemdNotifySender,
  ) {
    this.#socket = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID, when set, names the process the watchdog is meant for (not a child that inherited the variable).
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    this.#watchdogMs = Number.isFinite(usec) && usec > 0 && forUs ? usec / 1_000 : undefined;
    this.#health = health;
    this.#lifetime = lifetime;
    this.#log = log;
    this.#send = send;
  }

  start(): void {}

  async started(): Promise<void> {
    if (this.#socket === undefined) return;
    await this.#notify(['READY=1', 'STATUS=Running']);
    this.#lifetime.onStopping(() => {
      clearTimeout(this.#watchdog);
      void this.#notify(['STOPPING=1', 'STATUS=Stopping']);
    });
    if (this.#watchdogMs !== undefined) this.#ping(this.#watchdogMs / 2);
  }

  stop(): void {
    clearTimeout(this.#watchdog);
  }

  #ping(everyMs: number): void {
    this.#watchdog = setTimeout(async () => {
      const live = await this.#health.check({ probe: 'live' });
      if (live.status === 'unhealthy') {
        const failing = Object.entries(live.entries).filter(([, e]) => e.status === 'unhealthy');
        this.#log.warn(
          { checks: failing.map(([name]) => name) },
          `Not pinging systemd's watchdog: liveness is unhealthy (${failing.map(([name, e]) => `${name}: ${e.description ?? e.error ?? 'unhealthy'}`).join('; ')})`,
        );
      } else await this.#notify(['WATCHDOG=1']);
      if (!this.#lifetime.stopping.aborted) this.#ping(everyMs);
    }, everyMs);
    this.#watchdog.unref();
  }

  async #notify(assignments: readonly string[]): Promise<void> {
    try {
      await this.#send(assignments, this.#socket!);
    } catch (error) {
      if (this.#warned) return;
      this.#warned = true;
      this.#log.warn(
        { err: error, socket: this.#socket },
        `Could not notify systemd (${assignments.join(' ')}): ${(error as Error).message}. The systemd-notify command comes with systemd; without it the unit should not be Type=notify.`,
      );
    }
  }
}

/**
 * Runs the host as a systemd `Type=notify` service (the counterpart of .NET's `UseSystemd()`): see
 * {@link SystemdNotifier}. Harmless where systemd did not start the process (no `NOTIFY_SOCKET`).
 */
export function addSystemdNotify(builder: HostBuilder): void {
  healthChecksOf(builder);
  builder.services.addHostedService(SystemdNotifier, {
    factory: (p) =>
      new SystemdNotifier(
        process.env,
        p.get(HealthCheckService),
        p.get(ApplicationLifetime),
        p.get(LoggerFactory).create('Hostwork.Systemd'),
      ),
    deps: [HealthCheckService, ApplicationLifetime, LoggerFactory],
  });
}
