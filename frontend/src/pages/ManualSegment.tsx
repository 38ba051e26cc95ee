// A manual segment: its members listed, added and removed by customer id or
// user id (ids that match nobody are shown), and a CSV import into it.
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import * as api from '../api.ts';
import type { Customer, MembersChange } from '../api.ts';
import { CUSTOMER_COLUMNS, CustomerCells, customerLabel } from './CustomersPage.tsx';
import { CsvImport } from './CsvImport.tsx';
import { errorText, ListError, ListLoading, ListTable } from './ListState.tsx';

/** Splits typed ids on commas, spaces and new lines. */
export function parseIds(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

function changeText(c: MembersChange): string {
  if (c.added !== undefined) return `Added ${c.added}; ${c.already_members ?? 0} already members.`;
  return `Removed ${c.removed ?? 0}; ${c.not_members ?? 0} were not members.`;
}

/** The members of a manual segment with add, remove and import. */
export function ManualMembers({ id, navigate, canEdit = true }: { id: string; navigate: (to: string) => void; canEdit?: boolean }) {
  const [list, setList] = useState<Customer[] | null>(null);
  const [next, setNext] = useState('');
  const [error, setError] = useState('');
  const [ids, setIds] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ text: string; unknown: string[] } | null>(null);
  const [changeError, setChangeError] = useState('');

  const load = useCallback(async () => {
    setError('');
    try {
      const page = await api.segmentMembers(id);
      setList(page.items);
      setNext(page.next);
    } catch (err) {
      setError(errorText(err));
    }
  }, [id]);

  useEffect(() => {
    void load();
  }, [load]);

  const loadMore = async () => {
    try {
      const page = await api.segmentMembers(id, next);
      setList((l) => [...(l ?? []), ...page.items]);
      setNext(page.next);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const change = async (add: boolean, which: string[]) => {
    if (which.length === 0) return;
    setBusy(true);
    setResult(null);
    setChangeError('');
    try {
      const res = add ? await api.addSegmentMembers(id, which) : await api.removeSegmentMembers(id, which);
      setResult({ text: changeText(res), unknown: res.unknown_ids ?? [] });
      if (add) setIds('');
      await load();
    } catch (err) {
      setChangeError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const onAdd = (e: FormEvent) => {
    e.preventDefault();
    void change(true, parseIds(ids));
  };

  return (
    <div className="page-stack">
      {!canEdit && (
        <p className="notice" role="note">
          Adding and removing members needs the editor role; ask a workspace owner.
        </p>
      )}
      {canEdit && (
        <form className="panel" aria-label="Change members" onSubmit={onAdd}>
          <label className="field">
            <span className="field-label">Customer or user IDs</span>
            <textarea rows={3} value={ids} onChange={(e) => setIds(e.target.value)} placeholder="One a line, or separated by commas" />
          </label>
          <div className="form-actions">
            <button type="submit" className="btn btn-primary btn-small" disabled={busy || parseIds(ids).length === 0}>
              Add members
            </button>
            <button type="button" className="btn btn-secondary btn-small" disabled={busy || parseIds(ids).length === 0} onClick={() => void change(false, parseIds(ids))}>
              Remove members
            </button>
          </div>
          {result && (
            <div role="status">
              <p className="editor-message ok">{result.text}</p>
              {result.unknown.length > 0 && (
                <p className="error-text" data-testid="unknown-ids">
                  No customer has the ID{result.unknown.length === 1 ? '' : 's'} {result.unknown.join(', ')}.
                </p>
              )}
            </div>
          )}
          {changeError && (
            <p className="error-text" role="alert">
              {changeError}
            </p>
          )}
        </form>
      )}
      <section aria-label="Members" className="page-stack">
        <h3 className="side-sub">Members</h3>
        {error ? (
          <ListError message={error} onRetry={() => void load()} />
        ) : list === null ? (
          <ListLoading what="members" />
        ) : list.length === 0 ? (
          <p className="list-state panel">No members yet: add customers by ID or import a CSV file.</p>
        ) : (
          <ListTable
            columns={canEdit ? [...CUSTOMER_COLUMNS, ''] : CUSTOMER_COLUMNS}
            footer={
              next && (
                <div className="list-state">
                  <button type="button" className="btn btn-secondary" onClick={() => void loadMore()}>
                    Load more
                  </button>
                </div>
              )
            }
          >
            {list.map((c) => (
              <tr key={c.id}>
                <CustomerCells c={c} navigate={navigate} />
                {canEdit && (
                  <td>
                    <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove ${customerLabel(c)}`} disabled={busy} onClick={() => void change(false, [c.id])}>
                      Remove
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </ListTable>
        )}
      </section>
      <CsvImport segmentId={id} onFinished={() => void load()} canEdit={canEdit} />
    </div>
  );
}
