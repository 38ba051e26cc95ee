package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"
)

// JourneyInput starts one customer's run of one journey version.
type JourneyInput struct {
	WorkspaceID string  `json:"workspace_id"`
	JourneyID   string  `json:"journey_id"`
	Version     int     `json:"version"`
	CustomerID  string  `json:"customer_id"`
	Journey     Journey `json:"journey"`
}

// RunState is what the `state` query returns.
type RunState struct {
	Node   string     `json:"node"`
	Path   []PathStep `json:"path"`
	Status string     `json:"status"`
}

// PathStep is one node visited.
type PathStep struct {
	Node    string    `json:"node"`
	Entered time.Time `json:"entered"`
}

// JourneyWorkflow interprets a published journey for one customer.
func JourneyWorkflow(ctx workflow.Context, in JourneyInput) error {
	st := RunState{Status: "running"}
	if err := workflow.SetQueryHandler(ctx, "state", func() (RunState, error) { return st, nil }); err != nil {
		return err
	}
	nodes := map[string]Node{}
	for _, n := range in.Journey.Nodes {
		nodes[n.ID] = n
	}
	cur := in.Journey.Start
	for cur != "" {
		n, ok := nodes[cur]
		if !ok {
			return fmt.Errorf("node %q does not exist", cur)
		}
		st.Node = cur
		st.Path = append(st.Path, PathStep{Node: cur, Entered: workflow.Now(ctx)})
		switch n.Type {
		case "exit":
			cur = ""
		case "delay":
			d, err := time.ParseDuration(n.Duration)
			if err != nil {
				return err
			}
			if err := workflow.Sleep(ctx, d); err != nil {
				return err
			}
			cur = n.Next
		default:
			return fmt.Errorf("node type %q is not supported yet", n.Type)
		}
	}
	st.Status = "completed"
	return nil
}
