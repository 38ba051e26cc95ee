// The side panel for the selected step: its settings by type, and its exits
// as selects (the keyboard way to connect what the canvas connects by drag).
import { useId, type ReactNode } from 'react';
import type { Condition, JourneyNode, Segment, Template, ValidationError } from '../api.ts';
import { ConditionBuilder } from '../conditions/ConditionBuilder.tsx';
import { exitTarget, exitsOf, typeLabel } from './graph.ts';

interface NodePanelProps {
  node: JourneyNode;
  /** Every step id, for the exit selects. */
  stepIds: string[];
  templates: Template[];
  segments: Segment[];
  errors: ValidationError[];
  readOnly: boolean;
  onChange: (n: JourneyNode) => void;
  onConnect: (handle: string, target: string) => void;
  onDelete: () => void;
  /** Fetches the template list again (after creating one in another tab). */
  onReloadTemplates?: () => void;
}

/** A labelled input; `hint` under it. */
export function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      {children(id)}
      {hint && <span className="field-help">{hint}</span>}
    </div>
  );
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Settings of one journey step. */
export function NodePanel(props: NodePanelProps) {
  const { node, stepIds, templates, segments, errors, readOnly, onChange, onConnect, onDelete, onReloadTemplates } = props;
  const set = (patch: Partial<JourneyNode>) => {
    const n = { ...node, ...patch } as JourneyNode;
    for (const [k, v] of Object.entries(patch)) if (v === undefined || v === '') delete (n as unknown as Record<string, unknown>)[k];
    onChange(n);
  };
  const exits = exitsOf(node);

  return (
    <section className="side-panel" aria-label={`Step ${node.id}`}>
      <div className="side-head">
        <h2>
          {typeLabel(node.type)} <span className="muted">{node.id}</span>
        </h2>
        {!readOnly && (
          <button type="button" className="btn btn-danger-ghost btn-small" onClick={onDelete}>
            Delete step
          </button>
        )}
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
        {node.type === 'send' && (
          <>
            <Field label="Channel">
              {(id) => (
                <select id={id} value={node.channel ?? ''} onChange={(e) => set({ channel: e.target.value as JourneyNode['channel'], template_id: '' })}>
                  <option value="email">Email</option>
                  <option value="sms">SMS</option>
                  <option value="webhook">Webhook</option>
                </select>
              )}
            </Field>
            <Field label="Template" hint={templates.some((t) => t.channel === node.channel) ? undefined : `No ${node.channel} templates yet: create one under Templates.`}>
              {(id) => (
                <select id={id} value={node.template_id ?? ''} onChange={(e) => set({ template_id: e.target.value })}>
                  <option value="">Choose a template…</option>
                  {templates
                    .filter((t) => t.channel === node.channel)
                    .map((t) => (
                      <option key={t.id} value={t.id}>
                        {t.name}
                      </option>
                    ))}
                </select>
              )}
            </Field>
            <p className="field-help">
              <a href={`/templates/new-${node.channel ?? 'email'}`} target="_blank" rel="noopener noreferrer">
                New {node.channel ?? 'email'} template<span className="visually-hidden"> (opens in a new tab)</span>
              </a>
              {onReloadTemplates && (
                <>
                  {' · '}
                  <button type="button" className="link-button" onClick={onReloadTemplates}>
                    Reload templates
                  </button>
                </>
              )}
            </p>
          </>
        )}
        {node.type === 'delay' && <DelayFields node={node} set={set} />}
        {node.type === 'wait_for_event' && (
          <>
            <Field label="Event">{(id) => <input id={id} value={node.event ?? ''} placeholder="e.g. Activated" onChange={(e) => set({ event: e.target.value })} />}</Field>
            <Field label="Timeout" hint='How long to wait, e.g. "48h", "2d", "30m".'>
              {(id) => <input id={id} value={node.timeout ?? ''} onChange={(e) => set({ timeout: e.target.value })} />}
            </Field>
            <OptionalCondition
              label="Only events where"
              value={node.where}
              scope="filter"
              segments={segments}
              onChange={(where) => set({ where })}
            />
          </>
        )}
        {node.type === 'branch' && (
          <div className="branches">
            {(node.branches ?? []).map((b, i) => (
              <div key={i} className="branch-item">
                <div className="branch-head">
                  <strong>Branch {i + 1}</strong>
                  <button
                    type="button"
                    className="btn btn-ghost btn-small"
                    disabled={(node.branches ?? []).length <= 1}
                    onClick={() => set({ branches: (node.branches ?? []).filter((_, k) => k !== i) })}
                  >
                    Remove branch {i + 1}
                  </button>
                </div>
                <ConditionBuilder
                  label={`Condition of branch ${i + 1}`}
                  scope="branch"
                  segments={segments}
                  value={b.when}
                  onChange={(when) => set({ branches: (node.branches ?? []).map((x, k) => (k === i ? { ...x, when } : x)) })}
                />
              </div>
            ))}
            <button
              type="button"
              className="btn btn-secondary btn-small"
              onClick={() => set({ branches: [...(node.branches ?? []), { when: { all: [] }, next: '' }] })}
            >
              Add branch
            </button>
            <p className="field-help">Branches are tried in order; the first that matches wins. Everyone else takes “else”.</p>
          </div>
        )}
        {node.type === 'split' && <SplitFields node={node} set={set} />}
        {node.type === 'time_window' && (
          <>
            <fieldset className="days">
              <legend className="field-label">Days</legend>
              {DAYS.map((d) => (
                <label key={d} className="day">
                  <input
                    type="checkbox"
                    checked={(node.days ?? []).includes(d)}
                    onChange={(e) =>
                      set({ days: e.target.checked ? DAYS.filter((x) => x === d || (node.days ?? []).includes(x)) : (node.days ?? []).filter((x) => x !== d) })
                    }
                  />
                  {d}
                </label>
              ))}
            </fieldset>
            <div className="field-row">
              <Field label="From">{(id) => <input id={id} type="time" value={node.from ?? ''} onChange={(e) => set({ from: e.target.value })} />}</Field>
              <Field label="To">{(id) => <input id={id} type="time" value={node.to ?? ''} onChange={(e) => set({ to: e.target.value })} />}</Field>
            </div>
            <Field label="Time zone" hint="Blank: the customer's, else the workspace's.">
              {(id) => <input id={id} value={node.timezone ?? ''} placeholder="Europe/Paris" onChange={(e) => set({ timezone: e.target.value })} />}
            </Field>
          </>
        )}
        {node.type === 'update_customer' && <UpdateFields node={node} set={set} />}
        {node.type === 'exit' && <p className="muted">The run ends here.</p>}
      </fieldset>

      {exits.length > 0 && (
        <fieldset className="side-fields exits" disabled={readOnly}>
          <legend className="field-label">Then go to</legend>
          {exits.map((e) => (
            <Field key={e.handle} label={e.label === 'next' ? 'Next step' : `Next step (${e.label})`}>
              {(id) => (
                <select id={id} value={exitTarget(node, e.handle)} onChange={(ev) => onConnect(e.handle, ev.target.value)}>
                  <option value="">Not connected</option>
                  {stepIds
                    .filter((s) => s !== node.id || node.type === 'jump')
                    .map((s) => (
                      <option key={s} value={s}>
                        {s}
                      </option>
                    ))}
                </select>
              )}
            </Field>
          ))}
        </fieldset>
      )}
    </section>
  );
}

type Setter = (patch: Partial<JourneyNode>) => void;

function DelayFields({ node, set }: { node: JourneyNode; set: Setter }) {
  const mode = node.until !== undefined ? 'until' : node.at !== undefined ? 'at' : 'duration';
  const name = useId();
  const choose = (m: string) => {
    if (m === 'duration') set({ duration: '1d', until: undefined, offset: undefined, at: undefined });
    if (m === 'until') onlyUntil();
    if (m === 'at') set({ at: '09:00', duration: undefined, until: undefined, offset: undefined });
  };
  // until can legitimately be empty while typing; keep the key present.
  const onlyUntil = () => set({ duration: undefined, at: undefined, until: node.until ?? 'trial_ends_at' });
  return (
    <>
      <fieldset className="radio-row">
        <legend className="field-label">Wait</legend>
        {[
          ['duration', 'for a duration'],
          ['until', 'until a date attribute'],
          ['at', 'until a time of day'],
        ].map(([v, l]) => (
          <label key={v}>
            <input type="radio" name={name} value={v} checked={mode === v} onChange={() => choose(v)} /> {l}
          </label>
        ))}
      </fieldset>
      {mode === 'duration' && (
        <Field label="Duration" hint='e.g. "90m", "2d", "1w", "1d12h".'>
          {(id) => <input id={id} value={node.duration ?? ''} onChange={(e) => set({ duration: e.target.value })} />}
        </Field>
      )}
      {mode === 'until' && (
        <>
          <Field label="Attribute" hint="A customer attribute holding a time.">
            {(id) => <input id={id} value={node.until ?? ''} onChange={(e) => set({ until: e.target.value || 'trial_ends_at' })} />}
          </Field>
          <Field label="Offset" hint='Optional, e.g. "-1d" for a day before.'>
            {(id) => <input id={id} value={node.offset ?? ''} onChange={(e) => set({ offset: e.target.value })} />}
          </Field>
        </>
      )}
      {mode === 'at' && (
        <Field label="Time of day" hint="In the customer's time zone; the next occurrence.">
          {(id) => <input id={id} type="time" value={node.at ?? ''} onChange={(e) => set({ at: e.target.value || '09:00' })} />}
        </Field>
      )}
    </>
  );
}

/** Sum of split weights and what is left to reach 100. */
export function splitRemaining(node: JourneyNode): number {
  return 100 - (node.variants ?? []).reduce((s, v) => s + (Number(v.weight) || 0), 0);
}

function SplitFields({ node, set }: { node: JourneyNode; set: Setter }) {
  const variants = node.variants ?? [];
  const remaining = splitRemaining(node);
  const update = (i: number, patch: Partial<{ name: string; weight: number }>) =>
    set({ variants: variants.map((v, k) => (k === i ? { ...v, ...patch } : v)) });
  return (
    <div className="variants">
      <table className="table compact">
        <thead>
          <tr>
            <th scope="col">Variant</th>
            <th scope="col">Weight %</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {variants.map((v, i) => (
            <tr key={i}>
              <td>
                <input aria-label={`Name of variant ${i + 1}`} value={v.name} onChange={(e) => update(i, { name: e.target.value })} size={8} />
              </td>
              <td>
                <input
                  aria-label={`Weight of variant ${i + 1}`}
                  type="number"
                  min={1}
                  max={100}
                  value={v.weight}
                  onChange={(e) => update(i, { weight: Number(e.target.value) || 0 })}
                  className="input-narrow"
                />
              </td>
              <td>
                <button
                  type="button"
                  className="btn btn-ghost btn-small"
                  disabled={variants.length <= 2}
                  onClick={() => set({ variants: variants.filter((_, k) => k !== i) })}
                  aria-label={`Remove variant ${i + 1}`}
                >
                  ✕
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button
        type="button"
        className="btn btn-secondary btn-small"
        onClick={() =>
          set({ variants: [...variants, { name: String.fromCharCode(65 + variants.length), weight: Math.max(0, remaining), next: '' }] })
        }
      >
        Add variant
      </button>
      <p className={remaining === 0 ? 'field-help' : 'error-text'} role="status">
        {remaining === 0
          ? 'Weights add up to 100%.'
          : remaining > 0
            ? `Remaining ${remaining}% to distribute: weights must add up to 100.`
            : `${-remaining}% too much: weights must add up to 100.`}
      </p>
    </div>
  );
}

function UpdateFields({ node, set }: { node: JourneyNode; set: Setter }) {
  const entries = Object.entries(node.set ?? {});
  const write = (list: [string, unknown][]) => set({ set: Object.fromEntries(list) });
  return (
    <>
      <fieldset className="side-fields">
        <legend className="field-label">Set attributes (values may be Liquid)</legend>
        {entries.map(([k, v], i) => (
          <div key={i} className="field-row">
            <input aria-label={`Attribute ${i + 1}`} value={k} onChange={(e) => write(entries.map((x, j) => (j === i ? [e.target.value, x[1]] : x)))} />
            <input aria-label={`Value ${i + 1}`} value={String(v ?? '')} onChange={(e) => write(entries.map((x, j) => (j === i ? [x[0], e.target.value] : x)))} />
            <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove attribute ${i + 1}`} onClick={() => write(entries.filter((_, j) => j !== i))}>
              ✕
            </button>
          </div>
        ))}
        <button type="button" className="btn btn-secondary btn-small" onClick={() => write([...entries, [`attribute_${entries.length + 1}`, '']])}>
          Add attribute
        </button>
      </fieldset>
      <Field label="Unset attributes" hint="Comma-separated names.">
        {(id) => (
          <input
            id={id}
            value={(node.unset ?? []).join(', ')}
            onChange={(e) => {
              const list = e.target.value.split(',').map((s) => s.trim()).filter(Boolean);
              set({ unset: list.length ? list : undefined });
            }}
          />
        )}
      </Field>
    </>
  );
}

/** A condition that may be absent: a checkbox adds or removes it. */
export function OptionalCondition({
  label,
  value,
  scope,
  segments,
  onChange,
}: {
  label: string;
  value: Condition | undefined;
  scope: 'filter' | 'branch' | 'segment';
  segments: Segment[];
  onChange: (c: Condition | undefined) => void;
}) {
  return (
    <div className="optional-cond">
      <label className="check">
        <input type="checkbox" checked={value !== undefined} onChange={(e) => onChange(e.target.checked ? { all: [{ prop: '', op: 'eq', value: '' }] } : undefined)} />{' '}
        {label}
      </label>
      {value !== undefined && <ConditionBuilder label={label} scope={scope} segments={segments} value={value} onChange={onChange} />}
    </div>
  );
}
