//go:build !nodev

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A second herald dev on the same data dir is refused while the first
// runs (it would stop the first one's Postgres), and allowed after.
func TestDevDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDataDir(dir)
	if err == nil {
		t.Fatal("a second lock of the same data dir was granted")
	}
	if want := fmt.Sprintf("in use by another herald dev (pid %d)", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	unlock()
	unlock, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock()
}
