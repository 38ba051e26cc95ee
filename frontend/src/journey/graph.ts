// Journey definition (DESIGN §5) ↔ canvas (React Flow nodes and edges).
//
// The graph's links live in node fields (next, on_event, branches[i].next,
// …); on the canvas each of those fields is a labelled source handle and a
// link is an edge from that handle. The trigger is drawn as an extra node
// whose one handle is the journey's `start`. Positions are kept in the
// definition's `layout`, beside the graph. Everything here is pure.
import type { Edge, Node } from '@xyflow/react';
import type { JourneyDefinition, JourneyNode, NodeType, ValidationError } from '../api.ts';

/** Id of the trigger pseudo-node on the canvas (not a journey node). */
export const TRIGGER_ID = '__trigger';

/** Live counts shown on a node of a published journey. */
export interface NodeCounts {
  entered: number;
  waiting: number;
  passed: number;
  /** Send nodes: messages per status (sent, delivered, opened, …). */
  funnel?: Record<string, number>;
}

/** What a canvas node carries: the journey node, plus errors and counts to show. */
export interface StepData extends Record<string, unknown> {
  node: JourneyNode;
  errors?: ValidationError[];
  counts?: NodeCounts;
}

/** The trigger pseudo-node's data: a one-line summary of the trigger. */
export interface TriggerData extends Record<string, unknown> {
  summary: string;
  errors?: ValidationError[];
}

export type StepNode = Node<StepData, 'step'>;
export type TriggerNode = Node<TriggerData, 'trigger'>;
export type CanvasNode = StepNode | TriggerNode;

/** A way out of a node: the handle id and its label on the canvas. */
export interface Exit {
  handle: string;
  label: string;
}

/** Labels of the node types, in palette order (DESIGN §5). */
export const NODE_TYPES: { type: NodeType; label: string; help: string }[] = [
  { type: 'send', label: 'Send message', help: 'Email, SMS or webhook from a template' },
  { type: 'delay', label: 'Delay', help: 'Wait for a duration, until a date, or a time of day' },
  { type: 'wait_for_event', label: 'Wait for event', help: 'Go on when an event arrives, or on timeout' },
  { type: 'branch', label: 'Branch', help: 'First matching condition wins, else the rest' },
  { type: 'split', label: 'Split', help: 'Weighted random paths (A/B test)' },
  { type: 'time_window', label: 'Time window', help: 'Wait until inside days and hours' },
  { type: 'update_customer', label: 'Update customer', help: 'Set or unset attributes' },
  { type: 'jump', label: 'Jump', help: 'Go to another step' },
  { type: 'exit', label: 'Exit', help: 'End the journey' },
];

export function typeLabel(type: NodeType): string {
  return NODE_TYPES.find((t) => t.type === type)?.label ?? type;
}

/** The exits (source handles) of a journey node, in field order. */
export function exitsOf(node: JourneyNode): Exit[] {
  switch (node.type) {
    case 'send':
    case 'delay':
    case 'time_window':
    case 'update_customer':
      return [{ handle: 'next', label: 'next' }];
    case 'wait_for_event':
      return [
        { handle: 'on_event', label: 'on event' },
        { handle: 'on_timeout', label: 'on timeout' },
      ];
    case 'branch':
      return [
        ...(node.branches ?? []).map((_, i) => ({ handle: `branch-${i}`, label: `branch ${i + 1}` })),
        { handle: 'else', label: 'else' },
      ];
    case 'split':
      return (node.variants ?? []).map((v, i) => ({
        handle: `variant-${i}`,
        label: `${v.name || `variant ${i + 1}`} · ${v.weight}%`,
      }));
    case 'jump':
      return [{ handle: 'to', label: 'jump to' }];
    case 'exit':
      return [];
  }
}

/** The node a handle of `node` leads to ('' when unset). */
export function exitTarget(node: JourneyNode, handle: string): string {
  if (handle.startsWith('branch-')) return node.branches?.[Number(handle.slice(7))]?.next ?? '';
  if (handle.startsWith('variant-')) return node.variants?.[Number(handle.slice(8))]?.next ?? '';
  switch (handle) {
    case 'next':
      return node.next ?? '';
    case 'on_event':
      return node.on_event ?? '';
    case 'on_timeout':
      return node.on_timeout ?? '';
    case 'else':
      return node.else ?? '';
    case 'to':
      return node.type === 'jump' ? (node.to ?? '') : '';
  }
  return '';
}

/** Returns a copy of `node` with the handle's link set to target ('' clears it). */
export function withExit(node: JourneyNode, handle: string, target: string): JourneyNode {
  const n: JourneyNode = { ...node };
  const set = (key: 'next' | 'on_event' | 'on_timeout' | 'else' | 'to') => {
    if (target) n[key] = target;
    else delete n[key];
  };
  if (handle.startsWith('branch-')) {
    const i = Number(handle.slice(7));
    n.branches = (n.branches ?? []).map((b, k) => (k === i ? { ...b, next: target } : b));
  } else if (handle.startsWith('variant-')) {
    const i = Number(handle.slice(8));
    n.variants = (n.variants ?? []).map((v, k) => (k === i ? { ...v, next: target } : v));
  } else if (handle === 'next' || handle === 'on_event' || handle === 'on_timeout' || handle === 'else') {
    set(handle);
  } else if (handle === 'to' && n.type === 'jump') {
    set('to');
  }
  return n;
}

/** A new node of a type with sensible defaults; links are left empty. */
export function newNode(type: NodeType, id: string): JourneyNode {
  switch (type) {
    case 'send':
      return { id, type, channel: 'email', template_id: '' };
    case 'delay':
      return { id, type, duration: '1d' };
    case 'wait_for_event':
      return { id, type, event: '', timeout: '2d' };
    case 'branch':
      return { id, type, branches: [{ when: { all: [{ attr: 'email', op: 'exists' }] }, next: '' }] };
    case 'split':
      return {
        id,
        type,
        variants: [
          { name: 'A', weight: 50, next: '' },
          { name: 'B', weight: 50, next: '' },
        ],
      };
    case 'time_window':
      return { id, type, days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' };
    case 'update_customer':
      return { id, type, set: {} };
    case 'jump':
      return { id, type };
    case 'exit':
      return { id, type };
  }
}

/** The first free id of the form `<type>_<n>`. */
export function nextNodeId(type: NodeType, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let n = 1; ; n++) {
    const id = `${type}_${n}`;
    if (!used.has(id)) return id;
  }
}

/** One line saying how customers enter. */
export function triggerSummary(def: JourneyDefinition): string {
  const t = def.trigger;
  switch (t.type) {
    case 'event':
      return t.event ? `When “${t.event}” happens` : 'When an event happens';
    case 'api':
      return 'When the API triggers it';
    case 'segment':
      return 'When a customer enters a segment';
    case 'schedule':
      return `On schedule ${t.cron ?? ''}`.trim();
  }
}

const COLUMN = 260;
const ROW = 180;

/**
 * A layered top-down layout: each node sits one row below the deepest of
 * its parents, ignoring the links that loop back (found by a depth-first
 * walk from the start); nodes not reached go to a last row. Good enough
 * for the tree-like graphs journeys are.
 */
export function autoLayout(def: JourneyDefinition): Record<string, { x: number; y: number }> {
  const byId = new Map(def.nodes.map((n) => [n.id, n]));
  const children = (id: string) => {
    const n = byId.get(id);
    return n ? exitsOf(n).map((e) => exitTarget(n, e.handle)).filter((t) => byId.has(t)) : [];
  };
  // Depth-first from start: postorder, and the links back onto the path.
  const post: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const back = new Set<string>();
  const visit = (id: string) => {
    state.set(id, 'open');
    for (const t of children(id)) {
      if (state.get(t) === 'open') back.add(`${id}>${t}`);
      else if (!state.has(t)) visit(t);
    }
    state.set(id, 'done');
    post.push(id);
  };
  if (byId.has(def.start)) visit(def.start);
  const depth = new Map<string, number>([[TRIGGER_ID, 0]]);
  const order = post.reverse();
  if (order.length) depth.set(order[0], 1);
  for (const id of order) {
    for (const t of children(id)) {
      if (back.has(`${id}>${t}`)) continue;
      depth.set(t, Math.max(depth.get(t) ?? 0, depth.get(id)! + 1));
    }
  }
  const last = Math.max(1, ...depth.values()) + 1;
  for (const n of def.nodes) {
    if (!depth.has(n.id)) {
      depth.set(n.id, last);
      order.push(n.id);
    }
  }
  const rows = new Map<number, string[]>();
  for (const id of [TRIGGER_ID, ...order]) {
    const d = depth.get(id)!;
    rows.set(d, [...(rows.get(d) ?? []), id]);
  }
  const out: Record<string, { x: number; y: number }> = {};
  for (const [d, ids] of rows) {
    ids.forEach((id, i) => {
      out[id] = { x: Math.round((i - (ids.length - 1) / 2) * COLUMN), y: d * ROW };
    });
  }
  return out;
}

/** Groups validation errors by node id; journey-level ones under ''. */
export function errorsByNode(errors: ValidationError[]): Map<string, ValidationError[]> {
  const out = new Map<string, ValidationError[]>();
  for (const e of errors) {
    const key = e.node ?? '';
    out.set(key, [...(out.get(key) ?? []), e]);
  }
  return out;
}

/** Journey-level errors that belong on the trigger node (start, trigger.*). */
function isTriggerError(e: ValidationError): boolean {
  return !e.node && (e.field === 'start' || e.field.startsWith('trigger'));
}

/** Converts a journey definition to canvas nodes and edges. */
export function journeyToFlow(
  def: JourneyDefinition,
  errors: ValidationError[] = [],
): { nodes: CanvasNode[]; edges: Edge[] } {
  const saved = def.layout?.nodes ?? {};
  const missing = [TRIGGER_ID, ...def.nodes.map((n) => n.id)].some((id) => !saved[id]);
  const auto = missing ? autoLayout(def) : {};
  const position = (id: string) => saved[id] ?? auto[id] ?? { x: 0, y: 0 };
  const byNode = errorsByNode(errors);

  const nodes: CanvasNode[] = [
    {
      id: TRIGGER_ID,
      type: 'trigger',
      position: position(TRIGGER_ID),
      deletable: false,
      data: { summary: triggerSummary(def), errors: errors.filter(isTriggerError) },
    },
    ...def.nodes.map(
      (n): StepNode => ({
        id: n.id,
        type: 'step',
        position: position(n.id),
        data: { node: n, errors: byNode.get(n.id) ?? [] },
      }),
    ),
  ];

  return { nodes, edges: flowEdges(def.start, def.nodes) };
}

/** The canvas edges of a graph: the trigger's edge to start, then every set link. */
export function flowEdges(start: string, steps: JourneyNode[]): Edge[] {
  const ids = new Set(steps.map((n) => n.id));
  const edges: Edge[] = [];
  if (start && ids.has(start)) edges.push(edge(TRIGGER_ID, 'start', start, ''));
  for (const n of steps) {
    for (const e of exitsOf(n)) {
      const t = exitTarget(n, e.handle);
      if (t && ids.has(t)) edges.push(edge(n.id, e.handle, t, e.label === 'next' ? '' : e.label));
    }
  }
  return edges;
}

/** An edge from a source handle; its id is unique per handle (one link each). */
export function edge(source: string, handle: string, target: string, label: string): Edge {
  return {
    id: `${source}:${handle}`,
    source,
    sourceHandle: handle,
    target,
    targetHandle: 'in',
    label: label || undefined,
  };
}

/**
 * Converts canvas nodes and edges back to a definition: journey-level fields
 * from `base`, nodes in canvas order with their links rebuilt from the
 * edges, `start` from the trigger's edge, positions into `layout`.
 */
export function flowToJourney(base: JourneyDefinition, nodes: CanvasNode[], edges: Edge[]): JourneyDefinition {
  const steps = nodes.filter((n): n is StepNode => n.type === 'step');
  const out = new Map<string, JourneyNode>();
  for (const s of steps) {
    let node: JourneyNode = { ...s.data.node, id: s.id };
    for (const e of exitsOf(node)) node = withExit(node, e.handle, '');
    out.set(s.id, node);
  }
  let start = '';
  for (const e of edges) {
    if (e.source === TRIGGER_ID) {
      if (out.has(e.target)) start = e.target;
      continue;
    }
    const from = out.get(e.source);
    if (!from || !out.has(e.target) || !e.sourceHandle) continue;
    out.set(e.source, withExit(from, e.sourceHandle, e.target));
  }
  const positions: Record<string, { x: number; y: number }> = {};
  for (const n of nodes) positions[n.id] = { x: Math.round(n.position.x), y: Math.round(n.position.y) };
  return { ...base, start, nodes: [...out.values()], layout: { ...base.layout, nodes: positions } };
}
