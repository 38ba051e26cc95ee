// Segment's browser SDK (analytics.js 2.0, the npm package's UMD build) in
// headless Chromium, sending to Herald from a page of another origin: its
// text/plain posts with the write key in the body go to the short paths
// (/v1/i, /v1/p, /v1/t) one by one, or to /v1/b in batches, across origins
// with no preflight; Herald stores them on one customer.
//
// Environment: HERALD_URL and HERALD_CREDENTIALS, see e2e/helpers.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { expect, test } from '@playwright/test';
import { credentials, profileWithEvents, runId } from './helpers';

const require = createRequire(import.meta.url);
const sdk = gunzipSync(readFileSync(require.resolve('@segment/analytics-next/dist/umd/index.js.gz'))).toString('utf8');

for (const strategy of ['standard', 'batching'] as const) {
  test(`analytics.js (${strategy}) sends to Herald across origins`, async ({ page, request, baseURL }) => {
    const creds = credentials();
    const user = `browser-${strategy}-${runId()}`;
    const api = new URL(baseURL!);
    // The page is served from localhost, Herald answers on 127.0.0.1: two origins.
    const pageURL = new URL(baseURL!);
    pageURL.hostname = 'localhost';
    const posts: string[] = [];
    const preflights: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') posts.push(`${new URL(r.url()).pathname} ${r.headers()['content-type'] ?? ''}`);
      if (r.method() === 'OPTIONS') preflights.push(r.url());
    });
    await page.route(/^https:\/\//, (route) => route.abort()); // nothing leaves the machine (no Segment CDN)
    await page.goto(new URL('/login', pageURL).toString());
    await page.addScriptTag({ content: sdk });

    const messageId = await page.evaluate(
      async ({ writeKey, apiHost, strategy, user }) => {
        const AnalyticsNext = (window as unknown as { AnalyticsNext: any }).AnalyticsNext;
        const deliveryStrategy = strategy === 'batching' ? { strategy, config: { size: 3, timeout: 200 } } : undefined;
        const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({
          writeKey,
          cdnSettings: { integrations: { 'Segment.io': { apiKey: writeKey, apiHost, protocol: 'http', deliveryStrategy } } },
        });
        await analytics.identify(user, { email: `${user}@example.com`, plan: 'pro', seats: 3 });
        await analytics.page('Docs', 'Pricing', { path: '/pricing' });
        const ctx = await analytics.track('Plan Picked', { plan: 'pro' });
        return ctx.event.messageId as string;
      },
      { writeKey: creds.write_key, apiHost: `${api.host}/v1`, strategy, user },
    );

    const profile = await profileWithEvents(request, creds.secret_key, user, 3);
    expect(preflights, 'text/plain posts need no CORS preflight').toEqual([]);
    expect(profile.external_id).toBe(user);
    expect(profile.email).toBe(`${user}@example.com`);
    expect(profile.attributes).toMatchObject({ plan: 'pro', seats: 3 });
    const byName = Object.fromEntries(profile.events.map((e) => [e.name, e]));
    expect(Object.keys(byName).sort()).toEqual(['Identify', 'Page Viewed', 'Plan Picked']);
    expect(byName['Plan Picked'].message_id).toBe(messageId);
    expect(byName['Page Viewed'].properties).toMatchObject({ name: 'Pricing', category: 'Docs', path: '/pricing' });
    if (strategy === 'batching') {
      expect(posts).toEqual(['/v1/b text/plain']);
    } else {
      expect(posts).toEqual(['/v1/i text/plain', '/v1/p text/plain', '/v1/t text/plain']);
    }
  });
}
