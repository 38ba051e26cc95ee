package schematest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

func TestSweepRemovesClustersOfKilledTestBinaries(t *testing.T) {
	URL(t) // this binary's own cluster runs: one folder below borrows its pid file
	root := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(gone.Process.Pid)
	folder := func(name, owner string) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, "herald-test-pid"), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	killed := folder(dirPrefix+"killed", dead)
	kept := map[string]string{
		"its binary still runs":     folder(dirPrefix+"live", strconv.Itoa(os.Getpid())),
		"no owner yet":              folder(dirPrefix+"unowned", ""),
		"an owner that is no pid":   folder(dirPrefix+"garbage", "x"),
		"not a test cluster":        folder("other-killed", dead),
		"its postgres still serves": folder(dirPrefix+"serving", dead),
	}
	pidFile, err := os.ReadFile(filepath.Join(server.DataDir(), "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kept["its postgres still serves"], "data", "postmaster.pid"), pidFile, 0o600); err != nil {
		t.Fatal(err)
	}

	sweepAbandoned(root)

	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the folder of a killed test binary was not removed (stat: %v)", err)
	}
	for why, dir := range kept {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s: the folder was removed (%v)", why, err)
		}
	}
}
