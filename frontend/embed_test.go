package frontend

import (
	"io/fs"
	"regexp"
	"testing"
)

// TestDistServesIndexAndItsAssets checks that the embedded build is complete:
// index.html is at the root and every /assets/ file it references is there.
func TestDistServesIndexAndItsAssets(t *testing.T) {
	dist := Dist()
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		t.Fatalf("read index.html: %v", err)
	}
	refs := regexp.MustCompile(`(?:src|href)="/(assets/[^"]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d assets, want a script and a stylesheet:\n%s", len(refs), index)
	}
	for _, ref := range refs {
		if _, err := fs.Stat(dist, ref[1]); err != nil {
			t.Errorf("index.html references %s: %v", ref[1], err)
		}
	}
}
