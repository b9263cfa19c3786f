package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite"

	"github.com/tenantkit/tenantkit/backup"
)

// exampleDB opens a throw-away SQLite database with two tenants: projects
// carry tenant_id, tasks belong to a tenant through their project.
func exampleDB() (*sql.DB, func()) {
	dir, _ := os.MkdirTemp("", "backup-example")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		panic(err)
	}
	for _, s := range []string{
		`CREATE TABLE organizations (id integer PRIMARY KEY, slug text NOT NULL)`,
		`CREATE TABLE projects (id integer PRIMARY KEY, tenant_id integer NOT NULL REFERENCES organizations(id), name text NOT NULL)`,
		`CREATE TABLE tasks (id integer PRIMARY KEY, project_id integer NOT NULL REFERENCES projects(id), title text NOT NULL)`,
		`INSERT INTO organizations VALUES (1, 'acme'), (2, 'globex')`,
		`INSERT INTO projects VALUES (1, 1, 'Website'), (2, 2, 'Billing')`,
		`INSERT INTO tasks VALUES (1, 1, 'Draft "about" page'), (2, 1, 'Ship it'), (3, 2, 'Invoices')`,
	} {
		if _, err := db.Exec(s); err != nil {
			panic(err)
		}
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

func ExampleExport() {
	db, done := exampleDB()
	defer done()
	var buf bytes.Buffer
	m, err := backup.Export(context.Background(), db, "1", &buf, &backup.Options{NoCompress: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range m.Tables {
		fmt.Printf("%s (%s): %d rows\n", t.Name, t.Kind, t.Rows)
	}
	// The rows of one table, as they are in the file.
	lines := strings.Split(buf.String(), "\n")
	for i, l := range lines {
		if l == `{"table":"tasks"}` {
			fmt.Println(lines[i+1])
			fmt.Println(lines[i+2])
		}
	}
	// Output:
	// organizations (root): 1 rows
	// projects (tenant): 1 rows
	// tasks (closure): 2 rows
	// ["1","1","Draft \"about\" page"]
	// ["2","1","Ship it"]
}

func ExampleRestore() {
	db, done := exampleDB()
	defer done()
	ctx := context.Background()
	var file bytes.Buffer // in production: an *os.File
	if _, err := backup.Export(ctx, db, "1", &file, nil); err != nil {
		fmt.Println(err)
		return
	}
	// An accident: acme loses a task.
	db.Exec(`DELETE FROM tasks WHERE id = 2`)

	// A dry run restores, checks, and rolls back.
	rep, err := backup.Restore(ctx, db, "1", bytes.NewReader(file.Bytes()), &backup.RestoreOptions{DryRun: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range rep.Tables {
		fmt.Printf("dry run %s: delete %d, insert %d\n", t.Name, t.Deleted, t.Inserted)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM tasks`).Scan(&n)
	fmt.Println("tasks after the dry run:", n)

	if _, err := backup.Restore(ctx, db, "1", bytes.NewReader(file.Bytes()), nil); err != nil {
		fmt.Println(err)
		return
	}
	db.QueryRow(`SELECT COUNT(*) FROM tasks`).Scan(&n)
	fmt.Println("tasks after the restore:", n)
	// Output:
	// dry run organizations: delete 0, insert 1
	// dry run projects: delete 1, insert 1
	// dry run tasks: delete 1, insert 2
	// tasks after the dry run: 2
	// tasks after the restore: 3
}

func ExampleValidate() {
	db, done := exampleDB()
	defer done()
	ctx := context.Background()
	var buf bytes.Buffer
	backup.Export(ctx, db, "1", &buf, &backup.Options{NoCompress: true})

	// A file of tenant 1 is not restored as tenant 2.
	_, err := backup.Validate(ctx, bytes.NewReader(buf.Bytes()), db, "2", nil)
	fmt.Println(errors.Is(err, backup.ErrTenant))

	// One altered byte fails the table's checksum.
	bad := bytes.Replace(buf.Bytes(), []byte("Ship it"), []byte("Ship It"), 1)
	_, err = backup.Validate(ctx, bytes.NewReader(bad), db, "1", nil)
	var ve *backup.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Table, errors.Is(err, backup.ErrCorrupt))
	}
	// Output:
	// true
	// tasks true
}

func ExampleParseFormat() {
	f, err := backup.ParseFormat("sql")
	fmt.Println(f, err)
	_, err = backup.ParseFormat("csv")
	fmt.Println(err)
	// Output:
	// sql <nil>
	// backup: unknown format "csv" (want jsonl or sql)
}
