#!/bin/sh
# Creates the Secrets manifests/ refers to, with fresh random passwords, in namespace leasehold.
# Run once, before or after `kubectl apply -k manifests/` (Pods wait for their Secrets):
#   sh manifests/create-secrets.sh
# The passwords never appear on a command line: they go from openssl to files in a private
# temporary directory, and from there to kubectl --from-file.
set -eu
namespace="${LEASEHOLD_NAMESPACE:-leasehold}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
umask 077
for name in redis control-plane operator watcher; do
  openssl rand -hex 24 | tr -d '\n' > "$dir/$name"
done
# Redis: the passwordless default user off, one user for the control plane.
printf 'user default off\nuser leasehold on >%s ~* &* +@all\n' "$(cat "$dir/redis")" > "$dir/users.acl"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$namespace" create secret generic leasehold-redis \
  --from-file=password="$dir/redis" --from-file=users.acl="$dir/users.acl"
kubectl -n "$namespace" create secret generic leasehold-nats-users \
  --from-file=control-plane-password="$dir/control-plane" \
  --from-file=operator-password="$dir/operator" \
  --from-file=watcher-password="$dir/watcher"
echo "created leasehold-redis and leasehold-nats-users in namespace $namespace"
echo "operator's NATS password: kubectl -n $namespace get secret leasehold-nats-users -o jsonpath='{.data.operator-password}' | base64 -d"
