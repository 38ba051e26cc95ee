// Package kafkaserver embeds a Kafka-protocol broker (franz-go's kfake) for
// `herald dev` and the tests. Production roles talk to real Apache Kafka and
// never import this package.
package kafkaserver

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure the embedded broker.
type Options struct {
	// Port at 127.0.0.1; 0 picks a free port.
	Port int
	// DataDir keeps topics and offsets across restarts; empty is in-memory.
	DataDir string
	// Topics to create (if missing) with Partitions partitions each.
	Topics     []string
	Partitions int32
	// Log receives progress messages; nil discards them.
	Log *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	c     *kfake.Cluster
	addrs []string
}

// Start starts the broker and creates the topics.
func Start(opts Options) (*Broker, error) {
	if opts.Partitions <= 0 {
		opts.Partitions = 4
	}
	if opts.Port != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
		if err != nil {
			return nil, fmt.Errorf("kafka port %d is in use (another herald dev or broker running?): %w", opts.Port, err)
		}
		_ = l.Close()
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(opts.Port),
		kfake.SeedTopics(opts.Partitions, opts.Topics...),
		kfake.DefaultNumPartitions(int(opts.Partitions)),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka broker: %w", err)
	}
	if opts.Log != nil {
		opts.Log.Info("embedded kafka broker ready", "addr", c.ListenAddrs()[0], "topics", opts.Topics)
	}
	return &Broker{c: c, addrs: c.ListenAddrs()}, nil
}

// Addrs are the broker addresses for clients.
func (b *Broker) Addrs() []string { return b.addrs }

// Close stops the broker, flushing its data dir.
func (b *Broker) Close() { b.c.Close() }
