// The journey definition as JSON: read what the canvas saves, or paste a
// definition and apply it to the canvas.
import { useId, useState } from 'react';
import type { JourneyDefinition } from '../api.ts';
import { errorText } from '../errors.ts';

interface JsonPanelProps {
  def: JourneyDefinition;
  readOnly: boolean;
  onApply: (def: JourneyDefinition) => void;
  onClose: () => void;
}

/** Checks the shape enough to draw it; the API validates the rest at save. */
export function parseDefinition(text: string): JourneyDefinition {
  const v = JSON.parse(text) as Partial<JourneyDefinition>;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the definition must be a JSON object');
  if (!Array.isArray(v.nodes)) throw new Error('"nodes" must be an array of steps');
  if (!v.trigger || typeof v.trigger !== 'object') throw new Error('"trigger" is required');
  for (const [i, n] of v.nodes.entries()) {
    if (!n || typeof n.id !== 'string' || !n.id) throw new Error(`nodes[${i}] needs an "id"`);
  }
  return { entry: { policy: 'once' }, settings: {}, start: '', name: '', ...v } as JourneyDefinition;
}

export function JsonPanel({ def, readOnly, onApply, onClose }: JsonPanelProps) {
  const [text, setText] = useState(() => JSON.stringify(def, null, 2));
  const [error, setError] = useState('');
  const id = useId();
  return (
    <section className="side-panel" aria-label="Definition JSON">
      <div className="side-head">
        <h2>Definition JSON</h2>
        <button type="button" className="btn btn-ghost btn-small" onClick={onClose}>
          Close JSON
        </button>
      </div>
      <label className="field-label" htmlFor={id}>
        Journey definition (DESIGN §5; positions under “layout”)
      </label>
      <textarea id={id} className="code json-edit" rows={22} value={text} readOnly={readOnly} onChange={(e) => setText(e.target.value)} spellCheck={false} />
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      {!readOnly && (
        <button
          type="button"
          className="btn btn-secondary btn-small"
          onClick={() => {
            try {
              onApply(parseDefinition(text));
              setError('');
            } catch (err) {
              setError(errorText(err));
            }
          }}
        >
          Apply to canvas
        </button>
      )}
    </section>
  );
}
