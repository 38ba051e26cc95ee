#!/bin/sh
# One-shot (temporalio/admin-tools): waits until the Temporal frontend answers, then creates
# the namespace Herald uses if it does not exist yet. Herald's worker registers its own search
# attributes in it at start; it does not create the namespace.
set -eu

address=${TEMPORAL_ADDRESS:-temporal:7233}
namespace=${TEMPORAL_NAMESPACE:-default}
retention=${TEMPORAL_NAMESPACE_RETENTION:-72h}
attempts=${TEMPORAL_WAIT_ATTEMPTS:-60}

i=1
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
	if [ "$i" -ge "$attempts" ]; then
		echo "temporal namespace: server at $address not healthy after $attempts attempts" >&2
		exit 1
	fi
	i=$((i + 1))
	sleep 2
done

i=1
while :; do
	if temporal operator namespace describe --namespace "$namespace" --address "$address" >/dev/null 2>&1; then
		echo "temporal namespace: $namespace exists"
		exit 0
	fi
	if temporal operator namespace create --namespace "$namespace" --retention "$retention" --address "$address"; then
		echo "temporal namespace: $namespace created (retention $retention)"
		exit 0
	fi
	if [ "$i" -ge "$attempts" ]; then
		echo "temporal namespace: could not create $namespace after $attempts attempts" >&2
		exit 1
	fi
	i=$((i + 1))
	sleep 2
done
