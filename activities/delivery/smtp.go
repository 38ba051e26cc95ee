package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SMTP connection security modes.
const (
	SMTPTLSNone     = "none"     // plain text
	SMTPTLSStartTLS = "starttls" // plain connect, then STARTTLS (required, never skipped)
	SMTPTLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// SMTPConfig configures email through an SMTP server (a relay or a
// provider's SMTP endpoint). Loopback hosts are allowed: a local relay is
// common.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string // no authentication when empty
	Password string
	TLS      string // SMTPTLSNone, SMTPTLSStartTLS or SMTPTLSImplicit
	// TLSConfig is the base TLS configuration (for example RootCAs for a
	// private CA); ServerName defaults to Host.
	TLSConfig *tls.Config
	// LocalName is the name sent with EHLO (default "localhost").
	LocalName string
	// Timeout bounds one send, connection included (default 30 s).
	Timeout time.Duration
}

// SMTP sends email over SMTP, one connection per message. Safe for
// concurrent use.
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP builds an SMTP provider from its settings.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, permanentf(ReasonConfig, "smtp settings have no host")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, permanentf(ReasonConfig, "smtp port %d is out of range", cfg.Port)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = SMTPTLSStartTLS
	case SMTPTLSNone, SMTPTLSStartTLS, SMTPTLSImplicit:
	default:
		return nil, permanentf(ReasonConfig, "smtp tls mode %q is not none, starttls or tls", cfg.TLS)
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTP{cfg: cfg}, nil
}

// Send delivers one email. A 5xx reply is permanent, a 4xx reply and any
// connection failure transient. The result's provider id is the
// Message-ID header, derived from the message id.
func (s *SMTP) Send(ctx context.Context, m Message) (Result, error) {
	if err := m.validateFor(ChannelEmail, "smtp"); err != nil {
		return Result{}, err
	}
	msgID := smtpMessageID(m)
	raw, err := buildMIME(m, msgID, time.Now())
	if err != nil {
		return Result{}, fmt.Errorf("build email: %w", err)
	}
	if err := s.deliver(ctx, addressOnly(m.Email.From), addressOnly(m.Email.To), raw); err != nil {
		return Result{}, fmt.Errorf("send email via smtp: %w", err)
	}
	return Result{Provider: "smtp", ProviderMessageID: msgID}, nil
}

// deliver runs one SMTP transaction.
func (s *SMTP) deliver(ctx context.Context, from, to string, raw []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	tlsCfg := s.tlsConfig()

	var conn net.Conn
	var err error
	if s.cfg.TLS == SMTPTLSImplicit {
		conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return classifyTransport(fmt.Errorf("connect to %s: %w", addr, err))
	}
	// net/smtp has no context: the deadline and a closer stand in for it.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return classifySMTP(ctx, "read greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return classifySMTP(ctx, "ehlo", err)
	}
	if s.cfg.TLS == SMTPTLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanentf(ReasonConfig, "smtp server %s does not offer STARTTLS", addr)
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return classifySMTP(ctx, "starttls", err)
		}
	}
	if s.cfg.Username != "" {
		auth, err := s.auth(c)
		if err != nil {
			return err
		}
		if err := c.Auth(auth); err != nil {
			return classifySMTP(ctx, "authenticate", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return classifySMTP(ctx, "mail from", err)
	}
	if err := c.Rcpt(to); err != nil {
		return classifySMTP(ctx, "rcpt to", err)
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP(ctx, "data", err)
	}
	if _, err := w.Write(raw); err != nil {
		return classifySMTP(ctx, "write message", err)
	}
	if err := w.Close(); err != nil {
		var reply *textproto.Error
		if !errors.As(err, &reply) {
			// The end of the message may have reached the server, which
			// then queued it before the answer was lost.
			return &UnknownOutcomeError{Err: classifySMTP(ctx, "end message", err)}
		}
		return classifySMTP(ctx, "end message", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		cfg = s.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.cfg.Host
	}
	return cfg
}

// auth picks PLAIN or LOGIN, whichever the server offers.
func (s *SMTP) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return nil, permanentf(ReasonConfig, "smtp server does not offer authentication")
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	switch {
	case slices.Contains(offered, "PLAIN"):
		return plainAuth{s.cfg.Username, s.cfg.Password}, nil
	case slices.Contains(offered, "LOGIN"):
		return &loginAuth{user: s.cfg.Username, pass: s.cfg.Password}, nil
	}
	return nil, permanentf(ReasonConfig, "smtp server offers neither PLAIN nor LOGIN authentication (%s)", mechs)
}

// plainAuth is SASL PLAIN (RFC 4616). Unlike net/smtp's, it does not
// second-guess the operator's choice of TLS mode.
type plainAuth struct{ user, pass string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge")
	}
	return nil, nil
}

// loginAuth is the LOGIN mechanism some servers offer instead of PLAIN.
type loginAuth struct {
	user, pass string
	step       int
}

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.user), nil
	case 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected server challenge")
}

// classifySMTP sorts the failure of one SMTP step: 5xx replies are
// permanent (a 5xx to RCPT TO means the recipient does not exist, 535 bad
// credentials…), 4xx replies and broken connections transient.
func classifySMTP(ctx context.Context, step string, err error) error {
	err = fmt.Errorf("%s: %w", step, err)
	var reply *textproto.Error
	if !errors.As(err, &reply) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return classifyTransport(err)
	}
	switch {
	case reply.Code == 530 || reply.Code == 534 || reply.Code == 535:
		return &PermanentError{Reason: ReasonAuth, Err: err}
	case reply.Code >= 500 && step == "rcpt to":
		return &PermanentError{Reason: ReasonInvalidRecipient, Err: err}
	case reply.Code >= 500:
		return &PermanentError{Reason: ReasonRejected, Err: err}
	}
	return &TransientError{Reason: ReasonUnavailable, Err: err}
}

// smtpMessageID is the Message-ID header of m: the message id at the
// sender's domain, so a repeat send carries the same id.
func smtpMessageID(m Message) string {
	domain := "herald.invalid"
	if a, err := mail.ParseAddress(m.Email.From); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			domain = a.Address[at+1:]
		}
	}
	local := strings.Map(func(r rune) rune {
		if r < '!' || r > '~' || strings.ContainsRune(`<>@"\()[],;:`, r) {
			return '.'
		}
		return r
	}, m.ID)
	return "<" + local + "@" + domain + ">"
}

// buildMIME writes the whole message: headers, then text and html as
// multipart/alternative (or the one part there is), quoted-printable.
func buildMIME(m Message, msgID string, now time.Time) ([]byte, error) {
	e := m.Email
	var buf bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	header("From", formatAddress(e.From))
	header("To", formatAddress(e.To))
	if e.ReplyTo != "" {
		header("Reply-To", formatAddress(e.ReplyTo))
	}
	header("Subject", mime.QEncoding.Encode("utf-8", e.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	for _, h := range e.extraHeaders() {
		header(h[0], mime.QEncoding.Encode("utf-8", h[1]))
	}

	parts := [][2]string{}
	if e.Text != "" {
		parts = append(parts, [2]string{"text/plain; charset=utf-8", e.Text})
	}
	if e.HTML != "" {
		parts = append(parts, [2]string{"text/html; charset=utf-8", e.HTML})
	}
	if len(parts) == 1 {
		header("Content-Type", parts[0][0])
		header("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, parts[0][1]); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}

	mw := multipart.NewWriter(&buf) // random boundary
	header("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	buf.WriteString("\r\n")
	for _, p := range parts {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p[0]},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("create mime part: %w", err)
		}
		if err := writeQP(pw, p[1]); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("close multipart: %w", err)
	}
	return buf.Bytes(), nil
}

func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("encode body: %w", err)
	}
	return nil
}
