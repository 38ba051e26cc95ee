// Journey-level settings: name, trigger, entry policy, exit events, goal,
// quiet hours and send rate (DESIGN §5).
import type { JourneyDefinition, Segment, ValidationError } from '../api.ts';
import { Field, OptionalCondition } from './NodePanel.tsx';

interface SettingsPanelProps {
  def: JourneyDefinition;
  segments: Segment[];
  errors: ValidationError[];
  readOnly: boolean;
  onChange: (def: JourneyDefinition) => void;
}

/** Removes keys whose value is '' or undefined, so optional fields stay absent. */
function compact<T extends object>(o: T): T {
  const out = { ...o } as Record<string, unknown>;
  for (const k of Object.keys(out)) if (out[k] === '' || out[k] === undefined) delete out[k];
  return out as T;
}

export function SettingsPanel({ def, segments, errors, readOnly, onChange }: SettingsPanelProps) {
  const t = def.trigger;
  const setTrigger = (patch: Partial<JourneyDefinition['trigger']>) => onChange({ ...def, trigger: compact({ ...t, ...patch }) });
  const setEntry = (patch: Partial<JourneyDefinition['entry']>) => onChange({ ...def, entry: compact({ ...def.entry, ...patch }) });
  const exits = def.exit_on ?? [];
  const setExits = (list: { event: string }[]) => {
    const { exit_on: _, ...rest } = def;
    onChange(list.length ? { ...rest, exit_on: list } : rest);
  };
  const quiet = def.settings.quiet_hours;

  return (
    <section className="side-panel" aria-label="Journey settings">
      <div className="side-head">
        <h2>Journey settings</h2>
      </div>
      {errors.length > 0 && (
        <ul className="panel-errors" role="alert" aria-label="Problems">
          {errors.map((e, i) => (
            <li key={i}>
              <strong>{e.field}</strong>: {e.message}
            </li>
          ))}
        </ul>
      )}
      <fieldset className="side-fields" disabled={readOnly}>
        <Field label="Journey name">{(id) => <input id={id} value={def.name} onChange={(e) => onChange({ ...def, name: e.target.value })} />}</Field>

        <h3 className="side-sub">Trigger</h3>
        <Field label="Customers enter">
          {(id) => (
            <select id={id} value={t.type} onChange={(e) => onChange({ ...def, trigger: { type: e.target.value as JourneyDefinition['trigger']['type'] } })}>
              <option value="event">when an event happens</option>
              <option value="api">when the API triggers it</option>
              <option value="segment">when they join a segment</option>
              <option value="schedule">on a schedule</option>
            </select>
          )}
        </Field>
        {t.type === 'event' && (
          <>
            <Field label="Trigger event">{(id) => <input id={id} value={t.event ?? ''} placeholder="e.g. Signed Up" onChange={(e) => setTrigger({ event: e.target.value })} />}</Field>
            <OptionalCondition label="Only when the event's properties match" value={t.where} scope="filter" segments={segments} onChange={(where) => setTrigger({ where })} />
          </>
        )}
        {(t.type === 'segment' || t.type === 'schedule') && (
          <Field label="Segment">
            {(id) => (
              <select id={id} value={t.segment_id ?? ''} onChange={(e) => setTrigger({ segment_id: e.target.value })}>
                <option value="">Choose a segment…</option>
                {segments.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        )}
        {t.type === 'segment' && (
          <label className="check">
            <input type="checkbox" checked={!!t.include_existing} onChange={(e) => setTrigger({ include_existing: e.target.checked || undefined })} /> Also enroll
            current members when published
          </label>
        )}
        {t.type === 'schedule' && (
          <>
            <Field label="Cron" hint='e.g. "0 9 * * mon" — enrolls the segment at each firing.'>
              {(id) => <input id={id} value={t.cron ?? ''} onChange={(e) => setTrigger({ cron: e.target.value })} />}
            </Field>
            <Field label="Schedule time zone" hint="Blank: UTC.">
              {(id) => <input id={id} value={t.timezone ?? ''} placeholder="Europe/Paris" onChange={(e) => setTrigger({ timezone: e.target.value })} />}
            </Field>
          </>
        )}

        <h3 className="side-sub">Entry</h3>
        <Field label="Entry policy">
          {(id) => (
            <select id={id} value={def.entry.policy} onChange={(e) => setEntry({ policy: e.target.value as JourneyDefinition['entry']['policy'], period: undefined })}>
              <option value="once">once per customer, ever</option>
              <option value="every_time">every time the trigger happens</option>
              <option value="once_per">at most once per period</option>
            </select>
          )}
        </Field>
        {def.entry.policy === 'once_per' && (
          <Field label="Period" hint='e.g. "30d"'>
            {(id) => <input id={id} value={def.entry.period ?? ''} onChange={(e) => setEntry({ period: e.target.value })} />}
          </Field>
        )}
        <Field label="Entry key" hint='Optional: one run per value, e.g. "properties.order_id".'>
          {(id) => <input id={id} value={def.entry.key ?? ''} onChange={(e) => setEntry({ key: e.target.value })} />}
        </Field>

        <h3 className="side-sub">Exit and goal</h3>
        {exits.map((x, i) => (
          <div key={i} className="field-row">
            <Field label={`Exit event ${i + 1}`}>
              {(id) => <input id={id} value={x.event} onChange={(e) => setExits(exits.map((y, k) => (k === i ? { ...y, event: e.target.value } : y)))} />}
            </Field>
            <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove exit event ${i + 1}`} onClick={() => setExits(exits.filter((_, k) => k !== i))}>
              ✕
            </button>
          </div>
        ))}
        <button type="button" className="btn btn-secondary btn-small" onClick={() => setExits([...exits, { event: '' }])}>
          Add exit event
        </button>
        <div className="field-row">
          <Field label="Goal event">
            {(id) => (
              <input
                id={id}
                value={def.goal?.event ?? ''}
                placeholder="e.g. Activated"
                onChange={(e) => {
                  const { goal: _, ...rest } = def;
                  onChange(e.target.value ? { ...rest, goal: compact({ ...def.goal, event: e.target.value }) } : rest);
                }}
              />
            )}
          </Field>
          <Field label="Within">
            {(id) => (
              <input
                id={id}
                value={def.goal?.within ?? ''}
                placeholder="7d"
                disabled={!def.goal}
                onChange={(e) => def.goal && onChange({ ...def, goal: compact({ ...def.goal, within: e.target.value }) })}
              />
            )}
          </Field>
        </div>

        <h3 className="side-sub">Sending</h3>
        <label className="check">
          <input
            type="checkbox"
            checked={!!quiet}
            onChange={(e) => onChange({ ...def, settings: compact({ ...def.settings, quiet_hours: e.target.checked ? { start: '22:00', end: '08:00' } : undefined }) })}
          />{' '}
          Quiet hours (sends wait until they end)
        </label>
        {quiet && (
          <div className="field-row">
            <Field label="Quiet from">
              {(id) => <input id={id} type="time" value={quiet.start} onChange={(e) => onChange({ ...def, settings: { ...def.settings, quiet_hours: { ...quiet, start: e.target.value } } })} />}
            </Field>
            <Field label="Quiet until">
              {(id) => <input id={id} type="time" value={quiet.end} onChange={(e) => onChange({ ...def, settings: { ...def.settings, quiet_hours: { ...quiet, end: e.target.value } } })} />}
            </Field>
          </div>
        )}
        <Field label="Max sends per minute" hint="0 or blank: no limit.">
          {(id) => (
            <input
              id={id}
              type="number"
              min={0}
              value={def.settings.send_rate_per_minute ?? ''}
              onChange={(e) => onChange({ ...def, settings: compact({ ...def.settings, send_rate_per_minute: e.target.value ? Number(e.target.value) : undefined }) })}
            />
          )}
        </Field>
      </fieldset>
    </section>
  );
}
