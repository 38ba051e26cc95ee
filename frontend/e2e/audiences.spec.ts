// Audiences end to end, in headless Chromium against a running Herald: a
// manual segment created in the app, a CSV file of customers uploaded into
// it (preview, suggested mapping, an attribute renamed), the
// import's progress bar reaching 100 %, the members listed, an id added by
// hand (an unknown one reported) and a member removed; then a journey
// triggered by the segment with its existing members, whose enrollment
// progress shows on the canvas.
//
// Environment: HERALD_URL and HERALD_CREDENTIALS, see e2e/helpers.ts.
import { readFile } from 'node:fs/promises';
import { expect, test } from '@playwright/test';
import { callApi, credentials, runId, screenshot, signIn } from './helpers';

test('import a CSV file into a new manual segment', async ({ page, request }) => {
  test.setTimeout(90_000);
  const creds = credentials();
  const run = runId();
  const users = [`csv-a-${run}`, `csv-b-${run}`, `csv-c-${run}`];
  const csv = ['user_id,email,plan,seats', ...users.map((u, i) => `${u},${u}@example.com,pro,${i + 1}`)].join('\n') + '\n';

  await page.goto('/audiences');
  await signIn(page, creds.email, creds.password);
  await page.getByRole('button', { name: 'New manual segment' }).click();
  const segmentName = `Beta testers ${run}`;
  await page.getByLabel('Manual segment name').fill(segmentName);
  await page.getByRole('button', { name: 'Create manual segment' }).click();
  await expect(page.getByRole('heading', { name: segmentName })).toBeVisible();
  const members = page.getByRole('region', { name: 'Members' });
  await expect(members.getByText('No members yet')).toBeVisible();

  // Upload: the first rows and the suggested mapping.
  await page.getByLabel('CSV file').setInputFiles({ name: `people-${run}.csv`, mimeType: 'text/csv', buffer: Buffer.from(csv) });
  const preview = page.getByRole('table', { name: 'Preview' });
  await expect(preview.getByRole('cell', { name: `${users[0]}@example.com` })).toBeVisible();
  await expect(page.getByLabel('User ID column')).toHaveValue('user_id');
  await expect(page.getByLabel('Email column')).toHaveValue('email');
  // Attributes: seats is guessed to be a number; plan is renamed.
  await expect(page.getByLabel('Attribute 1 column')).toHaveValue('plan');
  await expect(page.getByLabel('Attribute 2 column')).toHaveValue('seats');
  await expect(page.getByLabel('Attribute 2 type')).toHaveValue('number');
  await page.getByLabel('Attribute 1 name').fill('tier');
  await screenshot(page, 'import-mapping');
  await page.getByRole('button', { name: 'Start import' }).click();

  // Progress to 100 %, then the members.
  const bar = page.getByRole('progressbar', { name: 'Import progress' });
  await expect(bar).toHaveAttribute('aria-valuenow', '100', { timeout: 60_000 });
  await expect(page.getByTestId('import-progress-text')).toContainText('3 of 3 rows (100%) · 3 created · 0 updated · 0 failed');
  for (const u of users) await expect(members.getByRole('rowheader', { name: u })).toBeVisible();
  await screenshot(page, 'import-done', true);

  // The attribute arrived typed.
  const seg = page.url().split('/').pop() as string;
  const listed = await callApi(request, creds.secret_key, 'GET', `/api/segments/${seg}/members`);
  const c = (listed.items as { external_id: string; attributes: Record<string, unknown> }[]).find((m) => m.external_id === users[2]);
  expect(c?.attributes).toMatchObject({ tier: 'pro', seats: 3 });

  // Add by hand: an unknown id is reported; remove one member.
  await page.getByLabel('Customer or user IDs').fill(`${users[0]}\nnobody-${run}`);
  await page.getByRole('button', { name: 'Add members' }).click();
  await expect(page.getByTestId('unknown-ids')).toHaveText(`No customer has the ID nobody-${run}.`);
  await expect(page.getByText('Added 0; 1 already members.')).toBeVisible();
  await members.getByRole('button', { name: `Remove ${users[1]}` }).click();
  await expect(page.getByText('Removed 1; 0 were not members.')).toBeVisible();
  await expect(members.getByRole('rowheader', { name: users[1] })).toHaveCount(0);
  await expect(members.getByRole('rowheader')).toHaveCount(2);

  // A journey triggered by the segment, with its existing members: the
  // enrollment's progress on the canvas.
  const journey = await callApi(
    request,
    creds.secret_key,
    'POST',
    '/api/journeys',
    {
      name: `Beta welcome ${run}`,
      trigger: { type: 'segment', segment_id: seg, include_existing: true },
      entry: { policy: 'once' },
      settings: {},
      start: 'exit_1',
      nodes: [{ id: 'exit_1', type: 'exit' }],
    },
    201,
  );
  await callApi(request, creds.secret_key, 'POST', `/api/journeys/${journey.id}/publish`);
  await page.goto(`/journeys/${journey.id}`);
  const enrollment = page.getByRole('region', { name: 'Enrollment of existing members' });
  await expect(enrollment.getByRole('progressbar', { name: 'Enrollment progress' })).toHaveAttribute('aria-valuenow', '100', { timeout: 30_000 });
  await expect(enrollment.getByTestId('enrollment')).toContainText('2 entered · 0 skipped of 2 (100%)');
  await expect(enrollment.getByRole('button', { name: 'Cancel enrollment' })).toHaveCount(0);
});

test('past imports list, and the failed rows download as a CSV file to correct', async ({ page }) => {
  test.setTimeout(90_000);
  const creds = credentials();
  const run = runId();
  const file = `seats-${run}.csv`;
  const csv = `user_id,email,seats\nok-${run},ok-${run}@example.com,3\nbad-${run},bad-${run}@example.com,lots\n`;

  await page.goto('/audiences/import');
  await signIn(page, creds.email, creds.password);
  await page.getByLabel('CSV file').setInputFiles({ name: file, mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await expect(page.getByLabel('Attribute 1 column')).toHaveValue('seats');
  await page.getByLabel('Attribute 1 type').selectOption('number');
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page.getByRole('progressbar', { name: 'Import progress' })).toHaveAttribute('aria-valuenow', '100', { timeout: 60_000 });
  await expect(page.getByTestId('import-progress-text')).toContainText('2 of 2 rows (100%) · 1 created · 0 updated · 1 failed');

  // The past imports list shows it once it ended, with its failed rows.
  const past = page.getByRole('table', { name: 'Past imports' });
  const row = past.getByRole('row').filter({ hasText: file });
  await expect(row.getByText('1 · 0 · 1')).toBeVisible();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download failed rows (CSV)' }).click()]);
  expect(download.suggestedFilename()).toBe(`seats-${run}-failed-rows.csv`);
  const body = await readFile(await download.path(), 'utf8');
  expect(body).toBe(`\uFEFFimport_row,import_column,import_error,user_id,email,seats\n3,seats,"""lots"" is not a number",bad-${run},bad-${run}@example.com,lots\n`);

  // After a reload the list still leads to the run's row errors.
  await page.reload();
  await page.getByRole('button', { name: `Show import ${file}` }).first().click();
  await expect(page.getByRole('table', { name: 'Row errors' }).getByText('"lots" is not a number')).toBeVisible();
});

test('an ended import runs again with another mapping, and an upload never started starts from the list', async ({ page, request }) => {
  test.setTimeout(90_000);
  const creds = credentials();
  const run = runId();
  const file = `again-${run}.csv`;
  const csv = `user_id,email,seats\nok-${run},ok-${run}@example.com,3\nbad-${run},bad-${run}@example.com,lots\n`;

  await page.goto('/audiences/import');
  await signIn(page, creds.email, creds.password);
  await page.getByLabel('CSV file').setInputFiles({ name: file, mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByLabel('Attribute 1 type').selectOption('number');
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page.getByTestId('import-progress-text')).toContainText('2 of 2 rows (100%) · 1 created · 0 updated · 1 failed', { timeout: 60_000 });

  // Run again: the stored mapping and the file's first rows come back; seats as text this time.
  await page.getByRole('button', { name: `Run ${file} again` }).click();
  await expect(page.getByRole('table', { name: 'Preview' }).getByRole('cell', { name: 'lots' })).toBeVisible();
  await expect(page.getByLabel('User ID column')).toHaveValue('user_id');
  await expect(page.getByLabel('Attribute 1 column')).toHaveValue('seats');
  await expect(page.getByLabel('Attribute 1 type')).toHaveValue('number');
  await page.getByLabel('Attribute 1 type').selectOption('string');
  // Only new customers this time: ok- exists since the first run and is skipped.
  await expect(page.getByLabel('Rows to import')).toHaveValue('upsert');
  await page.getByLabel('Rows to import').selectOption('create_only');
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page.getByTestId('import-progress-text')).toContainText(
    '2 of 2 rows (100%) · 1 created · 0 updated · 0 failed · 1 skipped (customers who already existed)',
    { timeout: 60_000 },
  );

  // An upload made over the API and never started: Start opens its suggested mapping.
  const fresh = `fresh-${run}.csv`;
  const up = await request.post('/api/imports', {
    headers: { Authorization: `Bearer ${creds.secret_key}` },
    multipart: { file: { name: fresh, mimeType: 'text/csv', buffer: Buffer.from(`email,plan\nfresh-${run}@example.com,gold\n`) } },
  });
  expect(up.status()).toBe(201);
  await page.reload();
  const row = page.getByRole('table', { name: 'Past imports' }).getByRole('row').filter({ hasText: fresh });
  await expect(row).toContainText('not started');
  await row.getByRole('button', { name: `Start ${fresh}` }).click();
  await expect(page.getByLabel('Email column')).toHaveValue('email');
  await expect(page.getByLabel('Attribute 1 column')).toHaveValue('plan');
  // An attribute row with a column but no name is marked and blocks the start.
  await page.getByLabel('Attribute 1 name').fill('');
  await expect(page.getByLabel('Attribute 1 name')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('attribute-1-problem')).toHaveText('Name the attribute that column plan is stored as, or remove the row.');
  await expect(page.getByRole('button', { name: 'Start import' })).toBeDisabled();
  await page.getByLabel('Attribute 1 name').fill('tier');
  await page.getByRole('button', { name: 'Start import' }).click();
  await expect(page.getByTestId('import-progress-text')).toContainText('1 of 1 row (100%) · 1 created · 0 updated · 0 failed', { timeout: 60_000 });
  await expect.poll(async () => (await callApi(request, creds.secret_key, 'GET', `/api/customers?q=fresh-${run}%40example.com`)).items?.[0]?.attributes?.tier).toBe('gold');
});
