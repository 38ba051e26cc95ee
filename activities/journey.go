package activities

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/heraldhq/herald/schema"
)

// RecordRunStartInput reports that a run started (the entry log row).
type RecordRunStartInput struct {
	WorkspaceID  string `json:"workspace_id"`
	WorkflowID   string `json:"workflow_id"`
	RunID        string `json:"run_id"`
	JourneyID    string `json:"journey_id"`
	Version      int    `json:"version"`
	CustomerID   string `json:"customer_id"`
	EntryKey     string `json:"entry_key,omitempty"`
	TriggerEvent string `json:"trigger_event,omitempty"`
	// TriggerEventID is the id of the event the run started with.
	TriggerEventID string    `json:"trigger_event_id,omitempty"`
	StartedAt      time.Time `json:"started_at"`
}

// RecordRunStart adds the run to the projection if the router has not yet.
func (a *Activities) RecordRunStart(ctx context.Context, in RecordRunStartInput) error {
	// Under the survivor when the customer was merged meanwhile; the router,
	// which records the same start, tells the run.
	_, err := a.store.RecordRunStart(ctx, in.WorkspaceID, schema.Run{WorkflowID: in.WorkflowID, RunID: in.RunID, JourneyID: in.JourneyID,
		Version: in.Version, CustomerID: in.CustomerID, EntryKey: in.EntryKey, TriggerEvent: in.TriggerEvent, TriggerEventID: in.TriggerEventID, StartedAt: in.StartedAt})
	return err
}

// RecordStepInput reports that a run entered a node (and left the previous one).
type RecordStepInput struct {
	WorkspaceID   string    `json:"workspace_id"`
	JourneyID     string    `json:"journey_id"`
	WorkflowID    string    `json:"workflow_id"`
	RunID         string    `json:"run_id"`
	Node          string    `json:"node"`
	Visit         int       `json:"visit"`
	Detail        string    `json:"detail,omitempty"`
	EnteredAt     time.Time `json:"entered_at"`
	PreviousNode  string    `json:"previous_node,omitempty"`
	PreviousVisit int       `json:"previous_visit,omitempty"`
}

// RecordStep writes a node visit to the run projection (stats and paths).
func (a *Activities) RecordStep(ctx context.Context, in RecordStepInput) error {
	return a.store.RecordRunStep(ctx, runStep(in))
}

func runStep(in RecordStepInput) schema.RunStep {
	return schema.RunStep{WorkspaceID: in.WorkspaceID, JourneyID: in.JourneyID,
		WorkflowID: in.WorkflowID, RunID: in.RunID, Node: in.Node, Visit: in.Visit, Detail: in.Detail,
		EnteredAt: in.EnteredAt, PreviousNode: in.PreviousNode, PreviousVisit: in.PreviousVisit}
}

// FinishRunInput reports how a run ended.
type FinishRunInput struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Status     string `json:"status"`
	// Reason says why an exited run left (the exit signal's reason) or
	// what ended a failed one.
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// LastNode, when set, is marked as left.
	WorkspaceID string `json:"workspace_id"`
	JourneyID   string `json:"journey_id"`
	LastNode    string `json:"last_node"`
	LastVisit   int    `json:"last_visit"`
}

// FinishRun records the end of a run.
func (a *Activities) FinishRun(ctx context.Context, in FinishRunInput) error {
	if in.LastNode != "" {
		if err := a.store.RecordRunStep(ctx, schema.RunStep{WorkspaceID: in.WorkspaceID, JourneyID: in.JourneyID,
			WorkflowID: in.WorkflowID, RunID: in.RunID, PreviousNode: in.LastNode, PreviousVisit: in.LastVisit, EnteredAt: in.At}); err != nil {
			return err
		}
	}
	return a.store.FinishRun(ctx, in.WorkflowID, in.RunID, in.Status, in.Reason, in.At)
}

// RecordConversionInput reports a goal conversion.
type RecordConversionInput struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	At         time.Time `json:"at"`
}

// RecordConversion marks a run converted.
func (a *Activities) RecordConversion(ctx context.Context, in RecordConversionInput) error {
	return a.store.RecordConversion(ctx, in.WorkflowID, in.RunID, in.At)
}

// ProgressInput is what a run reports at once (interpreter v4): its start
// if not reported yet, its node visits since its last report in order, a
// goal conversion, its end. It goes with the run's next send (SendInput) or
// in one local activity, so a run writes one history marker per report
// instead of one per step.
type ProgressInput struct {
	WorkspaceID string `json:"workspace_id"`
	WorkflowID  string `json:"workflow_id"`
	RunID       string `json:"run_id"`
	// Start is the run's start, until one report carried it (conversions
	// repeat it: the router may not have recorded the run yet).
	Start       *RecordRunStartInput `json:"start,omitempty"`
	Steps       []RecordStepInput    `json:"steps,omitempty"`
	ConvertedAt *time.Time           `json:"converted_at,omitempty"`
	Finish      *FinishRunInput      `json:"finish,omitempty"`
}

// Empty says whether there is nothing to report.
func (p *ProgressInput) Empty() bool {
	return p == nil || (p.Start == nil && len(p.Steps) == 0 && p.ConvertedAt == nil && p.Finish == nil)
}

func (p ProgressInput) record() schema.RunProgress {
	rp := schema.RunProgress{WorkspaceID: p.WorkspaceID, WorkflowID: p.WorkflowID, RunID: p.RunID, ConvertedAt: p.ConvertedAt}
	if in := p.Start; in != nil {
		rp.Start = &schema.Run{WorkflowID: in.WorkflowID, RunID: in.RunID, JourneyID: in.JourneyID, Version: in.Version,
			CustomerID: in.CustomerID, EntryKey: in.EntryKey, TriggerEvent: in.TriggerEvent, TriggerEventID: in.TriggerEventID, StartedAt: in.StartedAt}
	}
	for _, in := range p.Steps {
		rp.Steps = append(rp.Steps, runStep(in))
	}
	if f := p.Finish; f != nil {
		rp.Finish = &schema.RunFinish{Status: f.Status, Reason: f.Reason, At: f.At, LastNode: f.LastNode, LastVisit: f.LastVisit}
	}
	return rp
}

// RecordProgress writes a run's report in one transaction (idempotent).
func (a *Activities) RecordProgress(ctx context.Context, in ProgressInput) error {
	if in.Empty() {
		return nil
	}
	return a.store.RecordRunProgress(ctx, in.record())
}

// UpdateCustomerInput changes attributes of a customer.
type UpdateCustomerInput struct {
	WorkspaceID string         `json:"workspace_id"`
	CustomerID  string         `json:"customer_id"`
	Set         map[string]any `json:"set,omitempty"`
	Unset       []string       `json:"unset,omitempty"`
	Event       *RenderEvent   `json:"event,omitempty"`
	JourneyID   string         `json:"journey_id"`
	JourneyName string         `json:"journey_name"`
}

// UpdateCustomer writes attributes (string values are Liquid) and removes
// others. Setting the same values again changes nothing: it is idempotent.
func (a *Activities) UpdateCustomer(ctx context.Context, in UpdateCustomerInput) error {
	cust, err := a.store.CurrentCustomer(ctx, in.WorkspaceID, in.CustomerID)
	if errors.Is(err, schema.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("customer "+in.CustomerID+" does not exist", "CustomerNotFound", err)
	}
	if err != nil {
		return err
	}
	in.CustomerID = cust.ID // the survivor of a merge the run has not heard of yet
	vars := RenderVars{Customer: cust, Event: in.Event, JourneyID: in.JourneyID, JourneyName: in.JourneyName}
	set := map[string]any{}
	failed := map[string]string{}
	for k, v := range in.Set {
		if s, ok := v.(string); ok && strings.Contains(s, "{") {
			out, err := a.renderer.Render(s, vars)
			if err != nil {
				// As a send whose template does not render: recorded, and
				// the run moves on; the attribute keeps its value.
				failed[k] = err.Error()
				continue
			}
			v = out
		}
		set[k] = v
	}
	if len(failed) > 0 {
		a.logger(ctx).Warn("update_customer: attributes not set", "customer_id", in.CustomerID, "journey_id", in.JourneyID, "errors", failed)
		if err := a.store.Audit(ctx, in.WorkspaceID, "journey:"+in.JourneyID, "update_failed", "customer", in.CustomerID,
			map[string]any{"journey_id": in.JourneyID, "journey_name": in.JourneyName, "not_set": failed}); err != nil {
			return err
		}
	}
	return a.store.UpdateCustomerAttributes(ctx, in.WorkspaceID, in.CustomerID, set, in.Unset)
}

// SegmentMembershipInput asks which of the segments a customer is in.
type SegmentMembershipInput struct {
	WorkspaceID string   `json:"workspace_id"`
	CustomerID  string   `json:"customer_id"`
	SegmentIDs  []string `json:"segment_ids"`
}

// SegmentMembershipResult maps each asked segment id to membership.
type SegmentMembershipResult struct {
	Members map[string]bool `json:"members"`
}

// SegmentMembership answers branch conditions on segments from the
// segments' definitions (dynamic) or member lists (manual). A segment
// deleted since the journey was published counts as "not a member".
func (a *Activities) SegmentMembership(ctx context.Context, in SegmentMembershipInput) (SegmentMembershipResult, error) {
	out := SegmentMembershipResult{Members: map[string]bool{}}
	now := time.Now()
	for _, id := range in.SegmentIDs {
		member, err := a.store.IsMember(ctx, in.WorkspaceID, id, in.CustomerID, now)
		if errors.Is(err, schema.ErrNotFound) {
			activity.GetLogger(ctx).Warn("branch on a segment that no longer exists", "segment_id", id)
			continue
		}
		if err != nil {
			return out, err
		}
		out.Members[id] = member
	}
	return out, nil
}
