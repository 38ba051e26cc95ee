package schema

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerCPU is the CPU time (user and system) the Postgres server behind q
// has used so far — its postmaster and every child process: backends,
// WAL writer, checkpointer, autovacuum — read from /proc. It works only
// when that server runs on this machine (benchmarks compare readings
// before and after a run); otherwise it returns an error. The connection
// is recognised by its backend's process title, which names the client's
// port, so a local server with the same backend pid is not mistaken for it.
func ServerCPU(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (time.Duration, error) {
	var pid int
	var port *int32
	if err := q.QueryRow(ctx, `SELECT pg_backend_pid(), inet_client_port()`).Scan(&pid, &port); err != nil {
		return 0, fmt.Errorf("backend pid: %w", err)
	}
	title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || port == nil || !strings.Contains(string(title), fmt.Sprintf("(%d)", *port)) {
		return 0, errors.New("the Postgres server is not on this machine")
	}
	backend, err := readProcStat(strconv.Itoa(pid))
	if err != nil {
		return 0, err
	}
	postmaster := backend.ppid
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		st, err := readProcStat(e.Name())
		if err != nil {
			continue // gone since ReadDir
		}
		if st.pid == postmaster || st.ppid == postmaster {
			ticks += st.ticks
		}
	}
	return time.Duration(ticks) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// procStat is what ServerCPU reads of /proc/<pid>/stat.
type procStat struct {
	pid, ppid int
	ticks     int64 // utime + stime
}

func readProcStat(pid string) (procStat, error) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// Fields after "(comm)": state ppid … utime (12th) stime (13th).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	out := procStat{}
	out.pid, _ = strconv.Atoi(pid)
	out.ppid, _ = strconv.Atoi(f[1])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	out.ticks = u + k
	return out, nil
}
