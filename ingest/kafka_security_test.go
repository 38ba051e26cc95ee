package ingest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/ingest"
)

// TestKafkaOverTLSWithSASL: a broker that takes only TLS connections
// authenticated by SASL (SCRAM-SHA-512 and PLAIN users, as MSK or Confluent
// ask for) — Herald's client connects with the CA file and the right
// password, and is refused with a wrong one, without TLS, or with an
// unknown mechanism.
func TestKafkaOverTLSWithSASL(t *testing.T) {
	dir := t.TempDir()
	caFile, serverTLS := selfSignedTLS(t, dir)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(serverTLS), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "herald", "s3cret"), kfake.Superuser("PLAIN", "plain", "pw"),
		kfake.SeedTopics(3, "herald.events"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()

	for _, sec := range []ingest.KafkaSecurity{
		{CAFile: caFile, SASLMechanism: "SCRAM-SHA-512", Username: "herald", Password: "s3cret"},
		{TLS: true, CAFile: caFile, SASLMechanism: "plain", Username: "plain", Password: "pw"},
	} {
		c, err := ingest.NewClient(brokers, sec)
		require.NoError(t, err, sec.SASLMechanism)
		require.NoError(t, ingest.Ping(c, "herald.events"))
		require.NoError(t, c.Close())
		p, err := ingest.NewProducer(brokers, "herald.events", sec)
		require.NoError(t, err)
		require.NoError(t, p.Produce(context.Background(), ingest.Message{Key: "ws:u1", Value: []byte(`{}`)}))
		require.NoError(t, p.Close())
	}

	for name, sec := range map[string]ingest.KafkaSecurity{
		"wrong password": {CAFile: caFile, SASLMechanism: "SCRAM-SHA-512", Username: "herald", Password: "nope"},
		"no TLS":         {SASLMechanism: "SCRAM-SHA-512", Username: "herald", Password: "s3cret"},
		"CA not trusted": {TLS: true, SASLMechanism: "SCRAM-SHA-512", Username: "herald", Password: "s3cret"},
	} {
		c, err := ingest.NewClient(brokers, sec)
		if err == nil {
			err = ingest.Ping(c, "herald.events")
			c.Close()
		}
		require.Error(t, err, name)
	}
	_, err = ingest.NewClient(brokers, ingest.KafkaSecurity{SASLMechanism: "GSSAPI", Username: "x"})
	require.ErrorContains(t, err, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	_, err = ingest.NewClient(brokers, ingest.KafkaSecurity{Username: "x"})
	require.ErrorContains(t, err, "without a mechanism")
	_, err = ingest.NewClient(brokers, ingest.KafkaSecurity{CAFile: filepath.Join(dir, "missing.pem")})
	require.ErrorContains(t, err, "kafka CA file")
}

// selfSignedTLS writes a CA certificate to dir and returns its file and a
// server TLS configuration whose certificate it signed, for 127.0.0.1.
func selfSignedTLS(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return caFile, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}
}
