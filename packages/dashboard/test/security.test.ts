/**
 * Security by default, through the Fetch handler and over HTTP: authentication of every route, CSRF on actions,
 * read-only mode, the loopback-only mode without authentication, the headers of every answer, and options refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type JobStore, sqliteStore } from 'hostwork';
import { createDashboard } from '../src/dashboard.ts';
import { PROTECTED_ROUTES } from './support/routes.ts';
import { type Seeded, seed } from './support/seed.ts';
import { type RunningDashboard, serveDashboard } from './support/server.ts';

const BASIC = { username: 'admin', password: 'correct horse battery' };
const basicHeader = (user = BASIC.username, password = BASIC.password) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

let store: JobStore;
let seeded: Seeded;
before(async () => {
  store = sqliteStore({ path: ':memory:' });
  await store.migrate();
  seeded = await seed(store);
});
after(() => store.close());

/** Loads the page with `headers` and returns what a browser would send back: the CSRF cookie and token. */
async function session(url: string, headers: Record<string, string>) {
  const page = await fetch(`${url}/`, { headers });
  assert.equal(page.status, 200);
  const html = await page.text();
  const token = /<meta name="hostwork-csrf" content="([^"]+)">/.exec(html)![1]!;
  const cookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
  return { token, cookie, html, page };
}

describe('authentication', () => {
  it('basic: every route refuses a request without or with wrong credentials, and none changes the store', async () => {
    const d = await serveDashboard({ store, auth: { kind: 'basic', ...BASIC }, basePath: '/jobs-admin' });
    try {
      for (const headers of [
        {},
        basicHeader('admin', 'wrong password!'),
        basicHeader('root', BASIC.password),
      ]) {
        for (const [method, path] of PROTECTED_ROUTES) {
          const response = await fetch(`${d.url}${path}`, {
            method,
            headers,
            ...(method === 'POST' ? { body: '{}' } : {}),
          });
          assert.equal(response.status, 401, `${method} ${path}`);
          assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm=/);
          assert.doesNotMatch(await response.text(), /example\.com|email\.send/);
        }
      }
      assert.equal((await store.get(seeded.dead[0]!))?.state, 'dead');
      // With the credentials, the same routes answer.
      assert.equal((await fetch(`${d.url}/api/overview`, { headers: basicHeader() })).status, 200);
      // The stylesheet reveals nothing and is public (the sign-in page uses it); nothing outside the base path is served.
      assert.equal((await fetch(`${d.url}/assets/dashboard.css`)).status, 200);
      assert.equal((await fetch(`${d.origin}/api/overview`, { headers: basicHeader() })).status, 404);
    } finally {
      await d.close();
    }
  });

  it('bearer: a header for scripts (no CSRF needed), a session cookie after signing in for browsers', async () => {
    const token = 'a-long-enough-test-token';
    const d = await serveDashboard({ store, auth: { kind: 'bearer', token } });
    try {
      const api = await fetch(`${d.url}/api/jobs?state=dead`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(api.status, 200);
      assert.equal(((await api.json()) as { jobs: unknown[] }).jobs.length, 2);
      assert.equal(
        (await fetch(`${d.url}/api/overview`, { headers: { authorization: 'Bearer nope' } })).status,
        401,
      );
      const page = await fetch(`${d.url}/`, { redirect: 'manual' });
      assert.equal(page.status, 303);
      assert.equal(page.headers.get('location'), '/login');
      const wrong = await fetch(`${d.url}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token: 'x' }),
        redirect: 'manual',
      });
      assert.equal(wrong.status, 401);
      const crossSite = await fetch(`${d.url}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token }),
        headers: { 'sec-fetch-site': 'cross-site' },
        redirect: 'manual',
      });
      assert.equal(crossSite.status, 403);
      const signed = await fetch(`${d.url}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token }),
        redirect: 'manual',
      });
      assert.equal(signed.status, 303);
      const cookie = signed.headers.getSetCookie()[0]!;
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
      assert.ok(!cookie.includes(token), 'the cookie holds a MAC of the token, never the token');
      const sessionCookie = cookie.split(';')[0]!;
      assert.equal(
        (await fetch(`${d.url}/api/overview`, { headers: { cookie: sessionCookie } })).status,
        200,
      );
      // A bearer header is no ambient credential: an action needs no CSRF token with it.
      const retried = await fetch(`${d.url}/api/jobs/${seeded.dead[1]}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(retried.status, 200);
      assert.equal((await store.get(seeded.dead[1]!))?.state, 'pending');
      // With the session cookie it does.
      const refused = await fetch(`${d.url}/api/jobs/${seeded.pending[0]}/cancel`, {
        method: 'POST',
        headers: { cookie: sessionCookie },
      });
      assert.equal(refused.status, 403);
    } finally {
      await d.close();
    }
  });

  it("callback: the host's session decides, with the request", async () => {
    const d = await serveDashboard({
      store,
      auth: {
        kind: 'callback',
        authenticate: (request) => request.headers.get('cookie')?.includes('sid=ok') === true,
      },
    });
    try {
      assert.equal((await fetch(`${d.url}/api/overview`)).status, 401);
      assert.equal((await fetch(`${d.url}/api/overview`, { headers: { cookie: 'sid=bad' } })).status, 401);
      assert.equal((await fetch(`${d.url}/api/overview`, { headers: { cookie: 'sid=ok' } })).status, 200);
    } finally {
      await d.close();
    }
  });

  it('none: only for loopback clients, and only when the address is known', async () => {
    const d = await serveDashboard({ store, auth: { kind: 'none', loopbackOnly: true } });
    try {
      assert.equal((await fetch(`${d.url}/api/overview`)).status, 200, 'the test client is on 127.0.0.1');
    } finally {
      await d.close();
    }
    const handler = createDashboard({ store, auth: { kind: 'none', loopbackOnly: true } });
    const ask = (info?: { remoteAddress?: string }) =>
      handler(new Request('http://dash.example/api/overview'), info);
    assert.equal((await ask()).status, 401, 'no address known');
    assert.equal((await ask({ remoteAddress: '10.1.2.3' })).status, 401);
    assert.equal((await ask({ remoteAddress: '::ffff:192.168.1.5' })).status, 401);
    assert.equal((await ask({ remoteAddress: '::1' })).status, 200);
    assert.equal((await ask({ remoteAddress: '::ffff:127.0.0.1' })).status, 200);
  });
});

describe('CSRF, read-only and headers', () => {
  let d: RunningDashboard;
  before(async () => {
    d = await serveDashboard({ store, auth: { kind: 'basic', ...BASIC }, title: '<b>Ops</b> & "jobs"' });
  });
  after(() => d.close());

  it('an action needs the CSRF header repeating the cookie, and a same-origin Sec-Fetch-Site', async () => {
    const { token, cookie } = await session(d.url, basicHeader());
    const id = seeded.pending[0]!;
    const post = (headers: Record<string, string>) =>
      fetch(`${d.url}/api/jobs/${id}/cancel`, { method: 'POST', headers: { ...basicHeader(), ...headers } });
    assert.equal((await post({})).status, 403, 'no token');
    assert.equal((await post({ cookie })).status, 403, 'the cookie alone');
    assert.equal((await post({ 'x-hostwork-csrf': token })).status, 403, 'the header alone');
    assert.equal(
      (await post({ cookie, 'x-hostwork-csrf': `${token.slice(1)}x` })).status,
      403,
      'another token',
    );
    assert.equal(
      (await post({ cookie, 'x-hostwork-csrf': token, 'sec-fetch-site': 'cross-site' })).status,
      403,
    );
    assert.equal(
      (await post({ cookie, 'x-hostwork-csrf': token, 'sec-fetch-site': 'same-site' })).status,
      403,
    );
    assert.equal((await store.get(id))?.state, 'pending', 'nothing changed');
    const ok = await post({ cookie, 'x-hostwork-csrf': token, 'sec-fetch-site': 'same-origin' });
    assert.equal(ok.status, 200);
    assert.equal((await store.get(id))?.state, 'cancelled');
  });

  it('every answer carries the strict CSP and the hardening headers; the page has no inline script or style', async () => {
    const { page, html } = await session(d.url, basicHeader());
    for (const response of [
      page,
      await fetch(`${d.url}/api/overview`, { headers: basicHeader() }),
      await fetch(`${d.url}/assets/dashboard.js`, { headers: basicHeader() }),
      await fetch(`${d.url}/api/overview`),
    ]) {
      assert.match(
        response.headers.get('content-security-policy') ?? '',
        /^default-src 'self'; script-src 'self'; style-src 'self';/,
      );
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(response.headers.get('x-frame-options'), 'DENY');
    }
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    assert.doesNotMatch(html, /<style|style=/, 'no inline style');
    assert.match(
      html,
      /<title>&#60;b&#62;Ops&#60;\/b&#62; &#38; &#34;jobs&#34;<\/title>/,
      'the title is escaped',
    );
  });

  it('read-only: every request that is not GET is refused, reads still answer', async () => {
    const ro = await serveDashboard({ store, auth: { kind: 'basic', ...BASIC }, readOnly: true });
    try {
      const { token, cookie, html } = await session(ro.url, basicHeader());
      assert.match(html, /<meta name="hostwork-read-only" content="true">/);
      for (const [method, path] of PROTECTED_ROUTES.filter(([m]) => m === 'POST')) {
        const response = await fetch(`${ro.url}${path}`, {
          method,
          headers: { ...basicHeader(), cookie, 'x-hostwork-csrf': token },
          body: '{"action":"delete","ids":["1"]}',
        });
        assert.equal(response.status, 403, path);
        assert.match(await response.text(), /read-only/);
      }
      for (const method of ['PUT', 'DELETE', 'PATCH']) {
        assert.equal((await fetch(`${ro.url}/api/jobs/1`, { method, headers: basicHeader() })).status, 403);
      }
      assert.ok(await store.get('1'), 'nothing deleted');
      assert.equal((await fetch(`${ro.url}/api/jobs`, { headers: basicHeader() })).status, 200);
    } finally {
      await ro.close();
    }
  });

  it('bulk over a filter needs a limit and confirm: true; bad filters are refused with the reason', async () => {
    const { token, cookie } = await session(d.url, basicHeader());
    const headers = {
      ...basicHeader(),
      cookie,
      'x-hostwork-csrf': token,
      'content-type': 'application/json',
    };
    const bulk = (body: unknown) =>
      fetch(`${d.url}/api/jobs/bulk`, { method: 'POST', headers, body: JSON.stringify(body) });
    let response = await bulk({ action: 'delete', filter: { queue: 'emails' } });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /needs a limit/);
    response = await bulk({ action: 'delete', filter: { queue: 'emails' }, limit: 5 });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /confirm: true/);
    response = await bulk({ action: 'delete', filter: { queue: 'emails' }, limit: 100_000, confirm: true });
    assert.equal(response.status, 400, 'above maxBulk');
    response = await bulk({ action: 'explode', ids: ['1'] });
    assert.equal(response.status, 400);
    for (const query of ['state=finished', 'payload=nothing', 'from=yesterday', 'limit=0', 'before=abc']) {
      const r = await fetch(`${d.url}/api/jobs?${query}`, { headers: basicHeader() });
      assert.equal(r.status, 400, query);
    }
    assert.equal((await fetch(`${d.url}/api/jobs/999999`, { headers: basicHeader() })).status, 404);
    assert.equal(
      (await fetch(`${d.url}/api/schedules/%E0%A4%A/pause`, { headers: basicHeader() })).status,
      400,
    );
  });
});

describe('options', () => {
  it('are refused with the key at fault and the fix', () => {
    const bad: [unknown, RegExp][] = [
      [{ store }, /auth is required/],
      [{ store, auth: { kind: 'none' } }, /loopbackOnly: true/],
      [{ store, auth: { kind: 'basic', username: 'a', password: 'short' } }, /at least 8/],
      [{ store, auth: { kind: 'bearer', token: 'short' } }, /at least 16/],
      [{ store, auth: { kind: 'magic' } }, /auth\.kind/],
      [{ store, auth: { kind: 'none', loopbackOnly: true }, basePath: '/x/' }, /basePath/],
      [{ store, auth: { kind: 'none', loopbackOnly: true }, readonly: true }, /unknown option 'readonly'/],
      [{ auth: { kind: 'none', loopbackOnly: true } }, /store must be a JobStore/],
      [{ store, auth: { kind: 'none', loopbackOnly: true }, scanWindow: 0 }, /dashboard: scanWindow must/],
      [{ store, auth: { kind: 'none', loopbackOnly: true }, scanMs: -1 }, /scanMs must be a number/],
      // The former names, still taken, are named when at fault.
      [
        { store, auth: { kind: 'none', loopbackOnly: true }, payloadScanWindow: 1.5 },
        /payloadScanWindow must/,
      ],
      [
        { store, auth: { kind: 'none', loopbackOnly: true }, payloadScanMs: Number.NaN },
        /payloadScanMs must/,
      ],
    ];
    for (const [options, message] of bad) {
      assert.throws(() => createDashboard(options as never), message);
    }
  });
});
