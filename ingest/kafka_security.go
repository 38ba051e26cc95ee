package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// KafkaSecurity is how Herald's connections to the brokers are encrypted
// and authenticated: TLS (with the system's roots, or the CA file's) and
// SASL PLAIN or SCRAM — what Amazon MSK, Confluent Cloud, Aiven or a
// self-run cluster with listeners secured ask for. The zero value is
// plaintext without authentication (the embedded dev broker).
type KafkaSecurity struct {
	TLS bool
	// CAFile is a PEM file of the CAs that sign the brokers' certificates;
	// empty uses the system's roots. Setting it turns TLS on.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key (PEM) for
	// brokers that authenticate clients by certificate (mutual TLS, e.g.
	// MSK's or a self-run cluster's ssl.client.auth=required); together or
	// not at all. Setting them turns TLS on.
	CertFile, KeyFile string
	// SASLMechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLMechanism string
	Username      string
	Password      string
}

// Check reads the settings as apply does (the CA file included), so that a
// mistake stops a role before it connects to anything.
func (s KafkaSecurity) Check() error {
	return s.apply(sarama.NewConfig())
}

// PlainTextPassword says whether the password would cross the network
// unencrypted (SASL PLAIN without TLS).
func (s KafkaSecurity) PlainTextPassword() bool {
	return strings.EqualFold(strings.TrimSpace(s.SASLMechanism), sarama.SASLTypePlaintext) && !s.usesTLS()
}

func (s KafkaSecurity) usesTLS() bool {
	return s.TLS || s.CAFile != "" || s.CertFile != "" || s.KeyFile != ""
}

// apply sets the security of a sarama configuration.
func (s KafkaSecurity) apply(cfg *sarama.Config) error {
	if s.usesTLS() {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.CAFile != "" {
			var err error
			if tc.RootCAs, err = ReadCAFile(s.CAFile); err != nil {
				return fmt.Errorf("kafka CA file: %w", err)
			}
		}
		if (s.CertFile == "") != (s.KeyFile == "") {
			return errors.New("kafka client certificate: the certificate file and the key file go together (mutual TLS)")
		}
		if s.CertFile != "" {
			get := ClientCertificate(s.CertFile, s.KeyFile)
			if _, err := get(nil); err != nil {
				return fmt.Errorf("kafka %w", err)
			}
			tc.GetClientCertificate = get
		}
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	}
	mech := strings.ToUpper(strings.TrimSpace(s.SASLMechanism))
	if mech == "" {
		if s.Username != "" {
			return errors.New("kafka SASL: a username without a mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return nil
	}
	if s.Username == "" {
		return fmt.Errorf("kafka SASL %s: the username is missing", mech)
	}
	cfg.Net.SASL.Enable, cfg.Net.SASL.Handshake = true, true
	cfg.Net.SASL.User, cfg.Net.SASL.Password = s.Username, s.Password
	switch mech {
	case sarama.SASLTypePlaintext:
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case sarama.SASLTypeSCRAMSHA256:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case sarama.SASLTypeSCRAMSHA512:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	default:
		return fmt.Errorf("kafka SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.SASLMechanism)
	}
	return nil
}

// ReadCAFile reads a PEM file of CA certificates (a Kafka or Temporal
// server's private CA) into a pool.
func ReadCAFile(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, FileError(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// ClientCertificate reads the client certificate and key (PEM files) at
// each TLS handshake, so that a certificate renewed on disk (cert-manager,
// a short-lived CA) is used from the next connection on without a restart.
func ClientCertificate(certFile, keyFile string) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", FileError(err))
		}
		return &cert, nil
	}
}

// FileError is err from reading a file a setting names, without the name
// when it looks like the file's contents (a PEM key pasted into the
// variable instead of its path): a key must not reach the logs.
func FileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && (strings.ContainsAny(pe.Path, "\n\r") || strings.Contains(pe.Path, "-----BEGIN")) {
		return fmt.Errorf("%s (not shown: it looks like a PEM file's contents, and the setting takes the file's path): %w", pe.Op, pe.Err)
	}
	return err
}

// scramClient is sarama's SCRAM conversation on xdg-go/scram.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *scramClient) Done() bool { return c.conv.Done() }
