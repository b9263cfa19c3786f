package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
)

// The data layer. Every function takes the request's context and:
//   - runs inside a.DB.Tx, which refuses a context without a tenant
//     (tenant.ErrNoTenant) and on PostgreSQL sets the tenant for row-level
//     security inside the transaction;
//   - filters every query by tenant_id = the context's tenant (defense in
//     depth: the only isolation on MySQL and SQLite, a second one on
//     PostgreSQL), including child rows reached through a parent.
// A row of another tenant is indistinguishable from a row that does not
// exist: errNotFound.

var (
	errNotFound        = errors.New("not found")
	errReadingDecrease = errors.New("reading lower than the previous reading of a cumulative meter")
	errReadingOrder    = errors.New("reading higher than a later reading of a cumulative meter")
)

// Organization is the tenant's own row (GET /api/tenant).
type Organization struct {
	ID                 int64      `json:"id"`
	Slug               string     `json:"slug"`
	Name               string     `json:"name"`
	Plan               string     `json:"plan"`
	Status             string     `json:"status"`
	StorageQuotaBytes  int64      `json:"storage_quota_bytes"`
	StorageUsedBytes   int64      `json:"storage_used_bytes"`
	APICallsPerDay     int64      `json:"api_calls_per_day"`
	MaxUsers           int        `json:"max_users"`
	Users              int        `json:"users"`
	SubscriptionEndsAt *time.Time `json:"subscription_ends_at"`
	CreatedAt          time.Time  `json:"created_at"`
}

// Property is one row of properties; Buildings is filled by the detail
// endpoint only.
type Property struct {
	ID         int64      `json:"id"`
	TenantID   int64      `json:"tenant_id"`
	Name       string     `json:"name"`
	Address    string     `json:"address"`
	City       string     `json:"city"`
	PostalCode string     `json:"postal_code"`
	Kind       string     `json:"kind"`
	Active     bool       `json:"is_active"`
	CreatedAt  time.Time  `json:"created_at"`
	Buildings  []Building `json:"buildings,omitempty"`
}

// Building is one row of buildings.
type Building struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Floors    int     `json:"floors"`
	AreaM2    float64 `json:"area_m2"`
	BuiltYear int     `json:"built_year"`
}

// Meter is one row of meters.
type Meter struct {
	ID          int64     `json:"id"`
	TenantID    int64     `json:"tenant_id"`
	PropertyID  int64     `json:"property_id"`
	BuildingID  int64     `json:"building_id"`
	TariffID    *int64    `json:"tariff_id"`
	Serial      string    `json:"serial"`
	Type        string    `json:"type"`
	Unit        string    `json:"unit"`
	Cumulative  bool      `json:"cumulative"`
	InstalledAt time.Time `json:"installed_at"`
}

// Reading is one row of meter_readings.
type Reading struct {
	ID       int64     `json:"id"`
	TenantID int64     `json:"tenant_id"`
	MeterID  int64     `json:"meter_id"`
	ReadAt   time.Time `json:"read_at"`
	Value    float64   `json:"value"`
	Source   string    `json:"source"`
}

// Invoice is one row of invoices; Items is filled by the detail endpoint.
type Invoice struct {
	ID                 int64         `json:"id"`
	TenantID           int64         `json:"tenant_id"`
	PropertyID         int64         `json:"property_id"`
	Number             string        `json:"number"`
	Status             string        `json:"status"`
	BillingPeriodStart string        `json:"billing_period_start"`
	BillingPeriodEnd   string        `json:"billing_period_end"`
	IssuedAt           *time.Time    `json:"issued_at"`
	DueAt              *string       `json:"due_at"`
	PaidAt             *time.Time    `json:"paid_at"`
	TotalAmount        float64       `json:"total_amount"`
	Currency           string        `json:"currency"`
	Items              []InvoiceItem `json:"items,omitempty"`
}

// InvoiceItem is one row of invoice_items.
type InvoiceItem struct {
	ID          int64   `json:"id"`
	MeterID     *int64  `json:"meter_id"`
	Description string  `json:"description"`
	Quantity    float64 `json:"quantity"`
	Unit        string  `json:"unit"`
	UnitPrice   float64 `json:"unit_price"`
	Amount      float64 `json:"amount"`
}

// page is a validated page request.
type page struct {
	Page, PerPage int
}

func (p page) offset() int { return (p.Page - 1) * p.PerPage }

// q rewrites ? placeholders for the dialect.
func (a *App) q(query string) string { return a.Dialect.Rebind(query) }

// tx runs fn in the tenant-scoped transaction of ctx with the tenant's
// numeric ID.
func (a *App) tx(ctx context.Context, fn func(tx *sql.Tx, tid int64) error) error {
	tid, err := tenantID(ctx)
	if err != nil {
		return err
	}
	return a.DB.Tx(ctx, func(tx *sql.Tx) error { return fn(tx, tid) })
}

func ptrTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func dateString(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Organization returns the tenant's own organization.
func (a *App) Organization(ctx context.Context) (Organization, error) {
	var o Organization
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		var ends sql.NullTime
		err := tx.QueryRowContext(ctx, a.q(`SELECT id, slug, name, plan, status, storage_quota_bytes, storage_used_bytes,
			api_calls_per_day, max_users, subscription_ends_at, created_at FROM organizations WHERE id = ?`), tid).
			Scan(&o.ID, &o.Slug, &o.Name, &o.Plan, &o.Status, &o.StorageQuotaBytes, &o.StorageUsedBytes,
				&o.APICallsPerDay, &o.MaxUsers, &ends, &o.CreatedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		o.SubscriptionEndsAt = ptrTime(ends)
		o.CreatedAt = o.CreatedAt.UTC()
		return tx.QueryRowContext(ctx, a.q("SELECT COUNT(*) FROM users WHERE tenant_id = ?"), tid).Scan(&o.Users)
	})
	return o, err
}

const propertyCols = "id, tenant_id, name, address, city, postal_code, kind, is_active, created_at"

func scanProperty(sc interface{ Scan(...any) error }) (Property, error) {
	var p Property
	err := sc.Scan(&p.ID, &p.TenantID, &p.Name, &p.Address, &p.City, &p.PostalCode, &p.Kind, &p.Active, &p.CreatedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	return p, err
}

// Properties returns one page of the tenant's properties and their total.
func (a *App) Properties(ctx context.Context, pg page) ([]Property, int, error) {
	var out []Property
	var total int
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		if err := tx.QueryRowContext(ctx, a.q("SELECT COUNT(*) FROM properties WHERE tenant_id = ?"), tid).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, a.q("SELECT "+propertyCols+" FROM properties WHERE tenant_id = ? ORDER BY id LIMIT ? OFFSET ?"),
			tid, pg.PerPage, pg.offset())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanProperty(rows)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, total, err
}

// Property returns one of the tenant's properties with its buildings.
func (a *App) Property(ctx context.Context, id int64) (Property, error) {
	var p Property
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		var err error
		p, err = scanProperty(tx.QueryRowContext(ctx, a.q("SELECT "+propertyCols+" FROM properties WHERE tenant_id = ? AND id = ?"), tid, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, a.q(`SELECT id, name, floors, area_m2, built_year FROM buildings
			WHERE tenant_id = ? AND property_id = ? ORDER BY id`), tid, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		p.Buildings = []Building{}
		for rows.Next() {
			var b Building
			if err := rows.Scan(&b.ID, &b.Name, &b.Floors, &b.AreaM2, &b.BuiltYear); err != nil {
				return err
			}
			p.Buildings = append(p.Buildings, b)
		}
		return rows.Err()
	})
	return p, err
}

const meterCols = "id, tenant_id, property_id, building_id, tariff_id, serial, type, unit, cumulative, installed_at"

func scanMeter(sc interface{ Scan(...any) error }) (Meter, error) {
	var m Meter
	var tariff sql.NullInt64
	err := sc.Scan(&m.ID, &m.TenantID, &m.PropertyID, &m.BuildingID, &tariff, &m.Serial, &m.Type, &m.Unit, &m.Cumulative, &m.InstalledAt)
	if tariff.Valid {
		m.TariffID = &tariff.Int64
	}
	m.InstalledAt = m.InstalledAt.UTC()
	return m, err
}

// exists reports errNotFound unless table has a row id of the tenant.
func (a *App) exists(ctx context.Context, tx *sql.Tx, tid int64, table string, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, a.q("SELECT 1 FROM "+table+" WHERE tenant_id = ? AND id = ?"), tid, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	return err
}

// PropertyMeters returns one page of the meters of one of the tenant's
// properties; errNotFound when the property is not the tenant's.
func (a *App) PropertyMeters(ctx context.Context, propertyID int64, pg page) ([]Meter, int, error) {
	var out []Meter
	var total int
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		if err := a.exists(ctx, tx, tid, "properties", propertyID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, a.q("SELECT COUNT(*) FROM meters WHERE tenant_id = ? AND property_id = ?"),
			tid, propertyID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, a.q("SELECT "+meterCols+" FROM meters WHERE tenant_id = ? AND property_id = ? ORDER BY id LIMIT ? OFFSET ?"),
			tid, propertyID, pg.PerPage, pg.offset())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMeter(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, total, err
}

// Readings returns one page of the readings of one of the tenant's meters
// with from <= read_at < to (zero bounds are open), oldest first.
func (a *App) Readings(ctx context.Context, meterID int64, from, to time.Time, pg page) ([]Reading, int, error) {
	var out []Reading
	var total int
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		if err := a.exists(ctx, tx, tid, "meters", meterID); err != nil {
			return err
		}
		where := " WHERE tenant_id = ? AND meter_id = ?"
		args := []any{tid, meterID}
		if !from.IsZero() {
			where += " AND read_at >= ?"
			args = append(args, a.timeArg(from))
		}
		if !to.IsZero() {
			where += " AND read_at < ?"
			args = append(args, a.timeArg(to))
		}
		if err := tx.QueryRowContext(ctx, a.q("SELECT COUNT(*) FROM meter_readings"+where), args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, a.q("SELECT id, tenant_id, meter_id, read_at, value, source FROM meter_readings"+where+
			" ORDER BY read_at, id LIMIT ? OFFSET ?"), append(args, pg.PerPage, pg.offset())...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Reading
			if err := rows.Scan(&r.ID, &r.TenantID, &r.MeterID, &r.ReadAt, &r.Value, &r.Source); err != nil {
				return err
			}
			r.ReadAt = r.ReadAt.UTC()
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, total, err
}

// timeArg converts t for a comparison with a stored timestamp: UTC always,
// since SQLite compares the stored text and every row is written in UTC.
func (a *App) timeArg(t time.Time) time.Time { return t.UTC() }

// NewReading is a validated POST body.
type NewReading struct {
	Value  float64
	ReadAt time.Time
	Source string
}

// CreateReading stores a reading for one of the tenant's meters. For a
// cumulative meter the value may not be lower than the reading before it
// (errReadingDecrease) nor higher than a reading after it (errReadingOrder).
// The meter row is locked first, so concurrent posts to one meter are
// checked one after the other.
func (a *App) CreateReading(ctx context.Context, meterID int64, in NewReading) (Reading, error) {
	var out Reading
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		var cumulative bool
		var lock string
		switch a.Dialect {
		case sqldialect.SQLite:
			// A write as the first statement takes SQLite's write lock
			// before anything is read; SQLite has no SELECT ... FOR UPDATE.
			if _, err := tx.ExecContext(ctx, "UPDATE meters SET id = id WHERE tenant_id = ? AND id = ?", tid, meterID); err != nil {
				return err
			}
		default:
			lock = " FOR UPDATE"
		}
		err := tx.QueryRowContext(ctx, a.q("SELECT cumulative FROM meters WHERE tenant_id = ? AND id = ?"+lock), tid, meterID).Scan(&cumulative)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		readAt := a.timeArg(in.ReadAt)
		if cumulative {
			var prev, next sql.NullFloat64
			if err := tx.QueryRowContext(ctx, a.q(`SELECT value FROM meter_readings WHERE tenant_id = ? AND meter_id = ? AND read_at <= ?
				ORDER BY read_at DESC, id DESC LIMIT 1`), tid, meterID, readAt).Scan(&prev); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if prev.Valid && in.Value < prev.Float64 {
				return fmt.Errorf("%w (%.3f < %.3f)", errReadingDecrease, in.Value, prev.Float64)
			}
			if err := tx.QueryRowContext(ctx, a.q(`SELECT value FROM meter_readings WHERE tenant_id = ? AND meter_id = ? AND read_at > ?
				ORDER BY read_at, id LIMIT 1`), tid, meterID, readAt).Scan(&next); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if next.Valid && in.Value > next.Float64 {
				return fmt.Errorf("%w (%.3f > %.3f)", errReadingOrder, in.Value, next.Float64)
			}
		}
		now := time.Now().UTC().Truncate(time.Second)
		value := math.Round(in.Value*1000) / 1000
		ins := "INSERT INTO meter_readings (tenant_id, meter_id, read_at, value, source, created_at) VALUES (?, ?, ?, ?, ?, ?)"
		args := []any{tid, meterID, readAt, value, in.Source, now}
		var id int64
		if a.Dialect == sqldialect.MySQL {
			res, err := tx.ExecContext(ctx, ins, args...)
			if err != nil {
				return err
			}
			if id, err = res.LastInsertId(); err != nil {
				return err
			}
		} else if err := tx.QueryRowContext(ctx, a.q(ins+" RETURNING id"), args...).Scan(&id); err != nil {
			return err
		}
		out = Reading{ID: id, TenantID: tid, MeterID: meterID, ReadAt: readAt, Value: value, Source: in.Source}
		return nil
	})
	return out, err
}

// Audit writes one audit_logs row for the context's tenant.
func (a *App) Audit(ctx context.Context, action, entityType string, entityID int64, notes string) error {
	return a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		_, err := tx.ExecContext(ctx, a.q(`INSERT INTO audit_logs (tenant_id, action, entity_type, entity_id, notes, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`), tid, action, entityType, entityID, notes, time.Now().UTC().Truncate(time.Second))
		return err
	})
}

// AuditCount counts the tenant's audit_logs rows with action.
func (a *App) AuditCount(ctx context.Context, action string) (int, error) {
	var n int
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		return tx.QueryRowContext(ctx, a.q("SELECT COUNT(*) FROM audit_logs WHERE tenant_id = ? AND action = ?"), tid, action).Scan(&n)
	})
	return n, err
}

// invoiceStatuses are the values of invoices.status.
var invoiceStatuses = map[string]bool{"draft": true, "issued": true, "paid": true, "overdue": true}

const invoiceCols = `id, tenant_id, property_id, number, status, billing_period_start, billing_period_end,
	issued_at, due_at, paid_at, total_amount, currency`

func scanInvoice(sc interface{ Scan(...any) error }) (Invoice, error) {
	var inv Invoice
	var start, end time.Time
	var issued, due, paid sql.NullTime
	err := sc.Scan(&inv.ID, &inv.TenantID, &inv.PropertyID, &inv.Number, &inv.Status, &start, &end,
		&issued, &due, &paid, &inv.TotalAmount, &inv.Currency)
	inv.BillingPeriodStart, inv.BillingPeriodEnd = dateString(start), dateString(end)
	inv.IssuedAt, inv.PaidAt = ptrTime(issued), ptrTime(paid)
	if due.Valid {
		s := dateString(due.Time)
		inv.DueAt = &s
	}
	return inv, err
}

// Invoices returns one page of the tenant's invoices, newest period first,
// optionally only those with status.
func (a *App) Invoices(ctx context.Context, status string, pg page) ([]Invoice, int, error) {
	var out []Invoice
	var total int
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		where := " WHERE tenant_id = ?"
		args := []any{tid}
		if status != "" {
			where += " AND status = ?"
			args = append(args, status)
		}
		if err := tx.QueryRowContext(ctx, a.q("SELECT COUNT(*) FROM invoices"+where), args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, a.q("SELECT "+invoiceCols+" FROM invoices"+where+
			" ORDER BY billing_period_start DESC, id LIMIT ? OFFSET ?"), append(args, pg.PerPage, pg.offset())...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			inv, err := scanInvoice(rows)
			if err != nil {
				return err
			}
			out = append(out, inv)
		}
		return rows.Err()
	})
	return out, total, err
}

// Invoice returns one of the tenant's invoices with its items. The items
// have no tenant_id: they are read through a join on the tenant's invoice.
func (a *App) Invoice(ctx context.Context, id int64) (Invoice, error) {
	var inv Invoice
	err := a.tx(ctx, func(tx *sql.Tx, tid int64) error {
		var err error
		inv, err = scanInvoice(tx.QueryRowContext(ctx, a.q("SELECT "+invoiceCols+" FROM invoices WHERE tenant_id = ? AND id = ?"), tid, id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, a.q(`SELECT ii.id, ii.meter_id, ii.description, ii.quantity, ii.unit, ii.unit_price, ii.amount
			FROM invoice_items ii JOIN invoices i ON i.id = ii.invoice_id
			WHERE i.tenant_id = ? AND ii.invoice_id = ? ORDER BY ii.id`), tid, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		inv.Items = []InvoiceItem{}
		for rows.Next() {
			var it InvoiceItem
			var meter sql.NullInt64
			if err := rows.Scan(&it.ID, &meter, &it.Description, &it.Quantity, &it.Unit, &it.UnitPrice, &it.Amount); err != nil {
				return err
			}
			if meter.Valid {
				it.MeterID = &meter.Int64
			}
			inv.Items = append(inv.Items, it)
		}
		return rows.Err()
	})
	return inv, err
}

// TenantSummary is one line of the cross-tenant admin overview.
type TenantSummary struct {
	ID         int64  `json:"id"`
	Slug       string `json:"slug"`
	Plan       string `json:"plan"`
	Status     string `json:"status"`
	Properties int    `json:"properties"`
}

// AllTenants is explicit cross-tenant work: it needs a context marked by
// tenant.WithSystem (else tenant.ErrNotSystem) and runs in DB.SystemTx.
func (a *App) AllTenants(ctx context.Context) ([]TenantSummary, error) {
	var out []TenantSummary
	err := a.DB.SystemTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT o.id, o.slug, o.plan, o.status,
			(SELECT COUNT(*) FROM properties p WHERE p.tenant_id = o.id)
			FROM organizations o ORDER BY o.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s TenantSummary
			if err := rows.Scan(&s.ID, &s.Slug, &s.Plan, &s.Status, &s.Properties); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, err
}
