package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/gif"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// CertFetcher loads the certificate Amazon SNS signs with (see Deps.SNSCerts).
type CertFetcher = delivery.CertFetcher

// tracker serves the public tracking links (/t/) and the provider
// webhooks (/webhooks/): they carry no API key, a signed token or a provider
// signature instead.
type tracker struct {
	s *Server
	// signer verifies link tokens; nil when no encryption key is
	// configured, and then the links answer 404.
	signer *delivery.Signer
	sns    *delivery.SNSVerifier
	pixel  []byte
}

// trackingRoutes registers the tracking links and the provider webhooks,
// outside the authenticated /api group; provider webhooks live under
// /webhooks (DESIGN §2).
func (s *Server) trackingRoutes(e *gin.Engine) {
	t := &tracker{s: s, sns: delivery.NewSNSVerifier(s.deps.SNSCerts, s.deps.HookClient), pixel: transparentGIF()}
	if s.deps.Config.EncryptionKey != "" {
		t.signer, _ = delivery.NewSigner(s.deps.Config.EncryptionKey) // fails only for an empty secret
	}
	links := e.Group("/t", limitBody(64<<10))
	links.GET("/u/:token", t.unsubscribePage)
	links.POST("/u/:token", t.unsubscribe)
	links.POST("/u/:token/resubscribe", t.resubscribe)
	links.GET("/o/:pixel", t.open)
	links.GET("/c/:token", t.click)
	hooks := e.Group("/webhooks", limitBody(maxAPIBody))
	hooks.POST("/ses", t.sesEvents)
	hooks.POST("/twilio/:workspace_id", t.twilioStatus)
}

// transparentGIF is the open pixel: one transparent pixel.
func transparentGIF() []byte {
	var b bytes.Buffer
	_ = gif.Encode(&b, image.NewPaletted(image.Rect(0, 0, 1, 1), color.Palette{color.Transparent}), nil)
	return b.Bytes()
}

// fact is a tracked fact with what follows from it.
type fact struct {
	schema.TrackedFact
	// suppress, when set, is the reason the delivery's recipient goes on
	// the suppression list.
	suppress string
	// addresses are those the provider's report names (SES's bounced or
	// complaining recipients): suppressed, as digests, when the delivery's
	// customer was erased and the delivery no longer has its recipient.
	addresses []string
	// props are customer event properties beyond message_id, journey_id
	// and channel.
	props map[string]any
	// at is when the fact happened; zero means now.
	at time.Time
}

// customerEvents names the customer event each tracked fact becomes, by
// channel and status, so journeys can wait for it.
var customerEvents = map[string]string{
	"email/" + schema.DeliveryDelivered:    "Email Delivered",
	"email/" + schema.DeliveryOpened:       "Email Opened",
	"email/" + schema.DeliveryClicked:      "Email Link Clicked",
	"email/" + schema.DeliveryBounced:      "Email Bounced",
	"email/" + schema.DeliveryComplained:   "Email Marked as Spam",
	"email/" + schema.DeliveryUnsubscribed: "Unsubscribed",
	"sms/" + schema.DeliveryDelivered:      "SMS Delivered",
	"sms/" + schema.DeliveryFailed:         "SMS Failed",
	"sms/" + schema.DeliveryUnsubscribed:   "Unsubscribed",
}

// track records a fact about a delivery once. For a new fact it suppresses
// the recipient (when the fact says so) and publishes the customer event
// before the record commits: if either fails nothing is recorded, and the
// provider's retry (or the next open) tries again.
func (t *tracker) track(ctx context.Context, workspaceID string, f fact) (schema.Tracked, error) {
	return t.s.deps.Store.RecordTrackedFact(ctx, workspaceID, f.TrackedFact, func(tr schema.Tracked) error {
		d := tr.Delivery
		if f.suppress != "" {
			for _, address := range suppressedBy(workspaceID, d, f) {
				if err := t.s.deps.Store.Suppress(ctx, workspaceID, schema.Suppression{Channel: d.Channel, Address: address,
					Reason: f.suppress, DeliveryID: d.ID}); err != nil {
					return err
				}
			}
		}
		return t.publish(ctx, workspaceID, d, f, tr.Seq)
	})
}

// suppressedBy lists what a suppressing fact puts on the list: the
// delivery's recipient or, once its customer was erased, the digests of
// the addresses the report names (the bounce or complaint still stops mail
// to that address, without the list holding it).
func suppressedBy(workspaceID string, d schema.Delivery, f fact) []string {
	if d.Recipient != "" {
		return []string{d.Recipient}
	}
	if d.ErasedAt == nil {
		return nil
	}
	var out []string
	for _, a := range f.addresses {
		if a != "" {
			out = append(out, schema.AddressDigest(workspaceID, d.Channel, a))
		}
	}
	return out
}

// publish produces the customer event of a tracked fact to the events
// topic. Its message id is derived from the fact, so a repeat is deduped by
// ingest. A customer without a user or anonymous id cannot be addressed by
// an event, and one who was erased has none to get: both are logged and
// skipped.
func (t *tracker) publish(ctx context.Context, workspaceID string, d schema.Delivery, f fact, seq int) error {
	name, ok := customerEvents[d.Channel+"/"+f.Status]
	if !ok {
		return nil
	}
	log := t.s.deps.Log.With("workspace_id", workspaceID, "delivery_id", d.ID, "customer_id", d.CustomerID, "event", name)
	if t.s.deps.Producer == nil {
		log.WarnContext(ctx, "event ingest is not configured: tracked fact not published as a customer event")
		return nil
	}
	cust, err := t.s.deps.Store.CurrentCustomer(ctx, workspaceID, d.CustomerID)
	if errors.Is(err, schema.ErrNotFound) {
		log.InfoContext(ctx, "customer no longer exists: no customer event for tracked fact")
		return nil
	}
	if err != nil {
		return err
	}
	// A fact keyed within its delivery (a click, by its link) is named by
	// its key: after a publish whose record then failed, the next fact of
	// the status (another link) must not reuse the id with other content.
	id := fmt.Sprintf("trk-%s-%s", d.ID, f.Status)
	switch {
	case f.Key != "":
		id = fmt.Sprintf("trk-%s-%s", d.ID, strings.ReplaceAll(f.Key, ":", "-"))
	case seq > 0:
		id = fmt.Sprintf("%s-%d", id, seq)
	}
	at := f.at
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC()
	ev := ingest.Event{Type: "track", Event: name, WorkspaceID: workspaceID, MessageID: id, Timestamp: &at}
	switch {
	case cust.ExternalID != nil && *cust.ExternalID != "":
		ev.UserID = *cust.ExternalID
	case len(cust.AnonymousIDs) > 0:
		ev.AnonymousID = cust.AnonymousIDs[0]
	default:
		log.WarnContext(ctx, "customer has neither a user id nor an anonymous id: no customer event for tracked fact")
		return nil
	}
	props := map[string]any{"message_id": d.ID, "journey_id": d.JourneyID, "channel": d.Channel}
	maps.Copy(props, f.props)
	if ev.Properties, err = json.Marshal(props); err != nil {
		return fmt.Errorf("encode event properties: %w", err)
	}
	ev.Normalize(time.Now(), uuid.NewString)
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode customer event: %w", err)
	}
	if err := t.s.deps.Producer.Produce(ctx, ingest.Message{Key: ev.Key(), Value: b}); err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	return nil
}

// clickKey names a click fact by its link: each link of a message counts
// once. The link is hashed because fact keys outlive customer erasure.
func clickKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return schema.DeliveryClicked + ":" + hex.EncodeToString(sum[:8])
}

// open serves the open pixel and records the open. The pixel is served
// whatever the token, so a broken token shows no broken image; only a
// valid one records anything.
func (t *tracker) open(c *gin.Context) {
	if t.signer == nil {
		t.notConfigured(c)
		return
	}
	token := strings.TrimSuffix(c.Param("pixel"), ".gif")
	if claims, err := t.signer.Verify(delivery.LinkOpen, token); err == nil {
		_, err := t.track(c, claims.WorkspaceID, fact{TrackedFact: schema.TrackedFact{DeliveryID: claims.MessageID,
			Status: schema.DeliveryOpened, Detail: "open pixel"}})
		t.logTrackError(c, claims, err)
	}
	c.Header("Cache-Control", "no-store, no-cache, must-revalidate, private")
	c.Header("Pragma", "no-cache")
	c.Data(http.StatusOK, "image/gif", t.pixel)
}

// click records the click and redirects to the link's target. The target
// is only ever the one signed into the token: an edited token is refused,
// so the route is no open redirect.
func (t *tracker) click(c *gin.Context) {
	if t.signer == nil {
		t.notConfigured(c)
		return
	}
	claims, err := t.signer.Verify(delivery.LinkClick, c.Param("token"))
	if err != nil {
		t.page(c, http.StatusBadRequest, page{Title: "This link is not valid",
			Message: "The link may have been cut short or changed. Try opening it again from the message."})
		return
	}
	_, err = t.track(c, claims.WorkspaceID, fact{
		TrackedFact: schema.TrackedFact{DeliveryID: claims.MessageID, Status: schema.DeliveryClicked, Detail: claims.URL, Key: clickKey(claims.URL)},
		props:       map[string]any{"url": claims.URL}})
	t.logTrackError(c, claims, err)
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, claims.URL)
}

// logTrackError logs a fact a link could not record; the link itself
// still works for the recipient. A delivery that no longer exists (its
// workspace was deleted) is not an error.
func (t *tracker) logTrackError(c *gin.Context, claims delivery.LinkClaims, err error) {
	if err != nil && !errors.Is(err, schema.ErrNotFound) {
		t.s.deps.Log.ErrorContext(c, "record tracked fact", "error", err, "workspace_id", claims.WorkspaceID,
			"delivery_id", claims.MessageID, "purpose", claims.Purpose, "request_id", c.GetString(ctxRequestID))
	}
}

// unsubscribePage shows the unsubscribe link's page. A GET changes
// nothing (mail scanners fetch links): it asks to confirm with a button,
// or, when the address is already unsubscribed, offers to resubscribe.
func (t *tracker) unsubscribePage(c *gin.Context) {
	d, ok := t.linkDelivery(c)
	if !ok {
		return
	}
	sup, err := t.s.deps.Store.Suppressed(c, t.workspace(c), d.Channel, d.Recipient)
	switch {
	case err == nil && sup.Reason == schema.SuppressUnsubscribe:
		t.page(c, http.StatusOK, t.unsubscribedPage(c, d))
	case err == nil || errors.Is(err, schema.ErrNotFound):
		t.page(c, http.StatusOK, page{Title: "Unsubscribe?", Message: "Stop sending messages to " + shownAddress(d) + "?",
			Action: t.linkURL(c), Button: "Unsubscribe"})
	default:
		t.pageError(c, "look up suppression", err)
	}
}

// unsubscribe suppresses the link's address at once: the confirm button of
// the page and the one-click POST of RFC 8058 (body
// "List-Unsubscribe=One-Click") both land here.
func (t *tracker) unsubscribe(c *gin.Context) {
	d, ok := t.linkDelivery(c)
	if !ok {
		return
	}
	ws := t.workspace(c)
	how := "unsubscribe page"
	if err := c.Request.ParseForm(); err == nil && c.Request.PostForm.Get("List-Unsubscribe") == "One-Click" {
		how = "one-click unsubscribe (List-Unsubscribe-Post)"
	}
	// The suppression stands even when the unsubscribe was recorded
	// before: it may have been lifted by hand since.
	if err := t.s.deps.Store.Suppress(c, ws, schema.Suppression{Channel: d.Channel, Address: d.Recipient,
		Reason: schema.SuppressUnsubscribe, DeliveryID: d.ID}); err != nil {
		t.pageError(c, "suppress address", err)
		return
	}
	if _, err := t.track(c, ws, fact{TrackedFact: schema.TrackedFact{DeliveryID: d.ID, Status: schema.DeliveryUnsubscribed, Detail: how}}); err != nil {
		t.pageError(c, "record unsubscribe", err)
		return
	}
	t.page(c, http.StatusOK, t.unsubscribedPage(c, d))
}

// resubscribe lifts the unsubscribe made through the link. Suppressions
// for other reasons (a hard bounce, a complaint) stay: they are not the
// recipient's to lift from here.
func (t *tracker) resubscribe(c *gin.Context) {
	d, ok := t.linkDelivery(c)
	if !ok {
		return
	}
	ws := t.workspace(c)
	subscribed := page{Title: "You are subscribed", Message: shownAddress(d) + " will get messages again.",
		Action: t.linkURL(c), Button: "Unsubscribe"}
	sup, err := t.s.deps.Store.Suppressed(c, ws, d.Channel, d.Recipient)
	switch {
	case errors.Is(err, schema.ErrNotFound):
		t.page(c, http.StatusOK, subscribed)
		return
	case err != nil:
		t.pageError(c, "look up suppression", err)
		return
	case sup.Reason != schema.SuppressUnsubscribe:
		t.page(c, http.StatusConflict, page{Title: "This address cannot be resubscribed here",
			Message: "Messages to " + shownAddress(d) + " stopped for another reason (" + sup.Reason + "). Please contact the sender."})
		return
	}
	if err := t.s.deps.Store.LiftUnsubscribe(c, ws, d.Channel, d.Recipient); err != nil && !errors.Is(err, schema.ErrNotFound) {
		t.pageError(c, "remove suppression", err)
		return
	}
	if err := t.s.deps.Store.RecordResubscribe(c, ws, d.ID, "unsubscribe page"); err != nil {
		t.pageError(c, "record resubscribe", err)
		return
	}
	t.page(c, http.StatusOK, subscribed)
}

func (t *tracker) unsubscribedPage(c *gin.Context, d schema.Delivery) page {
	return page{Title: "You are unsubscribed", Message: shownAddress(d) + " will get no more messages from us.",
		Action: t.linkURL(c) + "/resubscribe", Button: "Resubscribe"}
}

// shownAddress is how the pages name the link's address: a delivery of an
// erased customer has only the digest its link carries, and the page says
// "This address".
func shownAddress(d schema.Delivery) string {
	if schema.IsAddressDigest(d.Recipient) {
		return "This address"
	}
	return d.Recipient
}

const ctxLinkWorkspace = "link_workspace_id"

// linkDelivery verifies the unsubscribe token of the request and loads its
// delivery; it answers itself, and returns false, when it cannot.
func (t *tracker) linkDelivery(c *gin.Context) (schema.Delivery, bool) {
	if t.signer == nil {
		t.notConfigured(c)
		return schema.Delivery{}, false
	}
	claims, err := t.signer.Verify(delivery.LinkUnsubscribe, c.Param("token"))
	if err != nil {
		t.page(c, http.StatusBadRequest, page{Title: "This link is not valid",
			Message: "The unsubscribe link may have been cut short or changed. Open it again from the message."})
		return schema.Delivery{}, false
	}
	d, err := t.s.deps.Store.GetDelivery(c, claims.WorkspaceID, claims.MessageID)
	if err == nil && d.ErasedAt != nil && schema.IsAddressDigest(claims.Recipient) {
		// Its customer was erased: the link's digest of the address stands
		// for it, so the recipient can still unsubscribe.
		d.Recipient = claims.Recipient
	}
	if errors.Is(err, schema.ErrNotFound) || (err == nil && d.Recipient == "") { // gone, or erased before links carried a digest
		t.page(c, http.StatusNotFound, page{Title: "This link no longer works",
			Message: "The message it came with is gone."})
		return schema.Delivery{}, false
	}
	if err != nil {
		t.pageError(c, "load delivery", err)
		return schema.Delivery{}, false
	}
	c.Set(ctxLinkWorkspace, claims.WorkspaceID)
	return d, true
}

// workspace is the workspace of the request's verified link.
func (t *tracker) workspace(c *gin.Context) string { return c.GetString(ctxLinkWorkspace) }

// linkURL is the unsubscribe link of the request, for the pages' forms.
func (t *tracker) linkURL(c *gin.Context) string {
	return strings.TrimRight(t.s.deps.Config.PublicURL, "/") + "/t/u/" + c.Param("token")
}

// page is a small hosted HTML page with at most one button (a POST form).
type page struct {
	Title   string
	Message string
	Action  string // where the button posts; no button when empty
	Button  string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222;line-height:1.5}
button{font:inherit;padding:.5rem 1.25rem;border:1px solid #444;border-radius:.25rem;background:#fff;cursor:pointer}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Action}}<form method="post" action="{{.Action}}"><button type="submit">{{.Button}}</button></form>{{end}}
</body></html>
`))

func (t *tracker) page(c *gin.Context, status int, p page) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		t.s.internal(c, "render page", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("X-Frame-Options", "DENY")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}

func (t *tracker) pageError(c *gin.Context, action string, err error) {
	t.s.deps.Log.ErrorContext(c, action, "error", err, "request_id", c.GetString(ctxRequestID))
	t.page(c, http.StatusServiceUnavailable, page{Title: "Something went wrong",
		Message: "We could not finish this just now. Please try again in a moment."})
}

// notConfigured answers a tracking link on a server without the secret
// that signs them.
func (t *tracker) notConfigured(c *gin.Context) {
	t.page(c, http.StatusNotFound, page{Title: "Tracking is not configured",
		Message: "This server has no key to check links with (HERALD_ENCRYPTION_KEY)."})
}
