package main

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var testAnchor = time.Date(2026, time.March, 15, 0, 0, 0, 0, time.UTC)

// TestSeedSizes checks the generated data of every size without writing it:
// the medium default has at least 20 organizations across the three plans
// plus one suspended, and at least 200,000 readings over 12 months.
func TestSeedSizes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		size        string
		minOrgs     int
		minReadings int
		maxReadings int
	}{
		{"small", 4, 2000, 5000},
		{"medium", 20, 200_000, 400_000},
		{"large", 60, 800_000, 2_000_000},
	} {
		t.Run(c.size, func(t *testing.T) {
			if c.size == "large" && (testing.Short() || raceEnabled) {
				t.Skip("the large plan is checked without -race and -short only")
			}
			size, err := sizeNamed(c.size)
			require.NoError(t, err)
			s, err := planSeed(size, testAnchor)
			require.NoError(t, err)
			st := s.stats
			require.GreaterOrEqual(t, st.Organizations, c.minOrgs)
			require.GreaterOrEqual(t, st.Readings, c.minReadings)
			require.LessOrEqual(t, st.Readings, c.maxReadings)
			require.Positive(t, st.Invoices)
			require.Greater(t, st.InvoiceItems, st.Invoices)

			plans := map[string]int{}
			for i := range st.Organizations {
				plans[planOf(i, orgSlug(i))]++
			}
			for _, p := range []string{"basic", "professional", "enterprise"} {
				require.Positive(t, plans[p], "no %s organization", p)
			}

			// Seasonal curves: heating meters consume far more in January than
			// in July; water a little more in July.
			jan := s.monthIndex(time.Date(2026, time.January, 10, 0, 0, 0, 0, time.UTC))
			jul := s.monthIndex(time.Date(2025, time.July, 10, 0, 0, 0, 0, time.UTC))
			require.True(t, jan >= 0 && jul >= 0)
			var heatJan, heatJul, waterJan, waterJul float64
			for _, m := range s.meters {
				switch m.Type {
				case "gas", "heat":
					heatJan += m.Monthly[jan]
					heatJul += m.Monthly[jul]
				case "water":
					waterJan += m.Monthly[jan]
					waterJul += m.Monthly[jul]
				}
			}
			require.Greater(t, heatJan, 3*heatJul, "heating is seasonal")
			require.Greater(t, waterJul, waterJan, "water peaks in summer")
		})
	}
	_, err := sizeNamed("huge")
	require.ErrorIs(t, err, errUnknownSize)
}

// TestSeedDeterministic: the same size and anchor give byte-identical data.
func TestSeedDeterministic(t *testing.T) {
	t.Parallel()
	digest := func() string {
		a := openApp(t, Config{DB: filepath.Join(t.TempDir(), "det.db"), Anchor: testAnchor})
		h := sha256.New()
		for _, q := range []string{
			"SELECT id, tenant_id, meter_id, read_at, value, source FROM meter_readings ORDER BY id",
			"SELECT id, tenant_id, number, status, total_amount FROM invoices ORDER BY id",
			"SELECT id, invoice_id, quantity, amount FROM invoice_items ORDER BY id",
			"SELECT id, slug, plan, status, subscription_ends_at FROM organizations ORDER BY id",
		} {
			rows, err := a.Owner.QueryContext(t.Context(), q)
			require.NoError(t, err)
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				require.NoError(t, rows.Scan(ptrs...))
				fmt.Fprintln(h, vals...)
			}
			require.NoError(t, rows.Err())
			rows.Close()
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	require.Equal(t, digest(), digest())
}

// TestSeedData checks the seeded small database: one suspended
// organization, subscriptions ending soon and one expired, cumulative meters
// that never decrease, invoice totals equal to the sum of their items.
func TestSeedData(t *testing.T) {
	t.Parallel()
	a := openApp(t, Config{DB: filepath.Join(t.TempDir(), "data.db"), Anchor: testAnchor})
	q := func(query string, args ...any) int { return ownerCount(t, a, query, args...) }
	require.Equal(t, 1, q("SELECT COUNT(*) FROM organizations WHERE status = 'suspended'"))
	// One active organization whose subscription has expired (and its
	// current subscription row says so).
	require.Equal(t, 1, q("SELECT COUNT(*) FROM organizations WHERE status = 'active' AND subscription_ends_at < ?", testAnchor))
	require.Equal(t, 1, q(`SELECT COUNT(*) FROM subscriptions s JOIN organizations o ON o.id = s.tenant_id
		WHERE o.status = 'active' AND s.status = 'expired' AND s.ends_at = o.subscription_ends_at`))
	require.Positive(t, q("SELECT COUNT(*) FROM subscriptions WHERE status = 'active' AND ends_at BETWEEN ? AND ?", testAnchor, testAnchor.AddDate(0, 0, 7)))
	require.Zero(t, q(`SELECT COUNT(*) FROM (
		SELECT r.value, LAG(r.value) OVER (PARTITION BY r.meter_id ORDER BY r.read_at) AS prev
		FROM meter_readings r JOIN meters m ON m.id = r.meter_id WHERE m.cumulative) x
		WHERE x.value < x.prev`), "a cumulative meter decreased")
	require.Positive(t, q("SELECT COUNT(*) FROM meters WHERE NOT cumulative"))
	require.Zero(t, q(`SELECT COUNT(*) FROM invoices i WHERE ABS(i.total_amount -
		(SELECT SUM(amount) FROM invoice_items ii WHERE ii.invoice_id = i.id)) > 0.05`), "invoice totals match items")
	require.Zero(t, q(`SELECT COUNT(*) FROM meter_readings r JOIN meters m ON m.id = r.meter_id WHERE r.tenant_id <> m.tenant_id`))
	require.Zero(t, q(`SELECT COUNT(*) FROM invoice_items ii JOIN invoices i ON i.id = ii.invoice_id
		JOIN meters m ON m.id = ii.meter_id WHERE m.tenant_id <> i.tenant_id`))
	var first, last sql.NullString
	require.NoError(t, a.Owner.QueryRowContext(t.Context(), "SELECT MIN(read_at), MAX(read_at) FROM meter_readings").Scan(&first, &last))
	require.Contains(t, first.String, "2025-03-0", "readings start 12 months before the anchor month")
	require.Contains(t, last.String, "2026-03-1", "readings end before the anchor")
}
