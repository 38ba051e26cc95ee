// A CSV import of customers (docs/import.md): upload a file, check its first
// rows and the mapping the server suggests, edit the mapping, optionally
// choose a manual segment to add the rows to, start, and follow the
// progress (polled) with the rows that failed; a running import can be
// cancelled.
import { Fragment, useEffect, useId, useRef, useState, type ChangeEvent, type ReactNode } from 'react';
import * as api from '../api.ts';
import type { AttributeType, Import, ImportDetail, ImportMapping, ImportMode, ImportRowError, Segment, UploadedImport } from '../api.ts';
import { formatTime } from '../journey/RunsPanel.tsx';
import { ProgressBar } from '../ProgressBar.tsx';
import { saveFile } from '../saveFile.ts';
import { errorText } from './ListState.tsx';

const POLL_MS = 1000;

/** Why a run in each mode skips rows. */
const MODE_SKIPS: Record<ImportMode, string> = {
  upsert: 'none',
  create_only: 'customers who already existed',
  update_only: 'customers who do not exist',
};
/** Files the picker offers: the importer reads comma-, semicolon- and tab-separated text. */
export const FILE_TYPES = '.csv,.tsv,.txt,text/csv,text/tab-separated-values,text/plain';
const TYPES: AttributeType[] = ['string', 'number', 'boolean', 'time'];
const KEYS = [
  ['user_id', 'User ID column'],
  ['email', 'Email column'],
  ['phone', 'Phone column'],
  ['timezone', 'Time zone column'],
] as const;

/**
 * The mapping as the API wants it: unmapped fields and blank attribute rows
 * left out. Half-filled rows are not dropped here: attributeProblems marks
 * them and the import cannot start until they are completed or removed.
 */
export function cleanMapping(m: ImportMapping): ImportMapping {
  const out: ImportMapping = {};
  for (const [k] of KEYS) if (m[k]) out[k] = m[k];
  const attrs = (m.attributes ?? []).filter((a) => a.column || a.name.trim()).map((a) => ({ ...a, name: a.name.trim() }));
  if (attrs.length) out.attributes = attrs;
  return out;
}

/**
 * What is wrong with each attribute row, '' when nothing: a row with a column
 * but no name (or a name but no column) would import nothing. A blank row is
 * left out and is not a problem.
 */
export function attributeProblems(m: ImportMapping): string[] {
  return (m.attributes ?? []).map((a) => {
    const named = a.name.trim() !== '';
    if (a.column && !named) return `Name the attribute that column ${a.column} is stored as, or remove the row.`;
    if (!a.column && named) return `Choose the column that holds ${a.name.trim()}, or remove the row.`;
    return '';
  });
}

/** Whether the mapping can start an import: a key column and no half-filled attribute row. */
export function mappingReady(m: ImportMapping): boolean {
  return (!!m.user_id || !!m.email) && attributeProblems(m).every((p) => !p);
}

/** "1 row", "2,500 rows". */
export function rowCount(n: number): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? 'row' : 'rows'}`;
}

/** Edits which column holds the user id, email, phone, time zone and attributes. */
export function MappingForm({ headers, value, onChange }: { headers: string[]; value: ImportMapping; onChange: (m: ImportMapping) => void }) {
  const attrs = value.attributes ?? [];
  const problems = attributeProblems(value);
  const formId = useId();
  const setAttr = (i: number, p: Partial<(typeof attrs)[number]>) => onChange({ ...value, attributes: attrs.map((a, j) => (j === i ? { ...a, ...p } : a)) });
  const columnOptions = (
    <>
      <option value="">— none —</option>
      {headers.map((h) => (
        <option key={h} value={h}>
          {h}
        </option>
      ))}
    </>
  );
  return (
    <fieldset className="side-fields" aria-label="Mapping">
      <legend className="field-label">Columns</legend>
      <div className="field-row">
        {KEYS.map(([k, label]) => (
          <label key={k} className="field field-select">
            <span className="field-label">{label}</span>
            <select value={value[k] ?? ''} onChange={(e) => onChange({ ...value, [k]: e.target.value || undefined })}>
              {columnOptions}
            </select>
          </label>
        ))}
      </div>
      {!value.user_id && !value.email && <p className="error-text">Map a user ID or an email column: rows are matched to customers by one of them.</p>}
      <table className="table" aria-label="Attributes">
        <thead>
          <tr>
            <th scope="col">Column</th>
            <th scope="col">Attribute name</th>
            <th scope="col">Type</th>
            <th scope="col">
              <span className="visually-hidden">Remove</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {attrs.map((a, i) => {
            const problem = problems[i];
            const problemId = `${formId}-attr-${i}`;
            const describedBy = problem ? problemId : undefined;
            return (
              <Fragment key={i}>
                <tr className={problem ? 'row-invalid' : undefined}>
                  <td>
                    <select
                      aria-label={`Attribute ${i + 1} column`}
                      aria-invalid={problem && !a.column ? true : undefined}
                      aria-describedby={describedBy}
                      value={a.column}
                      onChange={(e) => setAttr(i, { column: e.target.value })}
                    >
                      {columnOptions}
                    </select>
                  </td>
                  <td>
                    <input
                      aria-label={`Attribute ${i + 1} name`}
                      aria-invalid={problem && !a.name.trim() ? true : undefined}
                      aria-describedby={describedBy}
                      value={a.name}
                      onChange={(e) => setAttr(i, { name: e.target.value })}
                    />
                  </td>
                  <td>
                    <select aria-label={`Attribute ${i + 1} type`} value={a.type ?? 'string'} onChange={(e) => setAttr(i, { type: e.target.value as AttributeType })}>
                      {TYPES.map((t) => (
                        <option key={t} value={t}>
                          {t}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <button
                      type="button"
                      className="btn btn-ghost btn-small"
                      aria-label={`Remove attribute ${i + 1}`}
                      onClick={() => onChange({ ...value, attributes: attrs.filter((_, j) => j !== i) })}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
                {problem && (
                  <tr>
                    <td colSpan={4}>
                      <p id={problemId} className="error-text" data-testid={`attribute-${i + 1}-problem`}>
                        {problem}
                      </p>
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
      <div>
        <button type="button" className="btn btn-secondary btn-small" onClick={() => onChange({ ...value, attributes: [...attrs, { column: '', name: '', type: 'string' }] })}>
          + Attribute
        </button>
      </div>
    </fieldset>
  );
}

/** Progress of an import run: a bar, the counts and the row errors. */
export function ImportProgress({ imp, onCancel, cancelling }: { imp: ImportDetail; onCancel: () => void; cancelling: boolean }) {
  const [more, setMore] = useState<ImportRowError[]>([]);
  const [next, setNext] = useState('');
  const [moreError, setMoreError] = useState('');
  const shown = [...(imp.errors ?? []), ...more];
  const loadMore = async () => {
    try {
      const last = shown.length ? String(shown[shown.length - 1].row) : undefined;
      const page = await api.importErrors(imp.id, next || last);
      setMore((m) => [...m, ...page.items]);
      setNext(page.next);
    } catch (err) {
      setMoreError(errorText(err));
    }
  };
  return (
    <section className="import-progress" aria-label="Import progress">
      <div className="progress-head">
        <strong>{imp.file_name}</strong> <span className={`badge status-badge status-${imp.status}`}>{imp.status}</span>
      </div>
      <ProgressBar label="Import progress" percent={imp.percent} />
      <p data-testid="import-progress-text">
        {imp.processed_rows.toLocaleString('en-US')} of {rowCount(imp.total_rows)} ({imp.percent}%) · {imp.created_rows.toLocaleString('en-US')} created ·{' '}
        {imp.updated_rows.toLocaleString('en-US')} updated · {imp.failed_rows.toLocaleString('en-US')} failed
        {imp.skipped_rows > 0 && <> · {imp.skipped_rows.toLocaleString('en-US')} skipped ({MODE_SKIPS[imp.mode]})</>}
      </p>
      {imp.error && (
        <p className="error-text" role="alert">
          {imp.error}
        </p>
      )}
      {imp.status === 'running' && (
        <button type="button" className="btn btn-danger-ghost btn-small" onClick={onCancel} disabled={cancelling}>
          {cancelling ? 'Cancelling…' : 'Cancel import'}
        </button>
      )}
      {shown.length > 0 && (
        <div className="table-wrap">
          <table className="table" aria-label="Row errors">
            <thead>
              <tr>
                <th scope="col">Row</th>
                <th scope="col">Column</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={`${e.row}-${e.column}`}>
                  <td>{e.row}</td>
                  <td>{e.column || '—'}</td>
                  <td>{e.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length < imp.failed_rows && imp.status !== 'running' && (
            <button type="button" className="btn btn-secondary btn-small" onClick={() => void loadMore()}>
              More row errors
            </button>
          )}
          {imp.failed_rows > 0 && imp.status !== 'running' && (
            <FailedRowsDownload id={imp.id} className="btn btn-secondary btn-small">
              Download failed rows (CSV)
            </FailedRowsDownload>
          )}
          {moreError && <p className="error-text">{moreError}</p>}
        </div>
      )}
    </section>
  );
}

/** Downloads an import's failed rows through the API, so a refusal shows here. */
function FailedRowsDownload({ id, className, label, children }: { id: string; className: string; label?: string; children: ReactNode }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const download = async () => {
    setBusy(true);
    setError('');
    try {
      const file = await api.failedRows(id);
      saveFile(file.blob, file.fileName);
    } catch (err) {
      setError(`Download failed: ${errorText(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className={className} aria-label={label} disabled={busy} onClick={() => void download()}>
        {children}
      </button>
      {error && (
        <span className="error-text" role="alert">
          {error}
        </span>
      )}
    </>
  );
}

/**
 * The workspace's imports, newest first; Show opens one's progress and row
 * errors, Start (never started) and Run again (ended) open its mapping.
 */
export function PastImports({ version, onShow, onStart }: { version: number; onShow: (id: string) => void; onStart?: (id: string) => void }) {
  const [items, setItems] = useState<Import[] | null>(null);
  const [next, setNext] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    let stop = false;
    api.listImports().then(
      (page) => {
        if (stop) return;
        setItems(page.items);
        setNext(page.next);
        setError('');
      },
      (err) => !stop && setError(errorText(err)),
    );
    return () => {
      stop = true;
    };
  }, [version]);
  const loadMore = async () => {
    try {
      const page = await api.listImports(next);
      setItems((list) => [...(list ?? []), ...page.items]);
      setNext(page.next);
    } catch (err) {
      setError(errorText(err));
    }
  };
  if (error) return <p className="error-text">Past imports: {error}</p>;
  if (!items || items.length === 0) return null;
  return (
    <div className="table-wrap">
      <h4 className="side-sub">Past imports</h4>
      <table className="table" aria-label="Past imports">
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Status</th>
            <th scope="col">Uploaded</th>
            <th scope="col">Rows</th>
            <th scope="col">Created · updated · failed</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((imp) => (
            <tr key={imp.id}>
              <td>{imp.file_name}</td>
              <td>
                <span className={`badge status-badge status-${imp.status}`}>{imp.status}</span>
              </td>
              <td className="nowrap">{formatTime(imp.created_at)}</td>
              <td>{imp.total_rows.toLocaleString('en-US')}</td>
              <td>
                {imp.run > 0 ? [imp.created_rows, imp.updated_rows, imp.failed_rows].map((n) => n.toLocaleString('en-US')).join(' · ') : 'not started'}
                {imp.run > 0 && imp.skipped_rows > 0 && <> · {imp.skipped_rows.toLocaleString('en-US')} skipped</>}
              </td>
              <td className="nowrap">
                {imp.run > 0 && (
                  <button type="button" className="btn btn-ghost btn-small" aria-label={`Show import ${imp.file_name}`} onClick={() => onShow(imp.id)}>
                    Show
                  </button>
                )}
                {onStart && imp.status !== 'running' && (
                  <button
                    type="button"
                    className="btn btn-ghost btn-small"
                    aria-label={imp.run > 0 ? `Run ${imp.file_name} again` : `Start ${imp.file_name}`}
                    onClick={() => onStart(imp.id)}
                  >
                    {imp.run > 0 ? 'Run again' : 'Start'}
                  </button>
                )}
                {imp.failed_rows > 0 && imp.status !== 'running' && (
                  <FailedRowsDownload id={imp.id} className="btn btn-ghost btn-small" label={`Download failed rows of ${imp.file_name}`}>
                    Failed rows
                  </FailedRowsDownload>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {next && (
        <button type="button" className="btn btn-secondary btn-small" onClick={() => void loadMore()}>
          More imports
        </button>
      )}
    </div>
  );
}

interface CsvImportProps {
  /** Import into this manual segment (no choice shown). */
  segmentId?: string;
  /** Manual segments offered when segmentId is not set. */
  segments?: Segment[];
  /** Called when a run ends (completed, failed or cancelled). */
  onFinished?: (imp: ImportDetail) => void;
  /** Whether the session may import (editor or owner); viewers see the past imports only. */
  canEdit?: boolean;
}

/** Upload, map, start and follow a CSV import. */
export function CsvImport({ segmentId, segments = [], onFinished, canEdit = true }: CsvImportProps) {
  const fileId = useId();
  const [uploaded, setUploaded] = useState<UploadedImport | null>(null);
  const [mapping, setMapping] = useState<ImportMapping>({});
  const [target, setTarget] = useState('');
  const [mode, setMode] = useState<ImportMode>('upsert');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [run, setRun] = useState<ImportDetail | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [version, setVersion] = useState(0);
  const finished = useRef(onFinished);
  finished.current = (d: ImportDetail) => {
    setVersion((v) => v + 1);
    onFinished?.(d);
  };

  const onFile = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (!file) return;
    setBusy(true);
    setError('');
    setRun(null);
    try {
      const up = await api.uploadImport(file, file.name);
      setUploaded(up);
      setMapping(up.suggested_mapping ?? {});
      setMode('upsert');
    } catch (err) {
      setUploaded(null);
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const start = async () => {
    if (!uploaded) return;
    setBusy(true);
    setError('');
    try {
      const imp = await api.startImport(uploaded.id, cleanMapping(mapping), segmentId || target || undefined, mode);
      setRun({ ...imp, errors: [] });
      setVersion((v) => v + 1);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const runId = run?.id;
  const running = run?.status === 'running';
  useEffect(() => {
    if (!runId || !running) return;
    let stop = false;
    const timer = setInterval(async () => {
      try {
        const d = await api.getImport(runId);
        if (stop) return;
        setRun(d);
        if (d.status !== 'running') finished.current?.(d);
      } catch (err) {
        if (!stop) setError(errorText(err));
      }
    }, POLL_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [runId, running]);

  const cancel = async () => {
    if (!run) return;
    setCancelling(true);
    try {
      await api.cancelImport(run.id);
      const d = await api.getImport(run.id);
      setRun(d);
      if (d.status !== 'running') finished.current?.(d);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setCancelling(false);
    }
  };

  const show = async (id: string) => {
    setError('');
    try {
      const d = await api.getImport(id);
      setUploaded(null);
      setRun(d);
    } catch (err) {
      setError(errorText(err));
    }
  };

  // An earlier upload opens its mapping again: the one its last run used,
  // else the suggested one, over the file's headers and first rows.
  const startAgain = async (id: string) => {
    setError('');
    try {
      const d = await api.getImport(id);
      setRun(null);
      setUploaded({ ...d, preview: d.preview ?? [], suggested_mapping: d.suggested_mapping ?? {} });
      setMapping(d.mapping ?? d.suggested_mapping ?? {});
      setMode(d.mode ?? 'upsert');
      if (!segmentId) setTarget(d.segment_id ?? '');
    } catch (err) {
      setError(errorText(err));
    }
  };

  const manual = segments.filter((s) => s.kind === 'manual');
  return (
    <section className="panel csv-import" aria-label="Import customers from CSV">
      <h3 className="side-sub">Import customers from a CSV file</h3>
      <div className="field">
        <label className="field-label" htmlFor={fileId}>
          CSV file
        </label>
        <input id={fileId} type="file" accept={FILE_TYPES} onChange={(e) => void onFile(e)} disabled={busy || running || !canEdit} />
        <span className="field-help">A header row first, values separated by commas, semicolons or tabs; rows are matched to customers by user ID or email.</span>
      </div>
      {!canEdit && (
        <p className="notice" role="note">
          Importing customers needs the editor role; ask a workspace owner.
        </p>
      )}
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {uploaded && !run && (
        <>
          <p>
            <strong>{uploaded.file_name}</strong>: {rowCount(uploaded.total_rows)}
            {uploaded.run > 0 && <> · run {uploaded.run} ended {uploaded.status}; starting it again applies the file with the mapping below</>}
          </p>
          <div className="table-wrap">
            <table className="table" aria-label="Preview">
              <thead>
                <tr>
                  {uploaded.headers.map((h) => (
                    <th key={h} scope="col">
                      {h}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {(uploaded.preview ?? []).map((row, i) => (
                  <tr key={i}>
                    {uploaded.headers.map((h, j) => (
                      <td key={h}>{row[j] ?? ''}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <MappingForm headers={uploaded.headers} value={mapping} onChange={setMapping} />
          <label className="field field-select">
            <span className="field-label">Rows to import</span>
            <select value={mode} onChange={(e) => setMode(e.target.value as ImportMode)}>
              <option value="upsert">Create new customers and update existing ones</option>
              <option value="create_only">Only create new customers (skip rows of existing ones)</option>
              <option value="update_only">Only update existing customers (skip rows of unknown ones)</option>
            </select>
          </label>
          {!segmentId && (
            <label className="field field-select">
              <span className="field-label">Add to manual segment (optional)</span>
              <select value={target} onChange={(e) => setTarget(e.target.value)}>
                <option value="">— none —</option>
                {manual.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          <div className="form-actions">
            <button type="button" className="btn btn-primary" onClick={() => void start()} disabled={busy || !mappingReady(mapping)}>
              Start import
            </button>
          </div>
        </>
      )}
      {run && <ImportProgress key={`${run.id}-${run.run}`} imp={run} onCancel={() => void cancel()} cancelling={cancelling} />}
      {!segmentId && <PastImports version={version} onShow={(id) => void show(id)} onStart={running || !canEdit ? undefined : (id) => void startAgain(id)} />}
    </section>
  );
}
