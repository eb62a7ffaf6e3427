import { setTimeout as sleep } from 'node:timers/promises';
import { request } from './demo-process.ts';

/** An order as the demo's GET /orders/:id shows it. */
export interface OrderView {
  orderId: string;
  amount: number;
  jobId: string;
  messageId: string;
  warehouseNotifiedAt: string | null;
  notifications: number;
}

/** Polls the demo's GET /orders/:id until `done` holds for the order. */
export async function waitForOrder(
  base: string,
  orderId: string,
  done: (order: OrderView) => boolean,
  timeoutMs = 20_000,
): Promise<OrderView> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const { status, body } = await request(`${base}/orders/${orderId}`);
    last = body;
    if (status === 200 && done(body as OrderView)) return body as OrderView;
    await sleep(50);
  }
  throw new Error(`order ${orderId} did not get there; last seen ${JSON.stringify(last)}`);
}
