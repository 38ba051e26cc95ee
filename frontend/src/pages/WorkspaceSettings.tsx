import { useEffect, useId, useState, type FormEvent } from 'react';
import * as api from '../api.ts';
import type { Workspace } from '../api.ts';
import { errorText } from '../errors.ts';


/** IANA zones the browser knows, for the time zone suggestions. */
function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return intl.supportedValuesOf?.('timeZone') ?? [];
  } catch {
    return [];
  }
}

type LoadState = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; workspace: Workspace };

/** Settings → Workspace: name, time zone and the default quiet hours. */
export function WorkspaceSettings({ canEdit }: { canEdit: boolean }) {
  const [state, setState] = useState<LoadState>({ kind: 'loading' });
  const [name, setName] = useState('');
  const [timezone, setTimezone] = useState('');
  const [quiet, setQuiet] = useState(false);
  const [start, setStart] = useState('22:00');
  const [end, setEnd] = useState('08:00');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState('');
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const ids = { name: useId(), tz: useId(), tzList: useId(), start: useId(), end: useId(), err: useId() };

  function apply(w: Workspace) {
    setState({ kind: 'ready', workspace: w });
    setName(w.name);
    setTimezone(w.timezone);
    setQuiet(!!w.quiet_hours);
    if (w.quiet_hours) {
      setStart(w.quiet_hours.start);
      setEnd(w.quiet_hours.end);
    }
  }

  const load = () => {
    setState({ kind: 'loading' });
    api
      .getWorkspace()
      .then(apply)
      .catch((err: unknown) => setState({ kind: 'error', message: errorText(err) }));
  };
  useEffect(load, []);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setSaved('');
    setError(null);
    try {
      apply(await api.putWorkspace({ name: name.trim(), timezone: timezone.trim(), quiet_hours: quiet ? { start, end } : null }));
      setSaved('Workspace settings saved.');
    } catch (err) {
      setError({ message: errorText(err), field: err instanceof api.ApiError ? err.field : undefined });
    } finally {
      setBusy(false);
    }
  }

  if (state.kind === 'loading') {
    return (
      <p className="list-state" role="status">
        Loading workspace settings…
      </p>
    );
  }
  if (state.kind === 'error') {
    return (
      <div className="list-state list-error">
        <p role="alert">Could not load workspace settings: {state.message}</p>
        <button type="button" className="btn btn-secondary" onClick={load}>
          Try again
        </button>
      </div>
    );
  }

  const fieldError = (f: string) => (error?.field === f || (f === 'quiet_hours' && error?.field?.startsWith('quiet_hours')) ? error.message : '');
  const errorFor = (f: string) =>
    fieldError(f) ? (
      <span id={`${ids.err}-${f}`} className="error-text field-error">
        {fieldError(f)}
      </span>
    ) : null;
  const aria = (f: string) => (fieldError(f) ? { 'aria-invalid': true as const, 'aria-describedby': `${ids.err}-${f}` } : {});

  return (
    <section className="panel" aria-labelledby="workspace-heading">
      <div className="panel-header">
        <h2 id="workspace-heading">Workspace</h2>
        <p className="muted">Defaults for journeys: the time zone of customers who have none, and quiet hours for journeys that set none.</p>
      </div>
      {!canEdit && (
        <p className="notice" role="note">
          Only workspace owners can change these settings.
        </p>
      )}
      <form onSubmit={onSubmit} aria-label="Workspace settings" noValidate>
        <fieldset className="plain-fieldset" disabled={!canEdit || busy}>
          <div className="field">
            <label className="field-label" htmlFor={ids.name}>
              Workspace name
            </label>
            <input id={ids.name} value={name} onChange={(e) => setName(e.target.value)} {...aria('name')} />
            {errorFor('name')}
          </div>
          <div className="field">
            <label className="field-label" htmlFor={ids.tz}>
              Time zone
            </label>
            <input id={ids.tz} list={ids.tzList} value={timezone} placeholder="Europe/Paris" onChange={(e) => setTimezone(e.target.value)} {...aria('timezone')} />
            <datalist id={ids.tzList}>
              {timeZones().map((z) => (
                <option key={z} value={z} />
              ))}
            </datalist>
            <span className="field-help">An IANA time zone name, such as Europe/Paris or America/New_York.</span>
            {errorFor('timezone')}
          </div>
          <fieldset className="side-fields">
            <legend className="field-label">Default quiet hours</legend>
            <label className="check">
              <input type="checkbox" checked={quiet} onChange={(e) => setQuiet(e.target.checked)} /> Hold sends during quiet hours
            </label>
            {quiet && (
              <div className="field-row">
                <div className="field field-narrow">
                  <label className="field-label" htmlFor={ids.start}>
                    From
                  </label>
                  <input id={ids.start} type="time" value={start} onChange={(e) => setStart(e.target.value)} {...aria('quiet_hours')} />
                </div>
                <div className="field field-narrow">
                  <label className="field-label" htmlFor={ids.end}>
                    Until
                  </label>
                  <input id={ids.end} type="time" value={end} onChange={(e) => setEnd(e.target.value)} {...aria('quiet_hours')} />
                </div>
              </div>
            )}
            <span className="field-help">In each customer's time zone (else the workspace's). A journey's own quiet hours take precedence.</span>
            {errorFor('quiet_hours')}
          </fieldset>
        </fieldset>
        {error && !error.field && (
          <p className="error-text" role="alert">
            {error.message}
          </p>
        )}
        {error?.field && (
          <p className="error-text" role="alert">
            Check the highlighted field.
          </p>
        )}
        {canEdit && (
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save workspace settings'}
            </button>
            {saved && (
              <span className="editor-message ok" role="status">
                {saved}
              </span>
            )}
          </div>
        )}
      </form>
    </section>
  );
}
