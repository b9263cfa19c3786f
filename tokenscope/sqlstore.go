package tokenscope

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/internal/sqldialect"
	"github.com/tenantkit/tenantkit/tenant"
)

// SQLStoreOptions configures a SQLStore. The zero value and nil mean
// defaults.
type SQLStoreOptions struct {
	// Table is the token table, optionally schema-qualified ("auth.tokens").
	// Default: "api_tokens".
	Table string
	// Dialect is "postgres", "mysql" (also MariaDB) or "sqlite". Default:
	// detected from the driver, or by asking the server on first use.
	Dialect string
	// TenantColumnType is the SQL type of tenant_id in CreateSchema.
	// Default: "VARCHAR(64)", which holds any tenant.ID. Set "BIGINT" when
	// tenants have integer keys (the demo's organizations.id) so the column
	// has the type of the key it refers to; tenant IDs are then written as
	// their decimal string and read back the same way, which PostgreSQL,
	// MySQL/MariaDB and SQLite all convert. Issue refuses an ID that the
	// column would store in another form ("01", " 1" or "1e0" for 1), so a
	// token is never bound to a tenant other than the one it was issued for.
	TenantColumnType string
	// LastUsedInterval is how stale last_used_at may get: a verification
	// records a use only when the stored time is older than this, and the
	// records are written by Flush or Run, never by Verify itself. Default:
	// one minute. Negative: last_used_at is never written.
	LastUsedInterval time.Duration
	// MaxPending bounds the uses waiting for Flush; further ones are
	// dropped (last_used_at is advisory). Default: 10000.
	MaxPending int
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger receives failures of the background writes in Run. Default:
	// discard.
	Logger *slog.Logger
}

// SQLStore issues, verifies and revokes API tokens in one SQL table over
// database/sql, on PostgreSQL, MySQL/MariaDB and SQLite. It imports no
// driver. See the package documentation for the token format and the
// security argument. A SQLStore is safe for concurrent use; its zero value
// is not usable.
type SQLStore struct {
	db         *sql.DB
	table      []string // unquoted parts
	tenantType string
	interval   time.Duration
	maxPending int
	now        func() time.Time
	log        *slog.Logger
	// compare is subtle.ConstantTimeCompare; a seam for the test that proves
	// every verification does the full comparison.
	compare func(x, y []byte) int

	dmu     sync.Mutex
	dialect sqldialect.Dialect

	pmu     sync.Mutex
	pending map[string]time.Time
}

var (
	_ Verifier = (*SQLStore)(nil)
	_ Revoker  = (*SQLStore)(nil)
)

// NewSQLStore returns a store on db. It does no I/O; an error means an
// option is malformed.
func NewSQLStore(db *sql.DB, opts *SQLStoreOptions) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("tokenscope: NewSQLStore with a nil *sql.DB")
	}
	var o SQLStoreOptions
	if opts != nil {
		o = *opts
	}
	s := &SQLStore{db: db, interval: o.LastUsedInterval, maxPending: o.MaxPending, now: o.Now, log: o.Logger,
		compare: subtle.ConstantTimeCompare, pending: make(map[string]time.Time)}
	if o.Table == "" {
		o.Table = "api_tokens"
	}
	for p := range strings.SplitSeq(o.Table, ".") {
		if !isIdent(p) {
			return nil, fmt.Errorf("tokenscope: table name %q: want letters, digits and underscores, optionally schema.table", o.Table)
		}
		s.table = append(s.table, p)
	}
	if len(s.table) > 2 {
		return nil, fmt.Errorf("tokenscope: table name %q: at most schema.table", o.Table)
	}
	s.tenantType = o.TenantColumnType
	if s.tenantType == "" {
		s.tenantType = "VARCHAR(64)"
	}
	if !isColumnType(s.tenantType) {
		return nil, fmt.Errorf("tokenscope: tenant column type %q: want a plain SQL type such as BIGINT, VARCHAR(64) or NUMERIC(20, 0)", s.tenantType)
	}
	if o.Dialect != "" {
		d, err := sqldialect.Parse(o.Dialect)
		if err != nil {
			return nil, fmt.Errorf("tokenscope: %w", err)
		}
		s.dialect = d
	} else {
		s.dialect = sqldialect.FromDriver(db.Driver())
	}
	if s.interval == 0 {
		s.interval = time.Minute
	}
	if s.maxPending <= 0 {
		s.maxPending = 10000
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// isColumnType accepts a type name with an optional parenthesized list of
// numbers ("BIGINT", "VARCHAR(64)", "NUMERIC(20, 0)", "CHARACTER VARYING(64)"):
// nothing that could close the column definition.
func isColumnType(s string) bool {
	name, args, hasArgs := strings.Cut(s, "(")
	name = strings.TrimSpace(name)
	if name == "" {
		return false
	}
	for _, w := range strings.Fields(name) {
		if !isIdent(w) {
			return false
		}
	}
	if !hasArgs {
		return true
	}
	args, ok := strings.CutSuffix(strings.TrimSpace(args), ")")
	if !ok {
		return false
	}
	for a := range strings.SplitSeq(args, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return false
		}
		for _, c := range a {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

func isIdent(s string) bool {
	if s == "" || len(s) > 63 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (s *SQLStore) dialectOf(ctx context.Context) (sqldialect.Dialect, error) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.dialect != sqldialect.Unknown {
		return s.dialect, nil
	}
	d, err := sqldialect.Detect(ctx, s.db)
	if err != nil {
		return d, fmt.Errorf("tokenscope: %w (set SQLStoreOptions.Dialect)", err)
	}
	s.dialect = d
	return d, nil
}

func (s *SQLStore) quotedTable(d sqldialect.Dialect) string {
	parts := make([]string, len(s.table))
	for i, p := range s.table {
		parts[i] = d.Quote(p)
	}
	return strings.Join(parts, ".")
}

// CreateSchema creates the token table and its tenant index if they do not
// exist:
//
//	id           VARCHAR(32) PRIMARY KEY  -- 16 lower-case base32 characters
//	tenant_id    <TenantColumnType> NOT NULL
//	secret_hash  32 bytes NOT NULL        -- SHA-256 of the secret, never the secret
//	scopes       space-separated scope list
//	name         label chosen at issue time
//	created_at, expires_at NULL, revoked_at NULL, last_used_at NULL
//
// BYTEA and TIMESTAMPTZ on PostgreSQL, VARBINARY(32) and DATETIME(6) (UTC)
// on MySQL/MariaDB, BLOB and TIMESTAMP on SQLite.
func (s *SQLStore) CreateSchema(ctx context.Context) error {
	d, err := s.dialectOf(ctx)
	if err != nil {
		return err
	}
	t := s.quotedTable(d)
	idx := d.Quote(s.table[len(s.table)-1] + "_tenant_id_idx")
	var stmts []string
	switch d {
	case sqldialect.Postgres:
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id VARCHAR(32) PRIMARY KEY,
	tenant_id ` + s.tenantType + ` NOT NULL,
	secret_hash BYTEA NOT NULL CHECK (octet_length(secret_hash) = 32),
	scopes TEXT NOT NULL DEFAULT '',
	name VARCHAR(200) NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NULL,
	revoked_at TIMESTAMPTZ NULL,
	last_used_at TIMESTAMPTZ NULL
)`,
			`CREATE INDEX IF NOT EXISTS ` + idx + ` ON ` + t + ` (tenant_id)`,
		}
	case sqldialect.MySQL:
		stmts = []string{`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id VARCHAR(32) NOT NULL PRIMARY KEY,
	tenant_id ` + s.tenantType + ` NOT NULL,
	secret_hash VARBINARY(32) NOT NULL,
	scopes VARCHAR(2048) NOT NULL DEFAULT '',
	name VARCHAR(200) NOT NULL DEFAULT '',
	created_at DATETIME(6) NOT NULL,
	expires_at DATETIME(6) NULL,
	revoked_at DATETIME(6) NULL,
	last_used_at DATETIME(6) NULL,
	INDEX ` + idx + ` (tenant_id)
)`}
	case sqldialect.SQLite:
		stmts = []string{
			`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id VARCHAR(32) NOT NULL PRIMARY KEY,
	tenant_id ` + s.tenantType + ` NOT NULL,
	secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
	scopes TEXT NOT NULL DEFAULT '',
	name VARCHAR(200) NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NULL,
	revoked_at TIMESTAMP NULL,
	last_used_at TIMESTAMP NULL
)`,
			`CREATE INDEX IF NOT EXISTS ` + idx + ` ON ` + t + ` (tenant_id)`,
		}
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("tokenscope: create schema: %w", err)
		}
	}
	return nil
}

const (
	idBytes     = 10 // 80 bits, 16 base32 characters
	idLen       = 16
	secretBytes = 32
	secretLen   = 43 // base64url without padding
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

var secretEncoding = base64.RawURLEncoding.Strict()

// Issue creates a token for tenantID with scopes, expiring after ttl (0:
// never) and labelled name, and returns the credential to hand to the
// client, "<id>|<secret>". The credential is shown once: only the SHA-256 of
// the secret is stored. It is a Secret, so printing it by accident shows
// "[REDACTED]"; string(raw) is the deliberate way to show it.
//
// The ID is 80 random bits in 16 lower-case base32 characters, the secret
// 256 random bits in base64url, both from crypto/rand.
func (s *SQLStore) Issue(ctx context.Context, tenantID tenant.ID, scopes []string, ttl time.Duration, name string) (Secret, Token, error) {
	if tenantID.IsZero() {
		return "", Token{}, fmt.Errorf("tokenscope: issue: %w: the tenant id is empty", ErrNoTokenTenant)
	}
	if len(tenantID) > 64 {
		return "", Token{}, fmt.Errorf("tokenscope: issue: tenant id longer than 64 bytes")
	}
	if ttl < 0 {
		return "", Token{}, fmt.Errorf("tokenscope: issue: negative ttl %v", ttl)
	}
	if len(name) > 200 {
		return "", Token{}, fmt.Errorf("tokenscope: issue: name longer than 200 bytes")
	}
	sc := make([]string, 0, len(scopes))
	for _, x := range scopes {
		if err := ValidateScope(x); err != nil {
			return "", Token{}, fmt.Errorf("tokenscope: issue: %w", err)
		}
		if !slices.Contains(sc, x) {
			sc = append(sc, x)
		}
	}
	scopeText := strings.Join(sc, " ")
	if len(scopeText) > 2048 {
		return "", Token{}, fmt.Errorf("tokenscope: issue: scopes longer than 2048 bytes")
	}
	d, err := s.dialectOf(ctx)
	if err != nil {
		return "", Token{}, err
	}
	var idb [idBytes]byte
	var sec [secretBytes]byte
	_, _ = rand.Read(idb[:]) // crypto/rand.Read never fails (Go 1.24+)
	_, _ = rand.Read(sec[:])
	id := idEncoding.EncodeToString(idb[:])
	hash := sha256.Sum256(sec[:])
	// Microseconds: what every supported column type stores, so the Token
	// returned here equals the one Verify reads back.
	now := s.now().UTC().Truncate(time.Microsecond)
	tok := Token{ID: id, TenantID: tenantID, Scopes: sc}
	var expires any
	if ttl > 0 {
		tok.ExpiresAt = now.Add(ttl).Truncate(time.Microsecond)
		expires = tok.ExpiresAt
	}
	// The tenant is read back before commit: a column that converts the ID
	// (BIGINT turns "01", " 1" or "1e0" into 1) would otherwise bind the
	// token to a tenant other than the one asked for.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", Token{}, fmt.Errorf("tokenscope: issue token for tenant %q: %w", tenantID, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	t := s.quotedTable(d)
	q := d.Rebind(`INSERT INTO ` + t + ` (id, tenant_id, secret_hash, scopes, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if _, err := tx.ExecContext(ctx, q, id, string(tenantID), hash[:], scopeText, name, now, expires); err != nil {
		return "", Token{}, fmt.Errorf("tokenscope: issue token for tenant %q: %w", tenantID, err)
	}
	var stored string
	if err := tx.QueryRowContext(ctx, d.Rebind(`SELECT tenant_id FROM `+t+` WHERE id = ?`), id).Scan(&stored); err != nil {
		return "", Token{}, fmt.Errorf("tokenscope: issue token for tenant %q: %w", tenantID, err)
	}
	if stored != string(tenantID) {
		return "", Token{}, fmt.Errorf("tokenscope: issue: tenant id %q would be stored as %q by the tenant column (%s); pass it in that form", tenantID, stored, s.tenantType)
	}
	if err := tx.Commit(); err != nil {
		return "", Token{}, fmt.Errorf("tokenscope: issue token for tenant %q: %w", tenantID, err)
	}
	return Secret(id + "|" + secretEncoding.EncodeToString(sec[:])), tok, nil
}

var errMalformed = errors.New("credential is not <id>|<secret> as issued by the store")

// parseCredential splits "<id>|<secret>" and decodes the secret. It checks
// the shape only; nothing here depends on any stored value.
func parseCredential(c Secret) (id string, secret [secretBytes]byte, ok bool) {
	s := string(c)
	if len(s) != idLen+1+secretLen || s[idLen] != '|' {
		return "", secret, false
	}
	id = s[:idLen]
	for i := 0; i < idLen; i++ {
		ch := id[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '2' && ch <= '7') {
			return "", secret, false
		}
	}
	n, err := secretEncoding.Decode(secret[:], []byte(s[idLen+1:]))
	if err != nil || n != secretBytes {
		return "", secret, false
	}
	return id, secret, true
}

// dummyHash stands in for the stored hash of an unknown ID, so that an
// unknown ID costs the same hashing and comparison as a known one.
var dummyHash = sha256.Sum256([]byte("tokenscope: no such token"))

// Verify implements Verifier. It parses the credential, looks the ID up,
// and compares SHA-256(secret) with the stored hash using
// subtle.ConstantTimeCompare over all 32 bytes, with no early exit; an
// unknown ID is compared against a fixed dummy hash, so it does the same
// work. Errors: ErrInvalidToken (malformed, unknown ID, wrong secret),
// ErrExpired, ErrRevoked (with the Token), or a database error.
func (s *SQLStore) Verify(ctx context.Context, credential Secret) (Token, error) {
	id, secret, ok := parseCredential(credential)
	if !ok {
		return Token{}, newError(ErrInvalidToken, errMalformed)
	}
	sum := sha256.Sum256(secret[:])
	d, err := s.dialectOf(ctx)
	if err != nil {
		return Token{}, err
	}
	q := d.Rebind(`SELECT tenant_id, secret_hash, scopes, expires_at, revoked_at, last_used_at FROM ` + s.quotedTable(d) + ` WHERE id = ?`)
	var (
		tenantID                       string
		stored                         []byte
		scopes                         string
		expires, revoked, lastUsedTime nullTime
	)
	err = s.db.QueryRowContext(ctx, q, id).Scan(&tenantID, &stored, &scopes, &expires, &revoked, &lastUsedTime)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("tokenscope: verify token %s: %w", id, err)
	}
	if len(stored) != sha256.Size {
		found = false
	}
	want := dummyHash[:]
	if found {
		want = stored
	}
	if s.compare(sum[:], want) != 1 || !found {
		return Token{}, newError(ErrInvalidToken, nil)
	}
	tok := Token{ID: id, TenantID: tenant.ID(tenantID), Scopes: strings.Fields(scopes), ExpiresAt: expires.t, RevokedAt: revoked.t}
	now := s.now()
	if tok.Expired(now) {
		return tok, newError(ErrExpired, nil)
	}
	if tok.Revoked() {
		return tok, newError(ErrRevoked, nil)
	}
	if s.interval > 0 && (lastUsedTime.t.IsZero() || now.Sub(lastUsedTime.t) >= s.interval) {
		s.markUsed(id, now)
	}
	return tok, nil
}

func (s *SQLStore) markUsed(id string, now time.Time) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if _, ok := s.pending[id]; ok || len(s.pending) < s.maxPending {
		s.pending[id] = now
	}
}

// Flush writes the recorded uses to last_used_at, one conditional UPDATE per
// token (a newer time already stored wins). Uses whose write fails are
// dropped: last_used_at is advisory.
func (s *SQLStore) Flush(ctx context.Context) error {
	s.pmu.Lock()
	p := s.pending
	s.pending = make(map[string]time.Time)
	s.pmu.Unlock()
	if len(p) == 0 {
		return nil
	}
	d, err := s.dialectOf(ctx)
	if err != nil {
		return err
	}
	q := d.Rebind(`UPDATE ` + s.quotedTable(d) + ` SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	var errs []error
	for id, t := range p {
		t = t.UTC()
		if _, err := s.db.ExecContext(ctx, q, t, id, t); err != nil {
			errs = append(errs, fmt.Errorf("tokenscope: record use of token %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// Run writes recorded uses every LastUsedInterval until ctx is done, then
// flushes once more (with up to five seconds) and returns nil. Without Run
// (or Flush) last_used_at is never written; verification does not depend on
// it. Write failures are logged, not returned.
func (s *SQLStore) Run(ctx context.Context) error {
	every := s.interval
	if every <= 0 {
		<-ctx.Done()
		return nil
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := s.Flush(fctx); err != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "record token use failed", slog.Any("error", err))
			}
			return nil
		case <-tk.C:
			if err := s.Flush(ctx); err != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "record token use failed", slog.Any("error", err))
			}
		}
	}
}

// Revoke marks the token revoked now. Revoking a revoked token again is not
// an error and keeps the first time; an unknown ID is ErrTokenNotFound.
// Tokens are never deleted, so the audit trail keeps their IDs.
func (s *SQLStore) Revoke(ctx context.Context, id string) error {
	d, err := s.dialectOf(ctx)
	if err != nil {
		return err
	}
	t := s.quotedTable(d)
	res, err := s.db.ExecContext(ctx, d.Rebind(`UPDATE `+t+` SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), s.now().UTC(), id)
	if err != nil {
		return fmt.Errorf("tokenscope: revoke token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, d.Rebind(`SELECT 1 FROM `+t+` WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("tokenscope: revoke token %q: %w", id, ErrTokenNotFound)
	}
	if err != nil {
		return fmt.Errorf("tokenscope: revoke token %s: %w", id, err)
	}
	return nil
}

// nullTime scans a nullable timestamp whatever the driver hands over:
// time.Time (pgx, MySQL with parseTime, SQLite TIMESTAMP columns) or text
// (MySQL without parseTime, SQLite text).
type nullTime struct{ t time.Time }

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

func (n *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		n.t = time.Time{}
		return nil
	case time.Time:
		n.t = x
		return nil
	case []byte:
		return n.parse(string(x))
	case string:
		return n.parse(x)
	}
	return fmt.Errorf("tokenscope: cannot read %T as a time", v)
}

func (n *nullTime) parse(s string) error {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			n.t = t
			return nil
		}
	}
	return fmt.Errorf("tokenscope: cannot parse %q as a time", s)
}
