package api

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// noRoute answers unknown /api and /v1 paths with a JSON 404 and everything
// else with the web app (a file from the build, or index.html so that the
// app's own routes work on reload).
func (s *Server) noRoute(c *gin.Context) {
	p := c.Request.URL.Path
	if isAPIPath(p) || s.deps.Frontend == nil {
		fail(c, http.StatusNotFound, "no route "+c.Request.Method+" "+p)
		return
	}
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		fail(c, http.StatusNotFound, "no route "+c.Request.Method+" "+p)
		return
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name == "" {
		name = "index.html"
	}
	if st, err := fs.Stat(s.deps.Frontend, name); err != nil || st.IsDir() {
		if path.Ext(name) != "" && name != "index.html" {
			fail(c, http.StatusNotFound, "no file "+p)
			return
		}
		name = "index.html"
	}
	if strings.HasPrefix(name, "assets/") {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Header("Cache-Control", "no-cache")
	}
	c.Header("X-Content-Type-Options", "nosniff")
	f, err := s.deps.Frontend.Open(name)
	if err != nil {
		fail(c, http.StatusNotFound, "no file "+p)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	rs, ok := f.(io.ReadSeeker)
	if err != nil || !ok {
		s.internal(c, "serve web app file", fmt.Errorf("%s is not seekable", name))
		return
	}
	http.ServeContent(c.Writer, c.Request, name, st.ModTime(), rs)
}

func isAPIPath(p string) bool {
	for _, prefix := range []string{"/api", "/v1", "/t/", "/webhooks/"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") || (strings.HasSuffix(prefix, "/") && strings.HasPrefix(p, prefix)) {
			return true
		}
	}
	return false
}
