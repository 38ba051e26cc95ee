package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedenceFlagsOverEnvOverDefaults(t *testing.T) {
	cfg, err := parseConfig("api", []string{"--http-addr", "0.0.0.0:9000"}, env(map[string]string{
		"HERALD_HTTP_ADDR":        "127.0.0.1:1",
		"HERALD_KAFKA_BROKERS":    "k1:9092, k2:9092",
		"HERALD_SHUTDOWN_TIMEOUT": "5s",
	}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:9000", cfg.HTTPAddr)
	require.Equal(t, []string{"k1:9092", "k2:9092"}, cfg.brokers())
	require.Equal(t, 5*time.Second, cfg.ShutdownTimeout)
	require.Equal(t, ".herald", cfg.DataDir)
	require.Equal(t, "herald.events", cfg.KafkaTopic)
	require.Equal(t, "http://0.0.0.0:9000", cfg.PublicURL)
}

func TestConfigRejectsBadValues(t *testing.T) {
	_, err := parseConfig("api", nil, env(map[string]string{"HERALD_KAFKA_PARTITIONS": "many"}), io.Discard)
	require.ErrorContains(t, err, "HERALD_KAFKA_PARTITIONS")
	_, err = parseConfig("api", nil, env(map[string]string{"HERALD_LOG_FORMAT": "xml"}), io.Discard)
	require.ErrorContains(t, err, "log format")
	_, err = parseConfig("api", nil, env(map[string]string{"HERALD_LOG_LEVEL": "verbose"}), io.Discard)
	require.ErrorContains(t, err, "log level")
	for _, v := range []string{"-1ms", "2s"} {
		_, err = parseConfig("ingest", nil, env(map[string]string{"HERALD_INGEST_LINGER": v}), io.Discard)
		require.ErrorContains(t, err, "ingest linger", v)
	}
	cfg, err := parseConfig("ingest", nil, env(map[string]string{"HERALD_INGEST_LINGER": "0"}), io.Discard)
	require.NoError(t, err)
	require.Zero(t, cfg.IngestLinger)
	for _, v := range []string{"-1", "65", "two"} {
		_, err = parseConfig("ingest", nil, env(map[string]string{"HERALD_INGEST_APPLIERS": v}), io.Discard)
		require.ErrorContains(t, err, "APPLIERS", v)
	}
	cfg, err = parseConfig("ingest", nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 4, cfg.IngestAppliers)
	for _, key := range []string{"notbase64!!", "c2hvcnQ=", "c2VjcmV0LWtleS1ieXRlcw=="} {
		_, err = parseConfig("api", nil, env(map[string]string{"HERALD_ENCRYPTION_KEY": key}), io.Discard)
		require.ErrorContains(t, err, "HERALD_ENCRYPTION_KEY: want the base64 of 32 random bytes", key)
		require.NotContains(t, err.Error(), key, "the key is not echoed")
	}
	_, err = parseConfig("api", []string{"--nope"}, env(nil), io.Discard)
	require.Error(t, err)
	_, err = parseConfig("api", []string{"extra"}, env(nil), io.Discard)
	require.ErrorContains(t, err, "unexpected argument")
}

func TestConfigPrintMasksSecrets(t *testing.T) {
	cfg, err := parseConfig("api", nil, env(map[string]string{
		"HERALD_DATABASE_URL":   "postgres://herald:hunter2@db:5432/herald",
		"HERALD_ENCRYPTION_KEY": "Gp5yTrVTFaXxRMCoS5hVScs4fZCM0Rj2xQxKNEgI6IY=",
	}), io.Discard)
	require.NoError(t, err)
	var out bytes.Buffer
	cfg.print(&out)
	require.NotContains(t, out.String(), "hunter2")
	require.NotContains(t, out.String(), "Gp5yTrVTFaXxRMCoS5hVScs4fZCM0Rj2xQxKNEgI6IY=")
	require.Contains(t, out.String(), "postgres://herald:xxxxx@db:5432/herald")
	require.Contains(t, out.String(), "HERALD_ENCRYPTION_KEY")
}

// Every form of a Postgres connection string keeps its password out.
func TestRedactURLMasksEveryPasswordForm(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://herald:S3cret@db:5432/herald":                       "postgres://herald:xxxxx@db:5432/herald",
		"postgres://db:5432/herald?user=herald&password=S3cret":         "postgres://db:5432/herald?password=xxxxx&user=herald",
		"postgresql://db/herald?sslmode=require":                        "postgresql://db/herald?sslmode=require",
		"host=db port=5432 user=herald password=S3cret dbname=herald":   "host=db port=5432 user=herald password=xxxxx dbname=herald",
		"host=db password = 'S3 cr\\'et' dbname=herald":                 "host=db password = xxxxx dbname=herald",
		"host=db dbname=herald":                                         "host=db dbname=herald",
		"postgres://herald:S3cret@db:5432/herald?password=S3cret&x=%zz": "postgres://herald:xxxxx@db:5432/herald?password=xxxxx",
		"postgres://herald:S3cret@[db/herald":                           "xxxxx (unreadable URL)",
		"":                                                              "",
	} {
		got := redactURL(in)
		require.Equal(t, want, got, in)
		require.NotContains(t, got, "S3", in)
	}
}

func TestProductionRolesNeedExternalDependencies(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"api"}, env(nil), io.Discard, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "HERALD_DATABASE_URL")
	require.Contains(t, stderr.String(), "HERALD_TEMPORAL_ADDRESS")
	require.Contains(t, stderr.String(), "HERALD_KAFKA_BROKERS")

	// The worker never uses Kafka: it does not ask for it.
	stderr.Reset()
	require.Equal(t, 1, run([]string{"worker"}, env(nil), io.Discard, &stderr))
	require.Contains(t, stderr.String(), "missing HERALD_DATABASE_URL, HERALD_TEMPORAL_ADDRESS (")

	stderr.Reset()
	require.Equal(t, 2, run([]string{"frobnicate"}, env(nil), io.Discard, &stderr))
	require.Contains(t, stderr.String(), "unknown command")

	var stdout bytes.Buffer
	require.Equal(t, 0, run(nil, env(nil), &stdout, io.Discard))
	for _, c := range []string{"api", "worker", "ingest", "migrate"} {
		require.True(t, strings.Contains(stdout.String(), "  "+c), c)
	}
}

func TestMigrateCommandRefusesUnreachableDatabase(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"migrate"}, env(map[string]string{"HERALD_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"}), io.Discard, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "ping postgres")
}

// Kafka and Temporal security settings: read, checked, and their secrets
// masked when printed.
func TestSecuritySettings(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeKeyPair(t, dir)
	cfg, err := parseConfig("api", []string{"--kafka-tls"}, env(map[string]string{
		"HERALD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "HERALD_KAFKA_USERNAME": "herald", "HERALD_KAFKA_PASSWORD": "kafka-pw-1",
		"HERALD_TEMPORAL_API_KEY": "temporal-key-1", "HERALD_TEMPORAL_CA_FILE": certFile,
	}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, ingest.KafkaSecurity{TLS: true, SASLMechanism: "SCRAM-SHA-512", Username: "herald", Password: "kafka-pw-1"}, cfg.kafkaSecurity())
	var out bytes.Buffer
	cfg.print(&out)
	require.NotContains(t, out.String(), "kafka-pw-1")
	require.NotContains(t, out.String(), "temporal-key-1")
	require.Contains(t, out.String(), "HERALD_KAFKA_TLS")

	conn, creds, err := cfg.temporalConnection()
	require.NoError(t, err)
	require.NotNil(t, conn.TLS, "an API key goes over TLS")
	require.NotNil(t, conn.TLS.RootCAs)
	require.NotNil(t, creds)

	plain, _ := parseConfig("api", nil, env(nil), io.Discard)
	conn, creds, err = plain.temporalConnection()
	require.NoError(t, err)
	require.Nil(t, conn.TLS)
	require.Nil(t, creds)

	mtls, _ := parseConfig("worker", nil, env(map[string]string{"HERALD_TEMPORAL_CERT_FILE": certFile, "HERALD_TEMPORAL_KEY_FILE": keyFile}), io.Discard)
	conn, _, err = mtls.temporalConnection()
	require.NoError(t, err)
	require.NotNil(t, conn.TLS.GetClientCertificate, "read at each handshake")
	cert, err := conn.TLS.GetClientCertificate(nil)
	require.NoError(t, err)
	require.Len(t, cert.Certificate, 1)
	require.Empty(t, conn.TLS.ServerName, "the address's host")

	named, _ := parseConfig("worker", nil, env(map[string]string{"HERALD_TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}), io.Discard)
	require.True(t, named.TemporalTLS, "a server name means TLS")
	conn, _, err = named.temporalConnection()
	require.NoError(t, err)
	require.Equal(t, "temporal.internal", conn.TLS.ServerName)

	half, _ := parseConfig("worker", nil, env(map[string]string{"HERALD_TEMPORAL_CERT_FILE": certFile}), io.Discard)
	_, _, err = half.temporalConnection()
	require.ErrorContains(t, err, "go together")
	badCA, _ := parseConfig("worker", nil, env(map[string]string{"HERALD_TEMPORAL_CA_FILE": keyFile}), io.Discard)
	_, _, err = badCA.temporalConnection()
	require.ErrorContains(t, err, "holds no PEM certificate")
	_, err = parseConfig("api", nil, env(map[string]string{"HERALD_KAFKA_TLS": "yes please"}), io.Discard)
	require.ErrorContains(t, err, "HERALD_KAFKA_TLS")
}

// writeKeyPair writes a self-signed certificate (for dnsNames, if any) and
// its key as PEM files.
func writeKeyPair(t *testing.T, dir string, dnsNames ...string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald"}, DNSNames: dnsNames,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// The flag help, printed on -h and on any flag mistake, shows no secret
// read from the environment.
func TestFlagHelpShowsNoSecrets(t *testing.T) {
	secrets := map[string]string{
		"HERALD_KAFKA_PASSWORD":   "PWhelpLEAK",
		"HERALD_TEMPORAL_API_KEY": "APIhelpLEAK",
		"HERALD_DATABASE_URL":     "postgres://herald:DBpwLEAK@db/herald",
		"HERALD_ENCRYPTION_KEY":   "Gp5yTrVTFaXxRMCoS5hVScs4fZCM0Rj2xQxKNEgI6IY=",
	}
	for _, args := range [][]string{{"-h"}, {"--kafka-brokerz", "x"}} {
		var stderr bytes.Buffer
		_, err := parseConfig("ingest", args, env(secrets), &stderr)
		require.Error(t, err)
		require.Contains(t, stderr.String(), "kafka-password")
		for _, v := range []string{"PWhelpLEAK", "APIhelpLEAK", "DBpwLEAK", "Gp5yTrVTFaXxRMCoS5hVScs4fZCM0Rj2xQxKNEgI6IY="} {
			require.NotContains(t, stderr.String(), v, "%v", args)
		}
	}
	// A CA file means TLS, and Kafka settings are checked before anything connects.
	cfg, err := parseConfig("api", nil, env(map[string]string{"HERALD_KAFKA_CA_FILE": writeCA(t)}), io.Discard)
	require.NoError(t, err)
	require.True(t, cfg.KafkaTLS)
	// So does a client certificate, which needs its key; a pair that does
	// not load stops the role.
	certFile, keyFile := writeKeyPair(t, t.TempDir())
	cfg, err = parseConfig("ingest", nil, env(map[string]string{"HERALD_KAFKA_CERT_FILE": certFile, "HERALD_KAFKA_KEY_FILE": keyFile}), io.Discard)
	require.NoError(t, err)
	require.True(t, cfg.KafkaTLS)
	_, err = parseConfig("ingest", nil, env(map[string]string{"HERALD_KAFKA_CERT_FILE": certFile}), io.Discard)
	require.ErrorContains(t, err, "HERALD_KAFKA_CERT_FILE and HERALD_KAFKA_KEY_FILE go together")
	_, err = parseConfig("ingest", nil, env(map[string]string{"HERALD_KAFKA_CERT_FILE": certFile, "HERALD_KAFKA_KEY_FILE": certFile}), io.Discard)
	require.ErrorContains(t, err, "kafka client certificate")
	// A key pasted into the variable instead of its path is not echoed.
	pasted := "-----BEGIN EC PRIVATE KEY-----\nTOPSECRETKEYBYTES\n-----END EC PRIVATE KEY-----"
	_, err = parseConfig("ingest", nil, env(map[string]string{"HERALD_KAFKA_CERT_FILE": certFile, "HERALD_KAFKA_KEY_FILE": pasted}), io.Discard)
	require.ErrorContains(t, err, "takes the file's path")
	require.NotContains(t, err.Error(), "TOPSECRETKEYBYTES")
	_, err = parseConfig("ingest", nil, env(map[string]string{"HERALD_KAFKA_CA_FILE": pasted}), io.Discard)
	require.NotContains(t, err.Error(), "TOPSECRETKEYBYTES")
	tcfg, _ := parseConfig("worker", nil, env(map[string]string{"HERALD_TEMPORAL_CERT_FILE": certFile, "HERALD_TEMPORAL_KEY_FILE": pasted}), io.Discard)
	_, _, err = tcfg.temporalConnection()
	require.ErrorContains(t, err, "takes the file's path")
	require.NotContains(t, err.Error(), "TOPSECRETKEYBYTES")
	// Roles that do not dial Kafka (the migrate job, the worker) start
	// without its files.
	for _, role := range []string{"migrate", "worker"} {
		_, err = parseConfig(role, nil, env(map[string]string{"HERALD_KAFKA_CERT_FILE": "/nowhere/cert.pem", "HERALD_KAFKA_KEY_FILE": "/nowhere/key.pem"}), io.Discard)
		require.NoError(t, err, role)
	}
	_, err = parseConfig("api", nil, env(map[string]string{"HERALD_KAFKA_SASL_MECHANISM": "GSSAPI", "HERALD_KAFKA_USERNAME": "x"}), io.Discard)
	require.ErrorContains(t, err, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	require.True(t, ingest.KafkaSecurity{SASLMechanism: "plain", Username: "u"}.PlainTextPassword())
	require.False(t, ingest.KafkaSecurity{SASLMechanism: "PLAIN", Username: "u", TLS: true}.PlainTextPassword())
}

// writeCA writes a CA certificate and returns its file.
func writeCA(t *testing.T) string {
	t.Helper()
	cert, _ := writeKeyPair(t, t.TempDir())
	return cert
}
