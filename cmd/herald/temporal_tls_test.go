package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// systemInfoOnly is a Temporal frontend that answers only what the SDK's
// Dial asks (GetSystemInfo).
type systemInfoOnly struct {
	workflowservice.UnimplementedWorkflowServiceServer
}

func (systemInfoOnly) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{ServerVersion: "test"}, nil
}

// TestTemporalConnectionOverTLS dials a TLS gRPC endpoint that answers the
// Temporal client's health check and system-info call, with the connection options the config
// builds: the CA file is trusted, and a certificate issued for another name
// than the address's host is taken only with HERALD_TEMPORAL_TLS_SERVER_NAME.
func TestTemporalConnectionOverTLS(t *testing.T) {
	caFile, keyFile := writeKeyPair(t, t.TempDir(), "temporal.internal")
	cert, err := tls.LoadX509KeyPair(caFile, keyFile)
	require.NoError(t, err)

	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{cert}})))
	hs := health.NewServer()
	hs.SetServingStatus("temporal.api.workflowservice.v1.WorkflowService", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	workflowservice.RegisterWorkflowServiceServer(srv, systemInfoOnly{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	dial := func(vars map[string]string) error {
		cfg, err := parseConfig("worker", nil, env(vars), io.Discard)
		require.NoError(t, err)
		conn, creds, err := cfg.temporalConnection()
		require.NoError(t, err)
		c, err := client.Dial(client.Options{HostPort: lis.Addr().String(), ConnectionOptions: conn, Credentials: creds})
		if err == nil {
			c.Close()
		}
		return err
	}
	require.NoError(t, dial(map[string]string{"HERALD_TEMPORAL_CA_FILE": caFile, "HERALD_TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}))
	require.ErrorContains(t, dial(map[string]string{"HERALD_TEMPORAL_CA_FILE": caFile}), "certificate",
		"the certificate names temporal.internal, not 127.0.0.1")
	require.Error(t, dial(map[string]string{"HERALD_TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}), "a CA the client does not trust")
	require.Error(t, dial(nil), "plaintext to a TLS endpoint")
}
