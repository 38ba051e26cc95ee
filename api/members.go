package api

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/schema"
)

// memberRoutes: the team of a workspace. Anyone may see it; only owners
// change it.
func (s *Server) memberRoutes(a *gin.RouterGroup) {
	owner := s.require(schema.RoleOwner)
	a.GET("/members", s.listMembers)
	a.POST("/members", owner, s.inviteMember)
	a.PUT("/members/:user_id", owner, s.setMemberRole)
	a.DELETE("/members/:user_id", owner, s.removeMember)
}

func (s *Server) listMembers(c *gin.Context) {
	list, err := s.deps.Store.ListMembers(c, current(c).workspaceID)
	if err != nil {
		s.internal(c, "list members", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": list})
}

type memberRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

func readRole(c *gin.Context, role string) bool {
	if !schema.ValidRole(role) {
		failField(c, http.StatusBadRequest, "role", `role must be "owner", "editor" or "viewer"`)
		return false
	}
	return true
}

// inviteMember adds a member. A new user's generated password is in the
// answer, once; someone who already has an account signs in with theirs.
func (s *Server) inviteMember(c *gin.Context) {
	var req memberRequest
	if !bindJSON(c, &req) {
		return
	}
	req.Email = strings.TrimSpace(req.Email)
	if addr, err := mail.ParseAddress(req.Email); err != nil || addr.Address != req.Email || len(req.Email) > 254 {
		failField(c, http.StatusBadRequest, "email", "email must be an address such as ada@example.com")
		return
	}
	if !readRole(c, req.Role) {
		return
	}
	m, password, err := s.deps.Store.InviteMember(c, current(c).workspaceID, req.Email, req.Role)
	if errors.Is(err, schema.ErrConflict) {
		fail(c, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		s.internal(c, "invite member", err)
		return
	}
	s.audit(c, "invite", "member", m.UserID, map[string]any{"email": m.Email, "role": m.Role})
	body := gin.H{"user_id": m.UserID, "email": m.Email, "role": m.Role, "created_at": m.CreatedAt}
	if password != "" {
		body["password"] = password
	} else {
		body["existing_account"] = true
	}
	c.JSON(http.StatusCreated, body)
}

func (s *Server) setMemberRole(c *gin.Context) {
	var req memberRequest
	if !bindJSON(c, &req) || !readRole(c, req.Role) {
		return
	}
	m, err := s.deps.Store.SetMemberRole(c, current(c).workspaceID, c.Param("user_id"), req.Role)
	if s.storeError(c, "change member role", err) {
		return
	}
	s.audit(c, "change_role", "member", m.UserID, map[string]any{"role": m.Role})
	c.JSON(http.StatusOK, m)
}

func (s *Server) removeMember(c *gin.Context) {
	err := s.deps.Store.RemoveMember(c, current(c).workspaceID, c.Param("user_id"))
	if s.storeError(c, "remove member", err) {
		return
	}
	s.audit(c, "remove", "member", c.Param("user_id"), nil)
	c.Status(http.StatusNoContent)
}
