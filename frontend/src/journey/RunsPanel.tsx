// The runs of a published journey (optionally those at one step), and one
// run's path with a link to its workflow in the Temporal Web UI.
import { useCallback, useEffect, useState } from 'react';
import * as api from '../api.ts';
import type { Run, RunDetail } from '../api.ts';
import { errorText } from '../errors.ts';

interface RunsPanelProps {
  journeyId: string;
  /** The journey's steps, to filter runs by where they are. */
  stepIds: string[];
  /** Called with the opened run (null when closed), to show its path on the canvas. */
  onOpen: (run: RunDetail | null) => void;
  onClose: () => void;
  navigate: (to: string) => void;
}

export function formatTime(s: string | null | undefined): string {
  if (!s) return '—';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

export function RunsPanel({ journeyId, stepIds, onOpen, onClose, navigate }: RunsPanelProps) {
  const [node, setNode] = useState('');
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<RunDetail | null>(null);
  const [openError, setOpenError] = useState('');

  const load = useCallback(async () => {
    setError('');
    try {
      setRuns(await api.journeyRuns(journeyId, node || undefined));
    } catch (err) {
      setError(errorText(err));
    }
  }, [journeyId, node]);

  useEffect(() => {
    void load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [load]);

  const show = async (wf: string) => {
    setOpenError('');
    try {
      const run = await api.getRun(wf);
      setOpen(run);
      onOpen(run);
    } catch (err) {
      setOpenError(errorText(err));
    }
  };

  return (
    <section className="side-panel" aria-label="Runs">
      <div className="side-head">
        <h2>Runs</h2>
        <button type="button" className="btn btn-ghost btn-small" onClick={onClose}>
          Close runs
        </button>
      </div>
      {!open && (
        <label className="field">
          <span className="field-label">At step</span>
          <select value={node} onChange={(e) => setNode(e.target.value)}>
            <option value="">Any step</option>
            {stepIds.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      )}
      {open ? (
        <div className="run-detail" aria-label="Run">
          <button
            type="button"
            className="btn btn-ghost btn-small"
            onClick={() => {
              setOpen(null);
              onOpen(null);
            }}
          >
            ← All runs
          </button>
          <dl className="props">
            <dt>Customer</dt>
            <dd>
              <a href={`/customers/${encodeURIComponent(open.customer_id)}`} onClick={(e) => (e.preventDefault(), navigate(`/customers/${encodeURIComponent(open.customer_id)}`))}>
                {open.customer_external_id || open.customer_id}
              </a>
              {open.customer_external_id && <span className="muted small"> {open.customer_id}</span>}
            </dd>
            <dt>Status</dt>
            <dd>
              {open.status}
              {open.end_reason && <span className="muted small"> — {open.end_reason}</span>}
            </dd>
            <dt>Version</dt>
            <dd>v{open.version}</dd>
            <dt>Now at</dt>
            <dd>{open.current_node || '—'}</dd>
          </dl>
          <h3 className="side-sub">Path (highlighted on the canvas)</h3>
          {open.path.length === 0 ? (
            <p className="muted">No steps recorded yet.</p>
          ) : (
            <ol className="run-path">
              {open.path.map((p, i) => (
                <li key={i}>
                  <strong>{p.node}</strong>
                  {p.detail ? ` (${p.detail})` : ''} <span className="muted">{formatTime(p.entered_at)}{p.left_at ? ` → ${formatTime(p.left_at)}` : ' · here now'}</span>
                </li>
              ))}
            </ol>
          )}
          {open.state_error && <p className="muted">Live state unavailable: {open.state_error}</p>}
          {open.temporal_ui_url && (
            <a className="btn btn-secondary btn-small" href={open.temporal_ui_url} target="_blank" rel="noopener noreferrer">
              Open in Temporal UI <span aria-hidden="true">↗</span>
              <span className="visually-hidden"> (opens in a new tab)</span>
            </a>
          )}
        </div>
      ) : error ? (
        <div className="list-error" role="alert">
          <p>{error}</p>
          <button type="button" className="btn btn-secondary btn-small" onClick={() => void load()}>
            Try again
          </button>
        </div>
      ) : runs === null ? (
        <p role="status" className="muted">
          Loading runs…
        </p>
      ) : runs.length === 0 ? (
        <p className="muted">No runs{node ? ' at this step' : ''} yet. Customers enter when the trigger happens.</p>
      ) : (
        <ul className="run-list">
          {runs.map((r) => (
            <li key={r.workflow_id + r.run_id}>
              <button type="button" className="run-item" onClick={() => void show(r.workflow_id)}>
                <span className="run-customer" title={r.customer_id}>
                  {r.customer_external_id || r.customer_id}
                </span>
                <span className={`badge run-${r.status}`}>{r.status}</span>
                <span className="muted">
                  at {r.current_node || '—'} · {formatTime(r.started_at)}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {openError && (
        <p className="error-text" role="alert">
          {openError}
        </p>
      )}
    </section>
  );
}
