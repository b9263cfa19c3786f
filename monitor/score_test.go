package monitor

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tenant"
)

func snapWith(u Usage, requests, errors, slow uint64, at time.Time) Snapshot {
	s := NewSnapshot(tenant.Tenant{ID: "t", Name: "T"}, u, nil, at, time.UTC)
	s.Requests, s.Errors = requests, errors
	s.Latency.Counts[3] = requests - slow
	s.Latency.Counts[SlowBucket+1] = slow
	if requests > 0 {
		s.ErrorPercent = Some(float64(errors) / float64(requests) * 100)
	}
	return s
}

func outcome(r Result, code string) Contribution {
	for _, c := range r.Contributions {
		if c.Code == code {
			return c
		}
	}
	return Contribution{}
}

func TestScorerDefaultTable(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sc, err := NewScorer(nil, nil)
	require.NoError(t, err)

	healthy := snapWith(activeUsage(now), 100, 1, 1, now)
	r := sc.Score(&healthy)
	require.Equal(t, 100, r.Score)
	require.Equal(t, BandHealthy, r.Band)
	require.False(t, r.AtRisk)
	require.Empty(t, r.Issues)
	require.Len(t, r.Contributions, 6)

	tests := []struct {
		name   string
		mutate func(u *Usage) (req, errs, slow uint64)
		code   string
		points int
	}{
		{"storage over 90%", func(u *Usage) (uint64, uint64, uint64) { u.StorageBytes = 901; return 100, 0, 0 }, CodeStorage, -20},
		{"storage at exactly 90% passes", func(u *Usage) (uint64, uint64, uint64) { u.StorageBytes = 900; return 100, 0, 0 }, CodeStorage, 0},
		{"api over 90%", func(u *Usage) (uint64, uint64, uint64) { u.APICallsToday = 950; return 100, 0, 0 }, CodeAPIQuota, -15},
		{"slow p95", func(u *Usage) (uint64, uint64, uint64) { return 100, 0, 6 }, CodeLatency, -15},
		{"5% slow is not above p95", func(u *Usage) (uint64, uint64, uint64) { return 100, 0, 5 }, CodeLatency, 0},
		{"errors over 5%", func(u *Usage) (uint64, uint64, uint64) { return 100, 6, 0 }, CodeErrorRate, -20},
		{"expiring", func(u *Usage) (uint64, uint64, uint64) {
			u.Subscription.EndsAt = now.AddDate(0, 0, 6)
			return 100, 0, 0
		}, CodeSubscriptionExpiring, -10},
		{"7 days is not expiring", func(u *Usage) (uint64, uint64, uint64) {
			u.Subscription.EndsAt = now.AddDate(0, 0, 7)
			return 100, 0, 0
		}, CodeSubscriptionExpiring, 0},
		{"inactive", func(u *Usage) (uint64, uint64, uint64) { u.Subscription.Active = false; return 100, 0, 0 }, CodeSubscriptionInactive, -30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := activeUsage(now)
			req, errs, slow := tc.mutate(&u)
			s := snapWith(u, req, errs, slow, now)
			r := sc.Score(&s)
			require.Equal(t, tc.points, outcome(r, tc.code).Points)
			require.Equal(t, 100+tc.points, r.Score)
			if tc.points != 0 {
				require.Len(t, r.Issues, 1)
				require.Equal(t, tc.code, r.Issues[0].Code)
				require.NotEmpty(t, r.Issues[0].Message)
			}
		})
	}
}

func TestScorerInactiveReplacesExpiring(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sc, _ := NewScorer(nil, nil)
	u := activeUsage(now)
	u.Subscription = Subscription{Status: "canceled", Active: false, EndsAt: now.AddDate(0, 0, -3)}
	s := snapWith(u, 100, 0, 0, now)
	r := sc.Score(&s)
	require.Equal(t, 70, r.Score, "-30 only, not -40")
	require.Equal(t, OutcomeSuppressed, outcome(r, CodeSubscriptionExpiring).Outcome)
	require.Equal(t, 0, outcome(r, CodeSubscriptionExpiring).Points)
	require.True(t, r.AtRisk, "inactive subscription is a critical rule")
	require.Equal(t, -3.0, s.DaysUntilExpiry.V)
}

func TestScorerClampsAndBands(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sc, _ := NewScorer(nil, nil)
	u := activeUsage(now)
	u.StorageBytes, u.APICallsToday, u.Subscription.Active = 1000, 1000, false
	s := snapWith(u, 100, 50, 50, now)
	r := sc.Score(&s)
	require.Equal(t, 0, r.Score) // 100-20-15-15-20-30 = 0
	require.Equal(t, BandCritical, r.Band)

	heavy := DefaultRules(&RuleOptions{StorageWeight: 200})
	sc2, err := NewScorer(heavy, nil)
	require.NoError(t, err)
	u = activeUsage(now)
	u.StorageBytes = 1000
	s = snapWith(u, 100, 0, 0, now)
	require.Equal(t, 0, sc2.Score(&s).Score, "clamped at 0")
}

func TestScorerQuotaZeroNotApplicable(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sc, _ := NewScorer(nil, nil)
	u := activeUsage(now)
	u.StorageQuotaBytes, u.APICallsQuota, u.MaxUsers = 0, 0, 0
	u.StorageBytes, u.APICallsToday = 1<<40, 1<<30
	s := snapWith(u, 100, 0, 0, now)
	r := sc.Score(&s)
	require.Equal(t, 100, r.Score)
	require.Equal(t, OutcomeNotApplicable, outcome(r, CodeStorage).Outcome)
	require.Equal(t, OutcomeNotApplicable, outcome(r, CodeAPIQuota).Outcome)
	require.False(t, s.StoragePercent.Valid)
	require.False(t, s.UsersPercent.Valid)
}

func TestScorerIdleTenantInsufficientDataNoNaN(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sc, _ := NewScorer(nil, nil)
	s := NewSnapshot(tenant.Tenant{ID: "idle"}, activeUsage(now), NewRecorder(nil), now, time.UTC)
	r := sc.Score(&s)
	require.True(t, r.InsufficientData)
	require.Equal(t, OutcomeInsufficientData, outcome(r, CodeErrorRate).Outcome)
	require.Equal(t, OutcomeInsufficientData, outcome(r, CodeLatency).Outcome)
	require.Equal(t, 100, r.Score, "no data deducts nothing")
	codes := []string{}
	for _, is := range r.Issues {
		codes = append(codes, is.Code)
		require.Equal(t, SeverityInfo, is.Severity)
	}
	require.ElementsMatch(t, []string{CodeErrorRate, CodeLatency}, codes, "insufficient data is reported, not silently passed")
	b, err := json.Marshal(Health{Snapshot: s, Result: r})
	require.NoError(t, err)
	require.NotContains(t, string(b), "NaN")
	require.NotContains(t, string(b), "Inf")
	require.True(t, json.Valid(b))
	require.Contains(t, string(b), `"error_percent":null`)
	require.Contains(t, string(b), `"latency_p95_ms":null`)

	// Below MinRequests even with errors: still insufficient, never a pass.
	s2 := snapWith(activeUsage(now), 19, 19, 19, now)
	r2 := sc.Score(&s2)
	require.Equal(t, OutcomeInsufficientData, outcome(r2, CodeErrorRate).Outcome)
}

func TestScorerRejectsBadTables(t *testing.T) {
	ok := func(*Snapshot) Check { return Check{Outcome: OutcomePass} }
	for name, rules := range map[string][]Rule{
		"empty code":      {{Code: "", Check: ok}},
		"nil check":       {{Code: "a"}},
		"negative":        {{Code: "a", Weight: -1, Check: ok}},
		"duplicate":       {{Code: "a", Check: ok}, {Code: "a", Check: ok}},
		"unknown replace": {{Code: "a", Check: ok, Replaces: []string{"b"}}},
	} {
		_, err := NewScorer(rules, nil)
		require.ErrorIs(t, err, ErrBadRule, name)
	}
	_, err := NewScorer(nil, &ScorerOptions{HealthyFrom: 50, WarningFrom: 60})
	require.ErrorIs(t, err, ErrBadRule)
}

func TestValueJSON(t *testing.T) {
	for _, v := range []Value{{}, Some(math.NaN()), Some(math.Inf(1)), {V: math.NaN(), Valid: true}} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, "null", string(b))
	}
	b, _ := json.Marshal(Some(12.5))
	require.Equal(t, "12.5", string(b))
	var v Value
	require.NoError(t, json.Unmarshal([]byte("3.25"), &v))
	require.Equal(t, Some(3.25), v)
	require.NoError(t, json.Unmarshal([]byte("null"), &v))
	require.False(t, v.Valid)
	require.Error(t, json.Unmarshal([]byte(`"x"`), &v))
}

func TestDaysUntilExpiryAcrossDST(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	now := time.Date(2026, 3, 28, 23, 30, 0, 0, berlin) // DST starts 29 March
	end := time.Date(2026, 4, 4, 0, 30, 0, 0, berlin)
	require.Equal(t, 7, daysBetween(now, end, berlin))
	require.Equal(t, 0, daysBetween(now, now.Add(20*time.Minute), berlin))
}
