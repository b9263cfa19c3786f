package backup_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/backup"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

const killChildEnv = "TENANTKIT_BACKUP_KILL_CHILD"

// TestRestoreKillChild is the child process of TestRestoreKilled: it
// restores one file and exits. It does nothing in a normal run.
func TestRestoreKillChild(t *testing.T) {
	spec := os.Getenv(killChildEnv)
	if spec == "" {
		t.Skip("helper process of TestRestoreKilled")
	}
	parts := strings.SplitN(spec, "|", 3)
	db, err := sql.Open(parts[0], parts[1])
	if err != nil {
		os.Exit(3)
	}
	f, err := os.Open(parts[2])
	if err != nil {
		os.Exit(3)
	}
	// Phases go to stdout so the parent can aim its SIGKILL at the writes.
	last := ""
	progress := func(p backup.Progress) {
		if p.Phase != last {
			last = p.Phase
			os.Stdout.WriteString("phase " + p.Phase + "\n")
		}
	}
	if _, err := backup.Restore(context.Background(), db, "1", f, &backup.RestoreOptions{Progress: progress}); err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(4)
	}
	os.Exit(0)
}

func bulkRows(t testing.TB, db *sql.DB, d sqldialect.Dialect, n int) {
	t.Helper()
	switch d {
	case sqldialect.Postgres:
		mustExec(t, db, `INSERT INTO meters (id, tenant_id, building_id, serial) SELECT 100000+n, 1, 11, 'bulk-' || n FROM generate_series(1, `+itoa(n)+`) n`)
	case sqldialect.MySQL:
		mustExec(t, db, `INSERT INTO meters (id, tenant_id, building_id, serial) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM s WHERE n < `+itoa(n)+`) SELECT 100000+n, 1, 11, CONCAT('bulk-', n) FROM s`)
	default:
		mustExec(t, db, `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM s WHERE n < `+itoa(n)+`) INSERT INTO meters (id, tenant_id, building_id, serial) SELECT 100000+n, 1, 11, 'bulk-' || n FROM s`)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestRestoreKilled kills a restoring process with SIGKILL at random
// moments, 20 times per database: afterwards the tenant's data is always
// exactly the old data or exactly the backup, never a mix.
func TestRestoreKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 40 processes")
	}
	type env struct {
		driver, dsn string
		db          *sql.DB
		d           sqldialect.Dialect
	}
	cases := map[string]func(t *testing.T) env{
		"sqlite": func(t *testing.T) env {
			dsn := "file:" + filepath.Join(t.TempDir(), "kill.db") + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"
			db, err := sql.Open("sqlite", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return env{"sqlite", dsn, db, sqldialect.SQLite}
		},
		"postgres": func(t *testing.T) env {
			dsn := testenv.PostgresDatabase(t)
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return env{"pgx", dsn, db, sqldialect.Postgres}
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			e := cases[name](t)
			createSchema(t, e.db, e.d)
			seed(t, e.db, e.d)
			bulkRows(t, e.db, e.d, map[sqldialect.Dialect]int{sqldialect.SQLite: 20000, sqldialect.Postgres: 5000}[e.d])
			backupSums := tableSums(t, e.db)
			var buf bytes.Buffer
			_, err := backup.Export(context.Background(), e.db, "1", &buf, nil)
			require.NoError(t, err)
			file := filepath.Join(t.TempDir(), "tenant_1.jsonl.gz")
			require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o600))
			toOld := func() {
				mutate(t, e.db, e.d)
				mustExec(t, e.db, `DELETE FROM meters WHERE id > 110000`, `UPDATE meters SET serial = 'old' WHERE id > 100000 AND id < 105000`)
			}
			toOld()
			oldSums := tableSums(t, e.db)
			require.NotEqual(t, oldSums, backupSums)

			// run starts a child; kill < 0 lets it finish. With fromWrite the
			// delay counts from the child's first write (its "delete" phase),
			// else from the start. It returns the phase the child was in.
			run := func(kill time.Duration, fromWrite bool) (phase string, writeTime time.Duration) {
				cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreKillChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), killChildEnv+"="+e.driver+"|"+e.dsn+"|"+file)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				stdout, err := cmd.StdoutPipe()
				require.NoError(t, err)
				require.NoError(t, cmd.Start())
				phases := make(chan string, 16)
				go func() {
					sc := bufio.NewScanner(stdout)
					for sc.Scan() {
						if p, ok := strings.CutPrefix(sc.Text(), "phase "); ok {
							phases <- p
						}
					}
					close(phases)
				}()
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				var timer <-chan time.Time
				if kill >= 0 && !fromWrite {
					timer = time.After(kill)
				}
				var writeStart time.Time
				for {
					select {
					case p, ok := <-phases:
						if !ok {
							phases = nil
							continue
						}
						phase = p
						if p == "delete" && writeStart.IsZero() {
							writeStart = time.Now()
							if kill >= 0 && fromWrite {
								timer = time.After(kill)
							}
						}
					case err := <-done:
						require.NoError(t, err, stderr.String())
						return "finished", time.Since(writeStart)
					case <-timer:
						_ = cmd.Process.Signal(syscall.SIGKILL)
						<-done
						return phase, 0
					}
				}
			}
			// One full run measures how long a restore takes and how long it writes.
			start := time.Now()
			_, writing := run(-1, false)
			full := time.Since(start)
			require.Equal(t, backupSums, tableSums(t, e.db))
			toOld()
			var killed, completed int
			kills := map[string]int{}
			for trial := range 20 {
				// Most kills land while the transaction writes; every fifth
				// anywhere from process start (validation included).
				fromWrite := trial%5 != 0
				span := writing
				if !fromWrite {
					span = full
				}
				at := time.Duration(rand.Int64N(int64(span) + 1))
				phase, _ := run(at, fromWrite)
				kills[phase]++
				got := tableSums(t, e.db)
				switch {
				case equalSums(got, oldSums):
					killed++
				case equalSums(got, backupSums):
					completed++
					toOld()
				default:
					t.Fatalf("trial %d (SIGKILL %v into phase %q): the data is neither the old data nor the backup:\nold    %v\nbackup %v\ngot    %v", trial, at, phase, oldSums, backupSums, got)
				}
			}
			t.Logf("kills by phase of the child: %v", kills)
			t.Logf("restore takes %v (%v of it writing); 20 SIGKILLs: %d left the old data, %d the backup", full, writing, killed, completed)
		})
	}
}

func equalSums(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
