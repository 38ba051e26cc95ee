package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/schema"
)

type createKeyRequest struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

type listResponse[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func (s *Server) listKeys(c *gin.Context) {
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	keys, err := s.deps.Store.ListAPIKeysPage(c, current(c).workspaceID, limit, c.Query("cursor"))
	if errors.Is(err, schema.ErrNotFound) {
		failField(c, http.StatusBadRequest, "cursor", "cursor is not a key of this workspace; use the next_cursor of the previous page")
		return
	}
	if err != nil {
		s.internal(c, "list api keys", err)
		return
	}
	writePage(c, keys, limit, func(k schema.APIKey) string { return k.ID })
}

func (s *Server) createKey(c *gin.Context) {
	var req createKeyRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Kind != schema.KeyWrite && req.Kind != schema.KeySecret {
		failField(c, http.StatusBadRequest, "kind", `kind must be "write" or "secret"`)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if len(req.Name) > 200 {
		failField(c, http.StatusBadRequest, "name", "name is longer than 200 characters")
		return
	}
	p := current(c)
	k, err := s.deps.Store.CreateAPIKey(c, p.workspaceID, req.Kind, req.Name, p.actor)
	if err != nil {
		s.internal(c, "create api key", err)
		return
	}
	if err := s.deps.Store.Audit(c, p.workspaceID, p.actor, "create", "api_key", k.ID,
		map[string]string{"kind": k.Kind, "name": k.Name, "prefix": k.Prefix}); err != nil {
		s.internal(c, "audit api key", err)
		return
	}
	c.JSON(http.StatusCreated, k)
}

func (s *Server) revokeKey(c *gin.Context) {
	p := current(c)
	id := c.Param("id")
	err := s.deps.Store.RevokeAPIKey(c, p.workspaceID, id)
	if errors.Is(err, schema.ErrNotFound) {
		fail(c, http.StatusNotFound, "no API key "+id+" in this workspace")
		return
	}
	if err != nil {
		s.internal(c, "revoke api key", err)
		return
	}
	if err := s.deps.Store.Audit(c, p.workspaceID, p.actor, "revoke", "api_key", id, nil); err != nil {
		s.internal(c, "audit api key", err)
		return
	}
	c.Status(http.StatusNoContent)
}
