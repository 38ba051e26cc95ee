package main

import (
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/ingest"
)

// Config is every setting of every role. Each field is read from the flag
// named in its `flag` tag, else the environment variable HERALD_<env>, else
// its default. Fields tagged secret are masked when printed.
type Config struct {
	DataDir     string `flag:"data-dir" env:"DATA_DIR" default:".herald" usage:"dev: folder for the embedded Postgres, Temporal and broker data"`
	HTTPAddr    string `flag:"http-addr" env:"HTTP_ADDR" default:"127.0.0.1:8080" usage:"api: listen address of the API and web app"`
	MetricsAddr string `flag:"metrics-addr" env:"METRICS_ADDR" default:"127.0.0.1:9464" usage:"listen address of /metrics, /healthz and /readyz"`
	PublicURL   string `flag:"public-url" env:"PUBLIC_URL" default:"" usage:"URL browsers use to reach the API (default http://<http-addr>)"`

	DatabaseURL string `flag:"database-url" env:"DATABASE_URL" default:"" secret:"url" usage:"Postgres URL; dev: empty runs a private cluster in the data dir"`

	TemporalAddress   string `flag:"temporal-address" env:"TEMPORAL_ADDRESS" default:"" usage:"Temporal frontend host:port; dev: empty embeds a server"`
	TemporalNamespace string `flag:"temporal-namespace" env:"TEMPORAL_NAMESPACE" default:"default" usage:"Temporal namespace"`
	TemporalUIURL     string `flag:"temporal-ui-url" env:"TEMPORAL_UI_URL" default:"" usage:"Temporal Web UI URL for links to runs (dev: the embedded UI)"`
	TemporalPort      int    `flag:"temporal-port" env:"TEMPORAL_PORT" default:"7233" usage:"dev: gRPC port of the embedded Temporal server"`
	TemporalUIPort    int    `flag:"temporal-ui-port" env:"TEMPORAL_UI_PORT" default:"8233" usage:"dev: port of the embedded Temporal Web UI"`
	TemporalTLS       bool   `flag:"temporal-tls" env:"TEMPORAL_TLS" default:"false" usage:"connect to Temporal over TLS (on with any of the TLS files or an API key)"`
	TemporalCAFile    string `flag:"temporal-ca-file" env:"TEMPORAL_CA_FILE" default:"" usage:"PEM file of the CAs that sign Temporal's certificate (default: system roots)"`
	TemporalCertFile  string `flag:"temporal-cert-file" env:"TEMPORAL_CERT_FILE" default:"" usage:"client certificate (PEM) for mutual TLS, with the key file"`
	TemporalKeyFile   string `flag:"temporal-key-file" env:"TEMPORAL_KEY_FILE" default:"" usage:"client key (PEM) for mutual TLS"`
	TemporalTLSName   string `flag:"temporal-tls-server-name" env:"TEMPORAL_TLS_SERVER_NAME" default:"" usage:"name to verify Temporal's certificate against when it is not the address's host (a load balancer, an IP)"`
	TemporalAPIKey    string `flag:"temporal-api-key" env:"TEMPORAL_API_KEY" default:"" secret:"true" usage:"API key (Temporal Cloud)"`

	KafkaBrokers    string `flag:"kafka-brokers" env:"KAFKA_BROKERS" default:"" usage:"comma-separated Kafka brokers; dev: empty embeds a broker"`
	KafkaTopic      string `flag:"kafka-topic" env:"KAFKA_TOPIC" default:"herald.events" usage:"topic of customer events"`
	KafkaDLQTopic   string `flag:"kafka-dlq-topic" env:"KAFKA_DLQ_TOPIC" default:"herald.events.dlq" usage:"topic of events that could not be applied"`
	KafkaGroup      string `flag:"kafka-group" env:"KAFKA_GROUP" default:"herald-ingest" usage:"consumer group of the ingest role"`
	KafkaPartitions int    `flag:"kafka-partitions" env:"KAFKA_PARTITIONS" default:"12" usage:"partitions of topics Herald creates"`
	KafkaPort       int    `flag:"kafka-port" env:"KAFKA_PORT" default:"9092" usage:"dev: port of the embedded broker"`
	KafkaTLS        bool   `flag:"kafka-tls" env:"KAFKA_TLS" default:"false" usage:"connect to the brokers over TLS (system roots unless a CA file is given)"`
	KafkaCAFile     string `flag:"kafka-ca-file" env:"KAFKA_CA_FILE" default:"" usage:"PEM file of the CAs that sign the brokers' certificates (turns TLS on)"`
	KafkaCertFile   string `flag:"kafka-cert-file" env:"KAFKA_CERT_FILE" default:"" usage:"client certificate (PEM) for brokers that require one (mutual TLS), with the key file"`
	KafkaKeyFile    string `flag:"kafka-key-file" env:"KAFKA_KEY_FILE" default:"" usage:"client key (PEM) for mutual TLS with the brokers"`
	KafkaSASL       string `flag:"kafka-sasl-mechanism" env:"KAFKA_SASL_MECHANISM" default:"" usage:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty for none"`
	KafkaUsername   string `flag:"kafka-username" env:"KAFKA_USERNAME" default:"" usage:"SASL username"`
	KafkaPassword   string `flag:"kafka-password" env:"KAFKA_PASSWORD" default:"" secret:"true" usage:"SASL password"`

	IngestLinger   time.Duration `flag:"ingest-linger" env:"INGEST_LINGER" default:"25ms" usage:"ingest: how long a partition's batch waits for more events while they stream in (larger batches, less Postgres work per event); 0 applies what has arrived at once"`
	IngestAppliers int           `flag:"ingest-appliers" env:"INGEST_APPLIERS" default:"4" usage:"ingest: how many transactions apply events at once; the partitions' batches that wait meanwhile go into the next one together (fewer, larger transactions); 0 gives each partition's batch a transaction of its own"`

	EncryptionKey string `flag:"encryption-key" env:"ENCRYPTION_KEY" default:"" secret:"true" usage:"base64 of 32 bytes; encrypts provider credentials (dev: generated in the data dir)"`

	LogFormat string `flag:"log-format" env:"LOG_FORMAT" default:"text" usage:"text or json"`
	LogLevel  string `flag:"log-level" env:"LOG_LEVEL" default:"info" usage:"debug, info, warn or error"`

	SegmentRefresh time.Duration `flag:"segment-refresh" env:"SEGMENT_REFRESH" default:"5m" usage:"worker: how often segment membership is re-evaluated for everyone (time-relative conditions)"`

	ShutdownTimeout time.Duration `flag:"shutdown-timeout" env:"SHUTDOWN_TIMEOUT" default:"20s" usage:"how long a role may take to stop"`
	ShutdownDrain   time.Duration `flag:"shutdown-drain" env:"SHUTDOWN_DRAIN" default:"0s" usage:"on SIGTERM, how long /readyz answers 503 (stopping) before the servers stop, so load balancers move traffic away first (e.g. 5s on Kubernetes)"`
}

// envPrefix is prepended to every environment variable name.
const envPrefix = "HERALD_"

// parseConfig fills a Config from defaults, the environment and args.
func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	v := reflect.ValueOf(&cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		val := f.Tag.Get("default")
		if e := getenv(envPrefix + f.Tag.Get("env")); e != "" {
			val = e
		}
		if err := setField(v.Field(i), val); err != nil {
			return cfg, fmt.Errorf("%s%s=%q: %w", envPrefix, f.Tag.Get("env"), val, err)
		}
		usage := f.Tag.Get("usage") + " [$" + envPrefix + f.Tag.Get("env") + "]"
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, f.Tag.Get("flag"), *p, usage)
		case *int:
			fs.IntVar(p, f.Tag.Get("flag"), *p, usage)
		case *time.Duration:
			fs.DurationVar(p, f.Tag.Get("flag"), *p, usage)
		case *bool:
			fs.BoolVar(p, f.Tag.Get("flag"), *p, usage)
		}
		// The help (printed on -h and on any flag mistake) shows defaults:
		// a secret read from the environment must not be one of them.
		if fl := fs.Lookup(f.Tag.Get("flag")); fl != nil && fl.DefValue != "" {
			switch f.Tag.Get("secret") {
			case "true":
				fl.DefValue = "********"
			case "url":
				fl.DefValue = redactURL(fl.DefValue)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.HTTPAddr
	}
	switch cfg.LogFormat {
	case "text", "json":
	default:
		return cfg, fmt.Errorf("log format %q: want text or json", cfg.LogFormat)
	}
	// A CA file, client certificate or API key means TLS: say so in the
	// printed configuration too.
	if cfg.KafkaCAFile != "" || cfg.KafkaCertFile != "" || cfg.KafkaKeyFile != "" {
		cfg.KafkaTLS = true
	}
	if cfg.TemporalCAFile != "" || cfg.TemporalCertFile != "" || cfg.TemporalKeyFile != "" || cfg.TemporalAPIKey != "" || cfg.TemporalTLSName != "" {
		cfg.TemporalTLS = true
	}
	// Only the roles that dial Kafka need its settings to work (the migrate
	// job may not have the Kafka certificate mounted).
	if name == "api" || name == "ingest" || name == "dev" {
		if (cfg.KafkaCertFile == "") != (cfg.KafkaKeyFile == "") {
			return cfg, fmt.Errorf("%sKAFKA_CERT_FILE and %sKAFKA_KEY_FILE go together (mutual TLS)", envPrefix, envPrefix)
		}
		if err := cfg.kafkaSecurity().Check(); err != nil {
			return cfg, err
		}
	}
	if cfg.IngestLinger < 0 || cfg.IngestLinger > time.Second {
		return cfg, fmt.Errorf("ingest linger %s: want between 0 and 1s", cfg.IngestLinger)
	}
	if cfg.IngestAppliers < 0 || cfg.IngestAppliers > 64 {
		return cfg, fmt.Errorf("%sINGEST_APPLIERS %d: want between 0 and 64", envPrefix, cfg.IngestAppliers)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return cfg, fmt.Errorf("log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	if cfg.EncryptionKey != "" {
		if key, err := base64.StdEncoding.DecodeString(cfg.EncryptionKey); err != nil || len(key) != 32 {
			return cfg, fmt.Errorf("%sENCRYPTION_KEY: want the base64 of 32 random bytes (openssl rand -base64 32)", envPrefix)
		}
	}
	return cfg, nil
}

func setField(f reflect.Value, val string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(val)
	case reflect.Int:
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("not a number")
		}
		f.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		f.SetBool(b)
	case reflect.Int64:
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("not a duration like 20s")
		}
		f.SetInt(int64(d))
	}
	return nil
}

// print writes the effective configuration with secrets masked.
func (c Config) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		val := fmt.Sprint(v.Field(i).Interface())
		switch f.Tag.Get("secret") {
		case "true":
			if val != "" {
				val = "********"
			}
		case "url":
			val = redactURL(val)
		}
		fmt.Fprintf(tw, "  %s%s\t%s\n", envPrefix, f.Tag.Get("env"), val)
	}
	_ = tw.Flush()
}

// redactURL masks the password of a connection string in each form
// Postgres takes: postgres://user:pass@host, ?password= in the URL's query,
// and the keyword form password=… (quoted or not). Text it cannot read is
// masked whole.
func redactURL(s string) string {
	if s == "" {
		return s
	}
	if !strings.Contains(s, "://") {
		return keywordPassword.ReplaceAllString(s, "${1}xxxxx")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "xxxxx (unreadable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	if u.User != nil {
		return u.Redacted()
	}
	return u.String()
}

// keywordPassword finds the value of password= in a keyword/value
// connection string: single-quoted (with \' and \\ escapes) or up to the
// next space.
var keywordPassword = regexp.MustCompile(`(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// kafkaSecurity is how the broker connections are secured.
func (c Config) kafkaSecurity() ingest.KafkaSecurity {
	return ingest.KafkaSecurity{TLS: c.KafkaTLS, CAFile: c.KafkaCAFile, CertFile: c.KafkaCertFile, KeyFile: c.KafkaKeyFile,
		SASLMechanism: c.KafkaSASL, Username: c.KafkaUsername, Password: c.KafkaPassword}
}

// temporalConnection is how the Temporal client connects: TLS (mutual with
// a certificate and key) and an API key, as Temporal Cloud or a secured
// self-hosted frontend ask for.
func (c Config) temporalConnection() (client.ConnectionOptions, client.Credentials, error) {
	var conn client.ConnectionOptions
	if !c.TemporalTLS && c.TemporalCAFile == "" && c.TemporalCertFile == "" && c.TemporalKeyFile == "" && c.TemporalAPIKey == "" && c.TemporalTLSName == "" {
		return conn, nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TemporalTLSName}
	if c.TemporalCAFile != "" {
		var err error
		if tc.RootCAs, err = ingest.ReadCAFile(c.TemporalCAFile); err != nil {
			return conn, nil, fmt.Errorf("temporal CA file: %w", err)
		}
	}
	if (c.TemporalCertFile == "") != (c.TemporalKeyFile == "") {
		return conn, nil, fmt.Errorf("%sTEMPORAL_CERT_FILE and %sTEMPORAL_KEY_FILE go together (mutual TLS)", envPrefix, envPrefix)
	}
	if c.TemporalCertFile != "" {
		get := ingest.ClientCertificate(c.TemporalCertFile, c.TemporalKeyFile)
		if _, err := get(nil); err != nil {
			return conn, nil, fmt.Errorf("temporal %w", err)
		}
		tc.GetClientCertificate = get
	}
	conn.TLS = tc
	var creds client.Credentials
	if c.TemporalAPIKey != "" {
		creds = client.NewAPIKeyStaticCredentials(c.TemporalAPIKey)
	}
	return conn, creds, nil
}

func (c Config) brokers() []string {
	var out []string
	for _, b := range strings.Split(c.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// requireExternal checks the settings a production role cannot do without.
func (c Config) requireExternal(needs ...string) error {
	var missing []string
	for _, n := range needs {
		switch {
		case n == "database" && c.DatabaseURL == "":
			missing = append(missing, envPrefix+"DATABASE_URL")
		case n == "temporal" && c.TemporalAddress == "":
			missing = append(missing, envPrefix+"TEMPORAL_ADDRESS")
		case n == "kafka" && len(c.brokers()) == 0:
			missing = append(missing, envPrefix+"KAFKA_BROKERS")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (or run `herald dev`, which embeds everything)", strings.Join(missing, ", "))
	}
	return nil
}
