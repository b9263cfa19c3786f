// Package bench compares tenantkit's rate limiting with peer libraries on
// the same workloads. It is a separate module so that tenantkit itself does
// not depend on its peers; run it with ./run.sh (see BENCHMARKS.md).
package bench
