package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// maxSeriesPoints bounds a results series (two weeks of hours, a year of days).
var maxSeriesPoints = map[string]int{"hour": 336, "day": 366}

// journeySeries answers a journey's results over time, bucketed by hour or
// day in the workspace's time zone: entries, completions, conversions and
// messages by delivery status.
func (s *Server) journeySeries(c *gin.Context) {
	interval := c.DefaultQuery("interval", "day")
	limit, ok := maxSeriesPoints[interval]
	if !ok {
		failField(c, http.StatusBadRequest, "interval", `interval must be "hour" or "day"`)
		return
	}
	points := map[string]int{"hour": 48, "day": 30}[interval]
	if raw := c.Query("points"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > limit {
			failField(c, http.StatusBadRequest, "points", "points must be a number from 1 to "+strconv.Itoa(limit)+" for "+interval)
			return
		}
		points = n
	}
	if !s.journeyExists(c) {
		return
	}
	p := current(c)
	ws, err := s.deps.Store.GetWorkspace(c, p.workspaceID)
	if err != nil {
		s.internal(c, "load workspace", err)
		return
	}
	tz := ws.Timezone
	if tz == "" {
		tz = "UTC"
	}
	series, err := s.deps.Store.JourneySeries(c, p.workspaceID, c.Param("id"), interval, points, tz, time.Now())
	if err != nil {
		s.internal(c, "journey series", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"interval": interval, "timezone": tz, "points": series})
}
