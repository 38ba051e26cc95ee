import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from './App.tsx';
import { json, mockFetch, noContent } from './test/fetchMock.ts';
import { session, writeKey } from './test/fixtures.ts';

describe('App', () => {
  it('shows Login when /api/me answers 401, then the app frame after sign-in', async () => {
    mockFetch({
      'GET /api/me': () => json(401, { error: 'not logged in' }),
      'POST /api/login': () => json(200, session),
      'GET /api/journeys': () => json(200, { items: [] }),
    });
    const user = userEvent.setup();
    render(<App />);

    await user.type(await screen.findByLabelText('Email'), 'ada@example.com');
    await user.type(screen.getByLabelText('Password'), 'pw');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));

    const banner = await screen.findByRole('banner');
    expect(banner.textContent).toContain('Acme Retail');
    expect(window.location.pathname).toBe('/journeys');
    expect(await screen.findByText('No journeys yet')).toBeTruthy();
  });

  it('shows the frame with workspace, user, Temporal UI link and navigation', async () => {
    const { calls } = mockFetch({
      'GET /api/me': () => json(200, session),
      'GET /api/keys': () => json(200, { items: [writeKey] }),
      'GET /api/journeys': () => json(200, { items: [] }),
      'GET /api/segments': () => json(200, { items: [] }),
      'GET /api/templates': () => json(200, { items: [] }),
      'GET /api/customers': () => json(200, { items: [] }),
      'POST /api/logout': () => noContent(),
    });
    const user = userEvent.setup();
    render(<App />);

    const banner = await screen.findByRole('banner');
    expect(within(banner).getByText('Acme Retail')).toBeTruthy();
    expect(within(banner).getByText('ada@example.com')).toBeTruthy();
    const temporal = within(banner).getByRole('link', { name: /temporal ui/i });
    expect(temporal.getAttribute('href')).toBe('http://127.0.0.1:8233');
    expect(temporal.getAttribute('target')).toBe('_blank');
    expect(temporal.getAttribute('rel')).toContain('noopener');

    const nav = screen.getByRole('navigation', { name: 'Main' });
    const labels = within(nav).getAllByRole('link').map((a) => a.textContent);
    expect(labels).toEqual(['Journeys', 'Audiences', 'Templates', 'Customers', 'Settings']);

    for (const [label, empty] of [
      ['Audiences', 'No audiences yet'],
      ['Templates', 'No templates yet'],
      ['Customers', 'No customers yet'],
      ['Journeys', 'No journeys yet'],
    ]) {
      await user.click(within(nav).getByRole('link', { name: label }));
      expect(screen.getByRole('heading', { level: 1 }).textContent).toBe(label);
      expect(await screen.findByText(empty)).toBeTruthy();
      expect(within(nav).getByRole('link', { name: label }).getAttribute('aria-current')).toBe('page');
      expect(document.activeElement).toBe(screen.getByRole('heading', { level: 1 }));
    }

    await user.click(within(nav).getByRole('link', { name: 'Settings' }));
    expect(window.location.pathname).toBe('/settings');
    expect(await screen.findByRole('rowheader', { name: 'Website' })).toBeTruthy();

    await user.click(within(banner).getByRole('button', { name: 'Log out' }));
    expect(await screen.findByRole('button', { name: 'Sign in' })).toBeTruthy();
    const logout = calls.find((c) => c.path === '/api/logout');
    expect(logout?.method).toBe('POST');
    expect(logout?.headers['x-csrf-token']).toBe('csrf-123');
  });

  it('does not offer a viewer Erase customer or Import, and says why', async () => {
    const viewer = { ...session, role: 'viewer' as const };
    const customer = { id: 'cus_1', external_id: 'ada', anonymous_ids: [], email: null, phone: null, timezone: null, attributes: {}, created_at: '2026-01-01T10:00:00Z', updated_at: '' };
    const fresh = { id: 'imp_3', file_name: 'old.csv', file_size: 10, headers: ['email'], mapping: null, segment_id: null, mode: 'upsert', separator: ',', run: 0, total_rows: 1, processed_rows: 0, created_rows: 0, updated_rows: 0, failed_rows: 0, skipped_rows: 0, error: '', percent: 0, created_at: '2026-01-01T10:00:00Z', started_at: null, finished_at: null, status: 'uploaded' };
    const routes = (role: typeof viewer) => ({
      'GET /api/me': () => json(200, role),
      'GET /api/customers/cus_1': () => json(200, { ...customer, events: [], events_total: 0, events_next_cursor: '', runs: [], deliveries: [], audit: [] }),
      'GET /api/templates': () => json(200, { items: [] }),
      'GET /api/segments': () => json(200, { items: [{ id: 'seg_1', name: 'VIP', kind: 'manual', condition: null, created_at: '', updated_at: '' }] }),
      'GET /api/imports': () => json(200, { items: [fresh] }),
    });

    window.history.replaceState(null, '', '/customers/cus_1');
    mockFetch(routes(viewer));
    const { unmount } = render(<App />);
    expect(await screen.findByRole('heading', { name: 'ada' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Erase customer' })).toBeNull();
    expect(screen.getByText('Erasing a customer needs the editor role.')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Export JSON' })).toBeTruthy();
    unmount();

    window.history.replaceState(null, '', '/audiences');
    mockFetch(routes(viewer));
    const audiences = render(<App />);
    expect(await screen.findByText('VIP')).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'Import CSV' })).toBeNull();
    expect(screen.getByText('Importing customers needs the editor role.')).toBeTruthy();
    audiences.unmount();

    window.history.replaceState(null, '', '/audiences/import');
    mockFetch(routes(viewer));
    const imports = render(<App />);
    expect(await screen.findByRole('table', { name: 'Past imports' })).toBeTruthy();
    expect((screen.getByLabelText('CSV file') as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByRole('note').textContent).toBe('Importing customers needs the editor role; ask a workspace owner.');
    expect(screen.queryByRole('button', { name: 'Start old.csv' })).toBeNull();
    imports.unmount();

    // An editor gets them.
    window.history.replaceState(null, '', '/audiences/import');
    mockFetch(routes({ ...session, role: 'editor' } as unknown as typeof viewer));
    render(<App />);
    expect(await screen.findByRole('button', { name: 'Start old.csv' })).toBeTruthy();
    expect((screen.getByLabelText('CSV file') as HTMLInputElement).disabled).toBe(false);
    expect(screen.queryByRole('note')).toBeNull();
  });

  it('does not offer a viewer new segments, segment changes or member changes, and says why', async () => {
    const viewer = { ...session, role: 'viewer' as const };
    const ada = { id: 'cus_1', external_id: 'ada', anonymous_ids: [], email: null, phone: null, timezone: null, attributes: {}, created_at: '2026-01-01T10:00:00Z', updated_at: '' };
    const manual = { id: 'seg_1', name: 'VIP', kind: 'manual', condition: null, created_at: '', updated_at: '' };
    const dynamic = { id: 'seg_2', name: 'Pro', kind: 'dynamic', condition: { all: [] }, created_at: '', updated_at: '' };
    const routes = (role: typeof viewer) => ({
      'GET /api/me': () => json(200, role),
      'GET /api/segments': () => json(200, { items: [manual, dynamic] }),
      'GET /api/segments/seg_1': () => json(200, manual),
      'GET /api/segments/seg_2': () => json(200, dynamic),
      'GET /api/segments/seg_1/members': () => json(200, { items: [ada] }),
      'POST /api/segments/preview': () => json(200, { count: 0, sample: [] }),
    });

    window.history.replaceState(null, '', '/audiences');
    mockFetch(routes(viewer));
    const list = render(<App />);
    expect(await screen.findByText('VIP')).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'New segment' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'New manual segment' })).toBeNull();
    expect(screen.getByText('Creating segments needs the editor role.')).toBeTruthy();
    list.unmount();

    window.history.replaceState(null, '', '/audiences/seg_1');
    mockFetch(routes(viewer));
    const members = render(<App />);
    expect(await screen.findByRole('link', { name: 'ada' })).toBeTruthy();
    expect(screen.queryByRole('form', { name: 'Change members' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Add members' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Remove ada' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Delete' })).toBeNull();
    expect(screen.getAllByRole('note').map((n) => n.textContent)).toContain('Adding and removing members needs the editor role; ask a workspace owner.');
    members.unmount();

    window.history.replaceState(null, '', '/audiences/seg_2');
    mockFetch(routes(viewer));
    const editor = render(<App />);
    expect(await screen.findByRole('heading', { name: 'Pro' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Save segment' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Delete' })).toBeNull();
    expect(screen.getByText('Changing segments needs the editor role.')).toBeTruthy();
    editor.unmount();

    // An editor gets them.
    window.history.replaceState(null, '', '/audiences/seg_1');
    mockFetch(routes({ ...session, role: 'editor' } as unknown as typeof viewer));
    render(<App />);
    expect(await screen.findByRole('button', { name: 'Remove ada' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Add members' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Delete' })).toBeTruthy();
    expect(screen.queryByRole('note')).toBeNull();
  });

  it('opens a deep link to the API keys page', async () => {
    window.history.replaceState(null, '', '/settings/api-keys');
    mockFetch({
      'GET /api/me': () => json(200, session),
      'GET /api/keys': () => json(200, { items: [] }),
    });
    render(<App />);
    expect(await screen.findByRole('heading', { name: 'API keys' })).toBeTruthy();
    expect(await screen.findByText('No API keys yet')).toBeTruthy();
  });

  it('moves between the settings sections with the settings tabs', async () => {
    window.history.replaceState(null, '', '/settings/channels');
    mockFetch({
      'GET /api/me': () => json(200, session),
      'GET /api/channels': () => json(200, { email: { provider: 'outbox' }, sms: { provider: 'outbox' }, webhook: { allow_hosts: [] } }),
      'GET /api/workspace': () => json(200, { id: 'ws_1', name: 'Acme Retail', timezone: 'UTC', quiet_hours: null, created_at: '' }),
      'GET /api/members': () => json(200, { items: [{ user_id: 'u_1', email: 'ada@example.com', role: 'owner', created_at: '' }] }),
    });
    const user = userEvent.setup();
    render(<App />);
    const tabs = await screen.findByRole('navigation', { name: 'Settings' });
    expect(within(tabs).getAllByRole('link').map((a) => a.textContent)).toEqual(['API keys', 'Channels', 'Workspace', 'Team']);
    expect(await screen.findByRole('form', { name: 'Email settings' })).toBeTruthy();
    expect(within(tabs).getByRole('link', { name: 'Channels' }).getAttribute('aria-current')).toBe('page');

    await user.click(within(tabs).getByRole('link', { name: 'Workspace' }));
    expect(window.location.pathname).toBe('/settings/workspace');
    expect(((await screen.findByLabelText('Time zone')) as HTMLInputElement).value).toBe('UTC');

    await user.click(within(tabs).getByRole('link', { name: 'Team' }));
    expect(await screen.findByRole('rowheader', { name: /ada@example.com/ })).toBeTruthy();
  });

  it('returns to Login with a notice when the session expires', async () => {
    mockFetch({
      'GET /api/me': () => json(200, session),
      'GET /api/keys': () => json(401, { error: 'not logged in' }),
    });
    window.history.replaceState(null, '', '/settings');
    render(<App />);

    expect(await screen.findByRole('button', { name: 'Sign in' })).toBeTruthy();
    expect(screen.getByRole('status').textContent).toMatch(/session has ended/i);
  });

  it('offers a retry when the server cannot be reached', async () => {
    let up = false;
    mockFetch({ 'GET /api/me': () => (up ? json(401, { error: 'not logged in' }) : json(502, { error: 'bad gateway' })) });
    render(<App />);

    expect((await screen.findByRole('alert')).textContent).toBe('bad gateway');
    up = true;
    await userEvent.setup().click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByLabelText('Email')).toBeTruthy();
  });
});
