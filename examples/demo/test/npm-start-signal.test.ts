import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { DemoProcess, processGroupAlive, tempDatabase } from './demo-process.ts';

/** Resolves with the error code of a TCP connection to 127.0.0.1:`port` ('ECONNREFUSED' once nothing listens). */
function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
  });
}

// A process manager (a container runtime, systemd with KillMode=mixed, pm2) signals the one process it started:
// `npm start`, not the demo's node. npm forwards SIGTERM to its script's process and exits as that process did, so
// the script must `exec` node; through a shell that forks, the shell dies and node runs on, orphaned.
describe('npm start under a process manager', { timeout: 60_000 }, () => {
  it('passes SIGTERM sent to npm on to the demo, which shuts down, and npm exits 0 with nothing left running', async () => {
    const demo = new DemoProcess(tempDatabase(), [], { via: 'npm-start' });
    try {
      const starting = await demo.waitFor((l) => l.msg === 'Host starting', 'Host starting', 30_000);
      assert.equal(starting.environment, 'Development', 'npm start runs the demo in Development');
      const { port } = await demo.waitFor(
        (l) => typeof l.port === 'number' && l.msg.startsWith('Listening'),
        'the HTTP port',
      );
      await demo.waitFor((l) => l.msg.startsWith('Host started'), 'Host started');

      demo.child.kill('SIGTERM');
      const exited = await Promise.race([
        demo.exited,
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref()),
      ]);
      assert.notEqual(exited, 'timeout', 'npm start did not exit within 20 s of SIGTERM');
      const { code, signal } = exited as Awaited<typeof demo.exited>;
      const shutdown = demo.lines
        .map((l) => l.msg)
        .filter((m) => /^(Received SIGTERM|Host stopp)/.test(m))
        .map((m) => m.replace(/;.*$/, '').replace(/ in \d+ ms.*$/, ''));
      assert.deepEqual(
        { code, signal, shutdown },
        { code: 0, signal: null, shutdown: ['Received SIGTERM', 'Host stopping', 'Host stopped'] },
        `npm start's exit and the demo's shutdown lines; stderr: ${demo.stderr.join('\n')}`,
      );
      assert.equal(await connectError(port as number), 'ECONNREFUSED', `port ${port} is free again`);
      assert.equal(
        processGroupAlive(demo.processGroup!),
        false,
        'no process of npm start (the shell, the demo) is left',
      );
    } finally {
      await demo.kill();
    }
  });
});
