import { describe, expect, it } from 'vitest';
import type { JourneyDefinition } from '../api.ts';
import { describeChange, diffDefinitions } from './diff.ts';

const live: JourneyDefinition = {
  name: 'Onboarding',
  trigger: { type: 'event', event: 'Signed Up' },
  entry: { policy: 'once' },
  settings: { quiet_hours: { start: '22:00', end: '08:00' } },
  start: 'send_1',
  nodes: [
    { id: 'send_1', type: 'send', channel: 'email', template_id: 'tpl_a', next: 'delay_1' },
    { id: 'delay_1', type: 'delay', duration: '1d', next: 'exit_1' },
    { id: 'exit_1', type: 'exit' },
  ],
  layout: { nodes: { send_1: { x: 0, y: 0 } } },
};

describe('diffDefinitions', () => {
  it('finds nothing between equal definitions, whatever the key order, layout or empty fields', () => {
    const draft = JSON.parse(JSON.stringify(live)) as JourneyDefinition;
    draft.layout = { nodes: { send_1: { x: 100, y: 300 } } };
    draft.nodes[0] = { next: 'delay_1', template_id: 'tpl_a', channel: 'email', type: 'send', id: 'send_1' };
    draft.exit_on = [];
    expect(diffDefinitions(live, draft)).toEqual([]);
  });

  it('lists journey-level changes, then removed, added and changed steps by field', () => {
    const draft: JourneyDefinition = {
      ...live,
      trigger: { type: 'event', event: 'Registered' },
      entry: { policy: 'every_time' },
      settings: { quiet_hours: { start: '21:00', end: '08:00' }, send_rate_per_minute: 60 },
      nodes: [
        { id: 'send_1', type: 'send', channel: 'email', template_id: 'tpl_b', next: 'wait_for_event_1' },
        { id: 'wait_for_event_1', type: 'wait_for_event', event: 'Activated', timeout: '2d', on_event: 'exit_1' },
        { id: 'exit_1', type: 'exit' },
      ],
    };
    const changes = diffDefinitions(live, draft);
    expect(changes.map((c) => [c.kind, c.step, c.field])).toEqual([
      ['changed', '', 'entry.policy'],
      ['changed', '', 'settings.quiet_hours'],
      ['changed', '', 'settings.send_rate_per_minute'],
      ['changed', '', 'trigger.event'],
      ['removed', 'delay_1', ''],
      ['added', 'wait_for_event_1', ''],
      ['changed', 'send_1', 'next'],
      ['changed', 'send_1', 'template_id'],
    ]);
    expect(changes.map(describeChange)).toEqual([
      'entry.policy: once → every_time',
      'settings.quiet_hours: {"start":"22:00","end":"08:00"} → {"start":"21:00","end":"08:00"}',
      'settings.send_rate_per_minute: (none) → 60',
      'trigger.event: Signed Up → Registered',
      'Step delay_1 removed (delay)',
      'Step wait_for_event_1 added (wait_for_event)',
      'Step send_1: next: delay_1 → wait_for_event_1',
      'Step send_1: template_id: tpl_a → tpl_b',
    ]);
  });

  it('reports a new start step and a changed name', () => {
    const draft = { ...live, name: 'Onboarding v2', start: 'delay_1' };
    expect(diffDefinitions(live, draft).map(describeChange)).toEqual(['name: Onboarding → Onboarding v2', 'start: send_1 → delay_1']);
  });
});
