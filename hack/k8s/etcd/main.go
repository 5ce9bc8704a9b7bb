// Command etcd is the etcd server, built at the version that the module graph
// of k8s.io/kubernetes resolves, so the test control plane needs no download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
