package delivery

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

const (
	testAccountSID = "AC0123456789abcdef0123456789abcdef"
	testAuthToken  = "0123456789abcdef0123456789abcdef"
)

// fakeTwilio speaks the Messages resource of Twilio's 2010-04-01 API.
// answer writes the response for the posted form.
type fakeTwilio struct {
	answer func(w http.ResponseWriter, form url.Values)
	mu     sync.Mutex
	forms  []url.Values
	hosts  []string
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testAccountSID+"/Messages.json" ||
		!ok || user != testAccountSID || pass != testAuthToken {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.forms = append(f.forms, r.PostForm)
	f.hosts = append(f.hosts, r.Header.Get("X-Original-Host"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	f.answer(w, r.PostForm)
}

func twilioCreated(w http.ResponseWriter, form url.Values) {
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"account_sid":"`+testAccountSID+`","api_version":"2010-04-01","body":"`+form.Get("Body")+
		`","direction":"outbound-api","error_code":null,"from":"+15005550006","num_segments":"1","sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"`+form.Get("To")+`"}`)
}

func newTestTwilio(t *testing.T, f *fakeTwilio) *Twilio {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	tw, err := NewTwilio(TwilioConfig{AccountSID: testAccountSID, AuthToken: testAuthToken,
		Transport: redirectTransport{target: mustParseURL(t, srv.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

func smsMessage() Message {
	return Message{ID: "m-sms-1", WorkspaceID: "ws_1", Channel: ChannelSMS, SMS: &SMS{
		From: "+15005550006", To: "+14155550100", Body: "Your code is 1234",
		StatusCallback: "https://herald.example/webhooks/twilio/status?message_id=m-sms-1",
	}}
}

func TestTwilioSendsTheWireFormat(t *testing.T) {
	f := &fakeTwilio{answer: twilioCreated}
	tw := newTestTwilio(t, f)
	res, err := tw.Send(context.Background(), smsMessage())
	if err != nil {
		t.Fatal(err)
	}
	if res.Provider != "twilio" || res.ProviderMessageID != "SM0123456789abcdef0123456789abcdef" {
		t.Fatalf("result %+v", res)
	}
	m := smsMessage()
	m.SMS.From, m.SMS.MessagingServiceSID = "", "MG0123456789abcdef0123456789abcdef"
	if _, err := tw.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}

	if len(f.forms) != 2 || f.hosts[0] != "api.twilio.com" {
		t.Fatalf("%d requests to %v", len(f.forms), f.hosts)
	}
	want := url.Values{"To": {"+14155550100"}, "From": {"+15005550006"}, "Body": {"Your code is 1234"},
		"StatusCallback": {"https://herald.example/webhooks/twilio/status?message_id=m-sms-1"}}
	if got := f.forms[0]; got.Encode() != want.Encode() {
		t.Errorf("form\n got %s\nwant %s", got.Encode(), want.Encode())
	}
	want.Del("From")
	want.Set("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef")
	if got := f.forms[1]; got.Encode() != want.Encode() {
		t.Errorf("form\n got %s\nwant %s", got.Encode(), want.Encode())
	}
}

func TestTwilioErrors(t *testing.T) {
	twilioError := func(status int, body string) func(http.ResponseWriter, url.Values) {
		return func(w http.ResponseWriter, _ url.Values) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	cases := []struct {
		name      string
		answer    func(http.ResponseWriter, url.Values)
		permanent bool
		reason    string
	}{
		{"invalid to", twilioError(400, `{"code":21211,"message":"The 'To' number +1415 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`), true, ReasonInvalidRecipient},
		{"not mobile", twilioError(400, `{"code":21614,"message":"'To' number is not a valid mobile number","more_info":"https://www.twilio.com/docs/errors/21614","status":400}`), true, ReasonInvalidRecipient},
		{"unsubscribed", twilioError(400, `{"code":21610,"message":"Attempt to send to unsubscribed recipient","more_info":"https://www.twilio.com/docs/errors/21610","status":400}`), true, ReasonRecipientOptedOut},
		{"other 400", twilioError(400, `{"code":21999,"message":"Something else","status":400}`), true, ReasonClientError},
		{"rate limited", twilioError(429, `{"code":20429,"message":"Too Many Requests","status":429}`), false, ReasonRateLimited},
		{"server error json", twilioError(500, `{"code":20500,"message":"Internal Server Error","status":500}`), false, ReasonUnavailable},
		{"server error html", twilioError(503, `<html>unavailable</html>`), false, ReasonUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := newTestTwilio(t, &fakeTwilio{answer: c.answer}).Send(context.Background(), smsMessage())
			if c.permanent {
				wantPermanent(t, err, c.reason)
			} else {
				wantTransient(t, err, c.reason)
			}
		})
	}
}

func TestTwilioWrongCredentialsArePermanent(t *testing.T) {
	srv := httptest.NewServer(&fakeTwilio{answer: twilioCreated})
	t.Cleanup(srv.Close)
	tw, err := NewTwilio(TwilioConfig{AccountSID: testAccountSID, AuthToken: "wrong0token",
		Transport: redirectTransport{target: mustParseURL(t, srv.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tw.Send(context.Background(), smsMessage())
	wantPermanent(t, err, ReasonAuth)
}

func TestTwilioHonoursContext(t *testing.T) {
	tw := newTestTwilio(t, &fakeTwilio{answer: twilioCreated})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tw.Send(ctx, smsMessage())
	wantTransient(t, err, ReasonCanceled)
}

func TestTwilioConfig(t *testing.T) {
	for _, cfg := range []TwilioConfig{{}, {AccountSID: "AC1", AuthToken: "tok-en"}} {
		_, err := NewTwilio(cfg)
		wantPermanent(t, err, ReasonConfig)
	}
}
