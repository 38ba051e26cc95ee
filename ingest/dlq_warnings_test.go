package ingest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// TestDeadLetterTopicWarningsNameASmallRecordLimit: a dead-letter topic
// that takes smaller records than a dead letter may be is named at
// start-up; one with the broker's limit is not.
func TestDeadLetterTopicWarningsNameASmallRecordLimit(t *testing.T) {
	e := newEnv(t)
	warnings, err := ingest.DeadLetterTopicWarnings(e.client, dlq)
	require.NoError(t, err)
	require.Empty(t, warnings, "the broker's limit")
	limitDLQ(t, e, 100_000)
	warnings, err = ingest.DeadLetterTopicWarnings(e.client, dlq)
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "dead-letter topic herald.events.dlq takes records of at most 100000 bytes (max.message.bytes), less than the 900000")
	warnings, err = ingest.DeadLetterTopicWarnings(e.client, "missing")
	require.NoError(t, err)
	require.Empty(t, warnings, "no such topic yet: EnsureTopics creates it")
}
