//go:build !nodev

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// devProcess is a running `herald dev` on free ports.
type devProcess struct {
	cmd     *exec.Cmd
	dataDir string
	apiURL  string
	metrics string
	ui      string
	kafka   string
	log     *strings.Builder
	exited  chan error
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// buildHerald compiles the binary once per test run.
func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func startDev(t *testing.T, bin, dataDir string) *devProcess {
	t.Helper()
	api, metrics, tport, ui, kport := freeTCPPort(t), freeTCPPort(t), freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)
	cmd := exec.Command(bin, "dev",
		"--data-dir", dataDir,
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", api),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metrics),
		"--temporal-port", strconv.Itoa(tport),
		"--temporal-ui-port", strconv.Itoa(ui),
		"--kafka-port", strconv.Itoa(kport),
	)
	cmd.Env = append(os.Environ(), "HERALD_DATABASE_URL=", "HERALD_TEMPORAL_ADDRESS=", "HERALD_KAFKA_BROKERS=")
	d := &devProcess{cmd: cmd, dataDir: dataDir, apiURL: fmt.Sprintf("http://127.0.0.1:%d", api),
		metrics: fmt.Sprintf("http://127.0.0.1:%d", metrics), ui: fmt.Sprintf("http://127.0.0.1:%d", ui),
		kafka: fmt.Sprintf("127.0.0.1:%d", kport), log: &strings.Builder{}, exited: make(chan error, 1)}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = io.Discard
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.log.WriteString(sc.Text() + "\n")
		}
		d.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("herald dev log:\n%s", d.log.String())
		}
	})
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := http.Get(d.apiURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return d
			}
		}
		select {
		case err := <-d.exited:
			t.Fatalf("herald dev exited during start: %v\n%s", err, d.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald dev not ready after 120s\n%s", d.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGINT and waits for a clean exit.
func (d *devProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-d.exited:
		require.NoError(t, err, "herald dev should exit 0 on SIGINT")
	case <-time.After(60 * time.Second):
		t.Fatal("herald dev did not stop within 60s of SIGINT")
	}
}

func (d *devProcess) credentials(t *testing.T) devCredentials {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dataDir, "dev-credentials.json"))
	require.NoError(t, err)
	var c devCredentials
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

func doJSON(t *testing.T, method, url, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// postgresPids returns the pids of postgres processes whose data dir is
// under dir (read from their command lines).
func postgresPids(t *testing.T, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(cmdline), "postgres") && strings.Contains(string(cmdline), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestDevEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end through the herald binary: run without -short (.ci/test does)")
	}
	bin := buildHerald(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	d := startDev(t, bin, dataDir)

	creds := d.credentials(t)
	require.NotEmpty(t, creds.WorkspaceID)
	require.Equal(t, d.apiURL, creds.APIURL)
	require.Equal(t, d.ui, creds.TemporalUIURL)
	require.True(t, strings.HasPrefix(creds.WriteKey, "hw_"))
	require.True(t, strings.HasPrefix(creds.SecretKey, "hs_"))

	// A key created through the API with the secret key.
	status, key := doJSON(t, "POST", d.apiURL+"/api/keys", creds.SecretKey, `{"kind":"write","name":"e2e"}`)
	require.Equal(t, 201, status, "%v", key)
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", key["key"].(string), `{"userId":"e2e-user","event":"Signed Up"}`)
	require.Equal(t, 200, status)

	// Login with the printed password.
	status, me := doJSON(t, "POST", d.apiURL+"/api/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, creds.Email, creds.Password))
	require.Equal(t, 200, status)
	require.Equal(t, "Demo", me["workspace"].(map[string]any)["name"])

	// The Temporal Web UI and its API answer.
	resp, err := http.Get(d.ui + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	resp, err = http.Get(d.ui + "/api/v1/namespaces/default")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	// The broker answers with both topics.
	kc, err := ingest.NewClient([]string{d.kafka})
	require.NoError(t, err)
	topics, err := kc.Topics()
	require.NoError(t, err)
	require.Contains(t, topics, "herald.events")
	require.Contains(t, topics, "herald.events.dlq")
	kc.Close()

	// The web app and the role probes.
	resp, err = http.Get(d.apiURL + "/journeys")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	resp, err = http.Get(d.metrics + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "herald_http_requests_total")
	require.Contains(t, string(body), "temporal_")

	journeyThroughEvents(t, d, creds)
	// The browser tests send email through the workspace's default channel
	// (the outbox): they run before emailThroughSES points email at SES.
	runPlaywright(t, d)
	emailThroughSES(t, d, creds)
	killJourney := startKillJourney(t, d, creds)
	blocked := startBlockedEmail(t, d, creds)
	enrollment := startEnrollment(t, d, creds, defaultEnrollment)
	stream := startEventStream(t, d, creds)
	atKill := latestEnrollment(t, d, creds.SecretKey, enrollment.journeyID)
	t.Logf("SIGKILL with the enrollment at %v of %d", atKill["enrolled"], enrollMembers)

	// SIGKILL in the middle of a journey: the private Postgres goes too.
	marker := pgDataDir(t, d)
	require.NotEmpty(t, postgresPids(t, marker), "postgres should be running under %s", marker)
	require.NoError(t, d.cmd.Process.Kill())
	<-d.exited
	require.Eventually(t, func() bool { return len(postgresPids(t, marker)) == 0 }, 10*time.Second, 100*time.Millisecond,
		"postgres processes left after herald dev was killed")

	// A restart on the same data dir reuses everything: same workspace, same
	// keys, the key created before still works, no second seed — and the
	// interrupted run finishes with each message sent exactly once.
	d2 := startDev(t, bin, dataDir)
	creds2 := d2.credentials(t)
	require.Equal(t, creds.WorkspaceID, creds2.WorkspaceID)
	require.Equal(t, creds.SecretKey, creds2.SecretKey)
	status, list := doJSON(t, "GET", d2.apiURL+"/api/keys", creds.SecretKey, "")
	require.Equal(t, 200, status)
	seeded := map[string]int{}
	for _, it := range list["items"].([]any) {
		seeded[it.(map[string]any)["name"].(string)]++
	}
	require.Equal(t, 1, seeded["dev write key"], "nothing seeded twice")
	require.Equal(t, 1, seeded["dev secret key"], "nothing seeded twice")
	require.Equal(t, 1, seeded["e2e"])
	require.NotContains(t, d2.log.String(), "seeded workspace Demo")
	finishEventStream(t, d2, creds2, stream)
	finishKillJourney(t, d2, creds, killJourney)
	finishBlockedEmail(t, d2, creds2, blocked)
	finishEnrollment(t, d2, creds2, enrollment, atKill)
	benchIngestOnDev(t, bin, d2, creds2)

	// Ctrl-C stops everything: no postgres left behind.
	marker = pgDataDir(t, d2)
	d2.stop(t)
	require.Empty(t, postgresPids(t, marker), "postgres processes left after herald dev stopped")
}

// journeyThroughEvents publishes a journey over the API and drives it with
// Segment events: /v1 → Kafka → ingest → Temporal → outbox delivery.
func journeyThroughEvents(t *testing.T, d *devProcess, creds devCredentials) {
	t.Helper()
	sk := creds.SecretKey
	status, tpl := doJSON(t, "POST", d.apiURL+"/api/templates", sk,
		`{"name":"Welcome","channel":"email","subject":"Welcome {{ customer.first_name }}","html":"<p>Plan {{ event.properties.plan }}</p>"}`)
	require.Equal(t, 201, status, "%v", tpl)
	def := fmt.Sprintf(`{"name":"E2E welcome","trigger":{"type":"event","event":"Signed Up","where":{"prop":"plan","op":"eq","value":"pro"}},
		"entry":{"policy":"once"},"goal":{"event":"Activated","within":"1d"},"start":"welcome","nodes":[
		{"id":"welcome","type":"send","channel":"email","template_id":%q,"next":"wait"},
		{"id":"wait","type":"wait_for_event","event":"Activated","timeout":"1h","on_event":"done","on_timeout":"done"},
		{"id":"done","type":"exit"}]}`, tpl["id"])
	status, j := doJSON(t, "POST", d.apiURL+"/api/journeys", sk, def)
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, pub := doJSON(t, "POST", d.apiURL+"/api/journeys/"+id+"/publish", sk, "")
	require.Equal(t, 200, status, "%v", pub)

	wk := creds.WriteKey
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/identify", wk, `{"userId":"ada","traits":{"email":"ada@example.com","first_name":"Ada"}}`)
	require.Equal(t, 200, status)
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", wk, `{"userId":"ada","event":"Signed Up","properties":{"plan":"free"}}`)
	require.Equal(t, 200, status)
	signup := `{"userId":"ada","event":"Signed Up","messageId":"signup-1","properties":{"plan":"pro"}}`
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", wk, signup)
	require.Equal(t, 200, status)

	var delivery map[string]any
	require.Eventually(t, func() bool {
		_, out := doJSON(t, "GET", d.apiURL+"/api/deliveries?journey_id="+id, sk, "")
		items, _ := out["items"].([]any)
		if len(items) > 0 {
			delivery = items[0].(map[string]any)
		}
		return len(items) == 1
	}, 30*time.Second, 200*time.Millisecond, "the welcome email is delivered to the outbox")
	require.Equal(t, "Welcome Ada", delivery["content"].(map[string]any)["subject"])

	_, runs := doJSON(t, "GET", d.apiURL+"/api/journeys/"+id+"/runs", sk, "")
	require.Len(t, runs["items"], 1, "the free-plan signup did not enter")
	wfID := runs["items"].([]any)[0].(map[string]any)["workflow_id"].(string)
	require.Eventually(t, func() bool {
		_, run := doJSON(t, "GET", d.apiURL+"/api/runs/"+wfID, sk, "")
		st, _ := run["state"].(map[string]any)
		return st != nil && st["node"] == "wait"
	}, 30*time.Second, 200*time.Millisecond)
	_, run := doJSON(t, "GET", d.apiURL+"/api/runs/"+wfID, sk, "")
	require.True(t, strings.HasPrefix(run["temporal_ui_url"].(string), d.ui+"/namespaces/default/workflows/"))

	// The Temporal UI's API knows the run, with Herald's search attributes.
	resp, err := http.Get(d.ui + "/api/v1/namespaces/default/workflows?query=" + url.QueryEscape("HeraldJourneyID='"+id+"'"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), wfID)

	// A redelivered event changes nothing; Activated ends the wait.
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", wk, signup)
	require.Equal(t, 200, status)
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", wk, `{"userId":"ada","event":"Activated"}`)
	require.Equal(t, 200, status)
	require.Eventually(t, func() bool {
		_, run := doJSON(t, "GET", d.apiURL+"/api/runs/"+wfID, sk, "")
		return run["status"] == "completed"
	}, 30*time.Second, 200*time.Millisecond)
	_, out := doJSON(t, "GET", d.apiURL+"/api/deliveries?journey_id="+id, sk, "")
	require.Len(t, out["items"], 1, "no delivery duplicated")
	_, stats := doJSON(t, "GET", d.apiURL+"/api/journeys/"+id+"/stats", sk, "")
	require.EqualValues(t, 1, stats["conversions"])
	require.EqualValues(t, 1, stats["nodes"].(map[string]any)["wait"].(map[string]any)["passed"])
}

// sesEmailJourney points the workspace's email channel at a local SES
// server and publishes a journey that sends one email when event arrives.
func sesEmailJourney(t *testing.T, d *devProcess, creds devCredentials, sesURL, name, html, event, policy string) string {
	t.Helper()
	sk := creds.SecretKey
	status, out := doJSON(t, "PUT", d.apiURL+"/api/channels", sk, `{"email":{"provider":"ses","region":"eu-west-1",
		"access_key_id":"AKIDE2E","secret_access_key":"e2e-secret-000000","endpoint":"`+sesURL+`","from":"Acme <hi@acme.io>"}}`)
	require.Equal(t, 200, status, "%v", out)
	tplBody, _ := json.Marshal(map[string]string{"name": name, "channel": "email", "subject": name, "html": html})
	status, tpl := doJSON(t, "POST", d.apiURL+"/api/templates", sk, string(tplBody))
	require.Equal(t, 201, status, "%v", tpl)
	status, j := doJSON(t, "POST", d.apiURL+"/api/journeys", sk, fmt.Sprintf(`{"name":%q,"trigger":{"type":"event","event":%q},
		"entry":{"policy":%q},"start":"send","nodes":[
		{"id":"send","type":"send","channel":"email","template_id":%q,"next":"done"},{"id":"done","type":"exit"}]}`, name, event, policy, tpl["id"]))
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, _ = doJSON(t, "POST", d.apiURL+"/api/journeys/"+id+"/publish", sk, "")
	require.Equal(t, 200, status)
	return id
}

// blockedEmail is an email whose SES call is in flight when herald dev is
// SIGKILLed: the local SES server holds the first request open.
type blockedEmail struct {
	journeyID string
	calls     *atomic.Int32
	// bodies are the requests SES got (cut to 400 bytes), to say which
	// message a second call was if there is one.
	bodies *[]string
	mu     *sync.Mutex
}

func startBlockedEmail(t *testing.T, d *devProcess, creds devCredentials) blockedEmail {
	t.Helper()
	calls := &atomic.Int32{}
	var mu sync.Mutex
	var bodies []string
	release := make(chan struct{})
	ses := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // read it all, so a closed connection cancels r.Context()
		mu.Lock()
		bodies = append(bodies, time.Now().Format(time.StampMilli)+" "+string(body[:min(len(body), 400)]))
		mu.Unlock()
		if calls.Add(1) == 1 {
			select { // held until the caller dies (or the test ends)
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"MessageId":"ses-after-crash"}`))
	}))
	t.Cleanup(ses.Close)
	t.Cleanup(func() { close(release) }) // runs before ses.Close
	id := sesEmailJourney(t, d, creds, ses.URL, "Held", "<p>held</p>", "Held", "once")
	status, _ := doJSON(t, "POST", d.apiURL+"/v1/identify", creds.WriteKey, `{"userId":"held","traits":{"email":"held@example.com"}}`)
	require.Equal(t, 200, status)
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", creds.WriteKey, `{"userId":"held","event":"Held"}`)
	require.Equal(t, 200, status)
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 30*time.Second, 50*time.Millisecond, "SES has the message")
	return blockedEmail{journeyID: id, calls: calls, bodies: &bodies, mu: &mu}
}

// finishBlockedEmail: after the restart the send activity is retried (once
// its attempt times out), finds the message handed to SES without an
// answer, and does not call SES again. (On a slow machine the first process
// may outlive SES's 30 s timeout: it then settles the message itself, the
// same way.)
func finishBlockedEmail(t *testing.T, d *devProcess, creds devCredentials, b blockedEmail) {
	t.Helper()
	var del map[string]any
	require.Eventually(t, func() bool {
		_, out := doJSON(t, "GET", d.apiURL+"/api/deliveries?journey_id="+b.journeyID, creds.SecretKey, "")
		items, _ := out["items"].([]any)
		if len(items) == 1 {
			del = items[0].(map[string]any)
		}
		return del != nil && del["status"] == "failed"
	}, 150*time.Second, 500*time.Millisecond, "the interrupted send is settled after the restart")
	require.Contains(t, del["error"], "outcome unknown")
	b.mu.Lock()
	defer b.mu.Unlock()
	require.EqualValues(t, 1, b.calls.Load(), "SES saw the message once; it got: %q", *b.bodies)
}

// emailThroughSES configures SES for the workspace (endpoint: a local
// server speaking SES v2's SendEmail), sends an email from a journey, opens
// it through the tracking pixel, unsubscribes with the one-click link, and
// checks that the next send to the address is suppressed.
func emailThroughSES(t *testing.T, d *devProcess, creds devCredentials) {
	t.Helper()
	var mu sync.Mutex
	var sent []map[string]any
	ses := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		sent = append(sent, body)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"MessageId":"ses-e2e-1"}`))
	}))
	defer ses.Close()
	sk := creds.SecretKey
	id := sesEmailJourney(t, d, creds, ses.URL, "News", `<p><a href="https://acme.io/news">Read</a></p>`, "News Ready", "every_time")
	wk := creds.WriteKey
	status, _ := doJSON(t, "POST", d.apiURL+"/v1/identify", wk, `{"userId":"grace","traits":{"email":"grace@example.com"}}`)
	require.Equal(t, 200, status)
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", wk, `{"userId":"grace","event":"News Ready","messageId":"news-1"}`)
	require.Equal(t, 200, status)

	deliveries := func() []any {
		_, out := doJSON(t, "GET", d.apiURL+"/api/deliveries?journey_id="+id, sk, "")
		items, _ := out["items"].([]any)
		return items
	}
	require.Eventually(t, func() bool {
		items := deliveries()
		return len(items) == 1 && items[0].(map[string]any)["status"] == "sent"
	}, 30*time.Second, 200*time.Millisecond, "the email goes out through SES")
	first := deliveries()[0].(map[string]any)
	require.Equal(t, "ses", first["provider"])
	require.Equal(t, "ses-e2e-1", first["provider_id"])
	mu.Lock()
	require.Len(t, sent, 1)
	raw, _ := json.Marshal(sent[0])
	mu.Unlock()
	pixel := regexp.MustCompile(`http://[^"\\ ]+/t/o/[^"\\ ]+\.gif`).FindString(string(raw))
	unsubscribe := regexp.MustCompile(`http://[^"\\ <>]+/t/u/[^"\\ <>]+`).FindString(string(raw))
	require.NotEmpty(t, pixel, "open pixel in %s", raw)
	require.NotEmpty(t, unsubscribe, "List-Unsubscribe in %s", raw)

	resp, err := http.Get(pixel)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "image/gif", resp.Header.Get("Content-Type"))
	require.Eventually(t, func() bool { return deliveries()[0].(map[string]any)["status"] == "opened" }, 10*time.Second, 100*time.Millisecond)

	resp, err = http.Post(unsubscribe, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	_, sups := doJSON(t, "GET", d.apiURL+"/api/suppressions", sk, "")
	require.Contains(t, fmt.Sprint(sups["items"]), "grace@example.com")

	// The next email to the address is recorded as suppressed, not sent.
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", wk, `{"userId":"grace","event":"News Ready","messageId":"news-2"}`)
	require.Equal(t, 200, status)
	require.Eventually(t, func() bool {
		for _, it := range deliveries() {
			if it.(map[string]any)["status"] == "suppressed" {
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "the second email is suppressed")
	mu.Lock()
	require.Len(t, sent, 1, "SES saw one message")
	mu.Unlock()

	// The journey's funnel: two messages, one sent and opened, one suppressed.
	_, stats := doJSON(t, "GET", d.apiURL+"/api/journeys/"+id+"/stats", sk, "")
	funnel := stats["funnel"].(map[string]any)["send"].(map[string]any)
	require.EqualValues(t, 1, funnel["sent"], "%v", funnel)
	require.EqualValues(t, 1, funnel["opened"], "%v", funnel)
	require.EqualValues(t, 1, funnel["unsubscribed"], "%v", funnel)
	require.EqualValues(t, 1, funnel["suppressed"], "%v", funnel)
}

// startKillJourney starts a run that sends, waits 4 s and sends again, and
// returns once the first message is out.
func startKillJourney(t *testing.T, d *devProcess, creds devCredentials) string {
	t.Helper()
	sk := creds.SecretKey
	status, tpl := doJSON(t, "POST", d.apiURL+"/api/templates", sk, `{"name":"Ping","channel":"sms","body":"ping {{ message.id }}"}`)
	require.Equal(t, 201, status, "%v", tpl)
	def := fmt.Sprintf(`{"name":"Crash","trigger":{"type":"event","event":"Crash Test"},"entry":{"policy":"once"},"start":"one","nodes":[
		{"id":"one","type":"send","channel":"sms","template_id":%[1]q,"next":"pause"},
		{"id":"pause","type":"delay","duration":"4s","next":"two"},
		{"id":"two","type":"send","channel":"sms","template_id":%[1]q,"next":"done"},
		{"id":"done","type":"exit"}]}`, tpl["id"])
	status, j := doJSON(t, "POST", d.apiURL+"/api/journeys", sk, def)
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, _ = doJSON(t, "POST", d.apiURL+"/api/journeys/"+id+"/publish", sk, "")
	require.Equal(t, 200, status)
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/identify", creds.WriteKey, `{"userId":"bob","traits":{"phone":"+15555550101"}}`)
	require.Equal(t, 200, status)
	status, _ = doJSON(t, "POST", d.apiURL+"/v1/track", creds.WriteKey, `{"userId":"bob","event":"Crash Test"}`)
	require.Equal(t, 200, status)
	require.Eventually(t, func() bool {
		_, out := doJSON(t, "GET", d.apiURL+"/api/deliveries?journey_id="+id, sk, "")
		return len(out["items"].([]any)) == 1
	}, 30*time.Second, 100*time.Millisecond)
	return id
}

func finishKillJourney(t *testing.T, d *devProcess, creds devCredentials, id string) {
	t.Helper()
	var items []any
	require.Eventually(t, func() bool {
		_, out := doJSON(t, "GET", d.apiURL+"/api/deliveries?journey_id="+id, creds.SecretKey, "")
		items, _ = out["items"].([]any)
		_, runs := doJSON(t, "GET", d.apiURL+"/api/journeys/"+id+"/runs", creds.SecretKey, "")
		rs, _ := runs["items"].([]any)
		return len(rs) == 1 && rs[0].(map[string]any)["status"] == "completed"
	}, 60*time.Second, 200*time.Millisecond, "the interrupted run finishes after the restart")
	nodes := map[string]int{}
	for _, it := range items {
		nodes[it.(map[string]any)["node_id"].(string)]++
	}
	require.Equal(t, map[string]int{"one": 1, "two": 1}, nodes, "each message exactly once")
}

// eventStream is 10,000 events produced straight to Kafka: streamCustomers
// customers with streamPerCustomer "Tick" events each, in order. The first
// streamRuns customers first send "Begin", which starts a run that then
// waits, taking in each of their Ticks as a signal.
type eventStream struct{ journeyID, tag string }

const streamCustomers, streamPerCustomer, streamRuns = 100, 100, 10

// startEventStream publishes the journey, produces the stream as a backend
// service would, and returns once ingest is part way through it — the
// moment to SIGKILL the process.
func startEventStream(t *testing.T, d *devProcess, creds devCredentials) eventStream {
	t.Helper()
	sk := creds.SecretKey
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	status, j := doJSON(t, "POST", d.apiURL+"/api/journeys", sk, `{"name":"Stream","trigger":{"type":"event","event":"Begin"},
		"entry":{"policy":"once"},"start":"wait","nodes":[
		{"id":"wait","type":"wait_for_event","event":"Never","timeout":"1h","on_event":"done","on_timeout":"done"},
		{"id":"done","type":"exit"}]}`)
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, _ = doJSON(t, "POST", d.apiURL+"/api/journeys/"+id+"/publish", sk, "")
	require.Equal(t, 200, status)

	p, err := ingest.NewProducer([]string{d.kafka}, "herald.events")
	require.NoError(t, err)
	defer p.Close()
	var msgs []ingest.Message
	for c := 0; c < streamRuns; c++ {
		user := fmt.Sprintf("stream-%s-%d", tag, c)
		b, _ := json.Marshal(map[string]any{"type": "track", "event": "Begin", "userId": user, "writeKey": creds.WriteKey,
			"messageId": "begin-" + user})
		msgs = append(msgs, ingest.Message{Key: user, Value: b})
	}
	for i := 0; i < streamPerCustomer; i++ {
		for c := 0; c < streamCustomers; c++ {
			user := fmt.Sprintf("stream-%s-%d", tag, c)
			b, _ := json.Marshal(map[string]any{"type": "track", "event": "Tick", "userId": user, "writeKey": creds.WriteKey,
				"messageId": fmt.Sprintf("%s-%d", user, i), "properties": map[string]any{"seq": i}})
			msgs = append(msgs, ingest.Message{Key: user, Value: b})
		}
	}
	require.NoError(t, p.Produce(context.Background(), msgs...))
	db := devDB(t, creds)
	require.Eventually(t, func() bool {
		return streamStored(t, db, tag) >= 1500
	}, 60*time.Second, 10*time.Millisecond)
	n := streamStored(t, db, tag)
	require.Less(t, n, streamCustomers*streamPerCustomer, "ingest should still be working through the stream")
	t.Logf("SIGKILL with %d of %d stream events stored", n, streamCustomers*streamPerCustomer)
	return eventStream{journeyID: id, tag: tag}
}

// finishEventStream checks, after the restart, that every event was stored
// once and in order per customer, and that each customer's run took in
// each of its events exactly once.
func finishEventStream(t *testing.T, d *devProcess, creds devCredentials, s eventStream) {
	t.Helper()
	db := devDB(t, creds)
	require.Eventually(t, func() bool {
		return streamStored(t, db, s.tag) == streamCustomers*streamPerCustomer
	}, 120*time.Second, 200*time.Millisecond, "every stream event stored after the restart")
	var rows, distinct int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT message_id) FROM events
		WHERE name = 'Tick' AND message_id LIKE $1`, "stream-"+s.tag+"-%").Scan(&rows, &distinct))
	require.Equal(t, streamCustomers*streamPerCustomer, rows, "each event stored once")
	require.Equal(t, rows, distinct)
	res, err := db.Query(context.Background(), `
		SELECT c.external_id, array_agg((e.properties->>'seq')::int ORDER BY e.id) FROM events e
		JOIN customers c ON c.id = e.customer_id WHERE e.name = 'Tick' AND e.message_id LIKE $1 GROUP BY c.external_id`,
		"stream-"+s.tag+"-%")
	require.NoError(t, err)
	for res.Next() {
		var user string
		var seqs []int32
		require.NoError(t, res.Scan(&user, &seqs))
		require.Len(t, seqs, streamPerCustomer)
		require.True(t, slices.IsSorted(seqs), "events of %s stored in order: %v", user, seqs)
	}
	require.NoError(t, res.Err())

	// Each run took in its customer's events exactly once: redelivered
	// signals after the crash were recognised by event id.
	var runs []any
	require.Eventually(t, func() bool {
		_, out := doJSON(t, "GET", d.apiURL+"/api/journeys/"+s.journeyID+"/runs?limit=100", creds.SecretKey, "")
		runs, _ = out["items"].([]any)
		return len(runs) == streamRuns
	}, 30*time.Second, 200*time.Millisecond)
	for _, r := range runs {
		wf := r.(map[string]any)["workflow_id"].(string)
		require.Eventually(t, func() bool {
			_, run := doJSON(t, "GET", d.apiURL+"/api/runs/"+wf, creds.SecretKey, "")
			st, _ := run["state"].(map[string]any)
			got, _ := st["events_received"].(float64)
			if int(got) > 1+streamPerCustomer {
				t.Fatalf("run %s took in %v events; the customer sent %d", wf, got, 1+streamPerCustomer)
			}
			return int(got) == 1+streamPerCustomer
		}, 120*time.Second, 200*time.Millisecond, "run %s takes in Begin and all %d Ticks", wf, streamPerCustomer)
	}
}

func devDB(t *testing.T, creds devCredentials) *pgx.Conn {
	t.Helper()
	require.NotEmpty(t, creds.DatabaseURL)
	db, err := pgx.Connect(context.Background(), creds.DatabaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

// benchIngestOnDev runs a small `herald bench ingest` (one warm-up run, two
// measured) against the dev stack: every event of every run is stored on
// its customer, the scratch tables of the raw path are gone, and the
// medians leave the warm-up out.
func benchIngestOnDev(t *testing.T, bin string, d *devProcess, creds devCredentials) {
	t.Helper()
	db := devDB(t, creds)
	ctx := context.Background()
	out, err := exec.Command(bin, "bench", "ingest", "--credentials", filepath.Join(d.dataDir, "dev-credentials.json"),
		"--metrics-addr", strings.TrimPrefix(d.metrics, "http://"), "--events", "1500", "--customers", "150",
		"--runs", "2", "--warmup", "1", "--timeout", "2m").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, 3, strings.Count(string(out), "throughput Herald/raw: "), "%s", out)
	require.Equal(t, 1, strings.Count(string(out), "warm-up run: left out of the medians"), "%s", out)
	require.Contains(t, string(out), "over 2 runs after 1 warm-up run: throughput Herald/raw ")

	// The bench waits for Herald's applied-events counter, which other
	// events also move: its last events may land just after it returns.
	var events, customers, names, scratch int
	require.Eventually(t, func() bool {
		err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT customer_id), count(DISTINCT name) FROM events
			WHERE name LIKE 'Bench Ingest %'`).Scan(&events, &customers, &names)
		return err == nil && events >= 3*1500
	}, 30*time.Second, 100*time.Millisecond, "%d bench events stored", events)
	require.Equal(t, 3*1500, events, "every event of the three runs stored once")
	require.Equal(t, 3*150, customers, "each run's events on its own 150 customers")
	require.Equal(t, 3, names)
	require.NoError(t, db.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench_raw_%'`).Scan(&scratch))
	require.Zero(t, scratch, "the raw path drops its scratch table")
}

func streamStored(t *testing.T, db *pgx.Conn, tag string) int {
	var n int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE name = 'Tick' AND message_id LIKE $1`,
		"stream-"+tag+"-%").Scan(&n))
	return n
}

// pgDataDir is the private cluster's data folder, from the dev log; it
// appears in the command line of the cluster's postgres processes.
func pgDataDir(t *testing.T, d *devProcess) string {
	t.Helper()
	for _, line := range strings.Split(d.log.String(), "\n") {
		if strings.Contains(line, "private postgres ready") {
			if _, dir, ok := strings.Cut(line, " dir="); ok {
				return strings.Fields(dir)[0]
			}
		}
	}
	t.Fatalf("no 'private postgres ready' line in the log")
	return ""
}

func runPlaywright(t *testing.T, d *devProcess) {
	t.Helper()
	frontendDir, err := filepath.Abs("../../frontend")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(frontendDir, "node_modules", "@playwright", "test")); err != nil {
		t.Fatalf("browser e2e needs the frontend's npm packages: run `npm ci` in frontend/ (or .ci/test, which does): %v", err)
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("browser e2e needs Chromium at %s: `apt-get install -y chromium` (or .ci/test, which does)", chromium)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// HERALD_E2E_SPECS narrows the run to some spec files (while working on
	// one); CI runs them all.
	args := append([]string{"playwright", "test"}, strings.Fields(os.Getenv("HERALD_E2E_SPECS"))...)
	cmd := exec.CommandContext(ctx, "npx", args...)
	cmd.Dir = frontendDir
	cmd.Env = append(os.Environ(), "HERALD_URL="+d.apiURL,
		"HERALD_CREDENTIALS="+filepath.Join(d.dataDir, "dev-credentials.json"), "CHROMIUM_PATH="+chromium)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "playwright:\n%s", out)
	t.Logf("playwright:\n%s", out)
}
