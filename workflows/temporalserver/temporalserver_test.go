package temporalserver_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/workflows/temporalserver"
)

func sleeper(ctx workflow.Context, d time.Duration) (string, error) {
	if err := workflow.Sleep(ctx, d); err != nil {
		return "", err
	}
	return "woke", nil
}

func TestEmbeddedServerRunsWorkflowsAndKeepsStateAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dbFile := filepath.Join(t.TempDir(), "temporal.db")
	opts := temporalserver.Options{
		DatabaseFile: dbFile,
		UIPort:       freePort(t),
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"HeraldJourneyID": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
	}
	srv, err := temporalserver.Start(ctx, opts)
	require.NoError(t, err)

	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	w := worker.New(c, "tq", worker.Options{})
	w.RegisterWorkflow(sleeper)
	require.NoError(t, w.Start())

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "wf-1", TaskQueue: "tq"}, sleeper, 200*time.Millisecond)
	require.NoError(t, err)
	var out string
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, "woke", out)

	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	require.NoError(t, err)
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, sas.CustomAttributes["HeraldJourneyID"])

	// The Web UI answers.
	resp, err := http.Get(srv.UIURL() + "/")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	w.Stop()
	c.Close()
	require.NoError(t, srv.Stop())

	// A second start on the same file sees the finished workflow.
	opts.UIPort = 0
	srv2, err := temporalserver.Start(ctx, opts)
	require.NoError(t, err)
	defer srv2.Stop()
	c2, err := client.Dial(client.Options{HostPort: srv2.HostPort(), Namespace: srv2.Namespace()})
	require.NoError(t, err)
	defer c2.Close()
	desc, err := c2.DescribeWorkflowExecution(ctx, "wf-1", "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.WorkflowExecutionInfo.Status)
}

func freePort(t *testing.T) int {
	t.Helper()
	srv, err := temporalserver.FreePort("127.0.0.1")
	require.NoError(t, err)
	return srv
}
