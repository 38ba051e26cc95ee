// Typed client for the Herald HTTP API (/api/...).
//
// The session lives in an HttpOnly cookie; this module only keeps the CSRF
// token that login and /api/me return, and sends it on every unsafe request.

import { parseExactJSON } from './exactJSON.ts';

/** The signed-in user, their workspace and role, as returned by login and /api/me. */
export interface Session {
  user: { id: string; email: string };
  workspace: { id: string; name: string };
  role: 'owner' | 'editor' | 'viewer';
  csrf_token: string;
  temporal_ui_url: string;
}

/** Kind of API key: write keys send events, secret keys call the server API. */
export type KeyKind = 'write' | 'secret';

/** An API key as listed; the full key is never returned after creation. */
export interface ApiKey {
  id: string;
  kind: KeyKind;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A just-created key: `key` is the only time the full secret is returned. */
export interface CreatedKey {
  id: string;
  kind: KeyKind;
  name: string;
  prefix: string;
  key: string;
  created_at: string;
}

/** An error answer from the API (or a network failure, with status 0). */
export class ApiError extends Error {
  readonly status: number;
  /** The field the server named as wrong, when it named one. */
  readonly field?: string;
  /** The decoded JSON error body, when there was one. */
  readonly body?: unknown;

  constructor(status: number, message: string, body?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
    const field = (body as { field?: unknown } | undefined)?.field;
    if (typeof field === 'string') this.field = field;
  }
}

let csrfToken = '';
let onUnauthorized: (() => void) | null = null;

/** Sets the CSRF token sent on unsafe requests (login and me set it themselves). */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/**
 * Registers a callback for a 401 on any call made while signed in (the session
 * expired or was revoked). login and me report 401 to their caller instead.
 */
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Do not call the unauthorized handler on 401 (login, me). */
  quiet401?: boolean;
  /** A multipart form sent instead of a JSON body. */
  form?: FormData;
  /**
   * Keep integers beyond Number.MAX_SAFE_INTEGER exact (as marked strings,
   * see exactJSON.ts): for replies whose values are shown as they are.
   */
  exactIntegers?: boolean;
}

async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (!text) return undefined as T;
  return (opts.exactIntegers ? parseExactJSON(text) : JSON.parse(text)) as T;
}

/** A file the API answered: its content and the name it suggested. */
export interface Download {
  blob: Blob;
  fileName: string;
}

/**
 * Fetches a file through the same path as every call, so a refusal (a
 * customer erased meanwhile, an expired session) is an ApiError the page
 * shows rather than a broken browser download.
 */
async function download(path: string, fallbackName: string): Promise<Download> {
  const res = await send(path, {});
  return { blob: await res.blob(), fileName: attachmentName(res.headers.get('Content-Disposition')) || fallbackName };
}

/** The file name of a Content-Disposition header (filename*= first), or ''. */
export function attachmentName(header: string | null): string {
  if (!header) return '';
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {
      // Not valid percent-encoding: fall back to filename=.
    }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/.exec(header);
  if (!plain) return '';
  return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2];
}

/** Sends a request; an error answer throws ApiError (and a 401 calls the unauthorized handler). */
async function send(path: string, opts: RequestOptions): Promise<Response> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (UNSAFE.has(method)) {
    headers['Content-Type'] = 'application/json';
    // Before sign-in there is no token yet: POST /api/login goes without one.
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  }
  // A form (a file upload) goes as it is; the browser sets its Content-Type.
  if (opts.form) delete headers['Content-Type'];
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.form ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });
  } catch {
    throw new ApiError(0, 'Could not reach the Herald server. Check your connection and try again.');
  }
  if (!res.ok) {
    const { message, body } = await errorMessage(res);
    if (res.status === 401 && !opts.quiet401 && onUnauthorized) onUnauthorized();
    throw new ApiError(res.status, message, body);
  }
  return res;
}

async function errorMessage(res: Response): Promise<{ message: string; body?: unknown }> {
  let body: { error?: unknown } | undefined;
  try {
    body = (await res.json()) as { error?: unknown };
    if (typeof body.error === 'string' && body.error) return { message: body.error, body };
  } catch {
    // Not JSON: fall through to a generic message.
  }
  const status = res.statusText ? `${res.status} ${res.statusText}` : String(res.status);
  return { message: `Request failed (${status})`, body };
}

/** Signs in with email and password; a 401 means bad credentials. */
export async function login(email: string, password: string): Promise<Session> {
  const s = await request<Session>('/api/login', {
    method: 'POST',
    body: { email, password },
    quiet401: true,
  });
  setCsrfToken(s.csrf_token);
  return s;
}

/** Returns the current session, or null when not signed in. */
export async function me(): Promise<Session | null> {
  try {
    const s = await request<Session>('/api/me', { quiet401: true });
    setCsrfToken(s.csrf_token);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/** Ends the session. */
export async function logout(): Promise<void> {
  await request<void>('/api/logout', { method: 'POST', quiet401: true });
  setCsrfToken('');
}

/** Lists the workspace's API keys, revoked ones included. */
export async function listKeys(): Promise<ApiKey[]> {
  const body = await request<{ items: ApiKey[] | null }>('/api/keys');
  return body.items ?? [];
}

/** Creates a key; the returned `key` must be shown to the user now or never. */
export function createKey(kind: KeyKind, name: string): Promise<CreatedKey> {
  return request<CreatedKey>('/api/keys', { method: 'POST', body: { kind, name } });
}

/** Revokes a key; requests using it are refused from then on. */
export function revokeKey(id: string): Promise<void> {
  return request<void>(`/api/keys/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

// ---- Shared list shape -------------------------------------------------------

interface Page<T> {
  items: T[] | null;
  next_cursor?: string;
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

// ---- Conditions (DESIGN §6) ---------------------------------------------------

/** A condition of the DSL shared by segments, branches and filters. */
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { attr: string; op: string; value?: unknown }
  | { prop: string; op: string; value?: unknown }
  | {
      event: string;
      op?: 'performed' | 'not_performed';
      count?: Partial<Record<'gte' | 'gt' | 'lte' | 'lt' | 'eq', number>>;
      within?: string;
      where?: Condition;
    }
  | { segment: string; op?: 'member' | 'not_member' };

// ---- Journeys (DESIGN §5) -----------------------------------------------------

/** The node types of DESIGN §5. */
export type NodeType =
  | 'send'
  | 'delay'
  | 'wait_for_event'
  | 'branch'
  | 'split'
  | 'time_window'
  | 'update_customer'
  | 'jump'
  | 'exit';

/** One step of a journey graph; which fields apply depends on `type`. */
export interface JourneyNode {
  id: string;
  type: NodeType;
  next?: string;
  channel?: 'email' | 'sms' | 'webhook';
  template_id?: string;
  duration?: string;
  until?: string;
  offset?: string;
  at?: string;
  event?: string;
  where?: Condition;
  timeout?: string;
  on_event?: string;
  on_timeout?: string;
  branches?: { when: Condition; next: string }[];
  else?: string;
  variants?: { name: string; weight: number; next: string }[];
  days?: string[];
  from?: string;
  to?: string;
  timezone?: string;
  set?: Record<string, unknown>;
  unset?: string[];
}

/** Canvas positions, stored beside the graph. */
export interface JourneyLayout {
  nodes?: Record<string, { x: number; y: number }>;
}

/** A journey definition as the API takes it. */
export interface JourneyDefinition {
  name: string;
  trigger: {
    type: 'event' | 'segment' | 'api' | 'schedule';
    event?: string;
    where?: Condition;
    segment_id?: string;
    include_existing?: boolean;
    cron?: string;
    timezone?: string;
  };
  entry: { policy: 'once' | 'every_time' | 'once_per'; period?: string; key?: string; max_concurrent?: number };
  exit_on?: { event: string; where?: Condition }[];
  goal?: { event: string; within?: string };
  settings: { quiet_hours?: { start: string; end: string }; send_rate_per_minute?: number };
  start: string;
  nodes: JourneyNode[];
  layout?: JourneyLayout;
}

export type JourneyStatus = 'draft' | 'active' | 'paused' | 'stopped' | 'archived';

/** A journey as the API returns it. */
export interface Journey {
  id: string;
  name: string;
  status: JourneyStatus;
  live_version: number | null;
  definition: JourneyDefinition;
  created_at: string;
  updated_at: string;
}

/** One problem in a journey definition: node is empty for journey-level fields. */
export interface ValidationError {
  node?: string;
  field: string;
  message: string;
}

/** A 422 from save or publish, with every validation error. */
export class JourneyInvalidError extends ApiError {
  readonly errors: ValidationError[];

  constructor(message: string, errors: ValidationError[]) {
    super(422, message);
    this.name = 'JourneyInvalidError';
    this.errors = errors;
  }
}

/** Per-node counts and send funnel of a journey. */
export interface JourneyStats {
  runs: Record<string, number>;
  nodes: Record<string, { entered: number; waiting: number; passed: number }>;
  sends: Record<string, Record<string, number>>;
  conversions: number;
  variants?: Record<string, Record<string, number>>;
  funnel: Record<string, Record<string, number>>;
  template_funnel: Record<string, Record<string, number>>;
  funnel_total: Record<string, number>;
}

/** One run of a journey for one customer. */
export interface Run {
  workflow_id: string;
  run_id: string;
  journey_id: string;
  version: number;
  customer_id: string;
  /** The customer's user id, when they have one. */
  customer_external_id?: string | null;
  entry_key?: string;
  status: string;
  current_node: string;
  trigger_event?: string;
  converted_at: string | null;
  started_at: string;
  updated_at: string;
  ended_at: string | null;
  /** Why an exited run left the journey (the exit signal's reason, "exit_on <event>"). */
  end_reason?: string;
  journey_name?: string;
}

/** One run with its path and live state. */
export interface RunDetail extends Run {
  path: { node: string; visit: number; detail?: string; entered_at: string; left_at: string | null }[];
  state?: unknown;
  state_error?: string;
  temporal_ui_url: string;
}

export async function listJourneys(): Promise<Journey[]> {
  const body = await request<Page<Journey>>('/api/journeys?limit=200');
  return body.items ?? [];
}

export function getJourney(id: string): Promise<Journey> {
  return request<Journey>(`/api/journeys/${enc(id)}`);
}

/** Turns a 422 with `errors` into a JourneyInvalidError. */
async function journeyRequest<T>(path: string, opts: RequestOptions): Promise<T> {
  try {
    return await request<T>(path, opts);
  } catch (err) {
    if (err instanceof ApiError && err.status === 422) {
      const body = err.body as { error?: string; errors?: ValidationError[] };
      throw new JourneyInvalidError(body.error ?? err.message, body.errors ?? []);
    }
    throw err;
  }
}

export function createJourney(def: JourneyDefinition): Promise<Journey> {
  return journeyRequest<Journey>('/api/journeys', { method: 'POST', body: def });
}

export function updateJourney(id: string, def: JourneyDefinition): Promise<Journey> {
  return journeyRequest<Journey>(`/api/journeys/${enc(id)}`, { method: 'PUT', body: def });
}

export function publishJourney(id: string): Promise<{ version: number }> {
  return journeyRequest<{ version: number }>(`/api/journeys/${enc(id)}/publish`, { method: 'POST' });
}

/** pause, resume, stop or archive. */
export function journeyAction(id: string, action: 'pause' | 'resume' | 'stop' | 'archive'): Promise<{ status: JourneyStatus }> {
  return request(`/api/journeys/${enc(id)}/${action}`, { method: 'POST' });
}

export function journeyStats(id: string): Promise<JourneyStats> {
  return request<JourneyStats>(`/api/journeys/${enc(id)}/stats`);
}

export async function journeyRuns(id: string, node?: string): Promise<Run[]> {
  const body = await request<Page<Run>>(`/api/journeys/${enc(id)}/runs${query({ node, limit: '50' })}`);
  return body.items ?? [];
}

export function getRun(workflowId: string): Promise<RunDetail> {
  // The workflow id contains slashes, which the route takes as they are.
  return request<RunDetail>(`/api/runs/${workflowId.split('/').map(enc).join('/')}`);
}

// ---- Templates (DESIGN §7) ----------------------------------------------------

export type Channel = 'email' | 'sms' | 'webhook';

export interface TemplateContent {
  subject?: string;
  html?: string;
  text?: string;
  from?: string;
  reply_to?: string;
  body?: string;
  method?: string;
  url?: string;
  headers?: Record<string, string>;
}

export interface Template extends TemplateContent {
  id: string;
  name: string;
  channel: Channel;
  created_at: string;
  updated_at: string;
}

export type TemplateInput = TemplateContent & { name: string; channel: Channel };

export async function listTemplates(): Promise<Template[]> {
  const body = await request<Page<Template>>('/api/templates?limit=200');
  return body.items ?? [];
}

export function getTemplate(id: string): Promise<Template> {
  return request<Template>(`/api/templates/${enc(id)}`);
}

export function createTemplate(t: TemplateInput): Promise<Template> {
  return request<Template>('/api/templates', { method: 'POST', body: t });
}

export function updateTemplate(id: string, t: TemplateInput): Promise<Template> {
  return request<Template>(`/api/templates/${enc(id)}`, { method: 'PUT', body: t });
}

export function deleteTemplate(id: string): Promise<void> {
  return request<void>(`/api/templates/${enc(id)}`, { method: 'DELETE' });
}

export function previewTemplate(id: string, customerId?: string): Promise<{ channel: Channel; customer_id: string; rendered: TemplateContent }> {
  return request(`/api/templates/${enc(id)}/preview`, { method: 'POST', body: customerId ? { customer_id: customerId } : {} });
}

// ---- Segments (DESIGN §6) -----------------------------------------------------

export interface Segment {
  id: string;
  name: string;
  kind: 'dynamic' | 'manual';
  condition: Condition | null;
  created_at: string;
  updated_at: string;
}

export async function listSegments(): Promise<Segment[]> {
  const body = await request<Page<Segment>>('/api/segments?limit=200');
  return body.items ?? [];
}

export function getSegment(id: string): Promise<Segment> {
  return request<Segment>(`/api/segments/${enc(id)}`);
}

export function createSegment(name: string, condition: Condition): Promise<Segment> {
  return request<Segment>('/api/segments', { method: 'POST', body: { name, kind: 'dynamic', condition } });
}

/** Creates a manual segment: no condition, members added by id or by a CSV import. */
export function createManualSegment(name: string): Promise<Segment> {
  return request<Segment>('/api/segments', { method: 'POST', body: { name, kind: 'manual' } });
}

/** One page of a segment's current members; `next` continues the list. */
export async function segmentMembers(id: string, cursor?: string): Promise<{ items: Customer[]; next: string }> {
  const body = await request<Page<Customer>>(`/api/segments/${enc(id)}/members${query({ limit: '50', cursor })}`);
  return { items: body.items ?? [], next: body.next_cursor ?? '' };
}

/** The answer of adding or removing manual members: counts and the ids that match nobody. */
export interface MembersChange {
  added?: number;
  already_members?: number;
  removed?: number;
  not_members?: number;
  unknown_ids: string[] | null;
}

/** Adds customers (customer ids or user ids) to a manual segment. */
export function addSegmentMembers(id: string, customerIds: string[]): Promise<MembersChange> {
  return request<MembersChange>(`/api/segments/${enc(id)}/members`, { method: 'POST', body: { customer_ids: customerIds } });
}

/** Removes customers (customer ids or user ids) from a manual segment. */
export function removeSegmentMembers(id: string, customerIds: string[]): Promise<MembersChange> {
  return request<MembersChange>(`/api/segments/${enc(id)}/members`, { method: 'DELETE', body: { customer_ids: customerIds } });
}

export function updateSegment(id: string, name: string, condition: Condition): Promise<Segment> {
  return request<Segment>(`/api/segments/${enc(id)}`, { method: 'PUT', body: { name, kind: 'dynamic', condition } });
}

export function deleteSegment(id: string): Promise<void> {
  return request<void>(`/api/segments/${enc(id)}`, { method: 'DELETE' });
}

export function previewSegment(condition: Condition): Promise<{ count: number; sample: Customer[] | null }> {
  return request('/api/segments/preview', { method: 'POST', body: { condition, sample_size: 10 } });
}

// ---- Customers --------------------------------------------------------------

export interface Customer {
  id: string;
  external_id: string | null;
  anonymous_ids: string[] | null;
  /** User ids the customer was known by before (an alias or identify changed it). */
  previous_user_ids?: string[] | null;
  email: string | null;
  phone: string | null;
  timezone: string | null;
  attributes: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
}

export interface StoredEvent {
  id: number;
  message_id: string;
  type: string;
  name: string;
  properties: Record<string, unknown> | null;
  occurred_at: string;
  received_at: string;
}

export interface Delivery {
  id: string;
  journey_id: string;
  customer_id: string;
  workflow_id: string;
  node_id: string;
  channel: Channel;
  provider: string;
  template_id: string;
  recipient: string;
  content: TemplateContent | null;
  status: string;
  error?: string;
  created_at: string;
  updated_at: string;
  history?: { status: string; detail?: string; created_at: string }[];
}

/** Something recorded about a subject: who did what, when. */
export interface AuditEntry {
  id: string;
  actor: string;
  action: string;
  subject_type: string;
  subject_id: string;
  detail: Record<string, unknown> | null;
  created_at: string;
}

export interface CustomerProfile extends Customer {
  /** What was recorded about the customer: merges, exports, attribute updates that failed (the newest 100, newest first). */
  audit?: AuditEntry[];
  /** All the entries recorded (audit holds the newest 100). */
  audit_total?: number;
  /** Continues the audit at getCustomerAudit; empty when audit holds them all. */
  audit_next_cursor?: string;
  /** The newest 100 events by when they happened; events_total counts all. */
  events: StoredEvent[];
  events_total: number;
  /** Continues the events at getCustomerEvents; empty when events holds them all. */
  events_next_cursor: string;
  /** The newest 100 runs; runs_more says there are older ones. */
  runs: Run[];
  runs_more?: boolean;
  /** The newest 100 deliveries; deliveries_more says there are older ones. */
  deliveries: Delivery[];
  deliveries_more?: boolean;
  /** The segments the customer is in now. */
  segments?: SegmentMembership[];
}

/** A customer's membership of a segment. */
export interface SegmentMembership {
  segment_id: string;
  name: string;
  kind: 'manual' | 'dynamic';
  entered_at: string;
  left_at: string | null;
}

/** A customer search: q (ids, email, phone) and an attribute's value (both needed), each optional. */
export interface CustomerFilter {
  q: string;
  attr?: string;
  value?: string;
}

/** One page of customers matching the filter (all when empty); `next` continues the list. */
export async function searchCustomers(f: CustomerFilter, cursor?: string): Promise<{ items: Customer[]; next: string }> {
  const params: Record<string, string | undefined> = { q: f.q.trim() };
  const attr = f.attr?.trim();
  if (attr) params[`attr.${attr}`] = f.value;
  const body = await request<Page<Customer>>(`/api/customers${query({ ...params, limit: '50', cursor })}`);
  return { items: body.items ?? [], next: body.next_cursor ?? '' };
}

/** A customer's profile; its attributes and event properties keep large integers exact (exactJSON.ts). */
export function getCustomer(id: string): Promise<CustomerProfile> {
  return request<CustomerProfile>(`/api/customers/${enc(id)}`, { exactIntegers: true });
}

/** The next page of a customer's events, newest first by when they happened. */
export async function getCustomerEvents(id: string, cursor: string): Promise<{ items: StoredEvent[]; next: string }> {
  const body = await request<Page<StoredEvent>>(`/api/customers/${enc(id)}/events${query({ limit: '100', cursor })}`, { exactIntegers: true });
  return { items: body.items ?? [], next: body.next_cursor ?? '' };
}

/** The next page of what was recorded about a customer, newest first (continuing the profile's audit). */
export async function getCustomerAudit(id: string, cursor: string): Promise<{ items: AuditEntry[]; next: string }> {
  const body = await request<Page<AuditEntry>>(`/api/customers/${enc(id)}/audit${query({ order: 'newest', limit: '100', cursor })}`);
  return { items: body.items ?? [], next: body.next_cursor ?? '' };
}

export function eraseCustomer(id: string): Promise<{ erased: boolean; runs_canceled: number }> {
  return request(`/api/customers/${enc(id)}`, { method: 'DELETE' });
}

/** A customer's full JSON export (recorded in their history). */
export function exportCustomer(id: string): Promise<Download> {
  return download(`/api/customers/${enc(id)}/export`, `customer-${id}.json`);
}

// ---- Channel settings (DESIGN §11) --------------------------------------------

/** A channel's cross-journey limit per customer: at most `max` within `period` ("24h", "7d"). */
export interface FrequencyCap {
  max: number;
  period: string;
}

/** Email delivery settings; secret fields come back masked ("****abcd"). */
export interface EmailSettings {
  provider: 'outbox' | 'ses' | 'smtp';
  region?: string;
  access_key_id?: string;
  secret_access_key?: string;
  configuration_set?: string;
  endpoint?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  tls?: 'none' | 'starttls' | 'tls';
  from?: string;
  reply_to?: string;
  frequency_cap?: FrequencyCap;
  rate_per_second?: number;
}

/** SMS delivery settings; auth_token comes back masked. */
export interface SmsSettings {
  provider: 'outbox' | 'twilio';
  account_sid?: string;
  auth_token?: string;
  from?: string;
  messaging_service_sid?: string;
  frequency_cap?: FrequencyCap;
  rate_per_second?: number;
}

/** Webhook settings: hosts exempt from the private-address guard. */
export interface WebhookSettings {
  allow_hosts: string[];
}

export interface ChannelSettings {
  email?: EmailSettings;
  sms?: SmsSettings;
  webhook?: WebhookSettings;
}

export function getChannels(): Promise<ChannelSettings> {
  return request<ChannelSettings>('/api/channels');
}

/** Saves the channels named in `cs`; the others stay as they are. A 400 names the field (`email.region`). */
export function putChannels(cs: ChannelSettings): Promise<ChannelSettings> {
  return request<ChannelSettings>('/api/channels', { method: 'PUT', body: cs });
}

/** The answer of a channel test send. */
export interface ChannelTestResult {
  status: string;
  provider: string;
  provider_id?: string;
  /** The HTTP status a webhook test got. */
  status_code?: number;
}

/** Sends a test message through the channel's saved provider; a 422 carries the provider's refusal. */
export function testChannel(channel: Channel, to: string): Promise<ChannelTestResult> {
  return request<ChannelTestResult>('/api/channels/test', { method: 'POST', body: { channel, to } });
}

// ---- Workspace ----------------------------------------------------------------

export interface QuietHours {
  start: string;
  end: string;
}

export interface Workspace {
  id: string;
  name: string;
  timezone: string;
  quiet_hours: QuietHours | null;
  created_at: string;
}

export function getWorkspace(): Promise<Workspace> {
  return request<Workspace>('/api/workspace');
}

/** Changes the named fields; `quiet_hours: null` clears the default quiet hours. */
export function putWorkspace(w: { name?: string; timezone?: string; quiet_hours?: QuietHours | null }): Promise<Workspace> {
  return request<Workspace>('/api/workspace', { method: 'PUT', body: w });
}

// ---- Team -----------------------------------------------------------------------

export type Role = Session['role'];

export interface Member {
  user_id: string;
  email: string;
  role: Role;
  created_at: string;
}

/**
 * A just-invited member: `password` (a new account's generated password) is
 * shown once and never again; someone with an account already has none.
 */
export interface InvitedMember {
  user_id: string;
  email: string;
  role: Role;
  created_at?: string;
  password?: string;
  existing_account?: boolean;
}

export async function listMembers(): Promise<Member[]> {
  const body = await request<{ items: Member[] | null }>('/api/members');
  return body.items ?? [];
}

export function inviteMember(email: string, role: Role): Promise<InvitedMember> {
  return request<InvitedMember>('/api/members', { method: 'POST', body: { email, role } });
}

export function updateMember(userId: string, role: Role): Promise<Member> {
  return request<Member>(`/api/members/${enc(userId)}`, { method: 'PUT', body: { role } });
}

export function removeMember(userId: string): Promise<void> {
  return request<void>(`/api/members/${enc(userId)}`, { method: 'DELETE' });
}

// ---- Results ----------------------------------------------------------------------

export type SeriesInterval = 'day' | 'hour';

/** One time bucket of a journey's results. */
export interface SeriesPoint {
  t: string;
  entries: number;
  completed: number;
  conversions: number;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  failed: number;
  suppressed: number;
}

export interface JourneySeries {
  interval: SeriesInterval;
  /** The time zone the buckets are aligned to (the workspace's). */
  timezone?: string;
  points: SeriesPoint[] | null;
}

/** The last `points` buckets (oldest first, the current one last, zero-filled). */
export function journeySeries(id: string, interval: SeriesInterval, points: number): Promise<JourneySeries> {
  return request<JourneySeries>(`/api/journeys/${enc(id)}/series${query({ interval, points: String(points) })}`);
}

// ---- Template test send ---------------------------------------------------------

/** Renders the saved template for a customer (a sample when none) and sends it to `to`; answers the delivery. */
export function testTemplate(id: string, to: string, customerId?: string): Promise<Delivery> {
  const body: { to: string; customer_id?: string } = { to };
  if (customerId) body.customer_id = customerId;
  return request<Delivery>(`/api/templates/${enc(id)}/test`, { method: 'POST', body });
}

// ---- CSV imports (docs/import.md) ------------------------------------------------

/** Attribute types an import can give a column. */
export type AttributeType = 'string' | 'number' | 'boolean' | 'time';

/** Which column holds what: user_id or email is the key that matches customers. */
export interface ImportMapping {
  user_id?: string;
  email?: string;
  phone?: string;
  timezone?: string;
  attributes?: { column: string; name: string; type?: AttributeType }[];
}

export type ImportStatus = 'uploaded' | 'running' | 'completed' | 'failed' | 'cancelled';

/** One row the import refused; row 1 is the first after the header. */
export interface ImportRowError {
  row: number;
  column: string;
  message: string;
}

/**
 * Which rows an import run writes: every row (upsert), only rows of customers
 * who did not exist when it started (create_only), or only rows of existing
 * customers (update_only).
 */
export type ImportMode = 'upsert' | 'create_only' | 'update_only';

/** An uploaded file and the progress of its latest run. */
export interface Import {
  id: string;
  file_name: string;
  file_size: number;
  headers: string[];
  status: ImportStatus;
  mapping: ImportMapping | null;
  segment_id: string | null;
  /** Which rows the latest run writes. */
  mode: ImportMode;
  /** The field separator the upload read the file with (null: uploaded before it was kept). */
  separator: string | null;
  run: number;
  total_rows: number;
  processed_rows: number;
  created_rows: number;
  updated_rows: number;
  failed_rows: number;
  /** Rows the run's mode left out. */
  skipped_rows: number;
  error: string;
  /** processed_rows of total_rows, 0–100. */
  percent: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** The answer of an upload: the first rows and a mapping guessed from the headers. */
export interface UploadedImport extends Import {
  preview: string[][] | null;
  suggested_mapping: ImportMapping;
}

/** An import with its first row errors, and its first rows and suggested mapping to start it again with. */
export interface ImportDetail extends Import {
  errors: ImportRowError[] | null;
  preview?: string[][] | null;
  suggested_mapping?: ImportMapping | null;
}

/** Uploads a CSV file (header row first) as the multipart field `file`. */
export function uploadImport(file: Blob, fileName: string): Promise<UploadedImport> {
  const form = new FormData();
  form.append('file', file, fileName);
  return request<UploadedImport>('/api/imports', { method: 'POST', form });
}

export function getImport(id: string): Promise<ImportDetail> {
  return request<ImportDetail>(`/api/imports/${enc(id)}`);
}

/** Row errors after row `cursor` (the last row seen). */
export async function importErrors(id: string, cursor?: string): Promise<{ items: ImportRowError[]; next: string }> {
  const body = await request<Page<ImportRowError>>(`/api/imports/${enc(id)}/errors${query({ limit: '100', cursor })}`);
  return { items: body.items ?? [], next: body.next_cursor ?? '' };
}

/** Imports, newest first, 20 a page. */
export async function listImports(cursor?: string): Promise<{ items: Import[]; next: string }> {
  const body = await request<Page<Import>>(`/api/imports${query({ limit: '20', cursor })}`);
  return { items: body.items ?? [], next: body.next_cursor ?? '' };
}

/** The latest run's failed rows as a CSV file to correct and upload again. */
export function failedRows(id: string): Promise<Download> {
  return download(`/api/imports/${enc(id)}/failed_rows`, `failed-rows-${id}.csv`);
}

/** Starts (or runs again) an import with a mapping, optionally into a manual segment and limited to new or existing customers. */
export function startImport(id: string, mapping: ImportMapping, segmentId?: string, mode: ImportMode = 'upsert'): Promise<Import> {
  const body: { mapping: ImportMapping; segment_id?: string; mode?: ImportMode } = { mapping };
  if (segmentId) body.segment_id = segmentId;
  if (mode !== 'upsert') body.mode = mode;
  return request<Import>(`/api/imports/${enc(id)}/start`, { method: 'POST', body });
}

export function cancelImport(id: string): Promise<Import> {
  return request<Import>(`/api/imports/${enc(id)}/cancel`, { method: 'POST' });
}

// ---- Journey versions and enrollments ----------------------------------------------

/** A published version of a journey. */
export interface JourneyVersion {
  journey_id: string;
  version: number;
  definition: JourneyDefinition;
  published_by: string;
  published_at: string;
}

/** The journey's published versions, newest first. */
export async function journeyVersions(id: string): Promise<JourneyVersion[]> {
  const body = await request<{ items: JourneyVersion[] | null }>(`/api/journeys/${enc(id)}/versions`);
  return body.items ?? [];
}

/** The entry of a segment's existing members into a journey (include_existing). */
export interface Enrollment {
  id: string;
  journey_id: string;
  segment_id: string;
  reason: string;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  total: number;
  enrolled: number;
  skipped: number;
  error?: string;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  /** Average entries per second so far. */
  per_second: number;
  /** Seconds left at that rate; null while unknown or when finished. */
  eta_seconds: number | null;
}

export async function journeyEnrollments(id: string): Promise<Enrollment[]> {
  const body = await request<{ enrollments: Enrollment[] | null }>(`/api/journeys/${enc(id)}/enrollments`);
  return body.enrollments ?? [];
}

/** Cancels a running enrollment: members already entered stay in the journey. */
export function cancelEnrollment(journeyId: string, enrollmentId: string): Promise<{ id: string; status: string }> {
  return request(`/api/journeys/${enc(journeyId)}/enrollments/${enc(enrollmentId)}/cancel`, { method: 'POST' });
}
