import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { setCsrfToken, type ApiKey, type CreatedKey } from '../api.ts';
import { ApiKeys } from './ApiKeys.tsx';
import { json, mockFetch, noContent } from '../test/fetchMock.ts';
import { revokedSecretKey, writeKey } from '../test/fixtures.ts';

beforeEach(() => setCsrfToken('csrf-123'));

function rowFor(name: string): HTMLElement {
  const row = screen.getByRole('rowheader', { name }).closest('tr');
  if (!row) throw new Error(`no row for ${name}`);
  return row;
}

describe('ApiKeys', () => {
  it('lists keys with kind, prefix, dates and status', async () => {
    const { calls } = mockFetch({ 'GET /api/keys': () => json(200, { items: [writeKey, revokedSecretKey] }) });
    render(<ApiKeys />);

    expect(screen.getByRole('status').textContent).toMatch(/loading api keys/i);
    await screen.findByRole('table');

    const active = within(rowFor('Website'));
    expect(active.getByText('Write')).toBeTruthy();
    expect(active.getByText('hw_3fa9…')).toBeTruthy();
    expect(active.getByText('Never')).toBeTruthy();
    expect(active.getByText('Active')).toBeTruthy();
    expect(active.getByRole('button', { name: 'Revoke Website' })).toBeTruthy();
    expect(active.getByText((_, el) => el?.getAttribute('datetime') === writeKey.created_at)).toBeTruthy();

    const revoked = within(rowFor('Old billing service'));
    expect(revoked.getByText('Secret')).toBeTruthy();
    expect(revoked.getByText(/Revoked/)).toBeTruthy();
    expect(revoked.queryByRole('button')).toBeNull();
    expect(revoked.getByText((_, el) => el?.getAttribute('datetime') === revokedSecretKey.last_used_at)).toBeTruthy();

    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /api/keys']);
    expect(calls[0].headers['x-csrf-token']).toBeUndefined();
  });

  it('shows an empty state', async () => {
    mockFetch({ 'GET /api/keys': () => json(200, { items: [] }) });
    render(<ApiKeys />);
    expect(await screen.findByText('No API keys yet')).toBeTruthy();
    expect(screen.queryByRole('table')).toBeNull();
  });

  it('shows a load error and retries', async () => {
    let fail = true;
    mockFetch({
      'GET /api/keys': () => (fail ? json(500, { error: 'database unavailable' }) : json(200, { items: [writeKey] })),
    });
    render(<ApiKeys />);

    expect((await screen.findByRole('alert')).textContent).toContain('database unavailable');
    fail = false;
    await userEvent.setup().click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('rowheader', { name: 'Website' })).toBeTruthy();
  });

  it('creates a key and shows the full key once, with a copy button', async () => {
    const created: CreatedKey = {
      id: 'key_9',
      kind: 'secret',
      name: 'Billing',
      prefix: 'hs_9a0b',
      key: 'hs_9a0b_S3cr3tV4lu3ThatIsLong',
      created_at: '2026-02-01T10:00:00Z',
    };
    let items: ApiKey[] = [];
    const { calls } = mockFetch({
      'GET /api/keys': () => json(200, { items }),
      'POST /api/keys': () => {
        const { key: _key, ...listed } = created;
        items = [{ ...listed, last_used_at: null, revoked_at: null }];
        return json(201, created);
      },
    });
    const user = userEvent.setup();
    render(<ApiKeys />);
    await screen.findByText('No API keys yet');

    await user.selectOptions(screen.getByLabelText('Kind'), 'secret');
    await user.type(screen.getByLabelText('Name'), 'Billing');
    await user.click(screen.getByRole('button', { name: 'Create key' }));

    const panel = await screen.findByRole('region', { name: /new secret key/i });
    expect(within(panel).getByText(created.key)).toBeTruthy();
    expect(panel.textContent).toMatch(/will not be shown again/i);

    const post = calls.find((c) => c.method === 'POST');
    expect(post?.path).toBe('/api/keys');
    expect(post?.body).toEqual({ kind: 'secret', name: 'Billing' });
    expect(post?.headers['x-csrf-token']).toBe('csrf-123');
    expect(post?.headers['content-type']).toBe('application/json');
    expect(post?.credentials).toBe('same-origin');

    // The list is refreshed and shows the key's prefix, never the key itself.
    expect(await screen.findByRole('rowheader', { name: 'Billing' })).toBeTruthy();
    expect(within(screen.getByRole('table')).queryByText(created.key)).toBeNull();

    await user.click(within(panel).getByRole('button', { name: 'Copy' }));
    expect(await navigator.clipboard.readText()).toBe(created.key);
    expect(within(panel).getByRole('button', { name: 'Copied' })).toBeTruthy();

    await user.click(within(panel).getByRole('button', { name: /done/i }));
    expect(screen.queryByRole('region', { name: /new secret key/i })).toBeNull();
    expect(document.body.textContent).not.toContain(created.key);
    expect(document.activeElement).toBe(screen.getByLabelText('Name'));
  });

  it('requires a name before creating', async () => {
    const { calls } = mockFetch({ 'GET /api/keys': () => json(200, { items: [] }) });
    const user = userEvent.setup();
    render(<ApiKeys />);
    await screen.findByText('No API keys yet');

    await user.click(screen.getByRole('button', { name: 'Create key' }));

    expect((await screen.findByRole('alert')).textContent).toMatch(/give the key a name/i);
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0);
  });

  it('shows a create error from the server', async () => {
    mockFetch({
      'GET /api/keys': () => json(200, { items: [] }),
      'POST /api/keys': () => json(403, { error: 'viewers cannot create keys' }),
    });
    const user = userEvent.setup();
    render(<ApiKeys />);
    await screen.findByText('No API keys yet');

    await user.type(screen.getByLabelText('Name'), 'Website');
    await user.click(screen.getByRole('button', { name: 'Create key' }));

    expect((await screen.findByRole('alert')).textContent).toBe('viewers cannot create keys');
    expect(screen.queryByRole('region', { name: /new .* key/i })).toBeNull();
  });

  it('revokes a key only after the confirm dialog', async () => {
    let items: ApiKey[] = [writeKey];
    const { calls } = mockFetch({
      'GET /api/keys': () => json(200, { items }),
      'DELETE /api/keys/key_1': () => {
        items = [{ ...writeKey, revoked_at: '2026-02-02T00:00:00Z' }];
        return noContent();
      },
    });
    const user = userEvent.setup();
    render(<ApiKeys />);
    await screen.findByRole('table');
    const deletes = () => calls.filter((c) => c.method === 'DELETE');

    // Cancel closes the dialog without calling the API.
    await user.click(screen.getByRole('button', { name: 'Revoke Website' }));
    let dialog = screen.getByRole('alertdialog', { name: 'Revoke API key?' });
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Cancel' }));
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(deletes()).toHaveLength(0);

    // Escape cancels too.
    await user.click(screen.getByRole('button', { name: 'Revoke Website' }));
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(deletes()).toHaveLength(0);

    await user.click(screen.getByRole('button', { name: 'Revoke Website' }));
    dialog = screen.getByRole('alertdialog', { name: 'Revoke API key?' });
    expect(dialog.textContent).toContain('Website');
    await user.click(within(dialog).getByRole('button', { name: 'Revoke key' }));

    await vi.waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    expect(deletes()).toHaveLength(1);
    expect(deletes()[0].path).toBe('/api/keys/key_1');
    expect(deletes()[0].headers['x-csrf-token']).toBe('csrf-123');
    expect(deletes()[0].headers['content-type']).toBe('application/json');
    await vi.waitFor(() => expect(within(rowFor('Website')).getByText(/Revoked/)).toBeTruthy());
    expect(screen.queryByRole('button', { name: 'Revoke Website' })).toBeNull();
  });

  it('keeps the dialog open with the error when revoking fails', async () => {
    mockFetch({
      'GET /api/keys': () => json(200, { items: [writeKey] }),
      'DELETE /api/keys/key_1': () => json(404, { error: 'key not found' }),
    });
    const user = userEvent.setup();
    render(<ApiKeys />);
    await user.click(await screen.findByRole('button', { name: 'Revoke Website' }));
    const dialog = screen.getByRole('alertdialog');
    await user.click(within(dialog).getByRole('button', { name: 'Revoke key' }));

    expect((await within(dialog).findByRole('alert')).textContent).toBe('key not found');
    expect(screen.getByRole('alertdialog')).toBe(dialog);
  });
});
