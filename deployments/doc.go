// Package deployments holds Herald's deployment files: the container image
// (Dockerfile), the Helm chart (helm/herald), the support files of the
// repository's docker-compose.yml (compose/), and the tests that keep the
// compose file consistent with what the Herald binary expects. It has no
// runtime code; it exists so those tests run with `go test ./deployments/`.
package deployments
