import { describe, expect, it } from 'vitest';
import type { JourneyNode } from '../api.ts';
import { copySteps, pasteSteps } from './clipboard.ts';

const graph: JourneyNode[] = [
  { id: 'send_1', type: 'send', channel: 'email', template_id: 'tpl_a', next: 'wait_for_event_1' },
  { id: 'wait_for_event_1', type: 'wait_for_event', event: 'Activated', timeout: '2d', on_event: 'exit_1', on_timeout: 'branch_1' },
  {
    id: 'branch_1',
    type: 'branch',
    branches: [{ when: { attr: 'plan', op: 'eq', value: 'pro' }, next: 'send_1' }],
    else: 'exit_1',
  },
  { id: 'exit_1', type: 'exit' },
];

describe('copySteps / pasteSteps', () => {
  it('keeps settings and inner links, drops links to steps not copied', () => {
    const clip = copySteps(graph, ['wait_for_event_1', 'branch_1'], { branch_1: { x: 10, y: 20 } });
    expect(clip.nodes).toEqual([
      { id: 'wait_for_event_1', type: 'wait_for_event', event: 'Activated', timeout: '2d', on_timeout: 'branch_1' },
      { id: 'branch_1', type: 'branch', branches: [{ when: { attr: 'plan', op: 'eq', value: 'pro' }, next: '' }] },
    ]);
    expect(clip.positions).toEqual({ branch_1: { x: 10, y: 20 } });
    // The copy is independent of the graph.
    clip.nodes[1].branches![0].when = { attr: 'x', op: 'exists' };
    expect(graph[2].branches![0].when).toEqual({ attr: 'plan', op: 'eq', value: 'pro' });
  });

  it('gives pasted steps new ids and points inner links at them', () => {
    const clip = copySteps(graph, ['send_1', 'wait_for_event_1', 'exit_1'], { send_1: { x: 0, y: 0 } });
    const taken = graph.map((n) => n.id);
    const pasted = pasteSteps(clip, taken);
    expect(pasted.ids).toEqual({ send_1: 'send_2', wait_for_event_1: 'wait_for_event_2', exit_1: 'exit_2' });
    expect(pasted.nodes).toEqual([
      { id: 'send_2', type: 'send', channel: 'email', template_id: 'tpl_a', next: 'wait_for_event_2' },
      { id: 'wait_for_event_2', type: 'wait_for_event', event: 'Activated', timeout: '2d', on_event: 'exit_2' },
      { id: 'exit_2', type: 'exit' },
    ]);
    expect(pasted.positions.send_2).toEqual({ x: 40, y: 40 });
    // Pasting again picks the next free ids.
    const again = pasteSteps(clip, [...taken, ...Object.values(pasted.ids)]);
    expect(Object.values(again.ids)).toEqual(['send_3', 'wait_for_event_3', 'exit_3']);
  });

  it('keeps a jump’s link only inside the copy, and a time window’s “to” as a setting', () => {
    const nodes: JourneyNode[] = [
      { id: 'time_window_1', type: 'time_window', days: ['mon'], from: '09:00', to: '17:00', next: 'jump_1' },
      { id: 'jump_1', type: 'jump', to: 'time_window_1' },
      { id: 'jump_2', type: 'jump', to: 'exit_9' },
    ];
    const pasted = pasteSteps(copySteps(nodes, ['time_window_1', 'jump_1', 'jump_2']), nodes.map((n) => n.id));
    expect(pasted.nodes).toEqual([
      { id: 'time_window_2', type: 'time_window', days: ['mon'], from: '09:00', to: '17:00', next: 'jump_3' },
      { id: 'jump_3', type: 'jump', to: 'time_window_2' },
      { id: 'jump_4', type: 'jump' },
    ]);
  });
});
