package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/schema"
)

const (
	ctxPrincipal  = "principal"
	sessionCookie = "herald_session"
)

// principal is who a request acts as, inside one workspace.
type principal struct {
	workspaceID string
	actor       string // "user:<id>" or "key:<id>"
	role        string
	session     *schema.Session
}

var roleRank = map[string]int{schema.RoleViewer: 1, schema.RoleEditor: 2, schema.RoleOwner: 3}

func current(c *gin.Context) principal { return c.MustGet(ctxPrincipal).(principal) }

// bearerToken reads `Authorization: Bearer <token>`; the scheme is
// case-insensitive (RFC 9110), so "bearer" is one too.
func bearerToken(authz string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authz), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// authenticate accepts a secret key (Bearer) or a browser session cookie
// (with the CSRF header on unsafe methods) for /api routes.
func (s *Server) authenticate(c *gin.Context) {
	authz := c.GetHeader("Authorization")
	token, isBearer := bearerToken(authz)
	switch {
	case isBearer:
		key, err := s.deps.Store.LookupAPIKey(c, token)
		if errors.Is(err, schema.ErrNotFound) {
			fail(c, http.StatusUnauthorized, "unknown or revoked API key")
			return
		}
		if err != nil {
			s.internal(c, "look up api key", err)
			return
		}
		if key.Kind != schema.KeySecret {
			fail(c, http.StatusForbidden, "a write key can only send events to /v1; the management API needs a secret key")
			return
		}
		c.Set(ctxPrincipal, principal{workspaceID: key.WorkspaceID, actor: "key:" + key.ID, role: schema.RoleOwner})
	case authz != "":
		fail(c, http.StatusUnauthorized, "the management API takes `Authorization: Bearer <secret key>` or a session cookie")
		return
	default:
		token, err := c.Cookie(sessionCookie)
		if err != nil || token == "" {
			fail(c, http.StatusUnauthorized, "not logged in: log in or send `Authorization: Bearer <secret key>`")
			return
		}
		sess, err := s.deps.Store.LookupSession(c, token)
		if errors.Is(err, schema.ErrNotFound) {
			fail(c, http.StatusUnauthorized, "session expired; log in again")
			return
		}
		if err != nil {
			s.internal(c, "look up session", err)
			return
		}
		if !safeMethod(c.Request.Method) &&
			subtle.ConstantTimeCompare([]byte(c.GetHeader("X-CSRF-Token")), []byte(sess.CSRFToken)) != 1 {
			fail(c, http.StatusForbidden, "missing or wrong X-CSRF-Token header")
			return
		}
		c.Set(ctxPrincipal, principal{workspaceID: sess.Workspace.ID, actor: "user:" + sess.User.ID, role: sess.Role, session: &sess})
	}
	c.Next()
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// require lets the request through only if the principal's role is at least role.
func (s *Server) require(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if roleRank[current(c).role] < roleRank[role] {
			fail(c, http.StatusForbidden, "this needs the "+role+" role")
			return
		}
		c.Next()
	}
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type meResponse struct {
	User          schema.User      `json:"user"`
	Workspace     schema.Workspace `json:"workspace"`
	Role          string           `json:"role"`
	CSRFToken     string           `json:"csrf_token"`
	TemporalUIURL string           `json:"temporal_ui_url"`
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Email == "" {
		failField(c, http.StatusBadRequest, "email", "email is required")
		return
	}
	if req.Password == "" {
		failField(c, http.StatusBadRequest, "password", "password is required")
		return
	}
	m, err := s.deps.Store.Authenticate(c, req.Email, req.Password)
	if errors.Is(err, schema.ErrBadCredentials) {
		fail(c, http.StatusUnauthorized, "invalid email or password")
		return
	}
	if err != nil {
		s.internal(c, "authenticate", err)
		return
	}
	token, sess, err := s.deps.Store.CreateSession(c, m, s.deps.Config.SessionTTL)
	if err != nil {
		s.internal(c, "create session", err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, Expires: sess.ExpiresAt, MaxAge: int(time.Until(sess.ExpiresAt).Seconds()),
	})
	c.JSON(http.StatusOK, s.meBody(sess))
}

func (s *Server) logout(c *gin.Context) {
	if token, err := c.Cookie(sessionCookie); err == nil && token != "" {
		if err := s.deps.Store.DeleteSession(c, token); err != nil {
			s.internal(c, "delete session", err)
			return
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) {
	p := current(c)
	if p.session != nil {
		c.JSON(http.StatusOK, s.meBody(*p.session))
		return
	}
	ws, err := s.deps.Store.GetWorkspace(c, p.workspaceID)
	if err != nil {
		s.internal(c, "load workspace", err)
		return
	}
	c.JSON(http.StatusOK, meResponse{Workspace: ws, Role: p.role, TemporalUIURL: s.deps.Config.TemporalUIURL})
}

func (s *Server) meBody(sess schema.Session) meResponse {
	return meResponse{User: sess.User, Workspace: sess.Workspace, Role: sess.Role, CSRFToken: sess.CSRFToken,
		TemporalUIURL: s.deps.Config.TemporalUIURL}
}
