/**
 * A benchmark child process; bench/run.ts starts one per measurement, system and run, so memory and JIT state never
 * leak from one scenario into the next. Roles (`<ctx>` is the run's {@link RunContext} as JSON):
 *
 * - `run <measurement> <ctx>`: runs one measurement of one system on a fresh store (a temporary directory for SQLite,
 *   a fresh schema for PostgreSQL) and sends each figure to the runner over IPC.
 * - `seed <ctx> <count>`: pre-enqueues `count` no-op jobs in bulk, in its own short-lived process, so the worker
 *   measured next starts with a clean heap.
 * - `enqueuer <ctx> <count> <intervalMs>`: the separate enqueuing process of latency-xproc.
 * - `producer <ctx>`: the separate enqueuing process of memory-flat (Hostwork on SQLite only), steered over IPC.
 * - `emulator`: the SQS emulator of `--transport sqs` (bench/brokers.ts), on 127.0.0.1, until the runner ends it.
 * - `standin`: the local AMQP stand-in for Azure Service Bus of `--transport azure-service-bus` (not the service), on
 *   127.0.0.1, until the runner ends it.
 *
 * On a transport (`--transport`), `<ctx>` is a {@link MessageRunContext}: `run` measures Hostwork's consumer engine or
 * the plain client loop (bench/systems/hostwork-messaging.ts, amqplib.ts, aws-sdk.ts, nats-js.ts, node-redis.ts), and
 * `seed` pre-publishes
 * no-op messages to the run's fresh queue with the client library alone, the same for both systems.
 *
 * Each system's scenarios are in bench/systems/ (graphile-worker and pg-boss on PostgreSQL only), and a process loads
 * only the system it measures: a competitor's process never loads Hostwork or zod, nor Hostwork's one of them. Hosts
 * log at `warn` to stdout; the runner routes a child's stdout to its own stderr, so results travel over IPC only.
 */
import type { MessageRunContext, RunContext } from './common.ts';
import { done, type SystemScenarios } from './kit.ts';
import type { MessageScenarios } from './systems/messaging-kit.ts';

/** The scenarios of the run's system; the other libraries are loaded only when measured. */
async function scenariosOf(ctx: RunContext): Promise<SystemScenarios> {
  switch (ctx.system) {
    case 'hostwork':
      return (await import('./systems/hostwork.ts')).hostwork;
    case 'graphile-worker':
      return (await import('./systems/graphile-worker.ts')).graphileWorker;
    case 'pg-boss':
      return (await import('./systems/pg-boss.ts')).pgBoss;
    default:
      throw new Error(`bench/child.ts: system '${ctx.system}' measures a transport, not a job store.`);
  }
}

/** The transport scenarios of the run's system (Hostwork, or the plain client loop of the transport). */
async function messageScenariosOf(ctx: MessageRunContext): Promise<MessageScenarios> {
  if (ctx.system === 'hostwork') return (await import('./systems/hostwork-messaging.ts')).hostworkMessaging;
  if (ctx.system === 'amqplib') return (await import('./systems/amqplib.ts')).amqplibScenarios;
  if (ctx.system === 'aws-sdk') return (await import('./systems/aws-sdk.ts')).awsSdkScenarios;
  if (ctx.system === 'platformatic-kafka')
    return (await import('./systems/platformatic-kafka.ts')).platformaticKafkaScenarios;
  if (ctx.system === 'nats-js') return (await import('./systems/nats-js.ts')).natsJsScenarios;
  if (ctx.system === 'node-redis') return (await import('./systems/node-redis.ts')).nodeRedisScenarios;
  if (ctx.system === 'azure-sdk') return (await import('./systems/azure-sdk.ts')).azureSdkScenarios;
  throw new Error(`bench/child.ts: no transport scenarios for system '${ctx.system}'.`);
}

const [role, ...rest] = process.argv.slice(2);
switch (role) {
  case 'run': {
    const ctx = JSON.parse(rest[1]!) as RunContext | MessageRunContext;
    if ('transport' in ctx) {
      const run = (await messageScenariosOf(ctx))[rest[0]!];
      if (!run) throw new Error(`${ctx.system}: no scenario '${rest[0]}' on ${ctx.transport}.`);
      await run(ctx);
    } else {
      await (await scenariosOf(ctx)).run(rest[0]!, ctx);
    }
    done();
    process.disconnect?.();
    break;
  }
  case 'seed': {
    const ctx = JSON.parse(rest[0]!) as RunContext | MessageRunContext;
    if ('transport' in ctx) await (await import('./brokers.ts')).seedQueue(ctx, Number(rest[1]));
    else await (await scenariosOf(ctx)).seed(ctx, Number(rest[1]));
    break;
  }
  case 'emulator': {
    await (await import('./brokers.ts')).runEmulator();
    break;
  }
  case 'standin': {
    await (await import('./brokers.ts')).runStandin();
    break;
  }
  case 'producer': {
    await (await import('./systems/hostwork.ts')).producer(JSON.parse(rest[0]!) as RunContext);
    break;
  }
  case 'enqueuer': {
    const ctx = JSON.parse(rest[0]!) as RunContext;
    await (await scenariosOf(ctx)).enqueuer(ctx, Number(rest[1]), Number(rest[2]));
    break;
  }
  default:
    throw new Error(`bench/child.ts: unknown role '${role}' (expected run, seed, enqueuer or producer).`);
}
