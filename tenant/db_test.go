package tenant

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/internal/testenv"
)

// countingConnector is a database/sql connector that counts every attempt
// to reach the database and refuses it: a DB over it proves that an
// operation ran no query at all.
type countingConnector struct{ n atomic.Int64 }

var errNoConn = errors.New("test: no connection expected")

func (c *countingConnector) Connect(context.Context) (driver.Conn, error) {
	c.n.Add(1)
	return nil, errNoConn
}
func (c *countingConnector) Driver() driver.Driver { return c }
func (c *countingConnector) Open(string) (driver.Conn, error) {
	c.n.Add(1)
	return nil, errNoConn
}

func TestDBRefusesWithoutTenantBeforeAnyQuery(t *testing.T) {
	conn := &countingConnector{}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	d := NewDB(db, &DBOptions{Dialect: "postgres"})

	called := false
	fn := func(*sql.Tx) error { called = true; return nil }
	for name, ctx := range map[string]context.Context{
		"background":             context.Background(),
		"empty tenant":           NewContext(context.Background(), Tenant{}),
		"system is not a tenant": WithSystem(context.Background()),
	} {
		err := d.Tx(ctx, fn)
		require.ErrorIs(t, err, ErrNoTenant, name)
	}
	err := d.SystemTx(NewContext(context.Background(), acme), fn)
	require.ErrorIs(t, err, ErrNotSystem)
	require.False(t, called)
	require.Zero(t, conn.n.Load(), "no connection was even requested")

	// The control: with a tenant, Tx does reach for the database.
	err = d.Tx(NewContext(t.Context(), acme), fn)
	require.ErrorIs(t, err, errNoConn)
	require.Positive(t, conn.n.Load())
	require.False(t, called)
}

func TestDBOptions(t *testing.T) {
	db := testenv.SQLiteDB(t)
	d := NewDB(db, &DBOptions{Dialect: "oracle"})
	err := d.Tx(NewContext(t.Context(), acme), func(*sql.Tx) error { return nil })
	require.ErrorContains(t, err, "DBOptions.Dialect")
	require.ErrorContains(t, err, "oracle")
	require.Same(t, db, d.Unwrap())

	d = NewDB(db, nil)
	require.Equal(t, sqldialect.SQLite, d.dialect, "detected from the driver")
	require.Equal(t, "app.tenant_id", d.setting)
	require.Equal(t, "app.cross_tenant", d.system)
	require.Panics(t, func() { NewDB(nil, nil) })
	require.Error(t, d.Tx(NewContext(t.Context(), acme), nil))
}

// portableDBTests runs the behaviour every dialect shares. The table
// items(id, tenant_id, name) must exist and be empty.
func portableDBTests(t *testing.T, db *sql.DB, dialect sqldialect.Dialect) {
	d := NewDB(db, nil)
	insert := "INSERT INTO items (tenant_id, name) VALUES (" + dialect.Placeholders(1, 2) + ")"
	count := func(ctx context.Context, tx *sql.Tx) int {
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE tenant_id = "+dialect.Placeholder(1), string(IDFromContext(ctx))).Scan(&n))
		return n
	}
	ctxA := NewContext(t.Context(), acme)

	t.Run("commit", func(t *testing.T) {
		require.NoError(t, d.Tx(ctxA, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctxA, insert, 1, "meter-1")
			return err
		}))
		require.NoError(t, d.Tx(ctxA, func(tx *sql.Tx) error {
			require.Equal(t, 1, count(ctxA, tx))
			return nil
		}))
	})
	t.Run("error rolls back", func(t *testing.T) {
		errStop := errors.New("stop")
		err := d.Tx(ctxA, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctxA, insert, 1, "meter-2")
			require.NoError(t, err)
			return errStop
		})
		require.ErrorIs(t, err, errStop)
		require.NoError(t, d.Tx(ctxA, func(tx *sql.Tx) error {
			require.Equal(t, 1, count(ctxA, tx))
			return nil
		}))
	})
	t.Run("panic rolls back", func(t *testing.T) {
		require.PanicsWithValue(t, "boom", func() {
			_ = d.Tx(ctxA, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctxA, insert, 1, "meter-3")
				require.NoError(t, err)
				panic("boom")
			})
		})
		require.NoError(t, d.Tx(ctxA, func(tx *sql.Tx) error {
			require.Equal(t, 1, count(ctxA, tx))
			return nil
		}))
	})
	t.Run("refuses without tenant", func(t *testing.T) {
		called := false
		err := d.Tx(t.Context(), func(*sql.Tx) error { called = true; return nil })
		require.ErrorIs(t, err, ErrNoTenant)
		err = d.SystemTx(ctxA, func(*sql.Tx) error { called = true; return nil })
		require.ErrorIs(t, err, ErrNotSystem)
		require.False(t, called)
	})
	t.Run("system", func(t *testing.T) {
		sys := WithSystem(t.Context())
		require.NoError(t, d.SystemTx(sys, func(tx *sql.Tx) error {
			var n int
			require.NoError(t, tx.QueryRowContext(sys, "SELECT COUNT(*) FROM items").Scan(&n))
			require.Equal(t, 1, n)
			return nil
		}))
	})
}

func TestDBSQLite(t *testing.T) {
	db := testenv.SQLiteDB(t)
	_, err := db.ExecContext(t.Context(), "CREATE TABLE items (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, name TEXT NOT NULL)")
	require.NoError(t, err)
	portableDBTests(t, db, sqldialect.SQLite)
}

func TestDBMySQL(t *testing.T) {
	db := testenv.MySQLDB(t)
	_, err := db.ExecContext(t.Context(), "CREATE TABLE items (id BIGINT AUTO_INCREMENT PRIMARY KEY, tenant_id BIGINT NOT NULL, name VARCHAR(100) NOT NULL) ENGINE=InnoDB")
	require.NoError(t, err)
	portableDBTests(t, db, sqldialect.MySQL)
}

func TestDBPostgres(t *testing.T) {
	db := testenv.PostgresDB(t)
	_, err := db.ExecContext(t.Context(), "CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, name text NOT NULL)")
	require.NoError(t, err)
	portableDBTests(t, db, sqldialect.Postgres)

	t.Run("custom setting names", func(t *testing.T) {
		d := NewDB(db, &DBOptions{Setting: "myapp.org_id", SystemSetting: "myapp.all_orgs"})
		read := func(ctx context.Context, tx *sql.Tx) (org, all string) {
			require.NoError(t, tx.QueryRowContext(ctx,
				"SELECT current_setting('myapp.org_id', true), current_setting('myapp.all_orgs', true)").Scan(&org, &all))
			return org, all
		}
		ctx := NewContext(t.Context(), Tenant{ID: "42"})
		require.NoError(t, d.Tx(ctx, func(tx *sql.Tx) error {
			org, all := read(ctx, tx)
			require.Equal(t, "42", org)
			require.Equal(t, "off", all)
			return nil
		}))
		sys := WithSystem(t.Context())
		require.NoError(t, d.SystemTx(sys, func(tx *sql.Tx) error {
			org, all := read(sys, tx)
			require.Empty(t, org)
			require.Equal(t, "on", all)
			return nil
		}))
	})
}

// pgRLS creates, in a fresh PostgreSQL database, the table items with
// row-level security ENABLEd and FORCEd and the policy shape DB is designed
// for, seeds 3 rows for tenant 1 and 2 rows for tenant 2 as the owner, and
// returns a pool connected as a role that is neither the owner nor a
// superuser nor BYPASSRLS.
func pgRLS(t *testing.T) (owner, app *sql.DB) {
	t.Helper()
	dsn := testenv.PostgresDatabase(t)
	owner, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { owner.Close() })
	ctx := t.Context()

	role := testenv.Name("tk_app")
	_, err = owner.ExecContext(ctx, "CREATE ROLE "+role+" LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT")
	require.NoError(t, err)
	t.Cleanup(func() {
		// Runs before the database is dropped: revoke the role's grants
		// there, then drop the (cluster-wide) role.
		bg := context.Background()
		_, _ = owner.ExecContext(bg, "DROP OWNED BY "+role)
		_, _ = owner.ExecContext(bg, "DROP ROLE IF EXISTS "+role)
	})
	for _, q := range []string{
		`CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, name text NOT NULL)`,
		`ALTER TABLE items ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE items FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY tenant_isolation ON items
		   USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::bigint OR current_setting('app.cross_tenant', true) = 'on')
		   WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::bigint OR current_setting('app.cross_tenant', true) = 'on')`,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON items TO ` + role,
		`GRANT USAGE ON SEQUENCE items_id_seq TO ` + role,
		`INSERT INTO items (tenant_id, name) VALUES (1, 'a1'), (1, 'a2'), (1, 'a3'), (2, 'b1'), (2, 'b2')`,
	} {
		_, err := owner.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}

	u, err := url.Parse(dsn)
	require.NoError(t, err, "TEST_POSTGRES_DSN must be a URL for this test")
	u.User = url.User(role)
	app, err = sql.Open("pgx", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })

	var super, bypass, isOwner bool
	require.NoError(t, app.QueryRowContext(ctx, `SELECT r.rolsuper, r.rolbypassrls, t.tableowner = current_user
		FROM pg_roles r, pg_tables t WHERE r.rolname = current_user AND t.tablename = 'items'`).Scan(&super, &bypass, &isOwner))
	require.False(t, super || bypass || isOwner, "the app role must be subject to RLS")
	return owner, app
}

func countItems(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM items").Scan(&n)
	return n, err
}

func TestDBPostgresRLS(t *testing.T) {
	_, app := pgRLS(t)
	app.SetMaxOpenConns(1)
	d := NewDB(app, nil)
	ctx := t.Context()
	ctxA := NewContext(ctx, Tenant{ID: "1", Slug: "acme", Status: StatusActive})
	ctxB := NewContext(ctx, Tenant{ID: "2", Slug: "globex", Status: StatusActive})

	n, err := countItems(ctx, app)
	require.NoError(t, err)
	require.Zero(t, n, "without a tenant the app role sees no rows")

	require.NoError(t, d.Tx(ctxB, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctxB, "SELECT tenant_id, name FROM items ORDER BY name")
		require.NoError(t, err)
		defer rows.Close()
		var names []string
		for rows.Next() {
			var tid int64
			var name string
			require.NoError(t, rows.Scan(&tid, &name))
			require.EqualValues(t, 2, tid)
			names = append(names, name)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"b1", "b2"}, names)
		var cross string
		require.NoError(t, tx.QueryRowContext(ctxB, "SELECT current_setting('app.cross_tenant', true)").Scan(&cross))
		require.Equal(t, "off", cross)
		return nil
	}))

	// The same (only) connection, right after tenant B's transaction.
	n, err = countItems(ctx, app)
	require.NoError(t, err)
	require.Zero(t, n, "the tenant setting died with the transaction")
	var setting sql.NullString
	require.NoError(t, app.QueryRowContext(ctx, "SELECT current_setting('app.tenant_id', true)").Scan(&setting))
	require.Empty(t, setting.String)

	t.Run("insert for another tenant is rejected by the policy", func(t *testing.T) {
		err := d.Tx(ctxB, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctxB, "INSERT INTO items (tenant_id, name) VALUES ($1, $2)", 1, "smuggled")
			return err
		})
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		require.Equal(t, "42501", pgErr.Code, "insufficient_privilege: new row violates row-level security policy")

		err = d.Tx(ctxB, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctxB, "UPDATE items SET tenant_id = 1 WHERE name = 'b1'")
			return err
		})
		require.ErrorAs(t, err, &pgErr, "moving a row to another tenant is rejected too")
		require.Equal(t, "42501", pgErr.Code)

		require.NoError(t, d.Tx(ctxB, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctxB, "INSERT INTO items (tenant_id, name) VALUES ($1, $2)", 2, "b3")
			return err
		}))
		require.NoError(t, d.Tx(ctxA, func(tx *sql.Tx) error {
			n, err := countItems(ctxA, tx)
			require.NoError(t, err)
			require.Equal(t, 3, n, "tenant A does not see B's new row nor the smuggled one")
			res, err := tx.ExecContext(ctxA, "DELETE FROM items WHERE name LIKE 'b%'")
			require.NoError(t, err)
			affected, err := res.RowsAffected()
			require.NoError(t, err)
			require.Zero(t, affected, "A cannot delete B's rows")
			return nil
		}))
	})

	t.Run("system mode only when asked", func(t *testing.T) {
		err := d.SystemTx(ctxA, func(*sql.Tx) error { t.Fatal("must not run"); return nil })
		require.ErrorIs(t, err, ErrNotSystem)
		sys := WithSystem(ctx)
		require.NoError(t, d.SystemTx(sys, func(tx *sql.Tx) error {
			n, err := countItems(sys, tx)
			require.NoError(t, err)
			require.Equal(t, 6, n)
			return nil
		}))
		n, err := countItems(ctx, app)
		require.NoError(t, err)
		require.Zero(t, n, "the cross-tenant mode died with its transaction")
		require.NoError(t, d.Tx(WithSystem(ctxA), func(tx *sql.Tx) error {
			n, err := countItems(ctxA, tx)
			require.NoError(t, err)
			require.Equal(t, 3, n, "WithSystem gives Tx no cross-tenant powers")
			return nil
		}))
	})

	t.Run("a session-level setting cannot widen a Tx", func(t *testing.T) {
		// Simulate a bug elsewhere that leaves a session-level SET on the
		// pooled connection.
		_, err := app.ExecContext(ctx, "SET app.cross_tenant = 'on'")
		require.NoError(t, err)
		n, err := countItems(ctx, app)
		require.NoError(t, err)
		require.Equal(t, 6, n, "precondition: the leaked session setting is live")
		require.NoError(t, d.Tx(ctxA, func(tx *sql.Tx) error {
			n, err := countItems(ctxA, tx)
			require.NoError(t, err)
			require.Equal(t, 3, n)
			return nil
		}))
		_, err = app.ExecContext(ctx, "RESET app.cross_tenant")
		require.NoError(t, err)
	})

	t.Run("no tenant, no query", func(t *testing.T) {
		err := d.Tx(ctx, func(*sql.Tx) error { t.Fatal("must not run"); return nil })
		require.ErrorIs(t, err, ErrNoTenant)
	})
}

func TestDBPostgresParallelSystemModeDoesNotLeak(t *testing.T) {
	_, app := pgRLS(t)
	app.SetMaxOpenConns(3) // fewer connections than goroutines: they are reused across modes
	d := NewDB(app, nil)
	ctx := t.Context()

	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := range workers {
		wg.Go(func() {
			id := ID(fmt.Sprint(w%2 + 1))
			want := map[ID]int{"1": 3, "2": 2}[id]
			tctx := NewContext(ctx, Tenant{ID: id, Status: StatusActive})
			for range rounds {
				err := d.Tx(tctx, func(tx *sql.Tx) error {
					var n, other int
					var cross string
					if err := tx.QueryRowContext(tctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE tenant_id::text <> $1),
						current_setting('app.cross_tenant', true) FROM items`, string(id)).Scan(&n, &other, &cross); err != nil {
						return err
					}
					if n != want || other != 0 || cross != "off" {
						return fmt.Errorf("tenant %s saw %d rows (%d of another tenant), cross_tenant=%q", id, n, other, cross)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		sys := WithSystem(ctx)
		for range rounds {
			err := d.SystemTx(sys, func(tx *sql.Tx) error {
				n, err := countItems(sys, tx)
				if err == nil && n != 5 {
					err = fmt.Errorf("system saw %d rows, want 5", n)
				}
				return err
			})
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := countItems(ctx, app)
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestDBWorkOutsideTheRequest follows a tenant from a real HTTP request into
// goroutines the handler starts: one with context.Background() gets no
// tenant and no rows; one with Detach(r.Context()) keeps working after the
// response, when the request context is already cancelled.
func TestDBWorkOutsideTheRequest(t *testing.T) {
	db := testenv.SQLiteDB(t)
	_, err := db.ExecContext(t.Context(), "CREATE TABLE items (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, name TEXT NOT NULL)")
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), "INSERT INTO items (tenant_id, name) VALUES (1, 'a1'), (2, 'b1')")
	require.NoError(t, err)
	d := NewDB(db, nil)

	respond := make(chan struct{})
	type result struct {
		err       error
		n         int
		reqCtxErr error
	}
	background, detached := make(chan result, 1), make(chan result, 1)
	m := NewMiddleware(Subdomain("localhost"), NewCache(newFakeDirectory(acme), nil), nil)
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqCtx := r.Context()
		work := func(ctx context.Context, out chan<- result) {
			<-respond       // run after the response has been written
			<-reqCtx.Done() // and the server has cancelled the request context
			var n int
			err := d.Tx(ctx, func(tx *sql.Tx) error {
				return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM items WHERE tenant_id = ?", string(IDFromContext(ctx))).Scan(&n)
			})
			out <- result{err: err, n: n, reqCtxErr: reqCtx.Err()}
		}
		go work(context.Background(), background)
		go work(Detach(reqCtx), detached)
		w.WriteHeader(http.StatusNoContent)
	})))
	t.Cleanup(srv.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Host = "acme.localhost"
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	close(respond)

	bg := <-background
	require.ErrorIs(t, bg.err, ErrNoTenant)
	require.Zero(t, bg.n)
	dt := <-detached
	require.NoError(t, dt.err)
	require.Equal(t, 1, dt.n)
	require.Error(t, dt.reqCtxErr, "the request context was already cancelled")
}

// opaqueDriver hides the SQLite driver's package path, so the dialect can
// only be found by asking the server.
type opaqueDriver struct{ d driver.Driver }

func (o opaqueDriver) Open(name string) (driver.Conn, error) { return o.d.Open(name) }

type opaqueConnector struct {
	dsn string
	d   opaqueDriver
}

func (c opaqueConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c opaqueConnector) Driver() driver.Driver                        { return c.d }

func TestDBDetectsDialectLazily(t *testing.T) {
	probe := testenv.SQLiteDB(t)
	db := sql.OpenDB(opaqueConnector{dsn: testenv.SQLitePath(t), d: opaqueDriver{probe.Driver()}})
	t.Cleanup(func() { db.Close() })
	d := NewDB(db, nil)
	require.Equal(t, sqldialect.Unknown, d.dialect, "the constructor does no I/O")
	ctx := NewContext(t.Context(), acme)
	require.NoError(t, d.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE t (x INTEGER)")
		return err
	}))
	require.Equal(t, sqldialect.SQLite, d.dialect, "detected on the first transaction")
}

// TestDBPostgresRequestWithoutTenantAfterOne serves tenant requests and
// tenant-less requests from one server over a one-connection pool: the
// request without a tenant is refused with 404, and even a handler that
// forgets DB.Tx and queries the pool directly sees no rows.
func TestDBPostgresRequestWithoutTenantAfterOne(t *testing.T) {
	_, app := pgRLS(t)
	app.SetMaxOpenConns(1)
	d := NewDB(app, nil)
	dir := NewCache(DirectoryFunc(func(_ context.Context, key string) (Tenant, error) {
		switch key {
		case "acme":
			return Tenant{ID: "1", Slug: "acme", Status: StatusActive}, nil
		case "globex":
			return Tenant{ID: "2", Slug: "globex", Status: StatusActive}, nil
		}
		return Tenant{}, ErrNotFound
	}), nil)
	m := NewMiddleware(Chain(Subdomain("localhost"), PathPrefix("/t/")), dir, nil)

	list := func(w http.ResponseWriter, r *http.Request, q func(ctx context.Context, query string) (*sql.Rows, error)) {
		rows, err := q(r.Context(), "SELECT name FROM items ORDER BY name")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			names = append(names, n)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, names)
	}
	mux := http.NewServeMux()
	mux.Handle("/items", m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := d.Tx(r.Context(), func(tx *sql.Tx) error {
			list(w, r, func(ctx context.Context, q string) (*sql.Rows, error) { return tx.QueryContext(ctx, q) })
			return nil
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})))
	// A careless handler on an optional route: no Tx, straight to the pool.
	mux.Handle("/careless", m.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list(w, r, func(ctx context.Context, q string) (*sql.Rows, error) { return app.QueryContext(ctx, q) })
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	get := func(host, path string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Host = host
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, strings.TrimSpace(b.String())
	}

	code, body := get("globex.localhost", "/items")
	require.Equal(t, 200, code, body)
	require.Equal(t, "[b1 b2]", body)

	code, body = get("localhost", "/items")
	require.Equal(t, 404, code, body)
	require.NotContains(t, body, "b1")

	code, body = get("localhost", "/careless")
	require.Equal(t, 200, code, body)
	require.Equal(t, "[]", body, "the connection tenant B used carries nothing into the next request")

	code, body = get("acme.localhost", "/items")
	require.Equal(t, 200, code, body)
	require.Equal(t, "[a1 a2 a3]", body)

	code, body = get("acme.localhost", "/careless")
	require.Equal(t, 200, code, body)
	require.Equal(t, "[]", body, "a tenant in the context is not a tenant in the database session")
}
