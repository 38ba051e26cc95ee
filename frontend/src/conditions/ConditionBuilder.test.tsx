import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import type { Condition, Segment } from '../api.ts';
import { ConditionBuilder, formatValue, parseValue, type ConditionScope } from './ConditionBuilder.tsx';

const segments: Segment[] = [
  { id: 'seg_vip', name: 'VIPs', kind: 'dynamic', condition: null, created_at: '', updated_at: '' },
];

/** Renders the builder over state and reports every value it produced. */
function setup(initial: Condition, scope: ConditionScope = 'segment') {
  const seen: Condition[] = [];
  function Harness() {
    const [value, setValue] = useState(initial);
    return (
      <ConditionBuilder
        label="Who"
        scope={scope}
        segments={segments}
        value={value}
        onChange={(c) => {
          seen.push(c);
          setValue(c);
        }}
      />
    );
  }
  render(<Harness />);
  return { user: userEvent.setup(), last: () => seen[seen.length - 1] };
}

describe('ConditionBuilder', () => {
  it('builds an attribute condition, typing numbers as numbers and dropping the value for exists', async () => {
    const { user, last } = setup({ all: [] });
    const root = screen.getByRole('group', { name: 'Who' });
    expect(within(root).getByText(/No conditions yet/)).toBeTruthy();

    await user.click(screen.getByRole('button', { name: '+ Attribute' }));
    await user.type(screen.getByLabelText('Attribute name'), 'age');
    await user.selectOptions(screen.getByLabelText('Operator'), 'gte');
    await user.type(screen.getByLabelText('Value'), '21');
    expect(last()).toEqual({ all: [{ attr: 'age', op: 'gte', value: 21 }] });

    await user.selectOptions(screen.getByLabelText('Operator'), 'exists');
    expect(last()).toEqual({ all: [{ attr: 'age', op: 'exists' }] });
    expect(screen.queryByLabelText('Value')).toBeNull();

    await user.selectOptions(screen.getByLabelText('Operator'), 'in');
    await user.type(screen.getByLabelText('Value'), 'fr, de,3');
    expect(last()).toEqual({ all: [{ attr: 'age', op: 'in', value: ['fr', 'de', 3] }] });
  });

  it('adds event, segment and nested any-groups, and switches all to any', async () => {
    const { user, last } = setup({ all: [] });
    await user.click(screen.getByRole('button', { name: '+ Event' }));
    await user.type(screen.getByLabelText('Event name'), 'Purchased');
    await user.selectOptions(screen.getByLabelText('Count comparison'), 'gt');
    const times = screen.getByLabelText('Times');
    await user.clear(times);
    await user.type(times, '2');
    await user.clear(screen.getByLabelText('Within'));
    await user.type(screen.getByLabelText('Within'), '7d');
    expect(last()).toEqual({ all: [{ event: 'Purchased', op: 'performed', count: { gt: 2 }, within: '7d' }] });

    await user.click(screen.getAllByRole('button', { name: '+ Segment' })[0]);
    await user.selectOptions(screen.getByLabelText('Segment'), 'seg_vip');
    await user.selectOptions(screen.getByLabelText('Membership'), 'not_member');

    await user.click(screen.getAllByRole('button', { name: '+ Group' })[0]);
    const groups = screen.getAllByRole('group').filter((g) => g.tagName === 'FIELDSET');
    const inner = groups[groups.length - 1];
    await user.selectOptions(within(inner).getByLabelText('Match'), 'any');
    await user.click(within(inner).getByRole('button', { name: '+ Attribute' }));
    await user.type(within(inner).getByLabelText('Attribute name'), 'plan');
    await user.type(within(inner).getByLabelText('Value'), 'pro');

    await user.selectOptions(screen.getAllByLabelText('Match')[0], 'any');
    expect(last()).toEqual({
      any: [
        { event: 'Purchased', op: 'performed', count: { gt: 2 }, within: '7d' },
        { segment: 'seg_vip', op: 'not_member' },
        { any: [{ attr: 'plan', op: 'eq', value: 'pro' }] },
      ],
    });

    // Removing a condition leaves the others.
    await user.click(screen.getAllByRole('button', { name: 'Remove condition' })[0]);
    expect((last() as { any: Condition[] }).any).toHaveLength(2);
    await user.click(screen.getByRole('button', { name: 'Remove group' }));
    expect(last()).toEqual({ any: [{ segment: 'seg_vip', op: 'not_member' }] });
  });

  it('offers what each scope allows and wraps a single condition in a group', async () => {
    const { user, last } = setup({ attr: 'phone', op: 'exists' }, 'branch');
    expect(screen.getByRole('button', { name: '+ Event property' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: '+ Event' })).toBeNull();
    expect((screen.getByLabelText('Attribute name') as HTMLInputElement).value).toBe('phone');
    await user.click(screen.getByRole('button', { name: '+ Event property' }));
    await user.type(screen.getByLabelText('Property name'), 'total');
    await user.selectOptions(screen.getAllByLabelText('Operator')[1], 'gt');
    await user.type(screen.getAllByLabelText('Value')[0], '100');
    expect(last()).toEqual({ all: [{ attr: 'phone', op: 'exists' }, { prop: 'total', op: 'gt', value: 100 }] });
  });
});

describe('values', () => {
  it('reads numbers, booleans and lists, and keeps text for text operators', () => {
    expect(parseValue('42', 'eq')).toBe(42);
    expect(parseValue('true', 'eq')).toBe(true);
    expect(parseValue('42', 'contains')).toBe('42');
    expect(parseValue('7d', 'within_last')).toBe('7d');
    expect(parseValue('a, 2, ,b', 'not_in')).toEqual(['a', 2, 'b']);
    expect(formatValue(['a', 2])).toBe('a, 2');
    expect(formatValue(undefined)).toBe('');
  });
});
