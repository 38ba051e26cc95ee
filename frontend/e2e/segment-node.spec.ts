// Segment's Node.js library (@segment/analytics-node) pointed at Herald:
// every call type, batched to /v1/batch with the write key as the Basic
// auth username, lands on one customer. (No browser: the library runs in
// the test's own Node process.)
//
// Environment: HERALD_URL and HERALD_CREDENTIALS, see e2e/helpers.ts.
import { Analytics } from '@segment/analytics-node';
import { expect, test } from '@playwright/test';
import { credentials, profileWithEvents, runId } from './helpers';

test('analytics-node sends every call type to Herald', async ({ request, baseURL }) => {
  const creds = credentials();
  const user = `node-${runId()}`;
  const anon = `anon-${user}`;
  const analytics = new Analytics({ writeKey: creds.write_key, host: baseURL!, flushAt: 20, flushInterval: 60_000, maxRetries: 0 });
  const failures: string[] = [];
  analytics.on('error', (err) => failures.push(String(err.reason ?? err.code)));

  analytics.track({ anonymousId: anon, event: 'Viewed Pricing', properties: { plan: 'pro' }, messageId: `${user}-t0` });
  analytics.identify({ userId: user, anonymousId: anon, traits: { email: `${user}@example.com`, seats: 3 }, messageId: `${user}-i` });
  analytics.track({ userId: user, event: 'Order Completed', properties: { revenue: 42.5 }, messageId: `${user}-t1` });
  analytics.page({ userId: user, category: 'Docs', name: 'Pricing', properties: { path: '/pricing' }, messageId: `${user}-p` });
  analytics.screen({ userId: user, name: 'Home', messageId: `${user}-s` });
  analytics.group({ userId: user, groupId: 'acme', traits: { employees: 50 }, messageId: `${user}-g` });
  analytics.alias({ userId: user, previousId: `legacy-${user}`, messageId: `${user}-a` });
  await analytics.closeAndFlush({ timeout: 10_000 });
  expect(failures).toEqual([]);

  const profile = await profileWithEvents(request, creds.secret_key, user, 7);
  expect(profile.external_id).toBe(user);
  expect(profile.email).toBe(`${user}@example.com`);
  expect(profile.anonymous_ids.sort()).toEqual([anon, `legacy-${user}`].sort());
  expect(profile.attributes).toMatchObject({ seats: 3 });
  const byId = Object.fromEntries(profile.events.map((e) => [e.message_id.slice(user.length + 1), e]));
  expect(byId['t0'].name).toBe('Viewed Pricing');
  expect(byId['t1'].properties).toEqual({ revenue: 42.5 });
  expect(byId['p'].name).toBe('Page Viewed');
  expect(byId['p'].properties).toMatchObject({ name: 'Pricing', category: 'Docs', path: '/pricing' });
  expect(byId['s'].properties).toMatchObject({ name: 'Home' });
  expect(byId['g'].properties).toEqual({ groupId: 'acme', traits: { employees: 50 } });
  expect(byId['a'].properties).toEqual({ previousId: `legacy-${user}` });
});
