// Templates: the list and an editor per channel: email (subject, HTML with a
// live preview), SMS (character and segment count), webhook (method, URL,
// headers, body). Every field is Liquid (DESIGN §7).
import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import * as api from '../api.ts';
import type { Channel, Template, TemplateContent, TemplateInput } from '../api.ts';
import { ConfirmDialog } from '../ConfirmDialog.tsx';
import { formatTime } from '../journey/RunsPanel.tsx';
import { linkHandler } from '../router.ts';
import { EmptyPage } from './EmptyPage.tsx';
import { BackLink, ListError, ListLoading, ListTable, LoadFailed, RowLink, useList } from './ListState.tsx';
import { errorText } from '../errors.ts';

const CHANNEL_LABEL: Record<Channel, string> = { email: 'Email', sms: 'SMS', webhook: 'Webhook' };

export function TemplatesPage({ navigate }: { navigate: (to: string) => void }) {
  const { list, error, load } = useList(api.listTemplates);

  const actions = (
    <div className="page-actions">
      {(['email', 'sms', 'webhook'] as Channel[]).map((c) => (
        <a key={c} href={`/templates/new-${c}`} className="btn btn-secondary" onClick={linkHandler(`/templates/new-${c}`, navigate)}>
          New {CHANNEL_LABEL[c]} template
        </a>
      ))}
    </div>
  );
  if (error) return <ListError message={error} onRetry={() => void load()} />;
  if (list === null) return <ListLoading what="templates" />;
  if (list.length === 0) {
    return (
      <EmptyPage
        title="No templates yet"
        text="Templates are the email, SMS and webhook messages that journeys send, personalised with Liquid: {{ customer.first_name }}."
        action={actions}
      />
    );
  }
  return (
    <div className="page-stack">
      {actions}
      <ListTable columns={['Name', 'Channel', 'Content', 'Updated']}>
        {list.map((t) => (
          <tr key={t.id}>
            <RowLink to={`/templates/${encodeURIComponent(t.id)}`} navigate={navigate}>
              {t.name}
            </RowLink>
            <td>{CHANNEL_LABEL[t.channel]}</td>
            <td className="clip">{t.channel === 'email' ? t.subject : t.channel === 'sms' ? t.body : `${t.method ?? 'POST'} ${t.url ?? ''}`}</td>
            <td className="nowrap">{formatTime(t.updated_at)}</td>
          </tr>
        ))}
      </ListTable>
    </div>
  );
}

// GSM 03.38 basic characters (plus the extension table, which counts twice).
const GSM = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT = '^{}\\[~]|€\f';

/** Characters and SMS segments of a text: GSM-7 (160/153) or UCS-2 (70/67). */
export function smsCount(text: string): { chars: number; segments: number; unicode: boolean } {
  const chars = [...text];
  const unicode = chars.some((c) => !GSM.includes(c) && !GSM_EXT.includes(c));
  if (unicode) {
    const n = chars.length;
    return { chars: n, segments: n === 0 ? 0 : n <= 70 ? 1 : Math.ceil(n / 67), unicode };
  }
  const n = chars.reduce((s, c) => s + (GSM_EXT.includes(c) ? 2 : 1), 0);
  return { chars: n, segments: n === 0 ? 0 : n <= 160 ? 1 : Math.ceil(n / 153), unicode };
}

type Draft = TemplateInput & { headerRows: [string, string][] };

function toDraft(t: Template | null, channel: Channel): Draft {
  if (!t) {
    const base = { name: '', channel, headerRows: [] as [string, string][] };
    if (channel === 'email') return { ...base, subject: '', html: '<p>Hi {{ customer.first_name }},</p>\n' };
    if (channel === 'sms') return { ...base, body: '' };
    return { ...base, method: 'POST', url: '', body: '' };
  }
  const { id: _id, created_at: _c, updated_at: _u, headers, ...rest } = t;
  return { ...rest, headerRows: Object.entries(headers ?? {}) };
}

function toInput(d: Draft): TemplateInput {
  const { headerRows, ...rest } = d;
  const out: TemplateInput = { ...rest };
  const headers = Object.fromEntries(headerRows.filter(([k]) => k.trim()));
  if (d.channel === 'webhook' && Object.keys(headers).length) out.headers = headers;
  for (const k of Object.keys(out) as (keyof TemplateInput)[]) if (out[k] === '') delete out[k];
  out.name = d.name.trim();
  return out;
}

/** Creates ("new-email", "new-sms", "new-webhook") or edits a template. */
export function TemplateEditor({ id, navigate }: { id: string; navigate: (to: string) => void }) {
  const newChannel = id.startsWith('new-') ? (id.slice(4) as Channel) : null;
  const [draft, setDraft] = useState<Draft | null>(newChannel ? toDraft(null, newChannel) : null);
  const [loadError, setLoadError] = useState('');
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [saved, setSaved] = useState('');
  const [dirty, setDirty] = useState(false);
  const [customerId, setCustomerId] = useState('');
  const [rendered, setRendered] = useState<{ content: TemplateContent; customer: string } | null>(null);
  const [renderError, setRenderError] = useState('');
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [deleteError, setDeleteError] = useState('');

  const render = useCallback(
    async (customer: string) => {
      if (newChannel) return;
      setRenderError('');
      try {
        const r = await api.previewTemplate(id, customer.trim() || undefined);
        setRendered({ content: r.rendered, customer: r.customer_id });
      } catch (err) {
        setRendered(null);
        setRenderError(errorText(err));
      }
    },
    [id, newChannel],
  );

  useEffect(() => {
    if (newChannel) return;
    let stop = false;
    api
      .getTemplate(id)
      .then((t) => {
        if (stop) return;
        setDraft(toDraft(t, t.channel));
        void render('');
      })
      .catch((err: unknown) => !stop && setLoadError(errorText(err)));
    return () => {
      stop = true;
    };
  }, [id, newChannel, render]);

  const set = (patch: Partial<Draft>) => {
    setDraft((d) => (d ? { ...d, ...patch } : d));
    setDirty(true);
    setSaved('');
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!draft) return;
    setSaving(true);
    setError(null);
    try {
      if (newChannel) {
        const t = await api.createTemplate(toInput(draft));
        navigate(`/templates/${encodeURIComponent(t.id)}`);
        return;
      }
      const t = await api.updateTemplate(id, toInput(draft));
      setDraft(toDraft(t, t.channel));
      setDirty(false);
      setSaved('Template saved.');
      void render(customerId);
    } catch (err) {
      setError({ message: errorText(err), field: err instanceof api.ApiError ? err.field : undefined });
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    try {
      await api.deleteTemplate(id);
      navigate('/templates');
    } catch (err) {
      setDeleteError(errorText(err));
    }
  };

  const back = <BackLink to="/templates" label="Templates" navigate={navigate} />;
  if (loadError) return <LoadFailed back={back} message={loadError} />;
  if (!draft) return <ListLoading what="template" />;
  const invalid = (f: string) => (error?.field === f ? true : undefined);
  const sms = draft.channel === 'sms' ? smsCount(draft.body ?? '') : null;

  return (
    <form className="page-stack" aria-label={newChannel ? `New ${CHANNEL_LABEL[draft.channel]} template` : `Template ${draft.name}`} onSubmit={save}>
      <div className="editor-bar">
        {back}
        <h2 className="editor-title">{newChannel ? `New ${CHANNEL_LABEL[draft.channel]} template` : draft.name}</h2>
        <span className="badge status-badge">{CHANNEL_LABEL[draft.channel]}</span>
        {dirty && <span className="muted">Unsaved changes</span>}
        {saved && (
          <span className="editor-message ok" role="status">
            {saved}
          </span>
        )}
        <div className="editor-actions">
          {!newChannel && (
            <button type="button" className="btn btn-danger-ghost btn-small" onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          )}
          <button type="submit" className="btn btn-primary btn-small" disabled={saving || !draft.name.trim()}>
            {newChannel ? 'Create template' : 'Save template'}
          </button>
        </div>
      </div>
      {error && (
        <p className="error-text" role="alert">
          {error.message}
        </p>
      )}
      <div className="template-grid">
        <div className="panel template-fields">
          <label className="field">
            <span className="field-label">Template name</span>
            <input value={draft.name} onChange={(e) => set({ name: e.target.value })} required aria-invalid={invalid('name')} />
          </label>
          {draft.channel === 'email' && (
            <>
              <label className="field">
                <span className="field-label">Subject</span>
                <input value={draft.subject ?? ''} onChange={(e) => set({ subject: e.target.value })} aria-invalid={invalid('subject')} />
              </label>
              <label className="field">
                <span className="field-label">HTML</span>
                <textarea className="code" rows={14} value={draft.html ?? ''} onChange={(e) => set({ html: e.target.value })} aria-invalid={invalid('html')} />
              </label>
              <label className="field">
                <span className="field-label">Plain text (optional)</span>
                <textarea rows={3} value={draft.text ?? ''} onChange={(e) => set({ text: e.target.value })} />
              </label>
              <div className="field-row">
                <label className="field">
                  <span className="field-label">From (optional)</span>
                  <input value={draft.from ?? ''} onChange={(e) => set({ from: e.target.value })} placeholder="Acme <hi@acme.io>" />
                </label>
                <label className="field">
                  <span className="field-label">Reply-to (optional)</span>
                  <input value={draft.reply_to ?? ''} onChange={(e) => set({ reply_to: e.target.value })} />
                </label>
              </div>
            </>
          )}
          {draft.channel === 'sms' && sms && (
            <label className="field">
              <span className="field-label">Message</span>
              <textarea rows={5} value={draft.body ?? ''} onChange={(e) => set({ body: e.target.value })} aria-invalid={invalid('body')} />
              <span className="field-help" data-testid="sms-count">
                {sms.chars} characters · {sms.segments} segment{sms.segments === 1 ? '' : 's'}
                {sms.unicode ? ' (Unicode: 70 per segment)' : ''} — before Liquid is filled in
              </span>
            </label>
          )}
          {draft.channel === 'webhook' && (
            <>
              <div className="field-row">
                <label className="field field-narrow">
                  <span className="field-label">Method</span>
                  <select value={draft.method ?? 'POST'} onChange={(e) => set({ method: e.target.value })}>
                    {['POST', 'PUT', 'PATCH', 'GET', 'DELETE'].map((m) => (
                      <option key={m}>{m}</option>
                    ))}
                  </select>
                </label>
                <label className="field">
                  <span className="field-label">URL</span>
                  <input value={draft.url ?? ''} onChange={(e) => set({ url: e.target.value })} placeholder="https://hooks.example.com/…" aria-invalid={invalid('url')} />
                </label>
              </div>
              <fieldset className="side-fields">
                <legend className="field-label">Headers</legend>
                {draft.headerRows.map(([k, v], i) => (
                  <div key={i} className="field-row">
                    <input aria-label={`Header ${i + 1} name`} value={k} onChange={(e) => set({ headerRows: draft.headerRows.map((r, j) => (j === i ? [e.target.value, r[1]] : r)) })} />
                    <input aria-label={`Header ${i + 1} value`} value={v} onChange={(e) => set({ headerRows: draft.headerRows.map((r, j) => (j === i ? [r[0], e.target.value] : r)) })} />
                    <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove header ${i + 1}`} onClick={() => set({ headerRows: draft.headerRows.filter((_, j) => j !== i) })}>
                      ✕
                    </button>
                  </div>
                ))}
                <button type="button" className="btn btn-secondary btn-small" onClick={() => set({ headerRows: [...draft.headerRows, ['', '']] })}>
                  Add header
                </button>
              </fieldset>
              <label className="field">
                <span className="field-label">Body</span>
                <textarea className="code" rows={8} value={draft.body ?? ''} onChange={(e) => set({ body: e.target.value })} placeholder='{"user": "{{ customer.id }}"}' />
              </label>
            </>
          )}
          <p className="field-help">
            Liquid variables: <code>{'{{ customer.email }}'}</code>, <code>{'{{ customer.first_name }}'}</code>, <code>{'{{ event.properties.total }}'}</code>,{' '}
            <code>{'{{ journey.name }}'}</code>, <code>{'{{ unsubscribe_url }}'}</code>.
          </p>
        </div>

        <section className="panel template-preview" aria-label="Preview">
          {draft.channel === 'email' && (
            <>
              <h3 className="side-sub">Live HTML</h3>
              <iframe className="email-frame" title="Live HTML preview" sandbox="" srcDoc={draft.html ?? ''} />
            </>
          )}
          <h3 className="side-sub">Rendered for a customer</h3>
          {newChannel ? (
            <p className="muted">Create the template to render it for a customer.</p>
          ) : (
            <>
              <div className="field-row">
                <label className="field">
                  <span className="field-label">Customer (id or user id; blank: a sample)</span>
                  <input value={customerId} onChange={(e) => setCustomerId(e.target.value)} />
                </label>
                <button type="button" className="btn btn-secondary btn-small" onClick={() => void render(customerId)}>
                  Render
                </button>
              </div>
              {dirty && <p className="muted small">Renders the saved version: save to see your changes.</p>}
              {renderError && (
                <p className="error-text" role="alert">
                  {renderError}
                </p>
              )}
              {rendered && (
                <div data-testid="rendered">
                  {rendered.content.subject !== undefined && (
                    <p>
                      <strong>Subject:</strong> {rendered.content.subject}
                    </p>
                  )}
                  {rendered.content.html !== undefined ? (
                    <iframe className="email-frame" title="Rendered email" sandbox="" srcDoc={rendered.content.html} />
                  ) : (
                    <pre className="json">
                      {rendered.content.url ? `${rendered.content.method ?? 'POST'} ${rendered.content.url}\n\n` : ''}
                      {rendered.content.body}
                    </pre>
                  )}
                  <p className="muted small">for {rendered.customer}</p>
                </div>
              )}
              <TestSend id={id} channel={draft.channel} customerId={customerId} dirty={dirty} />
            </>
          )}
        </section>
      </div>
      {confirmDelete && (
        <ConfirmDialog
          title="Delete template?"
          confirmLabel="Delete template"
          danger
          error={deleteError}
          onConfirm={() => void remove()}
          onCancel={() => {
            setConfirmDelete(false);
            setDeleteError('');
          }}
        >
          <p>
            <strong>{draft.name}</strong> will be deleted. Journeys that send it will fail validation until they use another template.
          </p>
        </ConfirmDialog>
      )}
    </form>
  );
}

const TEST_TO: Record<Channel, { label: string; placeholder: string; type: string }> = {
  email: { label: 'Send a test to (email address)', placeholder: 'you@example.com', type: 'email' },
  sms: { label: 'Send a test to (phone number)', placeholder: '+15555550100', type: 'tel' },
  webhook: { label: 'Send a test to (URL; blank: the template URL)', placeholder: 'https://hooks.example.com/test', type: 'url' },
};

/** "Send test": renders the saved template for the customer above (or a sample) and sends it to one address. */
function TestSend({ id, channel, customerId, dirty }: { id: string; channel: Channel; customerId: string; dirty: boolean }) {
  const [to, setTo] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const inputId = useId();
  const meta = TEST_TO[channel];

  const send = async () => {
    if (!to.trim() && channel !== 'webhook') {
      setResult({ ok: false, text: 'Enter where to send the test.' });
      return;
    }
    setBusy(true);
    setResult(null);
    try {
      const d = await api.testTemplate(id, to.trim(), customerId.trim() || undefined);
      setResult({ ok: true, text: `Test ${d.status} to ${d.recipient}${d.provider ? ` through ${d.provider}` : ''}.` });
    } catch (err) {
      setResult({ ok: false, text: `Test failed: ${errorText(err)}` });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="test-send" role="group" aria-labelledby={`${inputId}-heading`}>
      <h3 id={`${inputId}-heading`} className="side-sub">
        Send test
      </h3>
      <div className="field-row field-row-end">
        <div className="field field-grow">
          <label className="field-label" htmlFor={inputId}>
            {meta.label}
          </label>
          <input
            id={inputId}
            type={meta.type}
            value={to}
            placeholder={meta.placeholder}
            onChange={(e) => setTo(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                void send();
              }
            }}
          />
        </div>
        <button type="button" className="btn btn-secondary btn-small" disabled={busy} onClick={() => void send()}>
          {busy ? 'Sending…' : 'Send test'}
        </button>
      </div>
      <p className="muted small">Sends the saved version{customerId.trim() ? ` rendered for ${customerId.trim()}` : ' rendered for a sample customer'}{dirty ? ' (save to include your changes)' : ''}.</p>
      {result &&
        (result.ok ? (
          <p className="editor-message ok" role="status" data-testid="test-send-result">
            {result.text}
          </p>
        ) : (
          <p className="error-text" role="alert">
            {result.text}
          </p>
        ))}
    </div>
  );
}
