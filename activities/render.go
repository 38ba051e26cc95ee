package activities

// Rendering of message templates (DESIGN §7). Every template field is Liquid
// (github.com/osteele/liquid) evaluated with these rules:
//
//   - Variables: customer (built-ins id, external_id, email, phone, timezone;
//     every custom attribute by name, and all of them again under
//     customer.attributes; a built-in wins over an attribute of the same name),
//     event (name, properties), journey (id, name), message (id) and
//     unsubscribe_url.
//   - A reference that resolves to nothing is undefined: an unknown name, a
//     missing key at any depth (customer.address.city when address has no
//     city), a JSON null, an index past the end, anything under event when
//     the message has no trigger event, and a built-in the customer lacks
//     ({{ customer.email }} for a customer without an email; the built-in
//     still wins, so an attribute called "email" is only at
//     customer.attributes.email).
//   - Printing an undefined value, or piping it into any filter but default
//     (as input or argument), is an error naming it:
//     `line 3: undefined variable "customer.first_name"`. The preview shows
//     it and a send records it; nothing goes out with a blank instead.
//   - default opts out: {{ customer.first_name | default: "there" }}. In
//     {% if %}, comparisons, {% assign %} and {% for %} an undefined value is
//     nil, so {% if customer.first_name %} is simply false. Printing nil from
//     anywhere else (a filter returning nil, a variable assigned from an
//     undefined one) is an error too, pointing at the {{ … }} on its line.
//   - Whole numbers print without a point (3 and 3.0 print "3", 2.5 prints
//     "2.5"); big integers keep their digits.
//   - Output is not escaped, as in every Liquid: write {{ x | escape }} where
//     a value lands in HTML.
//   - {% include %} is refused: it would read files of the worker. Check
//     also refuses an unknown filter and an unclosed {{ or {%, which the
//     library would notice only when rendering, or print as text.
//
// How: the bindings are values.Value implementations (node, undefined) that
// remember the path that reached them, and every filter is wrapped
// (strictFilters); see howUsed for how printing is told from other uses.

import (
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/filters"
	"github.com/osteele/liquid/parser"
	"github.com/osteele/liquid/render"
	"github.com/osteele/liquid/values"

	"github.com/heraldhq/herald/schema"
)

const (
	// maxCachedTemplates bounds the parsed-template cache of a Renderer.
	maxCachedTemplates = 1024
	// maxOutput bounds what one field may render to, so a runaway loop
	// fails instead of filling memory.
	maxOutput = 2 << 20
)

// RenderVars are the variables a template sees (DESIGN §7).
type RenderVars struct {
	Customer schema.Customer
	// Event is the trigger event; nil when the message has none.
	Event          *RenderEvent
	JourneyID      string
	JourneyName    string
	MessageID      string
	UnsubscribeURL string
}

// RenderEvent is the event a template sees as `event`.
type RenderEvent struct {
	Name       string
	Properties map[string]any
}

// TemplateError is a problem with a template: its syntax, or a variable it
// uses that the customer or event does not have. The API shows it to the
// author; a send records it.
type TemplateError struct {
	// Field is the template field, for example "subject" or
	// "headers.X-Token"; empty from Render and Check.
	Field string
	// Line is the 1-based line in the field; 0 when unknown.
	Line    int
	Message string
}

func (e *TemplateError) Error() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Renderer renders Liquid templates with strict variables. It is safe for
// concurrent use and keeps a bounded cache of parsed templates.
type Renderer struct {
	engine  *liquid.Engine
	filters map[string]bool // names of the registered filters

	mu    sync.Mutex
	cache map[string]*list.Element // source → element of lru holding *compiled
	lru   *list.List               // most recently used first
}

// compiled is a parsed template and the names it may look up.
type compiled struct {
	source string
	tpl    *liquid.Template
	// names are the root identifiers the template mentions; those without a
	// binding are bound to undefined so that a typo is reported by name.
	names []string
}

var errInclude = errors.New("include is not supported")

// NewRenderer builds a Renderer.
func NewRenderer() *Renderer {
	e := liquid.NewEngine()
	// A backstop: printing nil that did not come from an undefined
	// variable (those report themselves by name) is an error too.
	e.StrictVariables()
	// Re-register every standard filter so that undefined values are
	// refused by all of them but default.
	sf := strictFilters{e: e, names: map[string]bool{}}
	filters.AddStandardFilters(sf)
	e.RegisterTag("include", func(render.Context) (string, error) { return "", errInclude })
	return &Renderer{engine: e, filters: sf.names, cache: map[string]*list.Element{}, lru: list.New()}
}

// Render renders one template for the given variables.
func (r *Renderer) Render(source string, vars RenderVars) (string, error) {
	b, err := newBindings(vars)
	if err != nil {
		return "", err
	}
	return r.render(source, b)
}

// RenderContent renders every field of a template of the given channel,
// webhook header values included. Fields of other channels are left out. An
// error names the field: "subject: line 1: …", "headers.X-Token: …".
func (r *Renderer) RenderContent(channel string, c schema.TemplateContent, vars RenderVars) (schema.TemplateContent, error) {
	var out schema.TemplateContent
	b, err := newBindings(vars)
	if err != nil {
		return out, err
	}
	type field struct {
		name string
		src  string
		set  func(string)
	}
	var fields []field
	to := func(dst *string) func(string) { return func(s string) { *dst = s } }
	switch channel {
	case schema.ChannelEmail:
		fields = []field{
			{"subject", c.Subject, to(&out.Subject)}, {"html", c.HTML, to(&out.HTML)}, {"text", c.Text, to(&out.Text)},
			{"from", c.From, to(&out.From)}, {"reply_to", c.ReplyTo, to(&out.ReplyTo)},
		}
	case schema.ChannelSMS:
		fields = []field{{"body", c.Body, to(&out.Body)}}
	case schema.ChannelWebhook:
		fields = []field{{"method", c.Method, to(&out.Method)}, {"url", c.URL, to(&out.URL)}, {"body", c.Body, to(&out.Body)}}
		if c.Headers != nil {
			out.Headers = make(map[string]string, len(c.Headers))
			for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
				fields = append(fields, field{"headers." + k, c.Headers[k], func(s string) { out.Headers[k] = s }})
			}
		}
	default:
		return out, fmt.Errorf("render template: unknown channel %q", channel)
	}
	for _, f := range fields {
		s, err := r.render(f.src, b)
		if err != nil {
			var te *TemplateError
			if errors.As(err, &te) {
				named := *te
				named.Field = f.name
				return schema.TemplateContent{}, &named
			}
			return schema.TemplateContent{}, fmt.Errorf("%s: %w", f.name, err)
		}
		f.set(s)
	}
	return out, nil
}

// Check parses a template without rendering it, for validation when a
// template is saved: syntax errors, unknown tags and filters, include. It
// cannot know which variables a customer will have.
func (r *Renderer) Check(source string) error {
	_, err := r.compile(source)
	return err
}

// render renders source with prepared bindings.
func (r *Renderer) render(source string, b map[string]any) (out string, err error) {
	if !strings.Contains(source, "{{") && !strings.Contains(source, "{%") {
		return source, nil
	}
	c, err := r.compile(source)
	if err != nil {
		return "", err
	}
	scope := make(map[string]any, len(b)+len(c.names))
	maps.Copy(scope, b)
	for _, n := range c.names {
		if _, ok := scope[n]; !ok {
			scope[n] = undefined{path: n}
		}
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = "", panicError(p)
		}
	}()
	w := &cappedBuffer{max: maxOutput}
	if lerr := c.tpl.FRender(w, scope); lerr != nil {
		return "", sourceError(source, lerr)
	}
	return w.String(), nil
}

// compile returns the parsed template for source, from the cache when it
// can.
func (r *Renderer) compile(source string) (*compiled, error) {
	r.mu.Lock()
	if el, ok := r.cache[source]; ok {
		r.lru.MoveToFront(el)
		r.mu.Unlock()
		return el.Value.(*compiled), nil
	}
	r.mu.Unlock()

	c, err := r.parse(source)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.cache[source]; ok { // parsed meanwhile by another goroutine
		r.lru.MoveToFront(el)
		return el.Value.(*compiled), nil
	}
	r.cache[source] = r.lru.PushFront(c)
	if r.lru.Len() > maxCachedTemplates {
		oldest := r.lru.Back()
		r.lru.Remove(oldest)
		delete(r.cache, oldest.Value.(*compiled).source)
	}
	return c, nil
}

func (r *Renderer) parse(source string) (c *compiled, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, panicError(p)
		}
	}()
	// A path keeps the line of an error inside a block: without one the
	// library reports the line of the enclosing {% if %} or {% for %}.
	tpl, lerr := r.engine.ParseTemplateLocation([]byte(source), templatePath, 1)
	if lerr != nil {
		return nil, sourceError(source, lerr)
	}
	names, err := rootNames(source, r.filters)
	if err != nil {
		return nil, err
	}
	return &compiled{source: source, tpl: tpl, names: names}, nil
}

// rootNames lists the identifiers that may start a variable reference in
// source. It is deliberately generous: binding a word that is never looked
// up as a variable (a keyword, a loop variable that the loop sets anyway)
// changes nothing. It also refuses what the library would notice only when
// rendering, or never: {% include %}, an unknown filter, an unclosed {{ or
// {%.
func rootNames(source string, known map[string]bool) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	inComment, inRaw := false, false
	for _, tok := range parser.Scan(source, parser.SourceLoc{LineNo: 1}, nil) {
		switch {
		case inComment:
			inComment = !(tok.Type == parser.TagTokenType && tok.Name == "endcomment")
			continue
		case inRaw:
			inRaw = !(tok.Type == parser.TagTokenType && tok.Name == "endraw")
			continue
		case tok.Type == parser.TagTokenType && tok.Name == "comment":
			inComment = true
			continue
		case tok.Type == parser.TagTokenType && tok.Name == "raw":
			inRaw = true
			continue
		case tok.Type == parser.TagTokenType && tok.Name == "include":
			return nil, &TemplateError{Line: tok.SourceLoc.LineNo, Message: errInclude.Error() + " in " + tok.Source}
		case tok.Type == parser.TextTokenType:
			// The library prints an unterminated {{ or {% as text.
			for _, open := range []string{"{{", "{%"} {
				if i := strings.Index(tok.Source, open); i >= 0 {
					line := tok.SourceLoc.LineNo + strings.Count(tok.Source[:i], "\n")
					return nil, &TemplateError{Line: line, Message: fmt.Sprintf("%s is not closed", open)}
				}
			}
			continue
		case tok.Type != parser.TagTokenType && tok.Type != parser.ObjTokenType:
			continue
		}
		vars, filters := identifiers(tok.Args)
		for _, f := range filters {
			if !known[f] {
				return nil, &TemplateError{Line: tok.SourceLoc.LineNo, Message: fmt.Sprintf("undefined filter %q in %s", f, tok.Source)}
			}
		}
		for _, n := range vars {
			// forloop outside a loop must stay nil: {% cycle %} relies on it.
			if !seen[n] && n != "forloop" {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// identifiers returns the words of a Liquid expression that can be variable
// names — not inside a string, not a property (.x), not a filter name (| x)
// and not a keyword argument (x:) — and, apart, the filter names.
func identifiers(expr string) (vars, filters []string) {
	prev := byte(0) // previous non-space byte
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'':
			end := strings.IndexByte(expr[i+1:], c)
			if end < 0 {
				return vars, filters
			}
			i += end + 2
		case c == '_' || isLetter(c):
			j := i + 1
			for j < len(expr) && (expr[j] == '_' || expr[j] == '-' || isLetter(expr[j]) || isDigit(expr[j])) {
				j++
			}
			if j < len(expr) && expr[j] == '?' {
				j++
			}
			switch {
			case prev == '|':
				filters = append(filters, strings.TrimSuffix(expr[i:j], "?"))
			case prev != '.' && (j == len(expr) || expr[j] != ':'):
				vars = append(vars, expr[i:j])
			}
			i = j
		case isDigit(c):
			for i < len(expr) && (isDigit(expr[i]) || expr[i] == '.' && i+1 < len(expr) && isDigit(expr[i+1])) {
				i++
			}
		default:
			i++
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			prev = c
		}
	}
	return vars, filters
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// templatePath names templates for the liquid library; sourceError removes
// it from messages.
const templatePath = "template"

// sourceError turns a liquid error into a TemplateError: "Liquid error
// (line 3): msg in template" becomes Line 3, Message "msg".
func sourceError(source string, err liquid.SourceError) *TemplateError {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "Liquid error"); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			msg = after
		}
	}
	msg = strings.TrimSuffix(msg, " in "+templatePath)
	if msg == "undefined variable" {
		// The library's own check: nil printed, not from a variable
		// (those name themselves). Point at the output on that line.
		msg = "undefined variable or nil value"
		var on []string
		for _, tok := range parser.Scan(source, parser.SourceLoc{LineNo: 1}, nil) {
			if tok.Type == parser.ObjTokenType && tok.SourceLoc.LineNo == err.LineNumber() {
				on = append(on, tok.Source)
			}
		}
		if len(on) == 1 {
			msg += " in " + on[0]
		}
	}
	return &TemplateError{Line: err.LineNumber(), Message: msg}
}

// panicError reports a panic inside the liquid library as a TemplateError:
// a template must never take the worker down.
func panicError(p any) error {
	err, ok := p.(error)
	if !ok {
		err = fmt.Errorf("%v", p)
	}
	if errors.Is(err, errOutputTooLarge) {
		return &TemplateError{Message: err.Error()}
	}
	// The library re-panics with its stack attached; keep the cause only.
	if c, ok := err.(interface{ Cause() error }); ok && c.Cause() != nil {
		err = c.Cause()
	}
	return &TemplateError{Message: "template could not be rendered: " + err.Error()}
}

var errOutputTooLarge = fmt.Errorf("output is larger than %d bytes", maxOutput)

// cappedBuffer is a bytes.Buffer that refuses to grow past max.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, errOutputTooLarge
	}
	return b.Buffer.Write(p)
}

// newBindings builds the top-level variables of a template.
func newBindings(v RenderVars) (map[string]any, error) {
	attrs := map[string]any{}
	if raw := bytes.TrimSpace(v.Customer.Attributes); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var decoded any
		if err := d.Decode(&decoded); err != nil {
			return nil, fmt.Errorf("decode customer attributes: %w", err)
		}
		m, ok := normalize(decoded, false).(map[string]any)
		if !ok {
			return nil, errors.New("decode customer attributes: not a JSON object")
		}
		attrs = m
	}
	customer := make(map[string]any, len(attrs)+6)
	maps.Copy(customer, attrs)
	builtin := func(name string, value *string) {
		if value != nil {
			customer[name] = *value
		} else {
			delete(customer, name) // a built-in wins, even when missing
		}
	}
	id := &v.Customer.ID
	if *id == "" {
		id = nil
	}
	builtin("id", id)
	builtin("external_id", v.Customer.ExternalID)
	builtin("email", v.Customer.Email)
	builtin("phone", v.Customer.Phone)
	builtin("timezone", v.Customer.Timezone)
	customer["attributes"] = attrs

	b := map[string]any{
		"customer": node{v: customer, path: "customer"},
		"journey":  node{v: present(map[string]any{"id": v.JourneyID, "name": v.JourneyName}), path: "journey"},
		"message":  node{v: present(map[string]any{"id": v.MessageID}), path: "message"},
	}
	if v.Event != nil {
		props, _ := normalize(v.Event.Properties, true).(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		b["event"] = node{v: present(map[string]any{"name": v.Event.Name, "properties": props}), path: "event"}
	} else {
		b["event"] = undefined{path: "event", note: "the message has no trigger event"}
	}
	if v.UnsubscribeURL != "" {
		b["unsubscribe_url"] = v.UnsubscribeURL
	} else {
		b["unsubscribe_url"] = undefined{path: "unsubscribe_url"}
	}
	return b, nil
}

// present drops the empty strings of m, so that an unset journey name is
// undefined rather than blank.
func present(m map[string]any) map[string]any {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// normalize turns the json.Number in JSON-shaped data into int64 when it
// is whole and fits, float64 otherwise, so that 3 prints "3" and big
// integers keep their digits. It works on a copy when asked to, leaving the
// caller's maps alone.
func normalize(v any, clone bool) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		out := v
		if clone {
			out = make(map[string]any, len(v))
		}
		for k, e := range v {
			out[k] = normalize(e, clone)
		}
		return out
	case []any:
		out := v
		if clone {
			out = make([]any, len(v))
		}
		for i, e := range v {
			out[i] = normalize(e, clone)
		}
		return out
	default:
		return v
	}
}

// node is a defined value of the bindings, with the path that reached it so
// that what is missing under it can be reported by name. It implements the
// liquid library's values.Value and delegates to the library's own value
// for everything but the lookups.
type node struct {
	v    any // never nil
	path string
}

func wrap(v any, path string) values.Value {
	if v == nil {
		return undefined{path: path}
	}
	return node{v: v, path: path}
}

func (n node) lib() values.Value { return values.ValueOf(n.v) }

// Interface returns the plain value. The maps and lists inside a list come
// back wrapped, so that a {% for %} variable still reports what it lacks.
func (n node) Interface() any {
	s, ok := n.v.([]any)
	if !ok {
		return n.v
	}
	out := make([]any, len(s))
	for i, e := range s {
		switch e.(type) {
		case map[string]any, []any:
			out[i] = node{v: e, path: n.path + "[" + strconv.Itoa(i) + "]"}
		default:
			out[i] = e
		}
	}
	return out
}

func (n node) Int() int                     { return n.lib().Int() }
func (n node) Equal(o values.Value) bool    { return n.lib().Equal(o) }
func (n node) Less(o values.Value) bool     { return n.lib().Less(o) }
func (n node) Contains(o values.Value) bool { return n.lib().Contains(o) }
func (n node) Test() bool                   { return n.lib().Test() }
func (n node) String() string               { return fmt.Sprint(n.v) }
func (n node) MarshalJSON() ([]byte, error) { return json.Marshal(n.v) }
func (n node) PropertyValue(k values.Value) values.Value {
	return wrap(n.lib().PropertyValue(k).Interface(), n.path+"."+fmt.Sprint(k.Interface()))
}

func (n node) IndexValue(i values.Value) values.Value {
	return wrap(n.lib().IndexValue(i).Interface(), n.path+indexPath(i.Interface()))
}

func indexPath(i any) string {
	if s, ok := i.(string); ok {
		return "[" + strconv.Quote(s) + "]"
	}
	return "[" + fmt.Sprint(i) + "]"
}

// undefined is a reference that resolved to nothing. It is nil to the
// library — in conditions, comparisons, assign and for — except where it is
// printed, which is an error naming it, and where it is passed to a filter,
// which gets it as is so that strictFilters can refuse it.
type undefined struct {
	path string
	note string // why it is undefined, when that is not obvious
}

func (u undefined) err() values.TypeError {
	msg := fmt.Sprintf("undefined variable %q", u.path)
	if u.note != "" {
		msg += " (" + u.note + ")"
	}
	// A values.TypeError is what the library turns from a panic back into
	// an error carrying the line.
	return values.TypeError(msg)
}

func (u undefined) Interface() any {
	switch howUsed() {
	case usePrint:
		panic(u.err())
	case useFilter:
		return u
	default:
		return nil
	}
}

func (u undefined) Int() int                     { panic(u.err()) }
func (u undefined) Equal(o values.Value) bool    { return o.Interface() == nil }
func (u undefined) Less(values.Value) bool       { return false }
func (u undefined) Contains(values.Value) bool   { return false }
func (u undefined) Test() bool                   { return false }
func (u undefined) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
func (u undefined) PropertyValue(k values.Value) values.Value {
	return undefined{path: u.path + "." + fmt.Sprint(k.Interface()), note: u.note}
}

func (u undefined) IndexValue(i values.Value) values.Value {
	return undefined{path: u.path + indexPath(i.Interface()), note: u.note}
}

// use is what the liquid library is doing with a value.
type use int

const (
	useOther  use = iota // a condition, comparison, assign, for: nil
	usePrint             // the value of {{ … }}
	useFilter            // an argument of a filter
)

const (
	liquidExpressions = "github.com/osteele/liquid/expressions."
	liquidRender      = "github.com/osteele/liquid/render."
)

// howUsed finds out, from the call stack, why the liquid library asks an
// undefined value for its Go value. The library asks the same question —
// Value.Interface — for {{ x }} and for {% if x %}, and only the first must
// fail; it has no hook to tell them apart. The frames checked are those of
// osteele/liquid v1.6.0 (go.mod); render_test.go pins each case, so an
// upgrade that renames them fails the tests rather than going unnoticed. It
// costs a stack walk only when a template touches an undefined value.
func howUsed() use {
	var pcs [16]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	own := reflect.TypeFor[undefined]().PkgPath() + "."
	for {
		f, more := frames.Next()
		fn := f.Function
		switch {
		case strings.HasPrefix(fn, own):
			// our own frames: undefined.Interface, node methods
		case fn == liquidExpressions+"(*context).ApplyFilter":
			return useFilter
		case strings.HasPrefix(fn, liquidExpressions) && strings.HasSuffix(fn, ".Evaluate"),
			fn == liquidRender+"nodeContext.Evaluate":
			// evaluation of a whole expression: look at who asked for it
		case fn == liquidRender+"(*ObjectNode).render":
			return usePrint
		default:
			return useOther
		}
		if !more {
			return useOther
		}
	}
}

// strictFilters registers the standard filters with a guard: an undefined
// argument is an error naming it, except as the input of default (which
// then sees nil and falls back) or as default's fallback (which stays
// undefined, so printing it names it).
type strictFilters struct {
	e     *liquid.Engine
	names map[string]bool
}

func (d strictFilters) AddFilter(name string, fn any) {
	d.names[name] = true
	f := reflect.ValueOf(fn)
	d.e.RegisterFilter(name, func(args ...any) (any, error) {
		for i, a := range args {
			switch a := a.(type) {
			case undefined:
				switch {
				case name == "default" && i == 0:
					args[i] = nil
				case name == "default":
				default:
					panic(a.err())
				}
			case []any:
				args[i] = unwrapList(a)
			}
		}
		return values.Call(f, args)
	})
}

// unwrapList returns s with the nodes that node.Interface put in it
// replaced by their plain values, for filters that look inside lists.
func unwrapList(s []any) []any {
	var out []any
	for i, e := range s {
		if n, ok := e.(node); ok {
			if out == nil {
				out = slices.Clone(s)
			}
			out[i] = n.v
		}
	}
	if out == nil {
		return s
	}
	return out
}
