package activities

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

func ptr(s string) *string { return &s }

// renderVars is a customer with every built-in and a mix of attributes,
// reached from a journey with a trigger event.
func renderVars() RenderVars {
	return RenderVars{
		Customer: schema.Customer{
			ID:         "cus_1",
			ExternalID: ptr("u-42"),
			Email:      ptr("ann@example.com"),
			Phone:      ptr("+15550100"),
			Timezone:   ptr("Europe/Paris"),
			Attributes: json.RawMessage(`{
				"first_name": "Ann",
				"email": "attribute@example.com",
				"age": 3, "score": 3.0, "ratio": 2.5, "big": 12345678901234567, "debt": -7,
				"vip": true, "churned": false, "nickname": null, "empty": "",
				"bio": "<b>hi</b>",
				"tags": ["a", "b", "c"],
				"address": {"city": "Paris", "geo": {"lat": 48.85}}
			}`),
		},
		Event: &RenderEvent{Name: "Cart Abandoned", Properties: map[string]any{
			"total":    float64(30),
			"count":    json.Number("2"),
			"products": []any{map[string]any{"name": "Mug", "price": 12.5}, map[string]any{"price": 17.5}},
			"coupon":   map[string]any{"code": "SAVE10"},
		}},
		JourneyID:      "jrn_1",
		JourneyName:    "Win-back",
		MessageID:      "msg_1",
		UnsubscribeURL: "https://herald.example/u/abc",
	}
}

func TestRenderVariables(t *testing.T) {
	r := NewRenderer()
	tests := []struct {
		name, source, want string
	}{
		{"id", "{{ customer.id }}", "cus_1"},
		{"external id", "{{ customer.external_id }}", "u-42"},
		{"email", "{{ customer.email }}", "ann@example.com"},
		{"phone", "{{ customer.phone }}", "+15550100"},
		{"timezone", "{{ customer.timezone }}", "Europe/Paris"},
		{"attribute at top level", "Hi {{ customer.first_name }}!", "Hi Ann!"},
		{"attribute under attributes", "{{ customer.attributes.first_name }}", "Ann"},
		{"built-in wins over attribute", "{{ customer.email }} {{ customer.attributes.email }}", "ann@example.com attribute@example.com"},
		{"nested attribute", "{{ customer.address.city }} {{ customer.address.geo.lat }}", "Paris 48.85"},
		{"bracket lookup", `{{ customer["first_name"] }} {{ customer.address["city"] }}`, "Ann Paris"},
		{"whole number", "{{ customer.age }}", "3"},
		{"whole number written as float", "{{ customer.score }}", "3"},
		{"fraction", "{{ customer.ratio }}", "2.5"},
		{"big integer keeps its digits", "{{ customer.big }}", "12345678901234567"},
		{"negative", "{{ customer.debt }}", "-7"},
		{"arithmetic", "{{ customer.age | plus: 1 }} {{ customer.ratio | times: 2 }}", "4 5"},
		{"booleans", "{{ customer.vip }} {{ customer.churned }}", "true false"},
		{"if on boolean", "{% if customer.vip %}vip{% endif %}{% unless customer.churned %} active{% endunless %}", "vip active"},
		{"comparison", "{% if customer.age > 2 and customer.age < 4 %}three{% endif %}", "three"},
		{"for over array", "{% for t in customer.tags %}{{ t }}{% unless forloop.last %},{% endunless %}{% endfor %}", "a,b,c"},
		{"array size and first", "{{ customer.tags.size }} {{ customer.tags.first }} {{ customer.tags | last }}", "3 a c"},
		{"array index", "{{ customer.tags[1] }}", "b"},
		{"contains", `{% if customer.tags contains "b" %}yes{% endif %}`, "yes"},
		{"join and sort", `{{ customer.tags | reverse | join: "-" }}`, "c-b-a"},
		{"event name", "{{ event.name }}", "Cart Abandoned"},
		{"event properties", "{{ event.properties.total }} {{ event.properties.count }} {{ event.properties.coupon.code }}", "30 2 SAVE10"},
		{"for over event objects", "{% for p in event.properties.products %}{{ p.price }};{% endfor %}", "12.5;17.5;"},
		{"for with default", `{% for p in event.properties.products %}{{ p.name | default: "item" }};{% endfor %}`, "Mug;item;"},
		{"list of objects through filters", "{{ event.properties.products | size }} {{ event.properties.products | map: 'price' | join: '+' }}", "2 12.5+17.5"},
		{"json", "{{ customer.address | json }}", `{"city":"Paris","geo":{"lat":48.85}}`},
		{"journey", "{{ journey.id }} {{ journey.name }}", "jrn_1 Win-back"},
		{"message", "{{ message.id }}", "msg_1"},
		{"unsubscribe url", `<a href="{{ unsubscribe_url }}">`, `<a href="https://herald.example/u/abc">`},
		{"default on missing", `Hi {{ customer.last_name | default: "there" }}`, "Hi there"},
		{"default on null", `{{ customer.nickname | default: "none" }}`, "none"},
		{"default on empty string", `{{ customer.empty | default: "none" }}`, "none"},
		{"default keeps a value", `{{ customer.first_name | default: "there" }}`, "Ann"},
		{"default then filter", `{{ customer.last_name | default: "there" | upcase }}`, "THERE"},
		{"default on missing event", `{{ event.properties.nope | default: 0 }}`, "0"},
		{"if on missing is false", "{% if customer.last_name %}yes{% else %}no{% endif %}", "no"},
		{"missing equals nil", "{% if customer.last_name == nil %}nil{% endif %}", "nil"},
		{"unless on missing", "{% unless customer.address.zip %}no zip{% endunless %}", "no zip"},
		{"case on missing", `{% case customer.plan %}{% when "pro" %}pro{% else %}free{% endcase %}`, "free"},
		{"for over missing", "{% for x in customer.nope %}{{ x }}{% endfor %}done", "done"},
		{"assign and capture", `{% assign n = customer.first_name | upcase %}{% capture g %}Hi {{ n }}{% endcapture %}{{ g }}`, "Hi ANN"},
		{"no auto-escape", "{{ customer.bio }}", "<b>hi</b>"},
		{"escape filter", "{{ customer.bio | escape }}", "&lt;b&gt;hi&lt;/b&gt;"},
		{"raw", "{% raw %}{{ not_a_variable }}{% endraw %}", "{{ not_a_variable }}"},
		{"comment", "a{% comment %}{{ nope }}{% endcomment %}b", "ab"},
		{"plain text", "no liquid here", "no liquid here"},
		{"whitespace control", "a {{- customer.age -}} b", "a3b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Render(tt.source, renderVars())
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRenderMissingVariables(t *testing.T) {
	r := NewRenderer()
	noEvent := renderVars()
	noEvent.Event = nil
	noEmail := renderVars()
	noEmail.Customer.Email = nil
	bare := RenderVars{Customer: schema.Customer{ID: "cus_2"}}

	tests := []struct {
		name   string
		source string
		vars   RenderVars
		line   int
		want   string // the whole message
	}{
		{"attribute", "Hi {{ customer.first_name }}", bare, 1, `undefined variable "customer.first_name"`},
		{"under attributes", "{{ customer.attributes.first_name }}", bare, 1, `undefined variable "customer.attributes.first_name"`},
		{"nested, parent exists", "{{ customer.address.zip }}", renderVars(), 1, `undefined variable "customer.address.zip"`},
		{"nested, parent missing", "{{ customer.office.address.city }}", renderVars(), 1, `undefined variable "customer.office.address.city"`},
		{"null attribute", "{{ customer.nickname }}", renderVars(), 1, `undefined variable "customer.nickname"`},
		{"nil built-in", "{{ customer.email }}", noEmail, 1, `undefined variable "customer.email"`},
		{"built-ins of a bare customer", "{{ customer.id }} {{ customer.external_id }}", bare, 1, `undefined variable "customer.external_id"`},
		{"no event", "{{ event.properties.total }}", noEvent, 1, `undefined variable "event.properties.total" (the message has no trigger event)`},
		{"event name without event", "{{ event.name }}", noEvent, 1, `undefined variable "event.name" (the message has no trigger event)`},
		{"event property", "{{ event.properties.nope }}", renderVars(), 1, `undefined variable "event.properties.nope"`},
		{"index past the end", "{{ customer.tags[3] }}", renderVars(), 1, `undefined variable "customer.tags[3]"`},
		{"property of a string", "{{ customer.first_name.last }}", renderVars(), 1, `undefined variable "customer.first_name.last"`},
		{"unknown root", "{{ custmer.first_name }}", renderVars(), 1, `undefined variable "custmer.first_name"`},
		{"journey without name", "{{ journey.name }}", bare, 1, `undefined variable "journey.name"`},
		{"message without id", "{{ message.id }}", bare, 1, `undefined variable "message.id"`},
		{"no unsubscribe url", "{{ unsubscribe_url }}", bare, 1, `undefined variable "unsubscribe_url"`},
		{"into a filter", "{{ customer.last_name | upcase }}", renderVars(), 1, `undefined variable "customer.last_name"`},
		{"as a filter argument", `{{ "Hi " | append: customer.last_name }}`, renderVars(), 1, `undefined variable "customer.last_name"`},
		{"in a filter inside assign", "{% assign n = customer.last_name | upcase %}{{ n }}", renderVars(), 1, `undefined variable "customer.last_name"`},
		{"default falls back to missing", "{{ customer.last_name | default: customer.surname }}", renderVars(), 1, `undefined variable "customer.surname"`},
		{"loop item", "{% for p in event.properties.products %}\n{{ p.name }}\n{% endfor %}", renderVars(), 2, `undefined variable "event.properties.products[1].name"`},
		{"range bound", "{% for i in (1..customer.count) %}{% endfor %}", renderVars(), 1, `undefined variable "customer.count"`},
		{"line inside a block", "Hi\n{% if customer.vip %}\n\n{{ customer.vip_level }}\n{% endif %}", renderVars(), 4, `undefined variable "customer.vip_level"`},
		{"second output on a line", "{{ customer.first_name }} {{ customer.last_name }}", renderVars(), 1, `undefined variable "customer.last_name"`},
		{"assigned nil", "{% assign a = customer.last_name %}\n{{ a }}", renderVars(), 2, `undefined variable or nil value in {{ a }}`},
		{"filter returning nil", `{{ "" | split: "," | first }}`, renderVars(), 1, `undefined variable or nil value in {{ "" | split: "," | first }}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Render(tt.source, tt.vars)
			require.Error(t, err, "rendered %q", got)
			var te *TemplateError
			require.ErrorAs(t, err, &te)
			require.Equal(t, tt.want, te.Message)
			require.Equal(t, tt.line, te.Line)
			require.Equal(t, fmt.Sprintf("line %d: %s", tt.line, tt.want), err.Error())
			require.Empty(t, got)
		})
	}
}

func TestRenderSyntaxErrors(t *testing.T) {
	r := NewRenderer()
	tests := []struct {
		name   string
		source string
		line   int
		want   string
	}{
		{"dangling pipe", "Hi\n{{ customer.first_name | }}", 2, `syntax error in "customer.first_name |"`},
		{"unterminated block", "{% if customer.vip %}\nyes", 1, `unterminated "if" block`},
		{"unclosed output", "Hi\n  {{ customer.first_name", 2, "{{ is not closed"},
		{"unclosed tag", "{% if x", 1, "{% is not closed"},
		{"unknown tag", "{% nosuch %}", 1, `undefined tag "nosuch"`},
		{"unknown filter", "\n{{ customer.first_name | shout }}", 2, `undefined filter "shout" in {{ customer.first_name | shout }}`},
		{"include", "{% include '/etc/passwd' %}", 1, "include is not supported in {% include '/etc/passwd' %}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, err := range []error{
				r.Check(tt.source),
				func() error { _, err := r.Render(tt.source, renderVars()); return err }(),
			} {
				var te *TemplateError
				require.ErrorAs(t, err, &te)
				require.Equal(t, tt.want, te.Message)
				require.Equal(t, tt.line, te.Line)
			}
		})
	}
	require.NoError(t, r.Check("Hi {{ customer.first_name | default: 'there' }}{% if event %}{{ event.name }}{% endif %}"))
	require.NoError(t, r.Check("{{ a_variable_that_may_not_exist }}"), "Check is about syntax, not data")
}

// TestRenderRefusesWithoutPanicking feeds odd templates through Render: each
// must come back with a result or an error.
func TestRenderRefusesWithoutPanicking(t *testing.T) {
	r := NewRenderer()
	for _, source := range []string{
		"{{", "}}", "{%", "%}", "{{}}", "{{ }}", "{% %}", "{{ | }}", "{{- -}}", "{%- -%}",
		"{{ (1.. ) }}", "{{ ( }}", "{{ customer. }}", "{{ customer[ }}", "{{ 'unterminated }}",
		"{% for %}{% endfor %}", "{% cycle %}", "{% cycle 'a' %}", "{% assign %}", "{% assign = 1 %}",
		"{% capture %}{% endcapture %}", "{% case %}{% when %}{% endcase %}", "{% else %}", "{% endfor %}",
		"{% break %}", "{% continue %}", "{% tablerow x in customer.tags cols: customer.nope %}{% endtablerow %}",
		"{% for x in customer.tags limit: customer.nope offset: 'a' %}{{ x }}{% endfor %}",
		"{{ customer.tags | divided_by: 0 }}", "{{ 1 | divided_by: 0 }}", "{{ customer | date: '%Y' }}",
		"{{ customer.tags | sort: customer.nope }}", "{{ customer.address | map: 'x' }}",
		"{{ customer.nope | default }}", "{{ customer.tags | slice: 'a' }}", "{{ customer.first_name | truncate: -5 }}",
		"\x00{{\xff}}", strings.Repeat("{% if true %}", 200) + strings.Repeat("{% endif %}", 200),
	} {
		require.NotPanics(t, func() { _, _ = r.Render(source, renderVars()) }, source)
		require.NotPanics(t, func() { _ = r.Check(source) }, source)
	}
}

func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		"Hi {{ customer.first_name | default: 'there' }}",
		"{% for p in event.properties.products %}{{ p.name | upcase }}{% endfor %}",
		"{% if customer.vip %}{{ customer.tags | join: ',' }}{% endif %}",
		"{{ customer.address.geo.lat | plus: 1 }}",
	} {
		f.Add(seed)
	}
	r := NewRenderer()
	f.Fuzz(func(t *testing.T, source string) {
		out, err := r.Render(source, renderVars())
		if err != nil {
			require.Empty(t, out)
			var te *TemplateError
			require.ErrorAs(t, err, &te)
		}
	})
}

func TestRenderOutputIsBounded(t *testing.T) {
	r := NewRenderer()
	_, err := r.Render("{% for i in (1..1000000) %}0123456789{% endfor %}", renderVars())
	require.ErrorContains(t, err, "output is larger than")
}

func TestRenderContent(t *testing.T) {
	r := NewRenderer()
	t.Run("email", func(t *testing.T) {
		got, err := r.RenderContent(schema.ChannelEmail, schema.TemplateContent{
			Subject: "Hi {{ customer.first_name }}",
			HTML:    `<p>{{ event.properties.total }}</p><a href="{{ unsubscribe_url }}">u</a>`,
			Text:    "{{ event.properties.total }}",
			From:    "{{ journey.name }} <news@example.com>",
			ReplyTo: "help@example.com",
			Body:    "not an email field {{ nope }}",
		}, renderVars())
		require.NoError(t, err)
		require.Equal(t, schema.TemplateContent{
			Subject: "Hi Ann",
			HTML:    `<p>30</p><a href="https://herald.example/u/abc">u</a>`,
			Text:    "30",
			From:    "Win-back <news@example.com>",
			ReplyTo: "help@example.com",
		}, got)
	})
	t.Run("sms", func(t *testing.T) {
		got, err := r.RenderContent(schema.ChannelSMS, schema.TemplateContent{Body: "{{ customer.first_name }}: {{ event.properties.coupon.code }}"}, renderVars())
		require.NoError(t, err)
		require.Equal(t, schema.TemplateContent{Body: "Ann: SAVE10"}, got)
	})
	t.Run("webhook", func(t *testing.T) {
		got, err := r.RenderContent(schema.ChannelWebhook, schema.TemplateContent{
			Method:  "POST",
			URL:     "https://hooks.example/{{ customer.external_id }}",
			Headers: map[string]string{"X-Token": "t-{{ message.id }}", "Content-Type": "application/json"},
			Body:    `{"email": {{ customer.email | json }}, "tags": {{ customer.tags | json }}}`,
		}, renderVars())
		require.NoError(t, err)
		require.Equal(t, schema.TemplateContent{
			Method:  "POST",
			URL:     "https://hooks.example/u-42",
			Headers: map[string]string{"X-Token": "t-msg_1", "Content-Type": "application/json"},
			Body:    `{"email": "ann@example.com", "tags": ["a","b","c"]}`,
		}, got)
	})

	errs := []struct {
		name    string
		channel string
		content schema.TemplateContent
		want    string
	}{
		{"email subject", schema.ChannelEmail, schema.TemplateContent{Subject: "Hi {{ customer.last_name }}", HTML: "x"},
			`subject: line 1: undefined variable "customer.last_name"`},
		{"email html", schema.ChannelEmail, schema.TemplateContent{Subject: "Hi", HTML: "<p>\n{{ customer.last_name }}</p>"},
			`html: line 2: undefined variable "customer.last_name"`},
		{"email text", schema.ChannelEmail, schema.TemplateContent{Subject: "Hi", HTML: "x", Text: "{% if %}"},
			`text: line 1: unterminated "if" block`},
		{"email from", schema.ChannelEmail, schema.TemplateContent{From: "{{ journey.owner }}"},
			`from: line 1: undefined variable "journey.owner"`},
		{"email reply_to", schema.ChannelEmail, schema.TemplateContent{ReplyTo: "{{ customer.manager_email }}"},
			`reply_to: line 1: undefined variable "customer.manager_email"`},
		{"sms body", schema.ChannelSMS, schema.TemplateContent{Body: "{{ customer.last_name | upcase }}"},
			`body: line 1: undefined variable "customer.last_name"`},
		{"webhook url", schema.ChannelWebhook, schema.TemplateContent{Method: "POST", URL: "https://x/{{ customer.account_id }}"},
			`url: line 1: undefined variable "customer.account_id"`},
		{"webhook header", schema.ChannelWebhook, schema.TemplateContent{Method: "POST", URL: "https://x",
			Headers: map[string]string{"Accept": "*/*", "X-Token": "{{ customer.api_token }}"}},
			`headers.X-Token: line 1: undefined variable "customer.api_token"`},
		{"webhook body", schema.ChannelWebhook, schema.TemplateContent{Method: "POST", URL: "https://x", Body: "{{ event.properties.nope }}"},
			`body: line 1: undefined variable "event.properties.nope"`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.RenderContent(tt.channel, tt.content, renderVars())
			require.EqualError(t, err, tt.want)
			var te *TemplateError
			require.ErrorAs(t, err, &te)
			require.Equal(t, strings.SplitN(tt.want, ":", 2)[0], te.Field)
			require.Equal(t, schema.TemplateContent{}, got)
		})
	}

	t.Run("unknown channel", func(t *testing.T) {
		_, err := r.RenderContent("pigeon", schema.TemplateContent{Body: "x"}, renderVars())
		require.EqualError(t, err, `render template: unknown channel "pigeon"`)
	})
	t.Run("bad attributes", func(t *testing.T) {
		v := renderVars()
		v.Customer.Attributes = json.RawMessage(`[1]`)
		_, err := r.RenderContent(schema.ChannelSMS, schema.TemplateContent{Body: "x"}, v)
		require.EqualError(t, err, "decode customer attributes: not a JSON object")
		var te *TemplateError
		require.False(t, errors.As(err, &te), "not the template's fault")
	})
}

// TestRenderConcurrent renders one template from 8 goroutines for different
// customers; run it with -race.
func TestRenderConcurrent(t *testing.T) {
	r := NewRenderer()
	const source = `Hi {{ customer.first_name }}, {% for t in customer.tags %}{{ t | upcase }}{% endfor %} {{ customer.last_name | default: "-" }}`
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				v := RenderVars{Customer: schema.Customer{ID: "c", Attributes: json.RawMessage(
					fmt.Sprintf(`{"first_name": "n%d-%d", "tags": ["a", "b%d"]}`, g, i, i))}}
				got, err := r.Render(source, v)
				if want := fmt.Sprintf("Hi n%d-%d, AB%d -", g, i, i); err != nil || got != want {
					errs <- fmt.Errorf("goroutine %d render %d: got %q, %v; want %q", g, i, got, err, want)
					return
				}
				if _, err := r.Render(source+"{{ customer.nope }}", v); err == nil {
					errs <- errors.New("missing variable rendered")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestRenderCacheIsBounded(t *testing.T) {
	r := NewRenderer()
	for i := range maxCachedTemplates + 50 {
		got, err := r.Render(fmt.Sprintf("{{ customer.first_name }} %d", i), renderVars())
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("Ann %d", i), got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.cache, maxCachedTemplates)
	require.Equal(t, maxCachedTemplates, r.lru.Len())
	_, recent := r.cache[fmt.Sprintf("{{ customer.first_name }} %d", maxCachedTemplates+49)]
	_, oldest := r.cache["{{ customer.first_name }} 0"]
	require.True(t, recent)
	require.False(t, oldest)
}

// BenchmarkRender renders a typical email: a subject and 2 KB of HTML using
// five variables.
func BenchmarkRender(b *testing.B) {
	r := NewRenderer()
	para := `<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#333">` +
		`We saved the items in your cart. They are still waiting for you, but we cannot hold them forever.</p>` + "\n"
	html := `<html><body><h1>Hi {{ customer.first_name | default: "there" }},</h1>` + "\n" +
		strings.Repeat(para, 6) +
		`<p>Your total is {{ event.properties.total }}. Use code {{ event.properties.coupon.code }}.</p>` +
		strings.Repeat(para, 6) +
		`<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>`
	content := schema.TemplateContent{Subject: "{{ customer.first_name }}, your cart is waiting", HTML: html}
	vars := renderVars()
	out, err := r.RenderContent(schema.ChannelEmail, content, vars)
	require.NoError(b, err)
	require.Greater(b, len(out.HTML), 2000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.RenderContent(schema.ChannelEmail, content, vars); err != nil {
			b.Fatal(err)
		}
	}
}
