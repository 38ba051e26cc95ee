package delivery

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func webhookMessage(url string) Message {
	return Message{ID: "m-hook-1", WorkspaceID: "ws_1", Channel: ChannelWebhook,
		Webhook: &Webhook{Method: "POST", URL: url, Body: `{"hello":"world"}`, Headers: map[string]string{"X-Token": "t0k"}}}
}

// countingServer counts the requests that reach it.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestWebhookRefusesNonPublicDestinations(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "reached") }
	target, reached := countingServer(t, ok)
	port := target.Listener.Addr().(*net.TCPAddr).Port
	p := func(s string) string { return strings.Replace(s, "PORT", strconv.Itoa(port), 1) }

	// ipv6Target listens on ::1 when the machine has IPv6 loopback.
	v6URL := "http://[::1]:1/"
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		v6 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
		}))
		v6.Listener = l
		v6.Start()
		t.Cleanup(v6.Close)
		v6URL = v6.URL + "/"
	}

	// An allow-listed server, on another loopback address, that redirects
	// elsewhere: the redirect target is checked like any destination.
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	redirector := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	redirector.Listener = l
	redirector.Start()
	t.Cleanup(redirector.Close)

	cases := []struct{ name, url, why string }{
		{"ipv4 loopback", p("http://127.0.0.1:PORT/hook"), "127.0.0.1 refused: loopback"},
		{"ipv6 loopback", v6URL, "::1 refused: loopback"},
		{"private 10/8", "http://10.0.0.1/hook", "10.0.0.1 refused: private"},
		{"private 192.168/16", "http://192.168.1.10:8080/", "192.168.1.10 refused: private"},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254 refused: cloud metadata"},
		{"cgnat", "http://100.64.0.1/", "100.64.0.1 refused: carrier-grade nat"},
		{"unspecified", p("http://0.0.0.0:PORT/"), "0.0.0.0 refused: unspecified"},
		{"hostname resolving to loopback", p("http://localhost:PORT/hook"), "refused: loopback"},
		{"redirect to loopback name", redirector.URL + "/?to=" + p("http://localhost:PORT/x"), "refused: loopback"},
		{"redirect to private address", redirector.URL + "/?to=http://10.1.2.3/x", "10.1.2.3 refused: private"},
		{"redirect to metadata", redirector.URL + "/?to=http://169.254.169.254/", "169.254.169.254 refused: cloud metadata"},
	}
	// Only the redirector's address is allowed.
	w := NewWebhookSender(WebhookConfig{Timeout: 2 * time.Second, AllowHosts: []string{"127.0.0.2"}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.Send(context.Background(), webhookMessage(c.url))
			wantPermanent(t, err, ReasonBlockedAddress)
			t.Log(err)
			if !strings.Contains(err.Error(), c.why) {
				t.Errorf("error %q does not say %q", err, c.why)
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("a refused destination was reached %d times", n)
	}
}

func TestWebhookRefusesOtherSchemes(t *testing.T) {
	w := NewWebhookSender(WebhookConfig{})
	for _, u := range []string{"ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/"} {
		_, err := w.Send(context.Background(), webhookMessage(u))
		wantPermanent(t, err, ReasonBlockedAddress)
	}
}

func TestWebhookAllowListedHost(t *testing.T) {
	var got *http.Request
	var body string
	srv, n := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, body = r, string(b)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	w := NewWebhookSender(WebhookConfig{AllowHosts: []string{"127.0.0.1"}})
	m := webhookMessage(srv.URL + "/hook?x=1")
	m.Webhook.Method = "put"
	res, err := w.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 || res.StatusCode != 202 || res.Body != `{"ok":true}` || res.BodyTruncated || res.Provider != "webhook" {
		t.Fatalf("result %+v after %d requests", res, n.Load())
	}
	if got.Method != "PUT" || got.URL.RawQuery != "x=1" || body != `{"hello":"world"}` {
		t.Errorf("request %s %s body %q", got.Method, got.URL, body)
	}
	for k, v := range map[string]string{"X-Token": "t0k", "Idempotency-Key": "m-hook-1", "Content-Type": "application/json", "User-Agent": "Herald-Webhook/1"} {
		if got.Header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), v)
		}
	}
}

func TestWebhookResponseBodyIsLimited(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("a", 100<<10))
	})
	w := NewWebhookSender(WebhookConfig{AllowHosts: []string{"127.0.0.1"}, MaxResponseBytes: 1024})
	res, err := w.Send(context.Background(), webhookMessage(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Body) != 1024 || !res.BodyTruncated {
		t.Fatalf("kept %d bytes, truncated=%v", len(res.Body), res.BodyTruncated)
	}
}

func TestWebhookStatusesAndTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/429":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
		default:
			code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
			w.WriteHeader(code)
			_, _ = io.WriteString(w, "answer body")
		}
	})
	t.Cleanup(func() { close(release) }) // before the server closes
	w := NewWebhookSender(WebhookConfig{AllowHosts: []string{"127.0.0.1"}, Timeout: 300 * time.Millisecond})
	send := func(path string) (Result, error) {
		return w.Send(context.Background(), webhookMessage(srv.URL+path))
	}

	_, err := send("/slow")
	wantTransient(t, err, ReasonTimeout)

	for path, reason := range map[string]string{"/400": ReasonClientError, "/404": ReasonClientError, "/401": ReasonAuth} {
		res, err := send(path)
		wantPermanent(t, err, reason)
		if code, _ := strconv.Atoi(path[1:]); res.StatusCode != code || res.Body != "answer body" {
			t.Errorf("%s: result %+v", path, res)
		}
	}
	for path, reason := range map[string]string{"/500": ReasonUnavailable, "/503": ReasonUnavailable, "/408": ReasonTimeout} {
		_, err := send(path)
		wantTransient(t, err, reason)
	}
	_, err = send("/429")
	wantTransient(t, err, ReasonRateLimited)
	var te *TransientError
	if !errors.As(err, &te) || te.RetryAfter != 7*time.Second {
		t.Errorf("retry after %v, want 7s", te)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = w.Send(ctx, webhookMessage(srv.URL+"/200"))
	wantTransient(t, err, ReasonCanceled)
}

func TestWebhookHeaderInjection(t *testing.T) {
	m := webhookMessage("https://hooks.example.com/")
	m.Webhook.Headers["X-Evil"] = "a\r\nX-Injected: 1"
	_, err := NewWebhookSender(WebhookConfig{}).Send(context.Background(), m)
	wantPermanent(t, err, ReasonHeaderInjection)
}

func TestBlockedReason(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1": "loopback", "127.8.9.1": "loopback", "::1": "loopback",
		"10.0.0.1": "private", "172.16.5.4": "private", "192.168.0.1": "private", "fc00::1": "private",
		"169.254.169.254": "cloud metadata", "fd00:ec2::254": "cloud metadata",
		"169.254.10.1": "link-local", "fe80::1": "link-local",
		"100.64.0.1": "carrier-grade nat", "100.127.255.254": "carrier-grade nat",
		"0.0.0.0": "unspecified", "::": "unspecified",
		"224.0.0.1": "multicast", "ff02::1": "multicast", "255.255.255.255": "reserved",
		"::ffff:10.0.0.1": "private", "::ffff:127.0.0.1": "loopback",
		"64:ff9b::a00:1": "private", "2002:a9fe:a9fe::": "cloud metadata",
		"8.8.8.8": "", "1.1.1.1": "", "2606:4700:4700::1111": "", "64:ff9b::808:808": "", "100.128.0.1": "",
	}
	for addr, want := range cases {
		if got := blockedReason(netip.MustParseAddr(addr)); got != want {
			t.Errorf("blockedReason(%s) = %q, want %q", addr, got, want)
		}
	}
}

func BenchmarkWebhookSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(srv.Close)
	w := NewWebhookSender(WebhookConfig{AllowHosts: []string{"127.0.0.1"}})
	m := webhookMessage(srv.URL + "/hook")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
