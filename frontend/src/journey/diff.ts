// What changed between two journey definitions (the live version and the
// draft about to be published), by step and field. Canvas positions are
// not changes. Pure.
import type { JourneyDefinition, JourneyNode } from '../api.ts';

/** One difference: a step added or removed, or a field changed (of a step or the journey). */
export interface DefinitionChange {
  kind: 'added' | 'removed' | 'changed';
  /** The step id, or '' for the journey itself. */
  step: string;
  /** The changed field ("template_id", "trigger.event"); '' for an added or removed step. */
  field: string;
  before?: unknown;
  after?: unknown;
}

/** JSON with object keys sorted, so key order is not a change. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}

/** Empty values (missing, null, "", [], {}) count as the same: the API drops them. */
function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v as object).length === 0;
}

function same(a: unknown, b: unknown): boolean {
  return (isEmpty(a) && isEmpty(b)) || stable(a) === stable(b);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Field-by-field changes of two objects; nested objects one level deep under `prefix`. */
function fieldChanges(step: string, a: Record<string, unknown>, b: Record<string, unknown>, prefix: string, skip: Set<string>, depth: number): DefinitionChange[] {
  const out: DefinitionChange[] = [];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !skip.has(k)).sort();
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (same(x, y)) continue;
    if (depth > 0 && isPlainObject(x) && isPlainObject(y)) {
      out.push(...fieldChanges(step, x, y, `${prefix}${k}.`, new Set(), depth - 1));
    } else {
      out.push({ kind: 'changed', step, field: `${prefix}${k}`, before: x, after: y });
    }
  }
  return out;
}

/**
 * The changes from `live` to `draft`: journey-level fields (name, trigger,
 * entry, exit events, goal, settings, start) first, then removed, added
 * and changed steps.
 */
export function diffDefinitions(live: JourneyDefinition, draft: JourneyDefinition): DefinitionChange[] {
  const top = fieldChanges('', live as unknown as Record<string, unknown>, draft as unknown as Record<string, unknown>, '', new Set(['nodes', 'layout']), 1);
  const before = new Map(live.nodes.map((n) => [n.id, n]));
  const after = new Map(draft.nodes.map((n) => [n.id, n]));
  const removed: DefinitionChange[] = live.nodes.filter((n) => !after.has(n.id)).map((n) => ({ kind: 'removed', step: n.id, field: '', before: n }));
  const added: DefinitionChange[] = draft.nodes.filter((n) => !before.has(n.id)).map((n) => ({ kind: 'added', step: n.id, field: '', after: n }));
  const changed = draft.nodes
    .filter((n) => before.has(n.id))
    .flatMap((n) => fieldChanges(n.id, before.get(n.id) as JourneyNode as unknown as Record<string, unknown>, n as unknown as Record<string, unknown>, '', new Set(['id']), 0));
  return [...top, ...removed, ...added, ...changed];
}

/** A short text of a value for the change list. */
export function showValue(v: unknown): string {
  if (isEmpty(v)) return '(none)';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

/** One line of a change, e.g. "send_1: template_id tpl_a → tpl_b". */
export function describeChange(c: DefinitionChange): string {
  if (c.kind === 'added') return `Step ${c.step} added (${(c.after as JourneyNode).type})`;
  if (c.kind === 'removed') return `Step ${c.step} removed (${(c.before as JourneyNode).type})`;
  const where = c.step ? `Step ${c.step}: ${c.field}` : c.field;
  return `${where}: ${showValue(c.before)} → ${showValue(c.after)}`;
}
