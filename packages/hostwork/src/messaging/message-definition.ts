import type { StandardSchemaV1 } from '@standard-schema/spec';
import { assertKnownKeys, ErrorCodes, HostworkError } from '../errors.ts';
import { assertSchema } from '../jobs/job-definition.ts';
import type { Destination } from './transport.ts';

/** What {@link defineMessage} takes. */
export interface MessageDefinitionInput<S extends StandardSchemaV1> {
  /** Unique, stable name: sent in the `hostwork-type` header, it routes a message to its definition. */
  readonly name: string;
  /** Any Standard Schema (zod, valibot, arktype...). Validated at `send` and again before the handler runs. */
  readonly schema: S;
  /** Where `send` publishes it unless the call names another destination. */
  readonly destination?: Destination;
  /** The registered transport `send` publishes it through, when `addMessaging` registers several. */
  readonly transport?: string;
}

/** A typed message contract, shared by publishers and consumers. */
export interface MessageDefinition<Input = unknown, Output = Input> {
  readonly name: string;
  readonly schema: StandardSchemaV1<Input, Output>;
  readonly destination?: Destination;
  readonly transport?: string;
}

const KEYS = ['name', 'schema', 'destination', 'transport'];

/**
 * Defines a message: its name (carried in the `hostwork-type` header) and its body's schema. Sending a payload of the
 * wrong type does not compile; one that fails the schema at run time is refused before anything is published, and a
 * received body that fails it goes to the dead-letter destination at once.
 *
 * @example
 * ```ts
 * export const OrderPlaced = defineMessage({
 *   name: 'order-placed',
 *   schema: z.object({ orderId: z.string(), total: z.number() }),
 *   destination: { name: 'orders' },
 * });
 * ```
 */
export function defineMessage<S extends StandardSchemaV1>(
  input: MessageDefinitionInput<S>,
): MessageDefinition<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>> {
  const where = `defineMessage('${String(input?.name)}')`;
  assertKnownKeys(where, input, KEYS);
  if (typeof input.name !== 'string' || input.name === '') {
    throw new HostworkError(ErrorCodes.INVALID_OPTION, 'defineMessage: name must be a non-empty string.');
  }
  assertSchema(input.schema, where);
  if (input.destination !== undefined) assertDestination(input.destination, `${where}: destination`);
  if (input.transport !== undefined && (typeof input.transport !== 'string' || input.transport === '')) {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where}: transport must be the name of a transport registered with addMessaging, got ${JSON.stringify(input.transport)}.`,
    );
  }
  return {
    name: input.name,
    schema: input.schema,
    ...(input.destination ? { destination: input.destination } : {}),
    ...(input.transport ? { transport: input.transport } : {}),
  } as MessageDefinition<StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>>;
}

/** Refuses a destination that is not `{ name, options? }` with a non-empty name, naming where. */
export function assertDestination(destination: unknown, where: string): void {
  const d = destination as Partial<Destination> | null;
  if (typeof d !== 'object' || d === null || typeof d.name !== 'string' || d.name === '') {
    throw new HostworkError(
      ErrorCodes.INVALID_OPTION,
      `${where} must be { name: '<queue or topic>', options?: {...} }, got ${JSON.stringify(destination)}.`,
    );
  }
  assertKnownKeys(where, d, ['name', 'options']);
}
