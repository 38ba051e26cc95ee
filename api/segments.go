package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// Limits of the segment routes.
const (
	defaultPreviewSample = 10
	maxPreviewSample     = 100
	maxMembersPerRequest = 1000
)

// segmentRequest is the body of POST and PUT /api/segments (DESIGN §11).
type segmentRequest struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Condition json.RawMessage `json:"condition"`
}

type segmentPreviewRequest struct {
	Condition  json.RawMessage `json:"condition"`
	SampleSize *int            `json:"sample_size"`
}

type membersRequest struct {
	CustomerIDs []string `json:"customer_ids"`
}

func conditionPresent(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t != "" && t != "null"
}

// validCondition checks a segment condition with the journey engine's
// validator, so segments and branches accept the same DSL, and answers 400
// naming the path when it is bad.
func validCondition(c *gin.Context, raw json.RawMessage) bool {
	err := workflows.ValidateCondition(raw, workflows.ScopeSegment, "condition")
	var ce *workflows.ConditionError
	switch {
	case err == nil:
		return true
	case errors.As(err, &ce):
		failField(c, http.StatusBadRequest, ce.Path, err.Error())
	default:
		failField(c, http.StatusBadRequest, "condition", err.Error())
	}
	return false
}

// readSegment decodes and checks a segment body; on update, kind defaults
// to the segment's.
func readSegment(c *gin.Context, fixedKind string) (schema.Segment, bool) {
	var req segmentRequest
	if !bindJSON(c, &req) {
		return schema.Segment{}, false
	}
	seg := schema.Segment{Name: strings.TrimSpace(req.Name), Kind: req.Kind, Condition: req.Condition}
	if seg.Name == "" {
		failField(c, http.StatusBadRequest, "name", "name is required")
		return seg, false
	}
	switch {
	case seg.Kind == "" && fixedKind != "":
		seg.Kind = fixedKind
	case seg.Kind == "":
		seg.Kind = schema.SegmentDynamic
	case fixedKind != "" && seg.Kind != fixedKind:
		failField(c, http.StatusBadRequest, "kind", "a segment's kind cannot change (it is "+fixedKind+")")
		return seg, false
	}
	switch seg.Kind {
	case schema.SegmentDynamic:
		if !validCondition(c, seg.Condition) {
			return seg, false
		}
	case schema.SegmentManual:
		if conditionPresent(seg.Condition) {
			failField(c, http.StatusBadRequest, "condition", "a manual segment has no condition; add members with POST /api/segments/{id}/members")
			return seg, false
		}
		seg.Condition = nil
	default:
		failField(c, http.StatusBadRequest, "kind", `kind must be "dynamic" or "manual"`)
		return seg, false
	}
	return seg, true
}

// segmentError answers store errors of the segment routes; it reports
// whether it answered.
func (s *Server) segmentError(c *gin.Context, action string, err error) bool {
	var se *schema.SegmentError
	switch {
	case errors.As(err, &se):
		failField(c, http.StatusBadRequest, se.Path, se.Error())
		return true
	case errors.Is(err, schema.ErrSegmentInUse):
		fail(c, http.StatusConflict, err.Error())
		return true
	}
	return s.storeError(c, action, err)
}

func (s *Server) createSegment(c *gin.Context) {
	seg, ok := readSegment(c, "")
	if !ok {
		return
	}
	p := current(c)
	seg.CreatedBy = p.actor
	seg, err := s.deps.Store.CreateSegment(c, p.workspaceID, seg)
	if s.segmentError(c, "create segment", err) {
		return
	}
	s.audit(c, "create", "segment", seg.ID, map[string]any{"name": seg.Name, "kind": seg.Kind})
	c.JSON(http.StatusCreated, seg)
}

func (s *Server) updateSegment(c *gin.Context) {
	p := current(c)
	old, err := s.deps.Store.GetSegment(c, p.workspaceID, c.Param("id"))
	if s.storeError(c, "load segment", err) {
		return
	}
	seg, ok := readSegment(c, old.Kind)
	if !ok {
		return
	}
	seg.ID = old.ID
	seg, err = s.deps.Store.UpdateSegment(c, p.workspaceID, seg)
	if s.segmentError(c, "update segment", err) {
		return
	}
	s.audit(c, "update", "segment", seg.ID, map[string]any{"name": seg.Name})
	c.JSON(http.StatusOK, seg)
}

func (s *Server) getSegment(c *gin.Context) {
	seg, err := s.deps.Store.GetSegment(c, current(c).workspaceID, c.Param("id"))
	if s.storeError(c, "load segment", err) {
		return
	}
	c.JSON(http.StatusOK, seg)
}

func (s *Server) listSegments(c *gin.Context) {
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	cursor, ok := idCursor(c, "seg")
	if !ok {
		return
	}
	list, err := s.deps.Store.ListSegments(c, current(c).workspaceID, limit, cursor)
	if err != nil {
		s.internal(c, "list segments", err)
		return
	}
	writePage(c, list, limit, func(x schema.Segment) string { return x.ID })
}

func (s *Server) deleteSegment(c *gin.Context) {
	err := s.deps.Store.DeleteSegment(c, current(c).workspaceID, c.Param("id"))
	if s.segmentError(c, "delete segment", err) {
		return
	}
	s.audit(c, "delete", "segment", c.Param("id"), nil)
	c.Status(http.StatusNoContent)
}

// previewSegment counts who matches a condition now, with a sample.
func (s *Server) previewSegment(c *gin.Context) {
	var req segmentPreviewRequest
	if !bindJSON(c, &req) {
		return
	}
	size := defaultPreviewSample
	if req.SampleSize != nil {
		size = *req.SampleSize
		if size < 0 || size > maxPreviewSample {
			failField(c, http.StatusBadRequest, "sample_size", "sample_size must be a number from 0 to 100")
			return
		}
	}
	if !validCondition(c, req.Condition) {
		return
	}
	out, err := s.deps.Store.PreviewSegment(c, current(c).workspaceID, req.Condition, time.Now(), size)
	if s.segmentError(c, "preview segment", err) {
		return
	}
	c.JSON(http.StatusOK, out)
}

// listSegmentMembers pages through a segment's current members by id.
func (s *Server) listSegmentMembers(c *gin.Context) {
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	list, err := s.deps.Store.SegmentMembers(c, current(c).workspaceID, c.Param("id"), time.Now(), c.Query("cursor"), limit)
	if s.segmentError(c, "list segment members", err) {
		return
	}
	writePage(c, list, limit, func(x schema.Customer) string { return x.ID })
}

func readMembers(c *gin.Context) ([]string, bool) {
	var req membersRequest
	if !bindJSON(c, &req) {
		return nil, false
	}
	if len(req.CustomerIDs) == 0 {
		failField(c, http.StatusBadRequest, "customer_ids", "customer_ids needs at least one customer id or user id")
		return nil, false
	}
	if len(req.CustomerIDs) > maxMembersPerRequest {
		failField(c, http.StatusBadRequest, "customer_ids", "at most 1000 customer ids per request; import a CSV for more")
		return nil, false
	}
	for _, id := range req.CustomerIDs {
		if strings.TrimSpace(id) == "" {
			failField(c, http.StatusBadRequest, "customer_ids", "customer ids must not be empty")
			return nil, false
		}
	}
	return req.CustomerIDs, true
}

// changeSegmentMembers adds customers (internal or external ids) to a
// manual segment, or removes them; ids that match nobody are listed, not
// fatal.
func (s *Server) changeSegmentMembers(add bool) gin.HandlerFunc {
	action, changed, unchanged := "remove_members", "removed", "not_members"
	if add {
		action, changed, unchanged = "add_members", "added", "already_members"
	}
	return func(c *gin.Context) {
		ids, ok := readMembers(c)
		if !ok {
			return
		}
		change := s.deps.Store.RemoveManualMembers
		if add {
			change = s.deps.Store.AddManualMembers
		}
		res, err := change(c, current(c).workspaceID, c.Param("id"), ids)
		if s.segmentError(c, strings.ReplaceAll(action, "_", " "), err) {
			return
		}
		s.audit(c, action, "segment", c.Param("id"), map[string]any{changed: res.Changed, "unknown": len(res.Unknown)})
		if res.Changed > 0 && s.deps.Router != nil {
			// Segment triggers and waits hear of the entries and exits now;
			// if this fails, the periodic segment refresh routes them.
			if err := s.deps.Router.RoutePendingSegmentChanges(c); err != nil {
				s.deps.Log.Warn("route segment changes", "segment_id", c.Param("id"), "error", err)
			}
		}
		c.JSON(http.StatusOK, gin.H{changed: res.Changed, unchanged: res.Unchanged, "unknown_ids": res.Unknown})
	}
}
