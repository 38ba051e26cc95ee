import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { CustomerProfile, Segment, Template } from '../api.ts';
import { json, mockFetch } from '../test/fetchMock.ts';
import { SegmentEditor } from './AudiencesPage.tsx';
import { CustomerProfilePage, CustomersPage } from './CustomersPage.tsx';
import { TemplateEditor, smsCount } from './TemplatesPage.tsx';

const ada = {
  id: 'cus_1',
  external_id: 'ada',
  anonymous_ids: [],
  email: 'ada@example.com',
  phone: '+15555550123',
  timezone: null,
  attributes: { plan: 'pro' },
  created_at: '2026-01-01T10:00:00Z',
  updated_at: '2026-01-01T10:00:00Z',
};

describe('SegmentEditor', () => {
  it('previews the count and sample while editing, then creates the segment', async () => {
    const vip: Segment = { id: 'seg_1', name: 'VIP', kind: 'dynamic', condition: { all: [] }, created_at: '', updated_at: '' };
    const { calls } = mockFetch({
      'GET /api/segments': () => json(200, { items: [vip] }),
      'POST /api/segments/preview': () => json(200, { count: 1234, sample: [ada] }),
      'POST /api/segments': () => json(201, { ...vip, id: 'seg_2', name: 'Pro' }),
    });
    const navigate = vi.fn();
    const user = userEvent.setup();
    render(<SegmentEditor id="new" navigate={navigate} />);

    await user.type(screen.getByLabelText('Segment name'), 'Pro');
    expect(screen.getByText('Add a condition to see who matches.')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: '+ Attribute' }));
    await user.type(screen.getByLabelText('Attribute name'), 'plan');
    await user.type(screen.getByLabelText('Value'), 'pro');

    expect((await screen.findByTestId('segment-count', {}, { timeout: 3000 })).textContent).toBe('1,234');
    expect(within(screen.getByRole('list', { name: 'Sample' })).getByRole('link', { name: 'ada' })).toBeTruthy();
    const previews = calls.filter((c) => c.path === '/api/segments/preview');
    // Debounced: far fewer requests than keystrokes, the last with the whole condition.
    expect(previews.length).toBeLessThan(4);
    expect(previews[previews.length - 1].body).toEqual({ condition: { all: [{ attr: 'plan', op: 'eq', value: 'pro' }] }, sample_size: 10 });

    await user.click(screen.getByRole('button', { name: 'Create segment' }));
    await vi.waitFor(() => expect(navigate).toHaveBeenCalledWith('/audiences/seg_2'));
    expect(calls.find((c) => c.method === 'POST' && c.path === '/api/segments')?.body).toEqual({
      name: 'Pro',
      kind: 'dynamic',
      condition: { all: [{ attr: 'plan', op: 'eq', value: 'pro' }] },
    });
  });

  it('shows the server’s complaint about a condition', async () => {
    mockFetch({
      'GET /api/segments': () => json(200, { items: [] }),
      'POST /api/segments/preview': () => json(400, { error: 'condition.all[0].attr: must not be empty', field: 'condition.all[0].attr' }),
    });
    const user = userEvent.setup();
    render(<SegmentEditor id="new" navigate={vi.fn()} />);
    await user.click(await screen.findByRole('button', { name: '+ Attribute' }));
    expect(await screen.findByText('condition.all[0].attr: must not be empty', {}, { timeout: 3000 })).toBeTruthy();
  });
});

describe('TemplateEditor', () => {
  it('counts SMS characters and segments', () => {
    expect(smsCount('')).toEqual({ chars: 0, segments: 0, unicode: false });
    expect(smsCount('a'.repeat(160))).toEqual({ chars: 160, segments: 1, unicode: false });
    expect(smsCount('a'.repeat(161))).toEqual({ chars: 161, segments: 2, unicode: false });
    expect(smsCount('€')).toEqual({ chars: 2, segments: 1, unicode: false });
    expect(smsCount('héllo 👋')).toMatchObject({ unicode: true, segments: 1 });
  });

  it('renders an email for a customer and saves changes', async () => {
    const tpl: Template = {
      id: 'tpl_1',
      name: 'Welcome',
      channel: 'email',
      subject: 'Hi {{ customer.first_name }}',
      html: '<p>Hello</p>',
      created_at: '',
      updated_at: '',
    };
    const { calls } = mockFetch({
      'GET /api/templates/tpl_1': () => json(200, tpl),
      'PUT /api/templates/tpl_1': (c) => json(200, { ...tpl, ...(c.body as object) }),
      'POST /api/templates/tpl_1/preview': (c) =>
        (c.body as { customer_id?: string }).customer_id === 'nobody'
          ? json(404, { error: 'no customer nobody in this workspace', field: 'customer_id' })
          : json(200, { channel: 'email', customer_id: 'cus_sample', rendered: { subject: 'Hi Sam', html: '<p>Hello</p>' } }),
    });
    const user = userEvent.setup();
    render(<TemplateEditor id="tpl_1" navigate={vi.fn()} />);

    expect((await screen.findByTestId('rendered')).textContent).toContain('Subject: Hi Sam');
    await user.type(screen.getByLabelText(/^Customer/), 'nobody');
    await user.click(screen.getByRole('button', { name: 'Render' }));
    expect((await screen.findByRole('alert')).textContent).toBe('no customer nobody in this workspace');

    const subject = screen.getByLabelText('Subject');
    await user.clear(subject);
    await user.type(subject, 'Welcome aboard');
    expect(screen.getByText('Unsaved changes')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Save template' }));
    expect(await screen.findByText('Template saved.')).toBeTruthy();
    expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ name: 'Welcome', channel: 'email', subject: 'Welcome aboard', html: '<p>Hello</p>' });
  });

  it('sends a test to an address, for the customer given, and shows the result', async () => {
    const tpl: Template = { id: 'tpl_2', name: 'Nudge', channel: 'sms', body: 'Hi {{ customer.first_name }}', created_at: '', updated_at: '' };
    let refuse = false;
    const { calls } = mockFetch({
      'GET /api/templates/tpl_2': () => json(200, tpl),
      'POST /api/templates/tpl_2/preview': () => json(200, { channel: 'sms', customer_id: 'cus_sample', rendered: { body: 'Hi Sam' } }),
      'POST /api/templates/tpl_2/test': (c) =>
        refuse
          ? json(400, { error: 'to is required: the address or number to send the test to', field: 'to' })
          : json(200, { id: 'msg_1', status: 'sent', provider: 'outbox', recipient: (c.body as { to: string }).to, channel: 'sms' }),
    });
    const user = userEvent.setup();
    render(<TemplateEditor id="tpl_2" navigate={vi.fn()} />);
    await screen.findByTestId('rendered');

    const send = screen.getByRole('button', { name: 'Send test' });
    await user.click(send);
    expect((await screen.findByRole('alert')).textContent).toBe('Enter where to send the test.');
    expect(calls.some((c) => c.path.endsWith('/test'))).toBe(false);

    await user.type(screen.getByLabelText(/^Customer/), 'ada');
    await user.type(screen.getByLabelText('Send a test to (phone number)'), '+15555550123');
    await user.click(send);
    expect((await screen.findByTestId('test-send-result')).textContent).toBe('Test sent to +15555550123 through outbox.');
    expect(calls.find((c) => c.path.endsWith('/test'))?.body).toEqual({ to: '+15555550123', customer_id: 'ada' });

    refuse = true;
    await user.click(send);
    expect((await screen.findByRole('alert')).textContent).toContain('to is required');
  });
});

describe('CustomerProfilePage', () => {
  const profile: CustomerProfile = {
    ...ada,
    events: [{ id: 1, message_id: 'm1', type: 'track', name: 'Signed Up', properties: { plan: 'pro' }, occurred_at: '2026-01-01T10:00:00Z', received_at: '' }],
    events_total: 1,
    events_next_cursor: '',
    segments: [{ segment_id: 'seg_1', name: 'VIP', kind: 'manual', entered_at: '2026-01-01T10:03:00Z', left_at: null }],
    audit: [
      {
        id: '7',
        actor: 'ingest',
        action: 'merge',
        subject_type: 'customer',
        subject_id: 'cus_1',
        detail: { merged_from: 'cus_anon' },
        created_at: '2026-01-01T10:02:00Z',
      },
    ],
    runs: [
      {
        workflow_id: 'journey/jny_1/customer/cus_1',
        run_id: 'r1',
        journey_id: 'jny_1',
        journey_name: 'Welcome',
        version: 1,
        customer_id: 'cus_1',
        status: 'running',
        current_node: 'wait',
        converted_at: null,
        started_at: '2026-01-01T10:00:00Z',
        updated_at: '',
        ended_at: null,
      },
    ],
    deliveries: [
      {
        id: 'msg_1',
        journey_id: 'jny_1',
        customer_id: 'cus_1',
        workflow_id: '',
        node_id: 'sms',
        channel: 'sms',
        provider: 'outbox',
        template_id: 'tpl_2',
        recipient: '+15555550123',
        content: { body: 'Hi Ada' },
        status: 'sent',
        created_at: '2026-01-01T10:01:00Z',
        updated_at: '',
      },
    ],
  };

  it('shows the profile, journeys, messages and events, and erases after confirmation', async () => {
    const { calls } = mockFetch({
      'GET /api/customers/cus_1': () => json(200, profile),
      'GET /api/templates': () => json(200, { items: [{ id: 'tpl_2', name: 'Nudge', channel: 'sms' }] }),
      'DELETE /api/customers/cus_1': () => json(200, { erased: true, runs_canceled: 1 }),
    });
    const navigate = vi.fn();
    const user = userEvent.setup();
    render(<CustomerProfilePage id="cus_1" navigate={navigate} />);

    expect(await screen.findByRole('heading', { name: 'ada' })).toBeTruthy();
    expect(screen.getByRole('region', { name: 'Profile' }).textContent).toContain('plan');
    expect(screen.getByRole('region', { name: 'Journeys' }).textContent).toContain('Welcome');
    const segments = screen.getByRole('list', { name: 'Segments' });
    await user.click(within(segments).getByRole('link', { name: 'VIP' }));
    expect(navigate).toHaveBeenCalledWith('/audiences/seg_1');
    const messages = screen.getByRole('region', { name: 'Messages' });
    expect(messages.textContent).toContain('Nudge');
    expect(messages.textContent).toContain('Hi Ada');
    expect(screen.getByRole('region', { name: 'Events' }).textContent).toContain('Signed Up');
    const history = screen.getByRole('region', { name: 'History' });
    expect(history.textContent).toContain('Merged with another profile');
    expect(history.textContent).toContain('cus_anon');
    expect(screen.getByRole('button', { name: 'Export JSON' })).toBeTruthy();

    await user.click(screen.getByRole('button', { name: 'Erase customer' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Erase customer?' });
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Erase customer' }));
    await vi.waitFor(() => expect(navigate).toHaveBeenCalledWith('/customers'));
    expect(calls.filter((c) => c.method === 'DELETE')).toHaveLength(1);
  });

  it('titles every event by its name, with the page or screen name for page and screen events', async () => {
    const ev = (id: number, type: string, name: string, properties: Record<string, unknown>) => ({ id, message_id: `m${id}`, type, name, properties, occurred_at: '2026-01-01T10:00:00Z', received_at: '' });
    mockFetch({
      'GET /api/customers/cus_1': () =>
        json(200, {
          ...profile,
          events: [
            ev(4, 'page', 'Page Viewed', { name: 'Pricing', url: 'https://x.test/pricing' }),
            ev(3, 'screen', 'Screen Viewed', { name: 'Home' }),
            ev(2, 'page', 'Page Viewed', { url: 'https://x.test/' }),
            ev(1, 'identify', 'Identify', {}),
            ev(0, 'track', 'Signed Up', { name: 'not a page name' }),
          ],
          events_total: 5,
        }),
      'GET /api/templates': () => json(200, { items: [] }),
    });
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const events = await screen.findByRole('region', { name: 'Events' });
    expect(within(events).getAllByRole('listitem').map((li) => li.querySelector('strong')?.textContent)).toEqual([
      'Page Viewed · Pricing',
      'Screen Viewed · Home',
      'Page Viewed',
      'Identify',
      'Signed Up',
    ]);
  });

  it('shows previous user ids and says in words how the user id changed', async () => {
    mockFetch({
      'GET /api/customers/cus_1': () =>
        json(200, {
          ...profile,
          previous_user_ids: ['old-1', 'older-0'],
          audit: [
            { id: '9', actor: 'ingest', action: 'change_user_id', subject_type: 'customer', subject_id: 'cus_1', detail: { previous_user_id: 'old-1', user_id: 'ada' }, created_at: '2026-01-01T10:05:00Z' },
            { id: '8', actor: 'ingest', action: 'change_user_id', subject_type: 'customer', subject_id: 'cus_1', detail: null, created_at: '2026-01-01T10:04:00Z' },
          ],
        }),
      'GET /api/templates': () => json(200, { items: [] }),
    });
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const prof = await screen.findByRole('region', { name: 'Profile' });
    const dt = within(prof).getByText('Previous user ids');
    expect(dt.nextElementSibling?.textContent).toBe('old-1, older-0');
    const history = screen.getByRole('region', { name: 'History' });
    expect(within(history).getAllByRole('listitem').map((li) => li.querySelector('strong')?.textContent)).toEqual([
      'User id changed from old-1 to ada',
      'User id changed',
    ]);
    expect(history.textContent).not.toContain('change_user_id');
  });

  it('shows no previous user ids as a dash', async () => {
    mockFetch({
      'GET /api/customers/cus_1': () => json(200, { ...profile, previous_user_ids: [] }),
      'GET /api/templates': () => json(200, { items: [] }),
    });
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const prof = await screen.findByRole('region', { name: 'Profile' });
    expect(within(prof).getByText('Previous user ids').nextElementSibling?.textContent).toBe('—');
  });

  it('shows large whole numbers in attributes and event properties with every digit', async () => {
    // Raw JSON: a number literal here would already have lost the digits.
    const raw = JSON.stringify({ ...profile, attributes: { account: '@@1', plan: 'pro' }, events: [{ ...profile.events[0], properties: { order: '@@2', total: 12.5 } }] })
      .replace('"@@1"', '12345678901234567890')
      .replace('"@@2"', '-98765432109876543210');
    mockFetch({
      'GET /api/customers/cus_1': () => new Response(raw, { status: 200, headers: { 'Content-Type': 'application/json' } }),
      'GET /api/templates': () => json(200, { items: [] }),
    });
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const list = await screen.findByLabelText('Attributes');
    expect(within(list).getByText('account').nextElementSibling?.textContent).toBe('12345678901234567890');
    const events = screen.getByRole('region', { name: 'Events' });
    expect(events.querySelector('pre')?.textContent).toContain('"order": -98765432109876543210,');
    expect(events.querySelector('pre')?.textContent).toContain('"total": 12.5');
  });

  it('exports through the API: a refusal shows in the page; a saved export reloads the history', async () => {
    let gone = true;
    let exported = false;
    const exportEntry = { id: '8', actor: 'user:1', action: 'export', subject_type: 'customer', subject_id: 'cus_1', detail: { events: 1 }, created_at: '2026-01-02T10:00:00Z' };
    const { calls } = mockFetch({
      'GET /api/customers/cus_1': () => json(200, exported ? { ...profile, audit: [exportEntry, ...profile.audit!], audit_total: 2 } : { ...profile, audit_total: 1 }),
      'GET /api/templates': () => json(200, { items: [] }),
      'GET /api/customers/cus_1/export': () => {
        if (gone) return json(404, { error: 'not found in this workspace' });
        exported = true;
        return new Response('{"customer":{}}', { status: 200, headers: { 'Content-Type': 'application/json', 'Content-Disposition': 'attachment; filename="customer-cus_1.json"' } });
      },
    });
    const saved: string[] = [];
    Object.assign(URL, { createObjectURL: vi.fn(() => 'blob:export'), revokeObjectURL: vi.fn() });
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(`${this.download} ${this.href}`);
    });
    const user = userEvent.setup();
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const history = await screen.findByRole('region', { name: 'History' });
    expect(within(history).getByRole('heading').textContent).toBe('History (1)');

    await user.click(screen.getByRole('button', { name: 'Export JSON' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Export failed: not found in this workspace');
    expect(saved).toEqual([]);

    gone = false;
    await user.click(screen.getByRole('button', { name: 'Export JSON' }));
    await vi.waitFor(() => expect(within(history).getByRole('heading').textContent).toBe('History (2)'));
    expect(saved).toEqual(['customer-cus_1.json blob:export']);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(within(history).getAllByRole('listitem')[0].textContent).toContain('by user:1');
    expect(calls.filter((c) => c.path === '/api/customers/cus_1')).toHaveLength(2);
  });

  it('says plainly when there is no such customer, without a retry', async () => {
    mockFetch({
      'GET /api/customers/nobody': () => json(404, { error: 'not found in this workspace' }),
      'GET /api/templates': () => json(200, { items: [] }),
    });
    render(<CustomerProfilePage id="nobody" navigate={vi.fn()} />);
    expect((await screen.findByRole('alert')).textContent).toContain('No customer nobody in this workspace');
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
  });

  it('counts every event and loads the older ones on demand', async () => {
    const older = { id: 0, message_id: 'm0', type: 'track', name: 'Viewed Pricing', properties: {}, occurred_at: '2025-12-01T10:00:00Z', received_at: '' };
    const { calls } = mockFetch({
      'GET /api/customers/cus_1': () => json(200, { ...profile, events_total: 2, events_next_cursor: 'c1' }),
      'GET /api/templates': () => json(200, { items: [] }),
      'GET /api/customers/cus_1/events': () => json(200, { items: [older] }),
    });
    const user = userEvent.setup();
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const events = await screen.findByRole('region', { name: 'Events' });
    expect(events.textContent).toContain('Events (1 of 2)');
    await user.click(within(events).getByRole('button', { name: 'Load more events' }));
    await vi.waitFor(() => expect(events.textContent).toContain('Viewed Pricing'));
    expect(events.textContent).toContain('Events (2)');
    expect(within(events).queryByRole('button', { name: 'Load more events' })).toBeNull();
    expect(calls.find((c) => c.path === '/api/customers/cus_1/events')?.query.get('cursor')).toBe('c1');
  });

  it('counts all the history, newest first, and loads older entries on demand; cut journeys and messages say 100+', async () => {
    const entry = (n: number) => ({ id: String(n), actor: 'user:1', action: 'export', subject_type: 'customer', subject_id: 'cus_1', detail: { n }, created_at: '2026-01-01T10:00:00Z' });
    const newest = Array.from({ length: 100 }, (_, i) => entry(130 - i));
    const older = Array.from({ length: 30 }, (_, i) => entry(30 - i));
    const { calls } = mockFetch({
      'GET /api/customers/cus_1': () =>
        json(200, {
          ...profile,
          audit: newest,
          audit_total: 130,
          audit_next_cursor: '31',
          runs: Array.from({ length: 100 }, (_, i) => ({ ...profile.runs[0], run_id: `r${i}` })),
          runs_more: true,
          deliveries: Array.from({ length: 100 }, (_, i) => ({ ...profile.deliveries[0], id: `msg_${i}` })),
          deliveries_more: true,
        }),
      'GET /api/templates': () => json(200, { items: [] }),
      'GET /api/customers/cus_1/audit': () => json(200, { items: older, next_cursor: '' }),
    });
    const user = userEvent.setup();
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const history = await screen.findByRole('region', { name: 'History' });
    expect(within(history).getByRole('heading').textContent).toBe('History (100 of 130)');
    expect(within(screen.getByRole('region', { name: 'Journeys' })).getAllByRole('heading')[0].textContent).toBe('Journeys (100+)');
    expect(within(screen.getByRole('region', { name: 'Messages' })).getByRole('heading').textContent).toBe('Messages (100+)');
    await user.click(within(history).getByRole('button', { name: 'Load more history' }));
    await vi.waitFor(() => expect(within(history).getByRole('heading').textContent).toBe('History (130)'));
    expect(within(history).getAllByRole('listitem')).toHaveLength(130);
    expect(within(history).queryByRole('button', { name: 'Load more history' })).toBeNull();
    const page = calls.find((c) => c.path === '/api/customers/cus_1/audit');
    expect(page?.query.get('cursor')).toBe('31');
    expect(page?.query.get('order')).toBe('newest');
  });

  it('shows an uncut list count as it is', async () => {
    mockFetch({
      'GET /api/customers/cus_1': () => json(200, { ...profile, audit_total: 1, audit_next_cursor: '', runs_more: false, deliveries_more: false }),
      'GET /api/templates': () => json(200, { items: [] }),
    });
    render(<CustomerProfilePage id="cus_1" navigate={vi.fn()} />);
    const history = await screen.findByRole('region', { name: 'History' });
    expect(within(history).getByRole('heading').textContent).toBe('History (1)');
    expect(within(screen.getByRole('region', { name: 'Journeys' })).getAllByRole('heading')[0].textContent).toBe('Journeys (1)');
    expect(within(screen.getByRole('region', { name: 'Messages' })).getByRole('heading').textContent).toBe('Messages (1)');
  });
});

describe('CustomersPage', () => {
  it('searches, pages on, and says when nothing matches', async () => {
    const bob = { ...ada, id: 'cus_2', external_id: null, email: 'bob@example.com' };
    // Answers by query string: the first page, the next one, and no match.
    const fn = vi.fn(async (input: RequestInfo | URL) => {
      const url = new URL(String(input), 'http://localhost');
      const q = url.searchParams.get('q') ?? '';
      const cursor = url.searchParams.get('cursor') ?? '';
      if (q === 'nobody') return json(200, { items: [] });
      if (cursor) return json(200, { items: [bob] });
      return json(200, { items: [ada], next_cursor: 'c1' });
    });
    vi.stubGlobal('fetch', fn);
    window.history.replaceState(null, '', '/customers');
    const user = userEvent.setup();
    render(<CustomersPage navigate={vi.fn()} />);

    expect(await screen.findByRole('link', { name: 'ada' })).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await screen.findByRole('link', { name: 'bob@example.com' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();

    await user.type(screen.getByLabelText('Search customers'), 'nobody');
    await user.click(screen.getByRole('button', { name: 'Search' }));
    expect(await screen.findByText('No customers match “nobody”')).toBeTruthy();

    // An attribute filter goes with the search when it has a value; half
    // a filter is refused with a hint, not dropped.
    await user.type(screen.getByLabelText('Attribute'), 'address.city');
    await user.click(screen.getByRole('button', { name: 'Search' }));
    expect(screen.getByRole('alert').textContent).toContain('Fill in both the attribute and the value');
    await user.type(screen.getByLabelText('equals'), 'Paris');
    await user.click(screen.getByRole('button', { name: 'Search' }));
    expect(await screen.findByText('No customers match “nobody and address.city = Paris”')).toBeTruthy();
    expect(fn.mock.calls.map(([u]) => String(u))).toEqual([
      '/api/customers?limit=50',
      '/api/customers?limit=50&cursor=c1',
      '/api/customers?q=nobody&limit=50',
      '/api/customers?q=nobody&attr.address.city=Paris&limit=50',
    ]);
    // The search is in the address: coming back to it (Back from a profile) runs it again.
    expect(window.location.pathname + window.location.search).toBe('/customers?q=nobody&attr.address.city=Paris');
    cleanup();
    render(<CustomersPage navigate={vi.fn()} />);
    expect(await screen.findByText('No customers match “nobody and address.city = Paris”')).toBeTruthy();
    expect((screen.getByLabelText('Search customers') as HTMLInputElement).value).toBe('nobody');
    expect((screen.getByLabelText('equals') as HTMLInputElement).value).toBe('Paris');
    window.history.replaceState(null, '', '/');
  });
});
