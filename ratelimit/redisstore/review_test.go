package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/tenantkit/tenantkit/internal/testenv"
	"github.com/tenantkit/tenantkit/ratelimit"
	"github.com/tenantkit/tenantkit/ratelimit/redisstore"
)

// The deny cache holds at most DenyCacheSize keys, also when the size is
// smaller than its number of shards.
func TestDenyCacheHoldsAtMostSize(t *testing.T) {
	c, clock := newMini(t)
	h := &counter{}
	c.AddHook(h)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, DenyCacheSize: 1, Timeout: 5 * time.Second})
	lim := ratelimit.Limit{Rate: 1, Period: time.Hour}
	const keys = 40
	for i := range keys {
		req := ratelimit.Request{Key: "k" + strconv.Itoa(i), Limit: lim}
		require.True(t, take(t, s, req).Allowed)
		require.False(t, take(t, s, req).Allowed) // remembered
	}
	before := h.cmds.Load()
	for i := range keys {
		require.False(t, take(t, s, ratelimit.Request{Key: "k" + strconv.Itoa(i), Limit: lim}).Allowed)
	}
	cached := keys - (h.cmds.Load() - before)
	require.LessOrEqual(t, cached, int64(1), "a deny cache of size 1 answered %d keys locally", cached)
}

// A cached denial answers a request for more units with that request's own
// exact RetryAfter (or asks Redis), never a shorter one.
func TestDenyCacheLargerNRetryAfter(t *testing.T) {
	c, clock := newMini(t)
	opts := &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second}
	plain := redisstore.New(c, opts)
	opts.DenyCacheSize = 100
	cached := redisstore.New(c, opts)
	lim := ratelimit.Limit{Rate: 10, Period: time.Minute}
	require.True(t, take(t, cached, ratelimit.Request{Key: "k", Limit: lim, N: 10}).Allowed)
	one := take(t, cached, ratelimit.Request{Key: "k", Limit: lim, N: 1})
	require.False(t, one.Allowed)
	require.Equal(t, 6*time.Second, one.RetryAfter)

	want := take(t, plain, ratelimit.Request{Key: "k", Limit: lim, N: 5})
	got := take(t, cached, ratelimit.Request{Key: "k", Limit: lim, N: 5})
	require.False(t, want.Allowed)
	require.False(t, got.Allowed)
	require.Equal(t, 30*time.Second, want.RetryAfter)
	require.Equal(t, want.RetryAfter, got.RetryAfter, "RetryAfter of N=5 served from a denial of N=1")

	// Waiting the answered time admits that request.
	clock.Advance(got.RetryAfter)
	require.True(t, take(t, cached, ratelimit.Request{Key: "k", Limit: lim, N: 5}).Allowed)
}

// A prefix with '{' would replace each key's hash tag (with "{}" in it, every
// Redis key hashes whole: CROSSSLOT on a cluster); it is a clear error.
func TestPrefixWithBraceIsInvalid(t *testing.T) {
	c, clock := newMini(t)
	for _, prefix := range []string{"{}", "a{b}:", "x{"} {
		s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Prefix: prefix, Timeout: 5 * time.Second, FailPolicy: redisstore.FailOpen})
		req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 1, Period: time.Minute},
			Quotas: []ratelimit.Quota{{Name: "q", Period: ratelimit.Day}}}
		var d ratelimit.Decision
		err := s.Take(t.Context(), &req, &d)
		require.ErrorIs(t, err, ratelimit.ErrInvalid, "prefix %q", prefix)
		require.ErrorContains(t, err, "prefix")
		require.False(t, d.Allowed)
	}
}

// The same quota listed twice in one request is treated as the memory store
// treats it (one counter, counted once, never past its Max, whether or not
// it exists yet), or rejected by Request.Validate.
func TestDuplicateQuotaCountsLikeMemory(t *testing.T) {
	c, clock := newMini(t)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
	mem := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: clock.Now})
	lim := ratelimit.Limit{Rate: 100, Period: time.Minute}
	quotas := []ratelimit.Quota{
		{Name: "api", Period: ratelimit.Day},
		{Name: "api", Period: ratelimit.Day, Max: 7},
	}
	for i := range 9 {
		req := ratelimit.Request{Key: "k", Limit: lim, Quotas: quotas}
		var want, got ratelimit.Decision
		if err := mem.Take(t.Context(), &req, &want); err != nil {
			// ratelimit may reject a quota listed twice: then so must this store.
			require.ErrorIs(t, err, ratelimit.ErrInvalid)
			require.ErrorIs(t, s.Take(t.Context(), &req, &got), ratelimit.ErrInvalid)
			return
		}
		require.NoError(t, s.Take(t.Context(), &req, &got))
		require.Equal(t, want.Allowed, got.Allowed, "decision %d", i)
		for j := range quotas {
			require.Equal(t, want.Quotas[j].Used, got.Quotas[j].Used, "decision %d quota %d", i, j)
			require.Equal(t, want.Quotas[j].Allowed, got.Quotas[j].Allowed, "decision %d quota %d", i, j)
		}
	}
}

// After SCRIPT FLUSH the next decision reloads the script with EVAL.
func TestScriptFlushFallsBackToEval(t *testing.T) {
	c, prefix := testenv.RedisClient(t)
	h := &counter{}
	c.AddHook(h)
	s := redisstore.New(c, generous(prefix))
	req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 3, Period: time.Hour},
		Quotas: []ratelimit.Quota{{Name: "q", Period: ratelimit.Month, Max: 10}}}
	require.True(t, take(t, s, req).Allowed)
	require.NoError(t, c.ScriptFlush(t.Context()).Err())
	before := h.cmds.Load()
	d := take(t, s, req)
	require.True(t, d.Allowed)
	require.EqualValues(t, 2, d.Quotas[0].Used)
	require.EqualValues(t, 2, h.cmds.Load()-before, "EVALSHA answered NOSCRIPT, then EVAL")
	before = h.cmds.Load()
	require.True(t, take(t, s, req).Allowed)
	require.False(t, take(t, s, req).Allowed)
	require.EqualValues(t, 2, h.cmds.Load()-before, "loaded again: one EVALSHA each")
}

// Hostile keys keep every Redis key of one limiter key in one slot on the
// cluster and stay apart from each other.
func TestHostileKeysOnCluster(t *testing.T) {
	c, prefix := testenv.RedisClusterClient(t)
	s := redisstore.New(c, generous(prefix))
	keys := []string{"", "{", "}", "{}", "}{", "a}b", "a%7Db", "%", ":", "a:q:x", "\x00\xff\n",
		strings.Repeat("{x}", 20000), "tenant", "{tenant}", "%7Btenant%7D"}
	lim := ratelimit.Limit{Rate: 2, Period: time.Hour}
	quotas := []ratelimit.Quota{
		{Name: "a}{b", Period: ratelimit.Day, Max: 100, Location: time.FixedZone("x", 14*3600)},
		{Name: "", Period: ratelimit.Month, Max: 100},
	}
	for _, k := range keys {
		d := take(t, s, ratelimit.Request{Key: k, Limit: lim, Quotas: quotas})
		require.True(t, d.Allowed, "key %q", k)
		require.EqualValues(t, 1, d.Quotas[0].Used, "key %q shares no counter", k)
	}
	for _, k := range keys {
		d := take(t, s, ratelimit.Request{Key: k, Limit: lim, Quotas: quotas})
		require.True(t, d.Allowed, "key %q", k)
		require.EqualValues(t, 2, d.Quotas[1].Used, "key %q", k)
		require.False(t, take(t, s, ratelimit.Request{Key: k, Limit: lim, Quotas: quotas}).Allowed, "key %q", k)
	}
}

// stoppable starts a redis-server this test owns so it can freeze it with
// SIGSTOP: the server keeps its connections open and answers nothing.
func stoppable(t *testing.T) (addr string, proc *exec.Cmd) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--logfile", "")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	pc := redis.NewClient(&redis.Options{Addr: addr})
	defer pc.Close()
	require.Eventually(t, func() bool { return pc.Ping(context.Background()).Err() == nil }, 10*time.Second, 20*time.Millisecond)
	return addr, cmd
}

// A frozen server: each decision ends at the store's timeout, the breaker
// opens, a half-open breaker lets exactly one of many concurrent callers
// probe, and the store recovers when the server runs again.
func TestFrozenServerBreaker(t *testing.T) {
	addr, proc := stoppable(t)
	c, _ := outageClient(t, addr)
	h := &evalCounter{}
	c.AddHook(h)
	const timeout = 100 * time.Millisecond
	cooldown := 300 * time.Millisecond
	s := redisstore.New(c, &redisstore.Options{
		Prefix: "r:", Timeout: timeout, BreakerThreshold: 3, BreakerCooldown: cooldown,
		FailPolicy: redisstore.FailLocal, Instances: 2,
	})
	lim := ratelimit.Limit{Rate: 10, Period: time.Minute}
	req := ratelimit.Request{Key: "k", Limit: lim}
	d := take(t, s, req)
	require.True(t, d.Allowed)
	require.False(t, d.Degraded)

	require.NoError(t, proc.Process.Signal(syscall.SIGSTOP))
	for i := range 3 {
		begin := time.Now()
		d := take(t, s, req)
		require.Less(t, time.Since(begin), 20*timeout, "decision %d waited far past the store timeout", i)
		require.True(t, d.Degraded)
		require.Equal(t, 5, d.Limit.Rate, "local share of 10 over 2 instances")
	}
	sent := h.cmds.Load()
	admitted := 0
	for range 20 {
		d := take(t, s, req)
		require.True(t, d.Degraded)
		if d.Allowed {
			admitted++
		}
	}
	require.Equal(t, sent, h.cmds.Load(), "open breaker: no call to Redis")
	require.Equal(t, 5-3, admitted, "the local share admits its burst of 5 in total")

	time.Sleep(cooldown + 50*time.Millisecond)
	sent = h.cmds.Load()
	concurrentTakes(s, req, 16)
	require.EqualValues(t, 1, h.cmds.Load()-sent, "half-open: one probe among 16 concurrent callers")

	require.NoError(t, proc.Process.Signal(syscall.SIGCONT))
	time.Sleep(cooldown + 50*time.Millisecond)
	require.Eventually(t, func() bool {
		var d ratelimit.Decision
		r := req
		return s.Take(context.Background(), &r, &d) == nil && !d.Degraded
	}, 10*time.Second, 50*time.Millisecond, "recovers once the server runs again")

	// Recovered means closed: concurrent callers all reach Redis again,
	// not one probe at a time.
	sent = h.cmds.Load()
	require.Zero(t, concurrentTakes(s, req, 16), "decisions answered by the fail policy after recovery")
	require.EqualValues(t, 16, h.cmds.Load()-sent, "every concurrent decision went to Redis")
}

// concurrentTakes makes n decisions on req at once and returns how many
// failed or were degraded (answered by the fail policy).
func concurrentTakes(s ratelimit.Store, req ratelimit.Request, n int) int64 {
	var degraded atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			var d ratelimit.Decision
			r := req
			if err := s.Take(context.Background(), &r, &d); err != nil || d.Degraded {
				degraded.Add(1)
			}
		})
	}
	wg.Wait()
	return degraded.Load()
}

// evalCounter counts script calls only (not the handshake of new connections).
type evalCounter struct{ cmds atomic.Int64 }

func (h *evalCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *evalCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := strings.ToLower(cmd.Name()); n == "evalsha" || n == "eval" {
			h.cmds.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *evalCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Around calendar boundaries in hostile zones (DST gaps and overlaps, a
// 30-minute DST shift, UTC+14, a midnight that does not exist, Feb 29, month
// and year ends) the Redis store counts exactly like the memory store with
// the server clock and the process clock agreeing: same Used, Allowed and
// ResetAt, each counter restarting once.
func TestCalendarBoundariesLikeMemory(t *testing.T) {
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		return loc
	}
	ny, lordHowe, kiritimati := zone("America/New_York"), zone("Australia/Lord_Howe"), zone("Pacific/Kiritimati")
	saoPaulo, santiago, havana := zone("America/Sao_Paulo"), zone("America/Santiago"), zone("America/Havana")
	cases := []struct {
		name string
		loc  *time.Location
		at   time.Time // a boundary, in loc
		gap  bool      // midnight does not exist: the day starts at 01:00
	}{
		{"nil zone Feb 29", nil, time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"nil zone leap day start", nil, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), false},
		{"NY spring forward", ny, time.Date(2027, 3, 15, 0, 0, 0, 0, ny), false},
		{"NY fall back", ny, time.Date(2027, 11, 8, 0, 0, 0, 0, ny), false},
		{"Lord Howe 30 min DST", lordHowe, time.Date(2027, 4, 5, 0, 0, 0, 0, lordHowe), false},
		{"Kiritimati year end", kiritimati, time.Date(2027, 1, 1, 0, 0, 0, 0, kiritimati), false},
		{"Sao Paulo month end", saoPaulo, time.Date(2018, 12, 1, 0, 0, 0, 0, saoPaulo), false},
		{"Sao Paulo midnight gap", saoPaulo, time.Date(2018, 11, 4, 1, 0, 0, 0, saoPaulo), true},
		{"Santiago midnight gap", santiago, time.Date(2027, 9, 5, 1, 0, 0, 0, santiago), true},
		{"Havana midnight gap", havana, time.Date(2027, 3, 14, 1, 0, 0, 0, havana), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, clock := newMini(t)
			begin := tc.at.Add(-90 * time.Minute)
			clock.t = begin
			clock.m.SetTime(begin)
			rs := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
			ms := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: clock.Now})
			lim := ratelimit.Limit{Rate: 1_000_000, Period: time.Minute}
			quotas := []ratelimit.Quota{
				{Name: "api", Period: ratelimit.Day, Max: 1000, Location: tc.loc},
				{Name: "api", Period: ratelimit.Month, Location: tc.loc},
			}
			for i := range 40 {
				req := ratelimit.Request{Key: "k", Limit: lim, N: 1 + i%7, Quotas: quotas}
				want := take(t, ms, req)
				got := take(t, rs, req)
				if tc.gap {
					// The memory store is not the oracle here: the day
					// starts at 01:00 local, the first instant it has.
					next := tc.at
					if !clock.Now().Before(tc.at) {
						y, m, d := tc.at.Date()
						next = time.Date(y, m, d+1, 0, 0, 0, 0, tc.loc)
					}
					require.True(t, got.Quotas[0].ResetAt.Equal(next), "step %d at %v: ResetAt %v, want %v", i, clock.Now(), got.Quotas[0].ResetAt, next)
					clock.Advance(4*time.Minute + 33*time.Second)
					continue
				}
				require.Equal(t, want.Allowed, got.Allowed, "step %d at %v", i, clock.Now())
				for j := range quotas {
					require.Equal(t, want.Quotas[j].Used, got.Quotas[j].Used, "step %d quota %d at %v", i, j, clock.Now())
					require.True(t, want.Quotas[j].ResetAt.Equal(got.Quotas[j].ResetAt), "step %d quota %d at %v: %v vs %v", i, j, clock.Now(), want.Quotas[j].ResetAt, got.Quotas[j].ResetAt)
				}
				clock.Advance(4*time.Minute + 33*time.Second)
			}
			// The day after the boundary counts from zero, whatever the memory store says.
			d := take(t, rs, ratelimit.Request{Key: "k2", Limit: lim, Quotas: quotas[:1]})
			require.True(t, clock.Now().Before(d.Quotas[0].ResetAt), "ResetAt %v is after now %v", d.Quotas[0].ResetAt, clock.Now())
			clock.Advance(d.Quotas[0].ResetAt.Sub(clock.Now()))
			d = take(t, rs, ratelimit.Request{Key: "k2", Limit: lim, Quotas: quotas[:1]})
			require.EqualValues(t, 1, d.Quotas[0].Used, "a new day at %v", clock.Now())
		})
	}
}

// The deny cache never denies a request Redis would admit: a raised limit, a
// smaller N, a different quota set or a raised quota each go to Redis.
func TestDenyCacheNeverDeniesAdmissible(t *testing.T) {
	c, clock := newMini(t)
	s := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second, DenyCacheSize: 64})
	lim := ratelimit.Limit{Name: "x", Rate: 4, Period: time.Hour}
	require.True(t, take(t, s, ratelimit.Request{Key: "k", Limit: lim, N: 3}).Allowed)
	require.False(t, take(t, s, ratelimit.Request{Key: "k", Limit: lim, N: 2}).Allowed)
	require.True(t, take(t, s, ratelimit.Request{Key: "k", Limit: lim, N: 1}).Allowed, "smaller N")
	require.False(t, take(t, s, ratelimit.Request{Key: "k", Limit: lim}).Allowed)
	raised := lim
	raised.Rate, raised.Burst = 8, 16 // the 1 h of debt is half its bucket
	require.True(t, take(t, s, ratelimit.Request{Key: "k", Limit: raised}).Allowed, "raised limit")

	q := []ratelimit.Quota{{Name: "q", Period: ratelimit.Day, Max: 1}}
	big := ratelimit.Limit{Rate: 100, Period: time.Second}
	require.True(t, take(t, s, ratelimit.Request{Key: "j", Limit: big, Quotas: q}).Allowed)
	require.False(t, take(t, s, ratelimit.Request{Key: "j", Limit: big, Quotas: q}).Allowed)
	require.True(t, take(t, s, ratelimit.Request{Key: "j", Limit: big}).Allowed, "no quota")
	require.False(t, take(t, s, ratelimit.Request{Key: "j", Limit: big, Quotas: q}).Allowed)
	q2 := []ratelimit.Quota{{Name: "q", Period: ratelimit.Day, Max: 2}}
	d := take(t, s, ratelimit.Request{Key: "j", Limit: big, Quotas: q2})
	require.True(t, d.Allowed, "raised quota")
	require.EqualValues(t, 2, d.Quotas[0].Used, "the quota denial counted nothing")
}

// A slot migration under load (ASK and TRYAGAIN while the slot is migrating,
// MOVED after): decisions either answer correctly or fail with
// ErrUnavailable (go-redis gives up after MaxRedirects), never admit more
// than the limit or count a quota twice, and the redirections do not open
// the circuit breaker.
func TestClusterSlotMigration(t *testing.T) {
	c, prefix := testenv.RedisClusterClient(t)
	ctx := t.Context()
	key := testenv.Name("tenant")
	lim := ratelimit.Limit{Rate: 60, Period: time.Hour}
	quotas := []ratelimit.Quota{{Name: "api", Period: ratelimit.Day}, {Name: "api", Period: ratelimit.Month, Max: 1000}}
	s := redisstore.New(c, generous(prefix))
	require.True(t, take(t, s, ratelimit.Request{Key: key, Limit: lim, Quotas: quotas}).Allowed)

	gcra := prefix + "{" + key + "}:gcra"
	slot, err := c.ClusterKeySlot(ctx, gcra).Result()
	require.NoError(t, err)
	src, err := c.MasterForKey(ctx, gcra)
	require.NoError(t, err)
	srcID, err := src.Do(ctx, "CLUSTER", "MYID").Text()
	require.NoError(t, err)
	var dst *redis.Client
	var dstID string
	var mu sync.Mutex
	var all []*redis.Client
	require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		id, err := m.Do(ctx, "CLUSTER", "MYID").Text()
		mu.Lock()
		defer mu.Unlock()
		all = append(all, m)
		if err == nil && id != srcID && dst == nil {
			dst, dstID = m, id
		}
		return err
	}))
	require.NotNil(t, dst)
	host, port, err := net.SplitHostPort(dst.Options().Addr)
	require.NoError(t, err)

	// Load: 8 stores on their own cluster clients, 40 requests each.
	var admitted, failed atomicCounter
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.RedisCluster(t), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = cc.Close() })
		// Threshold 1: a slot's redirections during its migration must not
		// open the breaker for every other key on the cluster.
		opts := generous(prefix)
		opts.BreakerThreshold = 1
		st := redisstore.New(cc, opts)
		wg.Go(func() {
			for i := 0; i < 40; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var d ratelimit.Decision
				req := ratelimit.Request{Key: key, Limit: lim, Quotas: quotas}
				if err := st.Take(context.Background(), &req, &d); err != nil {
					if !assertUnavailable(t, err) {
						return
					}
					failed.add()
					t.Logf("failed decision: %v", err)
				} else if d.Allowed {
					admitted.add()
				}
				time.Sleep(3 * time.Millisecond)
			}
		})
	}

	time.Sleep(30 * time.Millisecond)
	require.NoError(t, dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	require.NoError(t, src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	keys, err := src.Do(ctx, "CLUSTER", "GETKEYSINSLOT", slot, 1000).StringSlice()
	require.NoError(t, err)
	for _, k := range keys { // one key at a time: the slot is split meanwhile
		require.NoError(t, src.Do(ctx, "MIGRATE", host, port, "", 0, 5000, "KEYS", k).Err())
		time.Sleep(20 * time.Millisecond)
	}
	// The new owner first, then the old one, then the rest.
	require.NoError(t, dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	require.NoError(t, src.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	for _, m := range all {
		if m != src && m != dst {
			require.NoError(t, m.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
		}
	}
	wg.Wait()
	close(stop)
	t.Logf("slot %d moved with %d keys; %d admitted, %d failed", slot, len(keys), admitted.load(), failed.load())

	d := take(t, s, ratelimit.Request{Key: key, Limit: lim, Quotas: quotas})
	total := 1 + admitted.load()
	if d.Allowed {
		total++
	}
	require.LessOrEqual(t, total, int64(61), "at most the limit (plus a refill) admitted")
	require.Equal(t, total, d.Quotas[0].Used, "the day counted exactly the admitted decisions")
	require.Equal(t, total, d.Quotas[1].Used, "the month counted exactly the admitted decisions")
}

type atomicCounter struct{ n atomic.Int64 }

func (a *atomicCounter) add()        { a.n.Add(1) }
func (a *atomicCounter) load() int64 { return a.n.Load() }

func assertUnavailable(t *testing.T, err error) bool {
	t.Helper()
	if errors.Is(err, redisstore.ErrCircuitOpen) {
		t.Errorf("a slot migration opened the circuit breaker: %v", err)
		return false
	}
	if !errors.Is(err, ratelimit.ErrUnavailable) {
		t.Errorf("a failed decision wraps ErrUnavailable: %v", err)
		return false
	}
	return true
}

// One quota name counted in two zones (a tenant whose zone changes) keeps a
// counter per zone's period, as the memory store does: Tokyo's December 3rd
// is not UTC's December 3rd.
func TestQuotaNameInTwoZonesLikeMemory(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	c, clock := newMini(t) // 10:00 UTC, 19:00 in Tokyo: the same date
	rs := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
	ms := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: clock.Now})
	lim := ratelimit.Limit{Rate: 1000, Period: time.Second}
	for i := range 6 {
		loc := time.UTC
		if i%2 == 1 {
			loc = tokyo
		}
		req := ratelimit.Request{Key: "k", Limit: lim, Quotas: []ratelimit.Quota{{Name: "api", Period: ratelimit.Day, Max: 100, Location: loc}}}
		want, got := take(t, ms, req), take(t, rs, req)
		require.Equal(t, want.Quotas[0].Used, got.Quotas[0].Used, "decision %d in %v", i, loc)
	}
}

// The ACL the package doc prescribes for a limiter's Redis user is enough:
// scripts run their commands under the caller's ACL.
func TestDocumentedACLSuffices(t *testing.T) {
	addr, _ := stoppable(t)
	admin := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = admin.Close() })
	require.NoError(t, admin.Do(t.Context(), "ACL", "SETUSER", "limiter", "on", ">pw", "resetkeys", "~tk:rl:*",
		"-@all", "+eval", "+evalsha", "+time", "+mget", "+set", "+incrby").Err())
	c := redis.NewClient(&redis.Options{Addr: addr, Username: "limiter", Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c, &redisstore.Options{Timeout: 5 * time.Second})
	req := ratelimit.Request{Key: "k", Limit: ratelimit.Limit{Rate: 1, Period: time.Hour},
		Quotas: []ratelimit.Quota{{Name: "q", Period: ratelimit.Day, Max: 5}}}
	require.True(t, take(t, s, req).Allowed)
	d := take(t, s, req)
	require.False(t, d.Allowed)
	require.EqualValues(t, 1, d.Quotas[0].Used)
}

// Long periods with a large burst (10,000 per 30 days, 1,000,000 per year)
// are ordinary plans: the Redis store decides them exactly like the memory
// store instead of rejecting them as too large.
func TestLongPeriodLimitsLikeMemory(t *testing.T) {
	for _, lim := range []ratelimit.Limit{
		{Name: "month", Rate: 10_000, Period: 30 * 24 * time.Hour},
		{Name: "year", Rate: 1_000_000, Period: 365 * 24 * time.Hour},
		{Name: "day", Rate: 200_000, Period: 24 * time.Hour, Burst: 300_000},
	} {
		t.Run(lim.Name, func(t *testing.T) {
			c, clock := newMini(t)
			rs := redisstore.New(c, &redisstore.Options{Now: clock.Now, Timeout: 5 * time.Second})
			ms := ratelimit.NewMemory(&ratelimit.MemoryOptions{Now: clock.Now})
			burst := lim.EffectiveBurst()
			steps := []struct {
				n       int
				advance time.Duration
			}{{burst / 2, 0}, {burst - burst/2, 0}, {1, 0}, {1, lim.Period / time.Duration(lim.Rate)}, {1, 0}, {3, time.Hour}, {burst, 0}}
			for i, st := range steps {
				clock.Advance(st.advance)
				req := ratelimit.Request{Key: "k", Limit: lim, N: st.n}
				want := take(t, ms, req)
				var got ratelimit.Decision
				require.NoError(t, rs.Take(t.Context(), &req, &got), "step %d", i)
				require.Equal(t, want.Result, got.Result, "step %d", i)
			}
		})
	}
}
