// Package frontend holds the built web app, embedded into the herald binary.
package frontend

import (
	"embed"
	"io/fs"
)

// dist is the output of `npm run build`. It is committed so that the Go
// binary builds without Node; CI rebuilds it and fails on any difference.
//
//go:embed all:dist
var dist embed.FS

// Dist returns the built web app with index.html at its root, ready to be
// served over HTTP (for example with http.FileServerFS).
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "dist" is valid.
		panic("frontend: " + err.Error())
	}
	return sub
}
