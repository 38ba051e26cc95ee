import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { SeriesPoint } from '../api.ts';
import { JourneyResults } from './JourneyResults.tsx';
import { json, mockFetch } from '../test/fetchMock.ts';

// Recharts measures its container; jsdom has no layout (and says so on
// console.warn, which is expected here).
beforeEach(() => {
  const warn = console.warn.bind(console);
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('of chart should be greater than 0')) return;
    warn(...args);
  });
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      unobserve() {}
      disconnect() {}
    },
  );
});

const zero: Omit<SeriesPoint, 't'> = {
  entries: 0,
  completed: 0,
  conversions: 0,
  sent: 0,
  delivered: 0,
  opened: 0,
  clicked: 0,
  bounced: 0,
  failed: 0,
  suppressed: 0,
};

const journey = {
  id: 'jny_1',
  name: 'Welcome series',
  status: 'active',
  live_version: 2,
  definition: { name: 'Welcome series', trigger: { type: 'api' }, entry: { policy: 'once' }, settings: {}, start: 'a', nodes: [] },
  created_at: '2026-11-01T00:00:00Z',
  updated_at: '2026-11-01T00:00:00Z',
};

const days = [
  { t: '2026-11-26T00:00:00Z', ...zero, entries: 4, sent: 4, delivered: 3, opened: 2, clicked: 1, bounced: 1, conversions: 1 },
  { t: '2026-11-27T00:00:00Z', ...zero, entries: 6, completed: 2, sent: 5, delivered: 5, opened: 1, conversions: 2, suppressed: 1 },
];
const hours = [{ t: '2026-11-27T15:00:00Z', ...zero, entries: 1, sent: 1 }];

function total(metric: string): string {
  const el = within(screen.getByTestId('totals')).getByText((_, node) => node?.getAttribute('data-metric') === metric);
  return el.textContent ?? '';
}

describe('JourneyResults', () => {
  it('renders the series totals, charts and data table', async () => {
    const { calls } = mockFetch({
      'GET /api/journeys/jny_1': () => json(200, journey),
      'GET /api/journeys/jny_1/series': () => json(200, { interval: 'day', timezone: 'Europe/Paris', points: days }),
    });
    render(<JourneyResults id="jny_1" navigate={() => {}} />);

    expect(screen.getByRole('status').textContent).toMatch(/loading results/i);
    await screen.findByTestId('totals');
    expect(total('entries')).toBe('10');
    expect(total('conversions')).toBe('3');
    expect(total('conversion_rate')).toBe('30%');
    expect(total('sent')).toBe('9');
    expect(total('bounced')).toBe('1');
    expect(total('suppressed')).toBe('1');
    expect(await screen.findByText('Welcome series')).toBeTruthy();
    expect(screen.getByRole('figure', { name: 'Entries and conversions' })).toBeTruthy();
    expect(screen.getByRole('figure', { name: 'Delivery funnel' })).toBeTruthy();
    expect(screen.getByText(/Europe\/Paris/)).toBeTruthy();

    const table = screen.getByRole('table', { name: 'Entries and conversions' });
    expect(within(table).getAllByRole('row')).toHaveLength(3);

    const series = calls.find((c) => c.path.endsWith('/series'));
    expect(series?.query.get('interval')).toBe('day');
    expect(series?.query.get('points')).toBe('30');
  });

  it('refetches when the interval changes', async () => {
    const { calls } = mockFetch({
      'GET /api/journeys/jny_1': () => json(200, journey),
      'GET /api/journeys/jny_1/series': (call) => {
        const interval = call.query.get('interval');
        return json(200, { interval, points: interval === 'hour' ? hours : days });
      },
    });
    const user = userEvent.setup();
    render(<JourneyResults id="jny_1" navigate={() => {}} />);
    await screen.findByTestId('totals');
    expect(total('entries')).toBe('10');

    const byHour = screen.getByRole('button', { name: /by hour/i });
    expect(byHour.getAttribute('aria-pressed')).toBe('false');
    await user.click(byHour);
    expect(byHour.getAttribute('aria-pressed')).toBe('true');
    await screen.findByText(/last 48 hours/);
    expect(total('entries')).toBe('1');

    const series = calls.filter((c) => c.path.endsWith('/series')).map((c) => Object.fromEntries(c.query));
    expect(series).toEqual([
      { interval: 'day', points: '30' },
      { interval: 'hour', points: '48' },
    ]);
  });

  it('shows an empty state when nothing happened', async () => {
    mockFetch({
      'GET /api/journeys/jny_1': () => json(200, journey),
      'GET /api/journeys/jny_1/series': () => json(200, { interval: 'day', points: [{ t: '2026-11-27T00:00:00Z', ...zero }] }),
    });
    render(<JourneyResults id="jny_1" navigate={() => {}} />);
    expect(await screen.findByText('No activity in this period')).toBeTruthy();
    expect(total('conversion_rate')).toBe('—');
  });

  it('shows an error and retries', async () => {
    let fail = true;
    mockFetch({
      'GET /api/journeys/jny_1': () => json(404, { error: 'journey not found' }),
      'GET /api/journeys/jny_1/series': () => (fail ? json(404, { error: 'journey not found' }) : json(200, { interval: 'day', points: days })),
    });
    render(<JourneyResults id="jny_1" navigate={() => {}} />);
    expect((await screen.findByRole('alert')).textContent).toContain('journey not found');
    fail = false;
    await userEvent.setup().click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByTestId('totals')).toBeTruthy();
  });
});
