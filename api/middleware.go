package api

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

const ctxRequestID = "request_id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes the caller's X-Request-ID when it is sane, or makes one,
// and echoes it on the response.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked as is
				panic(r) // net/http closes the connection without a word
			}
			s.internal(c, "handle request", fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// observe logs one line per request and records the request metrics.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	s.metrics.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	if route == "/healthz" || route == "/readyz" {
		return
	}
	attrs := []any{
		"request_id", c.GetString(ctxRequestID), "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", status, "duration_ms", elapsed.Milliseconds(),
	}
	if p, ok := c.Get(ctxPrincipal); ok {
		attrs = append(attrs, "workspace_id", p.(principal).workspaceID)
	}
	if status >= 500 {
		s.deps.Log.ErrorContext(c, "http request", attrs...)
	} else {
		s.deps.Log.InfoContext(c, "http request", attrs...)
	}
}

// limitBody refuses bodies over max bytes: at once when Content-Length says
// so, otherwise when the decoder reads past the limit.
func limitBody(max int64) gin.HandlerFunc {
	return bodyLimit(max, http.StatusRequestEntityTooLarge, "", "")
}

// limitIngestBody is limitBody for /v1, whose contract (DESIGN §4) answers
// all bad input, an oversize body included, with 400 and the field.
func limitIngestBody(max int64) gin.HandlerFunc {
	return bodyLimit(max, http.StatusBadRequest, "body", "")
}

// bodyLimit refuses a body over max with status, naming field, and msg
// (default: the limit in bytes).
func bodyLimit(max int64, status int, field, msg string) gin.HandlerFunc {
	if msg == "" {
		msg = fmt.Sprintf("request body is larger than %d bytes", max)
	}
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			failField(c, status, field, msg)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// rejectedEvents counts the events of accepted batches that were
	// refused and dead-lettered.
	rejectedEvents prometheus.Counter
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_http_requests_total", Help: "HTTP requests served, by route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		rejectedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_api_rejected_events_total",
			Help: "Events refused inside a /v1 batch whose other events were accepted; each is written to the dead-letter topic.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.rejectedEvents)
	}
	return m
}
