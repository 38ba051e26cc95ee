package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A request whose dependency does not answer in time gets 503 and a retry
// hint, not 500 after as long as the dependency takes.
func TestRequestTimeoutAnswers503(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{deps: Deps{Log: slog.New(slog.DiscardHandler)}}
	e := gin.New()
	e.ContextWithFallback = true
	e.GET("/slow", requestTimeout(50*time.Millisecond), func(c *gin.Context) {
		<-c.Done() // a hung database call returns when its context ends
		s.internal(c, "look up write key", c.Err())
	})
	rec := httptest.NewRecorder()
	start := time.Now()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/slow", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "did not answer in time")
	require.Less(t, time.Since(start), 5*time.Second)
}

// An optional check is reported, degraded, without making the process
// unready; a required one does.
func TestOptionalChecksDoNotMakeTheProcessUnready(t *testing.T) {
	down := func(context.Context) error { return errors.New("connection refused") }
	up := func(context.Context) error { return nil }
	results, ok := RunChecks(context.Background(), []Check{{Name: "postgres", Fn: up}, {Name: "temporal", Fn: down, Optional: true}})
	require.True(t, ok)
	require.Equal(t, map[string]string{"postgres": "ok", "temporal": "degraded: connection refused"}, results)
	_, ok = RunChecks(context.Background(), []Check{{Name: "postgres", Fn: down}, {Name: "temporal", Fn: up, Optional: true}})
	require.False(t, ok)
}

// A database that refuses connections is 503 (retry), not 500.
func TestDatabaseUnavailableAnswers503(t *testing.T) {
	_, err := pgx.Connect(context.Background(), "postgres://herald@127.0.0.1:1/herald?connect_timeout=2")
	require.Error(t, err)
	gin.SetMode(gin.ReleaseMode)
	s := &Server{deps: Deps{Log: slog.New(slog.DiscardHandler)}}
	e := gin.New()
	e.GET("/x", func(c *gin.Context) { s.internal(c, "look up write key", fmt.Errorf("look up: %w", err)) })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "the database is unavailable")
}

// A check that does not answer (a broker that stopped answering, a client
// call that ignores its context) does not hold /readyz: the checks are
// reported at their deadline, the silent one failed.
func TestChecksAnswerAtTheirDeadline(t *testing.T) {
	hung := func(context.Context) error { time.Sleep(15 * time.Second); return nil } // ignores its context
	up := func(context.Context) error { return nil }
	start := time.Now()
	results, ok := RunChecks(context.Background(), []Check{{Name: "postgres", Fn: up}, {Name: "kafka", Fn: hung}})
	require.Less(t, time.Since(start), 10*time.Second, "the checks wait at most their 3 s deadline")
	require.False(t, ok)
	require.Equal(t, map[string]string{"postgres": "ok", "kafka": "no answer in 3s"}, results)
}
