package pgserver

import (
	"os"
	"testing"
)

func TestSharedBuffersAreAnEighthOfMemoryWithinBounds(t *testing.T) {
	for _, c := range []struct {
		total uint64
		mb    int
	}{
		{0, 128},          // unknown
		{512 << 20, 128},  // small machine: Postgres's default
		{4 << 30, 512},    // an eighth
		{24 << 30, 1024},  // capped
		{256 << 30, 1024}, // capped
	} {
		if got := sharedBuffersMB(c.total); got != c.mb {
			t.Errorf("sharedBuffersMB(%d MiB) = %d, want %d", c.total>>20, got, c.mb)
		}
	}
}

func TestCgroupLimitReadsNumbersNotMax(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		body  string
		limit uint64
		ok    bool
	}{"limited": {"1073741824\n", 1 << 30, true}, "unlimited": {"max\n", 0, false}} {
		path := dir + "/" + name
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if limit, ok := cgroupLimit(path); limit != c.limit || ok != c.ok {
			t.Errorf("%s: cgroupLimit = %d, %v; want %d, %v", name, limit, ok, c.limit, c.ok)
		}
	}
	if _, ok := cgroupLimit(dir + "/none"); ok {
		t.Error("a missing file is no limit")
	}
}
