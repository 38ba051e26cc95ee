// Settings, team, results and test sends end to end, in headless Chromium
// against a running Herald: channel settings (only the webhook allow-list
// is changed, then restored: other specs rely on the email and SMS
// outboxes) and a channel test; the workspace time zone; a member invited
// as a viewer who signs in in a second browser context and finds the owner
// controls disabled; a journey's Results after customers entered it
// through the API; a template's test send.
//
// Environment: HERALD_URL and HERALD_CREDENTIALS, see e2e/helpers.ts.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { callApi, credentials, ingest, profileWithEvents, runId, screenshot, signIn, type Credentials } from './helpers';

test('channels and workspace settings', async ({ page, request }) => {
  const creds = credentials();
  const run = runId();
  const before = await callApi(request, creds.secret_key, 'GET', '/api/channels');
  const workspace = await callApi(request, creds.secret_key, 'GET', '/api/workspace');
  // Whatever happens, leave the allow-list and the time zone as they were.
  try {
    await channelsAndWorkspace(page, request, creds, run, before, workspace);
  } finally {
    await callApi(request, creds.secret_key, 'PUT', '/api/channels', { webhook: before.webhook });
    await callApi(request, creds.secret_key, 'PUT', '/api/workspace', { timezone: workspace.timezone });
  }
});

interface ChannelsBefore {
  email: { provider: string };
  sms: { provider: string };
  webhook: { allow_hosts: string[] };
}

async function channelsAndWorkspace(
  page: Page,
  request: APIRequestContext,
  creds: Credentials,
  run: string,
  before: ChannelsBefore,
  workspace: { timezone: string },
) {
  await page.goto('/settings/channels');
  await signIn(page, creds.email, creds.password);
  await expect(page.getByRole('link', { name: 'Channels', exact: true })).toHaveAttribute('aria-current', 'page');

  // Email and SMS show their providers; they are not changed here.
  const email = page.getByRole('form', { name: 'Email settings' });
  await expect(email.getByLabel('Provider')).toHaveValue(before.email.provider);
  await expect(page.getByRole('form', { name: 'SMS settings' }).getByLabel('Provider')).toHaveValue(before.sms.provider);

  // A bad allow-list entry is refused next to the field.
  const webhook = page.getByRole('form', { name: 'Webhook settings' });
  const hosts = webhook.getByLabel('Allowed private hosts');
  await hosts.fill('https://not a host/');
  await webhook.getByRole('button', { name: 'Save webhook settings' }).click();
  await expect(hosts).toHaveAttribute('aria-invalid', 'true');
  await expect(webhook.getByText(/is not a host name or IP address/)).toBeVisible();

  // A good one is saved and survives a reload.
  const host = `hooks-${run}.internal`;
  await hosts.fill([...before.webhook.allow_hosts, host].join('\n'));
  await webhook.getByRole('button', { name: 'Save webhook settings' }).click();
  await expect(webhook.getByRole('status')).toHaveText('Webhook settings saved.');
  await expect(hosts).not.toHaveAttribute('aria-invalid');
  const saved = await callApi(request, creds.secret_key, 'GET', '/api/channels');
  expect(saved.webhook.allow_hosts).toContain(host);
  expect(saved.email).toEqual(before.email);
  expect(saved.sms).toEqual(before.sms);

  // A test send through the email channel's provider.
  const test = page.getByRole('form', { name: 'Test email' });
  await test.getByLabel('Test: Email address').fill(`channel-test-${run}@example.com`);
  await test.getByRole('button', { name: 'Test email' }).click();
  await expect(test.getByRole('status')).toHaveText(new RegExp(`^Test sent through ${before.email.provider}`));

  await page.reload();
  await expect(page.getByRole('form', { name: 'Webhook settings' }).getByLabel('Allowed private hosts')).toHaveValue(new RegExp(host.replace(/\./g, '\\.')));
  await page.getByRole('heading', { name: 'Email', exact: true }).scrollIntoViewIfNeeded();
  await screenshot(page, 'settings-channels');

  // Workspace: the time zone; a bad one is refused by the field.
  await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Workspace' }).click();
  await expect(page).toHaveURL(/\/settings\/workspace$/);
  const tz = page.getByLabel('Time zone');
  await expect(tz).toHaveValue(workspace.timezone);
  await tz.fill('Mars/Olympus_Mons');
  await page.getByRole('button', { name: 'Save workspace settings' }).click();
  await expect(tz).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByText(/IANA time zone name like Europe\/Paris/)).toBeVisible();
  const zone = workspace.timezone === 'Europe/Paris' ? 'America/New_York' : 'Europe/Paris';
  await tz.fill(zone);
  await page.getByRole('button', { name: 'Save workspace settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Workspace settings saved.');
  expect((await callApi(request, creds.secret_key, 'GET', '/api/workspace')).timezone).toBe(zone);
  await page.reload();
  await expect(page.getByLabel('Time zone')).toHaveValue(zone);
}

test('invite a viewer, who finds the owner controls disabled', async ({ page, browser, request }) => {
  const creds = credentials();
  const run = runId();
  const invitee = `viewer-${run}@example.com`;

  await page.goto('/settings/team');
  await signIn(page, creds.email, creds.password);
  await expect(page.getByRole('rowheader', { name: new RegExp(creds.email) })).toBeVisible();

  const invite = page.getByRole('form', { name: 'Invite member' });
  await invite.getByLabel('Email').fill(invitee);
  await invite.getByLabel('Role').selectOption('viewer');
  await invite.getByRole('button', { name: 'Invite' }).click();
  const password = (await page.getByTestId('invited-password').textContent())?.trim() ?? '';
  expect(password.length).toBeGreaterThan(7);
  await expect(page.getByRole('rowheader', { name: invitee })).toBeVisible();
  await expect(page.getByLabel(`Role of ${invitee}`)).toHaveValue('viewer');
  await screenshot(page, 'team');
  await page.getByRole('button', { name: 'Done, I have passed it on' }).click();
  await expect(page.getByTestId('invited-password')).toHaveCount(0);

  // Inviting them again is refused.
  await invite.getByLabel('Email').fill(invitee);
  await invite.getByRole('button', { name: 'Invite' }).click();
  await expect(invite.getByRole('alert')).toBeVisible();

  // The viewer, in a browser context of their own.
  const context = await browser.newContext();
  try {
    const viewer = await context.newPage();
    await viewer.goto('/settings/team');
    await signIn(viewer, invitee, password);
    await expect(viewer.getByRole('banner')).toContainText('viewer');
    await expect(viewer.getByRole('rowheader', { name: new RegExp(invitee) })).toBeVisible();
    await expect(viewer.getByRole('form', { name: 'Invite member' })).toHaveCount(0);
    await expect(viewer.getByRole('note')).toContainText('Only workspace owners');
    await expect(viewer.getByLabel(`Role of ${creds.email}`)).toBeDisabled();
    await expect(viewer.getByRole('button', { name: `Remove ${creds.email}` })).toBeDisabled();
    expect((await viewer.request.post('/api/members', { data: { email: `x-${run}@example.com`, role: 'owner' } })).status()).toBe(403);

    await viewer.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Workspace' }).click();
    await expect(viewer.getByLabel('Time zone')).toBeDisabled();
    await expect(viewer.getByRole('button', { name: 'Save workspace settings' })).toHaveCount(0);

    // Nor is a viewer offered to erase a customer or to import (editor actions).
    const seen = `seen-${run}`;
    await ingest(request, creds.write_key, 'identify', { userId: seen, traits: { email: `${seen}@example.com` } });
    await expect.poll(async () => (await request.get(`/api/customers/${seen}`, { headers: { Authorization: `Bearer ${creds.secret_key}` } })).status()).toBe(200);
    await viewer.goto(`/customers/${seen}`);
    await expect(viewer.getByRole('heading', { name: seen })).toBeVisible();
    await expect(viewer.getByText('Erasing a customer needs the editor role.')).toBeVisible();
    await expect(viewer.getByRole('button', { name: 'Erase customer' })).toHaveCount(0);
    await viewer.goto('/audiences/import');
    await expect(viewer.getByRole('note')).toHaveText('Importing customers needs the editor role; ask a workspace owner.');
    await expect(viewer.getByLabel('CSV file')).toBeDisabled();
  } finally {
    await context.close();
  }

  // The owner makes them an editor, then removes them (after confirming).
  await page.getByLabel(`Role of ${invitee}`).selectOption('editor');
  await expect(page.getByLabel(`Role of ${invitee}`)).toHaveValue('editor');
  await page.reload();
  await expect(page.getByLabel(`Role of ${invitee}`)).toHaveValue('editor');
  await page.getByRole('button', { name: `Remove ${invitee}` }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Remove member?' });
  await expect(dialog).toContainText(invitee);
  await dialog.getByRole('button', { name: 'Remove member' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByRole('rowheader', { name: invitee })).toHaveCount(0);
});

test('a journey’s results, and a template test send', async ({ page, request }) => {
  test.setTimeout(90_000);
  const creds = credentials();
  const run = runId();
  const template = await callApi(
    request,
    creds.secret_key,
    'POST',
    '/api/templates',
    { name: `Receipt ${run}`, channel: 'email', subject: 'Thanks, {{ customer.first_name }}', html: '<p>Thanks {{ customer.first_name }}!</p>' },
    201,
  );
  const journey = await callApi(
    request,
    creds.secret_key,
    'POST',
    '/api/journeys',
    {
      name: `Results ${run}`,
      trigger: { type: 'api' },
      entry: { policy: 'every_time' },
      settings: {},
      start: 'send_1',
      nodes: [
        { id: 'send_1', type: 'send', channel: 'email', template_id: template.id, next: 'exit_1' },
        { id: 'exit_1', type: 'exit' },
      ],
    },
    201,
  );
  await callApi(request, creds.secret_key, 'POST', `/api/journeys/${journey.id}/publish`);
  for (let i = 1; i <= 3; i++) {
    const userId = `results-${run}-${i}`;
    await ingest(request, creds.write_key, 'identify', { userId, traits: { email: `${userId}@example.com`, first_name: `Reader ${i}` } });
  }
  // Ingest is asynchronous (Kafka): the receipts render first_name, so each
  // customer's traits must be stored before the trigger.
  for (let i = 1; i <= 3; i++) {
    await profileWithEvents(request, creds.secret_key, `results-${run}-${i}`, 1);
  }
  for (let i = 1; i <= 3; i++) {
    await expect
      .poll(async () => {
        const res = await request.post(`/api/journeys/${journey.id}/trigger`, {
          headers: { Authorization: `Bearer ${creds.secret_key}` },
          data: { customer: { user_id: `results-${run}-${i}` } },
        });
        return res.status();
      })
      .toBe(200);
  }
  // Wait until the sends are recorded, so the page shows the whole run.
  await expect
    .poll(async () => {
      const s = await callApi(request, creds.secret_key, 'GET', `/api/journeys/${journey.id}/series?interval=hour&points=2`);
      return (s.points as { sent: number }[]).reduce((n, p) => n + p.sent, 0);
    }, { timeout: 30_000 })
    .toBe(3);

  // The Results page, reached from the canvas.
  await page.goto(`/journeys/${journey.id}`);
  await signIn(page, creds.email, creds.password);
  await page.getByRole('link', { name: 'Results' }).click();
  await expect(page).toHaveURL(new RegExp(`/journeys/${journey.id}/results$`));
  await expect(page.getByRole('heading', { name: `Results ${run}` })).toBeVisible();
  const totals = page.getByTestId('totals');
  await expect(totals.locator('[data-metric="entries"]')).toHaveText('3');
  await expect(totals.locator('[data-metric="sent"]')).toHaveText('3');
  await expect(page.getByRole('figure', { name: 'Entries and conversions' }).locator('.recharts-line').first()).toBeVisible();

  const byHour = page.getByRole('button', { name: /by hour/i });
  await byHour.click();
  await expect(byHour).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByRole('heading', { name: /last 48 hours/ })).toBeVisible();
  await expect(totals.locator('[data-metric="entries"]')).toHaveText('3');
  await screenshot(page, 'results');

  // Template editor → Send test, rendered for one of the customers.
  await page.goto(`/templates/${template.id}`);
  await expect(page.getByRole('heading', { name: `Receipt ${run}` })).toBeVisible();
  await page.getByLabel('Customer (id or user id; blank: a sample)').fill(`results-${run}-1`);
  const to = `template-test-${run}@example.com`;
  await page.getByLabel('Send a test to (email address)').fill(to);
  await page.getByRole('button', { name: 'Send test' }).click();
  await expect(page.getByTestId('test-send-result')).toHaveText(`Test sent to ${to} through outbox.`);
});
