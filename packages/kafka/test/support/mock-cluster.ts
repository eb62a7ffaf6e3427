/**
 * The Kafka protocol server of the tests: librdkafka's mock cluster (no Kafka broker is packaged for the test
 * machine), run by the small C program next to this file. It is compiled once into a cache directory with
 * `cc mock-cluster.c -lrdkafka` (Debian's librdkafka-dev, which .ci/run installs), started per test file bound to
 * 127.0.0.1 on a free port, and driven through its stdin: topics are created there (the mock has no CreateTopics),
 * and its broker can be set down and up again (the mock's simulated restart: connections dropped and refused, the
 * cluster's logs, groups and committed offsets kept).
 *
 * Tests registered through {@link describeWithMockCluster} are skipped with the reason when the program cannot be
 * built (no C compiler or no librdkafka-dev), or fail under HOSTWORK_REQUIRE_SERVICES=1.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Consumer } from '@platformatic/kafka';
import { describeWhenAvailable } from '../../../hostwork/test/support/services.ts';

const SOURCE = fileURLToPath(new URL('./mock-cluster.c', import.meta.url));

let built: string | { problem: string } | undefined;

/** The compiled program's path, or why it cannot be built. */
export function mockClusterBinary(): string | { problem: string } {
  if (built !== undefined) return built;
  try {
    const code = readFileSync(SOURCE);
    const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), 'hostwork-kafka-mock');
    const binary = join(dir, `mock-cluster-${hash}`);
    if (!existsSync(binary)) {
      mkdirSync(dir, { recursive: true });
      const partial = `${binary}.${process.pid}.tmp`;
      execFileSync('cc', ['-O2', '-o', partial, SOURCE, '-lrdkafka'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      renameSync(partial, binary);
    }
    built = binary;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    built = {
      problem: `the librdkafka mock cluster cannot be built (cc ${SOURCE} -lrdkafka): ${stderr || (error as Error).message}`,
    };
  }
  return built;
}

/** Registers `body` when the mock cluster can be built (see the file comment). */
export function describeWithMockCluster(what: string, body: () => void): void {
  const binary = mockClusterBinary();
  describeWhenAvailable(
    what,
    typeof binary === 'string' ? undefined : binary.problem,
    body,
    'install librdkafka-dev and a C compiler (apt-get install -y librdkafka-dev gcc)',
  );
}

/** A running mock cluster. */
export interface MockCluster {
  /** Bootstrap address, `127.0.0.1:port`. */
  readonly bootstrap: string;
  /** Creates a topic with `partitions` partitions. */
  createTopic(name: string, partitions: number): Promise<void>;
  /** Drops and refuses the broker's connections (`down`), or accepts them again (`up`). */
  setBroker(state: 'down' | 'up', broker?: number): Promise<void>;
  /** Stops the cluster (everything in it is gone). */
  stop(): Promise<void>;
}

/** Starts a mock cluster of one broker on 127.0.0.1. */
export async function startMockCluster(): Promise<MockCluster> {
  const binary = mockClusterBinary();
  if (typeof binary !== 'string') throw new Error(binary.problem);
  const child: ChildProcessWithoutNullStreams = spawn(binary, ['1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const lines: Interface = createInterface({ input: child.stdout });
  const pending: Array<(line: string) => void> = [];
  const early: string[] = [];
  lines.on('line', (line) => {
    const next = pending.shift();
    if (next) next(line);
    else early.push(line);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const line = early.shift();
      if (line !== undefined) return resolve(line);
      const timer = setTimeout(
        () => reject(new Error(`the mock cluster did not answer (stderr: ${stderr})`)),
        10_000,
      );
      pending.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
      void exited.then(() => reject(new Error(`the mock cluster exited (stderr: ${stderr})`)));
    });
  const first = await nextLine();
  const match = /^bootstrap (\S+)$/.exec(first);
  if (!match) throw new Error(`the mock cluster printed ${first} (stderr: ${stderr})`);
  // The answers come in order: one command at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (text: string) => {
    const run = queue.then(async () => {
      child.stdin.write(`${text}\n`);
      const answer = await nextLine();
      if (answer !== 'ok') throw new Error(`mock cluster: ${text}: ${answer}`);
    });
    queue = run.catch(() => {});
    return run;
  };
  return {
    bootstrap: match[1]!,
    createTopic: (name, partitions) => command(`topic ${name} ${partitions}`),
    setBroker: (state, broker = 1) => command(`${state} ${broker}`),
    stop: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A fresh topic name with its retry and dead-letter topics created (`partitions` each). */
export async function freshTopic(cluster: MockCluster, prefix: string, partitions: number): Promise<string> {
  const topic = `${prefix}-${randomBytes(4).toString('hex')}`;
  await cluster.createTopic(topic, partitions);
  await cluster.createTopic(`${topic}.retry`, partitions);
  await cluster.createTopic(`${topic}.dead`, partitions);
  return topic;
}

/** A record as read by {@link readTopic}. */
export interface ReadRecord {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string | undefined;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

/** Every record of `topic` so far (no consumer group: fetched from offset 0 of each partition). */
export async function readTopic(cluster: MockCluster, topic: string): Promise<ReadRecord[]> {
  const consumer = new Consumer({
    clientId: 'hostwork-test-reader',
    groupId: 'unused',
    bootstrapBrokers: [cluster.bootstrap],
  });
  try {
    const metadata = await consumer.metadata({ topics: [topic] });
    const info = metadata.topics.get(topic);
    if (!info) throw new Error(`no topic ${topic}`);
    const out: ReadRecord[] = [];
    for (let partition = 0; partition < info.partitionsCount; partition++) {
      let offset = 0n;
      for (;;) {
        const response = await consumer.fetch({
          node: info.partitions[partition]!.leader,
          maxWaitTime: 10,
          topics: [
            {
              topicId: info.id,
              partitions: [
                {
                  partition,
                  fetchOffset: offset,
                  partitionMaxBytes: 1_048_576,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                },
              ],
            },
          ],
        });
        let read = 0;
        for (const t of response.responses)
          for (const p of t.partitions)
            for (const batch of p.records ?? [])
              for (const record of batch.records) {
                const at = batch.firstOffset + BigInt(record.offsetDelta);
                if (at < offset) continue;
                read++;
                offset = at + 1n;
                const headers: Record<string, string> = {};
                for (const [k, v] of record.headers) if (k) headers[k.toString()] = v?.toString() ?? '';
                out.push({
                  partition,
                  offset: at,
                  key: record.key?.toString(),
                  value: record.value ?? Buffer.alloc(0),
                  headers,
                });
              }
        if (read === 0) break;
      }
    }
    return out;
  } finally {
    await consumer.close(true);
  }
}
