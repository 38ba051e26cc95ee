// An editor for the condition DSL of DESIGN §6: nested all/any groups of
// attribute, event-property, event (performed N times within a window) and
// segment-membership conditions. It edits the JSON directly, so what it
// shows is exactly what is saved.
import { useEffect, useId, useState } from 'react';
import type { Condition, Segment } from '../api.ts';

/** Where a condition is used, which decides the kinds it may contain. */
export type ConditionScope = 'segment' | 'branch' | 'filter';

type Kind = 'attr' | 'prop' | 'event' | 'segment' | 'group';

const KINDS: Record<ConditionScope, Kind[]> = {
  segment: ['attr', 'event', 'segment', 'group'],
  branch: ['attr', 'prop', 'segment', 'group'],
  filter: ['prop', 'group'],
};

const KIND_LABEL: Record<Kind, string> = {
  attr: 'Attribute',
  prop: 'Event property',
  event: 'Event',
  segment: 'Segment',
  group: 'Group',
};

/** attr/prop operators with their labels (DESIGN §6 order). */
export const OPERATORS: { op: string; label: string }[] = [
  { op: 'eq', label: 'equals' },
  { op: 'ne', label: 'does not equal' },
  { op: 'gt', label: 'greater than' },
  { op: 'gte', label: 'at least' },
  { op: 'lt', label: 'less than' },
  { op: 'lte', label: 'at most' },
  { op: 'contains', label: 'contains' },
  { op: 'not_contains', label: 'does not contain' },
  { op: 'starts_with', label: 'starts with' },
  { op: 'in', label: 'is one of' },
  { op: 'not_in', label: 'is none of' },
  { op: 'exists', label: 'exists' },
  { op: 'not_exists', label: 'does not exist' },
  { op: 'before', label: 'before' },
  { op: 'after', label: 'after' },
  { op: 'within_last', label: 'within the last' },
];

const COUNT_OPS = ['gte', 'gt', 'eq', 'lte', 'lt'] as const;
const COUNT_LABEL: Record<(typeof COUNT_OPS)[number], string> = {
  gte: 'at least',
  gt: 'more than',
  eq: 'exactly',
  lte: 'at most',
  lt: 'fewer than',
};

/** A new condition of a kind, ready to fill in. */
export function emptyCondition(kind: Kind): Condition {
  switch (kind) {
    case 'attr':
      return { attr: '', op: 'eq', value: '' };
    case 'prop':
      return { prop: '', op: 'eq', value: '' };
    case 'event':
      return { event: '', op: 'performed', count: { gte: 1 }, within: '30d' };
    case 'segment':
      return { segment: '', op: 'member' };
    case 'group':
      return { all: [] };
  }
}

/**
 * Reads a typed value: numbers and true/false become JSON numbers and
 * booleans, `in`/`not_in` take a comma-separated list, the rest stay text.
 */
export function parseValue(text: string, op: string): unknown {
  const scalar = (s: string): unknown => {
    const t = s.trim();
    if (/^-?\d+(\.\d+)?$/.test(t) && !['contains', 'not_contains', 'starts_with', 'before', 'after', 'within_last'].includes(op)) {
      return Number(t);
    }
    if (t === 'true' && (op === 'eq' || op === 'ne')) return true;
    if (t === 'false' && (op === 'eq' || op === 'ne')) return false;
    return op === 'in' || op === 'not_in' ? t : s;
  };
  if (op === 'in' || op === 'not_in') {
    return text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map(scalar);
  }
  return scalar(text);
}

/** Shows a value as parseValue reads it back. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map((v) => String(v)).join(', ');
  return String(value);
}

/** Sets an attr/prop operator, dropping or adapting the value to fit it. */
export function withOperator<C extends { op: string; value?: unknown }>(c: C, op: string): C {
  const next: C = { ...c, op };
  if (op === 'exists' || op === 'not_exists') {
    delete next.value;
  } else {
    next.value = parseValue(formatValue(c.value), op);
  }
  return next;
}

function kindOf(c: Condition): Kind | 'not' {
  if ('all' in c || 'any' in c) return 'group';
  if ('not' in c) return 'not';
  if ('attr' in c) return 'attr';
  if ('prop' in c) return 'prop';
  if ('event' in c) return 'event';
  return 'segment';
}

interface BuilderProps {
  value: Condition;
  onChange: (c: Condition) => void;
  scope: ConditionScope;
  segments?: Segment[];
  /** Names the whole condition for assistive technology. */
  label: string;
}

/** The condition editor: the top level is always a group. */
export function ConditionBuilder({ value, onChange, scope, segments = [], label }: BuilderProps) {
  const root: Condition = 'all' in value || 'any' in value ? value : { all: [value] };
  return (
    <div className="cond-builder" role="group" aria-label={label}>
      <GroupEditor value={root} onChange={onChange} scope={scope} segments={segments} depth={0} />
    </div>
  );
}

interface EditorProps<C extends Condition = Condition> {
  value: C;
  onChange: (c: Condition) => void;
  scope: ConditionScope;
  segments: Segment[];
  depth: number;
  onRemove?: () => void;
}

function GroupEditor({ value, onChange, scope, segments, depth, onRemove }: EditorProps) {
  const mode: 'all' | 'any' = 'any' in value ? 'any' : 'all';
  const items: Condition[] = 'any' in value ? value.any : 'all' in value ? value.all : [];
  const set = (m: 'all' | 'any', list: Condition[]) => onChange(m === 'all' ? { all: list } : { any: list });
  const modeId = useId();
  const kinds = KINDS[scope].filter((k) => k !== 'group' || depth < 4);

  return (
    <fieldset className={depth === 0 ? 'cond-group cond-root' : 'cond-group'}>
      <legend className="cond-legend">
        <label htmlFor={modeId}>Match</label>{' '}
        <select id={modeId} value={mode} onChange={(e) => set(e.target.value as 'all' | 'any', items)}>
          <option value="all">all of</option>
          <option value="any">any of</option>
        </select>
        {onRemove && (
          <button type="button" className="btn btn-ghost btn-small" onClick={onRemove} aria-label="Remove group">
            ✕
          </button>
        )}
      </legend>
      {items.length === 0 && <p className="muted cond-empty">No conditions yet — add one below.</p>}
      <ul className="cond-list">
        {items.map((c, i) => (
          <li key={i}>
            <ConditionEditor
              value={c}
              scope={scope}
              segments={segments}
              depth={depth + 1}
              onChange={(nc) => set(mode, items.map((x, k) => (k === i ? nc : x)))}
              onRemove={() => set(mode, items.filter((_, k) => k !== i))}
            />
          </li>
        ))}
      </ul>
      <div className="cond-add">
        {kinds.map((k) => (
          <button key={k} type="button" className="btn btn-secondary btn-small" onClick={() => set(mode, [...items, emptyCondition(k)])}>
            + {KIND_LABEL[k]}
          </button>
        ))}
      </div>
    </fieldset>
  );
}

function ConditionEditor(props: EditorProps) {
  const { value, onChange, onRemove } = props;
  const kind = kindOf(value);
  if (kind === 'group') return <GroupEditor {...props} />;
  const remove = (
    <button type="button" className="btn btn-ghost btn-small" onClick={onRemove} aria-label="Remove condition">
      ✕
    </button>
  );
  if (kind === 'not' && 'not' in value) {
    return (
      <div className="cond-row cond-not">
        <span className="cond-tag">not</span>
        <ConditionEditor {...props} value={value.not} onChange={(c) => onChange({ not: c })} onRemove={onRemove} />
      </div>
    );
  }
  if ('attr' in value || 'prop' in value) {
    return (
      <div className="cond-row">
        <FieldEditor value={value} onChange={onChange} />
        {remove}
      </div>
    );
  }
  if ('event' in value) {
    return (
      <div className="cond-row">
        <EventEditor value={value} onChange={onChange} />
        {remove}
      </div>
    );
  }
  if ('segment' in value) {
    return (
      <div className="cond-row">
        <span className="cond-tag">Segment</span>
        <select
          aria-label="Membership"
          value={value.op ?? 'member'}
          onChange={(e) => onChange({ ...value, op: e.target.value as 'member' | 'not_member' })}
        >
          <option value="member">is in</option>
          <option value="not_member">is not in</option>
        </select>
        <select aria-label="Segment" value={value.segment} onChange={(e) => onChange({ ...value, segment: e.target.value })}>
          <option value="">Choose a segment…</option>
          {props.segments.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
        {remove}
      </div>
    );
  }
  return null;
}

function FieldEditor({
  value,
  onChange,
}: {
  value: { attr: string; op: string; value?: unknown } | { prop: string; op: string; value?: unknown };
  onChange: (c: Condition) => void;
}) {
  const isAttr = 'attr' in value;
  const name = isAttr ? value.attr : value.prop;
  const setName = (n: string) => onChange(isAttr ? { ...value, attr: n } : { ...value, prop: n });
  const noValue = value.op === 'exists' || value.op === 'not_exists';
  return (
    <>
      <span className="cond-tag">{isAttr ? 'Attribute' : 'Property'}</span>
      <input
        aria-label={isAttr ? 'Attribute name' : 'Property name'}
        placeholder={isAttr ? 'e.g. plan, email' : 'e.g. total'}
        value={name}
        onChange={(e) => setName(e.target.value)}
        size={12}
      />
      <select aria-label="Operator" value={value.op} onChange={(e) => onChange(withOperator(value, e.target.value))}>
        {OPERATORS.map((o) => (
          <option key={o.op} value={o.op}>
            {o.label}
          </option>
        ))}
      </select>
      {!noValue && (
        <ValueInput value={value.value} op={value.op} onChange={(v) => onChange({ ...value, value: v })} />
      )}
    </>
  );
}

function EventEditor({
  value,
  onChange,
}: {
  value: Extract<Condition, { event: string }>;
  onChange: (c: Condition) => void;
}) {
  const countOp = (Object.keys(value.count ?? {})[0] as (typeof COUNT_OPS)[number] | undefined) ?? 'gte';
  const countN = value.count?.[countOp] ?? 1;
  return (
    <>
      <span className="cond-tag">Event</span>
      <input
        aria-label="Event name"
        placeholder="e.g. Purchased"
        value={value.event}
        onChange={(e) => onChange({ ...value, event: e.target.value })}
        size={12}
      />
      <select
        aria-label="Performed"
        value={value.op ?? 'performed'}
        onChange={(e) => onChange({ ...value, op: e.target.value as 'performed' | 'not_performed' })}
      >
        <option value="performed">performed</option>
        <option value="not_performed">not performed</option>
      </select>
      <select aria-label="Count comparison" value={countOp} onChange={(e) => onChange({ ...value, count: { [e.target.value]: countN } })}>
        {COUNT_OPS.map((o) => (
          <option key={o} value={o}>
            {COUNT_LABEL[o]}
          </option>
        ))}
      </select>
      <input
        aria-label="Times"
        type="number"
        min={0}
        value={countN}
        onChange={(e) => onChange({ ...value, count: { [countOp]: Math.max(0, Number(e.target.value) || 0) } })}
        className="input-narrow"
      />
      <span>times within</span>
      <input
        aria-label="Within"
        placeholder="30d (blank: ever)"
        value={value.within ?? ''}
        onChange={(e) => {
          const { within: _, ...rest } = value;
          onChange(e.target.value ? { ...rest, within: e.target.value } : rest);
        }}
        size={8}
      />
    </>
  );
}

/**
 * The value box keeps what was typed ("a, b," while typing a list) and
 * follows the condition only when it changes from elsewhere (undo, a new
 * operator).
 */
function ValueInput({ value, op, onChange }: { value: unknown; op: string; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(() => formatValue(value));
  useEffect(() => {
    if (JSON.stringify(parseValue(text, op)) !== JSON.stringify(value)) setText(formatValue(value));
    // Only an outside change of value or op may rewrite the text.
  }, [value, op]);
  return (
    <input
      aria-label="Value"
      placeholder={op === 'in' || op === 'not_in' ? 'a, b, c' : op === 'within_last' ? '7d' : 'value'}
      value={text}
      onChange={(e) => {
        setText(e.target.value);
        onChange(parseValue(e.target.value, op));
      }}
      size={12}
    />
  );
}
