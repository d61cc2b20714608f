// Package manifests owns the Kubernetes manifests that install this project on a cluster with the etcd
// datastore: calico.yaml (the calico-config ConfigMap, the calico-etcd-secrets Secret, calico-node's RBAC and
// DaemonSet, whose install-cni container is `calico-node -install-cni`, and calico-kube-controllers' RBAC and
// Deployment), and crds.yaml (Calico's custom resource definitions, group crd.projectcalico.org, for the
// Kubernetes datastore, with schemas that make the API server refuse bad values). The
// package holds no code; its tests decode every document strictly, as an API server would, and check what
// calico-node, install-cni and the CNI plugin rely on: the placeholders, the command, the environment, the
// mounts, the image name and the RBAC.
package manifests
