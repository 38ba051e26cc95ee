package delivery

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wantUnknownOutcome fails unless err says the provider may have the message.
func wantUnknownOutcome(t testing.TB, err error) {
	t.Helper()
	if !IsUnknownOutcome(err) || IsPermanent(err) || ReasonOf(err) != ReasonOutcomeUnknown {
		t.Fatalf("error %v: unknown outcome=%v permanent=%v reason=%q, want outcome unknown", err, IsUnknownOutcome(err), IsPermanent(err), ReasonOf(err))
	}
}

// silentServer reads each request whole, counts it, and then either holds
// it until the caller gives up (hold) or closes the connection unanswered.
func silentServer(t *testing.T, hold bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		got.Add(1)
		if hold {
			<-r.Context().Done()
			return
		}
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func TestSESWithoutAnAnswerHasAnUnknownOutcome(t *testing.T) {
	for _, hold := range []bool{true, false} {
		srv, got := silentServer(t, hold)
		s, err := NewSES(context.Background(), SESConfig{Region: "eu-west-1", AccessKeyID: "a", SecretAccessKey: "b",
			Endpoint: srv.URL, Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Send(context.Background(), emailMessage())
		wantUnknownOutcome(t, err)
		if got.Load() != 1 {
			t.Fatalf("hold %v: SES got %d calls, want 1 (no retry of an unanswered call)", hold, got.Load())
		}
	}
}

func TestTwilioWithoutAnAnswerHasAnUnknownOutcome(t *testing.T) {
	srv, got := silentServer(t, false)
	tw, err := NewTwilio(TwilioConfig{AccountSID: testAccountSID, AuthToken: testAuthToken,
		Transport: redirectTransport{target: mustParseURL(t, srv.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tw.Send(context.Background(), smsMessage())
	wantUnknownOutcome(t, err)
	if got.Load() != 1 {
		t.Fatalf("Twilio got %d calls, want 1", got.Load())
	}
}

// A webhook carries an Idempotency-Key, so an unanswered call stays a
// transient failure the retry sends again.
func TestWebhookWithoutAnAnswerIsRetried(t *testing.T) {
	srv, _ := silentServer(t, false)
	w := NewWebhookSender(WebhookConfig{AllowHosts: []string{"127.0.0.1"}, Timeout: time.Second})
	_, err := w.Send(context.Background(), webhookMessage(srv.URL+"/hook"))
	wantTransient(t, err, ReasonNetwork)
	if IsUnknownOutcome(err) {
		t.Fatal("a webhook is safe to send again")
	}
}

// rawSMTP answers an SMTP client by hand and closes the connection after
// cutAfter: "RCPT" (before any data) or "." (the whole message received,
// no answer to it).
func rawSMTP(t *testing.T, cutAfter string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		say := func(s string) { _, _ = io.WriteString(conn, s+"\r\n") }
		say("220 localhost ready")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				say("250 localhost")
			case strings.HasPrefix(cmd, "MAIL"):
				say("250 ok")
			case strings.HasPrefix(cmd, "RCPT"):
				if cutAfter == "RCPT" {
					return
				}
				say("250 ok")
			case cmd == "DATA":
				say("354 go on")
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						return // the whole message came; no answer
					}
				}
			default:
				say("250 ok")
			}
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func TestSMTPWithoutAnAnswerToTheMessageHasAnUnknownOutcome(t *testing.T) {
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: rawSMTP(t, "."), TLS: SMTPTLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), emailMessage())
	wantUnknownOutcome(t, err)

	s, err = NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: rawSMTP(t, "RCPT"), TLS: SMTPTLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), emailMessage())
	wantTransient(t, err, ReasonNetwork)
	if IsUnknownOutcome(err) {
		t.Fatal("a connection lost before the data is not an unknown outcome")
	}
}
