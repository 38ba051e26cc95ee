package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 only when every dependency answers.
func (s *Server) readyz(c *gin.Context) {
	results, ok := RunChecks(c, s.deps.Checks)
	status := http.StatusOK
	body := gin.H{"status": "ready", "checks": results}
	if !ok {
		status = http.StatusServiceUnavailable
		body["status"] = "not ready"
	}
	c.JSON(status, body)
}

// checkTimeout is how long RunChecks waits for the checks.
const checkTimeout = 3 * time.Second

// RunChecks runs the checks concurrently, each within 3 s, and reports "ok"
// or the error per check; ok is true when all passed. It returns at the
// deadline even if a check has not answered (a client call that ignores
// its context): that check is reported failed, "no answer in 3s".
func RunChecks(ctx context.Context, checks []Check) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	type answer struct {
		i   int
		err error
	}
	// Buffered: a check that answers after the deadline does not block.
	answers := make(chan answer, len(checks))
	for i, ch := range checks {
		go func() { answers <- answer{i, ch.Fn(ctx)} }()
	}
	errs := make([]error, len(checks))
	answered := make([]bool, len(checks))
	record := func(a answer) { errs[a.i], answered[a.i] = a.err, true }
	for n := 0; n < len(checks) && ctx.Err() == nil; n++ {
		select {
		case a := <-answers:
			record(a)
		case <-ctx.Done():
		}
	}
	for more := true; more; { // answers that came with the deadline
		select {
		case a := <-answers:
			record(a)
		default:
			more = false
		}
	}
	results := make(map[string]string, len(checks))
	allOK := true
	for i, ch := range checks {
		res := "ok"
		switch {
		case !answered[i], errors.Is(errs[i], context.DeadlineExceeded) && ctx.Err() != nil:
			res = fmt.Sprintf("no answer in %s", checkTimeout)
		case errs[i] != nil:
			res = errs[i].Error()
		}
		if res != "ok" && ch.Optional {
			res = "degraded: " + res
		}
		results[ch.Name] = res
		if res != "ok" && !ch.Optional {
			allOK = false
		}
	}
	return results, allOK
}
