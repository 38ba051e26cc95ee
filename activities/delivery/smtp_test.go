package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message as the test SMTP server got it.
type received struct {
	from, to, user string
	tls            bool
	data           []byte
}

// smtpBackend is a real SMTP server's backend that keeps what it is sent.
type smtpBackend struct {
	mechanism string // sasl.Plain or sasl.Login
	rcptErr   error  // answer to RCPT TO
	dataErr   error  // answer to the end of DATA
	mu        sync.Mutex
	got       []received
}

// messages returns what the server accepted so far.
func (b *smtpBackend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.got...)
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &smtpSession{b: b, cur: received{tls: isTLS}}, nil
}

type smtpSession struct {
	b   *smtpBackend
	cur received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{s.b.mechanism} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != "mailer" || pass != "s3cret" {
			return smtp.ErrAuthFailed
		}
		s.cur.user = user
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.cur.from = from; return nil }

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = to
	return s.b.rcptErr
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.dataErr != nil {
		return s.b.dataErr
	}
	s.cur.data = data
	s.b.mu.Lock()
	s.b.got = append(s.b.got, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(response))
}

// startSMTP runs a real SMTP server on loopback. mode is the SMTPConfig
// TLS mode it serves.
func startSMTP(t *testing.T, b *smtpBackend, mode string, cert testCert) int {
	t.Helper()
	if b.mechanism == "" {
		b.mechanism = sasl.Plain
	}
	s := smtp.NewServer(b)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 5*time.Second, 5*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert.tls}}
	switch mode {
	case SMTPTLSNone:
		s.AllowInsecureAuth = true
	case SMTPTLSStartTLS:
		s.TLSConfig = tlsCfg // AUTH is refused until STARTTLS
	case SMTPTLSImplicit:
		l = tls.NewListener(l, tlsCfg)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func newTestSMTP(t *testing.T, port int, mode string, cert testCert) *SMTP {
	t.Helper()
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, Username: "mailer", Password: "s3cret", TLS: mode,
		TLSConfig: &tls.Config{RootCAs: cert.pool}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPDeliversMIME(t *testing.T) {
	cert := newTestCert(t, "127.0.0.1")
	for _, c := range []struct{ mode, mechanism string }{
		{SMTPTLSNone, sasl.Plain}, {SMTPTLSStartTLS, sasl.Plain}, {SMTPTLSImplicit, sasl.Plain}, {SMTPTLSStartTLS, sasl.Login},
	} {
		t.Run(c.mode+"/"+c.mechanism, func(t *testing.T) {
			b := &smtpBackend{mechanism: c.mechanism}
			s := newTestSMTP(t, startSMTP(t, b, c.mode, cert), c.mode, cert)
			m := emailMessage()
			res, err := s.Send(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if res.Provider != "smtp" || res.ProviderMessageID != "<m-0123abcd@acme.io>" {
				t.Errorf("result %+v", res)
			}
			msgs := b.messages()
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages", len(msgs))
			}
			got := msgs[0]
			if got.from != "hi@acme.io" || got.to != "jo@example.com" || got.user != "mailer" || got.tls != (c.mode != SMTPTLSNone) {
				t.Errorf("envelope %s -> %s, user %q, tls %v", got.from, got.to, got.user, got.tls)
			}
			checkMIME(t, got.data, m)
		})
	}
}

// checkMIME reads the message as a mail client would.
func checkMIME(t *testing.T, data []byte, m Message) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(h.Get("Subject"))
	from, _ := h.AddressList("From")
	to, _ := h.AddressList("To")
	if subject != m.Email.Subject || len(from) != 1 || from[0].Name != "Acme Café" || from[0].Address != "hi@acme.io" ||
		len(to) != 1 || to[0].Address != "jo@example.com" || h.Get("Reply-To") != "<help@acme.io>" {
		t.Errorf("headers: subject %q from %v to %v reply-to %q", subject, from, to, h.Get("Reply-To"))
	}
	for k, v := range map[string]string{
		"Message-Id": "<m-0123abcd@acme.io>", "Mime-Version": "1.0", "X-Campaign": "welcome",
		"List-Unsubscribe":      "<https://herald.example/t/unsubscribe/tok>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	} {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("date %q: %v", h.Get("Date"), err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", h.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p) // quoted-printable is decoded by the reader
		parts[p.Header.Get("Content-Type")] = string(body)
	}
	if parts["text/plain; charset=utf-8"] != m.Email.Text || parts["text/html; charset=utf-8"] != m.Email.HTML {
		t.Errorf("parts %q", parts)
	}
}

func TestSMTPSinglePartAndDotLines(t *testing.T) {
	cert := newTestCert(t, "127.0.0.1")
	b := &smtpBackend{}
	s := newTestSMTP(t, startSMTP(t, b, SMTPTLSNone, cert), SMTPTLSNone, cert)
	m := emailMessage()
	m.Email.HTML, m.Email.Text = "", "line one\n.\nlast line with ünïcode and a very long tail "+strings.Repeat("x", 120)
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(b.messages()[0].data)))
	if err != nil {
		t.Fatal(err)
	}
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("content type %q", ct)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	// SMTP ends the data with a line break; the text's own become CRLF.
	if want := strings.ReplaceAll(m.Email.Text, "\n", "\r\n") + "\r\n"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

func TestSMTPErrors(t *testing.T) {
	cert := newTestCert(t, "127.0.0.1")
	unknownUser := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	tryLater := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	spam := &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message rejected"}

	cases := []struct {
		name      string
		b         *smtpBackend
		permanent bool
		reason    string
	}{
		{"550 on rcpt", &smtpBackend{rcptErr: unknownUser}, true, ReasonInvalidRecipient},
		{"554 on data", &smtpBackend{dataErr: spam}, true, ReasonRejected},
		{"451 on data", &smtpBackend{dataErr: tryLater}, false, ReasonUnavailable},
		{"451 on rcpt", &smtpBackend{rcptErr: tryLater}, false, ReasonUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTestSMTP(t, startSMTP(t, c.b, SMTPTLSNone, cert), SMTPTLSNone, cert)
			_, err := s.Send(context.Background(), emailMessage())
			if c.permanent {
				wantPermanent(t, err, c.reason)
			} else {
				wantTransient(t, err, c.reason)
			}
		})
	}

	t.Run("bad password", func(t *testing.T) {
		port := startSMTP(t, &smtpBackend{}, SMTPTLSStartTLS, cert)
		s, _ := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, Username: "mailer", Password: "wrong",
			TLS: SMTPTLSStartTLS, TLSConfig: &tls.Config{RootCAs: cert.pool}})
		_, err := s.Send(context.Background(), emailMessage())
		wantPermanent(t, err, ReasonAuth)
	})
	t.Run("starttls required but not offered", func(t *testing.T) {
		s := newTestSMTP(t, startSMTP(t, &smtpBackend{}, SMTPTLSNone, cert), SMTPTLSStartTLS, cert)
		_, err := s.Send(context.Background(), emailMessage())
		wantPermanent(t, err, ReasonConfig)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		port := startSMTP(t, &smtpBackend{}, SMTPTLSImplicit, cert)
		s, _ := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, TLS: SMTPTLSImplicit})
		_, err := s.Send(context.Background(), emailMessage())
		wantTransient(t, err, ReasonNetwork)
	})
	t.Run("nobody listening", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		_, err := newTestSMTP(t, port, SMTPTLSNone, cert).Send(context.Background(), emailMessage())
		wantTransient(t, err, ReasonNetwork)
	})
	t.Run("header injection", func(t *testing.T) {
		b := &smtpBackend{}
		s := newTestSMTP(t, startSMTP(t, b, SMTPTLSNone, cert), SMTPTLSNone, cert)
		m := emailMessage()
		m.Email.Subject = "Hi\r\nBcc: everyone@example.com"
		_, err := s.Send(context.Background(), m)
		wantPermanent(t, err, ReasonHeaderInjection)
		if len(b.messages()) != 0 {
			t.Error("an injected message reached the server")
		}
	})
}

func TestSMTPConfig(t *testing.T) {
	for _, cfg := range []SMTPConfig{{Port: 25}, {Host: "mail", Port: 0}, {Host: "mail", Port: 25, TLS: "ssl"}} {
		_, err := NewSMTP(cfg)
		wantPermanent(t, err, ReasonConfig)
	}
}
