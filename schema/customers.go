package schema

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Customer is a person known to a workspace (DESIGN §4).
type Customer struct {
	ID           string          `json:"id"`
	ExternalID   *string         `json:"external_id"`
	AnonymousIDs []string        `json:"anonymous_ids"`
	Email        *string         `json:"email"`
	Phone        *string         `json:"phone"`
	Timezone     *string         `json:"timezone"`
	Attributes   json.RawMessage `json:"attributes"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	// PreviousUserIDs are user ids the customer was known by before an
	// alias gave them a new one or merged them into this customer; they
	// still resolve to this customer.
	PreviousUserIDs []string `json:"previous_user_ids"`
}

// EventInput is a validated customer event to apply.
type EventInput struct {
	WorkspaceID string
	MessageID   string
	Type        string // identify, track, page, screen, group, alias
	Name        string
	UserID      string
	AnonymousID string
	// PreviousID (alias) is an earlier id of UserID's person: a user id
	// Herald knows (external or previous) or else an anonymous id.
	PreviousID string
	Properties json.RawMessage
	Traits     map[string]any
	Context    json.RawMessage
	OccurredAt time.Time
	// AcceptedAt is when the event entered Herald's stream (its Kafka
	// record's append time). An event accepted before an erasure of the
	// person one of its ids names, and applied after it (ingest lag), is
	// not applied: it was that person's data before the erasure. Zero: not
	// judged so (it is applied, and starts a new profile as any event of
	// the person after the erasure does).
	AcceptedAt time.Time
}

// AppliedEvent says what ApplyEvent did.
type AppliedEvent struct {
	CustomerID string
	// Duplicate is true when the message id was applied before; nothing changed.
	Duplicate bool
	// MergedFrom is the customer this event merged into CustomerID: an
	// anonymous profile, or a known one named by an alias's previousId (its
	// events, runs, deliveries and segment memberships now belong to
	// CustomerID, and its ids resolve to CustomerID).
	MergedFrom string
	// Conflict is set on a Duplicate whose type, name or properties differ
	// from the event stored under its message id (or from the first one of
	// the batch): not a delivery again of that event but another event with
	// its message id. It says how.
	Conflict string
	// Erased is set on a Duplicate whose event a GDPR erasure deleted since
	// it was applied (its record delivered again), and on an event accepted
	// before an erasure of the person one of its ids names but not applied
	// until after it (Duplicate is then false: it was never applied). It
	// has no customer (CustomerID is empty) and nothing is to be done with
	// it.
	Erased bool
}

// ApplyEvent resolves (or creates) the event's customer, stores the event
// once per (workspace, message id) and, for identify, merges the traits
// into the profile — all in one transaction. A duplicate changes nothing.
func (s *Store) ApplyEvent(ctx context.Context, ev EventInput) (AppliedEvent, error) {
	out, err := s.ApplyEvents(ctx, []EventInput{ev})
	if err != nil {
		return AppliedEvent{}, err
	}
	return out[0], nil
}

// ApplyEvents applies a batch of events in order, in one transaction, with
// the effect of calling ApplyEvent for each in turn but a handful of round
// trips for the whole batch: identities are locked and looked up together,
// events are written with one COPY and traits folded per customer.
// The result has one entry per input, in order.
//
// A batch is first applied as if none of its message ids were stored
// before (the usual case: redeliveries are rare), which saves a probe of
// the dedupe key per event; when one was, the events' primary key refuses
// the batch, the transaction rolls back and the batch is applied again,
// looking every message id up first.
func (s *Store) ApplyEvents(ctx context.Context, evs []EventInput) ([]AppliedEvent, error) {
	return s.ApplyEventsWaiting(ctx, evs, 0)
}

// ApplyEventsWaiting is ApplyEvents waiting at most lockWait for each lock
// (0: as long as it takes); past it the batch fails with SQLSTATE 55P03
// and nothing of it is applied. Ingest applies the batches of several
// partitions together so, and each on its own when a customer of one is
// held longer: the others need not wait for it.
func (s *Store) ApplyEventsWaiting(ctx context.Context, evs []EventInput, lockWait time.Duration) ([]AppliedEvent, error) {
	out, err := s.applyEvents(ctx, evs, false, lockWait)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_pkey" {
		out, err = s.applyEvents(ctx, evs, true, lockWait)
	}
	return out, err
}

func (s *Store) applyEvents(ctx context.Context, evs []EventInput, lookUpStored bool, lockWait time.Duration) ([]AppliedEvent, error) {
	out := make([]AppliedEvent, len(evs))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if lockWait > 0 {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, max(1, lockWait.Milliseconds()))); err != nil {
				return fmt.Errorf("set lock timeout: %w", err)
			}
		}
		b := &eventBatch{tx: tx, evs: evs, out: out, ids: map[string]string{}, lookUpStored: lookUpStored,
			mergedInto: map[string]string{}}
		return b.apply(ctx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eventBatch is the working state of ApplyEvents.
type eventBatch struct {
	tx  pgx.Tx
	evs []EventInput
	out []AppliedEvent
	// ids maps "u/<ws>/<user id>" (external or previous user ids) and
	// "a/<ws>/<anonymous id>" to customers. Every user id of the batch
	// (userId and an alias's previousId) is looked up, so a "u/" key that
	// is absent is a user id no customer has.
	ids map[string]string
	// first is, per event, the index of the batch's first event with its
	// message id (its own index when it is that first).
	first []int
	// pending are indexes of events to insert; traits are identify traits
	// not yet written, in order.
	pending []int
	traits  []int
	// lookUpStored: look the message ids up before applying anything
	// (otherwise a stored one fails the batch at the primary key).
	lookUpStored bool
	// mergedInto maps the customers the batch merged away to the customer
	// each was merged into.
	mergedInto map[string]string
	// erased are the events whose message id an erasure deleted with its
	// event (judgeErased): a duplicate of no one, or a conflict.
	erased map[int]bool
	// storedType and storedName are, per event stored before (loadStored),
	// the type and name of the event stored under its message id.
	storedType, storedName []string
}

func (b *eventBatch) apply(ctx context.Context) error {
	b.firstOfMessages()
	if err := b.lockIdentities(ctx); err != nil {
		return err
	}
	if err := b.loadExisting(ctx); err != nil {
		return err
	}
	if err := b.createSimpleNewcomers(ctx); err != nil {
		return err
	}
	for i, ev := range b.evs {
		if b.storedBefore(i) {
			// Stored by an earlier batch, and judged against it
			// (loadExisting); its customer may have been merged since.
			b.out[i].CustomerID = b.survivor(b.out[i].CustomerID)
			continue
		}
		if b.erased[i] {
			continue
		}
		if first := b.first[i]; first != i {
			// As a merge delivered again in a later batch: still a merge.
			b.out[i] = AppliedEvent{CustomerID: b.survivor(b.out[first].CustomerID), Duplicate: true, MergedFrom: b.out[first].MergedFrom}
			switch {
			case !sameEvent(b.evs[first], ev):
				b.out[i].Conflict = conflict(ev.MessageID, b.evs[first].Type, b.evs[first].Name, false)
			case b.customerOf(ev) != b.out[i].CustomerID:
				b.out[i].Conflict = conflict(ev.MessageID, b.evs[first].Type, b.evs[first].Name, true)
			}
			continue
		}
		anon := ev.AnonymousID
		if ev.Type == "alias" {
			anon = ev.PreviousID
		}
		id, ok := b.cached(ev)
		if !ok {
			if (ev.UserID != "" && anon != "") || identifyEmail(ev) != "" {
				// A merge may move rows, a profile may be found by the email
				// an earlier identify gave it: write what is pending first.
				if err := b.flush(ctx); err != nil {
					return err
				}
			}
			res, err := resolveCustomer(ctx, b.tx, ev)
			if err != nil {
				return err
			}
			id = res.ID
			b.remember(ev.WorkspaceID, ev.UserID, res, id)
			b.out[i].MergedFrom = res.MergedFrom
			if res.MergedFrom != "" {
				b.mergedInto[res.MergedFrom] = id
			}
		}
		b.out[i].CustomerID = id
		b.pending = append(b.pending, i)
		if ev.Type == "identify" && len(ev.Traits) > 0 {
			b.traits = append(b.traits, i)
		}
	}
	return b.flush(ctx)
}

// firstOfMessages fills b.first.
func (b *eventBatch) firstOfMessages() {
	b.first = make([]int, len(b.evs))
	at := make(map[string]int, len(b.evs))
	for i, ev := range b.evs {
		key := ev.WorkspaceID + "/" + ev.MessageID
		first, ok := at[key]
		if !ok {
			first, at[key] = i, i
		}
		b.first[i] = first
	}
}

// lockIdentities serialises work on the same identities across partitions
// and processes; keys are taken in one order so batches cannot deadlock.
func (b *eventBatch) lockIdentities(ctx context.Context) error {
	set := map[string]bool{}
	for _, ev := range b.evs {
		for _, id := range ev.ids() {
			if id != "" {
				set[ev.WorkspaceID+"/"+id] = true
			}
		}
		if email := identifyEmail(ev); email != "" {
			set[emailLock(ev.WorkspaceID, email)] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if _, err := b.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k`, keys); err != nil {
		return fmt.Errorf("lock identities: %w", err)
	}
	return nil
}

// loadExisting marks events stored before as duplicates (when the batch
// looks them up) and looks up the customers of every user and anonymous id
// in the batch. A user id is looked up as an external id, then as a
// previous user id; an alias's previousId is looked up both as a user id
// and as an anonymous id.
func (b *eventBatch) loadExisting(ctx context.Context) error {
	if err := b.loadStored(ctx); err != nil {
		return err
	}
	var uws, users, aws, anons []string
	asked := map[string]bool{}
	ask := func(kind byte, ws, id string) {
		key := string(kind) + "/" + ws + "/" + id
		if id == "" || asked[key] {
			return
		}
		asked[key] = true
		if kind == 'u' {
			uws, users = append(uws, ws), append(users, id)
		} else {
			aws, anons = append(aws, ws), append(anons, id)
		}
	}
	for _, ev := range b.evs {
		ask('u', ev.WorkspaceID, ev.UserID)
		if ev.Type == "alias" {
			ask('u', ev.WorkspaceID, ev.PreviousID)
		}
		ask('a', ev.WorkspaceID, ev.AnonymousID)
		ask('a', ev.WorkspaceID, ev.PreviousID)
	}
	// The message ids an erasure deleted (as digests): hashed and probed
	// only when there are any (the gate on the whole table runs once); so
	// are the batch's ids against the ids erasures took ("x/": when, for
	// judgeAcceptedBeforeErasure).
	var ews, msgs []string
	var msgOf []int
	for i, ev := range b.evs {
		if !b.storedBefore(i) { // each judged on its own, a batch's repeats too
			ews, msgs, msgOf = append(ews, ev.WorkspaceID), append(msgs, ev.MessageID), append(msgOf, i)
		}
	}
	// Each id is probed through its unique index (LATERAL … LIMIT 1),
	// whatever plan Postgres caches for the statement: with the join form a
	// generic plan hashed whole tables for every batch. A user id is a
	// customer's external id or, failing that, a previous user id, or an
	// anonymous id an alias left (customerOfUser's order); each probe runs
	// only when the ones before it find nothing.
	rows, err := b.tx.Query(ctx, `
		SELECT k, id FROM (
			SELECT 'u/' || u.ws || '/' || u.id AS k, coalesce(
				(SELECT c.id FROM customers c WHERE c.workspace_id = u.ws AND c.external_id = u.id LIMIT 1),
				(SELECT r.customer_id FROM customer_user_aliases r WHERE r.workspace_id = u.ws AND r.user_id = u.id LIMIT 1),
				(`+ownerOfAliasedID("u.ws", "u.id")+` LIMIT 1)) AS id
			FROM unnest($1::text[], $2::text[]) AS u(ws, id) OFFSET 0) u -- OFFSET 0: each probe once, not again for the WHERE
		WHERE id IS NOT NULL
		UNION ALL
		SELECT 'a/' || n.ws || '/' || n.id, a.customer_id FROM unnest($3::text[], $4::text[]) AS n(ws, id)
		CROSS JOIN LATERAL (SELECT a.customer_id FROM customer_anonymous_ids a WHERE a.workspace_id = n.ws AND a.anonymous_id = n.id LIMIT 1) a
		UNION ALL
		SELECT 'e/' || m.i, encode(x.content_digest, 'hex') FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS m(ws, msg, i)
		CROSS JOIN LATERAL (SELECT x.content_digest FROM erased_messages x
			WHERE x.workspace_id = m.ws AND x.message_digest = sha256(convert_to(m.msg, 'UTF8'))
			AND x.erased_at > now() - '`+erasedMessagesKept+`'::interval) x
		WHERE (SELECT EXISTS (SELECT 1 FROM erased_messages WHERE erased_at > now() - '`+erasedMessagesKept+`'::interval))
		UNION ALL
		SELECT 'x/' || p.ws || '/' || p.id, floor(extract(epoch FROM x.erased_at) * 1000000)::bigint::text
		FROM (SELECT * FROM unnest($1::text[], $2::text[]) UNION SELECT * FROM unnest($3::text[], $4::text[])) AS p(ws, id)
		CROSS JOIN LATERAL (SELECT x.erased_at FROM erased_identities x
			WHERE x.workspace_id = p.ws AND x.identity_digest = sha256(convert_to(p.id, 'UTF8'))
			AND x.erased_at > now() - '`+erasedMessagesKept+`'::interval) x
		WHERE (SELECT EXISTS (SELECT 1 FROM erased_identities WHERE erased_at > now() - '`+erasedMessagesKept+`'::interval))`,
		uws, users, aws, anons, ews, msgs)
	if err != nil {
		return fmt.Errorf("find customers: %w", err)
	}
	defer rows.Close()
	erased := map[int]string{}          // event → the content digest of the erased event of its message id
	erasedIDs := map[string]time.Time{} // "<ws>/<id>" → when the person it named was erased
	for rows.Next() {
		var key, id string
		if err := rows.Scan(&key, &id); err != nil {
			return fmt.Errorf("find customers: %w", err)
		}
		if k, ok := strings.CutPrefix(key, "x/"); ok {
			us, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				return fmt.Errorf("find erased ids: bad time %q", id)
			}
			erasedIDs[k] = time.UnixMicro(us)
			continue
		}
		if n, ok := strings.CutPrefix(key, "e/"); ok {
			at, err := strconv.Atoi(n)
			if err != nil || at < 1 || at > len(msgOf) {
				return fmt.Errorf("find erased events: bad position %q", n)
			}
			erased[msgOf[at-1]] = id
			continue
		}
		b.ids[key] = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find customers: %w", err)
	}
	rows.Close()
	if err := b.judgeErased(ctx, erased); err != nil {
		return err
	}
	b.judgeAcceptedBeforeErasure(erasedIDs)
	return b.checkStoredCustomers(ctx)
}

// judgeAcceptedBeforeErasure marks the events accepted before an erasure of
// the person one of their ids names (erasedIDs: "<ws>/<id>" → the
// erasure's time): they were that person's data when the erasure came, and
// are not applied after it. A later event of the same ids starts a new
// profile. The repeats of a marked event's message id in the batch are
// marked with it.
func (b *eventBatch) judgeAcceptedBeforeErasure(erasedIDs map[string]time.Time) {
	if len(erasedIDs) == 0 {
		return
	}
	if b.erased == nil {
		b.erased = map[int]bool{}
	}
	for i, ev := range b.evs {
		if ev.AcceptedAt.IsZero() || b.storedBefore(i) || b.erased[i] {
			continue
		}
		for _, id := range ev.ids() {
			if at, ok := erasedIDs[ev.WorkspaceID+"/"+id]; ok && id != "" && ev.AcceptedAt.Before(at) {
				b.out[i] = AppliedEvent{Erased: true}
				b.erased[i] = true
				break
			}
		}
	}
	for i := range b.evs {
		if first := b.first[i]; first != i && b.erased[first] && !b.out[first].Duplicate && !b.erased[i] {
			b.out[i] = AppliedEvent{Erased: true}
			b.erased[i] = true
		}
	}
}

// ids are the ids an event names: its user id, anonymous id and an alias's
// previous id ("" where it has none).
func (ev EventInput) ids() [3]string {
	return [3]string{ev.UserID, ev.AnonymousID, ev.PreviousID}
}

// judgeErased marks the events whose message id an erasure deleted with
// its event: the same event of the erased person (one of its ids is one the
// erased customer went by) delivered again is a duplicate of no one now;
// another event with the id — its type, name or properties differ, or it is
// another person's — is a conflict, as it was while the erased one was
// stored.
func (b *eventBatch) judgeErased(ctx context.Context, erased map[int]string) error {
	if len(erased) == 0 {
		return nil
	}
	var at, idAt []int
	var types, names, props, digests, idWS []string
	var idDigests [][]byte
	for i, d := range erased {
		ev := b.evs[i]
		at, types, names = append(at, i), append(types, ev.Type), append(names, ev.Name)
		props, digests = append(props, string(jsonObjectOrEmpty(ev.Properties))), append(digests, d)
		for _, id := range ev.ids() {
			if id != "" {
				d := sha256.Sum256([]byte(id))
				idAt, idWS, idDigests = append(idAt, i), append(idWS, ev.WorkspaceID), append(idDigests, d[:])
			}
		}
	}
	rows, err := b.tx.Query(ctx, `
		SELECT h.i FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[]) AS h(i, type, name, props, d)
		WHERE encode(`+erasedContentDigest("h.type", "h.name", "h.props::jsonb")+`, 'hex') <> h.d
		UNION
		SELECT h.i FROM unnest($1::int[]) AS h(i)
		WHERE NOT EXISTS (SELECT 1 FROM unnest($6::int[], $7::text[], $8::bytea[]) AS p(i, ws, d)
			JOIN erased_identities x ON x.workspace_id = p.ws AND x.identity_digest = p.d
				AND x.erased_at > now() - '`+erasedMessagesKept+`'::interval
			WHERE p.i = h.i)`,
		at, types, names, props, digests, idAt, idWS, idDigests)
	if err != nil {
		return fmt.Errorf("compare erased events: %w", err)
	}
	differ, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("compare erased events: %w", err)
	}
	b.erased = make(map[int]bool, len(erased))
	for i := range erased {
		b.out[i] = AppliedEvent{Duplicate: true, Erased: true}
		b.erased[i] = true
	}
	for _, i := range differ {
		b.out[i] = AppliedEvent{Duplicate: true, Conflict: fmt.Sprintf("messageId %q was used by an event erased with its customer; this one's type, name, properties or ids differ, so it is not applied: give each event its own messageId", b.evs[i].MessageID)}
	}
	return nil
}

// storedBefore says whether event i's message id was stored by an earlier
// batch (loadStored).
func (b *eventBatch) storedBefore(i int) bool {
	return b.lookUpStored && b.storedType[i] != ""
}

// customerOf is the customer the batch knows ev's ids to name, as
// resolveCustomer finds it: its user id's, else its anonymous id's (an
// alias's previousId); "" when no customer has them yet.
func (b *eventBatch) customerOf(ev EventInput) string {
	if ev.UserID != "" {
		return b.ids["u/"+ev.WorkspaceID+"/"+ev.UserID]
	}
	anon := ev.AnonymousID
	if ev.Type == "alias" {
		anon = ev.PreviousID
	}
	return b.ids["a/"+ev.WorkspaceID+"/"+anon]
}

// survivor is the customer id names now that the batch's merges are done:
// the one it was merged into, else id itself.
func (b *eventBatch) survivor(id string) string {
	for b.mergedInto[id] != "" {
		id = b.mergedInto[id]
	}
	return id
}

// checkStoredCustomers makes a conflict of each event stored before
// (loadStored) whose ids name another customer than the stored event's: a
// messageId reused for someone else, not the same event delivered again.
// An event delivered again after its customer was merged into another one
// (identify, alias) is still a duplicate: its ids and the stored event
// have both moved to the survivor. The two are compared again through
// customer_merges when they differ, as a merge committed by another
// partition between the two looks may have moved one and not yet the
// other.
func (b *eventBatch) checkStoredCustomers(ctx context.Context) error {
	var idx []int
	var wss, stored, current []string
	for i, ev := range b.evs {
		a := b.out[i]
		if !b.storedBefore(i) || a.Conflict != "" {
			continue
		}
		cur := b.customerOf(ev)
		switch {
		case cur == a.CustomerID:
		case cur == "":
			b.out[i].Conflict = conflict(ev.MessageID, b.storedType[i], b.storedName[i], true)
		default:
			idx, wss, stored, current = append(idx, i), append(wss, ev.WorkspaceID), append(stored, a.CustomerID), append(current, cur)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	rows, err := b.tx.Query(ctx, `
		SELECT coalesce((SELECT m.into_id FROM customer_merges m WHERE m.workspace_id = n.ws AND m.from_id = n.stored), n.stored) =
			coalesce((SELECT m.into_id FROM customer_merges m WHERE m.workspace_id = n.ws AND m.from_id = n.cur), n.cur)
		FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS n(ws, stored, cur, i) ORDER BY n.i`, wss, stored, current)
	if err != nil {
		return fmt.Errorf("compare customers of duplicate events: %w", err)
	}
	same, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		return fmt.Errorf("compare customers of duplicate events: %w", err)
	}
	for j, i := range idx {
		if !same[j] {
			b.out[i].Conflict = conflict(b.evs[i].MessageID, b.storedType[i], b.storedName[i], true)
		}
	}
	return nil
}

// loadStored marks the events whose message ids were stored before as
// duplicates (when the batch looks them up).
func (b *eventBatch) loadStored(ctx context.Context) error {
	if !b.lookUpStored {
		return nil
	}
	n := len(b.evs)
	b.storedType, b.storedName = make([]string, n), make([]string, n)
	wss, msgs, types, names, props := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, ev := range b.evs {
		wss[i], msgs[i], types[i], names[i] = ev.WorkspaceID, ev.MessageID, ev.Type, ev.Name
		props[i] = string(jsonObjectOrEmpty(ev.Properties))
	}
	// Each event against the one stored under its message id: the same
	// event delivered again, or another one that reused the id.
	rows, err := b.tx.Query(ctx, `
		SELECT m.i, e.customer_id, e.type, e.name, e.type = m.type AND e.name = m.name AND e.properties = m.props::jsonb,
			coalesce((SELECT cm.from_id FROM customer_merges cm
				WHERE cm.workspace_id = m.ws AND cm.message_id = m.msg AND cm.message_id <> '' LIMIT 1), '')
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS m(ws, msg, type, name, props, i)
		CROSS JOIN LATERAL (SELECT e.customer_id, e.type, e.name, e.properties FROM events e
			WHERE e.workspace_id = m.ws AND e.message_id = m.msg LIMIT 1) e`, wss, msgs, types, names, props)
	if err != nil {
		return fmt.Errorf("check duplicate events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var typ, name string
		var same bool
		a := AppliedEvent{Duplicate: true}
		// A merge delivered again tells the runs of the merge again (its
		// first routing may not have).
		if err := rows.Scan(&i, &a.CustomerID, &typ, &name, &same, &a.MergedFrom); err != nil {
			return fmt.Errorf("check duplicate events: %w", err)
		}
		if !same {
			a.Conflict = conflict(b.evs[i-1].MessageID, typ, name, false)
		}
		b.out[i-1] = a
		b.storedType[i-1], b.storedName[i-1] = typ, name
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check duplicate events: %w", err)
	}
	return nil
}

// sameEvent says whether b is a, delivered again: the same type, name and
// properties (as JSON values; times may differ, as receivedAt moves the
// time of a retry).
func sameEvent(a, b EventInput) bool {
	if a.Type != b.Type || a.Name != b.Name {
		return false
	}
	pa, pb := jsonObjectOrEmpty(a.Properties), jsonObjectOrEmpty(b.Properties)
	if bytes.Equal(pa, pb) {
		return true
	}
	var va, vb any
	return json.Unmarshal(pa, &va) == nil && json.Unmarshal(pb, &vb) == nil && reflect.DeepEqual(va, vb)
}

// conflict explains a reused message id: the event stored under it was of
// type typ, named name, and of another customer than this one's ids name
// (otherCustomer) or else of another type, name or properties.
func conflict(messageID, typ, name string, otherCustomer bool) string {
	stored := typ
	if name != "" {
		stored += " " + strconv.Quote(name)
	}
	if otherCustomer {
		return fmt.Sprintf("messageId %q was already used for another customer's event (%s); this one's userId or anonymousId name a different customer, so it is not applied: give each event its own messageId", messageID, stored)
	}
	return fmt.Sprintf("messageId %q is taken by another event (%s); this one's type, name or properties differ, so it is not applied: give each event its own messageId", messageID, stored)
}

// createSimpleNewcomers creates, with two statements, the customers of
// identities the batch sees for the first time when no event could merge
// them: a user id that only comes alone (no anonymous id, no alias, never
// an alias's previousId), an anonymous id that only comes alone. That is
// what resolveCustomer would do for each at its first event; identities
// that may merge are left to it, in order (whether an alias's previousId
// is a user id depends on what came before it).
func (b *eventBatch) createSimpleNewcomers(ctx context.Context) error {
	byEmail, wanted, err := b.profilesKnownByEmail(ctx)
	if err != nil {
		return err
	}
	mixed := map[string]bool{}
	// adopting: a user id the batch does not know comes with an anonymous
	// id, and may take the oldest profile of the address its visitor gave
	// (resolveIdentity).
	adopting := false
	for _, ev := range b.evs {
		anon := ev.AnonymousID
		if ev.Type == "alias" {
			anon = ev.PreviousID
		}
		if ev.UserID != "" && anon != "" {
			mixed["u/"+ev.WorkspaceID+"/"+ev.UserID] = true
			mixed["a/"+ev.WorkspaceID+"/"+anon] = true
			if _, known := b.ids["u/"+ev.WorkspaceID+"/"+ev.UserID]; !known {
				adopting = true
			}
		}
		if ev.Type == "alias" && ev.PreviousID != "" {
			mixed["a/"+ev.WorkspaceID+"/"+ev.PreviousID] = true
			mixed["u/"+ev.WorkspaceID+"/"+ev.PreviousID] = true
		}
		if e := identifyEmail(ev); e != "" && byEmail[ev.WorkspaceID+"/"+e] {
			mixed["u/"+ev.WorkspaceID+"/"+ev.UserID] = true // a new user id may take a profile known by email
		}
	}
	for _, ev := range b.evs {
		if e := visitorEmail(ev); e != "" && (adopting || wanted[ev.WorkspaceID+"/"+e]) {
			// Visitors giving an address a new user id may take: made in
			// order, so the first of them is the oldest.
			mixed["a/"+ev.WorkspaceID+"/"+ev.AnonymousID] = true
		}
	}
	var ids, wss, users, anons []string
	seen := map[string]bool{}
	for i, ev := range b.evs {
		if b.out[i].Duplicate || b.erased[i] || b.first[i] != i {
			continue // stored before, erased, or again in this batch: it makes no customer
		}
		key, user, anon := "", ev.UserID, ""
		switch {
		case ev.UserID != "" && ev.AnonymousID == "" && ev.Type != "alias":
			key = "u/" + ev.WorkspaceID + "/" + ev.UserID
		case ev.UserID == "" && ev.AnonymousID != "" && ev.Type != "alias":
			key, anon = "a/"+ev.WorkspaceID+"/"+ev.AnonymousID, ev.AnonymousID
		default:
			continue
		}
		if _, known := b.ids[key]; known || mixed[key] || seen[key] {
			continue
		}
		seen[key] = true
		id := NewID("cus")
		ids, wss, users, anons = append(ids, id), append(wss, ev.WorkspaceID), append(users, user), append(anons, anon)
		b.ids[key] = id
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := b.tx.Exec(ctx, `
		INSERT INTO customers (id, workspace_id, external_id)
		SELECT id, ws, nullif(u, '') FROM unnest($1::text[], $2::text[], $3::text[]) AS n(id, ws, u)`, ids, wss, users); err != nil {
		return fmt.Errorf("insert customers: %w", err)
	}
	if _, err := b.tx.Exec(ctx, `
		INSERT INTO customer_anonymous_ids (workspace_id, anonymous_id, customer_id)
		SELECT ws, a, id FROM unnest($1::text[], $2::text[], $3::text[]) AS n(id, ws, a) WHERE a <> ''`, ids, wss, anons); err != nil {
		return fmt.Errorf("attach anonymous ids: %w", err)
	}
	return nil
}

// profilesKnownByEmail are the addresses ("<workspace>/<email>") that
// identifies of user ids the batch does not know give (wanted) and, of
// those, the ones a profile without a user id may have when they come
// (found): one stored so, or one an identify of the batch without a user id
// gives its address. Their user ids are resolved in order
// (resolveIdentity); the others are plain newcomers. Batches without such
// identifies ask nothing.
func (b *eventBatch) profilesKnownByEmail(ctx context.Context) (found, wanted map[string]bool, err error) {
	found, wanted = map[string]bool{}, map[string]bool{}
	var wss, emails []string
	for _, ev := range b.evs {
		e := identifyEmail(ev)
		if e == "" {
			continue
		}
		if _, known := b.ids["u/"+ev.WorkspaceID+"/"+ev.UserID]; !known && !wanted[ev.WorkspaceID+"/"+e] {
			wanted[ev.WorkspaceID+"/"+e] = true
			wss, emails = append(wss, ev.WorkspaceID), append(emails, e)
		}
	}
	if len(emails) == 0 {
		return found, wanted, nil
	}
	for _, ev := range b.evs {
		if e := visitorEmail(ev); e != "" && wanted[ev.WorkspaceID+"/"+e] {
			found[ev.WorkspaceID+"/"+e] = true
		}
	}
	rows, err := b.tx.Query(ctx, `
		SELECT n.ws || '/' || n.e FROM unnest($1::text[], $2::text[]) AS n(ws, e)
		WHERE EXISTS (SELECT FROM customers c
			WHERE c.workspace_id = n.ws AND c.email IS NOT NULL AND lower(c.email) = lower(n.e) AND c.external_id IS NULL)`, wss, emails)
	if err != nil {
		return nil, nil, fmt.Errorf("find profiles by email: %w", err)
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, fmt.Errorf("find profiles by email: %w", err)
	}
	for _, k := range known {
		found[k] = true
	}
	return found, wanted, nil
}

// visitorEmail is the email address (in lower case) an identify without a
// user id gives its anonymous profile, or "".
func visitorEmail(ev EventInput) string {
	if ev.UserID != "" || ev.AnonymousID == "" {
		return ""
	}
	return traitEmail(ev)
}

// cached answers resolveCustomer from what the batch knows when that needs
// no write: the identity exists and nothing is to be attached, renamed or
// merged.
func (b *eventBatch) cached(ev EventInput) (string, bool) {
	ws, userID, anonID := ev.WorkspaceID, ev.UserID, ev.AnonymousID
	if ev.Type == "alias" {
		if _, ok := b.ids["u/"+ws+"/"+ev.PreviousID]; ok && userID != "" {
			// Between two user ids of one customer, the alias may make the
			// earlier id current again (aliasUser): written, not cached.
			return "", false
		}
		anonID = ev.PreviousID
	}
	user, hasUser := b.ids["u/"+ws+"/"+userID]
	anon, hasAnon := b.ids["a/"+ws+"/"+anonID]
	switch {
	case userID != "" && anonID != "":
		return user, hasUser && hasAnon && user == anon
	case userID != "":
		return user, hasUser
	case anonID != "":
		return anon, hasAnon
	}
	return "", false
}

// remember records what resolveCustomer did to the identities: the user id
// (and an alias's previous user id) is the customer's; every id of a merged
// customer is the survivor's; an anonymous id seen before kept its owner
// unless it was merged, a new one was attached to the customer.
func (b *eventBatch) remember(ws, userID string, res resolution, id string) {
	if res.MergedFrom != "" {
		for k, owner := range b.ids {
			if owner == res.MergedFrom {
				b.ids[k] = id
			}
		}
	}
	if userID != "" {
		b.ids["u/"+ws+"/"+userID] = id
	}
	if res.PreviousUser != "" {
		b.ids["u/"+ws+"/"+res.PreviousUser] = id
	}
	if _, ok := b.ids["a/"+ws+"/"+res.Anonymous]; res.Anonymous != "" && !ok {
		b.ids["a/"+ws+"/"+res.Anonymous] = id
	}
}

// flush inserts the pending events with one statement and writes the
// pending traits, folded per customer in event order.
func (b *eventBatch) flush(ctx context.Context) error {
	if len(b.pending) > 0 {
		// COPY, not INSERT … SELECT FROM unnest(…): no arrays to decode and
		// the rows go to the heap in multi-row writes (one WAL record per
		// page), ~7 µs of Postgres CPU less per event.
		rows := make([][]any, len(b.pending))
		for j, i := range b.pending {
			ev := b.evs[i]
			rows[j] = []any{ev.WorkspaceID, ev.MessageID, b.out[i].CustomerID, ev.Type, ev.Name,
				jsonObjectOrEmpty(ev.Properties), jsonObjectOrEmpty(ev.Context), ev.OccurredAt}
		}
		if _, err := b.tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		b.pending = b.pending[:0]
	}
	if len(b.traits) > 0 {
		order := []string{}
		folded := map[string]map[string]any{}
		for _, i := range b.traits {
			key := b.evs[i].WorkspaceID + "/" + b.out[i].CustomerID
			if folded[key] == nil {
				folded[key] = map[string]any{}
				order = append(order, key)
			}
			maps.Copy(folded[key], b.evs[i].Traits)
		}
		for _, key := range order {
			ws, id, _ := strings.Cut(key, "/")
			if err := mergeTraits(ctx, b.tx, ws, id, folded[key]); err != nil {
				return err
			}
		}
		b.traits = b.traits[:0]
	}
	return nil
}

// eventColumns are the columns ApplyEvents writes to events.
var eventColumns = []string{"workspace_id", "message_id", "customer_id", "type", "name", "properties", "context", "occurred_at"}

func jsonObjectOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return emptyObject
	}
	return raw
}

var emptyObject = json.RawMessage("{}")

// resolution says what resolveCustomer did for an event.
type resolution struct {
	// ID is the event's customer.
	ID string
	// MergedFrom is the customer merged into ID, if any.
	MergedFrom string
	// Anonymous is the anonymous id the event was resolved with ("" when
	// none, or when an alias's previousId was a user id).
	Anonymous string
	// PreviousUser is an alias's previousId when it was a user id.
	PreviousUser string
}

// resolveCustomer finds, creates, renames or merges the customers of an
// event's ids (DESIGN §4). An alias whose previousId is a user id Herald
// knows (a customer's external id or previous user id) joins two user ids;
// any other previousId is an anonymous id, as in identify.
func resolveCustomer(ctx context.Context, tx pgx.Tx, ev EventInput) (resolution, error) {
	ws, anon := ev.WorkspaceID, ev.AnonymousID
	if ev.Type == "alias" {
		anon = ev.PreviousID
		if ev.UserID != "" && ev.PreviousID != "" {
			prev, err := customerByUserID(ctx, tx, ws, ev.PreviousID)
			if err != nil {
				return resolution{}, err
			}
			if prev != "" {
				res, err := aliasUser(ctx, tx, ws, ev.UserID, prev, ev.MessageID)
				res.PreviousUser = ev.PreviousID
				return res, err
			}
		}
	}
	id, merged, err := resolveIdentity(ctx, tx, ws, ev.UserID, anon, identifyEmail(ev), namesEmail(ev), ev.MessageID, ev.Type == "alias")
	return resolution{ID: id, MergedFrom: merged, Anonymous: anon}, err
}

// customerByUserID returns the customer whose external id or previous user
// id is userID, or "" when there is none.
func customerByUserID(ctx context.Context, q queryer, ws, userID string) (string, error) {
	return firstCustomerID(ctx, q, customerOfUserID, ws, userID)
}

// customerWithUserID is the customers of workspace $1 whose external id or
// previous user id is $2, in that order.
const customerWithUserID = `
	SELECT id FROM customers WHERE workspace_id = $1 AND external_id = $2
	UNION ALL
	SELECT customer_id FROM customer_user_aliases WHERE workspace_id = $1 AND user_id = $2`

// customerOfUserID is the customer of workspace $1 whose external id or
// previous user id is $2: no row when the user id is new.
const customerOfUserID = customerWithUserID + ` LIMIT 1`

// customerOfUser returns the customer an event's user id names: the one
// with it as external or previous user id (customerByUserID), failing
// that the customer with a user id that has it as an anonymous id an alias
// left (an alias whose previousId was not a user id yet keeps it so). The aliases
// of a chain (u1 → u2, u2 → u3) are keyed by their userIds, so they sit on
// different partitions and may be applied out of order: alias(u2 → u3)
// first keeps u2 as an anonymous id of u3's customer, and u2 still names
// that person.
func customerOfUser(ctx context.Context, q queryer, ws, userID string) (string, error) {
	return firstCustomerID(ctx, q, customerOfUserOrAliasLeft, ws, userID)
}

var customerOfUserOrAliasLeft = customerWithUserID + ` UNION ALL ` + ownerOfAliasedID("$1", "$2") + ` LIMIT 1`

// firstCustomerID runs query (of workspace $1 and user id $2), which gives
// at most one customer id, and returns it, or "" when it gives none.
func firstCustomerID(ctx context.Context, q queryer, query, ws, userID string) (string, error) {
	var id string
	err := q.QueryRow(ctx, query, ws, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find customer by user id: %w", err)
	}
	return id, nil
}

// ownerOfAliasedID is a query (SQL) of the customer of workspace ws with a
// user id that has the SQL expression id as an anonymous id an alias left
// (from_alias): not a device's anonymous id an identify attached.
func ownerOfAliasedID(ws, id string) string {
	return `SELECT a.customer_id FROM customer_anonymous_ids a JOIN customers c ON c.id = a.customer_id
		WHERE a.workspace_id = ` + ws + ` AND a.anonymous_id = ` + id + ` AND a.from_alias AND c.external_id IS NOT NULL`
}

// aliasUser joins userID to the known customer prev (named by the alias's
// previousId, a user id): when userID has no customer yet, prev takes it
// as its external id and keeps its old one as a previous user id; when
// userID is another customer's, prev merges into that one.
func aliasUser(ctx context.Context, tx pgx.Tx, ws, userID, prev, messageID string) (resolution, error) {
	known, err := customerOfUser(ctx, tx, ws, userID)
	if err != nil {
		return resolution{}, err
	}
	if known != "" && known != prev {
		return resolution{ID: known, MergedFrom: prev}, mergeCustomers(ctx, tx, ws, prev, known, messageID)
	}
	// userID is new, or already prev's as a previous user id (an alias back
	// to an earlier id): either way it becomes prev's current one.
	if err := giveUserID(ctx, tx, ws, prev, userID); err != nil {
		return resolution{}, err
	}
	return resolution{ID: prev}, nil
}

// giveUserID makes userID the customer's current user id (external_id);
// the one it had is kept as a previous user id and the change audited.
// The statements see the customer as it was.
func giveUserID(ctx context.Context, tx pgx.Tx, ws, customerID, userID string) error {
	_, err := tx.Exec(ctx, `
		WITH old AS (
			SELECT external_id FROM customers
			WHERE workspace_id = $1 AND id = $2 AND external_id IS NOT NULL AND external_id <> $3
		), dropped AS (
			DELETE FROM customer_user_aliases WHERE workspace_id = $1 AND user_id = $3 AND customer_id = $2
		), kept AS (
			INSERT INTO customer_user_aliases (workspace_id, user_id, customer_id) SELECT $1, external_id, $2 FROM old
		), audited AS (
			INSERT INTO audit_log (workspace_id, actor, action, subject_type, subject_id, detail)
			SELECT $1, 'ingest', 'change_user_id', 'customer', $2,
				jsonb_build_object('previous_user_id', external_id, 'user_id', $3::text) FROM old
		)
		UPDATE customers SET external_id = $3, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND external_id IS DISTINCT FROM $3`, ws, customerID, userID)
	if err != nil {
		return fmt.Errorf("give customer %s user id %s: %w", customerID, userID, err)
	}
	return nil
}

// identifyEmail is the email address an identify with a user id gives (in
// lower case), or "".
func identifyEmail(ev EventInput) string {
	if ev.UserID == "" {
		return ""
	}
	return traitEmail(ev)
}

// namesEmail says an identify's traits name an address, given or not
// (null, "", one kept as an attribute): such an event takes no profile by
// its visitor's address, which the one it names replaces.
func namesEmail(ev EventInput) bool {
	_, named := ev.Traits["email"]
	return named && ev.Type == "identify"
}

// traitEmail is the email address an identify's traits give its profile,
// in lower case, or "" (none, or one mergeTraits keeps as an attribute).
func traitEmail(ev EventInput) string {
	if ev.Type != "identify" {
		return ""
	}
	email, _ := ev.Traits["email"].(string)
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) > MaxEmailLength && utf8.RuneCountInString(email) > MaxEmailLength {
		return ""
	}
	return email
}

// emailLock is the advisory lock key of an address in a workspace: what
// an import by email, an identify or an import row by user id that may
// give a profile known by its address a user id, and the erasure of such
// a profile take.
func emailLock(workspaceID, email string) string {
	return workspaceID + "/email:" + strings.ToLower(strings.TrimSpace(email))
}

// ErrIdentityMoved: a profile an event names was merged away or erased by
// another transaction while this one resolved it. Transient: apply the
// events again.
var ErrIdentityMoved = errors.New("a profile the event names was merged or erased meanwhile; apply the events again")

// ErrAddressBusy: an event would give a user id the oldest profile of its
// visitor's address while another transaction holds that address (an
// identify, import or erasure of it). Transient: apply the events again.
var ErrAddressBusy = errors.New("the address of the visitor's profile is being changed by another transaction; apply the events again")

// resolveIdentity resolves a user id and an anonymous id: identify with
// both attaches the anonymous id or merges its anonymous profile. A user id
// seen for the first time, given with an email address (email, ""
// otherwise) or, when the event names none (addressNamed false), with an
// anonymous id whose profile has one, takes the
// oldest profile of that address that has no user id (a CSV import by
// email, an anonymous visitor who gave it), as Customer.io does, rather
// than start a second profile of the same person; an anonymous profile the
// event names too merges into it.
func resolveIdentity(ctx context.Context, tx pgx.Tx, ws, userID, anonID, email string, addressNamed bool, messageID string, alias bool) (id, mergedFrom string, err error) {
	var known, anonOwner string
	var anonOwnerKnown bool
	var anonEmail *string
	if userID != "" {
		if known, err = customerOfUser(ctx, tx, ws, userID); err != nil {
			return "", "", err
		}
	}
	if anonID != "" {
		err := tx.QueryRow(ctx, `
			SELECT a.customer_id, c.external_id IS NOT NULL FROM customer_anonymous_ids a
			JOIN customers c ON c.id = a.customer_id
			WHERE a.workspace_id = $1 AND a.anonymous_id = $2`, ws, anonID).Scan(&anonOwner, &anonOwnerKnown)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", "", fmt.Errorf("find customer by anonymous id: %w", err)
		}
	}
	if userID != "" && anonOwner != "" && !anonOwnerKnown {
		// The anonymous profile is about to take the user id or merge into
		// its profile. Another transaction may have given it a user id (an
		// adoption by the address of a visitor, which locks neither this
		// anonymous id nor this user id) or merged it away since it was
		// read: lock its row and read it again (its address with it), so
		// that a profile with a user id is never renamed nor merged as an
		// anonymous one.
		var still bool
		err := tx.QueryRow(ctx, `SELECT external_id IS NULL, email FROM customers WHERE workspace_id = $1 AND id = $2 FOR UPDATE`,
			ws, anonOwner).Scan(&still, &anonEmail)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", "", ErrIdentityMoved
		}
		if err != nil {
			return "", "", fmt.Errorf("lock the anonymous profile: %w", err)
		}
		anonOwnerKnown = !still
	}
	if userID != "" && known == "" && !addressNamed && anonOwner != "" && !anonOwnerKnown && anonEmail != nil && *anonEmail != "" {
		// The event gives no address, but the visitor's profile has one (an
		// identify without a user id gave it): a track, an alias or an
		// identify without traits that names both ids takes the oldest
		// profile of that address as an identify giving it would, rather
		// than leave a second profile of the person. Adoptions happen under
		// the address's lock, which this transaction did not take in order
		// (the address was not in the event): it tries it, and when another
		// transaction holds it (an identify, import or erasure of the
		// address at this moment) it fails with ErrAddressBusy, and the
		// batch is applied again (ingest retries it) rather than leave a
		// second profile that no later event would join.
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`, emailLock(ws, *anonEmail)).Scan(&locked); err != nil {
			return "", "", fmt.Errorf("lock the visitor's address: %w", err)
		}
		if !locked {
			return "", "", ErrAddressBusy
		}
		email = *anonEmail
	}
	if userID != "" && known == "" && email != "" {
		// Before the anonymous id is looked at: a browser sends its
		// visitor's anonymous id with the identify, and that visitor's
		// profile (a page view before the signup) is not the oldest of the
		// address; it merges into the profile taken, below.
		err := tx.QueryRow(ctx, adoptProfileByEmail, ws, email, userID).Scan(&known)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", "", fmt.Errorf("identify customer by email: %w", err)
		}
	}
	switch {
	case userID == "":
		if anonOwner != "" {
			return anonOwner, "", nil
		}
		id := NewID("cus")
		// clock_timestamp: profiles made one after another in a batch are
		// older in that order ("the oldest profile of an address").
		if _, err := tx.Exec(ctx, `INSERT INTO customers (id, workspace_id, created_at) VALUES ($1, $2, clock_timestamp())`, id, ws); err != nil {
			return "", "", fmt.Errorf("insert customer: %w", err)
		}
		return id, "", attachAnonymous(ctx, tx, ws, anonID, id, false)
	case known == "" && anonOwner != "" && !anonOwnerKnown:
		// The anonymous profile becomes the known one.
		if _, err := tx.Exec(ctx, `UPDATE customers SET external_id = $3, updated_at = now() WHERE workspace_id = $1 AND id = $2`,
			ws, anonOwner, userID); err != nil {
			return "", "", fmt.Errorf("identify anonymous customer: %w", err)
		}
		return anonOwner, "", nil
	}
	if known == "" {
		known = NewID("cus")
		if _, err := tx.Exec(ctx, `INSERT INTO customers (id, workspace_id, external_id, created_at) VALUES ($1, $2, $3, clock_timestamp())`, known, ws, userID); err != nil {
			return "", "", fmt.Errorf("insert customer: %w", err)
		}
	}
	if anonID == "" || anonOwner == known {
		return known, "", nil
	}
	if anonOwner == "" {
		// An alias's previousId: an id the person had, which may be a user
		// id Herald has not seen yet (customerOfUser).
		return known, "", attachAnonymous(ctx, tx, ws, anonID, known, alias)
	}
	if !anonOwnerKnown {
		return known, anonOwner, mergeCustomers(ctx, tx, ws, anonOwner, known, messageID)
	}
	// The anonymous id belongs to another known customer: keep both as they are.
	return known, "", nil
}

// adoptProfileByEmail gives the user id $3, new in workspace $1, the
// oldest profile of the address $2 (in any case) that has no user id, and
// returns that profile's id; no row when there is none. The identify of a
// new user id (resolveIdentity) and an import by user id both take it,
// under the address's lock (emailLock). The conditions are repeated outside
// the subquery: a row another transaction gave a user id (or another
// address) while this one waited for it is re-checked, and left alone.
var adoptProfileByEmail = `
	UPDATE customers SET external_id = $3, updated_at = now()
	WHERE workspace_id = $1 AND email IS NOT NULL AND lower(email) = lower($2) AND external_id IS NULL
		AND id = ` + oldestOfAddress("$1", "$2", "AND external_id IS NULL") + `
	RETURNING id`

// oldestOfAddress is a subquery giving the id of the oldest customer of
// workspace ws whose email is address in any case (both SQL expressions)
// and that meets also (SQL, "" for nothing more). The address's customers
// are found through the email index first (a materialized CTE): an ORDER
// BY created_at ... LIMIT 1 over the whole table lets the planner walk
// customers_created_idx instead, reading every customer of the workspace
// for an address few or none of them have.
func oldestOfAddress(ws, address, also string) string {
	return `(WITH candidates AS MATERIALIZED (
			SELECT id, created_at FROM customers
			WHERE workspace_id = ` + ws + ` AND email IS NOT NULL AND lower(email) = lower(` + address + `) ` + also + `
		) SELECT id FROM candidates ORDER BY created_at, id LIMIT 1)`
}

func attachAnonymous(ctx context.Context, tx pgx.Tx, ws, anonID, customerID string, fromAlias bool) error {
	if anonID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO customer_anonymous_ids (workspace_id, anonymous_id, customer_id, from_alias) VALUES ($1, $2, $3, $4)`,
		ws, anonID, customerID, fromAlias)
	if err != nil {
		return fmt.Errorf("attach anonymous id: %w", err)
	}
	return nil
}

// mergeCustomers moves everything of the profile from — events, anonymous
// ids, previous user ids, runs, deliveries, segment memberships — into the
// known profile into, keeps from's own user id (if it had one) as a
// previous user id of into, records the merge (customer_merges, by event
// messageID, and the audit log; from's audit entries become into's), then
// deletes from. Attributes of into win. A segment membership of from joins
// into's: into is a current member if either was (a merge never takes
// anyone out of a segment), otherwise into's own row stays; from's rows go
// with from.
func mergeCustomers(ctx context.Context, tx pgx.Tx, ws, from, into, messageID string) error {
	stmts := []string{
		// First lock the merged customer: an ingest transaction of another
		// partition that resolved it through an identity this batch did not
		// lock (a second anonymous id) holds KEY SHARE on it until its events
		// are committed — waiting here moves those events too (deleting the
		// customer last would otherwise take them with it), and a later one
		// waits for this merge and then finds the customer gone and retries.
		`SELECT 1 FROM customers WHERE workspace_id = $1 AND id = $2 AND id <> $3 FOR UPDATE`,
		`UPDATE events SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE customer_anonymous_ids SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE customer_user_aliases SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`INSERT INTO customer_user_aliases (workspace_id, user_id, customer_id)
		 SELECT workspace_id, external_id, $3 FROM customers WHERE workspace_id = $1 AND id = $2 AND external_id IS NOT NULL`,
		`UPDATE runs SET customer_id = $3, updated_at = now() WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE deliveries SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE segment_changes SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE audit_log SET subject_id = $3 WHERE workspace_id = $1 AND subject_type = 'customer' AND subject_id = $2`,
		`UPDATE customer_merges SET into_id = $3 WHERE workspace_id = $1 AND into_id = $2`,
		`INSERT INTO segment_members (workspace_id, segment_id, customer_id, entered_at, left_at)
		 SELECT workspace_id, segment_id, $3, entered_at, left_at FROM segment_members WHERE workspace_id = $1 AND customer_id = $2
		 ON CONFLICT (segment_id, customer_id) DO UPDATE SET entered_at = EXCLUDED.entered_at, left_at = NULL
		 WHERE segment_members.left_at IS NOT NULL AND EXCLUDED.left_at IS NULL`,
		`INSERT INTO audit_log (workspace_id, actor, action, subject_type, subject_id, detail)
		 SELECT $1, 'ingest', 'merge', 'customer', $3, jsonb_strip_nulls(jsonb_build_object('merged_from', $2::text,
			'merged_user_id', (SELECT external_id FROM customers WHERE workspace_id = $1 AND id = $2)))`,
		`UPDATE customers AS k SET
			attributes = a.attributes || k.attributes,
			email = coalesce(k.email, a.email), phone = coalesce(k.phone, a.phone),
			timezone = coalesce(k.timezone, a.timezone), updated_at = now()
		 FROM customers a WHERE k.workspace_id = $1 AND a.workspace_id = $1 AND a.id = $2 AND k.id = $3`,
		`DELETE FROM customers WHERE workspace_id = $1 AND id = $2 AND id <> $3`,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q, ws, from, into); err != nil {
			return fmt.Errorf("merge customer %s into %s: %w", from, into, err)
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO customer_merges (workspace_id, from_id, into_id, message_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (workspace_id, from_id) DO UPDATE SET into_id = EXCLUDED.into_id, message_id = EXCLUDED.message_id, merged_at = now()`,
		ws, from, into, messageID)
	if err != nil {
		return fmt.Errorf("record merge of customer %s into %s: %w", from, into, err)
	}
	return nil
}

// builtinTraits are traits stored in their own columns.
var builtinTraits = map[string]string{"email": "email", "phone": "phone", "timezone": "timezone"}

// maxTraitColumn is the longest value, in characters, each column takes
// (an address by RFC 5321; the CSV import holds rows to the same): a longer
// one stays an attribute. Postgres could not index it past ~2,700 bytes.
var maxTraitColumn = map[string]int{"email": MaxEmailLength, "phone": MaxPhoneLength, "timezone": MaxTimezoneLength}

// The longest email, phone and time zone a customer's own fields hold.
const (
	MaxEmailLength    = 254
	MaxPhoneLength    = 64
	MaxTimezoneLength = 64
)

func mergeTraits(ctx context.Context, tx pgx.Tx, ws, customerID string, traits map[string]any) error {
	custom := map[string]any{}
	cols := map[string]*string{}
	clear := map[string]bool{}
	removed := []string{} // custom traits sent as null: removed, as Braze and Customer.io do (and see below)
	for k, v := range traits {
		col, builtin := builtinTraits[k]
		if !builtin {
			if v == nil {
				removed = append(removed, k)
			} else {
				custom[k] = v
			}
			continue
		}
		var text string
		switch v := v.(type) {
		case nil:
			clear[col] = true // "email": null forgets the address
			removed = append(removed, k)
			continue
		case string:
			text = strings.TrimSpace(v)
		case json.Number, float64, int, int64:
			if col != "phone" {
				custom[k] = v // not an address or a zone: kept, as an attribute
				continue
			}
			// Backends often send phone numbers as numbers.
			if f, ok := v.(float64); ok {
				text = strconv.FormatFloat(f, 'f', -1, 64)
			} else {
				text = fmt.Sprint(v)
			}
		default:
			custom[k] = v
			continue
		}
		if text == "" {
			clear[col] = true
			removed = append(removed, k)
			continue
		}
		if col == "phone" {
			text = NormalizePhone(text)
		}
		if len(text) > maxTraitColumn[col] && utf8.RuneCountInString(text) > maxTraitColumn[col] {
			custom[k] = v // too long to be an address, a number or a zone: an attribute
			continue
		}
		cols[col] = &text
		// An attribute of the same name, kept while the trait was not a
		// value the column takes, is out of date now.
		removed = append(removed, k)
	}
	b, err := json.Marshal(custom)
	if err != nil {
		return fmt.Errorf("encode traits: %w", err)
	}
	_, err = tx.Exec(ctx, `
		UPDATE customers SET attributes = (attributes || $3::jsonb) - $10::text[],
			email = CASE WHEN $7 THEN NULL ELSE coalesce($4, email) END,
			phone = CASE WHEN $8 THEN NULL ELSE coalesce($5, phone) END,
			timezone = CASE WHEN $9 THEN NULL ELSE coalesce($6, timezone) END,
			updated_at = now()
		WHERE workspace_id = $1 AND id = $2`, ws, customerID, b, cols["email"], cols["phone"], cols["timezone"],
		clear["email"], clear["phone"], clear["timezone"], removed)
	if err != nil {
		return fmt.Errorf("merge traits: %w", err)
	}
	return nil
}

// GetCustomer loads one customer of the workspace with their anonymous and
// previous user ids.
func (s *Store) GetCustomer(ctx context.Context, workspaceID, id string) (Customer, error) {
	return s.loadCustomer(ctx, "$2", workspaceID, id)
}

// loadCustomer loads the customer of the workspace ($1) whose id is the
// SQL expression idExpr (of $2, the id asked for).
func (s *Store) loadCustomer(ctx context.Context, idExpr, workspaceID, id string) (Customer, error) {
	c, err := scanCustomer(s.pool.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers c
		WHERE c.workspace_id = $1 AND c.id = `+idExpr, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, fmt.Errorf("load customer %s: %w", id, err)
	}
	return c, nil
}

// survivorOf is, in SQL, the customer id $2 names in workspace $1: the
// customer it was merged into (customer_merges), else $2 itself.
const survivorOf = `coalesce((SELECT m.into_id FROM customer_merges m WHERE m.workspace_id = $1 AND m.from_id = $2), $2)`

// CurrentCustomerID returns id when the workspace has that customer, the
// customer it was merged into when it was merged away (customer_merges),
// and "" when neither exists (erased).
func (s *Store) CurrentCustomerID(ctx context.Context, workspaceID, id string) (string, error) {
	var cur string
	err := s.pool.QueryRow(ctx, `SELECT c.id FROM customers c WHERE c.workspace_id = $1 AND c.id = `+survivorOf, workspaceID, id).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up customer %s: %w", id, err)
	}
	return cur, nil
}

// MergedAwayIDs lists the ids of the profiles merged into customer id
// (customer_merges keeps each to the end of its chain).
func (s *Store) MergedAwayIDs(ctx context.Context, workspaceID, id string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT from_id FROM customer_merges WHERE workspace_id = $1 AND into_id = $2 ORDER BY from_id`,
		workspaceID, id)
	if err != nil {
		return nil, fmt.Errorf("list merged profiles: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list merged profiles: %w", err)
	}
	return ids, nil
}

// CurrentCustomer reads customer id, or the customer it was merged into
// (customer_merges): a run, a send or a delivery may carry the id of a
// profile merged away since. ErrNotFound when neither exists (erased).
func (s *Store) CurrentCustomer(ctx context.Context, workspaceID, id string) (Customer, error) {
	return s.loadCustomer(ctx, survivorOf, workspaceID, id)
}

// FindCustomer resolves a user id (current or previous) or anonymous id to
// the customer; a user id wins over an equal anonymous id.
func (s *Store) FindCustomer(ctx context.Context, workspaceID, userOrAnonymousID string) (Customer, error) {
	var id string
	err := s.pool.QueryRow(ctx, `
		SELECT id FROM (
			SELECT id, 1 AS rank FROM customers WHERE workspace_id = $1 AND external_id = $2
			UNION ALL
			SELECT customer_id, 2 FROM customer_user_aliases WHERE workspace_id = $1 AND user_id = $2
			UNION ALL
			SELECT customer_id, 3 FROM customer_anonymous_ids WHERE workspace_id = $1 AND anonymous_id = $2
		) AS f ORDER BY rank LIMIT 1`, workspaceID, userOrAnonymousID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, fmt.Errorf("find customer: %w", err)
	}
	return s.GetCustomer(ctx, workspaceID, id)
}

// StoredEvent is an event as kept in the timeline.
type StoredEvent struct {
	ID         int64           `json:"id"`
	MessageID  string          `json:"message_id"`
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
}

// ListCustomerEvents returns a customer's events in the order they were applied.
func (s *Store) ListCustomerEvents(ctx context.Context, workspaceID, customerID string, limit int) ([]StoredEvent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, message_id, type, name, properties, occurred_at, received_at FROM events
		WHERE workspace_id = $1 AND customer_id = $2 ORDER BY id LIMIT $3`, workspaceID, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredEvent, error) {
		var e StoredEvent
		err := r.Scan(&e.ID, &e.MessageID, &e.Type, &e.Name, &e.Properties, &e.OccurredAt, &e.ReceivedAt)
		return e, err
	})
}

// UpdateCustomerAttributes sets and removes attributes (and the built-in
// email, phone and timezone fields when named).
func (s *Store) UpdateCustomerAttributes(ctx context.Context, workspaceID, customerID string, set map[string]any, unset []string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(set) > 0 {
			if err := mergeTraits(ctx, tx, workspaceID, customerID, set); err != nil {
				return err
			}
		}
		for _, k := range unset {
			var err error
			if col, ok := builtinTraits[k]; ok {
				_, err = tx.Exec(ctx, `UPDATE customers SET `+col+` = NULL, updated_at = now() WHERE workspace_id = $1 AND id = $2`, workspaceID, customerID)
			} else {
				_, err = tx.Exec(ctx, `UPDATE customers SET attributes = attributes - $3, updated_at = now() WHERE workspace_id = $1 AND id = $2`, workspaceID, customerID, k)
			}
			if err != nil {
				return fmt.Errorf("unset %s: %w", k, err)
			}
		}
		return nil
	})
}

// EnsureCustomer returns the customer with user id userID (its external id
// or a previous user id), creating it if needed (API-triggered entry for a
// customer not seen yet). It takes the identity lock ingest takes, so an
// alias retiring userID cannot interleave.
func (s *Store) EnsureCustomer(ctx context.Context, workspaceID, userID string) (Customer, error) {
	var id string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, workspaceID+"/"+userID); err != nil {
			return fmt.Errorf("lock identity: %w", err)
		}
		var err error
		if id, err = customerOfUser(ctx, tx, workspaceID, userID); err != nil || id != "" {
			return err
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO customers (id, workspace_id, external_id) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, external_id) WHERE external_id IS NOT NULL DO UPDATE SET updated_at = customers.updated_at
			RETURNING id`, NewID("cus"), workspaceID, userID).Scan(&id)
		if err != nil {
			return fmt.Errorf("ensure customer: %w", err)
		}
		return nil
	})
	if err != nil {
		return Customer{}, err
	}
	return s.GetCustomer(ctx, workspaceID, id)
}
