import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { ImportDetail, Segment, UploadedImport } from '../api.ts';
import { json, mockFetch } from '../test/fetchMock.ts';
import { attributeProblems, cleanMapping, CsvImport, ImportProgress, mappingReady, rowCount } from './CsvImport.tsx';
import { ManualMembers, parseIds } from './ManualSegment.tsx';

const base = {
  id: 'imp_1',
  file_name: 'people.csv',
  file_size: 80,
  headers: ['id', 'mail', 'tel', 'plan', 'seats'],
  mapping: null,
  segment_id: null,
  mode: 'upsert' as const,
  separator: ',',
  run: 0,
  total_rows: 2,
  processed_rows: 0,
  created_rows: 0,
  updated_rows: 0,
  failed_rows: 0,
  skipped_rows: 0,
  error: '',
  percent: 0,
  created_at: '2026-01-01T10:00:00Z',
  started_at: null,
  finished_at: null,
};

const uploaded: UploadedImport = {
  ...base,
  status: 'uploaded',
  preview: [
    ['u1', 'a@example.com', '', 'pro', '3'],
    ['u2', 'b@example.com', '+15555550100', 'free', 'x'],
  ],
  suggested_mapping: { user_id: 'id', email: 'mail', attributes: [{ column: 'plan', name: 'plan', type: 'string' }] },
};

const beta: Segment = { id: 'seg_m', name: 'Beta', kind: 'manual', condition: null, created_at: '', updated_at: '' };

describe('CsvImport', () => {
  it('drops unmapped fields and blank attribute rows from the mapping, and marks half-filled ones', () => {
    expect(cleanMapping({ user_id: 'id', email: '', attributes: [{ column: 'plan', name: ' plan ' }, { column: '', name: '  ' }] })).toEqual({
      user_id: 'id',
      attributes: [{ column: 'plan', name: 'plan' }],
    });
    const half = { user_id: 'id', attributes: [{ column: 'plan', name: 'plan' }, { column: 'seats', name: ' ' }, { column: '', name: 'x' }, { column: '', name: '' }] };
    expect(attributeProblems(half)).toEqual(['', 'Name the attribute that column seats is stored as, or remove the row.', 'Choose the column that holds x, or remove the row.', '']);
    expect(mappingReady(half)).toBe(false);
    expect(mappingReady({ ...half, attributes: [half.attributes[0], half.attributes[3]] })).toBe(true);
    expect(mappingReady({ attributes: [half.attributes[0]] })).toBe(false); // no key column
  });

  it('keeps Start import disabled while an attribute row has a column but no name, or a name but no column', async () => {
    const { calls } = mockFetch({
      'GET /api/imports': () => json(200, { items: [], next_cursor: '' }),
      'POST /api/imports': () => json(201, uploaded),
      'POST /api/imports/imp_1/start': () => json(202, { ...base, status: 'running', run: 1 }),
      'GET /api/imports/imp_1': () => json(200, { ...base, status: 'running', run: 1, errors: [] }),
    });
    const user = userEvent.setup();
    render(<CsvImport />);
    await user.upload(screen.getByLabelText('CSV file'), new File(['id\nu1\n'], 'people.csv', { type: 'text/csv' }));
    const startButton = await screen.findByRole('button', { name: 'Start import' });
    expect((startButton as HTMLButtonElement).disabled).toBe(false);

    // The suggested row loses its name: marked, and the import cannot start.
    await user.clear(screen.getByLabelText('Attribute 1 name'));
    const name = screen.getByLabelText('Attribute 1 name');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('attribute-1-problem').textContent).toBe('Name the attribute that column plan is stored as, or remove the row.');
    expect(name.getAttribute('aria-describedby')).toBe(screen.getByTestId('attribute-1-problem').id);
    expect((startButton as HTMLButtonElement).disabled).toBe(true);
    await user.type(name, 'tier');
    expect(screen.queryByTestId('attribute-1-problem')).toBeNull();
    expect((startButton as HTMLButtonElement).disabled).toBe(false);

    // A name without a column: marked too, until removed.
    await user.click(screen.getByRole('button', { name: '+ Attribute' }));
    expect((startButton as HTMLButtonElement).disabled).toBe(false); // a blank row is left out
    await user.type(screen.getByLabelText('Attribute 2 name'), 'seats');
    expect(screen.getByLabelText('Attribute 2 column').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByTestId('attribute-2-problem').textContent).toBe('Choose the column that holds seats, or remove the row.');
    expect((startButton as HTMLButtonElement).disabled).toBe(true);
    await user.click(screen.getByRole('button', { name: 'Remove attribute 2' }));
    expect((startButton as HTMLButtonElement).disabled).toBe(false);

    await user.click(startButton);
    expect(calls.find((c) => c.path === '/api/imports/imp_1/start')?.body).toEqual({
      mapping: { user_id: 'id', email: 'mail', attributes: [{ column: 'plan', name: 'tier', type: 'string' }] },
    });
  });

  it('uploads, shows the preview and suggested mapping, starts with the edited mapping and follows the progress', async () => {
    let polls = 0;
    const { calls } = mockFetch({
      'GET /api/imports': () => json(200, { items: [], next_cursor: '' }),
      'POST /api/imports': () => json(201, uploaded),
      'POST /api/imports/imp_1/start': () => json(202, { ...base, status: 'running', run: 1 }),
      'GET /api/imports/imp_1': () => {
        polls++;
        const done: ImportDetail = {
          ...base,
          run: 1,
          status: 'completed',
          processed_rows: 2,
          created_rows: 1,
          updated_rows: 0,
          failed_rows: 1,
          percent: 100,
          errors: [{ row: 2, column: 'seats', message: 'not a number' }],
        };
        return json(200, polls === 1 ? { ...base, run: 1, status: 'running', processed_rows: 1, percent: 50, errors: [] } : done);
      },
    });
    const onFinished = vi.fn();
    const user = userEvent.setup();
    render(<CsvImport segments={[beta, { ...beta, id: 'seg_d', name: 'Dyn', kind: 'dynamic' }]} onFinished={onFinished} />);

    await user.upload(screen.getByLabelText('CSV file'), new File(['id,mail\nu1,a@example.com\n'], 'people.csv', { type: 'text/csv' }));
    const preview = await screen.findByRole('table', { name: 'Preview' });
    expect(within(preview).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(uploaded.headers);
    expect(within(preview).getByText('b@example.com')).toBeTruthy();
    expect(screen.getByLabelText('CSV file').getAttribute('accept')).toBe('.csv,.tsv,.txt,text/csv,text/tab-separated-values,text/plain');
    expect(calls.filter((c) => c.method === 'POST').map((c) => c.path)).toEqual(['/api/imports']);

    // The suggested mapping is shown and can be edited.
    expect((screen.getByLabelText('User ID column') as HTMLSelectElement).value).toBe('id');
    expect((screen.getByLabelText('Email column') as HTMLSelectElement).value).toBe('mail');
    expect((screen.getByLabelText('Attribute 1 name') as HTMLInputElement).value).toBe('plan');
    await user.selectOptions(screen.getByLabelText('Phone column'), 'tel');
    await user.selectOptions(screen.getByLabelText('Email column'), '');
    await user.click(screen.getByRole('button', { name: '+ Attribute' }));
    await user.selectOptions(screen.getByLabelText('Attribute 2 column'), 'seats');
    await user.type(screen.getByLabelText('Attribute 2 name'), 'seats');
    await user.selectOptions(screen.getByLabelText('Attribute 2 type'), 'number');
    await user.click(screen.getByRole('button', { name: '+ Attribute' }));
    await user.click(screen.getByRole('button', { name: 'Remove attribute 3' }));
    expect(screen.queryByLabelText('Attribute 3 name')).toBeNull();
    // Only manual segments can be imported into.
    const target = screen.getByLabelText('Add to manual segment (optional)');
    expect(within(target).queryByText('Dyn')).toBeNull();
    await user.selectOptions(target, 'seg_m');

    await user.click(screen.getByRole('button', { name: 'Start import' }));
    expect(calls.find((c) => c.path === '/api/imports/imp_1/start')?.body).toEqual({
      mapping: {
        user_id: 'id',
        phone: 'tel',
        attributes: [
          { column: 'plan', name: 'plan', type: 'string' },
          { column: 'seats', name: 'seats', type: 'number' },
        ],
      },
      segment_id: 'seg_m',
    });

    const bar = screen.getByRole('progressbar', { name: 'Import progress' });
    await vi.waitFor(() => expect(bar.getAttribute('aria-valuenow')).toBe('100'), { timeout: 4000 });
    expect(screen.getByTestId('import-progress-text').textContent).toContain('2 of 2 rows (100%) · 1 created · 0 updated · 1 failed');
    expect(within(screen.getByRole('table', { name: 'Row errors' })).getByText('not a number')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Download failed rows (CSV)' })).toBeTruthy();
    expect(onFinished).toHaveBeenCalledTimes(1);
    // The list of past imports is read again once the run started and once it ended.
    await vi.waitFor(() => expect(calls.filter((c) => c.method === 'GET' && c.path === '/api/imports')).toHaveLength(3));
  });

  it('downloads failed rows through the API: a refusal shows, a file is saved under the name the server gave', async () => {
    const done = { ...base, id: 'imp_2', file_name: 'march.csv', status: 'completed', run: 2, processed_rows: 2, created_rows: 1, failed_rows: 1, percent: 100 };
    let gone = true;
    const { calls } = mockFetch({
      'GET /api/imports': () => json(200, { items: [done], next_cursor: '' }),
      'GET /api/imports/imp_2/failed_rows': () =>
        gone
          ? json(404, { error: 'not found in this workspace' })
          : new Response('email,error\nx,bad\n', { status: 200, headers: { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="march-failed.csv"' } }),
    });
    const saved: string[] = [];
    Object.assign(URL, { createObjectURL: vi.fn(() => 'blob:failed'), revokeObjectURL: vi.fn() });
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(`${this.download} ${this.href}`);
    });
    const user = userEvent.setup();
    render(<CsvImport />);
    const button = await screen.findByRole('button', { name: 'Download failed rows of march.csv' });
    await user.click(button);
    expect((await screen.findByRole('alert')).textContent).toBe('Download failed: not found in this workspace');
    expect(saved).toEqual([]);
    gone = false;
    await user.click(button);
    await vi.waitFor(() => expect(saved).toEqual(['march-failed.csv blob:failed']));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(calls.filter((c) => c.path === '/api/imports/imp_2/failed_rows')).toHaveLength(2);
  });

  it('lists past imports and shows one with its row errors and failed rows', async () => {
    const done = { ...base, id: 'imp_2', file_name: 'march.csv', status: 'completed', run: 2, processed_rows: 2, created_rows: 1, failed_rows: 1, percent: 100 };
    const { calls } = mockFetch({
      'GET /api/imports': (c) =>
        json(200, c.query.get('cursor')
          ? { items: [{ ...base, id: 'imp_3', file_name: 'old.csv', status: 'uploaded' }], next_cursor: '' }
          : { items: [done, { ...base, status: 'running', run: 1 }], next_cursor: 'c1' }),
      'GET /api/imports/imp_2': () => json(200, { ...done, errors: [{ row: 3, column: 'seats', message: '"x" is not a number' }] }),
    });
    const user = userEvent.setup();
    render(<CsvImport />);
    const list = await screen.findByRole('table', { name: 'Past imports' });
    const rows = within(list).getAllByRole('row').slice(1);
    expect(rows.map((r) => within(r).getAllByRole('cell')[0].textContent)).toEqual(['march.csv', 'people.csv']);
    expect(within(rows[0]).getByText('1 · 0 · 1')).toBeTruthy();
    expect(within(rows[0]).getByRole('button', { name: 'Download failed rows of march.csv' })).toBeTruthy();
    expect(within(rows[1]).queryByRole('button', { name: /Download failed rows/ })).toBeNull(); // running: no failed rows file yet

    await user.click(screen.getByRole('button', { name: 'More imports' }));
    expect(await within(list).findByText('old.csv')).toBeTruthy();
    expect(calls.at(-1)?.query.get('cursor')).toBe('c1');
    expect(screen.queryByRole('button', { name: 'Show import old.csv' })).toBeNull(); // never started
    expect(screen.getByRole('button', { name: 'Start old.csv' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Run march.csv again' })).toBeTruthy();
    expect(within(rows[1]).queryByRole('button', { name: /again|^Start/ })).toBeNull(); // running

    await user.click(screen.getByRole('button', { name: 'Show import march.csv' }));
    const progress = await screen.findByRole('region', { name: 'Import progress' });
    expect(within(progress).getByText('"x" is not a number')).toBeTruthy();
    expect(screen.getByTestId('import-progress-text').textContent).toContain('2 of 2 rows (100%) · 1 created · 0 updated · 1 failed');
  });

  it('starts a never-started upload with its suggested mapping, and runs an ended import again with its stored one', async () => {
    const fresh = { ...base, id: 'imp_3', file_name: 'old.csv', status: 'uploaded' };
    const done = { ...base, id: 'imp_2', file_name: 'march.csv', status: 'cancelled', run: 2, processed_rows: 1, created_rows: 1, percent: 50, segment_id: 'seg_m', mode: 'update_only' as const, mapping: { email: 'mail', attributes: [{ column: 'seats', name: 'seats', type: 'number' }] } };
    const detail = { errors: [], preview: uploaded.preview, suggested_mapping: uploaded.suggested_mapping };
    const { calls } = mockFetch({
      'GET /api/imports': () => json(200, { items: [done, fresh], next_cursor: '' }),
      'GET /api/imports/imp_3': () =>
        json(200, calls.some((c) => c.path === '/api/imports/imp_3/start') ? { ...fresh, ...detail, status: 'completed', run: 1, percent: 100 } : { ...fresh, ...detail }),
      'GET /api/imports/imp_2': () => json(200, { ...done, ...detail }),
      'POST /api/imports/imp_3/start': () => json(202, { ...fresh, status: 'running', run: 1 }),
      'POST /api/imports/imp_2/start': () => json(202, { ...done, status: 'running', run: 3 }),
    });
    const user = userEvent.setup();
    render(<CsvImport segments={[beta]} />);

    await user.click(await screen.findByRole('button', { name: 'Start old.csv' }));
    const preview = await screen.findByRole('table', { name: 'Preview' });
    expect(within(preview).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(base.headers);
    expect(within(preview).getByText('b@example.com')).toBeTruthy();
    expect((screen.getByLabelText('User ID column') as HTMLSelectElement).value).toBe('id');
    expect((screen.getByLabelText('Attribute 1 name') as HTMLInputElement).value).toBe('plan');
    expect((screen.getByLabelText('Rows to import') as HTMLSelectElement).value).toBe('upsert');
    await user.click(screen.getByRole('button', { name: 'Start import' }));
    expect(calls.find((c) => c.path === '/api/imports/imp_3/start')?.body).toEqual({ mapping: uploaded.suggested_mapping });
    // While it runs, no other import starts from here.
    expect(screen.queryByRole('button', { name: 'Run march.csv again' })).toBeNull();

    await user.click(await screen.findByRole('button', { name: 'Run march.csv again' }, { timeout: 4000 }));
    await vi.waitFor(() => expect((screen.getByLabelText('Email column') as HTMLSelectElement).value).toBe('mail'));
    expect((screen.getByLabelText('User ID column') as HTMLSelectElement).value).toBe('');
    expect((screen.getByLabelText('Attribute 1 column') as HTMLSelectElement).value).toBe('seats');
    expect((screen.getByLabelText('Add to manual segment (optional)') as HTMLSelectElement).value).toBe('seg_m');
    expect((screen.getByLabelText('Rows to import') as HTMLSelectElement).value).toBe('update_only');
    expect(screen.getByText(/run 2 ended cancelled/)).toBeTruthy();
    // Another mapping this time.
    await user.selectOptions(screen.getByLabelText('User ID column'), 'id');
    await user.click(screen.getByRole('button', { name: 'Start import' }));
    expect(calls.find((c) => c.path === '/api/imports/imp_2/start')?.body).toEqual({
      mapping: { user_id: 'id', email: 'mail', attributes: [{ column: 'seats', name: 'seats', type: 'number' }] },
      segment_id: 'seg_m',
      mode: 'update_only',
    });
  });

  it('counts rows in words with thousands separators throughout', () => {
    expect(rowCount(1)).toBe('1 row');
    expect(rowCount(0)).toBe('0 rows');
    expect(rowCount(12345)).toBe('12,345 rows');
    render(
      <ImportProgress
        imp={{ ...base, status: 'completed', run: 1, total_rows: 23456, processed_rows: 23456, created_rows: 12000, updated_rows: 10456, failed_rows: 1000, percent: 100, errors: [] }}
        onCancel={vi.fn()}
        cancelling={false}
      />,
    );
    expect(screen.getByTestId('import-progress-text').textContent).toBe('23,456 of 23,456 rows (100%) · 12,000 created · 10,456 updated · 1,000 failed');
  });

  it('lists the rows a run skipped for its mode among past imports', async () => {
    const skipping = { ...base, status: 'completed', run: 1, mode: 'create_only' as const, total_rows: 10, processed_rows: 10, created_rows: 1, skipped_rows: 9, percent: 100 };
    mockFetch({ 'GET /api/imports': () => json(200, { items: [skipping], next_cursor: '' }) });
    render(<CsvImport />);
    const list = await screen.findByRole('table', { name: 'Past imports' });
    expect(within(list).getByText(/1 · 0 · 0 · 9 skipped/)).toBeTruthy();
  });

  it('starts with the mode chosen, and tells what a mode skipped', async () => {
    const { calls } = mockFetch({
      'POST /api/imports': () => json(201, uploaded),
      'POST /api/imports/imp_1/start': () => json(202, { ...base, status: 'running', run: 1, mode: 'create_only' }),
      'GET /api/imports/imp_1': () =>
        json(200, { ...base, status: 'completed', run: 1, mode: 'create_only', processed_rows: 2, created_rows: 1, skipped_rows: 1, percent: 100, errors: [] }),
    });
    const user = userEvent.setup();
    render(<CsvImport segmentId="seg_m" />);
    await user.upload(screen.getByLabelText('CSV file'), new File(['id\nu1\n'], 'people.csv', { type: 'text/csv' }));
    await user.selectOptions(await screen.findByLabelText('Rows to import'), 'create_only');
    await user.click(screen.getByRole('button', { name: 'Start import' }));
    expect(calls.find((c) => c.path.endsWith('/start'))?.body).toEqual({ mapping: uploaded.suggested_mapping, segment_id: 'seg_m', mode: 'create_only' });
    await vi.waitFor(() => expect(screen.getByTestId('import-progress-text').textContent).toBe(
      '2 of 2 rows (100%) · 1 created · 0 updated · 0 failed · 1 skipped (customers who already existed)'), { timeout: 4000 });
  });

  it('cancels a running import', async () => {
    const { calls } = mockFetch({
      'POST /api/imports': () => json(201, uploaded),
      'POST /api/imports/imp_1/start': () => json(202, { ...base, status: 'running', run: 1 }),
      'POST /api/imports/imp_1/cancel': () => json(200, { ...base, status: 'cancelled', run: 1 }),
      'GET /api/imports/imp_1': () => json(200, { ...base, status: calls.some((c) => c.path.endsWith('/cancel')) ? 'cancelled' : 'running', run: 1, errors: [] }),
    });
    const user = userEvent.setup();
    render(<CsvImport segmentId="seg_m" />);
    await user.upload(screen.getByLabelText('CSV file'), new File(['id\nu1\n'], 'people.csv', { type: 'text/csv' }));
    expect(screen.queryByLabelText('Add to manual segment (optional)')).toBeNull();
    await user.click(await screen.findByRole('button', { name: 'Start import' }));
    expect(calls.find((c) => c.path.endsWith('/start'))?.body).toMatchObject({ segment_id: 'seg_m' });
    await user.click(screen.getByRole('button', { name: 'Cancel import' }));
    expect(await screen.findByText('cancelled')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Cancel import' })).toBeNull();
  });

  it('shows why an upload was refused', async () => {
    mockFetch({
      'GET /api/imports': () => json(200, { items: [] }),
      'POST /api/imports': () => json(400, { error: 'the file has no header row', field: 'file' }),
    });
    const user = userEvent.setup();
    render(<CsvImport />);
    await user.upload(screen.getByLabelText('CSV file'), new File([''], 'empty.csv', { type: 'text/csv' }));
    expect((await screen.findByRole('alert')).textContent).toBe('the file has no header row');
  });
});

describe('ManualMembers', () => {
  const ada = {
    id: 'cus_1',
    external_id: 'ada',
    anonymous_ids: [],
    email: 'ada@example.com',
    phone: null,
    timezone: null,
    attributes: {},
    created_at: '2026-01-01T10:00:00Z',
    updated_at: '2026-01-01T10:00:00Z',
  };

  it('splits typed ids', () => {
    expect(parseIds(' ada, bob\ncarl  ada ')).toEqual(['ada', 'bob', 'carl']);
  });

  it('lists members, adds by user id and shows the unknown ids, removes a member', async () => {
    let members = [ada];
    const { calls } = mockFetch({
      'GET /api/segments/seg_m/members': () => json(200, { items: members }),
      'POST /api/segments/seg_m/members': () => {
        members = [ada, { ...ada, id: 'cus_2', external_id: 'bob', email: 'bob@example.com' }];
        return json(200, { added: 1, already_members: 1, unknown_ids: ['nobody'] });
      },
      'DELETE /api/segments/seg_m/members': () => {
        members = members.filter((m) => m.id !== 'cus_1');
        return json(200, { removed: 1, not_members: 0, unknown_ids: [] });
      },
    });
    const navigate = vi.fn();
    const user = userEvent.setup();
    render(<ManualMembers id="seg_m" navigate={navigate} />);

    const list = await screen.findByRole('region', { name: 'Members' });
    expect(await within(list).findByRole('rowheader', { name: 'ada' })).toBeTruthy();

    await user.type(screen.getByLabelText('Customer or user IDs'), 'bob, ada\nnobody');
    await user.click(screen.getByRole('button', { name: 'Add members' }));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ customer_ids: ['bob', 'ada', 'nobody'] });
    expect((await screen.findByTestId('unknown-ids')).textContent).toBe('No customer has the ID nobody.');
    expect(screen.getByText('Added 1; 1 already members.')).toBeTruthy();
    expect(await within(list).findByRole('rowheader', { name: 'bob' })).toBeTruthy();

    await user.click(within(list).getByRole('button', { name: 'Remove ada' }));
    expect(calls.find((c) => c.method === 'DELETE')?.body).toEqual({ customer_ids: ['cus_1'] });
    expect(await screen.findByText('Removed 1; 0 were not members.')).toBeTruthy();
    await vi.waitFor(() => expect(within(list).queryByRole('rowheader', { name: 'ada' })).toBeNull());
    expect(screen.queryByTestId('unknown-ids')).toBeNull();

    await user.click(within(list).getByRole('link', { name: 'bob' }));
    expect(navigate).toHaveBeenCalledWith('/customers/cus_2');
  });
});
