package ingest

import "github.com/IBM/sarama"

// KafkaPartitioner places a keyed message on the partition Apache Kafka's
// own clients pick for its key: murmur2 of the key bytes, sign bit cleared,
// modulo the partition count. It is the default of the Java client and of
// franz-go (librdkafka and kcat: `-X partitioner=murmur2_random`), so the
// API's records and those a backend service produces for the same customer
// land on the same partition and stay in order. A message without a key
// goes to partition 0 (Herald always sets one).
type KafkaPartitioner struct{}

// NewKafkaPartitioner is a sarama.PartitionerConstructor.
func NewKafkaPartitioner(string) sarama.Partitioner { return KafkaPartitioner{} }

// Partition implements sarama.Partitioner.
func (KafkaPartitioner) Partition(msg *sarama.ProducerMessage, partitions int32) (int32, error) {
	if msg.Key == nil || partitions <= 0 {
		return 0, nil
	}
	key, err := msg.Key.Encode()
	if err != nil {
		return -1, err
	}
	return KeyPartition(key, partitions), nil
}

// RequiresConsistency implements sarama.Partitioner: a key always maps to
// the same partition.
func (KafkaPartitioner) RequiresConsistency() bool { return true }

// KeyPartition is the partition of key among n, as Kafka's Java client
// computes it (Utils.toPositive(Utils.murmur2(key)) % n).
func KeyPartition(key []byte, n int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2 is Kafka's variant of MurmurHash2 (32-bit, seed 0x9747b28c).
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
