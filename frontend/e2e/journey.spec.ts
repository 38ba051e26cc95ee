// A journey end to end, in headless Chromium against a running Herald:
// templates (through the API), a journey built on the canvas by dragging
// steps from the palette and connecting their handles, configured in the
// side panel, saved and published; events sent with the write key; the
// live counts on the canvas, a run's path, the customer's messages, and a
// segment with its live count. Then steps copied and pasted (keyboard and
// buttons) and a second version published after the list of changes.
//
// Environment: HERALD_URL and HERALD_CREDENTIALS, see e2e/helpers.ts.
import { readFile } from 'node:fs/promises';
import { expect, test, type APIRequestContext, type Locator, type Page } from '@playwright/test';
import { callApi, credentials, ingest, runId, screenshot, signIn } from './helpers';

/** Creates a template through the management API with the secret key. */
async function createTemplate(request: APIRequestContext, secret: string, body: object): Promise<string> {
  const res = await request.post('/api/templates', { headers: { Authorization: `Bearer ${secret}` }, data: body });
  expect(res.status(), await res.text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** Drags a palette item onto the canvas at a point (relative to the canvas). */
async function dropStep(page: Page, type: string, x: number, y: number) {
  await page.getByTestId(`palette-${type}`).dragTo(page.getByTestId('canvas'), { targetPosition: { x, y } });
}

/** A point inside a step that a copy pasted over it (40 canvas units right and down) never covers. */
const uncovered = { x: 4, y: 4 };

function step(page: Page, id: string): Locator {
  return page.getByTestId(id === 'trigger' ? 'step-trigger' : `step-${id}`);
}

/** Connects a step's exit handle to another step's input by dragging. */
async function connect(page: Page, from: string, handle: string, to: string) {
  const source = step(page, from).locator(`.react-flow__handle[data-handleid="${handle}"]`);
  const target = step(page, to).locator('.react-flow__handle[data-handleid="in"]');
  await source.dragTo(target);
}

test('build a journey on the canvas, publish it, watch it run', async ({ page, request }) => {
  test.setTimeout(180_000);
  const creds = credentials();
  const run = runId();
  const emailName = `Welcome email ${run}`;
  const smsName = `Nudge SMS ${run}`;
  await createTemplate(request, creds.secret_key, {
    name: emailName,
    channel: 'email',
    subject: 'Welcome, {{ customer.first_name }}',
    html: '<p>Hello {{ customer.first_name }}!</p>',
  });
  await createTemplate(request, creds.secret_key, { name: smsName, channel: 'sms', body: 'Still there, {{ customer.first_name }}?' });

  // Sign in and create the journey.
  await page.goto('/journeys');
  await signIn(page, creds.email, creds.password);
  await expect(page.getByRole('heading', { name: 'Journeys', level: 1 })).toBeVisible();
  await expect(page.getByRole('status')).toHaveCount(0);
  await page.getByRole('button', { name: 'New journey' }).click();
  const form = page.getByRole('form', { name: 'New journey' });
  const journeyName = `Onboarding ${run}`;
  const signedUp = `Signed Up ${run}`;
  const activated = `Activated ${run}`;
  await form.getByLabel('Name').fill(journeyName);
  await form.getByLabel('Trigger event').fill(signedUp);
  await form.getByRole('button', { name: 'Create journey' }).click();
  await expect(page).toHaveURL(/\/journeys\/[^/]+$/);
  await expect(page.getByRole('heading', { name: journeyName })).toBeVisible();
  await expect(step(page, 'trigger')).toContainText(signedUp);
  await expect(step(page, 'exit_1')).toBeVisible();

  // Build: drag steps from the palette onto the canvas.
  await page.getByRole('button', { name: 'Auto-layout' }).click();
  await page.getByRole('button', { name: 'zoom out' }).click();
  const box = (await page.getByTestId('canvas').boundingBox())!;
  const col = (f: number) => Math.round(box.width * f);
  const row = (f: number) => Math.round(box.height * f);
  await dropStep(page, 'send', col(0.18), row(0.1));
  await dropStep(page, 'wait_for_event', col(0.18), row(0.34));
  await dropStep(page, 'branch', col(0.18), row(0.58));
  await dropStep(page, 'send', col(0.18), row(0.82));
  for (const id of ['send_1', 'wait_for_event_1', 'branch_1', 'send_2']) await expect(step(page, id)).toBeVisible();

  // Undo takes back the last change, redo brings it back.
  await dropStep(page, 'delay', col(0.75), row(0.2));
  await expect(step(page, 'delay_1')).toBeVisible();
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(step(page, 'delay_1')).toHaveCount(0);
  await page.getByRole('button', { name: 'Redo' }).click();
  await expect(step(page, 'delay_1')).toBeVisible();
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(step(page, 'delay_1')).toHaveCount(0);

  // Connect the handles: trigger → email → wait → (timeout) branch → (phone) SMS → exit.
  await connect(page, 'trigger', 'start', 'send_1');
  await connect(page, 'send_1', 'next', 'wait_for_event_1');
  await connect(page, 'wait_for_event_1', 'on_event', 'exit_1');
  await connect(page, 'wait_for_event_1', 'on_timeout', 'branch_1');
  await connect(page, 'branch_1', 'branch-0', 'send_2');
  await connect(page, 'branch_1', 'else', 'exit_1');
  await connect(page, 'send_2', 'next', 'exit_1');

  // Configure the steps in the side panel.
  await step(page, 'send_1').click();
  let panel = page.getByRole('region', { name: 'Step send_1' });
  await panel.getByLabel('Channel').selectOption('email');
  await panel.getByLabel('Template').selectOption({ label: emailName });
  await expect(panel.getByLabel('Next step', { exact: true })).toHaveValue('wait_for_event_1');

  await step(page, 'wait_for_event_1').click();
  panel = page.getByRole('region', { name: 'Step wait_for_event_1' });
  await panel.getByLabel('Event', { exact: true }).fill(activated);
  await panel.getByLabel('Timeout', { exact: true }).fill('2s');
  await expect(panel.getByLabel('Next step (on event)')).toHaveValue('exit_1');
  await expect(panel.getByLabel('Next step (on timeout)')).toHaveValue('branch_1');

  await step(page, 'branch_1').click();
  panel = page.getByRole('region', { name: 'Step branch_1' });
  const cond = panel.getByRole('group', { name: 'Condition of branch 1' });
  await cond.getByLabel('Attribute name').fill('phone');
  await cond.getByLabel('Operator').selectOption('exists');
  await expect(panel.getByLabel('Next step (branch 1)')).toHaveValue('send_2');
  await expect(panel.getByLabel('Next step (else)')).toHaveValue('exit_1');

  await step(page, 'send_2').click();
  panel = page.getByRole('region', { name: 'Step send_2' });
  await panel.getByLabel('Channel').selectOption('sms');
  await panel.getByLabel('Template').selectOption({ label: smsName });

  // Save with a mistake first: the API's error shows on the step.
  await panel.getByLabel('Template').selectOption('');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'problem' })).toBeVisible();
  await expect(step(page, 'send_2').getByRole('list', { name: 'Problems in send_2' })).toContainText('template_id');
  await panel.getByLabel('Template').selectOption({ label: smsName });
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expect(page.getByText('Draft saved.')).toBeVisible();
  await expect(step(page, 'send_2').getByRole('list', { name: 'Problems in send_2' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Auto-layout' }).click();
  await expect(page.getByText('Unsaved changes')).toBeVisible();
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expect(page.getByText('Unsaved changes')).toHaveCount(0);
  await expect(page.getByText('Draft saved.')).toBeVisible();
  await screenshot(page, 'journey-canvas');

  // The saved definition is the graph drawn.
  const journeyId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
  const saved = await (await page.request.get(`/api/journeys/${journeyId}`)).json();
  expect(saved.definition.start).toBe('send_1');
  const byId = Object.fromEntries(saved.definition.nodes.map((n: { id: string }) => [n.id, n]));
  expect(byId.send_1).toMatchObject({ type: 'send', channel: 'email', next: 'wait_for_event_1' });
  expect(byId.wait_for_event_1).toMatchObject({ event: activated, timeout: '2s', on_event: 'exit_1', on_timeout: 'branch_1' });
  expect(byId.branch_1).toMatchObject({ branches: [{ when: { all: [{ attr: 'phone', op: 'exists' }] }, next: 'send_2' }], else: 'exit_1' });
  expect(byId.send_2).toMatchObject({ channel: 'sms', next: 'exit_1' });
  expect(Object.keys(saved.definition.layout.nodes)).toEqual(expect.arrayContaining(['__trigger', 'send_1', 'exit_1']));

  // Publish.
  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByText('Published version 1.')).toBeVisible();
  await expect(page.getByTestId('journey-status')).toHaveText(/active/);

  // Two customers sign up: one with a phone (gets the SMS), one without.
  const withPhone = `e2e-${run}-a`;
  const noPhone = `e2e-${run}-b`;
  await ingest(request, creds.write_key, 'identify', {
    userId: withPhone,
    traits: { email: `${withPhone}@example.com`, phone: '+15555550123', first_name: 'Ada', e2e_run: run },
  });
  await ingest(request, creds.write_key, 'identify', {
    userId: noPhone,
    traits: { email: `${noPhone}@example.com`, first_name: 'Bob', e2e_run: run },
  });
  await ingest(request, creds.write_key, 'track', { userId: withPhone, event: signedUp, properties: { plan: 'pro' } });
  await ingest(request, creds.write_key, 'track', { userId: noPhone, event: signedUp, properties: { plan: 'free' } });

  // The counts on the canvas follow the runs.
  await expect(page.getByTestId('entered-send_1')).toHaveText('2', { timeout: 30_000 });
  await expect(page.getByTestId('entered-send_2')).toHaveText('1', { timeout: 30_000 });
  await expect(page.getByTestId('entered-exit_1')).toHaveText('2', { timeout: 30_000 });
  await expect(page.getByTestId('funnel-send_1')).toContainText('2 sent', { timeout: 15_000 });
  await screenshot(page, 'journey-live');

  // Runs, and one run's path with its Temporal link.
  await page.getByRole('button', { name: 'Runs', exact: true }).click();
  const runs = page.getByRole('region', { name: 'Runs' });
  await expect(runs).toContainText(withPhone); // customers by their user id, not cus_…
  await runs.getByRole('button', { name: /completed/ }).first().click();
  await expect(runs.getByRole('list').filter({ hasText: 'send_1' })).toContainText('exit_1');
  await expect(page.locator('.react-flow__node.on-path')).not.toHaveCount(0);

  // Pause and resume, each after a confirmation.
  await page.getByRole('button', { name: 'Pause' }).click();
  let confirm = page.getByRole('alertdialog', { name: 'Pause journey?' });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('journey-status')).toHaveText(/active/);
  await page.getByRole('button', { name: 'Pause' }).click();
  await confirm.getByRole('button', { name: 'Pause journey' }).click();
  await expect(page.getByTestId('journey-status')).toHaveText(/paused/);
  await page.getByRole('button', { name: 'Resume' }).click();
  confirm = page.getByRole('alertdialog', { name: 'Resume journey?' });
  await confirm.getByRole('button', { name: 'Resume journey' }).click();
  await expect(page.getByTestId('journey-status')).toHaveText(/active/);
  await expect(runs.getByRole('link', { name: /Open in Temporal UI/ })).toHaveAttribute('href', /\/namespaces\/.+\/workflows\//);

  // The customer: profile, journey, events and both messages.
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Customers' }).click();
  const search = page.getByRole('search', { name: 'Customers' });
  await search.getByLabel('Search customers').fill(withPhone);
  await search.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: withPhone }).click();
  await expect(page.getByRole('heading', { name: withPhone })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Profile' })).toContainText('+15555550123');
  await expect(page.getByRole('region', { name: 'Journeys' })).toContainText(journeyName);
  const messages = page.getByRole('region', { name: 'Messages' });
  await expect(messages).toContainText('Messages (2)');
  await expect(messages).toContainText('Welcome, Ada');
  await expect(messages.locator('.channel-badge')).toHaveText(['sms', 'email']);
  await expect(page.getByRole('region', { name: 'Events' })).toContainText(signedUp);
  await screenshot(page, 'customer');
  // The export is saved from the API's reply and then shows in History.
  const [exported] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
  expect(exported.suggestedFilename()).toMatch(/^customer-cus_.+\.json$/);
  expect(JSON.parse(await readFile(await exported.path(), 'utf8')).customer.phone).toBe('+15555550123');
  await expect(page.getByRole('region', { name: 'History' })).toContainText('Data exported');

  // A segment of this run's customers, with its live count and sample.
  await nav.getByRole('link', { name: 'Audiences' }).click();
  await page.getByRole('link', { name: 'New segment' }).click();
  const segName = `E2E customers ${run}`;
  await page.getByLabel('Segment name').fill(segName);
  const builder = page.getByRole('group', { name: 'Segment condition' });
  await builder.getByRole('button', { name: '+ Attribute' }).click();
  await builder.getByLabel('Attribute name').fill('e2e_run');
  await builder.getByLabel('Value').fill(run);
  await expect(page.getByTestId('segment-count')).toHaveText('2');
  await builder.getByRole('button', { name: '+ Attribute' }).click();
  await builder.getByLabel('Attribute name').nth(1).fill('phone');
  await builder.getByLabel('Operator').nth(1).selectOption('exists');
  await expect(page.getByTestId('segment-count')).toHaveText('1');
  await expect(page.getByRole('list', { name: 'Sample' })).toHaveText(withPhone);
  await screenshot(page, 'segment');
  await page.getByRole('button', { name: 'Create segment' }).click();
  await expect(page).toHaveURL(/\/audiences\/seg_/);
  await nav.getByRole('link', { name: 'Audiences' }).click();
  await expect(page.getByRole('link', { name: segName })).toBeVisible();

  // Erase the other customer, through the confirm dialog.
  await nav.getByRole('link', { name: 'Customers' }).click();
  await search.getByLabel('Search customers').fill(noPhone);
  await search.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: noPhone }).click();
  await page.getByRole('button', { name: 'Erase customer' }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Erase customer?' });
  await expect(dialog).toContainText(noPhone);
  await dialog.getByRole('button', { name: 'Erase customer' }).click();
  await expect(page).toHaveURL(/\/customers$/);
  await search.getByLabel('Search customers').fill(noPhone);
  await search.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByText(`No customers match “${noPhone}”`)).toBeVisible();

  // Templates: the email rendered for the sample customer, the SMS counted.
  await nav.getByRole('link', { name: 'Templates' }).click();
  await page.getByRole('link', { name: emailName }).click();
  await expect(page.getByTestId('rendered')).toContainText('Subject: Welcome, Sam');
  await expect(page.frameLocator('iframe[title="Rendered email"]').locator('p')).toHaveText('Hello Sam!');
  await nav.getByRole('link', { name: 'Templates' }).click();
  await page.getByRole('link', { name: smsName }).click();
  await expect(page.getByTestId('sms-count')).toContainText('1 segment');

  // Stop the journey: it becomes read-only.
  await nav.getByRole('link', { name: 'Journeys' }).click();
  await page.getByRole('link', { name: journeyName }).click();
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.getByRole('alertdialog', { name: 'Stop journey?' }).getByRole('button', { name: 'Stop journey' }).click();
  await expect(page.getByTestId('journey-status')).toHaveText(/stopped/);
  await expect(page.getByTestId('palette-send')).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Save draft' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Archive' }).click();
  await page.getByRole('alertdialog', { name: 'Archive journey?' }).getByRole('button', { name: 'Archive journey' }).click();
  await expect(page.getByTestId('journey-status')).toHaveText(/archived/);
});

test('copy and paste steps, then publish a second version after seeing what changed', async ({ page, request }) => {
  test.setTimeout(90_000);
  const creds = credentials();
  const run = runId();
  const templateId = await createTemplate(request, creds.secret_key, { name: `Copy email ${run}`, channel: 'email', subject: 'Hi', html: '<p>Hi</p>' });
  const journey = await callApi(
    request,
    creds.secret_key,
    'POST',
    '/api/journeys',
    {
      name: `Copy paste ${run}`,
      trigger: { type: 'api' },
      entry: { policy: 'every_time' },
      settings: {},
      start: 'send_1',
      nodes: [
        { id: 'send_1', type: 'send', channel: 'email', template_id: templateId, next: 'delay_1' },
        { id: 'delay_1', type: 'delay', duration: '2d', next: 'exit_1' },
        { id: 'exit_1', type: 'exit' },
      ],
    },
    201,
  );
  await callApi(request, creds.secret_key, 'POST', `/api/journeys/${journey.id}/publish`);

  await page.goto(`/journeys/${journey.id}`);
  await signIn(page, creds.email, creds.password);
  await expect(page.getByTestId('journey-status')).toHaveText(/v1/);

  // Two steps selected together, copied and pasted with the keyboard: new
  // ids, the link between them kept.
  await step(page, 'delay_1').click();
  await step(page, 'exit_1').click({ modifiers: ['Control'] });
  await page.keyboard.press('Control+c');
  await expect(page.getByText('Copied 2 steps.')).toBeVisible();
  await page.keyboard.press('Control+v');
  await expect(step(page, 'delay_2')).toBeVisible();
  await expect(step(page, 'exit_2')).toBeVisible();

  // With the buttons: one step, then undone.
  await step(page, 'send_1').click();
  await page.getByRole('button', { name: 'Copy', exact: true }).click();
  await expect(page.getByText('Copied 1 step.')).toBeVisible();
  await page.getByRole('button', { name: 'Paste', exact: true }).click();
  await expect(step(page, 'send_2')).toBeVisible();
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(step(page, 'send_2')).toHaveCount(0);

  // Route delay_1 to the copies and delete the old exit. The copies were
  // pasted 40 units right of and below their originals and lie on top of
  // them, over their centres at some zooms: click the originals' top-left
  // corners, which the copies never cover.
  await step(page, 'delay_1').click({ position: uncovered });
  await page.getByRole('region', { name: 'Step delay_1' }).getByLabel('Next step', { exact: true }).selectOption('delay_2');
  await step(page, 'exit_1').click({ position: uncovered });
  await page.keyboard.press('Delete');
  await expect(step(page, 'exit_1')).toHaveCount(0);
  await page.getByRole('button', { name: 'Save draft' }).click();
  await expect(page.getByText('Draft saved.')).toBeVisible();
  const saved = await callApi(request, creds.secret_key, 'GET', `/api/journeys/${journey.id}`);
  const byId = Object.fromEntries(saved.definition.nodes.map((n: { id: string }) => [n.id, n]));
  expect(Object.keys(byId).sort()).toEqual(['delay_1', 'delay_2', 'exit_2', 'send_1']);
  expect(byId.delay_1).toMatchObject({ next: 'delay_2' });
  expect(byId.delay_2).toMatchObject({ type: 'delay', duration: '2d', next: 'exit_2' });

  // Publishing over version 1 lists the changes first.
  await page.getByRole('button', { name: 'Publish new version' }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Publish over version 1?' });
  await expect(dialog).toBeVisible();
  const changes = dialog.getByRole('list', { name: 'Changes' });
  await expect(changes.getByRole('listitem')).toHaveText([
    'Step exit_1 removed (exit)',
    'Step delay_2 added (delay)',
    'Step exit_2 added (exit)',
    'Step delay_1: next: exit_1 → delay_2',
  ]);
  await screenshot(page, 'publish-diff');
  await dialog.getByRole('button', { name: 'Publish new version' }).click();
  await expect(page.getByText('Published version 2.')).toBeVisible();
  await expect(page.getByTestId('journey-status')).toHaveText(/v2/);
  const versions = await callApi(request, creds.secret_key, 'GET', `/api/journeys/${journey.id}/versions`);
  expect(versions.items.map((v: { version: number }) => v.version)).toEqual([2, 1]);
});
