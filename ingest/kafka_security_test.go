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
		requireConnects(t, brokers, sec)
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

// TestKafkaWithClientCertificate: a broker that requires a client
// certificate signed by its CA (mutual TLS, no SASL) takes Herald's client
// with the certificate and key files and refuses it without them; a
// certificate without its key, or files that are not a key pair, are
// refused before connecting.
func TestKafkaWithClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	serverTLS := ca.serverTLS(t)
	serverTLS.ClientAuth = tls.RequireAndVerifyClientCert
	serverTLS.ClientCAs = x509.NewCertPool()
	serverTLS.ClientCAs.AddCert(ca.cert)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(serverTLS), kfake.SeedTopics(3, "herald.events"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	certFile, keyFile := ca.clientFiles(t, dir)

	requireConnects(t, brokers, ingest.KafkaSecurity{CAFile: ca.file, CertFile: certFile, KeyFile: keyFile})

	c, err := ingest.NewClient(brokers, ingest.KafkaSecurity{CAFile: ca.file})
	if err == nil {
		err = ingest.Ping(c, "herald.events")
		c.Close()
	}
	require.Error(t, err, "no client certificate")

	// The files are read when a connection is made: a certificate from
	// another CA put in their place is refused by the broker.
	newTestCA(t, t.TempDir()).clientFiles(t, dir)
	c, err = ingest.NewClient(brokers, ingest.KafkaSecurity{CAFile: ca.file, CertFile: certFile, KeyFile: keyFile})
	if err == nil {
		err = ingest.Ping(c, "herald.events")
		c.Close()
	}
	require.Error(t, err, "a client certificate the broker's CA did not sign")
	ca.clientFiles(t, dir)
	requireConnects(t, brokers, ingest.KafkaSecurity{CAFile: ca.file, CertFile: certFile, KeyFile: keyFile})

	_, err = ingest.NewClient(brokers, ingest.KafkaSecurity{CAFile: ca.file, CertFile: certFile})
	require.ErrorContains(t, err, "go together")
	_, err = ingest.NewClient(brokers, ingest.KafkaSecurity{CAFile: ca.file, CertFile: certFile, KeyFile: ca.file})
	require.ErrorContains(t, err, "kafka client certificate")
	require.False(t, ingest.KafkaSecurity{CertFile: certFile, KeyFile: keyFile, SASLMechanism: "PLAIN"}.PlainTextPassword(),
		"a client certificate means TLS")
}

// TestClientCertificateIsReadAtEachHandshake: a renewed certificate on
// disk is what the next handshake presents, without a restart.
func TestClientCertificateIsReadAtEachHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	certFile, keyFile := ca.clientFiles(t, dir)
	get := ingest.ClientCertificate(certFile, keyFile)
	first, err := get(nil)
	require.NoError(t, err)
	ca.clientFiles(t, dir) // renewed: a new key pair in the same files
	second, err := get(nil)
	require.NoError(t, err)
	require.NotEqual(t, first.Certificate[0], second.Certificate[0])
	require.NoError(t, os.Remove(keyFile))
	_, err = get(nil)
	require.ErrorContains(t, err, "client certificate")
}

// requireConnects checks that a client with sec reads the brokers'
// metadata and that a producer with sec gets an event acknowledged.
func requireConnects(t *testing.T, brokers []string, sec ingest.KafkaSecurity) {
	t.Helper()
	c, err := ingest.NewClient(brokers, sec)
	require.NoError(t, err, sec.SASLMechanism)
	require.NoError(t, ingest.Ping(c, "herald.events"))
	require.NoError(t, c.Close())
	p, err := ingest.NewProducer(brokers, "herald.events", sec)
	require.NoError(t, err)
	require.NoError(t, p.Produce(context.Background(), ingest.Message{Key: "ws:u1", Value: []byte(`{}`)}))
	require.NoError(t, p.Close())
}

// testCA is a certificate authority for a test's brokers and clients.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

// newTestCA writes a new CA's certificate to dir.
func newTestCA(t *testing.T, dir string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	file := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return testCA{cert: cert, key: key, file: file}
}

// sign issues a certificate for the template's names with a new key.
func (ca testCA) sign(t *testing.T, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return der, key
}

// serverTLS is a broker's TLS configuration for 127.0.0.1, signed by ca.
func (ca testCA) serverTLS(t *testing.T) *tls.Config {
	der, key := ca.sign(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// clientFiles writes a client certificate signed by ca and its key to dir.
func (ca testCA) clientFiles(t *testing.T, dir string) (certFile, keyFile string) {
	der, key := ca.sign(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "herald"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// selfSignedTLS writes a CA certificate to dir and returns its file and a
// server TLS configuration whose certificate it signed, for 127.0.0.1.
func selfSignedTLS(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	ca := newTestCA(t, dir)
	return ca.file, ca.serverTLS(t)
}
