package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "temporal.internal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"temporal.internal"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	require.NoError(t, err)
	caFile := filepath.Join(dir, "temporal.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))

	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})))
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
