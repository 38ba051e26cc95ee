// The journey canvas: a palette of step types to drag (or click) onto the
// canvas, steps connected handle to handle, a side panel for the selected
// step or the journey settings, save / publish / pause / resume / stop, and
// on a published journey the live counts per step and the runs. Selected
// steps can be copied and pasted; publishing over a live version first
// shows what changed; a segment-triggered journey shows the entry of the
// segment's existing members.
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import { useLeaveGuard } from '../router.ts';
import {
  Background,
  Controls,
  Panel,
  ReactFlow,
  ReactFlowProvider,
  applyNodeChanges,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import * as api from '../api.ts';
import type { Journey, JourneyDefinition, JourneyNode, JourneyStats, NodeType, Segment, Template, ValidationError } from '../api.ts';
import { ConfirmDialog } from '../ConfirmDialog.tsx';
import { copySteps, pasteSteps, type StepClip } from './clipboard.ts';
import { describeChange, diffDefinitions, type DefinitionChange } from './diff.ts';
import { EnrollmentsPanel } from './EnrollmentsPanel.tsx';
import {
  NODE_TYPES,
  TRIGGER_ID,
  autoLayout,
  flowEdges,
  flowToJourney,
  journeyToFlow,
  newNode,
  nextNodeId,
  triggerSummary,
  withExit,
  type CanvasNode,
  type StepNode,
} from './graph.ts';
import { NodePanel } from './NodePanel.tsx';
import { StepNodeView, TemplatesContext, TriggerNodeView } from './NodeViews.tsx';
import { JsonPanel } from './JsonPanel.tsx';
import { RunsPanel } from './RunsPanel.tsx';
import { SettingsPanel } from './SettingsPanel.tsx';
import { errorText } from '../errors.ts';

const nodeTypes = { step: StepNodeView, trigger: TriggerNodeView };
const DRAG_TYPE = 'application/x-herald-step';
const STATS_EVERY_MS = 3000;

interface Snapshot {
  def: JourneyDefinition;
  nodes: CanvasNode[];
}

type Action = 'pause' | 'resume' | 'stop' | 'archive';

const ACTION_TEXT: Record<Action, { title: string; body: string; label: string }> = {
  pause: { title: 'Pause journey?', body: 'Runs hold at their next send until you resume; no new customers enter.', label: 'Pause journey' },
  resume: { title: 'Resume journey?', body: 'Held runs continue and new customers enter again.', label: 'Resume journey' },
  stop: { title: 'Stop journey?', body: 'Every running run is cancelled and no one enters again. This cannot be undone.', label: 'Stop journey' },
  archive: { title: 'Archive journey?', body: 'It leaves the list of journeys in use and cannot be edited or published again.', label: 'Archive journey' },
};

export function JourneyEditor({ id, navigate }: { id: string; navigate: (to: string) => void }) {
  return (
    <ReactFlowProvider>
      <Editor id={id} navigate={navigate} />
    </ReactFlowProvider>
  );
}

function Editor({ id, navigate }: { id: string; navigate: (to: string) => void }) {
  const [journey, setJourney] = useState<Journey | null>(null);
  const [loadError, setLoadError] = useState('');
  const [templates, setTemplates] = useState<Template[]>([]);
  const [segments, setSegments] = useState<Segment[]>([]);
  const [def, setDef] = useState<JourneyDefinition | null>(null);
  const [nodes, setNodes] = useState<CanvasNode[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [selectedEdge, setSelectedEdge] = useState<string | null>(null);
  const [errors, setErrors] = useState<ValidationError[]>([]);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [dirty, setDirty] = useState(false);
  const [stats, setStats] = useState<JourneyStats | null>(null);
  const [confirm, setConfirm] = useState<Action | null>(null);
  const [confirmError, setConfirmError] = useState('');
  const [showRuns, setShowRuns] = useState(false);
  const [showJson, setShowJson] = useState(false);
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const [, setHistoryTick] = useState(0);
  const [runPath, setRunPath] = useState<Set<string>>(new Set());
  // Steps selected together (Ctrl+click or Shift+drag) for copy; `selected` is the one the side panel shows.
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [clip, setClip] = useState<StepClip | null>(null);
  const pastes = useRef(0);
  // Publishing over a live version: what changed, confirmed first.
  const [publishDiff, setPublishDiff] = useState<{ version: number; changes: DefinitionChange[] } | null>(null);
  const flow = useReactFlow();

  // Confirmations fade after a while; errors stay until the next action.
  useEffect(() => {
    if (message?.kind !== 'ok') return;
    const t = setTimeout(() => setMessage(null), 6000);
    return () => clearTimeout(t);
  }, [message]);

  // Leaving the page with unsaved changes asks first.
  useLeaveGuard(dirty, 'This journey has unsaved changes. Leave and lose them?');

  const load = useCallback(async () => {
    setLoadError('');
    try {
      const [j, ts, ss] = await Promise.all([api.getJourney(id), api.listTemplates(), api.listSegments()]);
      setJourney(j);
      setTemplates(ts);
      setSegments(ss);
      setDef(j.definition);
      setNodes(journeyToFlow(j.definition).nodes);
      setDirty(false);
    } catch (err) {
      setLoadError(errorText(err));
    }
  }, [id]);

  useEffect(() => {
    void load();
  }, [load]);

  const live = !!journey && journey.status !== 'draft';
  const readOnly = !!journey && (journey.status === 'stopped' || journey.status === 'archived');

  // Live counts, refreshed while the page is open.
  useEffect(() => {
    if (!live) return;
    let stop = false;
    const tick = async () => {
      try {
        const s = await api.journeyStats(id);
        if (!stop) setStats(s);
      } catch {
        // Keep the last counts; the next tick tries again.
      }
    };
    void tick();
    const timer = setInterval(tick, STATS_EVERY_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [id, live]);

  const steps = useMemo(() => nodes.filter((n): n is StepNode => n.type === 'step'), [nodes]);
  const edges: Edge[] = useMemo(
    () => (def ? flowEdges(def.start, steps.map((s) => s.data.node)).map((e) => ({ ...e, selected: e.id === selectedEdge })) : []),
    [def, steps, selectedEdge],
  );

  // What the canvas shows: nodes with their errors, counts and selection.
  const shown = useMemo(() => {
    const byNode = new Map<string, ValidationError[]>();
    for (const e of errors) if (e.node) byNode.set(e.node, [...(byNode.get(e.node) ?? []), e]);
    const triggerErrors = errors.filter((e) => !e.node && (e.field === 'start' || e.field.startsWith('trigger')));
    return nodes.map((n): CanvasNode => {
      if (n.type === 'trigger') return { ...n, selected: n.id === selected || picked.has(n.id), data: { summary: def ? triggerSummary(def) : '', errors: triggerErrors } };
      const c = stats?.nodes[n.id];
      const funnel = n.data.node.type === 'send' ? (stats?.funnel[n.id] ?? stats?.sends[n.id] ?? {}) : undefined;
      return {
        ...n,
        selected: n.id === selected || picked.has(n.id),
        className: runPath.has(n.id) ? 'on-path' : undefined,
        data: {
          ...n.data,
          errors: byNode.get(n.id) ?? [],
          counts: live ? { entered: c?.entered ?? 0, waiting: c?.waiting ?? 0, passed: c?.passed ?? 0, funnel } : undefined,
        },
      };
    });
  }, [nodes, errors, stats, live, selected, picked, def, runPath]);

  // ---- Undo / redo -----------------------------------------------------------

  const remember = useCallback(() => {
    if (!def) return;
    past.current = [...past.current.slice(-49), { def, nodes }];
    future.current = [];
    setDirty(true);
    setHistoryTick((t) => t + 1);
  }, [def, nodes]);

  const undo = useCallback(() => {
    const prev = past.current.pop();
    if (!prev || !def) return;
    future.current.push({ def, nodes });
    setDef(prev.def);
    setNodes(prev.nodes);
    setDirty(true);
    setHistoryTick((t) => t + 1);
  }, [def, nodes]);

  const redo = useCallback(() => {
    const next = future.current.pop();
    if (!next || !def) return;
    past.current.push({ def, nodes });
    setDef(next.def);
    setNodes(next.nodes);
    setDirty(true);
    setHistoryTick((t) => t + 1);
  }, [def, nodes]);

  // ---- Editing -----------------------------------------------------------------

  const addStep = useCallback(
    (type: NodeType, position?: { x: number; y: number }) => {
      if (readOnly) return;
      remember();
      const stepId = nextNodeId(type, nodes.map((n) => n.id));
      const at = position ?? { x: 40 + (steps.length % 4) * 40, y: 120 + steps.length * 30 };
      setNodes((ns) => [...ns, { id: stepId, type: 'step', position: at, data: { node: newNode(type, stepId) } }]);
      setSelected(stepId);
      setPicked(new Set([stepId]));
    },
    [nodes, steps.length, readOnly, remember],
  );

  const updateStep = useCallback(
    (stepId: string, node: JourneyNode) => {
      remember();
      setNodes((ns) => ns.map((n) => (n.id === stepId && n.type === 'step' ? { ...n, data: { ...n.data, node } } : n)));
    },
    [remember],
  );

  const connect = useCallback(
    (source: string, handle: string, target: string) => {
      if (!def || readOnly) return;
      remember();
      if (source === TRIGGER_ID) {
        setDef({ ...def, start: target });
        return;
      }
      setNodes((ns) =>
        ns.map((n) => (n.id === source && n.type === 'step' ? { ...n, data: { ...n.data, node: withExit(n.data.node, handle, target) } } : n)),
      );
    },
    [def, readOnly, remember],
  );

  const removeStep = useCallback(
    (stepId: string) => {
      if (!def || readOnly) return;
      remember();
      setNodes((ns) => ns.filter((n) => n.id !== stepId));
      if (def.start === stepId) setDef({ ...def, start: '' });
      setSelected(null);
      setPicked(new Set());
    },
    [def, readOnly, remember],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<CanvasNode>[]) => {
      const selects = changes.filter((c) => c.type === 'select');
      if (selects.length > 0) {
        setPicked((p) => {
          const next = new Set(p);
          for (const c of selects) {
            if (c.selected) next.add(c.id);
            else next.delete(c.id);
          }
          return next;
        });
      }
      for (const c of changes) {
        if (c.type === 'select' && c.selected) setSelected(c.id);
        if (c.type === 'remove') {
          if (c.id === TRIGGER_ID) continue;
          removeStep(c.id);
          return;
        }
      }
      const kept = changes.filter((c) => c.type === 'position' || c.type === 'dimensions');
      if (kept.length === 0) return;
      if (kept.some((c) => c.type === 'position' && !c.dragging)) setDirty(true);
      setNodes((ns) => applyNodeChanges(kept, ns));
    },
    [removeStep],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      for (const c of changes) {
        if (c.type === 'select') setSelectedEdge(c.selected ? c.id : null);
        if (c.type === 'remove' && !readOnly) {
          const e = edges.find((x) => x.id === c.id);
          if (e) connect(e.source, e.sourceHandle ?? '', '');
        }
      }
    },
    [edges, connect, readOnly],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (c.source && c.target && c.target !== TRIGGER_ID) connect(c.source, c.sourceHandle ?? 'next', c.target);
    },
    [connect],
  );

  const onDrop = useCallback(
    (e: DragEvent<HTMLDivElement>) => {
      const type = e.dataTransfer.getData(DRAG_TYPE) as NodeType;
      if (!type) return;
      e.preventDefault();
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      addStep(type, { x: Math.round(p.x - 100), y: Math.round(p.y - 30) });
    },
    [flow, addStep],
  );

  const copy = useCallback(() => {
    const ids = new Set([...picked, ...(selected ? [selected] : [])]);
    ids.delete(TRIGGER_ID);
    const chosen = steps.filter((s) => ids.has(s.id));
    if (chosen.length === 0) return;
    setClip(copySteps(steps.map((s) => s.data.node), ids, Object.fromEntries(chosen.map((s) => [s.id, s.position]))));
    pastes.current = 0;
    setMessage({ kind: 'ok', text: `Copied ${chosen.length} step${chosen.length === 1 ? '' : 's'}.` });
  }, [picked, selected, steps]);

  const paste = useCallback(() => {
    if (!clip || readOnly || clip.nodes.length === 0) return;
    remember();
    pastes.current += 1;
    const shift = 40 * pastes.current;
    const pasted = pasteSteps(clip, nodes.map((n) => n.id), { x: shift, y: shift });
    setNodes((ns) => [
      ...ns,
      ...pasted.nodes.map((node): StepNode => ({ id: node.id, type: 'step', position: pasted.positions[node.id], data: { node } })),
    ]);
    setPicked(new Set(pasted.nodes.map((n) => n.id)));
    setSelected(pasted.nodes.length === 1 ? pasted.nodes[0].id : null);
    setMessage({ kind: 'ok', text: `Pasted ${pasted.nodes.map((n) => n.id).join(', ')}.` });
  }, [clip, readOnly, remember, nodes]);

  const layout = useCallback(() => {
    if (!def) return;
    remember();
    const positions = autoLayout(flowToJourney(def, nodes, edges));
    setNodes((ns) => ns.map((n) => ({ ...n, position: positions[n.id] ?? n.position })));
    setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1 }), 50);
  }, [def, nodes, edges, remember, flow]);

  // Keyboard shortcuts for undo, redo, copy and paste (not while typing in a field or in a dialog).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement;
      if (el.closest('input, textarea, select, [contenteditable], [role="alertdialog"]')) return;
      if (!(e.ctrlKey || e.metaKey)) return;
      const key = e.key.toLowerCase();
      if (key === 'c') {
        // Leave a text selection to the browser.
        if (window.getSelection()?.toString()) return;
        e.preventDefault();
        copy();
        return;
      }
      if (key === 'v') {
        e.preventDefault();
        paste();
        return;
      }
      if (key !== 'z') return;
      e.preventDefault();
      if (e.shiftKey) redo();
      else undo();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [undo, redo, copy, paste]);

  // ---- Save / publish / lifecycle ------------------------------------------

  const current = useCallback(() => (def ? flowToJourney(def, nodes, edges) : null), [def, nodes, edges]);

  const fail = (err: unknown) => {
    if (err instanceof api.JourneyInvalidError) {
      setErrors(err.errors);
      setMessage({ kind: 'error', text: `Not saved: ${err.errors.length} problem${err.errors.length === 1 ? '' : 's'} to fix (marked on the steps).` });
    } else {
      setMessage({ kind: 'error', text: errorText(err) });
    }
  };

  const save = useCallback(async (): Promise<boolean> => {
    const body = current();
    if (!body) return false;
    setBusy(true);
    setMessage(null);
    try {
      const j = await api.updateJourney(id, body);
      setJourney(j);
      setErrors([]);
      setDirty(false);
      setMessage({ kind: 'ok', text: 'Draft saved.' });
      return true;
    } catch (err) {
      fail(err);
      return false;
    } finally {
      setBusy(false);
    }
  }, [current, id]);

  const publishNow = useCallback(async () => {
    setBusy(true);
    setMessage(null);
    try {
      const { version } = await api.publishJourney(id);
      const j = await api.getJourney(id);
      setJourney(j);
      setErrors([]);
      setPublishDiff(null);
      setMessage({ kind: 'ok', text: `Published version ${version}.` });
    } catch (err) {
      setPublishDiff(null);
      fail(err);
    } finally {
      setBusy(false);
    }
  }, [id]);

  // Publish: saves first; over a live version, shows what changed and asks.
  const publish = useCallback(async () => {
    if (dirty && !(await save())) return;
    if (!journey?.live_version) {
      await publishNow();
      return;
    }
    setBusy(true);
    try {
      const [draft, versions] = await Promise.all([api.getJourney(id), api.journeyVersions(id)]);
      const liveVersion = versions.find((v) => v.version === draft.live_version);
      if (!liveVersion) {
        await publishNow();
        return;
      }
      setPublishDiff({ version: liveVersion.version, changes: diffDefinitions(liveVersion.definition, draft.definition) });
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  }, [dirty, save, journey, id, publishNow]);

  const runAction = async (action: Action) => {
    setBusy(true);
    setConfirmError('');
    try {
      await api.journeyAction(id, action);
      setJourney(await api.getJourney(id));
      setConfirm(null);
      setMessage({ kind: 'ok', text: `Journey ${{ pause: 'paused', resume: 'resumed', stop: 'stopped', archive: 'archived' }[action]}.` });
    } catch (err) {
      setConfirmError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  // ---- Render --------------------------------------------------------------

  if (loadError) {
    return (
      <div className="list-state list-error" role="alert">
        <p>{loadError}</p>
        <button type="button" className="btn btn-secondary" onClick={() => void load()}>
          Try again
        </button>
      </div>
    );
  }
  if (!journey || !def) {
    return (
      <p className="list-state" role="status">
        Loading journey…
      </p>
    );
  }

  const selectedStep = steps.find((s) => s.id === selected);
  const journeyErrors = errors.filter((e) => !e.node);
  const templatesById = new Map(templates.map((t) => [t.id, t]));

  return (
    <TemplatesContext.Provider value={templatesById}>
      <div className="journey-editor">
        <div className="editor-bar">
          <a href="/journeys" className="btn btn-ghost btn-small" onClick={(e) => (e.preventDefault(), navigate('/journeys'))}>
            ← Journeys
          </a>
          <h2 className="editor-title">{def.name || 'Untitled journey'}</h2>
          <span className={`badge status-badge status-${journey.status}`} data-testid="journey-status">
            {journey.status}
            {journey.live_version ? ` · v${journey.live_version}` : ''}
          </span>
          {dirty && <span className="muted">Unsaved changes</span>}

          <div className="editor-actions">
            <a
              href={`/journeys/${encodeURIComponent(id)}/results`}
              className="btn btn-ghost btn-small"
              onClick={(e) => {
                if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
                e.preventDefault();
                navigate(`/journeys/${encodeURIComponent(id)}/results`);
              }}
            >
              Results
            </a>
            <button
              type="button"
              className="btn btn-ghost btn-small"
              aria-pressed={showJson}
              onClick={() => {
                setShowJson(!showJson);
                setShowRuns(false);
              }}
            >
              JSON
            </button>
            {live && (
              <button
                type="button"
                className="btn btn-secondary btn-small"
                aria-pressed={showRuns}
                onClick={() => {
                  setShowRuns(!showRuns);
                  setShowJson(false);
                }}
              >
                Runs
              </button>
            )}
            {!readOnly && (
              <>
                <button type="button" className="btn btn-secondary btn-small" onClick={() => void save()} disabled={busy}>
                  Save draft
                </button>
                <button type="button" className="btn btn-primary btn-small" onClick={() => void publish()} disabled={busy}>
                  {journey.live_version ? 'Publish new version' : 'Publish'}
                </button>
              </>
            )}
            {journey.status === 'active' && (
              <button type="button" className="btn btn-secondary btn-small" onClick={() => setConfirm('pause')} disabled={busy}>
                Pause
              </button>
            )}
            {journey.status === 'paused' && (
              <button type="button" className="btn btn-secondary btn-small" onClick={() => setConfirm('resume')} disabled={busy}>
                Resume
              </button>
            )}
            {(journey.status === 'draft' || journey.status === 'stopped') && (
              <button type="button" className="btn btn-danger-ghost btn-small" onClick={() => setConfirm('archive')} disabled={busy}>
                Archive
              </button>
            )}
            {(journey.status === 'active' || journey.status === 'paused') && (
              <button type="button" className="btn btn-danger btn-small" onClick={() => setConfirm('stop')} disabled={busy}>
                Stop
              </button>
            )}
          </div>
        </div>
        {journeyErrors.length > 0 && (
          <ul className="panel-errors" aria-label="Journey problems">
            {journeyErrors.map((e, i) => (
              <li key={i}>
                <strong>{e.field}</strong>: {e.message}
              </li>
            ))}
          </ul>
        )}
        <div className="editor-status">
          {message && (
            <span className={message.kind === 'ok' ? 'editor-message ok' : 'editor-message bad'} role={message.kind === 'ok' ? 'status' : 'alert'}>
              {message.text}
            </span>
          )}
          {live && stats && (
            <span className="live-summary" data-testid="live-summary">
              Runs: {Object.entries(stats.runs).map(([k, v]) => `${v} ${k}`).join(' · ') || 'none yet'} · Conversions: {stats.conversions}
              {Object.keys(stats.funnel_total).length > 0 && ` · Messages: ${Object.entries(stats.funnel_total).map(([k, v]) => `${v} ${k}`).join(' · ')}`}
            </span>
          )}
        </div>
        {journey.status === 'active' && dirty && (
          <p className="live-hint">Running customers keep their version: your edits apply to new entrants once you publish a new version.</p>
        )}
        {live && def.trigger.type === 'segment' && def.trigger.include_existing && <EnrollmentsPanel journeyId={id} />}
        <div className="editor-body">
          <nav className="palette" aria-label="Steps palette">
            <h3 className="side-sub">Add a step</h3>
            <p className="field-help">Drag onto the canvas, or click to add.</p>
            <ul>
              {NODE_TYPES.map((t) => (
                <li key={t.type}>
                  <button
                    type="button"
                    className={`palette-item step-${t.type}`}
                    draggable={!readOnly}
                    disabled={readOnly}
                    title={t.help}
                    data-testid={`palette-${t.type}`}
                    onDragStart={(e) => {
                      e.dataTransfer.setData(DRAG_TYPE, t.type);
                      e.dataTransfer.effectAllowed = 'move';
                    }}
                    onClick={() => addStep(t.type)}
                  >
                    {t.label}
                  </button>
                </li>
              ))}
            </ul>
          </nav>
          <div className="canvas" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas">
            <ReactFlow<CanvasNode, Edge>
              nodes={shown}
              edges={edges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onNodeDragStart={() => remember()}
              onPaneClick={() => {
                setSelected(null);
                setPicked(new Set());
              }}
              nodesConnectable={!readOnly}
              nodesDraggable={!readOnly}
              deleteKeyCode={readOnly ? null : ['Delete', 'Backspace']}
              fitView
              fitViewOptions={{ padding: 0.2, maxZoom: 1 }}
              minZoom={0.2}
              proOptions={{ hideAttribution: true }}
              defaultEdgeOptions={{ type: 'smoothstep' }}
            >
              <Background gap={20} />
              <Panel position="bottom-right" className="canvas-tools">
                <button type="button" className="btn btn-secondary btn-small" onClick={undo} disabled={past.current.length === 0} title="Ctrl+Z">
                  Undo
                </button>
                <button type="button" className="btn btn-secondary btn-small" onClick={redo} disabled={future.current.length === 0} title="Ctrl+Shift+Z">
                  Redo
                </button>
                <button type="button" className="btn btn-secondary btn-small" onClick={copy} disabled={picked.size === 0 && !selected} title="Ctrl+C">
                  Copy
                </button>
                <button type="button" className="btn btn-secondary btn-small" onClick={paste} disabled={readOnly || !clip} title="Ctrl+V">
                  Paste
                </button>
                <button type="button" className="btn btn-secondary btn-small" onClick={layout} disabled={readOnly}>
                  Auto-layout
                </button>
              </Panel>
              <Controls showInteractive={false} position="top-right" />
            </ReactFlow>
          </div>
          <div className="side">
            {showJson ? (
              <JsonPanel
                def={flowToJourney(def, nodes, edges)}
                readOnly={readOnly}
                onClose={() => setShowJson(false)}
                onApply={(d) => {
                  remember();
                  setDef(d);
                  setNodes(journeyToFlow(d).nodes);
                  setSelected(null);
                  setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1 }), 50);
                }}
              />
            ) : showRuns && live ? (
              <RunsPanel
                journeyId={id}
                stepIds={steps.map((s) => s.id)}
                onOpen={(run) => setRunPath(new Set(run ? run.path.map((p) => p.node) : []))}
                onClose={() => {
                  setShowRuns(false);
                  setRunPath(new Set());
                }}
                navigate={navigate}
              />
            ) : selectedStep ? (
              <NodePanel
                key={selectedStep.id}
                node={selectedStep.data.node}
                stepIds={steps.map((s) => s.id)}
                templates={templates}
                segments={segments}
                errors={errors.filter((e) => e.node === selectedStep.id)}
                readOnly={readOnly}
                onChange={(n) => updateStep(selectedStep.id, n)}
                onConnect={(handle, target) => connect(selectedStep.id, handle, target)}
                onDelete={() => removeStep(selectedStep.id)}
                onReloadTemplates={() => void api.listTemplates().then(setTemplates, () => undefined)}
              />
            ) : (
              <>
                <SettingsPanel
                  def={def}
                  segments={segments}
                  errors={journeyErrors}
                  readOnly={readOnly}
                  onChange={(d) => {
                    remember();
                    setDef(d);
                  }}
                />
                <div className="side-panel">
                  <label className="field">
                    <span className="field-label">First step</span>
                    <select value={def.start} disabled={readOnly} onChange={(e) => connect(TRIGGER_ID, 'start', e.target.value)}>
                      <option value="">Not connected</option>
                      {steps.map((s) => (
                        <option key={s.id} value={s.id}>
                          {s.id}
                        </option>
                      ))}
                    </select>
                  </label>
                </div>
              </>
            )}
          </div>
        </div>
        {publishDiff && (
          <ConfirmDialog
            title={`Publish over version ${publishDiff.version}?`}
            confirmLabel="Publish new version"
            busy={busy}
            onConfirm={() => void publishNow()}
            onCancel={() => setPublishDiff(null)}
          >
            {publishDiff.changes.length === 0 ? (
              <p>The draft is the same as the live version {publishDiff.version}.</p>
            ) : (
              <>
                <p>
                  Changes from the live version {publishDiff.version} ({publishDiff.changes.length}). Customers already in the journey keep their version.
                </p>
                <ul className="diff-list" aria-label="Changes">
                  {publishDiff.changes.map((c, i) => (
                    <li key={i} className={`diff-${c.kind}`}>
                      {describeChange(c)}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </ConfirmDialog>
        )}
        {confirm && (
          <ConfirmDialog
            title={ACTION_TEXT[confirm].title}
            confirmLabel={ACTION_TEXT[confirm].label}
            danger={confirm === 'stop' || confirm === 'archive'}
            busy={busy}
            error={confirmError}
            onConfirm={() => void runAction(confirm)}
            onCancel={() => {
              setConfirm(null);
              setConfirmError('');
            }}
          >
            <p>
              <strong>{def.name}</strong>: {ACTION_TEXT[confirm].body}
            </p>
          </ConfirmDialog>
        )}
      </div>
    </TemplatesContext.Provider>
  );
}
