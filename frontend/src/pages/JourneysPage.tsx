// Journeys: the list, and a form that creates a draft and opens its canvas.
import { useState, type FormEvent } from 'react';
import * as api from '../api.ts';
import type { JourneyDefinition } from '../api.ts';
import { formatTime } from '../journey/RunsPanel.tsx';
import { EmptyPage } from './EmptyPage.tsx';
import { CreateForm, errorText, ListError, ListLoading, ListTable, RowLink, useList } from './ListState.tsx';

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
  const { list, error, load } = useList(api.listJourneys);
  const [name, setName] = useState('');
  const [event, setEvent] = useState('');
  const [creating, setCreating] = useState(false);
  const [createError, setCreateError] = useState('');
  const [showForm, setShowForm] = useState(false);

  async function create(e: FormEvent) {
    e.preventDefault();
    setCreating(true);
    setCreateError('');
    try {
      const j = await api.createJourney(starterJourney(name.trim(), event.trim()));
      navigate(`/journeys/${encodeURIComponent(j.id)}`);
    } catch (err) {
      setCreateError(errorText(err));
      setCreating(false);
    }
  }

  const form = (
    <CreateForm label="New journey" submitLabel="Create journey" canSubmit={!creating && !!name.trim()} error={createError} onSubmit={create}>
      <label className="field field-grow">
        <span className="field-label">Name</span>
        <input value={name} onChange={(e) => setName(e.target.value)} required placeholder="e.g. Welcome series" />
      </label>
      <label className="field field-grow">
        <span className="field-label">Trigger event</span>
        <input value={event} onChange={(e) => setEvent(e.target.value)} placeholder="e.g. Signed Up (blank: API-triggered)" />
      </label>
    </CreateForm>
  );

  if (error) return <ListError message={error} onRetry={() => void load()} />;
  if (list === null) return <ListLoading what="journeys" />;
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
        <ListTable columns={['Name', 'Status', 'Trigger', 'Steps', 'Updated']}>
          {list.map((j) => (
            <tr key={j.id}>
              <RowLink to={`/journeys/${encodeURIComponent(j.id)}`} navigate={navigate}>
                {j.name}
              </RowLink>
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
        </ListTable>
      )}
    </div>
  );
}
