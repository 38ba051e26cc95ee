// Copy and paste of journey steps, as pure functions over journey nodes:
// a copy keeps the chosen steps with their settings and only the links
// between them; a paste gives every step a new id and points the kept
// links at the new ids.
import type { JourneyNode } from '../api.ts';
import { exitTarget, exitsOf, nextNodeId, withExit } from './graph.ts';

type Point = { x: number; y: number };

/** Copied steps and where they were on the canvas. */
export interface StepClip {
  nodes: JourneyNode[];
  positions: Record<string, Point>;
}

/** Rewrites every link of `node`: `to(target)` gives the new target ('' drops it). */
function relink(node: JourneyNode, to: (target: string) => string): JourneyNode {
  let n = node;
  for (const { handle } of exitsOf(node)) {
    const t = exitTarget(n, handle);
    if (t) n = withExit(n, handle, to(t));
  }
  return n;
}

/** Copies the steps with the given ids (in graph order); links to steps not copied are dropped. */
export function copySteps(nodes: JourneyNode[], ids: Iterable<string>, positions: Record<string, Point> = {}): StepClip {
  const chosen = new Set(ids);
  const out: StepClip = { nodes: [], positions: {} };
  for (const node of nodes) {
    if (!chosen.has(node.id)) continue;
    out.nodes.push(relink(structuredClone(node), (t) => (chosen.has(t) ? t : '')));
    if (positions[node.id]) out.positions[node.id] = { ...positions[node.id] };
  }
  return out;
}

/**
 * Pastes copied steps into a graph whose ids are `taken`: each step gets the
 * first free id of its type, links between copied steps follow the new
 * ids, and positions move by `offset`. Returns the new nodes, their
 * positions and the id each copied step got.
 */
export function pasteSteps(clip: StepClip, taken: Iterable<string>, offset: Point = { x: 40, y: 40 }) {
  const used = new Set(taken);
  const ids: Record<string, string> = {};
  for (const n of clip.nodes) {
    const id = nextNodeId(n.type, used);
    used.add(id);
    ids[n.id] = id;
  }
  const nodes = clip.nodes.map((n) => relink({ ...structuredClone(n), id: ids[n.id] }, (t) => ids[t] ?? ''));
  const positions: Record<string, Point> = {};
  clip.nodes.forEach((n, i) => {
    const p = clip.positions[n.id] ?? { x: 40, y: 120 + i * 30 };
    positions[ids[n.id]] = { x: p.x + offset.x, y: p.y + offset.y };
  });
  return { nodes, positions, ids };
}
