// Package testenv gates integration tests on the real services named by
// environment variables.
//
// The rule, for every variable: unset locally → the test is skipped with the
// variable named; unset while CI is set → the test fails; set but the service
// unreachable → the test fails (the caller's connection error does that).
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Variables naming the real services.
const (
	PostgresDSN       = "TEST_POSTGRES_DSN"
	MySQLDSN          = "TEST_MYSQL_DSN"
	RedisAddr         = "TEST_REDIS_ADDR"
	RedisClusterAddrs = "TEST_REDIS_CLUSTER_ADDRS"
)

// Lookup returns the value of the variable name, applying the gate: when the
// variable is unset or empty it skips t, or fails it when CI is set.
func Lookup(t testing.TB, name string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v != "" {
		return v
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set, and CI is set: integration tests must run in CI", name)
	}
	t.Skipf("%s is not set: skipping integration test", name)
	return ""
}

// Postgres returns TEST_POSTGRES_DSN under the gate.
func Postgres(t testing.TB) string { t.Helper(); return Lookup(t, PostgresDSN) }

// MySQL returns TEST_MYSQL_DSN under the gate (a go-sql-driver/mysql DSN).
func MySQL(t testing.TB) string { t.Helper(); return Lookup(t, MySQLDSN) }

// Redis returns TEST_REDIS_ADDR under the gate.
func Redis(t testing.TB) string { t.Helper(); return Lookup(t, RedisAddr) }

// RedisCluster returns the comma-separated TEST_REDIS_CLUSTER_ADDRS under the gate.
func RedisCluster(t testing.TB) []string {
	t.Helper()
	return strings.Split(Lookup(t, RedisClusterAddrs), ",")
}
