//go:build !nodev

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// enrollMembers is the size of the segment the end-to-end test enrolls
// across the SIGKILL, at enrollPerSecond so that the kill lands part way:
// progress moves a page (500) at a time, and the kill comes a few seconds
// after the first page, well inside the ~8 s the second one takes.
const enrollMembers, enrollPerSecond = 1000, 60

// enrollment is the size and pace of an enrollment under test: killAt is
// the progress (enrolled) startEnrollment waits for, so the SIGKILL after
// it lands part way; finish is how long the enrollment may take after the
// restart.
type enrollment struct {
	members, perSecond, killAt int
	finish                     time.Duration
}

var defaultEnrollment = enrollment{members: enrollMembers, perSecond: enrollPerSecond, killAt: 60, finish: 120 * time.Second}

type enrollmentRun struct {
	enrollment
	journeyID, enrollmentID string
}

// startEnrollment seeds a segment's members, publishes a journey whose
// segment trigger includes them, and returns once the enrollment is under
// way.
func startEnrollment(t *testing.T, d *devProcess, creds devCredentials, size enrollment) enrollmentRun {
	t.Helper()
	sk := creds.SecretKey
	tag := "cohort-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	db := devDB(t, creds)
	_, err := db.Exec(context.Background(), `
		INSERT INTO customers (id, workspace_id, external_id, attributes)
		SELECT 'cus_' || $2 || '_' || i, $1, $2 || '-' || i, jsonb_build_object('cohort', $2::text)
		FROM generate_series(1, $3::int) AS i`, creds.WorkspaceID, tag, size.members)
	require.NoError(t, err)
	status, seg := doJSON(t, "POST", d.apiURL+"/api/segments", sk, fmt.Sprintf(`{"name":"Cohort","condition":{"attr":"cohort","op":"eq","value":%q}}`, tag))
	require.Equal(t, 201, status, "%v", seg)
	status, j := doJSON(t, "POST", d.apiURL+"/api/journeys", sk, fmt.Sprintf(`{"name":"Cohort welcome",
		"trigger":{"type":"segment","segment_id":%q,"include_existing":true,"enroll_per_second":%d},
		"entry":{"policy":"once"},"start":"done","nodes":[{"id":"done","type":"exit"}]}`, seg["id"], size.perSecond))
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, pub := doJSON(t, "POST", d.apiURL+"/api/journeys/"+id+"/publish", sk, "")
	require.Equal(t, 200, status, "%v", pub)
	enrollment, _ := pub["enrollment_id"].(string)
	require.NotEmpty(t, enrollment, "%v", pub)
	require.Eventually(t, func() bool {
		e := latestEnrollment(t, d, sk, id)
		return e != nil && e["enrolled"].(float64) >= float64(size.killAt)
	}, max(60*time.Second, size.finish/2), 50*time.Millisecond)
	return enrollmentRun{enrollment: size, journeyID: id, enrollmentID: enrollment}
}

func latestEnrollment(t *testing.T, d *devProcess, sk, journeyID string) map[string]any {
	t.Helper()
	status, out := doJSON(t, "GET", d.apiURL+"/api/journeys/"+journeyID+"/enrollments", sk, "")
	require.Equal(t, 200, status, "%v", out)
	list, _ := out["enrollments"].([]any)
	if len(list) == 0 {
		return nil
	}
	return list[0].(map[string]any)
}

// finishEnrollment checks, after the restart, that the enrollment resumed
// and entered every member exactly once, with counts that add up.
func finishEnrollment(t *testing.T, d *devProcess, creds devCredentials, e enrollmentRun, atKill map[string]any) {
	t.Helper()
	n := e.members
	require.Less(t, atKill["enrolled"].(float64), float64(n), "the SIGKILL should land part way through the enrollment")
	var last map[string]any
	require.Eventually(t, func() bool {
		last = latestEnrollment(t, d, creds.SecretKey, e.journeyID)
		return last["status"] == "completed"
	}, e.finish, 200*time.Millisecond, "the enrollment completes after the restart")
	require.Equal(t, e.enrollmentID, last["id"])
	require.EqualValues(t, n, last["total"], "%v", last)
	require.EqualValues(t, n, last["enrolled"], "%v", last)
	require.EqualValues(t, 0, last["skipped"], "%v", last)
	var runs, customers int
	require.NoError(t, devDB(t, creds).QueryRow(context.Background(), `SELECT count(*), count(DISTINCT customer_id) FROM runs WHERE journey_id = $1`,
		e.journeyID).Scan(&runs, &customers))
	require.Equal(t, n, customers, "every member entered")
	require.Equal(t, n, runs, "nobody entered twice")
}

// TestDevEnrollmentAtScale enrolls a segment of $HERALD_E2E_ENROLL_MEMBERS
// (e.g. 100000) members through the herald binary with no rate limit,
// SIGKILLs herald dev (worker, server, Postgres) once half of them entered,
// restarts it on the same data and checks every member entered exactly
// once. Not part of .ci/test: 100k members take ~25 min on a 2-core machine
// (docs/benchmarks.md has the run).
func TestDevEnrollmentAtScale(t *testing.T) {
	members, _ := strconv.Atoi(os.Getenv("HERALD_E2E_ENROLL_MEMBERS"))
	if members <= 0 {
		t.Skip("set HERALD_E2E_ENROLL_MEMBERS (e.g. 100000) to enroll that many members across a SIGKILL")
	}
	size := enrollment{members: members, killAt: members / 2, finish: max(120*time.Second, time.Duration(members)*40*time.Millisecond)}
	bin := buildHerald(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	d := startDev(t, bin, dataDir)
	creds := d.credentials(t)
	t0 := time.Now()
	run := startEnrollment(t, d, creds, size)
	atKill := latestEnrollment(t, d, creds.SecretKey, run.journeyID)
	t.Logf("SIGKILL with the enrollment at %v of %d after %s", atKill["enrolled"], members, time.Since(t0).Round(time.Second))
	require.NoError(t, d.cmd.Process.Kill())
	<-d.exited
	d2 := startDev(t, bin, dataDir)
	finishEnrollment(t, d2, d2.credentials(t), run, atKill)
	t.Logf("%d members enrolled exactly once across the SIGKILL in %s", members, time.Since(t0).Round(time.Second))
	d2.stop(t)
}
