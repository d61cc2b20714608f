//go:build tools

// Package kubebuild pins the Kubernetes commands the tests build; it holds no code of its own.
package kubebuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
