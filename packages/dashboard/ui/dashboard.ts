/**
 * The dashboard's page: plain DOM, no framework. Every value from the store is put in the page as text
 * (textContent, attribute values), never as HTML, so a payload can never inject markup. No inline script or style:
 * the page passes `default-src 'self'` as it is. Views live in the URL's hash (`#/jobs?state=dead&queue=emails`), so
 * a filtered view is a link to share. Live: the current view reloads its data every 2 seconds while visible.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((event: Event) => void) | undefined>;

/** An element with attributes (`on*` are listeners) and children (strings become text nodes). */
function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag: string, attrs: Record<string, string | number>, ...children: Node[]): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  for (const child of children) element.appendChild(child);
  return element;
}

function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
}

const BASE = meta('hostwork-base');
const CSRF = meta('hostwork-csrf');
const READ_ONLY = meta('hostwork-read-only') === 'true';
const STATES = ['pending', 'running', 'completed', 'dead', 'cancelled'] as const;
const ACTIONS = ['retry', 'cancel', 'run-now', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

interface JobRow {
  id: string;
  name: string;
  queue: string;
  state: string;
  attempt: number;
  maxAttempts: number;
  priority: number;
  runAt: number;
  createdAt: number;
  finishedAt: number | null;
  lastError: string | null;
}

class HttpError extends Error {}

async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(`${BASE}/api${path}`, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: {
      accept: 'application/json',
      ...(init.method && init.method !== 'GET'
        ? { 'x-hostwork-csrf': CSRF, 'content-type': 'application/json' }
        : {}),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new HttpError(body.error ?? `${response.status} ${response.statusText}`);
  return body;
}

function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

function ago(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  const seconds = Math.round((ms - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  const text =
    abs < 60
      ? `${abs}s`
      : abs < 3600
        ? `${Math.round(abs / 60)}m`
        : abs < 86400
          ? `${Math.round(abs / 3600)}h`
          : `${Math.round(abs / 86400)}d`;
  return seconds > 0 ? `in ${text}` : `${text} ago`;
}

function stateBadge(state: string): HTMLElement {
  return h('span', { class: `state state-${state}` }, state);
}

function pretty(value: unknown): string {
  return value === undefined ? '—' : JSON.stringify(value, null, 2);
}

// ---- notices and confirmation ----

function notice(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const area = document.getElementById('notices');
  if (!area) return;
  const item = h(
    'div',
    { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    text,
  );
  area.appendChild(item);
  setTimeout(() => item.remove(), 6000);
}

/** A modal question answered with OK or Cancel (a <dialog>, not window.confirm). */
function confirmDialog(question: string, okLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'data-testid': 'confirm' }) as HTMLDialogElement;
    const done = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    append(dialog, [
      h('p', {}, question),
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'button', class: 'secondary', onclick: () => done(false) }, 'Cancel'),
        h(
          'button',
          { type: 'button', class: 'danger', 'data-testid': 'confirm-ok', onclick: () => done(true) },
          okLabel,
        ),
      ),
    ]);
    dialog.addEventListener('cancel', () => done(false));
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

// ---- routing ----

interface Route {
  readonly view: string;
  readonly id?: string;
  readonly params: URLSearchParams;
}

function currentRoute(): Route {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path = '/', query = ''] = hash.split('?', 2);
  const parts = path.split('/').filter((p) => p !== '');
  const params = new URLSearchParams(query);
  if (parts[0] === 'jobs' && parts[1] !== undefined)
    return { view: 'job', id: decodeURIComponent(parts[1]), params };
  return { view: parts[0] ?? 'overview', params };
}

function link(hash: string, ...children: Child[]): HTMLElement {
  return h('a', { href: `#${hash}` }, ...children);
}

function jobsLink(params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return `/jobs${query === '' ? '' : `?${query}`}`;
}

let refresh: (() => Promise<void>) | undefined;
let generation = 0;

function render(): void {
  const route = currentRoute();
  generation++;
  const main = document.getElementById('main')!;
  main.replaceChildren();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    const target = a.getAttribute('href')!.slice(1);
    const active =
      target === '/'
        ? route.view === 'overview'
        : target.startsWith('/jobs?state=dead')
          ? route.view === 'jobs' && route.params.get('state') === 'dead'
          : target === `/${route.view}` && !(route.view === 'jobs' && route.params.get('state') === 'dead');
    a.classList.toggle('active', active);
  }
  const views: Record<string, (main: HTMLElement, route: Route) => () => Promise<void>> = {
    overview: overviewView,
    jobs: jobsView,
    job: jobView,
    schedules: schedulesView,
    workers: workersView,
  };
  const view = views[route.view];
  if (view === undefined) {
    main.appendChild(h('p', {}, 'No such page. ', link('/', 'Back to the queues.')));
    refresh = undefined;
    return;
  }
  refresh = view(main, route);
  void runRefresh();
}

async function runRefresh(): Promise<void> {
  const mine = generation;
  try {
    await refresh?.();
    document.getElementById('live')?.classList.remove('offline');
  } catch (error) {
    if (mine !== generation) return;
    document.getElementById('live')?.classList.add('offline');
    if (!(error instanceof HttpError)) return;
    notice(error.message, 'error');
  }
}

// ---- overview: queues and charts ----

interface Overview {
  queues: {
    queue: string;
    counts: Record<string, number>;
    total: number;
    workers: boolean | null;
    backlogWithoutWorker: boolean;
  }[];
  workers: number | null;
}

interface Throughput {
  supported: boolean;
  since: number;
  bucketMs: number;
  buckets: { at: number; completed: number; dead: number }[];
}

function overviewView(main: HTMLElement): () => Promise<void> {
  const table = h('div', { 'data-testid': 'queues' });
  const charts = h('div', { class: 'charts' });
  append(main, [h('h1', {}, 'Queues'), table, h('h2', {}, 'Last hour'), charts]);
  return async () => {
    const [overview, throughput] = await Promise.all([
      api<Overview>('/overview'),
      api<Throughput>('/throughput'),
    ]);
    table.replaceChildren(queuesTable(overview));
    charts.replaceChildren(...throughputCharts(throughput));
  };
}

function queuesTable(overview: Overview): HTMLElement {
  if (overview.queues.length === 0) return h('p', { class: 'empty' }, 'No jobs in any queue.');
  return h(
    'table',
    { class: 'grid' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'Queue'),
        ...STATES.map((s) => h('th', { class: 'num' }, s)),
        h('th', { class: 'num' }, 'total'),
      ),
    ),
    h(
      'tbody',
      {},
      ...overview.queues.map((q) =>
        h(
          'tr',
          { 'data-queue': q.queue },
          h(
            'td',
            {},
            link(jobsLink({ queue: q.queue }), q.queue),
            q.backlogWithoutWorker
              ? h(
                  'span',
                  {
                    class: 'badge badge-warn',
                    title: 'Jobs are waiting and no live worker consumes this queue',
                  },
                  'backlog, no worker',
                )
              : null,
            q.workers === true
              ? h('span', { class: 'badge badge-ok', title: 'A live worker consumes this queue' }, 'worker')
              : null,
          ),
          ...STATES.map((s) =>
            h(
              'td',
              { class: 'num' },
              q.counts[s] ? link(jobsLink({ queue: q.queue, state: s }), String(q.counts[s])) : '0',
            ),
          ),
          h('td', { class: 'num' }, String(q.total)),
        ),
      ),
    ),
  );
}

function throughputCharts(data: Throughput): HTMLElement[] {
  if (!data.supported) return [h('p', { class: 'empty' }, 'This store does not report throughput.')];
  const byBucket = new Map(data.buckets.map((b) => [b.at, b]));
  const minutes = Array.from({ length: 60 }, (_, i) => data.since + i * data.bucketMs);
  const chart = (title: string, key: 'completed' | 'dead', testid: string) => {
    const values = minutes.map((at) => byBucket.get(at)?.[key] ?? 0);
    const max = Math.max(1, ...values);
    const total = values.reduce((a, b) => a + b, 0);
    const width = 600;
    const height = 120;
    const bar = width / values.length;
    const bars = values.map((value, i) => {
      const barHeight = (value / max) * (height - 4);
      const rect = svg('rect', {
        x: (i * bar).toFixed(1),
        y: (height - barHeight).toFixed(1),
        width: Math.max(1, bar - 1).toFixed(1),
        height: barHeight.toFixed(1),
        class: `bar bar-${key}`,
      });
      rect.appendChild(svg('title', {})).textContent = `${time(minutes[i])}: ${value}`;
      return rect;
    });
    const chartSvg = svg(
      'svg',
      { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': `${title} per minute` },
      svg('line', { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: 'axis' }),
      ...bars,
    );
    return h(
      'figure',
      { class: 'chart-box', 'data-testid': testid },
      h('figcaption', {}, `${title}: ${total} (max ${max}/min)`),
      chartSvg,
    );
  };
  return [chart('Completed', 'completed', 'chart-completed'), chart('Failed (dead)', 'dead', 'chart-dead')];
}

// ---- the job list ----

const FILTERS = ['queue', 'state', 'name', 'from', 'to', 'payload'] as const;

function jobsView(main: HTMLElement, route: Route): () => Promise<void> {
  const params = route.params;
  const selected = new Set<string>();
  const dead = params.get('state') === 'dead';
  const input = (name: string, attrs: Attrs) =>
    h('input', { name, value: params.get(name) ?? '', 'data-filter': name, ...attrs });
  const stateSelect = h(
    'select',
    { name: 'state', 'data-filter': 'state' },
    h('option', { value: '' }, 'any state'),
    ...STATES.map((s) => h('option', { value: s, selected: params.get('state') === s }, s)),
  );
  /** A time of the URL (ISO or ms) as the datetime-local input shows it, in UTC; '' when absent or not a time. */
  const toLocal = (value: string | null) => {
    if (!value) return '';
    const date = new Date(/^\d+$/.test(value) ? Number(value) : value);
    return Number.isNaN(date.getTime()) ? '' : date.toISOString().slice(0, 16);
  };
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const next = new URLSearchParams();
        for (const element of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[data-filter]')) {
          let value = element.value.trim();
          if (value !== '' && element.type === 'datetime-local') value = new Date(`${value}Z`).toISOString();
          if (value !== '') next.set(element.name, value);
        }
        location.hash = jobsLink(Object.fromEntries(next));
      },
    },
    h('label', {}, 'Queue ', input('queue', { placeholder: 'any', size: 12 })),
    h('label', {}, 'State ', stateSelect),
    h('label', {}, 'Name ', input('name', { placeholder: 'any', size: 14 })),
    h(
      'label',
      {},
      'Created from (UTC) ',
      h('input', {
        type: 'datetime-local',
        name: 'from',
        'data-filter': 'from',
        value: toLocal(params.get('from')),
      }),
    ),
    h(
      'label',
      {},
      'to (UTC) ',
      h('input', {
        type: 'datetime-local',
        name: 'to',
        'data-filter': 'to',
        value: toLocal(params.get('to')),
      }),
    ),
    h('label', {}, 'Payload ', input('payload', { placeholder: 'customer.id=42', size: 18 })),
    h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: '#/jobs', class: 'button secondary' }, 'Clear'),
  );
  const table = h('div', { 'data-testid': 'job-list' });
  // Set when a payload search ran without an index: what was searched, and how to make it fast.
  const searchNote = h('p', { class: 'search-note', 'data-testid': 'search-note', hidden: true });
  const pager = h('div', { class: 'pager' });
  const actions = h('div', { class: 'actions' });
  const selection = h('span', { class: 'selection' });
  append(main, [
    h('h1', {}, dead ? 'Dead letters' : 'Jobs'),
    form,
    READ_ONLY ? null : actions,
    searchNote,
    table,
    pager,
  ]);

  const filterObject = () => {
    const filter: Record<string, string> = {};
    for (const name of FILTERS) {
      const value = params.get(name);
      if (value) filter[name] = value;
    }
    return filter;
  };

  const runBulk = async (action: Action, scope: 'selected' | 'matching') => {
    try {
      if (scope === 'selected') {
        if (selected.size === 0) return;
        const ok = await confirmDialog(`${label(action)} ${selected.size} selected job(s)?`, label(action));
        if (!ok) return;
        const result = await api<Record<string, number>>('/jobs/bulk', {
          method: 'POST',
          body: { action, ids: [...selected] },
        });
        notice(bulkText(action, result));
        selected.clear();
      } else {
        const limitInput = actions.querySelector<HTMLInputElement>('input[name="bulk-limit"]')!;
        const limit = Number(limitInput.value);
        const query = new URLSearchParams({ ...filterObject(), limit: String(limit) });
        const count = await api<{ count: number; more: boolean }>(`/jobs/count?${query}`);
        if (count.count === 0) {
          notice('No job matches the filter.', 'error');
          return;
        }
        const ok = await confirmDialog(
          `${label(action)} ${count.count}${count.more ? ` (the newest ${limit}; more match)` : ''} job(s) matching this filter?`,
          label(action),
        );
        if (!ok) return;
        const result = await api<Record<string, number>>('/jobs/bulk', {
          method: 'POST',
          body: { action, filter: filterObject(), limit, confirm: true },
        });
        notice(bulkText(action, result));
      }
    } catch (error) {
      notice((error as Error).message, 'error');
    }
    await runRefresh();
  };
  append(actions, [
    selection,
    ...ACTIONS.map((action) =>
      h(
        'button',
        {
          type: 'button',
          class: action === 'delete' ? 'danger' : '',
          'data-bulk': action,
          onclick: () => runBulk(action, 'selected'),
        },
        `${label(action)} selected`,
      ),
    ),
    h('span', { class: 'sep' }, 'All matching (up to '),
    h('input', { type: 'number', name: 'bulk-limit', value: 1000, min: 1, max: 10000, class: 'limit' }),
    h('span', {}, '):'),
    ...ACTIONS.map((action) =>
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          'data-bulk-matching': action,
          onclick: () => runBulk(action, 'matching'),
        },
        label(action),
      ),
    ),
  ]);

  const updateSelection = () => {
    selection.textContent = `${selected.size} selected`;
  };
  updateSelection();
  return async () => {
    const query = new URLSearchParams(filterObject());
    const before = params.get('before');
    if (before) query.set('before', before);
    const { jobs, next, search } = await api<{
      jobs: JobRow[];
      next: string | null;
      search?: ListSearch;
    }>(`/jobs?${query}`);
    for (const id of [...selected]) if (!jobs.some((j) => j.id === id)) selected.delete(id);
    updateSelection();
    // Older jobs not searched yet: "no match" would be untrue, and "Older" becomes "Search older".
    const partial = search?.indexed === false && search.searchedTo !== null;
    if (search?.indexed === false) {
      const by = filterWords(search.filters);
      searchNote.hidden = false;
      searchNote.textContent = `${
        partial
          ? `Searched the jobs down to #${search.searchedTo} by ${by} without an index; older jobs are not searched yet (Search older »). `
          : `Searched every job by ${by} without an index. `
      }${search.hint}`;
    } else {
      searchNote.hidden = true;
      searchNote.textContent = '';
    }
    if (jobs.length === 0) {
      table.replaceChildren(
        h('p', { class: 'empty' }, partial ? 'No match among the jobs searched so far.' : 'No jobs match.'),
      );
    } else {
      const all = h('input', {
        type: 'checkbox',
        'aria-label': 'select all',
        'data-testid': 'select-all',
        onchange: (event: Event) => {
          const checked = (event.target as HTMLInputElement).checked;
          for (const job of jobs) checked ? selected.add(job.id) : selected.delete(job.id);
          for (const box of table.querySelectorAll<HTMLInputElement>('input[data-select]'))
            box.checked = checked;
          updateSelection();
        },
      });
      table.replaceChildren(
        h(
          'table',
          { class: 'grid jobs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              READ_ONLY ? null : h('th', {}, all),
              ...[
                'ID',
                'Name',
                'Queue',
                'State',
                'Attempts',
                'Created',
                'Run at',
                'Finished',
                'Last error',
              ].map((t) => h('th', {}, t)),
            ),
          ),
          h(
            'tbody',
            {},
            ...jobs.map((job) =>
              h(
                'tr',
                { 'data-job': job.id },
                READ_ONLY
                  ? null
                  : h(
                      'td',
                      {},
                      h('input', {
                        type: 'checkbox',
                        'data-select': job.id,
                        'aria-label': `select job ${job.id}`,
                        checked: selected.has(job.id),
                        onchange: (event: Event) => {
                          (event.target as HTMLInputElement).checked
                            ? selected.add(job.id)
                            : selected.delete(job.id);
                          updateSelection();
                        },
                      }),
                    ),
                h('td', {}, link(`/jobs/${encodeURIComponent(job.id)}`, job.id)),
                h('td', {}, job.name),
                h('td', {}, job.queue),
                h('td', {}, stateBadge(job.state)),
                h('td', { class: 'num' }, `${job.attempt}/${job.maxAttempts}`),
                h('td', { title: time(job.createdAt) }, ago(job.createdAt)),
                h('td', { title: time(job.runAt) }, ago(job.runAt)),
                h('td', { title: time(job.finishedAt) }, ago(job.finishedAt)),
                h('td', { class: 'error-text' }, job.lastError ?? ''),
              ),
            ),
          ),
        ),
      );
    }
    const pages: Child[] = [];
    if (before) {
      const first = new URLSearchParams(params);
      first.delete('before');
      pages.push(link(`/jobs?${first}`, '« Newest'));
    }
    if (next !== null) {
      const more = new URLSearchParams(params);
      more.set('before', next);
      pages.push(link(`/jobs?${more}`, partial ? 'Search older »' : 'Older »'));
    }
    pager.replaceChildren(...pages.filter((p): p is HTMLElement => p instanceof HTMLElement));
  };
}

/** A filter of the job list, by its query parameter. */
type ListFilterName = 'queue' | 'state' | 'name' | 'from' | 'to' | 'payload';

/** How the API says a page of the job list was searched (absent when nothing needed saying). */
type ListSearch =
  | { indexed: true }
  | { indexed: false; filters: ListFilterName[]; searchedTo: string | null; hint: string };

/** The filters searched without an index, in words: "name", "name and queue", "created time, state and payload". */
function filterWords(filters: readonly ListFilterName[]): string {
  const words: string[] = [];
  for (const f of filters) {
    const word = f === 'from' || f === 'to' ? 'created time' : f;
    if (!words.includes(word)) words.push(word);
  }
  return words.length < 2 ? (words[0] ?? 'filter') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function label(action: Action): string {
  return { retry: 'Retry', cancel: 'Cancel', delete: 'Delete', 'run-now': 'Run now' }[action];
}

function bulkText(action: Action, result: Record<string, number>): string {
  const skipped = (result['not-applicable'] ?? 0) + (result['not-found'] ?? 0);
  return `${label(action)}: ${result.done ?? 0} done${result.cancelling ? `, ${result.cancelling} cancelling` : ''}${skipped ? `, ${skipped} skipped` : ''}.`;
}

// ---- one job ----

interface JobInfo {
  id: string;
  name: string;
  queue: string;
  state: string;
  payload: unknown;
  result: unknown;
  progress: unknown;
  priority: number;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number;
  runAt: number;
  uniqueKey: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  cancelRequested: boolean;
  errors: { attempt: number; at: number; message: string; stack?: string; kind: string }[];
  createdAt: number;
  finishedAt: number | null;
}

function jobView(main: HTMLElement, route: Route): () => Promise<void> {
  const id = route.id!;
  const body = h('div', { 'data-testid': 'job-detail' });
  const act = async (action: Action) => {
    if (action === 'delete' && !(await confirmDialog(`Delete job ${id}? This cannot be undone.`, 'Delete')))
      return;
    try {
      const result = await api<{ outcome: string }>(`/jobs/${encodeURIComponent(id)}/${action}`, {
        method: 'POST',
      });
      notice(`${label(action)}: ${result.outcome}.`);
      if (action === 'delete') {
        location.hash = '/jobs';
        return;
      }
    } catch (error) {
      notice((error as Error).message, 'error');
    }
    await runRefresh();
  };
  append(main, [
    h('p', {}, link('/jobs', '« Jobs')),
    READ_ONLY
      ? null
      : h(
          'div',
          { class: 'actions' },
          ...ACTIONS.map((action) =>
            h(
              'button',
              {
                type: 'button',
                class: action === 'delete' ? 'danger' : '',
                'data-action': action,
                onclick: () => act(action),
              },
              label(action),
            ),
          ),
        ),
    body,
  ]);
  return async () => {
    const { job } = await api<{ job: JobInfo }>(`/jobs/${encodeURIComponent(id)}`);
    const duration = job.finishedAt === null ? null : job.finishedAt - job.createdAt;
    const field = (name: string, ...value: Child[]) => [h('dt', {}, name), h('dd', {}, ...value)];
    body.replaceChildren(
      h('h1', {}, `Job ${job.id} `, stateBadge(job.state)),
      h(
        'dl',
        { class: 'fields' },
        ...field('Name', job.name),
        ...field('Queue', link(jobsLink({ queue: job.queue }), job.queue)),
        ...field('Attempts', `${job.attempt} of ${job.maxAttempts}`),
        ...field('Priority', String(job.priority)),
        ...field('Timeout', job.timeoutMs === 0 ? 'none' : `${job.timeoutMs} ms`),
        ...field('Unique key', job.uniqueKey ?? '—'),
        ...field('Created', `${time(job.createdAt)} (${ago(job.createdAt)})`),
        ...field('Run at', `${time(job.runAt)} (${ago(job.runAt)})`),
        ...field(
          'Finished',
          job.finishedAt === null ? '—' : `${time(job.finishedAt)} (${ago(job.finishedAt)})`,
        ),
        ...field('Created → finished', duration === null ? '—' : `${duration} ms`),
        ...field(
          'Lease',
          job.leaseOwner === null ? '—' : `${job.leaseOwner} until ${time(job.leaseExpiresAt)}`,
        ),
        ...field('Cancel requested', job.cancelRequested ? 'yes' : 'no'),
      ),
      h('h2', {}, 'Payload'),
      h('pre', { class: 'json', 'data-testid': 'payload' }, pretty(job.payload)),
      h('h2', {}, 'Progress'),
      h('pre', { class: 'json', 'data-testid': 'progress' }, pretty(job.progress ?? null)),
      h('h2', {}, 'Result'),
      h('pre', { class: 'json', 'data-testid': 'result' }, pretty(job.result ?? null)),
      h('h2', {}, `Attempts with errors (${job.errors.length})`),
      job.errors.length === 0
        ? h('p', { class: 'empty' }, 'No failed attempt.')
        : h(
            'ol',
            { class: 'errors', 'data-testid': 'errors' },
            ...job.errors.map((e) =>
              h(
                'li',
                {},
                h('div', {}, h('strong', {}, `Attempt ${e.attempt}`), ` · ${e.kind} · ${time(e.at)}`),
                h('div', { class: 'error-text' }, e.message),
                e.stack ? h('pre', { class: 'stack' }, e.stack) : null,
              ),
            ),
          ),
    );
  };
}

// ---- schedules and workers ----

interface Schedule {
  name: string;
  cron: string;
  timezone: string | null;
  paused: boolean;
  nextRunAt: number | null;
  lastRunAt: number | null;
}

function schedulesView(main: HTMLElement): () => Promise<void> {
  const table = h('div', { 'data-testid': 'schedules' });
  append(main, [h('h1', {}, 'Schedules'), table]);
  const toggle = async (schedule: Schedule) => {
    try {
      await api(`/schedules/${encodeURIComponent(schedule.name)}/${schedule.paused ? 'resume' : 'pause'}`, {
        method: 'POST',
      });
      notice(`${schedule.name}: ${schedule.paused ? 'resumed' : 'paused'}.`);
    } catch (error) {
      notice((error as Error).message, 'error');
    }
    await runRefresh();
  };
  return async () => {
    const { schedules } = await api<{ schedules: Schedule[] }>('/schedules');
    if (schedules.length === 0) {
      table.replaceChildren(h('p', { class: 'empty' }, 'No schedules stored.'));
      return;
    }
    table.replaceChildren(
      h(
        'table',
        { class: 'grid' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Name', 'Cron', 'Time zone', 'State', 'Next run', 'Last run', ''].map((t) => h('th', {}, t)),
          ),
        ),
        h(
          'tbody',
          {},
          ...schedules.map((s) =>
            h(
              'tr',
              { 'data-schedule': s.name },
              h('td', {}, s.name),
              h('td', {}, h('code', {}, s.cron)),
              h(
                'td',
                { title: s.timezone === null ? "the worker process's time zone" : '' },
                s.timezone ?? 'process time zone',
              ),
              h(
                'td',
                {},
                s.paused
                  ? h('span', { class: 'badge badge-warn' }, 'paused')
                  : h('span', { class: 'badge badge-ok' }, 'active'),
              ),
              h(
                'td',
                { title: time(s.nextRunAt) },
                s.paused ? '—' : `${time(s.nextRunAt)} (${ago(s.nextRunAt)})`,
              ),
              h(
                'td',
                { title: time(s.lastRunAt) },
                s.lastRunAt === null ? 'never' : `${time(s.lastRunAt)} (${ago(s.lastRunAt)})`,
              ),
              h(
                'td',
                {},
                READ_ONLY
                  ? null
                  : h(
                      'button',
                      { type: 'button', class: 'secondary', 'data-toggle': s.name, onclick: () => toggle(s) },
                      s.paused ? 'Resume' : 'Pause',
                    ),
              ),
            ),
          ),
        ),
      ),
    );
  };
}

function workersView(main: HTMLElement): () => Promise<void> {
  const table = h('div', { 'data-testid': 'workers' });
  append(main, [h('h1', {}, 'Workers'), table]);
  return async () => {
    const { supported, workers } = await api<{
      supported: boolean;
      workers: { owner: string; queues: string[]; expiresAt: number }[];
    }>('/workers');
    if (!supported) {
      table.replaceChildren(h('p', { class: 'empty' }, 'This store does not list workers.'));
      return;
    }
    if (workers.length === 0) {
      table.replaceChildren(h('p', { class: 'empty' }, 'No worker is connected.'));
      return;
    }
    table.replaceChildren(
      h(
        'table',
        { class: 'grid' },
        h(
          'thead',
          {},
          h('tr', {}, h('th', {}, 'Worker'), h('th', {}, 'Queues'), h('th', {}, 'Announcement lapses')),
        ),
        h(
          'tbody',
          {},
          ...workers.map((w) =>
            h(
              'tr',
              { 'data-worker': w.owner },
              h('td', {}, h('code', {}, w.owner)),
              h(
                'td',
                {},
                ...w.queues.flatMap((q, i) => [i > 0 ? ', ' : '', link(jobsLink({ queue: q }), q)]),
              ),
              h('td', { title: time(w.expiresAt) }, ago(w.expiresAt)),
            ),
          ),
        ),
      ),
    );
  };
}

// ---- the shell ----

function start(): void {
  const app = document.getElementById('app')!;
  app.replaceChildren(
    h(
      'header',
      {},
      h('a', { href: '#/', class: 'brand' }, document.title),
      h(
        'nav',
        {},
        link('/', 'Queues'),
        link('/jobs', 'Jobs'),
        h('a', { href: '#/jobs?state=dead' }, 'Dead letters'),
        link('/schedules', 'Schedules'),
        link('/workers', 'Workers'),
      ),
      READ_ONLY ? h('span', { class: 'badge badge-warn' }, 'read-only') : null,
      h('span', { id: 'live', class: 'live', title: 'Refreshed every 2 seconds' }, 'live'),
    ),
    h('main', { id: 'main' }),
    h('div', { id: 'notices', class: 'notices' }),
  );
  window.addEventListener('hashchange', render);
  render();
  setInterval(() => {
    if (document.visibilityState === 'visible' && !document.querySelector('dialog[open]')) void runRefresh();
  }, 2000);
}

start();
