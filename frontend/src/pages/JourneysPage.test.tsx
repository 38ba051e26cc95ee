import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Journey } from '../api.ts';
import { json, mockFetch } from '../test/fetchMock.ts';
import { JourneysPage, starterJourney } from './JourneysPage.tsx';

const live: Journey = {
  id: 'jny_1',
  name: 'Welcome',
  status: 'active',
  live_version: 3,
  definition: starterJourney('Welcome', 'Signed Up'),
  created_at: '2026-01-01T10:00:00Z',
  updated_at: '2026-01-02T10:00:00Z',
};

describe('JourneysPage', () => {
  it('lists journeys with status and trigger', async () => {
    mockFetch({ 'GET /api/journeys': () => json(200, { items: [live] }) });
    render(<JourneysPage navigate={vi.fn()} />);
    const row = (await screen.findByRole('rowheader', { name: 'Welcome' })).closest('tr')!;
    expect(within(row).getByText('active · v3')).toBeTruthy();
    expect(within(row).getByText('Signed Up')).toBeTruthy();
    expect(within(row).getByRole('link', { name: 'Welcome' }).getAttribute('href')).toBe('/journeys/jny_1');
  });

  it('creates a valid starter journey from the empty state and opens it', async () => {
    const { calls } = mockFetch({
      'GET /api/journeys': () => json(200, { items: [] }),
      'POST /api/journeys': () => json(201, { ...live, id: 'jny_2', status: 'draft', live_version: null }),
    });
    const navigate = vi.fn();
    const user = userEvent.setup();
    render(<JourneysPage navigate={navigate} />);
    expect(await screen.findByText('No journeys yet')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'New journey' }));
    const form = screen.getByRole('form', { name: 'New journey' });
    await user.type(within(form).getByLabelText('Name'), ' Cart reminder ');
    await user.click(within(form).getByRole('button', { name: 'Create journey' }));
    await vi.waitFor(() => expect(navigate).toHaveBeenCalledWith('/journeys/jny_2'));
    expect(calls[1].body).toEqual({
      name: 'Cart reminder',
      trigger: { type: 'api' },
      entry: { policy: 'once' },
      settings: {},
      start: 'exit_1',
      nodes: [{ id: 'exit_1', type: 'exit' }],
    });
  });

  it('shows the server error and offers a retry', async () => {
    let up = false;
    mockFetch({ 'GET /api/journeys': () => (up ? json(200, { items: [live] }) : json(500, { error: 'internal error (list journeys)' })) });
    render(<JourneysPage navigate={vi.fn()} />);
    expect((await screen.findByRole('alert')).textContent).toContain('internal error (list journeys)');
    up = true;
    await userEvent.setup().click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('rowheader', { name: 'Welcome' })).toBeTruthy();
  });
});
