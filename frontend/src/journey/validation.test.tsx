// Validation errors from the API (422 with errors naming node and field)
// shown on the canvas steps and in the side panel.
import { render, screen, within } from '@testing-library/react';
import { ReactFlowProvider, type NodeProps } from '@xyflow/react';
import { describe, expect, it, vi } from 'vitest';
import * as api from '../api.ts';
import type { JourneyDefinition } from '../api.ts';
import { json, mockFetch } from '../test/fetchMock.ts';
import { journeyToFlow, type StepNode, type TriggerNode } from './graph.ts';
import { NodePanel } from './NodePanel.tsx';
import { StepNodeView, TriggerNodeView } from './NodeViews.tsx';

const def: JourneyDefinition = {
  name: 'Welcome',
  trigger: { type: 'event', event: '' },
  entry: { policy: 'once' },
  settings: {},
  start: 'welcome',
  nodes: [
    { id: 'welcome', type: 'send', channel: 'email', template_id: 'tpl_gone', next: 'wait' },
    { id: 'wait', type: 'wait_for_event', event: 'Activated', timeout: 'soon', on_event: 'done', on_timeout: 'done' },
    { id: 'done', type: 'exit' },
  ],
};

const answer = {
  error: 'journey is invalid: …',
  errors: [
    { field: 'trigger.event', message: 'is required for an event trigger' },
    { node: 'welcome', field: 'template_id', message: 'template "tpl_gone" does not exist' },
    { node: 'wait', field: 'timeout', message: 'expected a number with a unit' },
  ],
};

function nodeProps<T>(n: { id: string; data: unknown }): T {
  return { id: n.id, data: n.data, selected: false, type: 'step', dragging: false, zIndex: 0, isConnectable: true, positionAbsoluteX: 0, positionAbsoluteY: 0, deletable: true, selectable: true, draggable: true } as T;
}

describe('validation errors', () => {
  it('turns a 422 from save into a JourneyInvalidError with every error', async () => {
    const { calls } = mockFetch({ 'PUT /api/journeys/jny_1': () => json(422, answer) });
    const err = await api.updateJourney('jny_1', def).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(api.JourneyInvalidError);
    expect((err as api.JourneyInvalidError).errors).toEqual(answer.errors);
    expect(calls[0].body).toEqual(def);

    mockFetch({ 'POST /api/journeys/jny_1/publish': () => json(409, { error: 'the journey is stopped' }) });
    const other = await api.publishJourney('jny_1').catch((e: unknown) => e);
    expect(other).toBeInstanceOf(api.ApiError);
    expect(other).not.toBeInstanceOf(api.JourneyInvalidError);
  });

  it('shows each error on its step and the trigger’s on the trigger', () => {
    const { nodes } = journeyToFlow(def, answer.errors);
    const [trigger, welcome, wait, done] = nodes;
    render(
      <ReactFlowProvider>
        <TriggerNodeView {...nodeProps<NodeProps<TriggerNode>>(trigger)} />
        <StepNodeView {...nodeProps<NodeProps<StepNode>>(welcome)} />
        <StepNodeView {...nodeProps<NodeProps<StepNode>>(wait)} />
        <StepNodeView {...nodeProps<NodeProps<StepNode>>(done)} />
      </ReactFlowProvider>,
    );
    const sendStep = screen.getByRole('group', { name: 'Send message step welcome' });
    expect(sendStep.className).toContain('has-errors');
    expect(within(sendStep).getByRole('list', { name: 'Problems in welcome' }).textContent).toBe(
      'template_id template "tpl_gone" does not exist',
    );
    expect(within(screen.getByRole('group', { name: 'Wait for event step wait' })).getByRole('listitem').textContent).toContain('timeout');
    const exit = screen.getByRole('group', { name: 'Exit step done' });
    expect(exit.className).not.toContain('has-errors');
    expect(within(exit).queryByRole('list')).toBeNull();
    expect(within(screen.getByRole('group', { name: 'Trigger' })).getByRole('list', { name: 'Problems in the trigger' }).textContent).toContain(
      'trigger.event',
    );
  });

  it('lists the selected step’s errors in the side panel', () => {
    render(
      <NodePanel
        node={def.nodes[1]}
        stepIds={['welcome', 'wait', 'done']}
        templates={[]}
        segments={[]}
        errors={[answer.errors[2]]}
        readOnly={false}
        onChange={vi.fn()}
        onConnect={vi.fn()}
        onDelete={vi.fn()}
      />,
    );
    const panel = screen.getByRole('region', { name: 'Step wait' });
    expect(within(panel).getByRole('alert').textContent).toBe('timeout: expected a number with a unit');
    expect((screen.getByLabelText('Next step (on timeout)') as HTMLSelectElement).value).toBe('done');
  });
});
