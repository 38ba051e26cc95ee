#!/usr/bin/env bash
# Lints and renders the Herald Helm chart offline, and checks what it renders.
#
#   deployments/helm-check.sh            # from anywhere; paths are resolved from the repo root
#
# Installs the pinned Helm from the Go module proxy when it is not there yet:
#   GOBIN=$HELM_BIN_DIR go install helm.sh/helm/v3/cmd/helm@v3.22.0   (~1 min on 2 cores)
# HELM_BIN_DIR defaults to $(go env GOPATH)/bin. Needs no cluster and no registry.
set -euo pipefail

HELM_VERSION=v3.22.0
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
chart=deployments/helm/herald
override=$chart/ci/ingress-existing-secret-values.yaml
release=herald

helm_bin_dir=${HELM_BIN_DIR:-$(go env GOPATH)/bin}

fail() {
	echo "helm-check: FAIL: $*" >&2
	exit 1
}

helm_version() { "$1" version --template '{{.Version}}' 2>/dev/null || true; }

# is_pinned BINARY: a release build reports the full version; a `go install` build reports
# only vMAJOR.MINOR, but its module version is recorded in the binary.
is_pinned() {
	[[ -n "$1" && -x "$1" ]] || return 1
	[[ "$(helm_version "$1")" == "$HELM_VERSION" ]] && return 0
	[[ "$(go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "helm.sh/helm/v3" { print $3 }')" == "$HELM_VERSION" ]]
}

helm=""
for candidate in "$helm_bin_dir/helm" "$(command -v helm || true)"; do
	if is_pinned "$candidate"; then
		helm=$candidate
		break
	fi
done
if [[ -z "$helm" ]]; then
	echo "helm-check: installing helm $HELM_VERSION into $helm_bin_dir"
	mkdir -p "$helm_bin_dir"
	GOBIN="$helm_bin_dir" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
	helm=$helm_bin_dir/helm
fi
is_pinned "$helm" || fail "$helm is not helm $HELM_VERSION"
echo "helm-check: using $helm ($HELM_VERSION)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# count FILE PATTERN: lines matching the extended regex PATTERN.
count() { grep -cE -- "$2" "$1" || true; }

expect_count() { # FILE PATTERN WANT WHAT
	local got
	got=$(count "$1" "$2")
	[[ "$got" == "$3" ]] || fail "$4: want $3, got $got ($(basename "$1"))"
}

expect_has() { # FILE FIXED-STRING WHAT
	grep -qF -- "$2" "$1" || fail "$3: '$2' not found ($(basename "$1"))"
}

expect_not() { # FILE FIXED-STRING WHAT
	if grep -qF -- "$2" "$1"; then fail "$3: '$2' found ($(basename "$1"))"; fi
}

echo "helm-check: lint (default values)"
"$helm" lint --strict "$chart"
echo "helm-check: lint ($override)"
"$helm" lint --strict "$chart" -f "$override"

echo "helm-check: template (default values)"
"$helm" template "$release" "$chart" --namespace herald >"$work/default.yaml"
f=$work/default.yaml
expect_count "$f" '^kind: Deployment$' 3 "Deployments (api, worker, ingest)"
expect_count "$f" '^kind: Service$' 1 "Service (api)"
expect_count "$f" '^kind: Ingress$' 0 "Ingress (off by default)"
expect_count "$f" '^kind: ConfigMap$' 1 "ConfigMap"
expect_count "$f" '^kind: Secret$' 2 "Secrets (release + migrate hook copy)"
expect_count "$f" '^kind: Job$' 1 "migrate Job"
expect_count "$f" '"helm.sh/hook": pre-install,pre-upgrade|helm.sh/hook: pre-install,pre-upgrade' 2 "pre-install,pre-upgrade hooks (Job + its Secret)"
for role in api worker ingest migrate; do
	expect_has "$f" "args: [\"$role\"]" "role $role passed as the container argument"
done
expect_count "$f" 'path: /healthz' 6 "startup + liveness probes on /healthz"
expect_count "$f" 'path: /readyz' 3 "readiness probes on /readyz"
expect_count "$f" 'prometheus.io/scrape: "true"' 3 "scrape annotations"
expect_count "$f" 'prometheus.io/port: "9464"' 3 "scrape port"
expect_has "$f" 'image: herald:0.1.0' "image defaults to the chart appVersion"
expect_has "$f" 'HERALD_HTTP_ADDR: "0.0.0.0:8080"' "HTTP address for containers"
expect_has "$f" 'HERALD_METRICS_ADDR: "0.0.0.0:9464"' "metrics address for containers"
expect_has "$f" 'HERALD_LOG_FORMAT: "json"' "JSON logs"
expect_has "$f" 'HERALD_KAFKA_PARTITIONS: "12"' "partitions of the topics ingest creates"
expect_not "$f" 'HERALD_SHUTDOWN_TIMEOUT' "empty settings are left to the binary's defaults"
expect_has "$f" "name: herald-secret" "roles read the chart Secret"
expect_has "$f" "name: herald-migrate" "the migrate Job reads the hook Secret"
expect_not "$f" 'HERALD_PUBLIC_URL' "no public URL without config.publicUrl or ingress"

echo "helm-check: template (secret values set)"
"$helm" template "$release" "$chart" \
	--set-string secret.databaseUrl='postgres://herald:pw@db:5432/herald' \
	--set-string secret.encryptionKey='MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' >"$work/secret.yaml"
f=$work/secret.yaml
expect_count "$f" "HERALD_DATABASE_URL: \"$(printf '%s' 'postgres://herald:pw@db:5432/herald' | base64 -w0)\"" 2 "database URL in both Secrets"
expect_count "$f" 'HERALD_ENCRYPTION_KEY: "' 2 "encryption key in both Secrets"
expect_count "$f" 'checksum/secret: ' 3 "pods roll when the Secret changes"

echo "helm-check: template ($override)"
"$helm" template "$release" "$chart" --namespace herald -f "$override" >"$work/override.yaml"
f=$work/override.yaml
expect_count "$f" '^kind: Deployment$' 3 "Deployments"
expect_count "$f" '^kind: Ingress$' 1 "Ingress"
expect_count "$f" '^kind: Secret$' 0 "no Secret with existingSecret"
expect_count "$f" 'name: herald-prod$' 8 "secretKeyRefs to the existing Secret (2 per role + migrate)"
expect_has "$f" 'key: database-url' "custom key name for the database URL"
expect_has "$f" 'key: encryption-key' "custom key name for the encryption key"
expect_has "$f" 'image: registry.example.com/herald:1.2.3' "image override"
expect_has "$f" 'HERALD_PUBLIC_URL: "https://herald.example.com"' "public URL derived from the TLS ingress host"
expect_has "$f" 'value: "https://herald.example.com"' "migrate Job gets the same config inline"
expect_has "$f" 'HERALD_TEMPORAL_NAMESPACE: "herald"' "Temporal namespace"
expect_has "$f" 'ingressClassName: nginx' "ingress class"
expect_has "$f" 'secretName: herald-tls' "ingress TLS"
expect_has "$f" 'serviceAccountName: herald' "existing ServiceAccount"
expect_has "$f" 'name: GOMEMLIMIT' "extraEnv"
expect_count "$f" 'mountPath: /certs/kafka$' 4 "extraVolumeMounts in every role and the migrate Job"
expect_count "$f" 'secretName: kafka-client-tls$' 4 "extraVolumes in every role and the migrate Job"
expect_count "$f" '^  replicas: ' 3 "replicas set per role"
expect_has "$f" '  replicas: 6' "ingest replicas"

echo "helm-check: OK"
