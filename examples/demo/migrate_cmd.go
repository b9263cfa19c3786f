package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/pressly/goose/v3"

	"github.com/tenantkit/tenantkit/examples/demo/migrations"
	"github.com/tenantkit/tenantkit/migrate"
	"github.com/tenantkit/tenantkit/migrate/gooseadapter"
)

func migrateCommand() command {
	return command{Name: "migrate", Summary: "run the demo's migrations with tenant-integrity checks (up|down|status)", Run: runMigrate}
}

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "migrate", `Actions: up, down or status, before or after the flags.

Runs the demo's migrations (examples/demo/migrations) through goose with
tenantkit's checks: before the first migration the database is checked once
(the baseline), and after each migration, inside its transaction and before
goose records its version, the checks run again. A violation the migration
introduced rolls it back on PostgreSQL and SQLite and leaves goose's version
unchanged; on MySQL/MariaDB, where DDL commits implicitly, the report says
"partially applied". Violations that were already there are reported as
pre-existing.

  up      apply every pending migration
  down    roll back the latest migration
  status  list the migrations and whether they are applied`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	verbose := fs.Bool("report", false, "print each migration's full check report")
	action, err := parseFlagsArg(fs, args) // the action may come before or after the flags
	if err != nil {
		return err
	}
	switch action {
	case "up", "down", "status":
	case "":
		return usagef("missing action: up, down or status")
	default:
		return usagef("unknown action %q: want up, down or status", action)
	}
	src, err := parseDataSource(*db)
	if err != nil {
		return usagef("--db: %v", err)
	}
	pool, err := openPool(ctx, src)
	if err != nil {
		return err
	}
	defer pool.Close()
	if has, err := tableExists(ctx, pool, src.Dialect, "organizations"); err != nil {
		return err
	} else if !has {
		return fmt.Errorf("%s has no demo schema: run 'demo seed' first", src.Display)
	}
	p, err := gooseadapter.NewProvider(pool, nil, &gooseadapter.Options{
		Dialect: src.Dialect,
		Check:   demoCheckOptions(src.Dialect, migrate.DefaultSampleSize),
	}, goose.WithGoMigrations(migrations.Goose(src.Dialect)...), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	switch action {
	case "status":
		st, err := p.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tMIGRATION")
		for _, s := range st {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, migrationName(s.Source))
		}
		return tw.Flush()
	case "up":
		_, err = p.Up(ctx)
	case "down":
		_, err = p.Down(ctx)
	}
	reps := p.Reports()
	for _, r := range reps {
		fmt.Fprintf(e.Stdout, "%s %d %s: %s (%d checks, %d violations, %d new)\n", action, r.Version,
			migrationName(&goose.Source{Version: r.Version}), r.Report.Outcome, len(r.Report.Results), len(r.Report.Violations()), len(r.Report.New()))
		if *verbose || len(r.Report.Violations()) > 0 {
			if werr := r.Report.WriteTable(e.Stdout); werr != nil {
				return werr
			}
		}
	}
	if err != nil {
		return err
	}
	if len(reps) == 0 {
		fmt.Fprintf(e.Stdout, "%s: nothing to do\n", action)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "database version: %d\n", v)
	return nil
}

func migrationName(s *goose.Source) string {
	if s.Version == migrations.TenantIndexesVersion {
		return "add_tenant_aware_indexes"
	}
	if s.Path != "" {
		return s.Path
	}
	return "-"
}
