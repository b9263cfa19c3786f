package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

func seedCommand() command {
	return command{Name: "seed", Summary: "create the schema and seed deterministic demo data", Run: runSeed}
}

func runSeed(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "seed", `Creates the demo schema and seeds it with deterministic data in one
transaction. It refuses a database that is already seeded unless --reset is given,
which drops the demo's tables (and only those) first.

Sizes: small (4 organizations, ~3k meter readings; for tests), medium (24
organizations, ~250k readings over 12 months; the default), large (60
organizations, ~1M readings).`)
	db := fs.String("db", defaultDB, "database: a SQLite file path, postgres://user@host:port/db or mysql://user:pass@host:port/db")
	size := fs.String("size", "medium", "small, medium or large")
	reset := fs.Bool("reset", false, "drop the demo tables first if they exist")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sz, err := sizeNamed(*size)
	if err != nil {
		return usagef("--size: %v", err)
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
	has, err := tableExists(ctx, pool, src.Dialect, metaTable)
	if err != nil {
		return err
	}
	if has {
		marker, err := readMarker(ctx, pool, src.Dialect)
		if err != nil {
			return err
		}
		if marker != "" && !*reset {
			return fmt.Errorf("%s is already seeded (size %s); pass --reset to drop the demo tables and seed again", src.Display, marker)
		}
	}
	if *reset {
		if err := dropSchema(ctx, pool, src.Dialect); err != nil {
			return err
		}
	}
	st, reused, err := ensureSeeded(ctx, pool, src.Dialect, sz, time.Time{}, false)
	if err != nil {
		return err
	}
	if reused {
		return errors.New("unexpected: the database was seeded concurrently")
	}
	fmt.Fprintf(e.Stdout, "seeded %s %s with %s data in %.1fs: %d organizations, %d properties, %d meters, %d meter readings, %d invoices, %d invoice items\n",
		src.Dialect, src.Display, st.Size, st.Elapsed.Seconds(), st.Organizations, st.Properties, st.Meters, st.Readings, st.Invoices, st.InvoiceItems)
	return nil
}
