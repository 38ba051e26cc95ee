// Customers: search by id, user id, anonymous id, email or phone; a
// profile with attributes, event timeline, journey runs and messages;
// export (GDPR access) and erase (GDPR erasure, after confirmation).
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import * as api from '../api.ts';
import type { Customer, CustomerProfile, Delivery } from '../api.ts';
import { ConfirmDialog } from '../ConfirmDialog.tsx';
import { formatTime } from '../journey/RunsPanel.tsx';
import { linkHandler } from '../router.ts';
import { EmptyPage } from './EmptyPage.tsx';
import { BackLink, ListError, ListLoading, ListTable, RowLink } from './ListState.tsx';
import { errorText } from '../errors.ts';
import { saveFile } from '../saveFile.ts';
import { displayValue, prettyJSON } from '../exactJSON.ts';

/** The best human name for a customer: user id, email, phone, else the internal id. */
export function customerLabel(c: Customer): string {
  return c.external_id || c.email || c.phone || c.id;
}

/** The columns of a customer row (CustomerCells). */
export const CUSTOMER_COLUMNS = ['Customer', 'Email', 'Phone', 'Created'];

/** A customer's cells in a list: a link to the profile, email, phone, created. */
export function CustomerCells({ c, navigate }: { c: Customer; navigate: (to: string) => void }) {
  return (
    <>
      <RowLink to={`/customers/${encodeURIComponent(c.id)}`} navigate={navigate}>
        {customerLabel(c)}
      </RowLink>
      <td>{c.email ?? '—'}</td>
      <td>{c.phone ?? '—'}</td>
      <td className="nowrap">{formatTime(c.created_at)}</td>
    </>
  );
}

/** The search a /customers URL carries: ?q= and one attr.<name>=<value>. */
export function filterFromURL(search: string): api.CustomerFilter {
  const p = new URLSearchParams(search);
  const f: api.CustomerFilter = { q: p.get('q') ?? '' };
  for (const [k, v] of p) {
    if (k.startsWith('attr.') && k.length > 5 && v) return { ...f, attr: k.slice(5), value: v };
  }
  return f;
}

/** The query string that brings the search back (after Back, or in a link). */
export function filterToURL(f: api.CustomerFilter): string {
  const p = new URLSearchParams();
  if (f.q) p.set('q', f.q);
  if (f.attr && f.value) p.set(`attr.${f.attr}`, f.value);
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function CustomersPage({ navigate }: { navigate: (to: string) => void }) {
  const [initial] = useState(() => filterFromURL(window.location.search));
  const [q, setQ] = useState(initial.q);
  const [attr, setAttr] = useState(initial.attr ?? '');
  const [value, setValue] = useState(initial.value ?? '');
  const [searched, setSearched] = useState<api.CustomerFilter>({ q: '' });
  const [list, setList] = useState<Customer[] | null>(null);
  const [error, setError] = useState('');
  const [next, setNext] = useState('');
  const [more, setMore] = useState(false);

  const load = useCallback(async (query: api.CustomerFilter) => {
    setError('');
    setList(null);
    try {
      const page = await api.searchCustomers(query);
      setList(page.items);
      setNext(page.next);
      setSearched(query);
      // The search stays in the address, so Back from a profile returns to
      // it (unless the app has moved on to another page meanwhile).
      if (window.location.pathname === '/customers') window.history.replaceState(window.history.state, '', `/customers${filterToURL(query)}`);
    } catch (err) {
      setError(errorText(err));
    }
  }, []);

  const loadMore = async () => {
    setMore(true);
    try {
      const page = await api.searchCustomers(searched, next);
      setList((l) => [...(l ?? []), ...page.items]);
      setNext(page.next);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setMore(false);
    }
  };

  useEffect(() => {
    void load(initial);
  }, [load, initial]);

  const [filterHint, setFilterHint] = useState('');
  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    if (!attr.trim() !== !value) {
      setFilterHint('Fill in both the attribute and the value it equals, or neither.');
      return;
    }
    setFilterHint('');
    void load(attr.trim() && value ? { q: q.trim(), attr: attr.trim(), value } : { q: q.trim() });
  };
  const filtered = searched.q !== '' || !!searched.attr;

  if (list && list.length === 0 && !filtered && !error) {
    return (
      <EmptyPage
        title="No customers yet"
        text="Customers appear here when your backend identifies them or sends their events (POST /v1/identify, /v1/track)."
      />
    );
  }
  return (
    <div className="page-stack">
      <form role="search" aria-label="Customers" className="search-row" onSubmit={onSearch}>
        <label className="field field-grow">
          <span className="field-label">Search customers</span>
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="User id or email (or its start), phone, anonymous id, customer id" />
        </label>
        <label className="field">
          <span className="field-label">Attribute</span>
          <input value={attr} onChange={(e) => setAttr(e.target.value)} placeholder="plan or address.city" />
        </label>
        <label className="field">
          <span className="field-label">equals</span>
          <input value={value} onChange={(e) => setValue(e.target.value)} placeholder="pro" />
        </label>
        <button type="submit" className="btn btn-primary">
          Search
        </button>
      </form>
      {filterHint && (
        <p className="error-text" role="alert">
          {filterHint}
        </p>
      )}
      {error ? (
        <ListError message={error} onRetry={() => void load(searched)} />
      ) : list === null ? (
        <ListLoading what="customers" />
      ) : list.length === 0 ? (
        <div className="list-state panel">
          <p className="list-empty-title">No customers match “{describeFilter(searched)}”</p>
          <p>Search matches the start of a user id or email, or a whole phone number, anonymous id or customer id; an attribute must equal the value.</p>
        </div>
      ) : (
        <ListTable
          columns={CUSTOMER_COLUMNS}
          footer={
            next && (
              <div className="list-state">
                <button type="button" className="btn btn-secondary" onClick={() => void loadMore()} disabled={more}>
                  {more ? 'Loading…' : 'Load more'}
                </button>
              </div>
            )
          }
        >
          {list.map((c) => (
            <tr key={c.id}>
              <CustomerCells c={c} navigate={navigate} />
            </tr>
          ))}
        </ListTable>
      )}
    </div>
  );
}

/** The search as the empty-result message quotes it. */
function describeFilter(f: api.CustomerFilter): string {
  const parts = f.q ? [f.q] : [];
  if (f.attr) parts.push(`${f.attr} = ${f.value ?? ''}`);
  return parts.join(' and ');
}

/** One line of a profile's timeline, its data folded away under `more`. */
function TimelineItem({ title, when, more, data }: { title: string; when: string; more: string; data: Record<string, unknown> | null | undefined }) {
  return (
    <li>
      <strong>{title}</strong> <span className="muted small">{when}</span>
      {data && Object.keys(data).length > 0 && (
        <details>
          <summary>{more}</summary>
          <pre className="json">{pretty(data)}</pre>
        </details>
      )}
    </li>
  );
}

/**
 * An event's title in the timeline: its name ("Signed Up", "Page Viewed"),
 * with the page or screen's own name ("Pricing") for page and screen events.
 */
export function eventTitle(e: Pick<api.StoredEvent, 'type' | 'name' | 'properties'>): string {
  const name = e.name || (e.type ? e.type[0].toUpperCase() + e.type.slice(1) : 'Event');
  const page = e.properties?.name;
  if ((e.type === 'page' || e.type === 'screen') && typeof page === 'string' && page.trim() && page !== name) return `${name} · ${page}`;
  return name;
}

/** A customer audit entry in words, with what its details say when that is short. */
export function auditLabel(action: string, detail?: Record<string, unknown> | null): string {
  switch (action) {
    case 'change_user_id': {
      const from = typeof detail?.previous_user_id === 'string' ? detail.previous_user_id : '';
      const to = typeof detail?.user_id === 'string' ? detail.user_id : '';
      if (from && to) return `User id changed from ${from} to ${to}`;
      return to ? `User id changed to ${to}` : 'User id changed';
    }
    case 'merge':
      return 'Merged with another profile';
    case 'export':
      return 'Data exported';
    case 'update_failed':
      return 'Attribute update failed';
    case 'erase':
      return 'Erased';
    default:
      return action;
  }
}

/** A list's count where the API cut it: "100+" when there are more than shown. */
function countText(shown: number, more?: boolean): string {
  return more ? `${shown}+` : String(shown);
}

/** "30 of 130" while some are not loaded, else the total; "100+" without a total but with more to load. */
function shownOfTotal(shown: number, total: number | undefined, more: boolean): string {
  if (total === undefined) return countText(shown, more);
  return shown < total ? `${shown} of ${total}` : String(total);
}

/** JSON for the profile's folded details, large integers exact. */
function pretty(v: unknown): string {
  return prettyJSON(v);
}

/** One customer's profile. */
export function CustomerProfilePage({ id, navigate, canErase = true }: { id: string; navigate: (to: string) => void; canErase?: boolean }) {
  const [profile, setProfile] = useState<CustomerProfile | null>(null);
  const [templates, setTemplates] = useState<Map<string, string>>(new Map());
  const [error, setError] = useState('');
  const [confirm, setConfirm] = useState(false);
  const [erasing, setErasing] = useState(false);
  const [eraseError, setEraseError] = useState('');
  const [moreEvents, setMoreEvents] = useState(false);
  const [eventsError, setEventsError] = useState('');

  const loadMoreEvents = async () => {
    if (!profile) return;
    setMoreEvents(true);
    setEventsError('');
    try {
      const page = await api.getCustomerEvents(profile.id, profile.events_next_cursor);
      setProfile({ ...profile, events: [...profile.events, ...page.items], events_next_cursor: page.next });
    } catch (err) {
      setEventsError(errorText(err));
    } finally {
      setMoreEvents(false);
    }
  };

  const [moreAudit, setMoreAudit] = useState(false);
  const [auditError, setAuditError] = useState('');

  const loadMoreAudit = async () => {
    if (!profile?.audit_next_cursor) return;
    setMoreAudit(true);
    setAuditError('');
    try {
      const page = await api.getCustomerAudit(profile.id, profile.audit_next_cursor);
      setProfile({ ...profile, audit: [...(profile.audit ?? []), ...page.items], audit_next_cursor: page.next });
    } catch (err) {
      setAuditError(errorText(err));
    } finally {
      setMoreAudit(false);
    }
  };

  const [missing, setMissing] = useState(false);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState('');

  // The export is recorded in the customer's history: reload it afterwards.
  const exportJSON = async () => {
    if (!profile) return;
    setExporting(true);
    setExportError('');
    try {
      const file = await api.exportCustomer(profile.id);
      saveFile(file.blob, file.fileName);
    } catch (err) {
      setExportError(`Export failed: ${errorText(err)}`);
      setExporting(false);
      return;
    }
    try {
      const p = await api.getCustomer(profile.id);
      setProfile((cur) => (cur ? { ...cur, audit: p.audit, audit_total: p.audit_total, audit_next_cursor: p.audit_next_cursor } : p));
    } catch {
      // The export is saved; the history catches up on Refresh.
    } finally {
      setExporting(false);
    }
  };

  const load = useCallback(async () => {
    setError('');
    setMissing(false);
    try {
      const [p, ts] = await Promise.all([api.getCustomer(id), api.listTemplates().catch(() => [])]);
      setProfile(p);
      setTemplates(new Map(ts.map((t) => [t.id, t.name])));
    } catch (err) {
      if (err instanceof api.ApiError && err.status === 404) setMissing(true);
      else setError(errorText(err));
    }
  }, [id]);

  useEffect(() => {
    void load();
  }, [load]);

  const erase = async () => {
    setErasing(true);
    setEraseError('');
    try {
      await api.eraseCustomer(id);
      setConfirm(false);
      navigate('/customers');
    } catch (err) {
      setEraseError(errorText(err));
      setErasing(false);
    }
  };

  const back = <BackLink to="/customers" label="Customers" navigate={navigate} />;
  if (missing) {
    return (
      <div className="page-stack">
        {back}
        <div className="list-state" role="alert">
          <p>
            No customer <strong>{id}</strong> in this workspace. Profiles open by internal id or user id; search finds one by
            anonymous id, email or phone. An erased customer is gone for good.
          </p>
        </div>
      </div>
    );
  }
  if (error) {
    return (
      <div className="page-stack">
        {back}
        <ListError message={error} onRetry={() => void load()} />
      </div>
    );
  }
  if (!profile) return <ListLoading what="customer" />;
  const attrs = profile.attributes ?? {};
  return (
    <div className="page-stack">
      <div className="editor-bar">
        {back}
        <h2 className="editor-title">{customerLabel(profile)}</h2>
        <div className="editor-actions">
          <button type="button" className="btn btn-secondary btn-small" onClick={() => void load()}>
            Refresh
          </button>
          <button type="button" className="btn btn-secondary btn-small" onClick={() => void exportJSON()} disabled={exporting}>
            {exporting ? 'Exporting…' : 'Export JSON'}
          </button>
          {canErase ? (
            <button type="button" className="btn btn-danger btn-small" onClick={() => setConfirm(true)}>
              Erase customer
            </button>
          ) : (
            <span className="muted small">Erasing a customer needs the editor role.</span>
          )}
        </div>
      </div>

      {exportError && (
        <p className="error-text" role="alert">
          {exportError}
        </p>
      )}

      <div className="profile-grid">
        <section className="panel profile-section" aria-label="Profile">
          <h3 className="side-sub">Profile</h3>
          <dl className="props">
            <dt>Customer id</dt>
            <dd>
              <code>{profile.id}</code>
            </dd>
            <dt>User id</dt>
            <dd>{profile.external_id ?? '—'}</dd>
            <dt>Email</dt>
            <dd>{profile.email ?? '—'}</dd>
            <dt>Phone</dt>
            <dd>{profile.phone ?? '—'}</dd>
            <dt>Time zone</dt>
            <dd>{profile.timezone ?? '—'}</dd>
            <dt>Previous user ids</dt>
            <dd>{profile.previous_user_ids?.length ? profile.previous_user_ids.join(', ') : '—'}</dd>
            <dt>Anonymous ids</dt>
            <dd>{profile.anonymous_ids?.length ? profile.anonymous_ids.join(', ') : '—'}</dd>
            <dt>Created</dt>
            <dd>{formatTime(profile.created_at)}</dd>
          </dl>
          <h3 className="side-sub">Attributes</h3>
          {Object.keys(attrs).length === 0 ? (
            <p className="muted">No custom attributes.</p>
          ) : (
            <dl className="props" aria-label="Attributes">
              {Object.entries(attrs).map(([k, v]) => (
                <div key={k} className="prop-pair">
                  <dt>{k}</dt>
                  <dd>{displayValue(v)}</dd>
                </div>
              ))}
            </dl>
          )}
        </section>

        <section className="panel profile-section" aria-label="Journeys">
          <h3 className="side-sub">Journeys ({countText(profile.runs.length, profile.runs_more)})</h3>
          {profile.runs.length === 0 ? (
            <p className="muted">Not in any journey yet.</p>
          ) : (
            <ul className="timeline">
              {profile.runs.map((r) => {
                const to = `/journeys/${encodeURIComponent(r.journey_id)}`;
                return (
                  <li key={r.workflow_id + r.run_id}>
                    <a href={to} onClick={linkHandler(to, navigate)}>
                      {r.journey_name || r.journey_id}
                    </a>{' '}
                    <span className={`badge run-${r.status}`}>{r.status}</span>
                    <div className="muted small">
                      v{r.version} · at {r.current_node || '—'} · started {formatTime(r.started_at)}
                      {r.converted_at ? ' · converted' : ''}
                      {r.end_reason ? ` · ${r.end_reason}` : ''}
                    </div>
                  </li>
                );
              })}
            </ul>
          )}
          <h3 className="side-sub">Segments ({profile.segments?.length ?? 0})</h3>
          {!profile.segments?.length ? (
            <p className="muted">Not in any segment.</p>
          ) : (
            <ul className="timeline" aria-label="Segments">
              {profile.segments.map((m) => {
                const to = `/audiences/${encodeURIComponent(m.segment_id)}`;
                return (
                  <li key={m.segment_id}>
                    <a href={to} onClick={linkHandler(to, navigate)}>
                      {m.name}
                    </a>{' '}
                    <span className="badge">{m.kind}</span>
                    <div className="muted small">since {formatTime(m.entered_at)}</div>
                  </li>
                );
              })}
            </ul>
          )}
        </section>
      </div>

      <section className="panel profile-section" aria-label="Messages">
        <h3 className="side-sub">Messages ({countText(profile.deliveries.length, profile.deliveries_more)})</h3>
        {profile.deliveries.length === 0 ? (
          <p className="muted">No messages sent to this customer yet.</p>
        ) : (
          <ul className="timeline">
            {profile.deliveries.map((d) => (
              <DeliveryItem key={d.id} d={d} template={templates.get(d.template_id)} />
            ))}
          </ul>
        )}
      </section>

      <section className="panel profile-section" aria-label="Events">
        <h3 className="side-sub">
          Events ({profile.events.length < profile.events_total ? `${profile.events.length} of ${profile.events_total}` : profile.events_total})
        </h3>
        <p className="muted small">Newest first, by when they happened.</p>
        {profile.events.length === 0 ? (
          <p className="muted">No events yet.</p>
        ) : (
          <ul className="timeline">
            {profile.events.map((e) => (
              <TimelineItem key={e.id} title={eventTitle(e)} when={formatTime(e.occurred_at)} more="Properties" data={e.properties} />
            ))}
          </ul>
        )}
        {eventsError && <p className="error-text">{eventsError}</p>}
        {profile.events_next_cursor && (
          <button type="button" className="btn btn-secondary" onClick={() => void loadMoreEvents()} disabled={moreEvents}>
            {moreEvents ? 'Loading…' : 'Load more events'}
          </button>
        )}
      </section>

      <section className="panel profile-section" aria-label="History">
        <h3 className="side-sub">History ({shownOfTotal(profile.audit?.length ?? 0, profile.audit_total, !!profile.audit_next_cursor)})</h3>
        <p className="muted small">Newest first.</p>
        {!profile.audit?.length ? (
          <p className="muted">Nothing recorded about this customer yet (merges, user id changes, exports, failed attribute updates show here).</p>
        ) : (
          <ul className="timeline">
            {profile.audit.map((a) => (
              <TimelineItem key={a.id} title={auditLabel(a.action, a.detail)} when={`by ${a.actor} · ${formatTime(a.created_at)}`} more="Details" data={a.detail} />
            ))}
          </ul>
        )}
        {auditError && <p className="error-text">{auditError}</p>}
        {profile.audit_next_cursor && (
          <button type="button" className="btn btn-secondary" onClick={() => void loadMoreAudit()} disabled={moreAudit}>
            {moreAudit ? 'Loading…' : 'Load more history'}
          </button>
        )}
      </section>

      {confirm && (
        <ConfirmDialog
          title="Erase customer?"
          confirmLabel="Erase customer"
          danger
          busy={erasing}
          error={eraseError}
          onConfirm={() => void erase()}
          onCancel={() => {
            setConfirm(false);
            setEraseError('');
          }}
        >
          <p>
            <strong>{customerLabel(profile)}</strong>: their running journeys are cancelled, their events and profile deleted, the
            content of their messages and their rows in uploaded CSV files blanked. This cannot be undone.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function DeliveryItem({ d, template }: { d: Delivery; template?: string }) {
  const c = d.content ?? {};
  return (
    <li>
      <span className="badge channel-badge">{d.channel}</span> <strong>{d.channel === 'email' && c.subject ? c.subject : (template ?? d.template_id)}</strong>{' '}
      <span className={`badge delivery-${d.status}`}>{d.status}</span>
      <div className="muted small">
        to {d.recipient || '—'} · {formatTime(d.created_at)} · step {d.node_id || '—'} · via {d.provider}
        {d.channel === 'email' && template ? ` · template ${template}` : ''}
        {d.error ? ` · ${d.error}` : ''}
      </div>
      <details>
        <summary>Content</summary>
        {d.channel === 'email' && c.html ? (
          <iframe className="email-frame" title={`Email ${d.id}`} sandbox="" srcDoc={c.html} />
        ) : (
          <pre className="json">{c.body ?? pretty(c)}</pre>
        )}
        {d.history && d.history.length > 0 && (
          <ol className="small">
            {d.history.map((h, i) => (
              <li key={i}>
                {h.status} · {formatTime(h.created_at)}
                {h.detail ? ` · ${h.detail}` : ''}
              </li>
            ))}
          </ol>
        )}
      </details>
    </li>
  );
}
