/**
 * How the `hostwork` command talks to its user: aligned plain-text tables and ISO times for people, one JSON
 * document per command for scripts, a progress line and a yes/no question on a terminal only.
 */
import { createInterface } from 'node:readline/promises';

/** Where the command reads and writes; the real process streams, or stand-ins in tests. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Whether stdin is a terminal: only then may the command ask a question. */
  readonly interactive: boolean;
  /** Whether stderr is a terminal: only then is a progress line drawn. */
  readonly errIsTerminal: boolean;
  /** Asks a question on stderr and reads one line of stdin. */
  readonly ask: (question: string) => Promise<string>;
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    interactive: process.stdin.isTTY === true,
    errIsTerminal: process.stderr.isTTY === true,
    ask: async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
}

/** A time in ms as ISO 8601 (UTC), or null. */
export function isoTime(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/** A cell of a table: null and undefined print as `-`. */
export type Cell = string | number | boolean | null | undefined;

/** Columns aligned on the widest cell, two spaces apart; numbers are right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) =>
    row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell))),
  );
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((row) => typeof row[c] === 'number'));
  const widths = headers.map((h, c) => Math.max(h.length, ...text.map((row) => row[c]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return `${[line(headers), ...text.map(line)].join('\n')}\n`;
}

/** `key: value` lines with the values aligned. */
export function formatFields(fields: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(...fields.map(([key]) => key.length)) + 1;
  return fields
    .map(
      ([key, value]) => `${`${key}:`.padEnd(width)} ${value === null || value === undefined ? '-' : value}\n`,
    )
    .join('');
}

/** Indents every line of `text` by `spaces`. */
export function indent(text: string, spaces = 2): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}

/** A JSON document for scripts: the whole output of one command. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * A progress bar redrawn in place on stderr, for bulk actions: drawn only on a terminal (never into a pipe or a
 * log file), and at most every 100 ms.
 */
export class ProgressBar {
  readonly #io: CliIo;
  readonly #label: string;
  readonly #total: number;
  readonly #enabled: boolean;
  #drawnAt = 0;
  #drawn = false;

  constructor(io: CliIo, label: string, total: number, enabled: boolean) {
    this.#io = io;
    this.#label = label;
    this.#total = total;
    this.#enabled = enabled && io.errIsTerminal;
  }

  /** Shows `done` of the total. */
  update(done: number): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (this.#drawn && now - this.#drawnAt < 100 && done < this.#total) return;
    this.#drawnAt = now;
    this.#drawn = true;
    const width = 30;
    const share = this.#total === 0 ? 1 : Math.min(1, done / this.#total);
    const filled = Math.round(share * width);
    this.#io.err(
      `\r${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.#total}`,
    );
  }

  /** Clears the line, so what follows starts on a clean one. */
  finish(): void {
    if (this.#drawn) this.#io.err('\r\u001b[2K');
    this.#drawn = false;
  }
}
