package api

import (
	"context"
	"net/http"
	"sync"
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

// RunChecks runs the checks concurrently, each within 3 s, and reports "ok"
// or the error per check; ok is true when all passed.
func RunChecks(ctx context.Context, checks []Check) (map[string]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	results := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	allOK := true
	for _, ch := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := "ok"
			if err := ch.Fn(ctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			if res != "ok" && ch.Optional {
				res = "degraded: " + res
			}
			results[ch.Name] = res
			if res != "ok" && !ch.Optional {
				allOK = false
			}
		}()
	}
	wg.Wait()
	return results, allOK
}
