// Audiences: the segment list, a builder for dynamic segments with a live
// count and sample of matching customers while editing, manual segments
// with their members, and CSV imports of customers.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import * as api from '../api.ts';
import type { Condition, Customer, Segment } from '../api.ts';
import { ConditionBuilder } from '../conditions/ConditionBuilder.tsx';
import { ConfirmDialog } from '../ConfirmDialog.tsx';
import { formatTime } from '../journey/RunsPanel.tsx';
import { linkHandler } from '../router.ts';
import { customerLabel } from './CustomersPage.tsx';
import { CsvImport } from './CsvImport.tsx';
import { EmptyPage } from './EmptyPage.tsx';
import { ManualMembers } from './ManualSegment.tsx';
import { BackLink, CreateForm, errorText, ListError, ListLoading, ListTable, LoadFailed, RowLink, useList } from './ListState.tsx';

const PREVIEW_DELAY_MS = 400;

export function AudiencesPage({ navigate, canEdit = true }: { navigate: (to: string) => void; canEdit?: boolean }) {
  const { list, error, load } = useList(api.listSegments);
  const [manualName, setManualName] = useState<string | null>(null);
  const [createError, setCreateError] = useState('');

  const createManual = async (e: FormEvent) => {
    e.preventDefault();
    setCreateError('');
    try {
      const s = await api.createManualSegment((manualName ?? '').trim());
      navigate(`/audiences/${encodeURIComponent(s.id)}`);
    } catch (err) {
      setCreateError(errorText(err));
    }
  };

  const newButton = (
    <div className="page-actions">
      {canEdit ? (
        <>
          <a href="/audiences/new" className="btn btn-primary" onClick={linkHandler('/audiences/new', navigate)}>
            New segment
          </a>
          <button type="button" className="btn btn-secondary" onClick={() => setManualName('')}>
            New manual segment
          </button>
        </>
      ) : (
        <span className="muted small">Creating segments needs the editor role.</span>
      )}
      {canEdit ? (
        <a href="/audiences/import" className="btn btn-secondary" onClick={linkHandler('/audiences/import', navigate)}>
          Import CSV
        </a>
      ) : (
        <span className="muted small">Importing customers needs the editor role.</span>
      )}
    </div>
  );
  const manualForm = manualName !== null && (
    <CreateForm label="New manual segment" submitLabel="Create manual segment" canSubmit={!!manualName.trim()} error={createError} onSubmit={createManual}>
      <label className="field field-grow">
        <span className="field-label">Manual segment name</span>
        <input value={manualName} onChange={(e) => setManualName(e.target.value)} required placeholder="e.g. Beta testers" />
      </label>
    </CreateForm>
  );
  if (error) return <ListError message={error} onRetry={() => void load()} />;
  if (list === null) return <ListLoading what="segments" />;
  if (list.length === 0 && manualName === null) {
    return (
      <EmptyPage
        title="No audiences yet"
        text="A segment is the set of customers matching conditions on their attributes, events and other segments; journeys and branches use them. A manual segment holds the customers you add by ID or import from a CSV file."
        action={newButton}
      />
    );
  }
  return (
    <div className="page-stack">
      {newButton}
      {manualForm}
      <ListTable columns={['Name', 'Kind', 'Updated']}>
        {list.map((s) => (
          <tr key={s.id}>
            <RowLink to={`/audiences/${encodeURIComponent(s.id)}`} navigate={navigate}>
              {s.name}
            </RowLink>
            <td>{s.kind}</td>
            <td className="nowrap">{formatTime(s.updated_at)}</td>
          </tr>
        ))}
      </ListTable>
    </div>
  );
}

type Preview = { state: 'idle' } | { state: 'loading' } | { state: 'ok'; count: number; sample: Customer[] } | { state: 'error'; message: string };

/** Creates (id "new") or edits a dynamic segment. */
export function SegmentEditor({ id, navigate, canEdit = true }: { id: string; navigate: (to: string) => void; canEdit?: boolean }) {
  const isNew = id === 'new';
  const [name, setName] = useState('');
  const [condition, setCondition] = useState<Condition>({ all: [] });
  const [kind, setKind] = useState<'dynamic' | 'manual'>('dynamic');
  const [segments, setSegments] = useState<Segment[]>([]);
  const [loaded, setLoaded] = useState(isNew);
  const [loadError, setLoadError] = useState('');
  const [preview, setPreview] = useState<Preview>({ state: 'idle' });
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState('');
  const [saved, setSaved] = useState('');
  const previewSeq = useRef(0);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleteError, setDeleteError] = useState('');

  const remove = async () => {
    try {
      await api.deleteSegment(id);
      navigate('/audiences');
    } catch (err) {
      setDeleteError(errorText(err));
    }
  };

  useEffect(() => {
    let stop = false;
    (async () => {
      try {
        const all = await api.listSegments();
        if (stop) return;
        setSegments(all.filter((s) => s.id !== id));
        if (!isNew) {
          const s = await api.getSegment(id);
          if (stop) return;
          setName(s.name);
          setKind(s.kind);
          if (s.condition) setCondition(s.condition);
          setLoaded(true);
        }
      } catch (err) {
        if (!stop) setLoadError(errorText(err));
      }
    })();
    return () => {
      stop = true;
    };
  }, [id, isNew]);

  // Live count and sample, debounced while the condition changes.
  useEffect(() => {
    if (!loaded || kind !== 'dynamic') return;
    const empty = ('all' in condition && condition.all.length === 0) || ('any' in condition && condition.any.length === 0);
    if (empty) {
      setPreview({ state: 'idle' });
      return;
    }
    const seq = ++previewSeq.current;
    const timer = setTimeout(async () => {
      setPreview({ state: 'loading' });
      try {
        const p = await api.previewSegment(condition);
        if (seq === previewSeq.current) setPreview({ state: 'ok', count: p.count, sample: p.sample ?? [] });
      } catch (err) {
        if (seq === previewSeq.current) setPreview({ state: 'error', message: errorText(err) });
      }
    }, PREVIEW_DELAY_MS);
    return () => clearTimeout(timer);
  }, [condition, loaded, kind]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setSaving(true);
    setSaveError('');
    setSaved('');
    try {
      const s = isNew ? await api.createSegment(name.trim(), condition) : await api.updateSegment(id, name.trim(), condition);
      setSaved('Segment saved.');
      if (isNew) navigate(`/audiences/${encodeURIComponent(s.id)}`);
    } catch (err) {
      setSaveError(errorText(err));
    } finally {
      setSaving(false);
    }
  };

  const deleteDialog = confirmDelete && (
    <ConfirmDialog
      title="Delete segment?"
      confirmLabel="Delete segment"
      danger
      error={deleteError}
      onConfirm={() => void remove()}
      onCancel={() => {
        setConfirmDelete(false);
        setDeleteError('');
      }}
    >
      <p>
        <strong>{name}</strong> will be deleted. Segments that reference it must be changed first.
      </p>
    </ConfirmDialog>
  );

  const back = <BackLink to="/audiences" label="Audiences" navigate={navigate} />;
  if (loadError) return <LoadFailed back={back} message={loadError} />;
  if (!loaded) return <ListLoading what="segment" />;
  if (kind === 'manual') {
    return (
      <div className="page-stack">
        <div className="editor-bar">
          {back}
          <h2 className="editor-title">{name}</h2>
          <span className="badge">manual</span>
          <div className="editor-actions">
            {canEdit ? (
              <button type="button" className="btn btn-danger-ghost btn-small" onClick={() => setConfirmDelete(true)}>
                Delete
              </button>
            ) : (
              <span className="muted small">Changing segments needs the editor role.</span>
            )}
          </div>
        </div>
        <p className="muted">A manual segment: its members are the customers added here, through the API or by a CSV import.</p>
        <ManualMembers id={id} navigate={navigate} canEdit={canEdit} />
        {deleteDialog}
      </div>
    );
  }
  return (
    <form className="page-stack" aria-label={isNew ? 'New segment' : `Segment ${name}`} onSubmit={save}>
      <div className="editor-bar">
        {back}
        <h2 className="editor-title">{isNew ? 'New segment' : name}</h2>
        {saved && (
          <span className="editor-message ok" role="status">
            {saved}
          </span>
        )}
        <div className="editor-actions">
          {canEdit ? (
            <>
              {!isNew && (
                <button type="button" className="btn btn-danger-ghost btn-small" onClick={() => setConfirmDelete(true)}>
                  Delete
                </button>
              )}
              <button type="submit" className="btn btn-primary btn-small" disabled={saving || !name.trim()}>
                {isNew ? 'Create segment' : 'Save segment'}
              </button>
            </>
          ) : (
            <span className="muted small">Changing segments needs the editor role.</span>
          )}
        </div>
      </div>
      {saveError && (
        <p className="error-text" role="alert">
          {saveError}
        </p>
      )}
      <div className="segment-grid">
        <div className="panel segment-main">
          <label className="field">
            <span className="field-label">Segment name</span>
            <input value={name} onChange={(e) => setName(e.target.value)} required placeholder="e.g. Active pro customers" />
          </label>
          <h3 className="side-sub">Customers who match</h3>
          <ConditionBuilder label="Segment condition" scope="segment" segments={segments} value={condition} onChange={setCondition} />
        </div>
        <section className="panel segment-preview" aria-label="Preview" aria-live="polite">
          <h3 className="side-sub">Matching now</h3>
          {preview.state === 'idle' && <p className="muted">Add a condition to see who matches.</p>}
          {preview.state === 'loading' && <p className="muted">Counting…</p>}
          {preview.state === 'error' && <p className="error-text">{preview.message}</p>}
          {preview.state === 'ok' && (
            <>
              <p className="big-count" data-testid="segment-count">
                {preview.count.toLocaleString('en-US')}
              </p>
              <p className="muted">{preview.count === 1 ? 'customer' : 'customers'}</p>
              {preview.sample.length > 0 && (
                <ul className="sample-list" aria-label="Sample">
                  {preview.sample.map((c) => (
                    <li key={c.id}>
                      <a href={`/customers/${encodeURIComponent(c.id)}`} onClick={linkHandler(`/customers/${encodeURIComponent(c.id)}`, navigate)}>
                        {customerLabel(c)}
                      </a>
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
        </section>
      </div>
      {deleteDialog}
    </form>
  );
}

/** Audiences → Import CSV: an import, optionally into a manual segment. */
export function ImportPage({ navigate, canEdit = true }: { navigate: (to: string) => void; canEdit?: boolean }) {
  const { list } = useList(api.listSegments);
  return (
    <div className="page-stack">
      <div className="editor-bar">
        <BackLink to="/audiences" label="Audiences" navigate={navigate} />
        <h2 className="editor-title">Import customers</h2>
      </div>
      <CsvImport segments={list ?? []} canEdit={canEdit} />
    </div>
  );
}
