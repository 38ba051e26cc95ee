package pgserver

import "testing"

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
