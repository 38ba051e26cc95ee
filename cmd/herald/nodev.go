//go:build nodev

package main

// addDevCommands adds nothing: this build (-tags nodev) leaves the embedded
// Temporal server, broker and Postgres out of the binary.
func addDevCommands(map[string]command) {}
