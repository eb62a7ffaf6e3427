/**
 * A Kubernetes-style probe loop against a real worker process: liveness and readiness polled every 50 ms, like a
 * kubelet with a short period, while the worker runs two slow jobs, receives SIGTERM and drains them. Readiness must
 * say 503 from the first probe after the signal, before the worker has finished draining; liveness must never fail;
 * the jobs must finish, and the process exit 0, after which the port is closed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

interface Line {
  msg: string;
  time: number;
  port?: number;
}

it('readiness turns 503 at SIGTERM before the drain ends, liveness holds, the jobs finish', {
  timeout: 60_000,
}, async () => {
  const database = join(mkdtempSync(join(tmpdir(), 'hostwork-probes-')), 'jobs.db');
  const child = spawn(process.execPath, [new URL('./probe-target.ts', import.meta.url).pathname, database], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Line[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {}
  });
  createInterface({ input: child.stderr! }).on('line', (text) => stderr.push(text));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const until = async (what: string, match: (l: Line) => boolean) => {
      const deadline = Date.now() + 20_000;
      while (!lines.some(match)) {
        if (Date.now() > deadline) throw new Error(`no '${what}' in the log; stderr: ${stderr.join('\n')}`);
        await sleep(10);
      }
      return lines.find(match)!;
    };
    const port = (await until('the health port', (l) => l.msg.startsWith('Health endpoint listening'))).port!;
    const probes: Array<{ at: number; path: string; status: number | 'closed' }> = [];
    let polling = true;
    const loop = (async () => {
      while (polling) {
        for (const path of ['/healthz/live', '/healthz/ready']) {
          const at = Date.now();
          const status = await fetch(`http://127.0.0.1:${port}${path}`, {
            signal: AbortSignal.timeout(2_000),
          })
            .then((r) => r.status)
            .catch(() => 'closed' as const);
          probes.push({ at, path, status });
        }
        await sleep(50);
      }
    })();
    await until('two running jobs', () => lines.filter((l) => l.msg === 'slow job running').length === 2);
    const startedAt = (await until('the host started', (l) => l.msg.startsWith('Host started'))).time;
    const settled = () => probes.filter((p) => p.at > startedAt + 50 && p.status === 200);
    while (!(settled().some((p) => p.path === '/healthz/ready') && settled().length >= 3)) await sleep(10);
    await sleep(100); // those answers are well before the signal
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `exit code; stderr: ${stderr.join('\n')}`);
    await sleep(200);
    polling = false;
    await loop;

    const stoppedAt = lines.find((l) => l.msg === 'Job worker stopped')!.time;
    const before = probes.filter((p) => p.at > startedAt + 50 && p.at < signalledAt - 20);
    assert.ok(
      before.length >= 3 &&
        before.some((p) => p.path === '/healthz/ready') &&
        before.every((p) => p.status === 200),
      `both probes 200 while running: ${JSON.stringify(probes.map((p) => ({ ...p, at: p.at - signalledAt })))} started ${startedAt - signalledAt}`,
    );
    const readyAfter = probes.filter(
      (p) => p.path === '/healthz/ready' && p.at > signalledAt + 100 && p.status !== 'closed',
    );
    assert.ok(readyAfter.length > 0, 'readiness was probed during the drain');
    assert.ok(
      readyAfter.every((p) => p.status === 503),
      'readiness 503 from the signal on',
    );
    assert.ok(
      readyAfter.some((p) => p.at < stoppedAt - 200),
      'readiness said 503 well before the drain ended',
    );
    const liveAnswers = probes.filter((p) => p.path === '/healthz/live' && p.status !== 'closed');
    assert.ok(
      liveAnswers.every((p) => p.status === 200),
      'liveness never failed',
    );
    assert.ok(
      liveAnswers.some((p) => p.at > signalledAt + 500),
      'liveness answered during the drain',
    );
    assert.equal(lines.filter((l) => l.msg === 'slow job done').length, 2, 'the drain let both jobs finish');
    assert.equal(probes.at(-1)!.status, 'closed', 'the port is closed once the host stopped');
  } finally {
    child.kill('SIGKILL');
  }
});
