// Package api is Herald's HTTP surface: the management API used by the web
// app and by backend services (/api), the Segment-compatible ingest endpoints
// (/v1), health probes and the embedded web app itself.
package api

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// Check is a named readiness probe of one dependency.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Optional: reported, but a failure does not make the process unready
	// (the api serves event collection without Temporal).
	Optional bool
}

// Config holds the settings the API needs from the process configuration.
type Config struct {
	// PublicURL is where browsers reach the API; an https URL makes cookies Secure.
	PublicURL string
	// TemporalUIURL is the Temporal Web UI base, for links to runs.
	TemporalUIURL string
	// TemporalNamespace is the namespace runs live in.
	TemporalNamespace string
	// SessionTTL is how long a browser session lasts; default 14 days.
	SessionTTL time.Duration
	// EncryptionKey seals provider credentials at rest.
	EncryptionKey string
}

// Deps are what the API is built from.
type Deps struct {
	Store    *schema.Store
	Log      *slog.Logger
	Metrics  prometheus.Registerer
	Frontend fs.FS
	Checks   []Check
	Producer Producer
	// DeadLetters writes to the dead-letter topic the events of a batch
	// that are refused while the others are accepted.
	DeadLetters Producer
	// Temporal queries, signals and cancels runs.
	Temporal client.Client
	// Router enters customers into journeys (API-triggered entry).
	Router *ingest.JourneyRouter
	// SNSCerts loads the certificates SNS signs with; nil downloads them
	// over https from the SNS host. Tests inject a test certificate.
	SNSCerts CertFetcher
	// HookClient makes the outgoing calls of provider webhooks (SNS
	// certificates, subscription confirmations); nil uses a client with a
	// 10 s timeout.
	HookClient *http.Client
	Config     Config
}

// Server is the HTTP handler of the api role.
type Server struct {
	deps     Deps
	renderer *activities.Renderer
	// sender sends channel test messages with the workspace's providers.
	sender  *activities.Activities
	engine  *gin.Engine
	metrics *httpMetrics
	secure  bool
	// exports holds a slot per customer export being streamed (each holds
	// a database connection and snapshot while its client reads).
	exports chan struct{}
	// exportHooks let tests see an export wait and hold one open; none in
	// production.
	exportHooks exportHooks
}

// exportHooks are called by a customer export: wait when it finds every
// slot taken, hold once it has a slot, before it streams.
type exportHooks struct {
	wait, hold func()
}

// Body size limits (DESIGN §4 for ingest).
const (
	maxAPIBody    = 1 << 20
	maxIngestBody = 500 << 10
)

// New builds the router with every route registered.
func New(d Deps) *Server {
	gin.SetMode(gin.ReleaseMode)
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Config.SessionTTL == 0 {
		d.Config.SessionTTL = 14 * 24 * time.Hour
	}
	if d.Config.TemporalNamespace == "" {
		d.Config.TemporalNamespace = "default"
	}
	s := &Server{deps: d, metrics: newHTTPMetrics(d.Metrics), renderer: activities.NewRenderer(), exports: make(chan struct{}, maxExports),
		sender: activities.New(activities.Deps{Store: d.Store, PublicURL: d.Config.PublicURL, Log: d.Log, EncryptionKey: d.Config.EncryptionKey})}
	if u, err := url.Parse(d.Config.PublicURL); err == nil && u.Scheme == "https" {
		s.secure = true
	}

	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.ContextWithFallback = true
	// Routes match the path as sent, so an escaped "/" (%2F) in a user id
	// stays inside its parameter; pathParams unescapes it (gin would read
	// a "+" there as a space, as in a query).
	e.UseRawPath = true
	e.UnescapePathValues = false
	e.Use(s.requestID, s.recover, s.observe, storableText, pathParams)
	e.NoRoute(s.noRoute)
	e.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method not allowed") })

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/openapi.json", s.openapi)
	s.trackingRoutes(e)

	pub := e.Group("/api", limitBody(maxAPIBody))
	pub.POST("/login", s.login)
	pub.POST("/logout", s.logout)

	a := e.Group("/api", limitBody(maxAPIBody), s.authenticate)
	a.GET("/me", s.me)
	a.GET("/keys", s.require(schema.RoleEditor), s.listKeys)
	a.POST("/keys", s.require(schema.RoleOwner), s.createKey)
	a.DELETE("/keys/:id", s.require(schema.RoleOwner), s.revokeKey)

	editor := s.require(schema.RoleEditor)
	a.GET("/templates", s.listTemplates)
	a.POST("/templates", editor, s.createTemplate)
	a.GET("/templates/:id", s.getTemplate)
	a.PUT("/templates/:id", editor, s.updateTemplate)
	a.DELETE("/templates/:id", editor, s.deleteTemplate)
	a.POST("/templates/:id/preview", s.previewTemplate)
	a.POST("/templates/preview", s.previewDraft)
	a.POST("/templates/:id/test", editor, s.testTemplate)

	a.GET("/journeys", s.listJourneys)
	a.POST("/journeys", editor, s.createJourney)
	a.GET("/journeys/:id", s.getJourney)
	a.PUT("/journeys/:id", editor, s.updateJourney)
	a.POST("/journeys/:id/publish", editor, s.publishJourney)
	// Pausing a paused journey, or resuming an active one, tells its running
	// runs again: it finishes a pause or resume cut short (a crash, Temporal
	// not answering) after the journey's status was set.
	a.POST("/journeys/:id/pause", editor, s.lifecycle("pause", []string{schema.JourneyActive, schema.JourneyPaused}, schema.JourneyPaused, workflows.SignalPause))
	a.POST("/journeys/:id/resume", editor, s.lifecycle("resume", []string{schema.JourneyPaused, schema.JourneyActive}, schema.JourneyActive, workflows.SignalResume))
	// Stopping a stopped journey again cancels whatever of it still runs.
	a.POST("/journeys/:id/stop", editor, s.lifecycle("stop", []string{schema.JourneyActive, schema.JourneyPaused, schema.JourneyStopped}, schema.JourneyStopped, ""))
	a.POST("/journeys/:id/archive", editor, s.lifecycle("archive", []string{schema.JourneyDraft, schema.JourneyStopped}, schema.JourneyArchived, ""))
	a.GET("/journeys/:id/enrollments", s.listEnrollments)
	a.POST("/journeys/:id/enrollments/:enrollment_id/cancel", editor, s.cancelEnrollment)
	a.GET("/journeys/:id/versions", s.listVersions)
	a.GET("/journeys/:id/audit", s.journeyAudit)
	a.POST("/journeys/:id/trigger", editor, s.triggerJourney)
	a.GET("/journeys/:id/stats", s.journeyStats)
	a.GET("/journeys/:id/series", s.journeySeries)
	a.GET("/journeys/:id/runs", s.listRuns)
	a.GET("/runs/*workflow_id", s.getRun)
	a.GET("/deliveries", s.listDeliveries)
	a.GET("/customers", s.listCustomers)
	a.GET("/customers/:id", s.getCustomer)
	a.DELETE("/customers/:id", editor, s.eraseCustomer)
	a.GET("/customers/:id/export", s.exportCustomer)
	a.GET("/customers/:id/audit", s.customerAudit)
	a.GET("/customers/:id/events", s.customerEvents)
	s.channelRoutes(a)
	s.workspaceRoutes(a)
	s.memberRoutes(a)
	s.importRoutes(e, a)
	a.GET("/segments", s.listSegments)
	a.POST("/segments", editor, s.createSegment)
	a.POST("/segments/preview", s.previewSegment)
	a.GET("/segments/:id", s.getSegment)
	a.PUT("/segments/:id", editor, s.updateSegment)
	a.DELETE("/segments/:id", editor, s.deleteSegment)
	a.GET("/segments/:id/members", s.listSegmentMembers)
	a.POST("/segments/:id/members", editor, s.changeSegmentMembers(true))
	a.DELETE("/segments/:id/members", editor, s.changeSegmentMembers(false))

	v1 := e.Group("/v1", cors, limitIngestBody(maxIngestBody), requestTimeout(ingestTimeout), s.writeKeyAuth)
	// CORS preflights are answered by the cors middleware before auth.
	preflight := e.Group("/v1", cors)
	for typ := range ingest.Types {
		// analytics.js (Segment's browser SDK) posts to /v1/<first letter>.
		for _, path := range []string{"/" + typ, "/" + typ[:1]} {
			v1.POST(path, s.ingestOne(typ))
			preflight.OPTIONS(path, func(*gin.Context) {})
		}
	}
	// Batches: analytics.js posts to /v1/b, analytics-java to /v1/import/
	// and analytics-android 4.x to /v1/import (Segment serves all of them).
	for _, path := range []string{"/batch", "/batch/", "/b", "/import", "/import/"} {
		v1.POST(path, s.ingestBatch)
		preflight.OPTIONS(path, func(*gin.Context) {})
	}

	s.engine = e
	return s
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Routes lists "METHOD /path" for every registered route, path parameters
// written as {name} as in the OpenAPI document.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.engine.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		out = append(out, r.Method+" "+strings.Join(parts, "/"))
	}
	return out
}
