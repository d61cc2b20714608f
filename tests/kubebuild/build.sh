#!/bin/sh
# Builds kube-apiserver and kubectl from the Go module proxy (no prebuilt Kubernetes binaries can be downloaded)
# into a cache directory, once: a later run finds them there and returns at once. Prints the directory.
#   KUBE_BIN_DIR  where the binaries go (default: $XDG_CACHE_HOME or ~/.cache, then calico-l3/kube-<version>)
# A cold build takes 9 to 16 minutes on 2 cores (measured here) and grows the Go build cache by about 4 GB.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's/^require k8s.io\/kubernetes \(v[^ ]*\).*/\1/p' "$here/go.mod")"
dir="${KUBE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/calico-l3/kube-$version}"
if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/kubectl" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$dir"
echo "building kube-apiserver and kubectl $version into $dir (one time, 9 to 16 minutes)" >&2
cd "$here"
# Kubernetes' own build stamps the version; a plain go build would report v0.0.0 to every client.
minor="$(echo "$version" | cut -d. -f2)"
ldflags="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$version"
for cmd in kube-apiserver kubectl; do
	go build -trimpath -ldflags "$ldflags" -o "$dir/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
	mv "$dir/$cmd.tmp" "$dir/$cmd"
done
echo "$dir"
