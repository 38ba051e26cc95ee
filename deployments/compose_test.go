package deployments

import (
	"context"
	"encoding/base64"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
)

// composeFile is the stack definition at the repository root.
var composeFile = filepath.Join("..", "docker-compose.yml")

// heraldRoles maps each Herald service to the role (subcommand) it must run.
var heraldRoles = map[string]string{
	"herald-migrate": "migrate",
	"herald-api":     "api",
	"herald-worker":  "worker",
	"herald-ingest":  "ingest",
}

// expectedServices is the whole stack: nothing more, nothing less.
var expectedServices = []string{
	"postgres",
	"kafka", "kafka-topics",
	"temporal-schema", "temporal", "temporal-namespace", "temporal-ui",
	"herald-migrate", "herald-api", "herald-worker", "herald-ingest",
}

// strictSubstitute interpolates like Compose but fails on a variable that is
// neither set nor given a default, instead of silently using "".
func strictSubstitute(value string, mapping template.Mapping) (string, error) {
	return template.SubstituteWithOptions(value, mapping,
		template.WithReplacementFunction(func(s string, m template.Mapping, cfg *template.Config) (string, error) {
			out, applied, err := template.DefaultReplacementAppliedFunc(s, m, cfg)
			if err != nil {
				return "", err
			}
			if !applied {
				return "", &template.InvalidTemplateError{Template: "variable without a default in " + s}
			}
			return out, nil
		}),
		template.WithoutLogging)
}

// loadCompose loads docker-compose.yml the way `docker compose config` would,
// offline, with an empty environment (no OS variables, no .env file), so every
// value the stack needs must come from the file and its defaults.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithLoadOptions(func(o *loader.Options) {
			if o.Interpolate != nil { // nil while only the files are being read
				o.Interpolate.Substitute = strictSubstitute
			}
		}),
	)
	require.NoError(t, err)
	project, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "docker-compose.yml must load, validate and interpolate with defaults only")
	return project
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	require.Truef(t, ok, "service %q is missing", name)
	return s
}

func env(t *testing.T, s types.ServiceConfig, key string) string {
	t.Helper()
	v, ok := s.Environment[key]
	require.Truef(t, ok && v != nil, "service %q: environment %s is not set", s.Name, key)
	return *v
}

func requireDependsOn(t *testing.T, s types.ServiceConfig, target, condition string) {
	t.Helper()
	dep, ok := s.DependsOn[target]
	require.Truef(t, ok, "service %q must depend on %q", s.Name, target)
	require.Equalf(t, condition, dep.Condition, "service %q: depends_on %q condition", s.Name, target)
}

// hostOf returns the host of a host:port address.
func hostOf(t *testing.T, addr string) string {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	require.NoErrorf(t, err, "address %q", addr)
	return host
}

func TestStrictInterpolationRejectsVariablesWithoutDefault(t *testing.T) {
	details := types.ConfigDetails{
		WorkingDir:  t.TempDir(),
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yml", Content: []byte("services:\n  a:\n    image: \"busybox:${TAG}\"\n")}},
		Environment: map[string]string{},
	}
	_, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("strict", true)
		o.Interpolate.Substitute = strictSubstitute
	})
	require.Error(t, err, "a variable without a default must fail the load")

	details.ConfigFiles[0].Content = []byte("services:\n  a:\n    image: \"busybox:${TAG:-1.37}\"\n")
	p, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("strict", true)
		o.Interpolate.Substitute = strictSubstitute
	})
	require.NoError(t, err)
	require.Equal(t, "busybox:1.37", p.Services["a"].Image)
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	require.ElementsMatch(t, expectedServices, p.ServiceNames())
	for name, s := range p.Services {
		require.NotContainsf(t, strings.ToLower(name+" "+s.Image), "zookeeper", "service %q: Kafka runs in KRaft mode, without ZooKeeper", name)
		require.NotEmptyf(t, s.Image, "service %q has no image", name)
	}
}

func TestComposeKafkaIsApacheKafkaInKRaftMode(t *testing.T) {
	p := loadCompose(t)
	kafka := service(t, p, "kafka")
	require.True(t, strings.HasPrefix(kafka.Image, "apache/kafka:"), "kafka image %q", kafka.Image)

	roles := strings.Split(env(t, kafka, "KAFKA_PROCESS_ROLES"), ",")
	require.ElementsMatch(t, []string{"broker", "controller"}, roles, "single node: combined broker and controller")
	nodeID := env(t, kafka, "KAFKA_NODE_ID")
	require.True(t, strings.HasPrefix(env(t, kafka, "KAFKA_CONTROLLER_QUORUM_VOTERS"), nodeID+"@"), "the node votes for itself")
	controller := env(t, kafka, "KAFKA_CONTROLLER_LISTENER_NAMES")
	require.Contains(t, env(t, kafka, "KAFKA_LISTENERS"), controller+"://")
	require.NotEmpty(t, env(t, kafka, "CLUSTER_ID"))
	require.Equal(t, "1", env(t, kafka, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"))
	for key := range kafka.Environment {
		require.NotContainsf(t, key, "ZOOKEEPER", "kafka: %s is a ZooKeeper setting", key)
	}
	require.NotNil(t, kafka.HealthCheck, "kafka needs a healthcheck for service_healthy")

	// The brokers Herald is given are advertised by the broker.
	api := service(t, p, "herald-api")
	advertised := env(t, kafka, "KAFKA_ADVERTISED_LISTENERS")
	for _, broker := range strings.Split(env(t, api, "HERALD_KAFKA_BROKERS"), ",") {
		require.Containsf(t, advertised, "://"+broker, "broker %s must be an advertised listener", broker)
		require.Contains(t, p.ServiceNames(), hostOf(t, broker))
	}

	// The topic job uses the same image and creates the topics Herald is configured with.
	topics := service(t, p, "kafka-topics")
	require.Equal(t, kafka.Image, topics.Image)
	requireDependsOn(t, topics, "kafka", types.ServiceConditionHealthy)
	created := strings.Fields(env(t, topics, "TOPICS"))
	require.ElementsMatch(t, []string{env(t, api, "HERALD_KAFKA_TOPIC"), env(t, api, "HERALD_KAFKA_DLQ_TOPIC")}, created)
	require.Equal(t, []string{"herald.events", "herald.events.dlq"}, created, "DESIGN.md topic names by default")
}

func TestComposeTemporalRunsOnPostgres(t *testing.T) {
	p := loadCompose(t)
	temporal := service(t, p, "temporal")
	require.True(t, strings.HasPrefix(temporal.Image, "temporalio/server:"), "temporal image %q", temporal.Image)
	require.Equal(t, "postgres12", env(t, temporal, "DB"))

	seeds := env(t, temporal, "POSTGRES_SEEDS")
	pg := service(t, p, seeds)
	require.True(t, strings.HasPrefix(pg.Image, "postgres:"), "POSTGRES_SEEDS %q must name the Postgres service", seeds)
	require.NotNil(t, pg.HealthCheck)
	requireDependsOn(t, temporal, seeds, types.ServiceConditionHealthy)
	requireDependsOn(t, temporal, "temporal-schema", types.ServiceConditionCompletedSuccessfully)
	require.NotNil(t, temporal.HealthCheck)

	// The schema job and the namespace job come from the admin-tools of the same release,
	// and write the databases the server reads, as the same user.
	_, serverTag, _ := strings.Cut(temporal.Image, ":")
	schema := service(t, p, "temporal-schema")
	require.Equal(t, "temporalio/admin-tools:"+serverTag, schema.Image)
	requireDependsOn(t, schema, seeds, types.ServiceConditionHealthy)
	require.Equal(t, seeds, env(t, schema, "POSTGRES_SEEDS"))
	require.Equal(t, env(t, temporal, "POSTGRES_USER"), env(t, schema, "POSTGRES_USER"))
	require.Equal(t, env(t, temporal, "POSTGRES_PWD"), env(t, schema, "SQL_PASSWORD"))

	namespace := service(t, p, "temporal-namespace")
	require.Equal(t, "temporalio/admin-tools:"+serverTag, namespace.Image)
	requireDependsOn(t, namespace, "temporal", types.ServiceConditionHealthy)
	api := service(t, p, "herald-api")
	require.Equal(t, env(t, api, "HERALD_TEMPORAL_NAMESPACE"), env(t, namespace, "TEMPORAL_NAMESPACE"),
		"the namespace created is the one Herald uses")
	require.Equal(t, env(t, api, "HERALD_TEMPORAL_ADDRESS"), env(t, namespace, "TEMPORAL_ADDRESS"))

	ui := service(t, p, "temporal-ui")
	require.True(t, strings.HasPrefix(ui.Image, "temporalio/ui:"), "temporal-ui image %q", ui.Image)
	require.Equal(t, env(t, api, "HERALD_TEMPORAL_ADDRESS"), env(t, ui, "TEMPORAL_ADDRESS"))
}

func TestComposeHeraldServices(t *testing.T) {
	p := loadCompose(t)
	migrate := service(t, p, "herald-migrate")
	require.NotEmpty(t, migrate.Image)
	require.NotNil(t, migrate.Build, "the Herald image is built from this repository")
	require.Equal(t, "deployments/Dockerfile", filepath.ToSlash(migrate.Build.Dockerfile))
	_, err := os.Stat("Dockerfile")
	require.NoError(t, err)

	for name, role := range heraldRoles {
		s := service(t, p, name)
		require.Equalf(t, migrate.Image, s.Image, "%s: every Herald role runs the same image", name)
		require.Equalf(t, types.ShellCommand{role}, s.Command, "%s: the role is the command", name)
		require.Equalf(t, migrate.Environment, s.Environment, "%s: the roles share one configuration", name)
		require.Emptyf(t, s.Entrypoint, "%s: the image's entrypoint (/herald) is kept", name)
	}
	require.Contains(t, []string{"no", "on-failure", "on-failure:3"}, migrate.Restart,
		"a one-shot must not restart after it exits 0")
	requireDependsOn(t, migrate, "postgres", types.ServiceConditionHealthy)

	// Every role connects to Postgres, Kafka and Temporal at start (cmd/herald runRole),
	// and its /readyz pings the events topic.
	for _, name := range []string{"herald-api", "herald-worker", "herald-ingest"} {
		s := service(t, p, name)
		requireDependsOn(t, s, "herald-migrate", types.ServiceConditionCompletedSuccessfully)
		requireDependsOn(t, s, "postgres", types.ServiceConditionHealthy)
		requireDependsOn(t, s, "kafka", types.ServiceConditionHealthy)
		requireDependsOn(t, s, "kafka-topics", types.ServiceConditionCompletedSuccessfully)
		requireDependsOn(t, s, "temporal", types.ServiceConditionHealthy)
		requireDependsOn(t, s, "temporal-namespace", types.ServiceConditionCompletedSuccessfully)
	}

	api := service(t, p, "herald-api")
	published := false
	for _, port := range api.Ports {
		if port.Target == 8080 {
			require.Equal(t, "8080", port.Published)
			published = true
		}
	}
	require.True(t, published, "herald-api must publish 8080")
}

func TestComposeHeraldConfiguration(t *testing.T) {
	p := loadCompose(t)
	api := service(t, p, "herald-api")

	require.Equal(t, "0.0.0.0:8080", env(t, api, "HERALD_HTTP_ADDR"))
	require.Equal(t, "0.0.0.0:9464", env(t, api, "HERALD_METRICS_ADDR"))
	require.Equal(t, "json", env(t, api, "HERALD_LOG_FORMAT"))
	require.Equal(t, "http://localhost:8080", env(t, api, "HERALD_PUBLIC_URL"))
	require.Equal(t, "http://localhost:8233", env(t, api, "HERALD_TEMPORAL_UI_URL"))
	require.Equal(t, "herald-ingest", env(t, api, "HERALD_KAFKA_GROUP"))
	require.Equal(t, env(t, service(t, p, "kafka-topics"), "PARTITIONS"), env(t, api, "HERALD_KAFKA_PARTITIONS"),
		"the topic job and the api and ingest roles create topics alike")

	key, err := base64.StdEncoding.DecodeString(env(t, api, "HERALD_ENCRYPTION_KEY"))
	require.NoError(t, err, "HERALD_ENCRYPTION_KEY is base64")
	require.Len(t, key, 32, "HERALD_ENCRYPTION_KEY is 32 bytes")

	db, err := url.Parse(env(t, api, "HERALD_DATABASE_URL"))
	require.NoError(t, err)
	require.Equal(t, "postgres", db.Scheme)
	require.Equal(t, "postgres", db.Hostname(), "the database URL points at the compose Postgres")
	require.Equal(t, "/herald", db.Path)
	pw, _ := db.User.Password()
	pg := service(t, p, "postgres")
	require.Equal(t, env(t, pg, "HERALD_DB_PASSWORD"), pw, "the init script creates the role with the URL's password")

	temporalHost := hostOf(t, env(t, api, "HERALD_TEMPORAL_ADDRESS"))
	require.Equal(t, "temporal", temporalHost)

	// Only the api serves HTTP to the outside; nothing publishes on all interfaces.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			require.Equalf(t, "127.0.0.1", port.HostIP, "service %q publishes %d beyond loopback", name, port.Target)
		}
	}
}

// TestComposeDependencyConditionsCanBeMet checks every depends_on against its target:
// service_healthy needs a healthcheck, and service_completed_successfully needs a
// container that stays exited after success.
func TestComposeDependencyConditionsCanBeMet(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.Services {
		for target, dep := range s.DependsOn {
			to := service(t, p, target)
			switch dep.Condition {
			case types.ServiceConditionHealthy:
				require.NotNilf(t, to.HealthCheck, "%s waits for %s to be healthy, which has no healthcheck", name, target)
				require.Falsef(t, to.HealthCheck.Disable, "%s: healthcheck of %s is disabled", name, target)
			case types.ServiceConditionCompletedSuccessfully:
				require.Falsef(t, slices.Contains([]string{"always", "unless-stopped"}, to.Restart),
					"%s waits for %s to complete, which restarts after exit (%s)", name, target, to.Restart)
			default:
				t.Errorf("%s: depends_on %s has condition %q; use service_healthy or service_completed_successfully", name, target, dep.Condition)
			}
		}
	}
}

// TestComposeMountedFilesExist checks the support files bind-mounted from this folder.
func TestComposeMountedFilesExist(t *testing.T) {
	p := loadCompose(t)
	mounts := 0
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			mounts++
			info, err := os.Stat(v.Source)
			require.NoErrorf(t, err, "service %q mounts %s", name, v.Source)
			require.Falsef(t, info.IsDir(), "service %q mounts a folder %s; mount single files", name, v.Source)
			require.Truef(t, v.ReadOnly, "service %q: mount %s read-only", name, v.Source)
		}
	}
	require.Equal(t, 4, mounts, "postgres init, temporal schema, namespace and dynamic config")
}
