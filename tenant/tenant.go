package tenant

import (
	"context"
	"errors"
	"net/url"
)

// ID identifies a tenant. It is an opaque string: tenantkit never parses it,
// and IDs are compared as typed values, so "0", "" and an all-zero UUID are
// three different IDs and the empty ID means "no tenant".
type ID string

// IsZero reports whether id is the empty ID, which never names a tenant.
func (id ID) IsZero() bool { return id == "" }

// String returns the ID as a plain string.
func (id ID) String() string { return string(id) }

// Status is the lifecycle state of a tenant.
type Status string

// Tenant statuses. Only StatusActive tenants are served by Middleware;
// StatusSuspended answers 403 and any other status is treated as suspended,
// so an unknown state fails closed.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Tenant is one customer organization as the rest of tenantkit sees it.
// The zero value is not a tenant: its ID is empty.
type Tenant struct {
	ID     ID     `json:"id"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Plan   string `json:"plan"`
	Status Status `json:"status"`
}

// Active reports whether the tenant may be served.
func (t Tenant) Active() bool { return t.Status == StatusActive }

// ErrNoTenant is returned by Require and by every tenant-scoped operation
// that is handed a context without a tenant.
var ErrNoTenant = errors.New("tenant: no tenant in context")

type ctxKey struct{}

type systemKey struct{}

// NewContext returns a copy of ctx that carries t. A Tenant with an empty ID
// is stored as given, but FromContext and Require treat it as absent.
func NewContext(ctx context.Context, t Tenant) context.Context {
	if ctx == nil {
		panic("tenant: NewContext: nil parent context") // as context.WithValue
	}
	o := &struct {
		c tenantCtx
		t Tenant
	}{t: t}
	o.c = tenantCtx{Context: ctx, t: &o.t}
	return &o.c
}

// FromContext returns the tenant carried by ctx. It reports false when ctx
// has no tenant or the tenant's ID is empty.
func FromContext(ctx context.Context) (Tenant, bool) {
	c, _ := ctx.Value(ctxKey{}).(*tenantCtx)
	if c == nil || c.t == nil || c.t.ID.IsZero() {
		return Tenant{}, false
	}
	return *c.t, true
}

// tenantCtx is the context that carries a tenant: context.WithValue for
// the key ctxKey{}, in one allocation that can also hold what the tenant
// points at (NewContext) or the URL of the request it was made for
// (Middleware). Every other method and key is its parent's, so
// cancellation, deadlines and context.Cause pass through unchanged.
type tenantCtx struct {
	context.Context
	t *Tenant // never nil, never mutated
}

// Value answers the key ctxKey{} with c itself, never with the *Tenant: any
// code can learn the key (a context of its own sees it passed to Value),
// and the Tenant may be a Cache entry shared by every request of the tenant,
// which a *Tenant would let one request rewrite for all the others.
func (c *tenantCtx) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return c
	}
	return c.Context.Value(key)
}

// String describes the context for debugging, like the contexts of package
// context, without the tenant's fields.
func (c *tenantCtx) String() string {
	parent := "context"
	if s, ok := c.Context.(interface{ String() string }); ok {
		parent = s.String()
	}
	return parent + ".WithTenant"
}

// newContextShared stores a pointer to a tenant that nobody mutates (a Cache
// entry), which saves copying the Tenant to the heap on every request.
func newContextShared(ctx context.Context, t *Tenant) context.Context {
	return &tenantCtx{Context: ctx, t: t}
}

// tenantURLCtx is a tenantCtx and the URL of the request it is made for, in
// one allocation: Middleware strips a path tenant into u before it looks the
// tenant up, then serves the request copy with &c as its context and &u as
// its URL, which live exactly as long as each other.
type tenantURLCtx struct {
	c tenantCtx
	u url.URL
}

// Require returns the tenant carried by ctx, or ErrNoTenant.
func Require(ctx context.Context) (Tenant, error) {
	t, ok := FromContext(ctx)
	if !ok {
		return Tenant{}, ErrNoTenant
	}
	return t, nil
}

// IDFromContext returns the ID of the tenant carried by ctx, or the empty ID.
func IDFromContext(ctx context.Context) ID {
	t, _ := FromContext(ctx)
	return t.ID
}

// WithSystem returns a copy of ctx marked for explicit cross-tenant work
// (reports, administration). The mark lives only in the returned context and
// its children: it never leaks into other requests or goroutines. Code that
// honours it must say so in its documentation; by default tenant-scoped
// operations still require a tenant.
func WithSystem(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey{}, true)
}

// IsSystem reports whether ctx was marked by WithSystem.
func IsSystem(ctx context.Context) bool {
	v, _ := ctx.Value(systemKey{}).(bool)
	return v
}

// Detach returns a context for work that outlives the request (a goroutine, a
// job): it keeps the tenant and values of ctx but not its cancellation or
// deadline. It is context.WithoutCancel under a name that says why.
func Detach(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}
