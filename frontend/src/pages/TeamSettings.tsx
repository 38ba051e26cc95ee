import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type RefObject } from 'react';
import * as api from '../api.ts';
import type { InvitedMember, Member, Role, Session } from '../api.ts';
import { ConfirmDialog } from '../ConfirmDialog.tsx';
import { useConfirmedAction } from '../useConfirmedAction.ts';
import { errorText } from '../errors.ts';

const ROLES: Role[] = ['owner', 'editor', 'viewer'];
const ROLE_LABEL: Record<Role, string> = { owner: 'Owner', editor: 'Editor', viewer: 'Viewer' };
const ROLE_HELP = 'Owners manage settings and the team; editors build journeys, audiences and templates; viewers can only look.';


const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

type ListState = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; members: Member[] };

/** Settings → Team: members and their roles; owners invite, change roles and remove. */
export function TeamSettings({ session }: { session: Session }) {
  const owner = session.role === 'owner';
  const [list, setList] = useState<ListState>({ kind: 'loading' });
  const [invited, setInvited] = useState<InvitedMember | null>(null);
  const [rowError, setRowError] = useState<{ userId: string; message: string } | null>(null);
  const [pending, setPending] = useState('');
  const emailRef = useRef<HTMLInputElement>(null);

  const reload = useCallback(async (showLoading: boolean) => {
    if (showLoading) setList({ kind: 'loading' });
    try {
      setList({ kind: 'ready', members: await api.listMembers() });
    } catch (err) {
      setList({ kind: 'error', message: errorText(err) });
    }
  }, []);

  useEffect(() => {
    void reload(true);
  }, [reload]);

  async function changeRole(m: Member, role: Role) {
    setPending(m.user_id);
    setRowError(null);
    try {
      const updated = await api.updateMember(m.user_id, role);
      setList((l) => (l.kind === 'ready' ? { kind: 'ready', members: l.members.map((x) => (x.user_id === m.user_id ? { ...x, ...updated } : x)) } : l));
    } catch (err) {
      setRowError({ userId: m.user_id, message: errorText(err) });
    } finally {
      setPending('');
    }
  }

  const remove = useConfirmedAction(async (m: Member) => {
    await api.removeMember(m.user_id);
    await reload(false);
  });
  const toRemove = remove.target;

  return (
    <section className="panel" aria-labelledby="team-heading">
      <div className="panel-header">
        <h2 id="team-heading">Team</h2>
        <p className="muted">{ROLE_HELP}</p>
      </div>

      {owner ? (
        <InviteForm
          emailRef={emailRef}
          onInvited={(m) => {
            setInvited(m);
            void reload(false);
          }}
        />
      ) : (
        <p className="notice" role="note">
          Only workspace owners can invite members, change roles or remove members.
        </p>
      )}

      {invited && (
        <InvitedPanel
          invited={invited}
          onDismiss={() => {
            setInvited(null);
            emailRef.current?.focus();
          }}
        />
      )}

      {list.kind === 'loading' && (
        <p className="list-state" role="status">
          Loading members…
        </p>
      )}
      {list.kind === 'error' && (
        <div className="list-state list-error">
          <p role="alert">Could not load members: {list.message}</p>
          <button type="button" className="btn btn-secondary" onClick={() => void reload(true)}>
            Try again
          </button>
        </div>
      )}
      {list.kind === 'ready' && list.members.length === 0 && (
        <div className="list-state">
          <p className="list-empty-title">No members</p>
        </div>
      )}
      {list.kind === 'ready' && list.members.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Team members</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Member since</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.members.map((m) => {
                const you = m.user_id === session.user.id;
                return (
                  <tr key={m.user_id}>
                    <th scope="row" className="key-name">
                      {m.email}
                      {you && <span className="muted"> (you)</span>}
                    </th>
                    <td>
                      <select
                        aria-label={`Role of ${m.email}`}
                        value={m.role}
                        disabled={!owner || pending === m.user_id}
                        onChange={(e) => void changeRole(m, e.target.value as Role)}
                      >
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {ROLE_LABEL[r]}
                          </option>
                        ))}
                      </select>
                      {rowError?.userId === m.user_id && (
                        <p className="error-text" role="alert">
                          {rowError.message}
                        </p>
                      )}
                    </td>
                    <td>
                      <time dateTime={m.created_at}>{Number.isNaN(Date.parse(m.created_at)) ? m.created_at : dateFormat.format(new Date(m.created_at))}</time>
                    </td>
                    <td className="actions nowrap">
                      <button
                        type="button"
                        className="btn btn-small btn-danger-ghost"
                        aria-label={`Remove ${m.email}`}
                        disabled={!owner}
                        onClick={() => remove.ask(m)}
                      >
                        Remove
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {toRemove && (
        <ConfirmDialog
          title="Remove member?"
          confirmLabel="Remove member"
          danger
          busy={remove.busy}
          error={remove.error}
          onCancel={remove.cancel}
          onConfirm={() => void remove.confirm()}
        >
          <p>
            Remove <strong>{toRemove.email}</strong> from this workspace? They will be signed out and can no longer sign in to it.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function InviteForm({ emailRef, onInvited }: { emailRef: RefObject<HTMLInputElement | null>; onInvited: (m: InvitedMember) => void }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('editor');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const errorId = useId();

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (!email.trim()) {
      setError('Enter the email address of the person to invite.');
      emailRef.current?.focus();
      return;
    }
    setBusy(true);
    setError('');
    try {
      const m = await api.inviteMember(email.trim(), role);
      setEmail('');
      onInvited(m);
    } catch (err) {
      setError(err instanceof api.ApiError && err.status === 409 && !err.message ? 'That person is already a member.' : errorText(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="create-key" onSubmit={onSubmit} aria-label="Invite member" noValidate>
      <div className="create-key-row">
        <label className="field field-grow">
          <span className="field-label">Email</span>
          <input
            ref={emailRef}
            type="email"
            value={email}
            placeholder="colleague@example.com"
            onChange={(e) => setEmail(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? errorId : undefined}
          />
        </label>
        <label className="field">
          <span className="field-label">Role</span>
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {ROLE_LABEL[r]}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Inviting…' : 'Invite'}
        </button>
      </div>
      {error && (
        <p id={errorId} className="error-text" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function InvitedPanel({ invited, onDismiss }: { invited: InvitedMember; onDismiss: () => void }) {
  const ref = useRef<HTMLElement>(null);
  const [copied, setCopied] = useState('');
  useEffect(() => {
    ref.current?.focus();
  }, [invited.user_id]);

  return (
    <section ref={ref} tabIndex={-1} className="new-key" aria-labelledby="invited-heading">
      <h3 id="invited-heading">
        {invited.email} was added as {ROLE_LABEL[invited.role].toLowerCase()}
      </h3>
      {!invited.password ? (
        <p className="muted">They already have a Herald account: they sign in with their own password.</p>
      ) : (
        <>
      <p className="warning">
        <strong>Give them this password now.</strong> It will not be shown again. They sign in with their email and this password.
      </p>
      <div className="key-box">
        <code className="key-value" data-testid="invited-password">
          {invited.password}
        </code>
        <button
          type="button"
          className="btn btn-secondary"
          onClick={() => {
            navigator.clipboard
              ?.writeText(invited.password ?? '')
              .then(() => setCopied('Password copied to the clipboard.'))
              .catch(() => setCopied('Could not copy: select the password and press Ctrl+C (⌘C).'));
          }}
        >
          Copy
        </button>
      </div>
      <p className="field-help" role="status">
        {copied}
      </p>
        </>
      )}
      <div className="new-key-actions">
        <button type="button" className="btn btn-primary" onClick={onDismiss}>
          Done, I have passed it on
        </button>
      </div>
    </section>
  );
}
