package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// sesContent is the wire shape of SES v2 Content.
type sesContent struct {
	Data    string
	Charset string
}

// sesSendEmail is the JSON body of SES v2 SendEmail, as AWS documents it.
type sesSendEmail struct {
	FromEmailAddress     string
	ReplyToAddresses     []string
	ConfigurationSetName string
	Destination          struct{ ToAddresses []string }
	Content              struct {
		Simple struct {
			Subject sesContent
			Body    struct{ Html, Text *sesContent }
			Headers []struct{ Name, Value string }
		}
	}
	EmailTags []struct{ Name, Value string }
}

// fakeSES speaks the SES v2 outbound-emails endpoint. status and errType
// choose the answer; requests counts calls.
type fakeSES struct {
	status   int
	errType  string
	requests atomic.Int32
	last     atomic.Pointer[sesSendEmail]
	auth     atomic.Pointer[string]
}

func (f *fakeSES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	var in sesSendEmail
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.last.Store(&in)
	a := r.Header.Get("Authorization")
	f.auth.Store(&a)
	w.Header().Set("Content-Type", "application/json")
	if f.status != 0 && f.status != http.StatusOK {
		w.Header().Set("X-Amzn-ErrorType", f.errType)
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"message":"simulated ` + f.errType + `"}`))
		return
	}
	_, _ = w.Write([]byte(`{"MessageId":"010201900000000a-ses-id-000000"}`))
}

func newTestSES(t testing.TB, f *fakeSES) *SES {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := NewSES(context.Background(), SESConfig{
		Region: "eu-west-1", AccessKeyID: "AKIDTEST", SecretAccessKey: "secretTEST",
		ConfigurationSet: "herald-events", Endpoint: srv.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSESSendsTheWireFormat(t *testing.T) {
	f := &fakeSES{}
	s := newTestSES(t, f)
	m := emailMessage()
	m.WorkspaceID = "ws 1/é" // not a valid tag value as is
	res, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Provider != "ses" || res.ProviderMessageID != "010201900000000a-ses-id-000000" {
		t.Fatalf("result %+v", res)
	}
	in := f.last.Load()
	if got := *f.auth.Load(); !strings.HasPrefix(got, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(got, "/eu-west-1/ses/aws4_request") {
		t.Errorf("authorization %q", got)
	}
	if in.FromEmailAddress != "=?utf-8?q?Acme_Caf=C3=A9?= <hi@acme.io>" {
		t.Errorf("from %q", in.FromEmailAddress)
	}
	if len(in.Destination.ToAddresses) != 1 || in.Destination.ToAddresses[0] != `"Jo" <jo@example.com>` {
		t.Errorf("to %q", in.Destination.ToAddresses)
	}
	if len(in.ReplyToAddresses) != 1 || in.ReplyToAddresses[0] != "<help@acme.io>" {
		t.Errorf("reply-to %q", in.ReplyToAddresses)
	}
	if in.ConfigurationSetName != "herald-events" {
		t.Errorf("configuration set %q", in.ConfigurationSetName)
	}
	simple := in.Content.Simple
	if simple.Subject.Data != m.Email.Subject || simple.Subject.Charset != "UTF-8" {
		t.Errorf("subject %+v", simple.Subject)
	}
	if simple.Body.Html == nil || simple.Body.Html.Data != m.Email.HTML || simple.Body.Text == nil || simple.Body.Text.Data != m.Email.Text {
		t.Errorf("body %+v", simple.Body)
	}
	headers := map[string]string{}
	for _, h := range simple.Headers {
		headers[h.Name] = h.Value
	}
	want := map[string]string{
		"List-Unsubscribe":      "<https://herald.example/t/unsubscribe/tok>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"X-Campaign":            "welcome",
	}
	for k, v := range want {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}
	tags := map[string]string{}
	for _, tg := range in.EmailTags {
		tags[tg.Name] = tg.Value
	}
	if tags["workspace_id"] != "ws_1__" || tags["journey_id"] != "jr_9" || tags["message_id"] != "m-0123abcd" {
		t.Errorf("tags %v", tags)
	}
}

func TestSESErrors(t *testing.T) {
	cases := []struct {
		status    int
		errType   string
		permanent bool
		reason    string
	}{
		{400, "MessageRejected", true, ReasonRejected},
		{400, "BadRequestException", true, ReasonInvalidMessage},
		{400, "MailFromDomainNotVerifiedException", true, ReasonConfig},
		{403, "AccessDeniedException", true, ReasonAuth},
		{429, "TooManyRequestsException", false, ReasonRateLimited},
		{500, "InternalServiceErrorException", false, ReasonUnavailable},
		{503, "ServiceUnavailable", false, ReasonUnavailable},
	}
	for _, c := range cases {
		t.Run(c.errType, func(t *testing.T) {
			f := &fakeSES{status: c.status, errType: c.errType}
			_, err := newTestSES(t, f).Send(context.Background(), emailMessage())
			if c.permanent {
				wantPermanent(t, err, c.reason)
			} else {
				wantTransient(t, err, c.reason)
			}
			if n := f.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: Temporal retries, not the SDK", n)
			}
		})
	}
}

func TestSESUnreachableIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there now
	s, err := NewSES(context.Background(), SESConfig{Region: "eu-west-1", AccessKeyID: "a", SecretAccessKey: "b", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), emailMessage())
	wantTransient(t, err, ReasonNetwork)
}

func TestSESTagValue(t *testing.T) {
	for in, want := range map[string]string{"abc-DEF_09": "abc-DEF_09", "a.b@c d": "a_b_c_d", "": ""} {
		if got := SESTagValue(in); got != want {
			t.Errorf("SESTagValue(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SESTagValue(strings.Repeat("x", 300)); len(got) != 256 {
		t.Errorf("long tag kept %d characters", len(got))
	}
}

func BenchmarkSESSend(b *testing.B) {
	s := newTestSES(b, &fakeSES{})
	m := emailMessage()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
