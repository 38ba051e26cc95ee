package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/schema"
)

type templateRequest struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	schema.TemplateContent
}

// readTemplate decodes a template and checks it: channel, the fields the
// channel needs, and Liquid syntax of every field.
func (s *Server) readTemplate(c *gin.Context, fixedChannel string) (schema.Template, bool) {
	var req templateRequest
	if !bindJSON(c, &req) {
		return schema.Template{}, false
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		failField(c, http.StatusBadRequest, "name", "name is required")
		return schema.Template{}, false
	}
	if fixedChannel != "" {
		if req.Channel != "" && req.Channel != fixedChannel {
			failField(c, http.StatusBadRequest, "channel", "a template's channel cannot change (it is "+fixedChannel+")")
			return schema.Template{}, false
		}
		req.Channel = fixedChannel
	}
	t := schema.Template{Name: req.Name, Channel: req.Channel, TemplateContent: req.TemplateContent}
	required := map[string][]string{
		schema.ChannelEmail:   {"subject", "html"},
		schema.ChannelSMS:     {"body"},
		schema.ChannelWebhook: {"url"},
	}
	need, ok := required[t.Channel]
	if !ok {
		failField(c, http.StatusBadRequest, "channel", `channel must be "email", "sms" or "webhook"`)
		return t, false
	}
	fields := templateFields(t)
	for _, f := range need {
		if strings.TrimSpace(fields[f]) == "" {
			failField(c, http.StatusBadRequest, f, f+" is required for "+t.Channel+" templates")
			return t, false
		}
	}
	if t.Channel == schema.ChannelWebhook {
		switch strings.ToUpper(t.Method) {
		case "":
			t.Method = http.MethodPost
		case "GET", "POST", "PUT", "PATCH", "DELETE":
			t.Method = strings.ToUpper(t.Method)
		default:
			failField(c, http.StatusBadRequest, "method", "method must be GET, POST, PUT, PATCH or DELETE")
			return t, false
		}
	}
	for name, src := range fields {
		if err := s.renderer.Check(src); err != nil {
			failField(c, http.StatusBadRequest, name, name+": "+err.Error())
			return t, false
		}
	}
	return t, true
}

func templateFields(t schema.Template) map[string]string {
	f := map[string]string{"subject": t.Subject, "html": t.HTML, "text": t.Text, "from": t.From, "reply_to": t.ReplyTo,
		"body": t.Body, "url": t.URL}
	for k, v := range t.Headers {
		f["headers."+k] = v
	}
	return f
}

func (s *Server) createTemplate(c *gin.Context) {
	t, ok := s.readTemplate(c, "")
	if !ok {
		return
	}
	t, err := s.deps.Store.CreateTemplate(c, current(c).workspaceID, t)
	if err != nil {
		s.internal(c, "create template", err)
		return
	}
	s.audit(c, "create", "template", t.ID, map[string]any{"name": t.Name, "channel": t.Channel})
	c.JSON(http.StatusCreated, t)
}

func (s *Server) updateTemplate(c *gin.Context) {
	p := current(c)
	old, err := s.deps.Store.GetTemplate(c, p.workspaceID, c.Param("id"))
	if s.storeError(c, "load template", err) {
		return
	}
	t, ok := s.readTemplate(c, old.Channel)
	if !ok {
		return
	}
	t.ID = old.ID
	t, err = s.deps.Store.UpdateTemplate(c, p.workspaceID, t)
	if s.storeError(c, "update template", err) {
		return
	}
	s.audit(c, "update", "template", t.ID, map[string]any{"name": t.Name})
	c.JSON(http.StatusOK, t)
}

func (s *Server) getTemplate(c *gin.Context) {
	t, err := s.deps.Store.GetTemplate(c, current(c).workspaceID, c.Param("id"))
	if s.storeError(c, "load template", err) {
		return
	}
	c.JSON(http.StatusOK, t)
}

func (s *Server) deleteTemplate(c *gin.Context) {
	err := s.deps.Store.DeleteTemplate(c, current(c).workspaceID, c.Param("id"))
	if s.storeError(c, "delete template", err) {
		return
	}
	s.audit(c, "delete", "template", c.Param("id"), nil)
	c.Status(http.StatusNoContent)
}

func (s *Server) listTemplates(c *gin.Context) {
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	cursor, ok := idCursor(c, "tpl")
	if !ok {
		return
	}
	list, err := s.deps.Store.ListTemplates(c, current(c).workspaceID, limit, cursor)
	if err != nil {
		s.internal(c, "list templates", err)
		return
	}
	writePage(c, list, limit, func(t schema.Template) string { return t.ID })
}

type previewRequest struct {
	CustomerID string         `json:"customer_id"`
	Event      *previewEvent  `json:"event"`
	Journey    map[string]any `json:"journey"`
}

type previewEvent struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties"`
}

// renderFor renders a template for a customer (by internal or external id)
// or, without one, for a sample customer.
func (s *Server) renderFor(c *gin.Context, t schema.Template, customerID string, ev *previewEvent) (schema.TemplateContent, schema.Customer, bool) {
	p := current(c)
	var cust schema.Customer
	if customerID == "" {
		cust = sampleCustomer()
	} else {
		var err error
		cust, err = s.deps.Store.GetCustomer(c, p.workspaceID, customerID)
		if errors.Is(err, schema.ErrNotFound) {
			cust, err = s.deps.Store.FindCustomer(c, p.workspaceID, customerID)
		}
		if errors.Is(err, schema.ErrNotFound) {
			failField(c, http.StatusNotFound, "customer_id", "no customer "+customerID+" in this workspace")
			return schema.TemplateContent{}, cust, false
		}
		if err != nil {
			s.internal(c, "load customer", err)
			return schema.TemplateContent{}, cust, false
		}
	}
	vars := activities.RenderVars{Customer: cust, JourneyID: "jny_preview", JourneyName: "Preview", MessageID: "msg_preview",
		UnsubscribeURL: strings.TrimRight(s.deps.Config.PublicURL, "/") + "/t/u/preview"}
	if ev != nil {
		vars.Event = &activities.RenderEvent{Name: ev.Name, Properties: ev.Properties}
	}
	out, err := s.renderer.RenderContent(t.Channel, t.TemplateContent, vars)
	if err != nil {
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": "the template does not render for this customer: " + err.Error()})
		return out, cust, false
	}
	return out, cust, true
}

func sampleCustomer() schema.Customer {
	str := func(s string) *string { return &s }
	return schema.Customer{ID: schema.SampleCustomerID, ExternalID: str("sample-user"), Email: str("sample@example.com"),
		Phone: str("+15555550100"), Timezone: str("UTC"),
		Attributes: []byte(`{"first_name":"Sam","last_name":"Sample","plan":"pro"}`)}
}

func (s *Server) previewTemplate(c *gin.Context) {
	var req previewRequest
	if !bindJSON(c, &req) {
		return
	}
	t, err := s.deps.Store.GetTemplate(c, current(c).workspaceID, c.Param("id"))
	if s.storeError(c, "load template", err) {
		return
	}
	out, cust, ok := s.renderFor(c, t, req.CustomerID, req.Event)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, gin.H{"channel": t.Channel, "customer_id": cust.ID, "rendered": out})
}

type draftPreviewRequest struct {
	Template   *templateRequest `json:"template"`
	CustomerID string           `json:"customer_id"`
	Event      *previewEvent    `json:"event"`
}

// previewDraft renders template content that is not saved (an editor's
// unsaved changes) the way previewTemplate renders a saved one.
func (s *Server) previewDraft(c *gin.Context) {
	var req draftPreviewRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Template == nil {
		failField(c, http.StatusBadRequest, "template", "template is required: the content to render (channel and its fields)")
		return
	}
	switch req.Template.Channel {
	case schema.ChannelEmail, schema.ChannelSMS, schema.ChannelWebhook:
	default:
		failField(c, http.StatusBadRequest, "template.channel", `channel must be "email", "sms" or "webhook"`)
		return
	}
	t := schema.Template{Name: req.Template.Name, Channel: req.Template.Channel, TemplateContent: req.Template.TemplateContent}
	out, cust, ok := s.renderFor(c, t, req.CustomerID, req.Event)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, gin.H{"channel": t.Channel, "customer_id": cust.ID, "rendered": out})
}

type testSendRequest struct {
	To         string        `json:"to"`
	CustomerID string        `json:"customer_id"`
	Event      *previewEvent `json:"event"`
}

// testTemplate renders for a customer and records a test delivery to the
// given address through the workspace's channel (the outbox in this version).
func (s *Server) testTemplate(c *gin.Context) {
	var req testSendRequest
	if !bindJSON(c, &req) {
		return
	}
	p := current(c)
	t, err := s.deps.Store.GetTemplate(c, p.workspaceID, c.Param("id"))
	if s.storeError(c, "load template", err) {
		return
	}
	if t.Channel != schema.ChannelWebhook && strings.TrimSpace(req.To) == "" {
		failField(c, http.StatusBadRequest, "to", "to is required: the address or number to send the test to")
		return
	}
	if t.Channel == schema.ChannelEmail && !activities.ValidEmail(strings.TrimSpace(req.To)) ||
		t.Channel == schema.ChannelSMS && !activities.ValidPhone(strings.TrimSpace(req.To)) {
		failField(c, http.StatusBadRequest, "to", strconv.Quote(req.To)+map[string]string{
			schema.ChannelEmail: " is not an email address", schema.ChannelSMS: " is not a phone number (like +15555550100)"}[t.Channel])
		return
	}
	out, cust, ok := s.renderFor(c, t, req.CustomerID, req.Event)
	if !ok {
		return
	}
	to := req.To
	if t.Channel == schema.ChannelWebhook && to == "" {
		to = out.URL
	}
	d, err := s.deps.Store.RecordTestDelivery(c, p.workspaceID, t, cust.ID, to, out)
	if errors.Is(err, schema.ErrNoCustomer) {
		// Erased since it was rendered for: nothing of it is written.
		failField(c, http.StatusNotFound, "customer_id", "no customer "+req.CustomerID+" in this workspace: it was erased while the test was being sent")
		return
	}
	if err != nil {
		s.internal(c, "record test delivery", err)
		return
	}
	c.JSON(http.StatusOK, d)
}
