package delivery

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// WebhookConfig configures webhook sends.
type WebhookConfig struct {
	// Timeout bounds one send, redirects included (default 10 s).
	Timeout time.Duration
	// MaxResponseBytes is how much of a response body is read (default 64 KiB).
	MaxResponseBytes int64
	// MaxRedirects is how many redirects are followed (default 3; -1 for none).
	MaxRedirects int
	// AllowHosts are host names (or literal IPs) exempt from the address
	// check, matched exactly and case-insensitively: a workspace's own
	// internal receivers. Only requests to these hosts skip the check.
	AllowHosts []string
	// UserAgent is sent unless the message sets one (default "Herald-Webhook/1").
	UserAgent string
}

// WebhookSender sends messages as HTTP requests to public addresses only: every
// connection is checked at dial time against the resolved IP, so DNS
// rebinding and redirects cannot reach loopback, private, link-local or
// metadata addresses. A WebhookSender keeps a connection pool and is safe for
// concurrent use; build one per allow-list.
type WebhookSender struct {
	client   *http.Client
	maxBytes int64
	agent    string
}

// NewWebhookSender builds a webhook sender.
func NewWebhookSender(cfg WebhookConfig) *WebhookSender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 64 << 10
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 3
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Herald-Webhook/1"
	}
	allow := make(map[string]bool, len(cfg.AllowHosts))
	for _, h := range cfg.AllowHosts {
		allow[normalizeHost(h)] = true
	}
	guarded := &net.Dialer{Timeout: cfg.Timeout, ControlContext: refusePrivate}
	open := &net.Dialer{Timeout: cfg.Timeout}
	transport := &http.Transport{
		Proxy: nil, // a proxy would dial for us and escape the check
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err == nil && allow[normalizeHost(host)] {
				return open.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	maxRedirects := max(cfg.MaxRedirects, 0)
	client := &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return permanentf(ReasonClientError, "stopped after %d redirects", maxRedirects)
			}
			return checkScheme(req.URL)
		},
	}
	return &WebhookSender{client: client, maxBytes: cfg.MaxResponseBytes, agent: cfg.UserAgent}
}

// Send makes the request. A 2xx answer is success; 408, 429 and 5xx are
// transient; any other status, a refused address or a bad URL is permanent.
// The message id goes out as the Idempotency-Key header unless the message
// sets one, so receivers can drop repeats.
func (w *WebhookSender) Send(ctx context.Context, m Message) (Result, error) {
	if err := m.validateFor(ChannelWebhook, "webhook"); err != nil {
		return Result{}, err
	}
	h := m.Webhook
	u, err := url.Parse(h.URL)
	if err != nil {
		return Result{}, permanentf(ReasonInvalidMessage, "parse webhook url: %v", err)
	}
	if err := checkScheme(u); err != nil {
		return Result{}, err
	}
	method := strings.ToUpper(h.Method)
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return Result{}, permanentf(ReasonInvalidMessage, "build webhook request: %v", err)
	}
	req.Header.Set("User-Agent", w.agent)
	req.Header.Set("Idempotency-Key", m.ID)
	if h.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}

	resp, err := w.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("send webhook: %w", classifyTransport(err))
	}
	defer resp.Body.Close()
	res := Result{Provider: "webhook", StatusCode: resp.StatusCode}
	// The status decides the outcome; a body that breaks off is kept as read.
	read, _ := io.ReadAll(io.LimitReader(resp.Body, w.maxBytes+1))
	if int64(len(read)) > w.maxBytes {
		read, res.BodyTruncated = read[:w.maxBytes], true
	}
	res.Body = string(read)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return res, fmt.Errorf("send webhook: %w", classifyStatus(resp.StatusCode, resp.Header,
			fmt.Errorf("%s %s answered %s: %s", method, u.Redacted(), resp.Status, excerpt(res.Body, 200))))
	}
	return res, nil
}

// checkScheme allows http and https only.
func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return permanentf(ReasonBlockedAddress, "webhook url scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return permanentf(ReasonInvalidMessage, "webhook url %q has no host", u.Redacted())
	}
	return nil
}

// refusePrivate is the dialer's control hook: it sees the resolved address
// of every connection attempt and refuses the non-public ones.
func refusePrivate(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return permanentf(ReasonBlockedAddress, "webhook destination %s refused: not an ip address", address)
	}
	if why := blockedReason(ap.Addr()); why != "" {
		return permanentf(ReasonBlockedAddress, "webhook destination %s refused: %s address", ap.Addr(), why)
	}
	return nil
}

var (
	metadataAddrs = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}
	// blockedPrefixes are the non-public ranges netip has no predicate for.
	blockedPrefixes = []struct {
		prefix netip.Prefix
		why    string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
		{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade nat"},
		{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
		{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	}
	// These IPv6 ranges carry an IPv4 address, which is checked instead.
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// blockedReason says why ip is not a public unicast address, or "" if it is.
func blockedReason(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, m := range metadataAddrs {
		if ip == m {
			return "cloud metadata"
		}
	}
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, b := range blockedPrefixes {
		if b.prefix.Contains(ip) {
			return b.why
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64Prefix.Contains(ip):
			return blockedReason(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(ip):
			return blockedReason(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return ""
}

// normalizeHost lower-cases a host name and drops a trailing dot and IPv6
// brackets, for allow-list matching.
func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.Trim(strings.ToLower(h), "[]"), ".")
}

// excerpt shortens s to at most n bytes for an error message.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
