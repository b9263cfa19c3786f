// Package tenant carries the current tenant of a request in its context and
// resolves it from the request at the edge of a net/http service.
//
// A tenant travels only in a context.Context: NewContext stores it,
// FromContext and Require read it. No package variable ever holds "the
// current tenant", so work outside a request (a goroutine, a job) gets its
// tenant from the context it is handed (see Detach), never from ambient state.
package tenant
