package monitor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// fakeSource is an in-memory Source with history and access attempts.
type fakeSource struct {
	mu       sync.Mutex
	tenants  []tenant.Tenant
	usage    map[tenant.ID]Usage
	failing  map[tenant.ID]bool
	history  map[tenant.ID][]Sample
	attempts []AccessAttempt
	loads    atomic.Int64
	delay    time.Duration
}

func newFakeSource() *fakeSource {
	return &fakeSource{usage: map[tenant.ID]Usage{}, failing: map[tenant.ID]bool{}, history: map[tenant.ID][]Sample{}}
}

func (f *fakeSource) add(id tenant.ID, name string, u Usage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tenants = append(f.tenants, tenant.Tenant{ID: id, Slug: string(id), Name: name, Plan: "basic", Status: tenant.StatusActive})
	f.usage[id] = u
}

func (f *fakeSource) Tenants(context.Context) ([]tenant.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tenant.Tenant(nil), f.tenants...), nil
}

func (f *fakeSource) Usage(ctx context.Context, id tenant.ID) (Usage, error) {
	f.loads.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return Usage{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing[id] {
		return Usage{}, errors.New("database is down")
	}
	return f.usage[id], nil
}

func (f *fakeSource) History(_ context.Context, id tenant.ID, from, to time.Time) ([]Sample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Sample
	for _, s := range f.history[id] {
		if !s.At.Before(from) && s.At.Before(to) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeSource) AccessAttempts(_ context.Context, since time.Time) ([]AccessAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []AccessAttempt
	for _, a := range f.attempts {
		if !a.At.Before(since) {
			out = append(out, a)
		}
	}
	return out, nil
}

// activeUsage is a healthy tenant's usage: quotas far from full, an active
// subscription a year out.
func activeUsage(now time.Time) Usage {
	return Usage{
		StorageBytes: 100, StorageQuotaBytes: 1000,
		APICallsToday: 10, APICallsQuota: 1000,
		Users: 3, MaxUsers: 10,
		Subscription: Subscription{Status: "active", Active: true, EndsAt: now.AddDate(1, 0, 0)},
	}
}

func tenantID(s string) tenant.ID { return tenant.ID(s) }
