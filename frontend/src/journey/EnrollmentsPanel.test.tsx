import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { Enrollment } from '../api.ts';
import { json, mockFetch } from '../test/fetchMock.ts';
import { EnrollmentsPanel, formatDuration } from './EnrollmentsPanel.tsx';

const running: Enrollment = {
  id: 'enr_1',
  journey_id: 'j_1',
  segment_id: 'seg_1',
  reason: 'include_existing',
  status: 'running',
  total: 1000,
  enrolled: 240,
  skipped: 10,
  started_at: '2026-01-01T10:00:00Z',
  updated_at: '2026-01-01T10:00:05Z',
  finished_at: null,
  per_second: 50,
  eta_seconds: 15,
};

describe('EnrollmentsPanel', () => {
  it('formats durations', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(7500)).toBe('2 h 5 min');
  });

  it('shows progress, rate and time left, and cancels', async () => {
    let status: Enrollment['status'] = 'running';
    const { calls } = mockFetch({
      'GET /api/journeys/j_1/enrollments': () => json(200, { enrollments: [{ ...running, status, eta_seconds: status === 'running' ? 15 : null }] }),
      'POST /api/journeys/j_1/enrollments/enr_1/cancel': () => {
        status = 'cancelled';
        return json(202, { id: 'enr_1', status: 'cancelling' });
      },
    });
    const user = userEvent.setup();
    render(<EnrollmentsPanel journeyId="j_1" />);
    const bar = await screen.findByRole('progressbar', { name: 'Enrollment progress' });
    expect(bar.getAttribute('aria-valuenow')).toBe('25');
    expect(screen.getByTestId('enrollment').textContent).toContain('240 entered · 10 skipped of 1,000 (25%) · 50.0/s · about 15 s left');
    await user.click(screen.getByRole('button', { name: 'Cancel enrollment' }));
    expect(calls.some((c) => c.method === 'POST' && c.path === '/api/journeys/j_1/enrollments/enr_1/cancel')).toBe(true);
    expect(await screen.findByText('cancelled')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Cancel enrollment' })).toBeNull();
  });

  it('shows nothing when there is no enrollment', async () => {
    const { calls } = mockFetch({ 'GET /api/journeys/j_1/enrollments': () => json(200, { enrollments: [] }) });
    const { container } = render(<EnrollmentsPanel journeyId="j_1" />);
    expect(calls).toHaveLength(1);
    // Let the answer arrive and render.
    await new Promise((r) => setTimeout(r, 50));
    expect(container.textContent).toBe('');
  });
});
