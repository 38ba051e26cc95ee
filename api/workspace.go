package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/schema"
)

// workspaceRoutes are the workspace's settings: name, time zone and the
// default quiet hours of journeys that set none.
func (s *Server) workspaceRoutes(a *gin.RouterGroup) {
	a.GET("/workspace", s.getWorkspace)
	a.PUT("/workspace", s.require(schema.RoleOwner), s.putWorkspace)
}

func (s *Server) getWorkspace(c *gin.Context) {
	w, err := s.deps.Store.GetWorkspace(c, current(c).workspaceID)
	if s.storeError(c, "load workspace", err) {
		return
	}
	c.JSON(http.StatusOK, w)
}

type workspaceRequest struct {
	Name     *string `json:"name"`
	Timezone *string `json:"timezone"`
	// QuietHours: absent keeps them, null clears them.
	QuietHours json.RawMessage `json:"quiet_hours"`
}

// putWorkspace changes the fields the body names.
func (s *Server) putWorkspace(c *gin.Context) {
	var req workspaceRequest
	if !bindJSON(c, &req) {
		return
	}
	p := current(c)
	w, err := s.deps.Store.GetWorkspace(c, p.workspaceID)
	if s.storeError(c, "load workspace", err) {
		return
	}
	if req.Name != nil {
		if *req.Name == "" {
			failField(c, http.StatusBadRequest, "name", "name must not be empty")
			return
		}
		w.Name = *req.Name
	}
	if req.Timezone != nil {
		if _, err := time.LoadLocation(*req.Timezone); err != nil || *req.Timezone == "" || *req.Timezone == "Local" {
			failField(c, http.StatusBadRequest, "timezone", "timezone must be an IANA time zone name like Europe/Paris")
			return
		}
		w.Timezone = *req.Timezone
	}
	switch string(req.QuietHours) {
	case "":
	case "null":
		w.QuietHours = nil
	default:
		var q schema.QuietHours
		if err := json.Unmarshal(req.QuietHours, &q); err != nil {
			failField(c, http.StatusBadRequest, "quiet_hours", `quiet_hours must be {"start": "HH:MM", "end": "HH:MM"} or null`)
			return
		}
		for field, v := range map[string]string{"quiet_hours.start": q.Start, "quiet_hours.end": q.End} {
			if _, err := time.Parse("15:04", v); err != nil || len(v) != 5 {
				failField(c, http.StatusBadRequest, field, field+` must be a time of day "HH:MM"`)
				return
			}
		}
		if q.Start == q.End {
			failField(c, http.StatusBadRequest, "quiet_hours.end", "quiet hours must not start and end at the same time")
			return
		}
		w.QuietHours = &q
	}
	if s.storeError(c, "update workspace", s.deps.Store.UpdateWorkspace(c, w)) {
		return
	}
	s.audit(c, "update", "workspace", w.ID, w)
	c.JSON(http.StatusOK, w)
}
