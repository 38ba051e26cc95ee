// Package temporalserver embeds a real Temporal server (frontend, history,
// matching and worker services on SQLite) and its Web UI in the calling
// process. It is what `herald dev` and the integration tests run; production
// roles connect to a Temporal cluster instead and never import this package.
package temporalserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configure an embedded server.
type Options struct {
	// DatabaseFile is the SQLite file; empty keeps everything in memory.
	DatabaseFile string
	// IP to bind; default 127.0.0.1.
	IP string
	// Port of the gRPC frontend; 0 picks a free port.
	Port int
	// UIPort serves the Temporal Web UI; 0 disables it.
	UIPort int
	// Namespace to create; default "default".
	Namespace string
	// SearchAttributes to register on the namespace (Keyword, Int, ...).
	SearchAttributes map[string]enumspb.IndexedValueType
	// Log receives the server's warnings and errors; nil discards them.
	Log *slog.Logger
	// DynamicConfig overrides the server's dynamic configuration (tests).
	DynamicConfig dynamicconfig.StaticClient
}

// Server is a running embedded Temporal server.
type Server struct {
	srv       temporal.Server
	ui        *uiserver.Server
	hostPort  string
	uiURL     string
	namespace string
}

// Start creates the schema and namespace if needed and starts the server,
// returning once its frontend answers.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var err error
	autoPort := opts.Port == 0
	if autoPort {
		if opts.Port, err = FreePort(opts.IP); err != nil {
			return nil, err
		}
	} else if err := portFree(opts.IP, opts.Port); err != nil {
		return nil, fmt.Errorf("temporal frontend: %w", err)
	}
	if opts.UIPort != 0 {
		if err := portFree(opts.IP, opts.UIPort); err != nil {
			return nil, fmt.Errorf("temporal web ui: %w", err)
		}
	}

	sqlCfg := &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if opts.DatabaseFile == "" {
		sqlCfg.DatabaseName = "herald-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
	} else {
		sqlCfg.DatabaseName = opts.DatabaseFile
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		sqlCfg.ConnectAttributes["journal_mode"] = "wal"
		sqlCfg.ConnectAttributes["synchronous"] = "normal"
		if err := os.MkdirAll(filepath.Dir(opts.DatabaseFile), 0o700); err != nil {
			return nil, fmt.Errorf("create temporal data folder: %w", err)
		}
	}
	// An in-memory database gets its schema from the sqlite plugin itself.
	if _, err := os.Stat(opts.DatabaseFile); opts.DatabaseFile != "" && errors.Is(err, os.ErrNotExist) {
		if err := sqlite.SetupSchema(sqlCfg); err != nil {
			return nil, fmt.Errorf("set up temporal schema: %w", err)
		}
	}
	const clusterName = "active"
	ns, err := sqlite.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	if err := sqlite.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", opts.Namespace, err)
	}

	// The service ports are picked free and bound a moment later; another
	// process can take one in between. Such a start fails: try again.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if autoPort && attempt > 0 {
			if opts.Port, err = FreePort(opts.IP); err != nil {
				return nil, err
			}
		}
		srv, err := launch(ctx, opts, sqlCfg, clusterName, log)
		if err == nil {
			return srv, nil
		}
		lastErr = err
		log.Warn("embedded temporal did not start; retrying with other ports", "error", err)
	}
	return nil, lastErr
}

// launch builds and starts the server once. The server reports some start
// failures by panicking through its logger's Fatal; they become errors.
func launch(ctx context.Context, opts Options, sqlCfg *config.SQL, clusterName string, log *slog.Logger) (_ *Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("start temporal server: %v", r)
		}
	}()
	hostPort := net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port))
	services := map[primitives.ServiceName]int{primitives.FrontendService: opts.Port}
	others := []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService}
	ports, err := freePorts(opts.IP, len(others), opts.Port)
	if err != nil {
		return nil, err
	}
	for i, name := range others {
		services[name] = ports[i]
	}
	cfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: opts.IP},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: hostPort},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            map[string]config.Service{},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: hostPort},
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, port := range services {
		cfg.Services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: opts.IP}}
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(opts.IP, strconv.Itoa(port)))
	}

	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("temporal authorizer: %w", err)
	}
	srvLog := newLogger(log)
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, srvLog)
	if err != nil {
		return nil, fmt.Errorf("temporal claim mapper: %w", err)
	}
	dynamic := dynamicconfig.StaticClient{
		// Timers fire within ~100 ms instead of up to a second late.
		dynamicconfig.TimerProcessorMaxTimeShift.Key(): 100 * time.Millisecond,
		// The app and the UI list runs often; the default of 10 rps throttles them.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key():        1000,
		dynamicconfig.FrontendMaxNamespaceVisibilityBurstRatioPerInstance.Key(): 2,
		// New search attributes are usable at once.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// Journeys stopped one after another each cancel their runs with a
		// batch operation (the server's default allows one at a time).
		dynamicconfig.FrontendMaxConcurrentBatchOperationPerNamespace.Key(): 20,
		// A closed run is deleted (an erased customer's) once its close is
		// acknowledged, which the default records every 30 s.
		dynamicconfig.TransferProcessorUpdateAckInterval.Key(): time.Second,
	}
	for k, v := range opts.DynamicConfig {
		dynamic[k] = v
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(srvLog),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamic),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{srv: srv, hostPort: hostPort, namespace: opts.Namespace}
	if err := s.waitReady(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if opts.UIPort != 0 {
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			TemporalGRPCAddress: hostPort,
			Host:                opts.IP,
			Port:                opts.UIPort,
			EnableUI:            true,
			DefaultNamespace:    opts.Namespace,
			DisableNewsFetch:    true,
			HideLogs:            true,
			Distribution:        "herald",
		}))
		go func() { _ = s.ui.Start() }()
		s.uiURL = fmt.Sprintf("http://%s", net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort)))
	}
	return s, nil
}

// HostPort is the gRPC address of the frontend for SDK clients.
func (s *Server) HostPort() string { return s.hostPort }

// UIURL is the Web UI's base URL, empty when the UI is off.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace the server created.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the UI and the server.
func (s *Server) Stop() error {
	if s.ui != nil {
		s.ui.Stop()
	}
	return s.srv.Stop()
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var lastErr error
	for {
		c, err := client.Dial(client.Options{HostPort: s.hostPort, Namespace: s.namespace, Logger: quietSDKLogger{}})
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace})
			c.Close()
			if err == nil {
				return nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal server not ready: %w", lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func portFree(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d is in use (another herald dev or temporal server running?): %w", port, err)
	}
	return l.Close()
}

// freePorts returns n distinct free ports of ip, none of them except (the
// frontend's, not bound yet: the kernel may hand it out again). Each port's
// listener is held until all are picked, so none comes twice; picked one
// at a time and released at once, the worker service once got the
// frontend's port and the start failed.
func freePorts(ip string, n, except int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		held = append(held, l)
		if p := l.Addr().(*net.TCPAddr).Port; p != except {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// FreePort returns a TCP port that is free on ip right now.
func FreePort(ip string) (int, error) {
	ports, err := freePorts(ip, 1, 0) // the kernel never hands out port 0
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}
