package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// Error codes of the demo API, in the "error" member of every error body.
const (
	codeNotFound       = "not_found"
	codeBadRequest     = "bad_request"
	codeMalformedJSON  = "malformed_json"
	codeInvalidDate    = "invalid_date"
	codeInvalidReading = "invalid_reading"
	codeReadingOrder   = "reading_decreased"
	codeInternal       = "internal_error"
	codeUnavailable    = "unavailable"
	codeUnauthorized   = "unauthorized"
)

const (
	defaultPerPage = 25
	maxPerPage     = 100
	maxBodyBytes   = 16 << 10
)

// listResponse is the envelope of every list endpoint. Next is the next
// page number, or null on the last page.
type listResponse[T any] struct {
	Data    []T  `json:"data"`
	Page    int  `json:"page"`
	PerPage int  `json:"per_page"`
	Total   int  `json:"total"`
	Next    *int `json:"next"`
}

func newList[T any](data []T, pg page, total int) listResponse[T] {
	if data == nil {
		data = []T{}
	}
	l := listResponse[T]{Data: data, Page: pg.Page, PerPage: pg.PerPage, Total: total}
	if pg.offset()+len(data) < total {
		n := pg.Page + 1
		l.Next = &n
	}
	return l
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError writes the uniform error body {"error": code, "message": ...},
// the same shape tenant.Middleware uses.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, message})
}

// fail maps a data-layer error to a response. Details of unexpected errors
// are logged, never sent.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "no such resource for this tenant")
	case errors.Is(err, errReadingDecrease), errors.Is(err, errReadingOrder):
		writeError(w, http.StatusUnprocessableEntity, codeReadingOrder, err.Error())
	case errors.Is(err, tenant.ErrNoTenant):
		// Unreachable behind tenant.Middleware; fail closed anyway.
		writeError(w, http.StatusNotFound, tenant.CodeTenantRequired, "no tenant")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), r.Context().Err() != nil:
		// The client went away (database/sql then rolls the transaction
		// back, and the commit reports that): nothing to log.
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "request cancelled or timed out")
	default:
		a.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("tenant_id", string(tenant.IDFromContext(r.Context()))),
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeError(w, http.StatusInternalServerError, codeInternal, "internal error")
	}
}

// pathID parses the {id} wildcard. A malformed ID names nothing: 404.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// parsePage reads ?page= (default 1) and ?per_page= (default 25, max 100).
func parsePage(r *http.Request) (page, error) {
	pg := page{Page: 1, PerPage: defaultPerPage}
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return pg, fmt.Errorf("page must be an integer from 1, got %q", v)
		}
		pg.Page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPerPage {
			return pg, fmt.Errorf("per_page must be an integer from 1 to %d, got %q", maxPerPage, v)
		}
		pg.PerPage = n
	}
	return pg, nil
}

// parseTime accepts RFC 3339 ("2026-01-31T12:00:00Z") or a date
// ("2026-01-31", midnight UTC), in UTC years 1 to 9999 (every backend can
// compare those; the MySQL driver cannot send year 0).
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, v); err != nil {
			return time.Time{}, fmt.Errorf("%s must be an RFC 3339 time or a YYYY-MM-DD date, got %q", name, truncate(v, 64))
		}
	}
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%s %q is out of range (UTC years 1 to 9999)", name, truncate(v, 64))
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (a *App) handleTenant(w http.ResponseWriter, r *http.Request) {
	o, err := a.Organization(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *App) handleProperties(w http.ResponseWriter, r *http.Request) {
	pg, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	data, total, err := a.Properties(r.Context(), pg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(data, pg, total))
}

func (a *App) handleProperty(w http.ResponseWriter, r *http.Request) {
	serveDetail(a, w, r, a.Property)
}

// serveDetail answers one row of the request's tenant named by the {id}
// path value: 404 when the id is malformed or not the tenant's.
func serveDetail[T any](a *App, w http.ResponseWriter, r *http.Request, get func(context.Context, int64) (T, error)) {
	id, ok := pathID(r)
	if !ok {
		a.fail(w, r, errNotFound)
		return
	}
	v, err := get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *App) handlePropertyMeters(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		a.fail(w, r, errNotFound)
		return
	}
	pg, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	data, total, err := a.PropertyMeters(r.Context(), id, pg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(data, pg, total))
}

func (a *App) handleReadings(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		a.fail(w, r, errNotFound)
		return
	}
	pg, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	var from, to time.Time
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		if from, err = parseTime("from", v); err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidDate, err.Error())
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseTime("to", v); err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidDate, err.Error())
			return
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		writeError(w, http.StatusBadRequest, codeInvalidDate, "from must be before to")
		return
	}
	data, total, err := a.Readings(r.Context(), id, from, to, pg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(data, pg, total))
}

// readingBody is the POST /api/meters/{id}/readings body.
type readingBody struct {
	Value  *float64 `json:"value"`
	ReadAt *string  `json:"read_at"` // RFC 3339; default now
	Source *string  `json:"source"`  // manual (default), auto or estimate
}

// maxClockSkew is how far in the future a reading may be dated.
const maxClockSkew = 5 * time.Minute

// decodeReading validates a POST body: malformed JSON, unknown fields and
// bad dates are 400; a missing, negative or non-finite value, an unknown
// source and a date in the future are 422.
func decodeReading(body io.Reader, now time.Time) (NewReading, int, string, error) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var b readingBody
	if err := dec.Decode(&b); err != nil {
		return NewReading{}, http.StatusBadRequest, codeMalformedJSON, fmt.Errorf("malformed JSON body: %w", err)
	}
	if dec.More() {
		return NewReading{}, http.StatusBadRequest, codeMalformedJSON, errors.New("malformed JSON body: data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return NewReading{}, http.StatusBadRequest, codeMalformedJSON, errors.New("malformed JSON body: data after the object")
	}
	in := NewReading{ReadAt: now.UTC().Truncate(time.Second), Source: "manual"}
	if b.ReadAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *b.ReadAt)
		if err != nil {
			return NewReading{}, http.StatusBadRequest, codeInvalidDate, fmt.Errorf("read_at must be an RFC 3339 time, got %q", truncate(*b.ReadAt, 64))
		}
		if t.Year() < 1970 || t.Year() > 9999 {
			return NewReading{}, http.StatusBadRequest, codeInvalidDate, fmt.Errorf("read_at %q is out of range", truncate(*b.ReadAt, 64))
		}
		in.ReadAt = t.UTC().Truncate(time.Second)
	}
	switch {
	case b.Value == nil:
		return NewReading{}, http.StatusUnprocessableEntity, codeInvalidReading, errors.New("value is required")
	case math.IsNaN(*b.Value) || math.IsInf(*b.Value, 0) || *b.Value < 0:
		return NewReading{}, http.StatusUnprocessableEntity, codeInvalidReading, errors.New("value must be a number >= 0")
	case *b.Value >= 1e13:
		return NewReading{}, http.StatusUnprocessableEntity, codeInvalidReading, errors.New("value is too large")
	}
	in.Value = *b.Value
	if b.Source != nil {
		switch *b.Source {
		case "manual", "auto", "estimate":
			in.Source = *b.Source
		default:
			return NewReading{}, http.StatusUnprocessableEntity, codeInvalidReading, errors.New(`source must be "manual", "auto" or "estimate"`)
		}
	}
	if in.ReadAt.After(now.Add(maxClockSkew)) {
		return NewReading{}, http.StatusUnprocessableEntity, codeInvalidReading, errors.New("read_at is in the future")
	}
	return in, 0, "", nil
}

func (a *App) handleCreateReading(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		a.fail(w, r, errNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, codeBadRequest, "Content-Type must be application/json")
		return
	}
	in, status, code, err := decodeReading(http.MaxBytesReader(w, r.Body, maxBodyBytes), time.Now())
	if err != nil {
		writeError(w, status, code, err.Error())
		return
	}
	rd, err := a.CreateReading(r.Context(), id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The audit entry is written after the response, in the background. Its
	// context comes from the request (tenant.Detach keeps the tenant and drops
	// the cancellation); a context.Background() here would have no tenant and
	// the write would fail with tenant.ErrNoTenant.
	a.Go(tenant.Detach(r.Context()), "audit_reading", func(ctx context.Context) error {
		return a.Audit(ctx, "meter_reading.created", "meter_reading", rd.ID, fmt.Sprintf("meter %d value %.3f", rd.MeterID, rd.Value))
	})
	w.Header().Set("Location", fmt.Sprintf("/api/meters/%d/readings/%d", rd.MeterID, rd.ID))
	writeJSON(w, http.StatusCreated, rd)
}

func (a *App) handleInvoices(w http.ResponseWriter, r *http.Request) {
	pg, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !invoiceStatuses[status] {
		writeError(w, http.StatusBadRequest, codeBadRequest, fmt.Sprintf("status must be draft, issued, paid or overdue, got %q", truncate(status, 32)))
		return
	}
	data, total, err := a.Invoices(r.Context(), status, pg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(data, pg, total))
}

func (a *App) handleInvoice(w http.ResponseWriter, r *http.Request) {
	serveDetail(a, w, r, a.Invoice)
}

func (a *App) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, codeNotFound, "no such endpoint")
}

func (a *App) handleHealthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.Pool.PingContext(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "database unreachable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleAdminTenants is the cross-tenant overview: an explicit system-mode
// request, authorised by the admin token.
func (a *App) handleAdminTenants(w http.ResponseWriter, r *http.Request) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if a.Config.AdminToken == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.Config.AdminToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tenantkit-admin"`)
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "admin token required")
		return
	}
	// The system mark lives in this request's context only.
	list, err := a.AllTenants(tenant.WithSystem(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}
