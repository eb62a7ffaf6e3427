/**
 * PostgreSQL helpers of the benchmark: the database URL, fresh schema names, dropping a run's schema, a description
 * of the server for the report, and the server's CPU time (for the client/server CPU split).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import pg from 'pg';

/** The database the postgres benchmark uses unless `--database-url` or `DATABASE_URL` says otherwise. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name for one run: `bench_` and 12 random hex digits. */
export function freshSchema(): string {
  return `bench_${randomBytes(6).toString('hex')}`;
}

/** Runs `work` with one short-lived connection (never one of a measured library's pools). */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'hostwork-bench-admin' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Drops a run's schema and everything in it (every system keeps all of its objects in its schema). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  if (!/^bench_[0-9a-f]+$/.test(schema)) throw new Error(`refusing to drop schema '${schema}'`);
  await withClient(url, (c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

/** The server's version and the settings that shape these figures, for the machine line. */
export async function describeServer(url: string): Promise<string> {
  return withClient(url, async (c) => {
    const version = (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!
      .v;
    const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
       WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'autovacuum', 'max_connections')
       ORDER BY name`,
    );
    const settings = rows.map((r) => `${r.name}=${r.setting}${r.unit ? ` ${r.unit}` : ''}`).join(', ');
    return `PostgreSQL ${version} (${settings})`;
  });
}

/** USER_HZ: the unit of the CPU times in /proc/<pid>/stat (100 on Linux). */
const TICK_MS = 10;

/** Every local PostgreSQL server process: its CPU time so far (user + system, ms) and its command line. */
function serverProcesses(): Map<number, { cpuMs: number; cmdline: string }> {
  const out = new Map<number, { cpuMs: number; cmdline: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      // After the command: state(3) ppid(4) ... utime(14) stime(15).
      const fields = stat.slice(close + 2).split(' ');
      const cpuMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      out.set(Number(entry), { cpuMs, cmdline });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return out;
}

/** The local TCP ports of this process's sockets (its database connections among them). */
function ownTcpPorts(): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.add(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/**
 * Measures the CPU split of a timed section: this process versus the PostgreSQL server, each as a share of one core
 * (so with 2 cores the two can add up to 200 %). The server's share counts the backends serving this process's
 * connections (a backend's command line names its client's port) and the server's own background processes (WAL
 * writer, checkpointer, ...), not other clients' backends on the same server. Linux only; NaN elsewhere.
 */
export function cpuSplit(): () => { wallMs: number; clientPct: number; serverPct: number } {
  const t0 = performance.now();
  const own0 = ownCpuMs();
  let before: Map<number, { cpuMs: number; cmdline: string }> | undefined;
  try {
    before = serverProcesses();
  } catch {
    before = undefined;
  }
  return () => {
    const wallMs = performance.now() - t0;
    const clientPct = ((ownCpuMs() - own0) / wallMs) * 100;
    if (!before) return { wallMs, clientPct, serverPct: Number.NaN };
    const ports = ownTcpPorts();
    let serverMs = 0;
    for (const [pid, now] of serverProcesses()) {
      const client = /\((\d+)\)/.exec(now.cmdline);
      // A client backend serves the connection from that port; anything else is the server's own process.
      if (client && !ports.has(Number(client[1]))) continue;
      serverMs += now.cpuMs - (before.get(pid)?.cpuMs ?? 0);
    }
    return { wallMs, clientPct, serverPct: (serverMs / wallMs) * 100 };
  };
}

/** This process's CPU time (user + system) so far, ms. */
export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
