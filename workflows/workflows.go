// Package workflows holds Herald's Temporal workflows — above all
// JourneyWorkflow, the deterministic interpreter of a published journey
// graph — with the journey graph types and their validation. It never does
// I/O itself: everything outside the workflow happens in activities.
package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// TaskQueue is where journey workflows and their activities run (DESIGN §8).
const TaskQueue = "herald-journeys"

// AudienceTaskQueue is where enrollments and the segment refresh run, on
// their own queue: an enrollment that starts thousands of runs must not
// wait behind their first workflow tasks to take its next page.
const AudienceTaskQueue = "herald-audiences"

// Search attributes of journey runs (DESIGN §8), all Keyword.
var (
	SAWorkspaceID    = temporal.NewSearchAttributeKeyKeyword("HeraldWorkspaceID")
	SAJourneyID      = temporal.NewSearchAttributeKeyKeyword("HeraldJourneyID")
	SAJourneyVersion = temporal.NewSearchAttributeKeyKeyword("HeraldJourneyVersion")
	SACustomerID     = temporal.NewSearchAttributeKeyKeyword("HeraldCustomerID")
	SANode           = temporal.NewSearchAttributeKeyKeyword("HeraldNode")
)

// SearchAttributeTypes lists the custom search attributes Herald needs.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	out := map[string]enumspb.IndexedValueType{}
	for _, k := range []temporal.SearchAttributeKeyKeyword{SAWorkspaceID, SAJourneyID, SAJourneyVersion, SACustomerID, SANode} {
		out[k.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return out
}

// EnsureSearchAttributes registers the missing search attributes on the
// namespace, so a production cluster needs no manual setup.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range SearchAttributeTypes() {
		if _, ok := have.CustomAttributes[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes to namespace %s: %w", namespace, err)
	}
	return nil
}

// Register adds Herald's workflows to a worker.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(JourneyWorkflow)
	r.RegisterWorkflow(ReenterWorkflow)
	r.RegisterWorkflow(ImportCustomersWorkflow)
	RegisterAudiences(r)
}

// RegisterAudiences adds the enrollment and segment refresh workflows (a
// worker on AudienceTaskQueue needs only these, with the ingest package's
// audience activities).
func RegisterAudiences(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(EnrollmentWorkflow)
	r.RegisterWorkflow(SegmentRefreshWorkflow)
}

// WorkflowID is the id of a customer's run of a journey (DESIGN §8):
// journey/<journey_id>/customer/<customer_id>, with /key/<key> for keyed entry.
// When the key would make the id longer than MaxIDBytes, it is written as
// sha256:<64 hex digits> of it: an entry key comes from the event's
// properties, of any length, and Temporal's SQL stores keep workflow ids in
// VARCHAR(255) (its limit.maxIDLength, 1,000 bytes, is checked first but the
// insert fails past 255).
func WorkflowID(journeyID, customerID, key string) string {
	id := "journey/" + journeyID + "/customer/" + customerID
	if key == "" {
		return id
	}
	id += "/key/"
	if len(id)+len(key) > MaxIDBytes {
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	return id + key
}

// MaxIDBytes is the longest workflow id (in bytes) WorkflowID writes with
// the entry key as it is: the width of workflow_id in Temporal's Postgres and
// MySQL schemas.
const MaxIDBytes = 255

// ParseWorkflowID reads a run's workflow id back (WorkflowID's inverse);
// ok is false for an id of another shape.
func ParseWorkflowID(id string) (journeyID, customerID, key string, ok bool) {
	rest, ok := strings.CutPrefix(id, "journey/")
	if !ok {
		return "", "", "", false
	}
	journeyID, rest, ok = strings.Cut(rest, "/customer/")
	if !ok || journeyID == "" {
		return "", "", "", false
	}
	customerID, key, _ = strings.Cut(rest, "/key/")
	return journeyID, customerID, key, customerID != ""
}
