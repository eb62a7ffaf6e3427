/**
 * The browser tests, run against each real store: every view renders the seeded data, every action changes the
 * store, filters live in a shareable URL, updates arrive without a reload, payloads stay text, and the page runs
 * under its strict Content-Security-Policy without a violation.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { afterEach, beforeEach, it } from 'node:test';
import type { JobStore } from 'hostwork';
import type { BrowserContext, Page } from 'playwright-core';
import { browser } from './browser.ts';
import { PROTECTED_ROUTES } from './routes.ts';
import { HOSTILE_NOTE, type Seeded, seed } from './seed.ts';
import { type RunningDashboard, serveDashboard } from './server.ts';

/** Makes a fresh, migrated store for one test and removes it afterwards. */
export interface StoreMaker {
  create(): Promise<JobStore>;
  destroy(store: JobStore): Promise<void>;
}

const USER = { username: 'admin', password: 'correct horse battery' };

/** Screenshots of the main views go to docs/images when HOSTWORK_DASHBOARD_SCREENSHOTS=1 (one store kind does it). */
const SCREENSHOTS = process.env.HOSTWORK_DASHBOARD_SCREENSHOTS === '1';

interface Fixture {
  store: JobStore;
  seeded: Seeded;
  dashboard: RunningDashboard;
  context: BrowserContext;
  page: Page;
  /** CSP violations and page errors seen. */
  problems: string[];
}

/** Registers the browser cases for one kind of store (inside a describe). */
export function browserCases(kind: string, stores: StoreMaker): void {
  let f: Fixture;

  beforeEach(async () => {
    const store = await stores.create();
    const seeded = await seed(store);
    const dashboard = await serveDashboard({
      store,
      basePath: '/admin/jobs',
      auth: { kind: 'basic', ...USER },
      title: 'Hostwork test',
    });
    const context = await (await browser()).newContext({
      httpCredentials: USER,
      viewport: { width: 1360, height: 860 },
      timezoneId: 'UTC',
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    f = { store, seeded, dashboard, context, page, problems };
  });

  afterEach(async () => {
    await f.context.close();
    await f.dashboard.close();
    await stores.destroy(f.store);
  });

  const open = async (hash: string) => {
    const response = await f.page.goto(`${f.dashboard.url}/#${hash}`);
    // null: only the hash changed (the page routes by it, without a new document).
    if (response !== null) assert.equal(response.status(), 200);
  };
  const shot = async (name: string) => {
    if (!SCREENSHOTS) return;
    const dir = new URL('../../../../docs/images/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    await f.page.screenshot({ path: new URL(`dashboard-${name}.png`, dir).pathname, fullPage: true });
  };
  const text = (selector: string) => f.page.locator(selector).innerText();
  const stateOf = async (id: string) => (await f.store.get(id))?.state;
  /** Polls the store until `check` holds (the page acts asynchronously). */
  const eventually = async (what: string, check: () => Promise<boolean>) => {
    const deadline = Date.now() + 15_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it(`${kind}: the queues view shows counts by state, the no-worker badge and the charts of the last hour`, async () => {
    const response = await f.page.goto(`${f.dashboard.url}/`);
    assert.match(response?.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    const emails = f.page.locator('tr[data-queue="emails"]');
    await emails.waitFor();
    const cells = await emails.locator('td').allInnerTexts();
    // queue, pending, running, completed, dead, cancelled, total
    assert.deepEqual(cells.slice(1), ['4', '1', '4', '2', '0', '11']);
    assert.match(await text('tr[data-queue="reports"]'), /backlog, no worker/);
    assert.doesNotMatch(await emails.innerText(), /backlog, no worker/);
    assert.match(await text('[data-testid="chart-completed"] figcaption'), /Completed: 4/);
    assert.match(await text('[data-testid="chart-dead"] figcaption'), /Failed \(dead\): 2/);
    assert.equal(await f.page.locator('[data-testid="chart-completed"] rect.bar-completed').count(), 60);
    await shot('queues');
    assert.deepEqual(f.problems, [], 'no CSP violation or script error');
  });

  it(`${kind}: the job list filters by queue, state, name, time and payload field, in a shareable URL`, async () => {
    await open('/jobs');
    await f.page.locator('tr[data-job]').first().waitFor();
    assert.equal(await f.page.locator('tr[data-job]').count(), 14);
    await f.page.fill('input[name="payload"]', 'customer.id=42');
    await f.page.selectOption('select[name="state"]', 'dead');
    await f.page.click('form.filters button[type="submit"]');
    await f.page.waitForURL(/payload=customer\.id%3D42/);
    assert.match(f.page.url(), /state=dead/);
    await eventually('the filtered list', async () => (await f.page.locator('tr[data-job]').count()) === 1);
    assert.equal(await f.page.locator('tr[data-job]').getAttribute('data-job'), f.seeded.dead[0]);
    // No payload index on either store here: the page says the search read the payloads, and how to index.
    assert.match(
      await text('[data-testid="search-note"]'),
      /^Searched every job by state and payload without an index\. .*payload/,
    );
    // The URL is the view: a new page opened on it shows the same rows.
    const shared = await f.context.newPage();
    await shared.goto(f.page.url());
    await shared.locator('tr[data-job]').first().waitFor();
    assert.deepEqual(
      await shared.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job'))),
      [f.seeded.dead[0]],
    );
    await shared.close();
    await open('/jobs?queue=reports&name=report.build');
    await eventually(
      'queue and name filters',
      async () => (await f.page.locator('tr[data-job]').count()) === 2,
    );
    const future = new Date(f.seeded.now + 3_600_000).toISOString();
    await open(`/jobs?from=${encodeURIComponent(future)}`);
    await f.page.locator('text=No jobs match.').waitFor();
    const past = new Date(f.seeded.now - 3_600_000).toISOString();
    await open(`/jobs?from=${encodeURIComponent(past)}&queue=billing`);
    await eventually('time filter', async () => (await f.page.locator('tr[data-job]').count()) === 1);
    // The same through the form: its time inputs are UTC, and land in the URL as ISO times.
    await open('/jobs');
    await f.page.locator('tr[data-job]').first().waitFor();
    await f.page.fill('input[name="queue"]', 'billing');
    await f.page.fill('input[name="from"]', past.slice(0, 16));
    await f.page.fill('input[name="to"]', new Date(f.seeded.now + 3_600_000).toISOString().slice(0, 16));
    await f.page.click('form.filters button[type="submit"]');
    await f.page.waitForURL(/from=/);
    assert.match(decodeURIComponent(f.page.url()), new RegExp(`from=${past.slice(0, 16)}:00\\.000Z`));
    await eventually(
      'time filter from the form',
      async () => (await f.page.locator('tr[data-job]').count()) === 1,
    );
    await open('/jobs?state=dead');
    await f.page.locator('tr[data-job]').first().waitFor();
    assert.equal(await f.page.locator('h1').innerText(), 'Dead letters');
    assert.equal(await f.page.locator('tr[data-job]').count(), 2);
    await shot('dead-letters');
    await open('/jobs');
    await f.page.locator('tr[data-job]').first().waitFor();
    await shot('jobs');
    assert.deepEqual(f.problems, []);
  });

  it(`${kind}: a search without an index (payload, name) says how far it searched and by which filter, and "Search older" goes on`, async () => {
    // Windows of 3 ids and no time budget: one window per page, so the search spans several pages.
    const narrow = await serveDashboard({
      store: f.store,
      basePath: '/narrow',
      auth: { kind: 'basic', ...USER },
      scanWindow: 3,
      scanMs: 0,
    });
    try {
      const expected = (
        await f.store.list({ limit: 100, payload: { path: ['customer', 'id'], equals: '42' } })
      ).map((j) => j.id);
      assert.ok(expected.length >= 2);
      await f.page.goto(`${narrow.url}/#/jobs?payload=customer.id%3D42`);
      const note = f.page.locator('[data-testid="search-note"]');
      let shown = '';
      const seen: string[] = [];
      for (let page = 0; page < 30; page++) {
        const previous = shown;
        await eventually('the next page of the search', async () => {
          shown = await note.innerText();
          return shown !== previous && shown !== '';
        });
        const rows = await f.page
          .locator('tr[data-job]')
          .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-job')!));
        seen.push(...rows);
        const older = f.page.locator('.pager a', { hasText: 'Search older »' });
        if (!/older jobs are not searched yet/.test(shown)) {
          assert.equal(await older.count(), 0, 'nothing left to search');
          break;
        }
        assert.match(
          shown,
          /^Searched the jobs down to #\d+ by payload without an index; older jobs are not searched yet/,
        );
        if (rows.length === 0) assert.equal(await text('.empty'), 'No match among the jobs searched so far.');
        await older.click();
      }
      assert.deepEqual(seen, expected, 'every match, newest first, each once');
      assert.match(shown, /^Searched every job by payload without an index\./);
      // A name no job has: the same bounded search, the note naming the filter, never a plain "no match".
      await f.page.goto(`${narrow.url}/#/jobs?name=no.such.job&queue=reports`);
      await eventually('the name search note', async () =>
        /^Searched the jobs down to #\d+ by queue and name without an index; older jobs are not searched yet/.test(
          await note.innerText(),
        ),
      );
      assert.match(await note.innerText(), /No index serves these filters/);
      assert.equal(await text('.empty'), 'No match among the jobs searched so far.');
      assert.equal(await f.page.locator('.pager a', { hasText: 'Search older »' }).count(), 1);
      assert.deepEqual(f.problems, []);
    } finally {
      await narrow.close();
    }
  });

  it(`${kind}: job detail shows payload, result, progress, every error with its stack and the timings; payloads stay text`, async () => {
    await open(`/jobs/${f.seeded.dead[0]}`);
    await f.page.locator('[data-testid="errors"]').waitFor();
    assert.match(await text('[data-testid="job-detail"] h1'), /dead/);
    assert.match(await text('[data-testid="payload"]'), /"to": "user4@example.com"/);
    const errors = await text('[data-testid="errors"]');
    assert.match(errors, /SMTP 550: mailbox unavailable \(0\)/);
    assert.match(errors, /at seed|at async seed|seed\.ts/, 'the stack is shown');
    assert.match(await text('dl.fields'), /Created → finished/);
    await shot('job');
    await open(`/jobs/${f.seeded.completed[0]}`);
    await f.page.locator('[data-testid="result"]').waitFor();
    await eventually('the result', async () =>
      /"messageId": "m-0"/.test(await text('[data-testid="result"]')),
    );
    assert.match(await text('[data-testid="progress"]'), /"sent": 1/);
    await open(`/jobs/${f.seeded.hostile}`);
    await f.page.locator('[data-testid="payload"]').waitFor();
    await eventually('the hostile payload', async () =>
      (await text('[data-testid="payload"]')).includes('<script>'),
    );
    assert.ok((await text('[data-testid="payload"]')).includes(JSON.stringify(HOSTILE_NOTE).slice(1, -1)));
    assert.equal(
      await f.page.locator('[data-testid="payload"] img, [data-testid="payload"] script').count(),
      0,
    );
    assert.equal(await f.page.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
    assert.deepEqual(f.problems, []);
  });

  it(`${kind}: retry, cancel, run now and delete from a job's page change the store`, async () => {
    const act = async (id: string, action: string, confirm = false) => {
      await open(`/jobs/${id}`);
      await f.page.locator('[data-testid="payload"]').waitFor();
      await f.page.click(`button[data-action="${action}"]`);
      if (confirm) await f.page.click('[data-testid="confirm-ok"]');
    };
    await act(f.seeded.dead[0]!, 'retry');
    await eventually('retry', async () => (await stateOf(f.seeded.dead[0]!)) === 'pending');
    await act(f.seeded.pending[0]!, 'cancel');
    await eventually('cancel', async () => (await stateOf(f.seeded.pending[0]!)) === 'cancelled');
    await act(f.seeded.delayed, 'run-now');
    await eventually(
      'run now',
      async () => ((await f.store.get(f.seeded.delayed))?.runAt ?? Infinity) <= Date.now(),
    );
    await act(f.seeded.cancelled, 'delete', true);
    await eventually('delete', async () => (await f.store.get(f.seeded.cancelled)) === undefined);
    await f.page.waitForURL(/#\/jobs$/);
    // A refused action says why, and changes nothing.
    await act(f.seeded.running, 'delete', true);
    await f.page.locator('.notice-error').waitFor();
    assert.match(await text('.notice-error'), /running job cannot be deleted/);
    assert.equal(await stateOf(f.seeded.running), 'running');
    assert.deepEqual(
      f.problems.filter((p) => !p.includes('409')),
      [],
    );
  });

  it(`${kind}: bulk actions over a selection and over everything matching a filter, with a limit and a confirmation`, async () => {
    await open('/jobs?queue=reports');
    await f.page.locator('tr[data-job]').first().waitFor();
    await f.page.click('[data-testid="select-all"]');
    await f.page.click('button[data-bulk="cancel"]');
    assert.match(await text('[data-testid="confirm"]'), /Cancel 2 selected job/);
    await f.page.click('[data-testid="confirm-ok"]');
    await eventually('bulk cancel', async () =>
      (await Promise.all(f.seeded.unserved.map(stateOf))).every((s) => s === 'cancelled'),
    );
    // Everything matching: the dead letters, retried, at most 1 (the newest).
    await open('/jobs?state=dead');
    await f.page.locator('tr[data-job]').first().waitFor();
    await f.page.fill('input[name="bulk-limit"]', '1');
    await f.page.click('button[data-bulk-matching="retry"]');
    const question = await text('[data-testid="confirm"]');
    assert.match(question, /Retry 1 \(the newest 1; more match\) job\(s\) matching this filter/);
    // Cancelling the confirmation changes nothing.
    await f.page.click('[data-testid="confirm"] button.secondary');
    assert.deepEqual(await Promise.all(f.seeded.dead.map(stateOf)), ['dead', 'dead']);
    await f.page.click('button[data-bulk-matching="retry"]');
    await f.page.click('[data-testid="confirm-ok"]');
    await eventually(
      'bulk retry of the newest dead job',
      async () => (await stateOf(f.seeded.dead[1]!)) === 'pending',
    );
    assert.equal(await stateOf(f.seeded.dead[0]!), 'dead', 'beyond the limit: untouched');
    // Delete everything matching a payload filter.
    await open('/jobs?payload=customer.id%3D9');
    await f.page.locator('tr[data-job]').first().waitFor();
    await f.page.click('button[data-bulk-matching="delete"]');
    await f.page.click('[data-testid="confirm-ok"]');
    await eventually('bulk delete', async () => (await f.store.get(f.seeded.pending[1]!)) === undefined);
    assert.deepEqual(f.problems, []);
  });

  it(`${kind}: schedules with next and last run, paused and resumed; workers connected`, async () => {
    await open('/schedules');
    const hourly = f.page.locator('tr[data-schedule="hourly-sync"]');
    await hourly.waitFor();
    assert.match(await hourly.innerText(), /paused/);
    assert.match(await text('tr[data-schedule="nightly-report"]'), /active/);
    await shot('schedules');
    await f.page.click('button[data-toggle="nightly-report"]');
    await eventually(
      'pause',
      async () => (await f.store.listSchedules()).find((s) => s.name === 'nightly-report')?.paused === true,
    );
    await f.page.click('button[data-toggle="hourly-sync"]');
    await eventually('resume', async () => {
      const s = (await f.store.listSchedules()).find((x) => x.name === 'hourly-sync');
      return s?.paused === false && (s.nextRunAt ?? 0) > Date.now();
    });
    await open('/workers');
    await f.page.locator('tr[data-worker="worker-a"]').waitFor();
    assert.match(await text('tr[data-worker="worker-a"]'), /emails, billing/);
    await shot('workers');
    assert.deepEqual(f.problems, []);
  });

  it(`${kind}: without credentials every page, asset that reveals data and API route is refused`, async () => {
    // Basic auth: Chromium gives up on a 401 challenge it has no credentials for, so Playwright's request client,
    // with the browser context's (empty) cookies, asks.
    const stranger = await (await browser()).newContext();
    try {
      for (const [method, path] of PROTECTED_ROUTES) {
        const response = await stranger.request.fetch(`${f.dashboard.url}${path}`, { method, data: '{}' });
        assert.equal(response.status(), 401, `${method} ${path}`);
        assert.match(response.headers()['www-authenticate'] ?? '', /^Basic /);
        assert.doesNotMatch(await response.text(), /user4@example\.com|email\.send|nightly-report/);
      }
      // Bearer auth in the browser itself: pages lead to the sign-in page, the API refuses scripts of the origin.
      const bearer = await serveDashboard({
        store: f.store,
        basePath: '/ops',
        auth: { kind: 'bearer', token: 'a-long-enough-test-token' },
      });
      try {
        const page = await stranger.newPage();
        for (const [method, path] of PROTECTED_ROUTES) {
          if (method === 'GET' && !path.startsWith('/api/')) {
            await page.goto(`${bearer.url}${path}`);
            assert.match(page.url(), /\/ops\/login$/, `GET ${path} leads to the sign-in page`);
            assert.doesNotMatch(await page.content(), /user4@example\.com|email\.send|dashboard\.js/);
          } else {
            const status = await page.evaluate(
              async ([url, m]) =>
                (await fetch(url!, { method: m!, body: m === 'POST' ? '{}' : null })).status,
              [`${bearer.url}${path}`, method],
            );
            assert.equal(status, 401, `${method} ${path} from a script of the origin`);
          }
        }
        assert.equal(await stateOf(f.seeded.dead[0]!), 'dead');
        assert.equal((await f.store.listSchedules()).find((s) => s.name === 'nightly-report')?.paused, false);
        // The sign-in page lets the right token in, and only it.
        await page.goto(`${bearer.url}/login`);
        await page.fill('input[name="token"]', 'wrong-token-wrong-token');
        await page.click('button[type="submit"]');
        await page.locator('.error').waitFor();
        await page.fill('input[name="token"]', 'a-long-enough-test-token');
        await page.click('button[type="submit"]');
        await page.locator('tr[data-queue="emails"]').waitFor();
      } finally {
        await bearer.close();
      }
    } finally {
      await stranger.close();
    }
  });

  it(`${kind}: the page updates live: a job enqueued elsewhere appears without a reload`, async () => {
    await open('/jobs?queue=live');
    await f.page.locator('text=No jobs match.').waitFor();
    const [id] = (
      await f.store.insert([
        {
          name: 'live.job',
          queue: 'live',
          payload: '{}',
          priority: 0,
          runAt: Date.now(),
          maxAttempts: 1,
          timeoutMs: 0,
          uniqueKey: null,
          backoff: null,
        },
      ])
    ).map((r) => r.id);
    await f.page.locator(`tr[data-job="${id}"]`).waitFor({ timeout: 15_000 });
    await open('/');
    await f.page.locator('tr[data-queue="live"]').waitFor();
    await f.store.purge({ queue: 'live' });
    await f.page.locator('tr[data-queue="live"]').waitFor({ state: 'detached', timeout: 15_000 });
  });
}
