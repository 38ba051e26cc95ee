import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it } from 'vitest';
import { setCsrfToken, type Member } from '../api.ts';
import { TeamSettings } from './TeamSettings.tsx';
import { json, mockFetch, noContent } from '../test/fetchMock.ts';
import { session } from '../test/fixtures.ts';

beforeEach(() => setCsrfToken('csrf-123'));

const ada: Member = { user_id: 'u_1', email: 'ada@example.com', role: 'owner', created_at: '2026-01-10T09:30:00Z' };
const bob: Member = { user_id: 'u_2', email: 'bob@example.com', role: 'editor', created_at: '2026-02-01T10:00:00Z' };

function rowFor(email: string): HTMLElement {
  const row = screen.getByRole('rowheader', { name: new RegExp(email) }).closest('tr');
  if (!row) throw new Error(`no row for ${email}`);
  return row;
}

describe('TeamSettings', () => {
  it('invites a member and shows their password once', async () => {
    let members = [ada];
    const { calls } = mockFetch({
      'GET /api/members': () => json(200, { items: members }),
      'POST /api/members': () => {
        const carol: Member = { user_id: 'u_3', email: 'carol@example.com', role: 'viewer', created_at: '2026-03-01T00:00:00Z' };
        members = [ada, carol];
        return json(201, { ...carol, password: 'Xk3-one-time-pw' });
      },
    });
    const user = userEvent.setup();
    render(<TeamSettings session={session} />);
    await screen.findByRole('rowheader', { name: /ada@example.com/ });

    const invite = within(screen.getByRole('form', { name: 'Invite member' }));
    await user.type(invite.getByLabelText('Email'), 'carol@example.com');
    await user.selectOptions(invite.getByLabelText('Role'), 'viewer');
    await user.click(invite.getByRole('button', { name: 'Invite' }));

    expect((await screen.findByTestId('invited-password')).textContent).toBe('Xk3-one-time-pw');
    expect(screen.getByText(/will not be shown again/)).toBeTruthy();
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ email: 'carol@example.com', role: 'viewer' });
    expect(await screen.findByRole('rowheader', { name: /carol@example.com/ })).toBeTruthy();

    await user.click(screen.getByRole('button', { name: 'Done, I have passed it on' }));
    expect(screen.queryByTestId('invited-password')).toBeNull();
    expect(screen.queryByText('Xk3-one-time-pw')).toBeNull();
    expect(document.activeElement).toBe(invite.getByLabelText('Email'));
  });

  it('says so when the invited person already has an account', async () => {
    mockFetch({
      'GET /api/members': () => json(200, { items: [ada] }),
      'POST /api/members': () => json(201, { ...bob, existing_account: true }),
    });
    const user = userEvent.setup();
    render(<TeamSettings session={session} />);
    const invite = within(await screen.findByRole('form', { name: 'Invite member' }));
    await user.type(invite.getByLabelText('Email'), 'bob@example.com');
    await user.click(invite.getByRole('button', { name: 'Invite' }));
    expect(await screen.findByText(/sign in with their own password/)).toBeTruthy();
    expect(screen.queryByTestId('invited-password')).toBeNull();
  });

  it('shows a 409 on invite', async () => {
    mockFetch({
      'GET /api/members': () => json(200, { items: [ada, bob] }),
      'POST /api/members': () => json(409, { error: 'bob@example.com is already a member' }),
    });
    const user = userEvent.setup();
    render(<TeamSettings session={session} />);
    const invite = within(await screen.findByRole('form', { name: 'Invite member' }));
    await user.type(invite.getByLabelText('Email'), 'bob@example.com');
    await user.click(invite.getByRole('button', { name: 'Invite' }));
    expect((await invite.findByRole('alert')).textContent).toBe('bob@example.com is already a member');
  });

  it('changes a role, and shows the last-owner refusal', async () => {
    const { calls } = mockFetch({
      'GET /api/members': () => json(200, { items: [ada, bob] }),
      'PUT /api/members/u_2': () => json(200, { ...bob, role: 'viewer' }),
      'PUT /api/members/u_1': () => json(409, { error: 'the workspace would have no owner' }),
    });
    const user = userEvent.setup();
    render(<TeamSettings session={session} />);
    await screen.findByRole('rowheader', { name: /bob@example.com/ });

    await user.selectOptions(screen.getByLabelText('Role of bob@example.com'), 'viewer');
    expect(calls.find((c) => c.path === '/api/members/u_2')?.body).toEqual({ role: 'viewer' });
    expect(((await screen.findByLabelText('Role of bob@example.com')) as HTMLSelectElement).value).toBe('viewer');

    await user.selectOptions(screen.getByLabelText('Role of ada@example.com'), 'editor');
    expect((await within(rowFor('ada@example.com')).findByRole('alert')).textContent).toBe('the workspace would have no owner');
    expect((screen.getByLabelText('Role of ada@example.com') as HTMLSelectElement).value).toBe('owner');
  });

  it('removes a member after confirmation', async () => {
    let members = [ada, bob];
    const { calls } = mockFetch({
      'GET /api/members': () => json(200, { items: members }),
      'DELETE /api/members/u_2': () => {
        members = [ada];
        return noContent();
      },
    });
    const user = userEvent.setup();
    render(<TeamSettings session={session} />);
    await user.click(await screen.findByRole('button', { name: 'Remove bob@example.com' }));

    const dialog = within(screen.getByRole('alertdialog', { name: 'Remove member?' }));
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    await user.click(dialog.getByRole('button', { name: 'Remove member' }));
    expect(calls.some((c) => c.method === 'DELETE' && c.path === '/api/members/u_2')).toBe(true);
    await screen.findByRole('table');
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(screen.queryByRole('rowheader', { name: /bob@example.com/ })).toBeNull();
  });

  it('hides and disables the owner controls for others', async () => {
    mockFetch({ 'GET /api/members': () => json(200, { items: [ada, bob] }) });
    render(<TeamSettings session={{ ...session, user: { id: 'u_2', email: 'bob@example.com' }, role: 'editor' }} />);
    await screen.findByRole('rowheader', { name: /bob@example.com/ });
    expect(screen.queryByRole('form', { name: 'Invite member' })).toBeNull();
    expect(screen.getByRole('note').textContent).toMatch(/only workspace owners/i);
    expect((screen.getByLabelText('Role of ada@example.com') as HTMLSelectElement).disabled).toBe(true);
    expect((screen.getByRole('button', { name: 'Remove bob@example.com' }) as HTMLButtonElement).disabled).toBe(true);
    expect(within(rowFor('bob@example.com')).getByText('(you)')).toBeTruthy();
  });
});
