package ratelimit

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// PlanSet is the content of a plan table: a Limit per plan name, the Limit
// for guests (requests without a tenant, keyed by client IP) and the Limit
// for a tenant whose plan is not in Plans.
type PlanSet struct {
	Plans   map[string]Limit
	Guest   Limit
	Unknown Limit
}

// DefaultPlanSet returns the default plans: guest 10/min (keyed by client
// IP), basic 100/min, professional 500/min, enterprise 2000/min, and
// 60/min for an unknown plan. Each Limit's Name is its plan name.
func DefaultPlanSet() PlanSet {
	perMin := func(name string, n int) Limit { return Limit{Name: name, Rate: n, Period: time.Minute} }
	return PlanSet{
		Plans: map[string]Limit{
			"basic":        perMin("basic", 100),
			"professional": perMin("professional", 500),
			"enterprise":   perMin("enterprise", 2000),
		},
		Guest:   perMin("guest", 10),
		Unknown: perMin("default", 60),
	}
}

// Plans is a table from plan name to Limit that can be replaced while the
// server runs. It is safe for concurrent use: Replace swaps the whole table
// atomically and the next request sees the new limits (a request already
// decided keeps its answer; a key's state carries over to its new limit).
// The zero value holds DefaultPlanSet.
type Plans struct {
	p atomic.Pointer[planTable]
}

// planEntry is a Limit with its precomputed header values.
type planEntry struct {
	lim    Limit
	policy string // RateLimit-Policy item, e.g. "basic";q=100;w=60
	quota  string // X-RateLimit-Limit value, e.g. 100
	plan   string // the plan name the entry is found by
	name   string // the Limit's name as an sf-string, e.g. "basic"

	// Header values shared by every response of this plan (capacity 1,
	// so an Add on a response copies instead of writing into them).
	policyV []string
	quotaV  []string

	// The last RateLimit-Policy value built with enforcing quotas, shared
	// like policyV by the responses whose quotas state the same policies.
	qpol atomic.Pointer[quotaPolicy]
}

// quotaPolicy is a plan's RateLimit-Policy value with the policies of the
// enforcing quotas it was built for. It never changes once stored.
type quotaPolicy struct {
	quotas []Quota // Name, Period and Max: all the value depends on
	v      []string
}

// matches reports whether the n enforcing quotas (Max > 0) of qs state
// the policies c was built for, in the same order.
func (c *quotaPolicy) matches(qs []QuotaResult, n int) bool {
	if n != len(c.quotas) {
		return false
	}
	i := 0
	for _, qr := range qs {
		if qr.Quota.Max == 0 {
			continue
		}
		q := &c.quotas[i]
		if q.Max != qr.Quota.Max || q.Period != qr.Quota.Period || q.Name != qr.Quota.Name {
			return false
		}
		i++
	}
	return true
}

// quotaPolicy returns the RateLimit-Policy value of e followed by the
// policies of the n enforcing quotas of qs. Tenants of a plan usually
// share their quotas, so the last value built is kept and reused while the
// quotas are the same.
func (e *planEntry) quotaPolicy(qs []QuotaResult, n int) []string {
	if c := e.qpol.Load(); c != nil && c.matches(qs, n) {
		return c.v
	}
	c := &quotaPolicy{quotas: make([]Quota, 0, n)}
	b := make([]byte, 0, len(e.policy)+n*48)
	b = append(b, e.policy...)
	for _, qr := range qs {
		if q := qr.Quota; q.Max != 0 {
			c.quotas = append(c.quotas, Quota{Name: q.Name, Period: q.Period, Max: q.Max})
			b = appendQuotaName(append(b, ", "...), q)
			b = appendPolicy(b, "", q.Max, quotaWindow(q.Period))
		}
	}
	c.v = []string{string(b)}
	e.qpol.Store(c)
	return c.v
}

type planTable struct {
	plans   map[string]*planEntry
	small   []*planEntry // the plans when few: a scan beats hashing the name
	guest   *planEntry
	unknown *planEntry
}

// smallPlans is the most plans looked up by scanning.
const smallPlans = 8

// NewPlans returns a plan table holding set, or an error naming the first
// invalid Limit.
func NewPlans(set PlanSet) (*Plans, error) {
	p := &Plans{}
	if err := p.Replace(set); err != nil {
		return nil, err
	}
	return p, nil
}

// Replace validates set and makes it the table for every later request. On
// error the table is unchanged. A Limit with an empty Name is named after
// its plan ("guest" and "default" for Guest and Unknown).
func (p *Plans) Replace(set PlanSet) error {
	t, err := buildPlans(set)
	if err != nil {
		return err
	}
	p.p.Store(t)
	return nil
}

func buildPlans(set PlanSet) (*planTable, error) {
	t := &planTable{plans: make(map[string]*planEntry, len(set.Plans))}
	var err error
	for _, name := range sortedKeys(set.Plans) {
		if t.plans[name], err = newPlanEntry(name, set.Plans[name]); err != nil {
			return nil, err
		}
	}
	if len(t.plans) <= smallPlans {
		for _, name := range sortedKeys(set.Plans) {
			t.small = append(t.small, t.plans[name])
		}
	}
	if t.guest, err = newPlanEntry("guest", set.Guest); err != nil {
		return nil, err
	}
	if t.unknown, err = newPlanEntry("default", set.Unknown); err != nil {
		return nil, err
	}
	return t, nil
}

func sortedKeys(m map[string]Limit) []string { return slices.Sorted(maps.Keys(m)) }

func newPlanEntry(plan string, l Limit) (*planEntry, error) {
	if l.Name == "" {
		l.Name = plan
	}
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: plan %q: %w", plan, err)
	}
	e := entryFor(l)
	e.plan = plan
	return e, nil
}

// entryFor computes the header values of l.
func entryFor(l Limit) *planEntry {
	name := string(appendSFString(nil, l.Name))
	q, w := policyWindow(l)
	e := &planEntry{
		lim:    l,
		name:   name,
		policy: string(appendPolicy(nil, name, q, w)),
		quota:  strconv.FormatInt(sfInt(q), 10),
	}
	e.policyV = []string{e.policy}
	e.quotaV = []string{e.quota}
	return e
}

// policyWindow returns l as q units per window w of whole seconds, the
// only windows RateLimit-Policy can state: Rate per Period when Period is
// whole seconds, else the same rate over the shortest whole-second multiple
// of Period (2 per 500 ms is q=4;w=1, 3 per 1.5 s is q=6;w=3). When that
// window would exceed a day, or q 15 digits, Rate per Period rounded up to
// whole seconds, which understates the rate, never overstates it.
func policyWindow(l Limit) (q int64, w time.Duration) {
	const sec = int64(time.Second)
	p := int64(l.Period)
	if p%sec == 0 {
		return int64(l.Rate), l.Period
	}
	k := sec / gcd(p, sec) // periods per window: the least k with k·p a whole second
	if hi, win := bits.Mul64(uint64(k), uint64(p)); hi == 0 && win <= uint64(24*time.Hour) {
		if hi, lo := bits.Mul64(uint64(l.Rate), uint64(k)); hi == 0 && lo <= sfMaxInt {
			return int64(lo), time.Duration(win)
		}
	}
	return int64(l.Rate), l.Period
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (p *Plans) table() *planTable {
	if t := p.p.Load(); t != nil {
		return t
	}
	t, _ := buildPlans(DefaultPlanSet())
	p.p.CompareAndSwap(nil, t)
	return p.p.Load()
}

func (t *planTable) lookup(plan string) *planEntry {
	if len(t.plans) <= smallPlans {
		for _, e := range t.small {
			if e.plan == plan {
				return e
			}
		}
		return t.unknown
	}
	if e, ok := t.plans[plan]; ok {
		return e
	}
	return t.unknown
}

// Limit returns the Limit of plan, or the Unknown limit.
func (p *Plans) Limit(plan string) Limit { return p.table().lookup(plan).lim }

// Guest returns the Limit for requests without a tenant.
func (p *Plans) Guest() Limit { return p.table().guest.lim }

// Set returns a copy of the current table.
func (p *Plans) Set() PlanSet {
	t := p.table()
	s := PlanSet{Plans: make(map[string]Limit, len(t.plans)), Guest: t.guest.lim, Unknown: t.unknown.lim}
	for k, e := range t.plans {
		s.Plans[k] = e.lim
	}
	return s
}
