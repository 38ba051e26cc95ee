// Journeys: the list, and a form that creates a draft and opens its canvas.
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import * as api from '../api.ts';
import type { Journey, JourneyDefinition } from '../api.ts';
import { linkHandler } from '../router.ts';
import { formatTime } from '../journey/RunsPanel.tsx';
import { EmptyPage } from './EmptyPage.tsx';

/** The smallest valid journey: the trigger straight to an exit. */
export function starterJourney(name: string, event: string): JourneyDefinition {
  return {
    name,
    trigger: event ? { type: 'event', event } : { type: 'api' },
    entry: { policy: 'once' },
    settings: {},
    start: 'exit_1',
    nodes: [{ id: 'exit_1', type: 'exit' }],
  };
}

export function JourneysPage({ navigate }: { navigate: (to: string) => void }) {
  const [list, setList] = useState<Journey[] | null>(null);
  const [error, setError] = useState('');
  const [name, setName] = useState('');
  const [event, setEvent] = useState('');
  const [creating, setCreating] = useState(false);
  const [createError, setCreateError] = useState('');
  const [showForm, setShowForm] = useState(false);

  const load = useCallback(async () => {
    setError('');
    try {
      setList(await api.listJourneys());
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  async function create(e: FormEvent) {
    e.preventDefault();
    setCreating(true);
    setCreateError('');
    try {
      const j = await api.createJourney(starterJourney(name.trim(), event.trim()));
      navigate(`/journeys/${encodeURIComponent(j.id)}`);
    } catch (err) {
      setCreateError(err instanceof Error ? err.message : String(err));
      setCreating(false);
    }
  }

  const form = (
    <form className="panel create-form" aria-label="New journey" onSubmit={create}>
      <div className="create-key-row">
        <label className="field field-grow">
          <span className="field-label">Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required placeholder="e.g. Welcome series" />
        </label>
        <label className="field field-grow">
          <span className="field-label">Trigger event</span>
          <input value={event} onChange={(e) => setEvent(e.target.value)} placeholder="e.g. Signed Up (blank: API-triggered)" />
        </label>
        <button type="submit" className="btn btn-primary" disabled={creating || !name.trim()}>
          Create journey
        </button>
      </div>
      {createError && (
        <p className="error-text" role="alert">
          {createError}
        </p>
      )}
    </form>
  );

  if (error) {
    return (
      <div className="list-state list-error" role="alert">
        <p>{error}</p>
        <button type="button" className="btn btn-secondary" onClick={() => void load()}>
          Try again
        </button>
      </div>
    );
  }
  if (list === null) {
    return (
      <p className="list-state" role="status">
        Loading journeys…
      </p>
    );
  }
  if (list.length === 0 && !showForm) {
    return (
      <EmptyPage
        title="No journeys yet"
        text="A journey is the flow of triggers, waits, branches and messages that each customer walks through."
        action={
          <button type="button" className="btn btn-primary" onClick={() => setShowForm(true)}>
            New journey
          </button>
        }
      />
    );
  }
  return (
    <div className="page-stack">
      {showForm ? (
        form
      ) : (
        <div className="page-actions">
          <button type="button" className="btn btn-primary" onClick={() => setShowForm(true)}>
            New journey
          </button>
        </div>
      )}
      {list.length > 0 && (
        <div className="panel table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Steps</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {list.map((j) => (
                <tr key={j.id}>
                  <th scope="row">
                    <a href={`/journeys/${encodeURIComponent(j.id)}`} onClick={linkHandler(`/journeys/${encodeURIComponent(j.id)}`, navigate)}>
                      {j.name}
                    </a>
                  </th>
                  <td>
                    <span className={`badge status-badge status-${j.status}`}>
                      {j.status}
                      {j.live_version ? ` · v${j.live_version}` : ''}
                    </span>
                  </td>
                  <td>{j.definition.trigger.type === 'event' ? j.definition.trigger.event : j.definition.trigger.type}</td>
                  <td>{j.definition.nodes.length}</td>
                  <td className="nowrap">{formatTime(j.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
