package ingest_test

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/ingest"
)

// TestKeyPartitionMatchesKafkaClients: a key lands on the partition the
// Java client's default partitioner (and franz-go's, which is the same)
// picks, so the API's records and a backend producer's for one customer
// share a partition.
func TestKeyPartitionMatchesKafkaClients(t *testing.T) {
	ref := kgo.StickyKeyPartitioner(nil).ForTopic("herald.events")
	keys := []string{"", "a", "ab", "abc", "abcd", "ws_123:ptest1", "ws_123:ptest2", "ws_123:mix1"}
	for i := 0; i < 500; i++ {
		keys = append(keys, fmt.Sprintf("ws_%d:user-%d-é", i%7, i))
	}
	for _, n := range []int{1, 3, 12, 64} {
		for _, k := range keys {
			want := ref.Partition(&kgo.Record{Key: []byte(k)}, n)
			require.EqualValues(t, want, ingest.KeyPartition([]byte(k), int32(n)), "key %q, %d partitions", k, n)
		}
	}
}

// TestProducerPartitionsLikeKafkaClients: Herald's producer puts each key
// on KeyPartition's partition.
func TestProducerPartitionsLikeKafkaClients(t *testing.T) {
	e := newEnv(t)
	keys := []string{"ws:u1", "ws:u2", "ws:u3", "ws:u4", "ws:u5", "ws:u6"}
	want := map[int32]int64{}
	for _, k := range keys {
		e.produce(t, k, map[string]any{"key": k})
		want[ingest.KeyPartition([]byte(k), 3)]++
	}
	parts, err := e.client.Partitions(topic)
	require.NoError(t, err)
	require.Len(t, parts, 3)
	for _, p := range parts {
		newest, err := e.client.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(t, err)
		require.Equal(t, want[p], newest, "partition %d", p)
	}
}
