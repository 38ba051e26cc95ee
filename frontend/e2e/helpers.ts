// Shared pieces of the end-to-end specs: the seeded credentials, screenshots
// for the docs, signing in, and calls to the API with the seeded keys.
//
// Environment:
//   HERALD_URL          base URL of the server, e.g. http://127.0.0.1:8080
//   HERALD_CREDENTIALS  path to the JSON file of seeded credentials
//                       {"workspace_id","email","password","write_key",
//                        "secret_key","api_url","temporal_ui_url"}
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';

/** The seeded workspace's owner and keys, as `herald dev` writes them. */
export interface Credentials {
  workspace_id: string;
  email: string;
  password: string;
  write_key: string;
  secret_key: string;
  api_url: string;
  temporal_ui_url: string;
}

/** Reads the seeded credentials; fails the test when the environment is not set. */
export function credentials(): Credentials {
  const file = process.env.HERALD_CREDENTIALS;
  if (!process.env.HERALD_URL || !file) {
    throw new Error('set HERALD_URL and HERALD_CREDENTIALS (see e2e/helpers.ts)');
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Credentials;
}

/** Saves a screenshot of the page as e2e/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string, fullPage = false) {
  const file = path.join(test.info().project.testDir, 'screenshots', `${name}.png`);
  await page.screenshot({ path: file, fullPage, animations: 'disabled', caret: 'hide' });
}

/** Fills the sign-in form and submits it; it does not wait for the outcome. */
export async function submitSignIn(page: Page, email: string, password: string) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in and waits for the app frame. */
export async function signIn(page: Page, email: string, password: string) {
  await submitSignIn(page, email, password);
  await expect(page.getByRole('banner')).toBeVisible();
}

/** A call to the management API with the secret key; returns the JSON answer. */
export async function callApi(request: APIRequestContext, secret: string, method: string, url: string, data?: object, want = 200) {
  const res = await request.fetch(url, { method, headers: { Authorization: `Bearer ${secret}` }, data });
  expect(res.status(), `${method} ${url}: ${await res.text()}`).toBe(want);
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

/** Sends a Segment-style call with the write key as the Basic auth username. */
export async function ingest(request: APIRequestContext, writeKey: string, type: string, body: object) {
  const auth = Buffer.from(`${writeKey}:`).toString('base64');
  const res = await request.post(`/v1/${type}`, { headers: { Authorization: `Basic ${auth}` }, data: body });
  expect(res.status(), await res.text()).toBe(200);
}

/** A short unique suffix for names made by one test run. */
export const runId = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

/** A customer's profile as GET /api/customers/{id} answers it (the parts the specs read). */
export interface CustomerProfile {
  external_id: string;
  email: string;
  anonymous_ids: string[];
  attributes: Record<string, unknown>;
  events: { name: string; message_id: string; properties: Record<string, unknown> }[];
}

/** Waits until the customer (by id or user id) has `events` events, and returns the profile. */
export async function profileWithEvents(request: APIRequestContext, secret: string, id: string, events: number) {
  let profile: CustomerProfile | undefined;
  await expect
    .poll(async () => {
      const res = await request.get(`/api/customers/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${secret}` } });
      profile = res.ok() ? ((await res.json()) as CustomerProfile) : undefined;
      return profile?.events?.length ?? 0;
    }, { timeout: 20_000 })
    .toBe(events);
  return profile!;
}
