package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/schema"
)

// `herald bench send` measures delivery on a running Herald. The send
// activity itself runs in the bench process on Herald's Postgres (template,
// customer, settings, suppression, claim, the guarded webhook call to a
// receiver the bench runs on 127.0.0.1, the record), beside the same HTTP
// calls made directly: what Herald's bookkeeping costs per send. Then the
// same number of messages go out of real journeys (send → exit) end to end,
// and it measures how exactly deferred messages are released: a journey
// with send_rate_per_minute (each message has a slot) and one whose quiet
// hours end shortly (every message waits for the end).

// benchSendOptions are the flags of `herald bench send`.
type benchSendOptions struct {
	Messages    int
	Deferred    int
	Concurrency int
	Credentials string
	Timeout     time.Duration
}

func parseBenchSendFlags(args []string, getenv func(string) string, stderr io.Writer) (benchSendOptions, error) {
	var o benchSendOptions
	fs := flag.NewFlagSet("herald bench send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Messages, "messages", 500, "messages for the throughput part (one customer each)")
	fs.IntVar(&o.Deferred, "deferred", 100, "messages for each deferral-accuracy part")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "trigger requests (and raw HTTP calls) in flight at once")
	fs.StringVar(&o.Credentials, "credentials", defaultCredentials(getenv),
		"dev-credentials.json written by herald dev [$HERALD_DATA_DIR/dev-credentials.json]")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long each part may take")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.Messages < 1 || o.Messages > 100_000:
		return o, errors.New("--messages must be from 1 to 100000")
	case o.Deferred < 2 || o.Deferred > 10_000:
		return o, errors.New("--deferred must be from 2 to 10000")
	case o.Concurrency < 1:
		return o, errors.New("--concurrency must be at least 1")
	case o.Timeout <= 0:
		return o, errors.New("--timeout must be positive")
	}
	return o, nil
}

// receiver is the bench's webhook endpoint: it notes when each message
// (by its Idempotency-Key, the message id) first arrived, per path.
type receiver struct {
	mu      sync.Mutex
	arrived map[string]map[string]time.Time // path → message id → time
	calls   int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	_, _ = io.Copy(io.Discard, r.Body)
	rc.mu.Lock()
	rc.calls++
	if rc.arrived[r.URL.Path] == nil {
		rc.arrived[r.URL.Path] = map[string]time.Time{}
	}
	if _, seen := rc.arrived[r.URL.Path][r.Header.Get("Idempotency-Key")]; !seen {
		rc.arrived[r.URL.Path][r.Header.Get("Idempotency-Key")] = now
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) times(path string) []time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]time.Time, 0, len(rc.arrived[path]))
	for _, t := range rc.arrived[path] {
		out = append(out, t)
	}
	return out
}

func (rc *receiver) count(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.arrived[path])
}

// sendResult is what `herald bench send` measured.
type sendResult struct {
	opts                  benchSendOptions
	machine               machineInfo
	activity, raw, herald time.Duration
	rateErrors            []time.Duration // arrival − the message's slot
	quietErrors           []time.Duration // arrival − the end of quiet hours
	capErrors             []time.Duration // second SMS sent − (first SMS + the cap's period)
	capNote               string
	rateInterval          time.Duration
	quietEnd              time.Time
	duplicateOrLost       int
}

func benchSend(ctx context.Context, o benchSendOptions, logw io.Writer) (*sendResult, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	creds, err := readBenchCredentials(o.Credentials)
	if err != nil {
		return nil, err
	}
	h := &heraldAPI{base: strings.TrimRight(creds.APIURL, "/"), secret: creds.SecretKey, write: creds.WriteKey,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.Concurrency}}}
	if err := h.ready(ctx); err != nil {
		return nil, err
	}
	rc := &receiver{arrived: map[string]map[string]time.Time{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	base := "http://" + l.Addr().String()
	if err := allowLoopbackWebhooks(ctx, h); err != nil {
		return nil, err
	}
	tag := benchTag()
	res := &sendResult{opts: o, machine: readMachineInfo()}
	log.Info("herald bench send", "messages", o.Messages, "deferred", o.Deferred, "receiver", base, "tag", tag)

	// The send activity, called directly, o.Concurrency at a time.
	if res.activity, err = benchSendActivity(ctx, o, creds, h, tag, base+"/a"); err != nil {
		return nil, fmt.Errorf("send activity: %w", err)
	}
	if n := rc.count("/a"); n != o.Messages {
		return nil, fmt.Errorf("the receiver got %d of %d messages from the send activity", n, o.Messages)
	}
	log.Info("send activity done", "took", res.activity.Round(time.Millisecond))

	// End to end: N customers through journeys send → exit.
	j, err := sendJourney(ctx, h, tag, "throughput", base+"/t", nil)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := triggerAll(ctx, h, j, tag+"-t", o.Messages, o.Concurrency); err != nil {
		return nil, err
	}
	if err := waitCount(ctx, func() int { return rc.count("/t") }, o.Messages, o.Timeout); err != nil {
		return nil, err
	}
	res.herald = latest(rc.times("/t")).Sub(t0)
	log.Info("herald sends done", "took", res.herald.Round(time.Millisecond))

	// Raw: the same number of HTTP calls, same concurrency, to the same receiver.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.Concurrency}}
	t0 = time.Now()
	err = forEach(ctx, o.Messages, o.Concurrency, func(ctx context.Context, i int) error {
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/raw", strings.NewReader(`{"name":"bench"}`))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("raw-%d", i))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	})
	if err != nil {
		return nil, err
	}
	res.raw = time.Since(t0)

	// Send rate: each message gets a slot; how late is it released?
	const perMinute = 600
	res.rateInterval = time.Minute / perMinute
	j, err = sendJourney(ctx, h, tag, "rate", base+"/r", map[string]any{"send_rate_per_minute": perMinute})
	if err != nil {
		return nil, err
	}
	if err := triggerAll(ctx, h, j, tag+"-r", o.Deferred, o.Concurrency); err != nil {
		return nil, err
	}
	if err := waitCount(ctx, func() int { return rc.count("/r") }, o.Deferred, o.Timeout); err != nil {
		return nil, err
	}
	slots, err := deliverySlots(ctx, h, j)
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	for id, at := range rc.arrived["/r"] {
		if slot, ok := slots[id]; ok {
			res.rateErrors = append(res.rateErrors, at.Sub(slot))
		}
	}
	rc.mu.Unlock()

	// Quiet hours that end at the next full minute at least 20 s away.
	now := time.Now().UTC()
	end := now.Add(20 * time.Second).Truncate(time.Minute).Add(time.Minute)
	res.quietEnd = end
	quiet := map[string]any{"quiet_hours": map[string]any{"start": now.Add(-time.Hour).Format("15:04"), "end": end.Format("15:04")}}
	j, err = sendJourney(ctx, h, tag, "quiet", base+"/q", quiet)
	if err != nil {
		return nil, err
	}
	if err := triggerAll(ctx, h, j, tag+"-q", o.Deferred, o.Concurrency); err != nil {
		return nil, err
	}
	log.Info("waiting for the end of quiet hours", "end", end.Format(time.RFC3339))
	if err := waitCount(ctx, func() int { return rc.count("/q") }, o.Deferred, o.Timeout+time.Until(end)); err != nil {
		return nil, err
	}
	for _, at := range rc.times("/q") {
		res.quietErrors = append(res.quietErrors, at.Sub(end))
	}
	rc.mu.Lock()
	res.duplicateOrLost = rc.calls - 3*o.Messages - 2*o.Deferred
	if res.capErrors, res.capNote, err = benchCapRelease(ctx, o, creds, h, tag, log); err != nil {
		return nil, fmt.Errorf("frequency cap part: %w", err)
	}
	rc.mu.Unlock()
	return res, nil
}

// benchSendActivity runs o.Messages sends of a webhook template through
// the send activity in this process and returns how long they took.
func benchSendActivity(ctx context.Context, o benchSendOptions, creds devCredentialsFile, h *heraldAPI, tag, url string) (time.Duration, error) {
	if creds.DatabaseURL == "" || creds.WorkspaceID == "" {
		return 0, errors.New("the credentials name no database_url or workspace_id (restart herald dev to rewrite them)")
	}
	st, err := schema.Open(ctx, creds.DatabaseURL)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	key, _ := os.ReadFile(filepath.Join(filepath.Dir(o.Credentials), "encryption.key"))
	act := activities.New(activities.Deps{Store: st, PublicURL: creds.APIURL, EncryptionKey: strings.TrimSpace(string(key))})
	var tpl struct {
		ID string `json:"id"`
	}
	if err := h.call(ctx, "POST", "/api/templates", h.secret, map[string]any{"name": "Bench send activity " + tag,
		"channel": "webhook", "method": "POST", "url": url, "body": `{"customer":"{{ customer.external_id }}"}`}, &tpl); err != nil {
		return 0, err
	}
	customers := make([]string, o.Messages)
	for i := range customers {
		c, err := st.EnsureCustomer(ctx, creds.WorkspaceID, fmt.Sprintf("bench-send-%s-%d", tag, i))
		if err != nil {
			return 0, err
		}
		customers[i] = c.ID
	}
	t0 := time.Now()
	err = forEach(ctx, o.Messages, o.Concurrency, func(ctx context.Context, i int) error {
		res, err := act.Send(ctx, activities.SendInput{WorkspaceID: creds.WorkspaceID, JourneyID: "bench", WorkflowID: "bench/" + tag,
			NodeID: "send", MessageID: fmt.Sprintf("msg_bench_%s_%d", tag, i), CustomerID: customers[i], Channel: "webhook", TemplateID: tpl.ID})
		if err == nil && res.Status != "sent" {
			err = fmt.Errorf("message %d: %s", i, res.Status)
		}
		return err
	})
	return time.Since(t0), err
}

// benchCapRelease measures how exactly a frequency cap releases: with the
// SMS channel capped at 1 per minute (outbox only, restored afterwards),
// a journey sends two SMS back to back to each customer; the second waits
// for its slot, one minute after the first.
func benchCapRelease(ctx context.Context, o benchSendOptions, creds devCredentialsFile, h *heraldAPI, tag string, log *slog.Logger) ([]time.Duration, string, error) {
	var cs struct {
		SMS map[string]any `json:"sms"`
	}
	if err := h.call(ctx, "GET", "/api/channels", h.secret, nil, &cs); err != nil {
		return nil, "", err
	}
	if cs.SMS["provider"] != "outbox" {
		return nil, "skipped: the workspace's SMS channel is not the outbox", nil
	}
	const period = time.Minute
	if err := h.call(ctx, "PUT", "/api/channels", h.secret, map[string]any{"sms": map[string]any{"provider": "outbox",
		"frequency_cap": map[string]any{"max": 1, "period": "1m"}}}, nil); err != nil {
		return nil, "", err
	}
	defer func() {
		_ = h.call(context.WithoutCancel(ctx), "PUT", "/api/channels", h.secret, map[string]any{"sms": cs.SMS}, nil)
	}()
	st, err := schema.Open(ctx, creds.DatabaseURL)
	if err != nil {
		return nil, "", err
	}
	defer st.Close()
	for i := 0; i < o.Deferred; i++ {
		c, err := st.EnsureCustomer(ctx, creds.WorkspaceID, fmt.Sprintf("%s-c-%d", tag, i))
		if err != nil {
			return nil, "", err
		}
		if err := st.UpdateCustomerAttributes(ctx, creds.WorkspaceID, c.ID, map[string]any{"phone": "+15555550100"}, nil); err != nil {
			return nil, "", err
		}
	}
	var tpl, j struct {
		ID string `json:"id"`
	}
	if err := h.call(ctx, "POST", "/api/templates", h.secret, map[string]any{"name": "Bench cap " + tag, "channel": "sms", "body": "cap"}, &tpl); err != nil {
		return nil, "", err
	}
	def := map[string]any{"name": "Bench cap " + tag, "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"},
		"start": "one", "nodes": []any{
			map[string]any{"id": "one", "type": "send", "channel": "sms", "template_id": tpl.ID, "next": "two"},
			map[string]any{"id": "two", "type": "send", "channel": "sms", "template_id": tpl.ID, "next": "done"},
			map[string]any{"id": "done", "type": "exit"}}}
	if err := h.call(ctx, "POST", "/api/journeys", h.secret, def, &j); err != nil {
		return nil, "", err
	}
	if err := h.call(ctx, "POST", "/api/journeys/"+j.ID+"/publish", h.secret, nil, nil); err != nil {
		return nil, "", err
	}
	if err := triggerAll(ctx, h, j.ID, tag+"-c", o.Deferred, o.Concurrency); err != nil {
		return nil, "", err
	}
	log.Info("waiting for the frequency cap to release the second messages", "period", period)
	type delivery struct {
		ID         string    `json:"id"`
		CustomerID string    `json:"customer_id"`
		NodeID     string    `json:"node_id"`
		Status     string    `json:"status"`
		CreatedAt  time.Time `json:"created_at"`
	}
	deadline := time.Now().Add(period + o.Timeout)
	for {
		list, err := listAll[delivery](ctx, h, "/api/deliveries?journey_id="+j.ID,
			func(d delivery) string { return d.ID }, func(d delivery) time.Time { return d.CreatedAt })
		if err != nil {
			return nil, "", err
		}
		first, second := map[string]time.Time{}, map[string]time.Time{}
		for _, d := range list {
			if d.Status != "sent" {
				continue
			}
			if d.NodeID == "one" {
				first[d.CustomerID] = d.CreatedAt
			} else if d.NodeID == "two" {
				second[d.CustomerID] = d.CreatedAt // a released message is claimed anew at its slot
			}
		}
		if len(second) == o.Deferred {
			var errs []time.Duration
			for c, t := range second {
				errs = append(errs, t.Sub(first[c].Add(period)))
			}
			return errs, "", nil
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("%d of %d capped messages released before the deadline", len(second), o.Deferred)
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return nil, "", err
		}
	}
}

// allowLoopbackWebhooks adds 127.0.0.1 to the workspace's webhook
// allow-list (keeping what is there): the bench's receiver is on loopback.
func allowLoopbackWebhooks(ctx context.Context, h *heraldAPI) error {
	var cs struct {
		Webhook struct {
			AllowHosts []string `json:"allow_hosts"`
		} `json:"webhook"`
	}
	if err := h.call(ctx, "GET", "/api/channels", h.secret, nil, &cs); err != nil {
		return err
	}
	for _, host := range cs.Webhook.AllowHosts {
		if host == "127.0.0.1" {
			return nil
		}
	}
	hosts := append(cs.Webhook.AllowHosts, "127.0.0.1")
	return h.call(ctx, "PUT", "/api/channels", h.secret, map[string]any{"webhook": map[string]any{"allow_hosts": hosts}}, nil)
}

// sendJourney publishes an API-triggered journey send (webhook to url) → exit.
func sendJourney(ctx context.Context, h *heraldAPI, tag, name, url string, settings map[string]any) (string, error) {
	var tpl, j struct {
		ID string `json:"id"`
	}
	if err := h.call(ctx, "POST", "/api/templates", h.secret, map[string]any{"name": "Bench send " + name + " " + tag,
		"channel": "webhook", "method": "POST", "url": url, "body": `{"customer":"{{ customer.external_id }}"}`}, &tpl); err != nil {
		return "", err
	}
	def := map[string]any{"name": "Bench send " + name + " " + tag, "trigger": map[string]any{"type": "api"},
		"entry": map[string]any{"policy": "once"}, "start": "send", "nodes": []any{
			map[string]any{"id": "send", "type": "send", "channel": "webhook", "template_id": tpl.ID, "next": "done"},
			map[string]any{"id": "done", "type": "exit"}}}
	if settings != nil {
		def["settings"] = settings
	}
	if err := h.call(ctx, "POST", "/api/journeys", h.secret, def, &j); err != nil {
		return "", err
	}
	return j.ID, h.call(ctx, "POST", "/api/journeys/"+j.ID+"/publish", h.secret, nil, nil)
}

func triggerAll(ctx context.Context, h *heraldAPI, journeyID, prefix string, n, concurrency int) error {
	return forEach(ctx, n, concurrency, func(ctx context.Context, i int) error {
		return h.call(ctx, "POST", "/api/journeys/"+journeyID+"/trigger", h.secret,
			map[string]any{"customer": map[string]any{"user_id": fmt.Sprintf("%s-%d", prefix, i)}}, nil)
	})
}

func waitCount(ctx context.Context, count func() int, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for count() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("the receiver got %d of %d messages before the deadline", count(), want)
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// deliverySlots reads the slot (not_before) of each deferred message of a journey.
func deliverySlots(ctx context.Context, h *heraldAPI, journeyID string) (map[string]time.Time, error) {
	type delivery struct {
		ID        string     `json:"id"`
		NotBefore *time.Time `json:"not_before"`
		CreatedAt time.Time  `json:"created_at"`
	}
	list, err := listAll[delivery](ctx, h, "/api/deliveries?journey_id="+journeyID,
		func(d delivery) string { return d.ID }, func(d delivery) time.Time { return d.CreatedAt })
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, d := range list {
		if d.NotBefore != nil {
			out[d.ID] = *d.NotBefore
		}
	}
	return out, nil
}

func latest(ts []time.Time) time.Time {
	var max time.Time
	for _, t := range ts {
		if t.After(max) {
			max = t
		}
	}
	return max
}

func (r *sendResult) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "\nherald bench send: %d webhook messages per path, %d in flight\n", o.Messages, o.Concurrency)
	fmt.Fprintf(w, "machine: %s (bench, receiver and Herald on the same machine)\n\n", r.machine)
	act := float64(o.Messages) / r.activity.Seconds()
	raw := float64(o.Messages) / r.raw.Seconds()
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tmessages\ttime\tsends/s\t")
	fmt.Fprintf(tw, "send activity (render, suppression, claim, webhook, record)\t%d\t%s\t%.0f\t\n", o.Messages, fmtSec(r.activity), act)
	fmt.Fprintf(tw, "raw: the same HTTP calls from the bench\t%d\t%s\t%.0f\t\n", o.Messages, fmtSec(r.raw), raw)
	fmt.Fprintf(tw, "end to end: API trigger → journey run → send → webhook\t%d\t%s\t%.0f\t\n", o.Messages, fmtSec(r.herald),
		float64(o.Messages)/r.herald.Seconds())
	_ = tw.Flush()
	fmt.Fprintf(w, "\nthroughput send activity/raw: %s\n", fmtRatio(ratio(act, raw)))
	fmt.Fprintf(w, "\nrelease of deferred messages (arrival at the receiver − the time they were due):\n")
	fmt.Fprintf(w, "  send rate %d/min (%d messages, %d with a slot): p50 %s  p99 %s  max %s\n", int(time.Minute/r.rateInterval),
		o.Deferred, len(r.rateErrors), fmtMS(percentile(r.rateErrors, 50)), fmtMS(percentile(r.rateErrors, 99)), fmtMS(percentile(r.rateErrors, 100)))
	fmt.Fprintf(w, "  quiet hours ending %s (%d messages): p50 %s  p99 %s  max %s\n", r.quietEnd.Format("15:04:05Z"),
		len(r.quietErrors), fmtMS(percentile(r.quietErrors, 50)), fmtMS(percentile(r.quietErrors, 99)), fmtMS(percentile(r.quietErrors, 100)))
	if r.capNote != "" {
		fmt.Fprintf(w, "  frequency cap 1/min: %s\n", r.capNote)
	} else {
		fmt.Fprintf(w, "  frequency cap 1/min (%d second messages): p50 %s  p99 %s  max %s\n", len(r.capErrors),
			fmtMS(percentile(r.capErrors, 50)), fmtMS(percentile(r.capErrors, 99)), fmtMS(percentile(r.capErrors, 100)))
	}
	if r.duplicateOrLost != 0 {
		fmt.Fprintf(w, "\nreceiver calls beyond one per message: %d\n", r.duplicateOrLost)
	}
	fmt.Fprintln(w)
}
