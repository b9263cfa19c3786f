package catalog_test

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite"

	"github.com/tenantkit/tenantkit/internal/catalog"
	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

func ExampleLoad() {
	ctx := context.Background()
	db, _ := sql.Open("sqlite", "file:catalog_example?mode=memory&cache=shared")
	defer db.Close()
	for _, s := range []string{
		`CREATE TABLE organizations (id TEXT PRIMARY KEY)`,
		`CREATE TABLE invoices (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES organizations(id))`,
		`CREATE TABLE invoice_items (id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoices(id))`,
		`CREATE TABLE currencies (code TEXT PRIMARY KEY)`,
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			panic(err)
		}
	}
	c, err := catalog.Load(ctx, db, sqldialect.SQLite, nil)
	if err != nil {
		panic(err)
	}
	for _, t := range c.Tables {
		fmt.Println(t.Name, t.Kind, len(t.TenantPath))
	}
	order, _ := c.Order(nil)
	fmt.Println(order)
	// Output:
	// currencies global 0
	// invoice_items closure 1
	// invoices tenant 0
	// organizations root 0
	// [currencies organizations invoices invoice_items]
}
