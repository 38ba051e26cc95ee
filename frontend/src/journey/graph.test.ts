import { describe, expect, it } from 'vitest';
import type { JourneyDefinition } from '../api.ts';
import {
  TRIGGER_ID,
  autoLayout,
  edge,
  errorsByNode,
  exitsOf,
  flowToJourney,
  journeyToFlow,
  newNode,
  nextNodeId,
  withExit,
  type StepNode,
} from './graph.ts';

/** The journey of DESIGN §5, with a split and a jump added. */
function welcome(): JourneyDefinition {
  return {
    name: 'Welcome',
    trigger: { type: 'event', event: 'Signed Up' },
    entry: { policy: 'once' },
    exit_on: [{ event: 'Unsubscribed' }],
    goal: { event: 'Activated', within: '7d' },
    settings: { quiet_hours: { start: '22:00', end: '08:00' } },
    start: 'welcome',
    nodes: [
      { id: 'welcome', type: 'send', channel: 'email', template_id: 'tpl_1', next: 'wait' },
      { id: 'wait', type: 'wait_for_event', event: 'Activated', timeout: '48h', on_event: 'done', on_timeout: 'nudge' },
      { id: 'nudge', type: 'branch', branches: [{ when: { attr: 'phone', op: 'exists' }, next: 'ab' }], else: 'done' },
      {
        id: 'ab',
        type: 'split',
        variants: [
          { name: 'A', weight: 70, next: 'sms' },
          { name: 'B', weight: 30, next: 'done' },
        ],
      },
      { id: 'sms', type: 'send', channel: 'sms', template_id: 'tpl_2', next: 'done' },
      { id: 'done', type: 'exit' },
    ],
  };
}

describe('journeyToFlow', () => {
  it('draws the trigger and every step, and one edge per set link with its handle and label', () => {
    const { nodes, edges } = journeyToFlow(welcome());
    expect(nodes.map((n) => [n.id, n.type])).toEqual([
      [TRIGGER_ID, 'trigger'],
      ['welcome', 'step'],
      ['wait', 'step'],
      ['nudge', 'step'],
      ['ab', 'step'],
      ['sms', 'step'],
      ['done', 'step'],
    ]);
    expect(nodes[0].deletable).toBe(false);
    expect(nodes[0].data).toMatchObject({ summary: 'When “Signed Up” happens' });
    expect(edges.map((e) => [e.source, e.sourceHandle, e.target, e.label ?? ''])).toEqual([
      [TRIGGER_ID, 'start', 'welcome', ''],
      ['welcome', 'next', 'wait', ''],
      ['wait', 'on_event', 'done', 'on event'],
      ['wait', 'on_timeout', 'nudge', 'on timeout'],
      ['nudge', 'branch-0', 'ab', 'branch 1'],
      ['nudge', 'else', 'done', 'else'],
      ['ab', 'variant-0', 'sms', 'A · 70%'],
      ['ab', 'variant-1', 'done', 'B · 30%'],
      ['sms', 'next', 'done', ''],
    ]);
    expect(new Set(edges.map((e) => e.id)).size).toBe(edges.length);
    expect(edges.every((e) => e.targetHandle === 'in')).toBe(true);
  });

  it('places steps where the layout says, and lays out the rest top-down', () => {
    const def = welcome();
    const laid = journeyToFlow(def).nodes;
    const y = Object.fromEntries(laid.map((n) => [n.id, n.position.y]));
    expect(y[TRIGGER_ID]).toBeLessThan(y.welcome);
    expect(y.welcome).toBeLessThan(y.wait);
    expect(y.wait).toBeLessThan(y.nudge);
    // done is below every step that leads to it (longest path).
    expect(y.done).toBeGreaterThan(y.sms);

    const positions = Object.fromEntries([TRIGGER_ID, ...def.nodes.map((n) => n.id)].map((id, i) => [id, { x: i * 10, y: i * 20 }]));
    const kept = journeyToFlow({ ...def, layout: { nodes: positions } }).nodes;
    expect(kept.map((n) => n.position)).toEqual(Object.values(positions));
  });

  it('skips links to steps that do not exist and puts errors on their steps and the trigger', () => {
    const def = welcome();
    def.nodes[0].next = 'gone';
    const { nodes, edges } = journeyToFlow(def, [
      { node: 'welcome', field: 'next', message: 'names node "gone", which does not exist' },
      { field: 'trigger.event', message: 'is required' },
      { field: 'name', message: 'is required' },
    ]);
    expect(edges.find((e) => e.source === 'welcome')).toBeUndefined();
    const welcomeNode = nodes.find((n) => n.id === 'welcome') as StepNode;
    expect(welcomeNode.data.errors).toEqual([{ node: 'welcome', field: 'next', message: 'names node "gone", which does not exist' }]);
    expect(nodes[0].data.errors).toEqual([{ field: 'trigger.event', message: 'is required' }]);
  });
});

describe('flowToJourney', () => {
  it('gives back the definition it was drawn from, with positions in the layout', () => {
    const def = welcome();
    const { nodes, edges } = journeyToFlow(def);
    const back = flowToJourney(def, nodes, edges);
    const { layout, ...graph } = back;
    expect(graph).toEqual(def);
    expect(Object.keys(layout?.nodes ?? {})).toEqual([TRIGGER_ID, 'welcome', 'wait', 'nudge', 'ab', 'sms', 'done']);
  });

  it('rebuilds links from the edges: a new connection, a removed one, the start', () => {
    const def = welcome();
    const { nodes, edges } = journeyToFlow(def);
    const changed = edges
      .filter((e) => e.id !== 'nudge:else' && e.source !== TRIGGER_ID)
      .concat(edge(TRIGGER_ID, 'start', 'wait', ''), edge('nudge', 'else', 'sms', 'else'));
    const back = flowToJourney(def, nodes, changed);
    expect(back.start).toBe('wait');
    expect(back.nodes.find((n) => n.id === 'nudge')?.else).toBe('sms');

    const without = flowToJourney(def, nodes, edges.filter((e) => e.id !== 'welcome:next'));
    expect(without.nodes.find((n) => n.id === 'welcome')).not.toHaveProperty('next');
  });

  it('drops a deleted step and every link to it', () => {
    const def = welcome();
    const { nodes, edges } = journeyToFlow(def);
    const back = flowToJourney(
      def,
      nodes.filter((n) => n.id !== 'sms'),
      edges,
    );
    expect(back.nodes.map((n) => n.id)).not.toContain('sms');
    expect(back.nodes.find((n) => n.id === 'ab')?.variants?.[0]).toEqual({ name: 'A', weight: 70, next: '' });
    expect(back.layout?.nodes).not.toHaveProperty('sms');
  });
});

describe('step helpers', () => {
  it('names the exits of each step type', () => {
    expect(exitsOf(newNode('send', 's')).map((e) => e.label)).toEqual(['next']);
    expect(exitsOf(newNode('wait_for_event', 'w')).map((e) => e.label)).toEqual(['on event', 'on timeout']);
    expect(exitsOf(newNode('branch', 'b')).map((e) => e.handle)).toEqual(['branch-0', 'else']);
    expect(exitsOf(newNode('split', 'p')).map((e) => e.handle)).toEqual(['variant-0', 'variant-1']);
    expect(exitsOf(newNode('jump', 'j')).map((e) => e.label)).toEqual(['jump to']);
    expect(exitsOf(newNode('exit', 'x'))).toEqual([]);
  });

  it('sets and clears links by handle, keeping a time window’s own "to"', () => {
    const tw = newNode('time_window', 't');
    expect(withExit(tw, 'to', 'x')).toEqual(tw);
    expect(withExit(tw, 'next', 'x').next).toBe('x');
    expect(withExit(newNode('jump', 'j'), 'to', 'x').to).toBe('x');
    expect(withExit({ id: 'j', type: 'jump', to: 'x' }, 'to', '')).toEqual({ id: 'j', type: 'jump' });
  });

  it('picks free step ids and groups errors by step', () => {
    expect(nextNodeId('send', ['send_1', 'send_3'])).toBe('send_2');
    const grouped = errorsByNode([
      { node: 'a', field: 'x', message: '1' },
      { field: 'name', message: '2' },
      { node: 'a', field: 'y', message: '3' },
    ]);
    expect(grouped.get('a')?.map((e) => e.message)).toEqual(['1', '3']);
    expect(grouped.get('')?.map((e) => e.message)).toEqual(['2']);
  });

  it('lays out loops without sending the loop target below itself', () => {
    const def = welcome();
    def.nodes[5] = { id: 'done', type: 'jump', to: 'wait' };
    const pos = autoLayout(def);
    expect(pos.wait.y).toBeLessThan(pos.done.y);
    expect(Object.keys(pos)).toHaveLength(def.nodes.length + 1);
  });
});

describe('definition JSON', () => {
  it('applies pasted JSON to the canvas and refuses what cannot be drawn', async () => {
    const { parseDefinition } = await import('./JsonPanel.tsx');
    const def = welcome();
    const parsed = parseDefinition(JSON.stringify(def));
    expect(journeyToFlow(parsed).edges).toEqual(journeyToFlow(def).edges);
    expect(() => parseDefinition('[]')).toThrow('JSON object');
    expect(() => parseDefinition('{"trigger":{"type":"api"}}')).toThrow('"nodes"');
    expect(() => parseDefinition('{"trigger":{"type":"api"},"nodes":[{"type":"exit"}]}')).toThrow('nodes[0] needs an "id"');
    expect(() => parseDefinition('{"nodes": [')).toThrow();
  });
});
