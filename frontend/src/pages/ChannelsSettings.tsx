import { useEffect, useId, useState, type FormEvent, type ReactNode } from 'react';
import * as api from '../api.ts';
import type { Channel, ChannelSettings, EmailSettings, SmsSettings } from '../api.ts';
import { errorText } from '../errors.ts';


/** Field errors by API field name ("email.region"); "" holds an error for the whole form. */
type FieldErrors = Record<string, string>;

/** Turns an API error into field errors: the field it names, else the whole form. */
function toFieldErrors(err: unknown): FieldErrors {
  if (err instanceof api.ApiError && err.field) {
    // "webhook.allow_hosts[2]" belongs to the allow-list field.
    const field = err.field.replace(/\[\d+\]$/, '');
    // The message repeats the field ("email.region: …"); the label already says it.
    const text = err.message.startsWith(err.field + ': ') ? err.message.slice(err.field.length + 2) : err.message;
    return { [field]: text };
  }
  return { '': errorText(err) };
}

interface TextFieldProps {
  /** The API field name, e.g. "email.region": where its errors land. */
  name: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  errors: FieldErrors;
  type?: string;
  placeholder?: string;
  help?: ReactNode;
  autoComplete?: string;
}

function TextField({ name, label, value, onChange, errors, type = 'text', placeholder, help, autoComplete = 'off' }: TextFieldProps) {
  const id = useId();
  const error = errors[name];
  const describedBy = [help ? `${id}-help` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      <input
        id={id}
        name={name}
        type={type}
        value={value}
        placeholder={placeholder}
        autoComplete={autoComplete}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
      />
      {help && (
        <span id={`${id}-help`} className="field-help">
          {help}
        </span>
      )}
      {error && (
        <span id={`${id}-error`} className="error-text field-error">
          {error}
        </span>
      )}
    </div>
  );
}

/**
 * A write-only secret: the saved value is shown masked as a hint and never
 * put back in the input; only what the user types is sent.
 */
function SecretField(props: Omit<TextFieldProps, 'type' | 'placeholder' | 'help'> & { saved: string }) {
  const { saved, ...rest } = props;
  return (
    <TextField
      {...rest}
      type="password"
      autoComplete="new-password"
      placeholder={saved ? `Saved (${saved})` : ''}
      help={saved ? 'Leave blank to keep the saved value.' : undefined}
    />
  );
}

/** Limits shared by email and SMS, as form strings. */
interface LimitsDraft {
  capMax: string;
  capPeriod: string;
  rate: string;
}

function limitsDraft(s: { frequency_cap?: { max: number; period: string }; rate_per_second?: number } | undefined): LimitsDraft {
  return {
    capMax: s?.frequency_cap ? String(s.frequency_cap.max) : '',
    capPeriod: s?.frequency_cap?.period ?? '',
    rate: s?.rate_per_second ? String(s.rate_per_second) : '',
  };
}

function limitsBody(d: LimitsDraft): { frequency_cap?: { max: number; period: string }; rate_per_second?: number } {
  const out: { frequency_cap?: { max: number; period: string }; rate_per_second?: number } = {};
  if (d.capMax.trim() || d.capPeriod.trim()) out.frequency_cap = { max: Number(d.capMax.trim() || 0), period: d.capPeriod.trim() };
  if (d.rate.trim()) out.rate_per_second = Number(d.rate.trim());
  return out;
}

/** The channel's own error (wrong fields for the provider), then its limits. */
function ChannelLimits({ channel, draft, set, errors }: { channel: 'email' | 'sms'; draft: LimitsDraft; set: (p: Partial<LimitsDraft>) => void; errors: FieldErrors }) {
  return (
    <>
      {channelError(channel, errors)}
      <fieldset className="side-fields">
      <legend className="field-label">Limits (optional)</legend>
      <div className="field-row">
        <TextField name={`${channel}.frequency_cap.max`} label="At most (messages per customer)" type="number" value={draft.capMax} onChange={(v) => set({ capMax: v })} errors={errors} />
        <TextField name={`${channel}.frequency_cap.period`} label="Within (period)" placeholder="24h or 7d" value={draft.capPeriod} onChange={(v) => set({ capPeriod: v })} errors={errors} />
        <TextField name={`${channel}.rate_per_second`} label="Sends per second" type="number" placeholder="no limit" value={draft.rate} onChange={(v) => set({ rate: v })} errors={errors} />
      </div>
      <p className="field-help">Messages beyond the frequency cap wait for their next slot; they are never dropped.</p>
      </fieldset>
    </>
  );
}

/** Removes empty strings so the API sees only what was filled in. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== '' && v !== undefined)) as T;
}

interface ChannelFormProps {
  channel: Channel;
  title: string;
  description: string;
  canEdit: boolean;
  canTest: boolean;
  /** Builds the PUT body for this channel from the form. */
  body: () => ChannelSettings;
  onSaved: (cs: ChannelSettings) => void;
  errors: FieldErrors;
  setErrors: (e: FieldErrors) => void;
  testLabel: string;
  testPlaceholder: string;
  children: ReactNode;
}

function ChannelForm(props: ChannelFormProps) {
  const { channel, title, description, canEdit, canTest, body, onSaved, errors, setErrors, testLabel, testPlaceholder, children } = props;
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState('');
  const headingId = useId();

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setSaving(true);
    setSaved('');
    setErrors({});
    try {
      onSaved(await api.putChannels(body()));
      setSaved(`${title} settings saved.`);
    } catch (err) {
      setErrors(toFieldErrors(err));
    } finally {
      setSaving(false);
    }
  }

  return (
    <section className="panel channel-panel" aria-labelledby={headingId}>
      <div className="panel-header">
        <h2 id={headingId}>{title}</h2>
        <p className="muted">{description}</p>
      </div>
      <form onSubmit={onSubmit} aria-label={`${title} settings`} noValidate>
        <fieldset className="plain-fieldset" disabled={!canEdit || saving}>
          {children}
        </fieldset>
        {errors[''] && (
          <p className="error-text" role="alert">
            {errors['']}
          </p>
        )}
        {Object.keys(errors).some((k) => k !== '') && (
          <p className="error-text" role="alert">
            Check the highlighted field.
          </p>
        )}
        {canEdit && (
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={saving}>
              {saving ? 'Saving…' : `Save ${title.toLowerCase()} settings`}
            </button>
            {saved && (
              <span className="editor-message ok" role="status">
                {saved}
              </span>
            )}
          </div>
        )}
      </form>
      {canTest && <TestSend channel={channel} title={title} label={testLabel} placeholder={testPlaceholder} />}
    </section>
  );
}

function TestSend({ channel, title, label, placeholder }: { channel: Channel; title: string; label: string; placeholder: string }) {
  const [to, setTo] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const id = useId();

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (!to.trim()) {
      setResult({ ok: false, text: `Enter ${label.toLowerCase()} to send the test to.` });
      return;
    }
    setBusy(true);
    setResult(null);
    try {
      const r = await api.testChannel(channel, to.trim());
      setResult({ ok: true, text: `Test ${r.status} through ${r.provider}${r.provider_id ? ` (id ${r.provider_id})` : ''}${r.status_code ? ` (HTTP ${r.status_code})` : ''}.` });
    } catch (err) {
      setResult({ ok: false, text: `Test failed: ${errorText(err)}` });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="test-send" onSubmit={onSubmit} aria-label={`Test ${title.toLowerCase()}`} noValidate>
      <div className="field-row field-row-end">
        <div className="field field-grow">
          <label className="field-label" htmlFor={id}>
            Test: {label}
          </label>
          <input id={id} value={to} placeholder={placeholder} onChange={(e) => setTo(e.target.value)} />
        </div>
        <button type="submit" className="btn btn-secondary" disabled={busy}>
          {busy ? 'Sending…' : `Test ${title.toLowerCase()}`}
        </button>
      </div>
      <p className="field-help">Sends one message through the saved settings (save your changes first).</p>
      {result &&
        (result.ok ? (
          <p className="editor-message ok" role="status">
            {result.text}
          </p>
        ) : (
          <p className="error-text" role="alert">
            {result.text}
          </p>
        ))}
    </form>
  );
}

interface EmailDraft extends LimitsDraft {
  provider: EmailSettings['provider'];
  region: string;
  access_key_id: string;
  secret_access_key: string;
  configuration_set: string;
  endpoint: string;
  host: string;
  port: string;
  username: string;
  password: string;
  tls: string;
  from: string;
  reply_to: string;
}

function emailDraft(e: EmailSettings | undefined): EmailDraft {
  return {
    provider: e?.provider ?? 'outbox',
    region: e?.region ?? '',
    access_key_id: e?.access_key_id ?? '',
    secret_access_key: '',
    configuration_set: e?.configuration_set ?? '',
    endpoint: e?.endpoint ?? '',
    host: e?.host ?? '',
    port: e?.port ? String(e.port) : '',
    username: e?.username ?? '',
    password: '',
    tls: e?.tls ?? 'starttls',
    from: e?.from ?? '',
    reply_to: e?.reply_to ?? '',
    ...limitsDraft(e),
  };
}

/** The email PUT body: only the chosen provider's fields, secrets only when typed. */
export function emailBody(d: EmailDraft): EmailSettings {
  const limits = limitsBody(d);
  if (d.provider === 'outbox') return { provider: 'outbox', ...limits };
  const sender = { from: d.from.trim(), reply_to: d.reply_to.trim() };
  if (d.provider === 'ses') {
    return compact<EmailSettings>({
      provider: 'ses',
      region: d.region.trim(),
      access_key_id: d.access_key_id.trim(),
      secret_access_key: d.secret_access_key,
      configuration_set: d.configuration_set.trim(),
      endpoint: d.endpoint.trim(),
      ...sender,
      ...limits,
    });
  }
  return compact<EmailSettings>({
    provider: 'smtp',
    host: d.host.trim(),
    port: d.port.trim() ? Number(d.port.trim()) : undefined,
    username: d.username.trim(),
    password: d.password,
    tls: d.tls as EmailSettings['tls'],
    ...sender,
    ...limits,
  });
}

interface SmsDraft extends LimitsDraft {
  provider: SmsSettings['provider'];
  account_sid: string;
  auth_token: string;
  from: string;
  messaging_service_sid: string;
}

function smsDraft(s: SmsSettings | undefined): SmsDraft {
  return {
    provider: s?.provider ?? 'outbox',
    account_sid: s?.account_sid ?? '',
    auth_token: '',
    from: s?.from ?? '',
    messaging_service_sid: s?.messaging_service_sid ?? '',
    ...limitsDraft(s),
  };
}

function smsBody(d: SmsDraft): SmsSettings {
  const limits = limitsBody(d);
  if (d.provider === 'outbox') return { provider: 'outbox', ...limits };
  return compact<SmsSettings>({
    provider: 'twilio',
    account_sid: d.account_sid.trim(),
    auth_token: d.auth_token,
    from: d.from.trim(),
    messaging_service_sid: d.messaging_service_sid.trim(),
    ...limits,
  });
}

interface SelectFieldProps {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: [string, string][];
  /** In a row of fields: a narrow column. */
  narrow?: boolean;
}

function SelectField({ label, value, onChange, options, narrow }: SelectFieldProps) {
  return (
    <label className={narrow ? 'field field-narrow' : 'field field-select'}>
      <span className="field-label">{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The provider select: the outbox first, then the channel's real providers. */
function ProviderField({ value, onChange, providers }: { value: string; onChange: (v: string) => void; providers: [string, string][] }) {
  return <SelectField label="Provider" value={value} onChange={onChange} options={[['outbox', 'Outbox (no sending)'], ...providers]} />;
}

type LoadState = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; settings: ChannelSettings };

/** Settings → Channels: email, SMS and webhook delivery settings, each with a test send. */
export function ChannelsSettings({ canEdit, canTest = true }: { canEdit: boolean; canTest?: boolean }) {
  const [state, setState] = useState<LoadState>({ kind: 'loading' });
  const [email, setEmail] = useState<EmailDraft>(emailDraft(undefined));
  const [sms, setSms] = useState<SmsDraft>(smsDraft(undefined));
  const [hosts, setHosts] = useState('');
  const [emailErrors, setEmailErrors] = useState<FieldErrors>({});
  const [smsErrors, setSmsErrors] = useState<FieldErrors>({});
  const [webhookErrors, setWebhookErrors] = useState<FieldErrors>({});

  function apply(cs: ChannelSettings, only?: Channel) {
    setState((s) => ({ kind: 'ready', settings: { ...(s.kind === 'ready' ? s.settings : {}), ...cs } }));
    if (!only || only === 'email') setEmail(emailDraft(cs.email));
    if (!only || only === 'sms') setSms(smsDraft(cs.sms));
    if (!only || only === 'webhook') setHosts((cs.webhook?.allow_hosts ?? []).join('\n'));
  }

  const load = () => {
    setState({ kind: 'loading' });
    api
      .getChannels()
      .then((cs) => apply(cs))
      .catch((err: unknown) => setState({ kind: 'error', message: errorText(err) }));
  };
  useEffect(load, []);

  if (state.kind === 'loading') {
    return (
      <p className="list-state" role="status">
        Loading channel settings…
      </p>
    );
  }
  if (state.kind === 'error') {
    return (
      <div className="list-state list-error">
        <p role="alert">Could not load channel settings: {state.message}</p>
        <button type="button" className="btn btn-secondary" onClick={load}>
          Try again
        </button>
      </div>
    );
  }
  const saved = state.settings;
  /** The props every channel's form shares. */
  const formProps = (channel: Channel, errs: FieldErrors, setErrs: (e: FieldErrors) => void) => ({
    channel,
    canEdit,
    canTest,
    errors: errs,
    setErrors: setErrs,
    onSaved: (cs: ChannelSettings) => apply(cs, channel),
  });
  const setE = (p: Partial<EmailDraft>) => setEmail((d) => ({ ...d, ...p }));
  const setS = (p: Partial<SmsDraft>) => setSms((d) => ({ ...d, ...p }));

  return (
    <div className="page-stack">
      {!canEdit && (
        <p className="notice" role="note">
          Only workspace owners can change channel settings.
        </p>
      )}
      <ChannelForm
        title="Email"
        description="The provider that sends this workspace's email. The outbox keeps messages in Herald without sending them (for development)."
        {...formProps('email', emailErrors, setEmailErrors)}
        body={() => ({ email: emailBody(email) })}
        testLabel="Email address"
        testPlaceholder="you@example.com"
      >
        <ProviderField
          value={email.provider}
          onChange={(v) => setE({ provider: v as EmailDraft['provider'] })}
          providers={[
            ['ses', 'Amazon SES'],
            ['smtp', 'SMTP'],
          ]}
        />
        {email.provider === 'ses' && (
          <>
            <div className="field-row">
              <TextField name="email.region" label="Region" placeholder="eu-west-1" value={email.region} onChange={(v) => setE({ region: v })} errors={emailErrors} />
              <TextField name="email.configuration_set" label="Configuration set (optional)" value={email.configuration_set} onChange={(v) => setE({ configuration_set: v })} errors={emailErrors} />
            </div>
            <div className="field-row">
              <TextField name="email.access_key_id" label="Access key ID (blank: the instance's role)" value={email.access_key_id} onChange={(v) => setE({ access_key_id: v })} errors={emailErrors} />
              <SecretField name="email.secret_access_key" label="Secret access key" saved={saved.email?.provider === 'ses' ? (saved.email.secret_access_key ?? '') : ''} value={email.secret_access_key} onChange={(v) => setE({ secret_access_key: v })} errors={emailErrors} />
            </div>
            <TextField name="email.endpoint" label="Endpoint (optional)" placeholder="https://email.eu-west-1.amazonaws.com" value={email.endpoint} onChange={(v) => setE({ endpoint: v })} errors={emailErrors} />
          </>
        )}
        {email.provider === 'smtp' && (
          <>
            <div className="field-row">
              <TextField name="email.host" label="Host" placeholder="smtp.example.com" value={email.host} onChange={(v) => setE({ host: v })} errors={emailErrors} />
              <TextField name="email.port" label="Port" type="number" placeholder="587" value={email.port} onChange={(v) => setE({ port: v })} errors={emailErrors} />
              <SelectField
                narrow
                label="TLS"
                value={email.tls}
                onChange={(v) => setE({ tls: v })}
                options={[
                  ['starttls', 'STARTTLS'],
                  ['tls', 'TLS'],
                  ['none', 'None'],
                ]}
              />
            </div>
            <div className="field-row">
              <TextField name="email.username" label="Username (optional)" value={email.username} onChange={(v) => setE({ username: v })} errors={emailErrors} />
              <SecretField name="email.password" label="Password" saved={saved.email?.provider === 'smtp' ? (saved.email.password ?? '') : ''} value={email.password} onChange={(v) => setE({ password: v })} errors={emailErrors} />
            </div>
          </>
        )}
        {email.provider !== 'outbox' && (
          <div className="field-row">
            <TextField name="email.from" label="From" placeholder="Acme <hi@acme.io>" value={email.from} onChange={(v) => setE({ from: v })} errors={emailErrors} />
            <TextField name="email.reply_to" label="Reply-to (optional)" value={email.reply_to} onChange={(v) => setE({ reply_to: v })} errors={emailErrors} />
          </div>
        )}
        <ChannelLimits channel="email" draft={email} set={setE} errors={emailErrors} />
      </ChannelForm>

      <ChannelForm
        title="SMS"
        description="The provider that sends text messages."
        {...formProps('sms', smsErrors, setSmsErrors)}
        body={() => ({ sms: smsBody(sms) })}
        testLabel="Phone number"
        testPlaceholder="+15555550100"
      >
        <ProviderField value={sms.provider} onChange={(v) => setS({ provider: v as SmsDraft['provider'] })} providers={[['twilio', 'Twilio']]} />
        {sms.provider === 'twilio' && (
          <>
            <div className="field-row">
              <TextField name="sms.account_sid" label="Account SID" placeholder="AC…" value={sms.account_sid} onChange={(v) => setS({ account_sid: v })} errors={smsErrors} />
              <SecretField name="sms.auth_token" label="Auth token" saved={saved.sms?.provider === 'twilio' ? (saved.sms.auth_token ?? '') : ''} value={sms.auth_token} onChange={(v) => setS({ auth_token: v })} errors={smsErrors} />
            </div>
            <div className="field-row">
              <TextField name="sms.from" label="From number" placeholder="+15555550100" value={sms.from} onChange={(v) => setS({ from: v })} errors={smsErrors} />
              <TextField name="sms.messaging_service_sid" label="Messaging service SID (optional)" placeholder="MG…" value={sms.messaging_service_sid} onChange={(v) => setS({ messaging_service_sid: v })} errors={smsErrors} />
            </div>
          </>
        )}
        <ChannelLimits channel="sms" draft={sms} set={setS} errors={smsErrors} />
      </ChannelForm>

      <ChannelForm
        title="Webhook"
        description="Webhook sends refuse private and loopback addresses, except for the hosts allowed here."
        {...formProps('webhook', webhookErrors, setWebhookErrors)}
        body={() => ({ webhook: { allow_hosts: hosts.split(/[\n,]/).map((h) => h.trim()).filter(Boolean) } })}
        testLabel="URL"
        testPlaceholder="https://hooks.example.com/test"
      >
        <HostsField value={hosts} onChange={setHosts} error={webhookErrors['webhook.allow_hosts']} />
        {channelError('webhook', webhookErrors)}
      </ChannelForm>
    </div>
  );
}

/** An error for the channel as a whole ("email": wrong fields for the provider). */
function channelError(channel: string, errs: FieldErrors) {
  return errs[channel] ? (
    <p className="error-text field-error" data-field={channel}>
      {errs[channel]}
    </p>
  ) : null;
}

function HostsField({ value, onChange, error }: { value: string; onChange: (v: string) => void; error?: string }) {
  const id = useId();
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        Allowed private hosts
      </label>
      <textarea
        id={id}
        name="webhook.allow_hosts"
        rows={3}
        value={value}
        placeholder={'internal.example.com\n10.0.0.5'}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={`${id}-help${error ? ` ${id}-error` : ''}`}
      />
      <span id={`${id}-help`} className="field-help">
        One host name or IP address a line (no scheme, port or path).
      </span>
      {error && (
        <span id={`${id}-error`} className="error-text field-error">
          {error}
        </span>
      )}
    </div>
  );
}
