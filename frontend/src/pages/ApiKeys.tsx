import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type RefObject } from 'react';
import * as api from '../api.ts';
import type { ApiKey, CreatedKey, KeyKind } from '../api.ts';
import { ConfirmDialog } from '../ConfirmDialog.tsx';
import { useConfirmedAction } from '../useConfirmedAction.ts';
import { errorText } from '../errors.ts';

const KIND_LABEL: Record<KeyKind, string> = { write: 'Write', secret: 'Secret' };

const KIND_HELP: Record<KeyKind, string> = {
  write: 'Write keys can only send events, so they may be used in browsers and mobile apps.',
  secret: 'Secret keys can call the whole server API. Keep them on your servers only.',
};

type ListState =
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'ready'; keys: ApiKey[] };

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function DateCell({ iso, empty }: { iso: string | null; empty: string }) {
  if (!iso) return <span className="muted">{empty}</span>;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return <span>{iso}</span>;
  return (
    <time dateTime={iso} title={iso}>
      {dateFormat.format(d)}
    </time>
  );
}


/** Settings → API keys: list, create (the key is shown once) and revoke. */
export function ApiKeys() {
  const [list, setList] = useState<ListState>({ kind: 'loading' });
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const nameRef = useRef<HTMLInputElement>(null);

  const reload = useCallback(async (showLoading: boolean) => {
    if (showLoading) setList({ kind: 'loading' });
    try {
      setList({ kind: 'ready', keys: await api.listKeys() });
    } catch (err) {
      setList({ kind: 'error', message: errorText(err) });
    }
  }, []);

  useEffect(() => {
    void reload(true);
  }, [reload]);

  const revoke = useConfirmedAction(async (k: ApiKey) => {
    await api.revokeKey(k.id);
    await reload(false);
  });
  const toRevoke = revoke.target;

  return (
    <section className="panel" aria-labelledby="api-keys-heading">
      <div className="panel-header">
        <h2 id="api-keys-heading">API keys</h2>
        <p className="muted">
          Keys let your apps and servers talk to Herald. Send events with a write key; use a secret key for
          server-side API calls.
        </p>
      </div>

      <CreateKeyForm
        nameRef={nameRef}
        onCreated={(key) => {
          setCreated(key);
          void reload(false);
        }}
      />

      {created && (
        <NewKeyPanel
          created={created}
          onDismiss={() => {
            setCreated(null);
            nameRef.current?.focus();
          }}
        />
      )}

      <KeyList
        list={list}
        onRetry={() => void reload(true)}
        onRevoke={revoke.ask}
      />

      {toRevoke && (
        <ConfirmDialog
          title="Revoke API key?"
          confirmLabel="Revoke key"
          danger
          busy={revoke.busy}
          error={revoke.error}
          onCancel={revoke.cancel}
          onConfirm={() => void revoke.confirm()}
        >
          <p>
            Revoke the {KIND_LABEL[toRevoke.kind].toLowerCase()} key <strong>{toRevoke.name}</strong> (
            <code>{toRevoke.prefix}…</code>)? Anything still using it will be refused at once. This cannot be
            undone.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

interface CreateKeyFormProps {
  nameRef: RefObject<HTMLInputElement | null>;
  onCreated: (key: CreatedKey) => void;
}

function CreateKeyForm({ nameRef, onCreated }: CreateKeyFormProps) {
  const [kind, setKind] = useState<KeyKind>('write');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const helpId = useId();
  const errorId = useId();

  async function onSubmit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const trimmed = name.trim();
    if (!trimmed) {
      setError('Give the key a name, e.g. "Website" or "Billing service".');
      nameRef.current?.focus();
      return;
    }
    setBusy(true);
    setError('');
    try {
      const key = await api.createKey(kind, trimmed);
      setName('');
      onCreated(key);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="create-key" onSubmit={onSubmit} aria-label="Create API key">
      <div className="create-key-row">
        <label className="field">
          <span className="field-label">Kind</span>
          <select
            name="kind"
            value={kind}
            onChange={(e) => setKind(e.target.value as KeyKind)}
            aria-describedby={helpId}
          >
            <option value="write">Write</option>
            <option value="secret">Secret</option>
          </select>
        </label>
        <label className="field field-grow">
          <span className="field-label">Name</span>
          <input
            ref={nameRef}
            name="name"
            type="text"
            maxLength={100}
            placeholder="e.g. Website"
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? errorId : undefined}
          />
        </label>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
      </div>
      <p id={helpId} className="field-help">
        {KIND_HELP[kind]}
      </p>
      {error && (
        <p id={errorId} className="error-text" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

interface NewKeyPanelProps {
  created: CreatedKey;
  onDismiss: () => void;
}

function NewKeyPanel({ created, onDismiss }: NewKeyPanelProps) {
  const ref = useRef<HTMLElement>(null);
  const codeRef = useRef<HTMLElement>(null);
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle');

  useEffect(() => {
    ref.current?.focus();
  }, [created.id]);

  async function onCopy() {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(created.key);
      setCopy('copied');
    } catch {
      // Clipboard blocked (e.g. plain http on another host): select the key
      // so the user can copy it by hand.
      const sel = window.getSelection();
      if (sel && codeRef.current) {
        const range = document.createRange();
        range.selectNodeContents(codeRef.current);
        sel.removeAllRanges();
        sel.addRange(range);
      }
      setCopy('failed');
    }
  }

  return (
    <section ref={ref} tabIndex={-1} className="new-key" aria-labelledby="new-key-heading">
      <h3 id="new-key-heading">
        New {KIND_LABEL[created.kind].toLowerCase()} key “{created.name}”
      </h3>
      <p className="warning">
        <strong>Copy this key now.</strong> It will not be shown again. Store it somewhere safe, such as your secrets manager.
      </p>
      <div className="key-box">
        <code ref={codeRef} className="key-value" data-testid="new-key-value">
          {created.key}
        </code>
        <button type="button" className="btn btn-secondary" onClick={() => void onCopy()}>
          {copy === 'copied' ? 'Copied' : 'Copy'}
        </button>
      </div>
      <p className="field-help" role="status">
        {copy === 'copied' && 'Key copied to the clipboard.'}
        {copy === 'failed' && 'Could not copy automatically: the key is selected, press Ctrl+C (⌘C) to copy it.'}
      </p>
      <div className="new-key-actions">
        <button type="button" className="btn btn-primary" onClick={onDismiss}>
          Done, I have saved it
        </button>
      </div>
    </section>
  );
}

interface KeyListProps {
  list: ListState;
  onRetry: () => void;
  onRevoke: (key: ApiKey) => void;
}

function KeyList({ list, onRetry, onRevoke }: KeyListProps) {
  if (list.kind === 'loading') {
    return (
      <p className="list-state" role="status">
        Loading API keys…
      </p>
    );
  }
  if (list.kind === 'error') {
    return (
      <div className="list-state list-error">
        <p role="alert">Could not load API keys: {list.message}</p>
        <button type="button" className="btn btn-secondary" onClick={onRetry}>
          Try again
        </button>
      </div>
    );
  }
  if (list.keys.length === 0) {
    return (
      <div className="list-state">
        <p className="list-empty-title">No API keys yet</p>
        <p className="muted">Create a write key above to start sending events to this workspace.</p>
      </div>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">API keys</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Kind</th>
            <th scope="col">Prefix</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.keys.map((k) => (
            <tr key={k.id} className={k.revoked_at ? 'revoked' : undefined}>
              <th scope="row" className="key-name">
                {k.name}
              </th>
              <td className="nowrap">
                <span className={`badge badge-${k.kind}`}>{KIND_LABEL[k.kind] ?? k.kind}</span>
              </td>
              <td className="nowrap">
                <code>{k.prefix}…</code>
              </td>
              <td>
                <DateCell iso={k.created_at} empty="—" />
              </td>
              <td>
                <DateCell iso={k.last_used_at} empty="Never" />
              </td>
              <td>
                {k.revoked_at ? (
                  <span className="status status-revoked">
                    Revoked
                    <span className="status-date">
                      <DateCell iso={k.revoked_at} empty="" />
                    </span>
                  </span>
                ) : (
                  <span className="status status-active">Active</span>
                )}
              </td>
              <td className="actions nowrap">
                {!k.revoked_at && (
                  <button
                    type="button"
                    className="btn btn-small btn-danger-ghost"
                    aria-label={`Revoke ${k.name}`}
                    onClick={() => onRevoke(k)}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
