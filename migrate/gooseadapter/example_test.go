package gooseadapter_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing/fstest"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/tenantkit/tenantkit/migrate"
	"github.com/tenantkit/tenantkit/migrate/gooseadapter"
)

func ExampleNewProvider() {
	ctx := context.Background()
	db, _ := sql.Open("sqlite", "file:goose_example?mode=memory&cache=shared&_pragma=foreign_keys(1)")
	db.SetMaxOpenConns(1)
	defer db.Close()

	fsys := fstest.MapFS{
		"00001_schema.sql": {Data: []byte(`-- +goose Up
CREATE TABLE organizations (id TEXT PRIMARY KEY);
CREATE TABLE meters (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL);
INSERT INTO organizations VALUES ('acme');
INSERT INTO meters VALUES (1, 'acme');
-- +goose Down
DROP TABLE meters;
DROP TABLE organizations;
`)},
		"00002_backfill.sql": {Data: []byte(`-- +goose Up
INSERT INTO meters VALUES (2, 'nobody');
-- +goose Down
DELETE FROM meters WHERE id = 2;
`)},
	}
	p, err := gooseadapter.NewProvider(db, fsys, nil, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		panic(err)
	}
	_, err = p.Up(ctx)
	var ve *migrate.ViolationError
	if errors.As(err, &ve) {
		for _, r := range ve.Report.New() {
			fmt.Println(r.ID, r.TenantIDs, ve.Report.Outcome)
		}
	}
	v, _ := p.GetDBVersion(ctx)
	fmt.Println("version:", v)
	// Output:
	// missing_tenant:meters [nobody] rolled_back
	// version: 1
}
