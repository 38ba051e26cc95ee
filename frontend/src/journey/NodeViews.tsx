// How journey steps look on the canvas: a card with the step's type, id and
// settings in one line, its validation errors, live counts, an input
// handle on top and one labelled output handle per exit at the bottom.
import { createContext, useContext } from 'react';
import { Handle, Position, type NodeProps } from '@xyflow/react';
import type { JourneyNode, Template } from '../api.ts';
import { exitsOf, typeLabel, type StepNode, type TriggerNode } from './graph.ts';

/** Templates by id, for the send steps' summaries. */
export const TemplatesContext = createContext<Map<string, Template>>(new Map());

/** One line describing what a step does. */
export function stepSummary(n: JourneyNode, templates: Map<string, Template>): string {
  switch (n.type) {
    case 'send': {
      const t = n.template_id ? templates.get(n.template_id) : undefined;
      return `${n.channel ?? '?'} · ${t ? t.name : n.template_id ? n.template_id : 'no template'}`;
    }
    case 'delay':
      if (n.duration) return `wait ${n.duration}`;
      if (n.until) return `until ${n.until}${n.offset ? ` ${n.offset}` : ''}`;
      if (n.at) return `until ${n.at} local time`;
      return 'no delay set';
    case 'wait_for_event':
      return `${n.event || 'no event'} · timeout ${n.timeout || '?'}`;
    case 'branch':
      return `${n.branches?.length ?? 0} condition${n.branches?.length === 1 ? '' : 's'} + else`;
    case 'split':
      return (n.variants ?? []).map((v) => `${v.name} ${v.weight}%`).join(' / ');
    case 'time_window':
      return `${(n.days ?? []).join(', ')} ${n.from ?? ''}–${n.to ?? ''}`;
    case 'update_customer': {
      const keys = [...Object.keys(n.set ?? {}), ...(n.unset ?? []).map((k) => `−${k}`)];
      return keys.length ? keys.join(', ') : 'nothing set';
    }
    case 'jump':
      return n.to ? `to ${n.to}` : 'no target';
    case 'exit':
      return 'end of journey';
  }
}

const FUNNEL_SHOWN = ['sent', 'delivered', 'opened', 'clicked', 'failed', 'suppressed', 'deferred'];

/** A journey step on the canvas. */
export function StepNodeView({ id, data, selected }: NodeProps<StepNode>) {
  const templates = useContext(TemplatesContext);
  const n = data.node;
  const exits = exitsOf(n);
  const errors = data.errors ?? [];
  const counts = data.counts;
  const classes = ['step-node', `step-${n.type}`, selected ? 'selected' : '', errors.length ? 'has-errors' : ''];
  return (
    <div className={classes.join(' ')} role="group" aria-label={`${typeLabel(n.type)} step ${id}`} data-testid={`step-${id}`}>
      <Handle type="target" position={Position.Top} id="in" />
      <div className="step-head">
        <span className="step-type">{typeLabel(n.type)}</span>
        <span className="step-id">{id}</span>
      </div>
      <div className="step-summary">{stepSummary(n, templates)}</div>
      {counts && (
        <dl className="step-counts" aria-label={`Counts for ${id}`}>
          <div>
            <dt>entered</dt>
            <dd data-testid={`entered-${id}`}>{counts.entered}</dd>
          </div>
          <div>
            <dt>waiting</dt>
            <dd data-testid={`waiting-${id}`}>{counts.waiting}</dd>
          </div>
          <div>
            <dt>passed</dt>
            <dd data-testid={`passed-${id}`}>{counts.passed}</dd>
          </div>
        </dl>
      )}
      {counts?.funnel && (
        <p className="step-funnel" data-testid={`funnel-${id}`}>
          {FUNNEL_SHOWN.filter((s) => counts.funnel?.[s])
            .map((s) => `${counts.funnel?.[s]} ${s}`)
            .join(' · ') || 'no messages yet'}
        </p>
      )}
      {errors.length > 0 && (
        <ul className="step-errors" aria-label={`Problems in ${id}`}>
          {errors.map((e, i) => (
            <li key={i}>
              <strong>{e.field}</strong> {e.message}
            </li>
          ))}
        </ul>
      )}
      {exits.length > 0 && (
        <div className="exit-row">
          {exits.map((e) => (
            <span key={e.handle} className="exit-slot">
              {e.label !== 'next' && <span className="exit-label">{e.label}</span>}
              <Handle type="source" position={Position.Bottom} id={e.handle} className="exit-handle" />
            </span>
          ))}
        </div>
      )}
    </div>
  );
}

/** The trigger: where customers enter; its one handle is the journey's start. */
export function TriggerNodeView({ data, selected }: NodeProps<TriggerNode>) {
  const errors = data.errors ?? [];
  return (
    <div
      className={['step-node', 'trigger-node', selected ? 'selected' : '', errors.length ? 'has-errors' : ''].join(' ')}
      role="group"
      aria-label="Trigger"
      data-testid="step-trigger"
    >
      <div className="step-head">
        <span className="step-type">Trigger</span>
      </div>
      <div className="step-summary">{data.summary}</div>
      {errors.length > 0 && (
        <ul className="step-errors" aria-label="Problems in the trigger">
          {errors.map((e, i) => (
            <li key={i}>
              <strong>{e.field}</strong> {e.message}
            </li>
          ))}
        </ul>
      )}
      <div className="exit-row">
        <span className="exit-slot">
          <Handle type="source" position={Position.Bottom} id="start" className="exit-handle" />
        </span>
      </div>
    </div>
  );
}
