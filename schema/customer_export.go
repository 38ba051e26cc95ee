package schema

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// exportPage is how many deliveries (with their histories) or audit entries
// an export reads at a time; events, runs, run steps and import rows come
// row by row.
const exportPage = 500

// ExportCounts says how much of a customer's data an export wrote (all of
// it, unless WriteCustomerExport failed).
type ExportCounts struct {
	Events     int
	Runs       int
	Deliveries int
}

// WriteCustomerExport writes everything Herald holds about a customer (the
// JSON document CustomerExport describes, its fields in that order) from one
// consistent snapshot, row by row as it reads them: the memory it takes does
// not grow with the customer's events, runs and deliveries, so a large
// export cannot exhaust the process. open is called once the customer is
// found, before anything is written, and returns where the document goes;
// an error before it (ErrNotFound for an unknown customer) means nothing was
// written, one after it that the document was cut short.
func (s *Store) WriteCustomerExport(ctx context.Context, workspaceID, idOrExternalID string, open func(Customer) (io.Writer, error)) (ExportCounts, error) {
	var n ExportCounts
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		c, err := lookupCustomer(ctx, tx, workspaceID, idOrExternalID)
		if err != nil {
			return err
		}
		var exportedAt time.Time
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&exportedAt); err != nil {
			return fmt.Errorf("read the time: %w", err)
		}
		out, err := open(c)
		if err != nil {
			return err
		}
		w := &exportWriter{w: bufio.NewWriterSize(out, 32<<10)}
		if err := writeCustomerExport(ctx, tx, workspaceID, c, w, &n); err != nil {
			return err
		}
		w.raw(`,"exported_at":`)
		w.value(exportedAt)
		w.raw("}")
		if w.err == nil {
			w.err = w.w.Flush()
		}
		return w.err
	})
	return n, err
}

// writeCustomerExport writes the export's fields from the customer to the
// import rows, counting into n.
func writeCustomerExport(ctx context.Context, tx pgx.Tx, workspaceID string, c Customer, w *exportWriter, n *ExportCounts) error {
	id := c.ID
	w.raw(`{"customer":`)
	w.value(c)
	var err error
	n.Events, err = exportList(w, "events", func(emit func(ExportedEvent) error) error {
		return exportRows(ctx, tx, "events", func(r pgx.CollectableRow) (ExportedEvent, error) {
			var e ExportedEvent
			err := r.Scan(&e.ID, &e.MessageID, &e.Type, &e.Name, &e.Properties, &e.Context, &e.OccurredAt, &e.ReceivedAt)
			return e, err
		}, emit, `SELECT id, message_id, type, name, properties, context, occurred_at, received_at FROM events
			WHERE workspace_id = $1 AND customer_id = $2 ORDER BY id`, workspaceID, id)
	})
	if err != nil {
		return err
	}
	n.Runs, err = exportList(w, "runs", func(emit func(CustomerRun) error) error {
		return exportRows(ctx, tx, "runs", scanCustomerRun, emit, customerRunsQuery, workspaceID, id, 0)
	})
	if err != nil {
		return err
	}
	_, err = exportList(w, "run_steps", func(emit func(ExportedStep) error) error {
		return exportRows(ctx, tx, "run steps", pgx.RowToStructByPos[ExportedStep], emit, `
			SELECT s.workflow_id, s.run_id, s.node_id, s.visit, s.detail, s.entered_at, s.left_at
			FROM run_steps s JOIN runs r ON r.workflow_id = s.workflow_id AND r.run_id = s.run_id
			WHERE r.workspace_id = $1 AND r.customer_id = $2 AND s.workspace_id = $1
			ORDER BY s.entered_at, s.workflow_id, s.node_id, s.visit`, workspaceID, id)
	})
	if err != nil {
		return err
	}
	n.Deliveries, err = exportList(w, "deliveries", func(emit func(Delivery) error) error {
		return exportDeliveries(ctx, tx, workspaceID, id, emit)
	})
	if err != nil {
		return err
	}
	keys, err := keysOf(ctx, tx, workspaceID, c)
	if err != nil {
		return err
	}
	if err := exportSmall(ctx, tx, workspaceID, c, keys, w); err != nil {
		return err
	}
	_, err = exportList(w, "audit", func(emit func(AuditEntry) error) error {
		for after := int64(0); ; {
			page, err := listAudit(ctx, tx, workspaceID, "customer", id, exportPage, after)
			if err != nil {
				return err
			}
			if err := emitAll(page, emit); err != nil || len(page) < exportPage {
				return err
			}
			after = page[len(page)-1].ID
		}
	})
	if err != nil {
		return err
	}
	_, err = exportList(w, "import_rows", func(emit func(ExportedImportRow) error) error {
		return exportImportRows(ctx, tx, workspaceID, keys, emit)
	})
	return err
}

// exportDeliveries hands the customer's deliveries with their histories to
// emit, newest first, a page at a time.
func exportDeliveries(ctx context.Context, tx pgx.Tx, workspaceID, customerID string, emit func(Delivery) error) error {
	var at *time.Time
	var after string
	for {
		rows, err := tx.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE workspace_id = $1 AND customer_id = $2
				AND ($4::timestamptz IS NULL OR created_at < $4 OR (created_at = $4 AND id > $5))
			ORDER BY created_at DESC, id LIMIT $3`, workspaceID, customerID, exportPage, at, after)
		if err != nil {
			return fmt.Errorf("query customer deliveries: %w", err)
		}
		page, err := withHistories(ctx, tx, workspaceID, rows)
		if err != nil {
			return err
		}
		if err := emitAll(page, emit); err != nil || len(page) < exportPage {
			return err
		}
		last := page[len(page)-1]
		at, after = &last.CreatedAt, last.ID
	}
}

// exportSmall writes the export's segment memberships and suppressions:
// a few rows at most (one per segment, one per address). The suppressions
// are those of the customer's addresses and numbers, now and before
// (keysOf), as written or as their digest (AddressDigest).
func exportSmall(ctx context.Context, tx pgx.Tx, workspaceID string, c Customer, keys customerKeys, w *exportWriter) error {
	segments, err := customerMemberships(ctx, tx, workspaceID, c.ID, false)
	if err != nil {
		return err
	}
	channels, plain, digests := keys.suppressible(workspaceID)
	rows, err := tx.Query(ctx, `
		SELECT channel, address, reason, created_at FROM suppressions
		WHERE workspace_id = $1 AND (channel, address) IN (
			SELECT * FROM unnest($2::text[], $3::text[]) UNION ALL SELECT * FROM unnest($2::text[], $4::text[]))
		ORDER BY created_at, channel, address`, workspaceID, channels, plain, digests)
	if err != nil {
		return fmt.Errorf("query suppressions: %w", err)
	}
	suppressions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ExportedSuppression])
	if err != nil {
		return fmt.Errorf("read suppressions: %w", err)
	}
	w.raw(`,"segments":`)
	w.value(segments)
	w.raw(`,"suppressions":`)
	w.value(emptyIfNil(suppressions))
	return w.err
}

// exportRows hands the rows of a query, as scan reads them, to emit.
func exportRows[T any](ctx context.Context, tx pgx.Tx, what string, scan pgx.RowToFunc[T], emit func(T) error, sql string, args ...any) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("query %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
		if err := emit(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

func emitAll[T any](list []T, emit func(T) error) error {
	for _, v := range list {
		if err := emit(v); err != nil {
			return err
		}
	}
	return nil
}

// exportWriter writes the export document a piece at a time and keeps the
// first error, after which it writes nothing.
type exportWriter struct {
	w   *bufio.Writer
	err error
}

func (x *exportWriter) raw(s string) {
	if x.err == nil {
		_, x.err = x.w.WriteString(s)
	}
}

// value writes v as encoding/json writes it (as the API's answers are).
func (x *exportWriter) value(v any) {
	if x.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		x.err = fmt.Errorf("encode export: %w", err)
		return
	}
	_, x.err = x.w.Write(b)
}

// exportList writes the array field name with the items each hands to its
// emit, and returns how many there were.
func exportList[T any](x *exportWriter, name string, each func(emit func(T) error) error) (int, error) {
	x.raw(`,"` + name + `":[`)
	n := 0
	err := each(func(v T) error {
		if n > 0 {
			x.raw(",")
		}
		n++
		x.value(v)
		return x.err
	})
	if err != nil {
		return n, err
	}
	x.raw("]")
	return n, x.err
}

// ExportCustomer gathers a customer's data from one consistent snapshot: the
// document WriteCustomerExport writes, read back whole. The API streams the
// document instead; this is for callers that want it as a value.
func (s *Store) ExportCustomer(ctx context.Context, workspaceID, idOrExternalID string) (CustomerExport, error) {
	var buf bytes.Buffer
	if _, err := s.WriteCustomerExport(ctx, workspaceID, idOrExternalID, func(Customer) (io.Writer, error) { return &buf, nil }); err != nil {
		return CustomerExport{}, err
	}
	var out CustomerExport
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		return CustomerExport{}, fmt.Errorf("read export: %w", err)
	}
	return out, nil
}
