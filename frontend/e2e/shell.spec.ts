// The app shell end to end, in headless Chromium against a running Herald:
// sign in, the app frame, Settings → API keys (create a key, see it once,
// revoke it), log out, and a wrong password.
//
// Environment:
//   HERALD_URL          base URL of the server, e.g. http://127.0.0.1:8080
//   HERALD_CREDENTIALS  path to the JSON file of seeded credentials
//                       {"workspace_id","email","password","write_key",
//                        "secret_key","api_url","temporal_ui_url"}
import { expect, test } from '@playwright/test';
import { credentials, screenshot, signIn, submitSignIn } from './helpers';

test('a wrong password shows an error and does not sign in', async ({ page }) => {
  const creds = credentials();
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sign in to Herald' })).toBeVisible();

  await submitSignIn(page, creds.email, `${creds.password}-wrong`);

  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible();
  await expect(alert).toHaveText(/\S/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  await expect(page.getByRole('banner')).toHaveCount(0);
  expect((await page.request.get('/api/me')).status()).toBe(401);
});

test('sign in, manage an API key, log out', async ({ page }) => {
  const creds = credentials();

  // Login screen.
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sign in to Herald' })).toBeVisible();
  await screenshot(page, 'login');
  await signIn(page, creds.email, creds.password);

  // App frame: workspace, user, Temporal UI link, navigation, empty state.
  const banner = page.getByRole('banner');
  await expect(banner).toBeVisible();
  const meRes = await page.request.get('/api/me');
  expect(meRes.status()).toBe(200);
  const me = (await meRes.json()) as { workspace: { id: string; name: string }; temporal_ui_url: string };
  expect(me.workspace.id).toBe(creds.workspace_id);
  expect(me.temporal_ui_url).toBe(creds.temporal_ui_url);
  await expect(banner).toContainText(me.workspace.name);
  await expect(banner).toContainText(creds.email);
  const temporal = banner.getByRole('link', { name: /Temporal UI/ });
  await expect(temporal).toHaveAttribute('href', me.temporal_ui_url);
  await expect(temporal).toHaveAttribute('target', '_blank');
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const item of ['Journeys', 'Audiences', 'Templates', 'Customers', 'Settings']) {
    await expect(nav.getByRole('link', { name: item })).toBeVisible();
  }
  await expect(page).toHaveURL(/\/journeys$/);
  // Journeys: the empty state on a fresh server, else the list (other
  // specs may have created journeys first).
  await expect(page.getByRole('heading', { name: 'Journeys', level: 1 })).toBeVisible();
  await expect(page.getByText('Loading journeys…')).toHaveCount(0);
  await expect(page.getByText('No journeys yet').or(page.getByRole('button', { name: 'New journey' })).first()).toBeVisible();
  await screenshot(page, 'app-frame');

  // Settings → API keys.
  await nav.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'API keys' })).toBeVisible();
  await expect(page.getByText('Loading API keys…')).toHaveCount(0);

  // Create a write key: the full key is shown once.
  const name = `e2e key ${Date.now().toString(36)}`;
  const form = page.getByRole('form', { name: 'Create API key' });
  await form.getByLabel('Kind').selectOption('write');
  await form.getByLabel('Name').fill(name);
  await form.getByRole('button', { name: 'Create key' }).click();

  const panel = page.getByRole('region', { name: /New write key/ });
  await expect(panel).toBeVisible();
  await expect(panel).toContainText('will not be shown again');
  const key = (await panel.getByTestId('new-key-value').textContent())?.trim() ?? '';
  expect(key.length).toBeGreaterThan(8);
  const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name }) });
  await expect(row).toContainText('Write');
  await expect(row).toContainText('Active');
  await expect(page.getByRole('table')).not.toContainText(key);
  await screenshot(page, 'api-keys', true);

  await panel.getByRole('button', { name: /Done/ }).click();
  await expect(panel).toHaveCount(0);
  expect(await page.locator('body').innerHTML()).not.toContain(key);
  await page.reload();
  await expect(row).toBeVisible();
  expect(await page.locator('body').innerHTML()).not.toContain(key);

  // Revoke it, through the confirm dialog.
  await row.getByRole('button', { name: `Revoke ${name}` }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Revoke API key?' });
  await expect(dialog).toContainText(name);
  await dialog.getByRole('button', { name: 'Revoke key' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(row).toContainText('Revoked');
  await expect(row.getByRole('button', { name: `Revoke ${name}` })).toHaveCount(0);

  // Log out.
  await banner.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Herald' })).toBeVisible();
  expect((await page.request.get('/api/me')).status()).toBe(401);
});
