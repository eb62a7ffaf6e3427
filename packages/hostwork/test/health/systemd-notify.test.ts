/**
 * systemd's notification protocol, received on a real Unix datagram socket (a python3 listener, as systemd listens)
 * from a host process sent through the real systemd-notify: READY=1 once started, WATCHDOG=1 every half period,
 * STOPPING=1 at SIGTERM. Skipped with the reason where systemd-notify or python3 is missing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeWhenAvailable } from '../support/services.ts';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(4096).decode()
    print(" ".join(data.split("\\n")), flush=True)
`;

function missing(): string | undefined {
  for (const [command, arg] of [
    ['systemd-notify', '--version'],
    ['python3', '--version'],
  ] as const) {
    if (spawnSync(command, [arg]).error) return `${command} is not installed`;
  }
  return undefined;
}

describeWhenAvailable('systemd notifications', missing(), () => {
  it('READY=1 once started, WATCHDOG=1 every half period, STOPPING=1 at SIGTERM', {
    timeout: 30_000,
  }, async () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'hostwork-notify-')), 'notify.sock');
    const listener = spawn('python3', ['-c', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    const received: string[] = [];
    createInterface({ input: listener.stdout! }).on('line', (line) => received.push(line));
    try {
      while (!received.includes('listening')) await sleep(10);
      const host = spawn(process.execPath, [new URL('./systemd-target.ts', import.meta.url).pathname], {
        env: { ...process.env, NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exited = new Promise((resolve) => host.once('exit', resolve));
      const deadline = Date.now() + 15_000;
      while (received.filter((r) => r.includes('WATCHDOG=1')).length < 3 && Date.now() < deadline)
        await sleep(20);
      host.kill('SIGTERM');
      assert.equal(await exited, 0);
      await sleep(300);
      const messages = received.slice(1);
      assert.match(messages[0]!, new RegExp(`MAINPID=${host.pid} READY=1 STATUS=Running`));
      assert.ok(messages.filter((m) => m.includes('WATCHDOG=1')).length >= 3, messages.join('\n'));
      assert.ok(
        messages.some((m) => m.includes('STOPPING=1')),
        messages.join('\n'),
      );
      assert.ok(
        messages.findIndex((m) => m.includes('READY=1')) <
          messages.findIndex((m) => m.includes('WATCHDOG=1')),
      );
    } finally {
      listener.kill();
    }
  });
});
