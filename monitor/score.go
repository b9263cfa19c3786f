package monitor

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Outcome is what one rule concluded about one Snapshot.
type Outcome string

// Rule outcomes. Only OutcomeFail deducts points. OutcomeInsufficientData
// is reported as an issue so too little traffic is never mistaken for health.
const (
	OutcomePass             Outcome = "pass"
	OutcomeFail             Outcome = "fail"
	OutcomeNotApplicable    Outcome = "not_applicable"    // e.g. a quota of 0
	OutcomeInsufficientData Outcome = "insufficient_data" // e.g. fewer than MinRequests
	OutcomeSuppressed       Outcome = "suppressed"        // replaced by a failing rule
)

// Severity ranks a failing rule. A failing critical rule puts the tenant at
// risk whatever its score.
type Severity string

// Severities.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Band is the coarse health of a tenant derived from its score.
type Band string

// Bands.
const (
	BandHealthy  Band = "healthy"
	BandWarning  Band = "warning"
	BandCritical Band = "critical"
)

// Check is a rule's verdict: its outcome and a human message.
type Check struct {
	Outcome Outcome
	Message string
}

// Rule is one row of the scoring table. Check must be a pure function of the
// Snapshot.
type Rule struct {
	Code     string   // stable issue code, e.g. "error_rate"
	Weight   int      // points deducted when the rule fails (≥ 0)
	Severity Severity // of a failure
	// Replaces lists codes this rule supersedes when it fails: they are
	// reported as suppressed and deduct nothing ("no active subscription"
	// replaces "subscription expiring").
	Replaces []string
	Check    func(s *Snapshot) Check
}

// Rule codes of the default table.
const (
	CodeStorage              = "storage_quota"
	CodeAPIQuota             = "api_quota"
	CodeLatency              = "slow_responses"
	CodeErrorRate            = "error_rate"
	CodeSubscriptionExpiring = "subscription_expiring"
	CodeSubscriptionInactive = "subscription_inactive"
)

// RuleOptions are the thresholds and weights of DefaultRules. The zero value
// and nil mean the original design's table; each field documents its default.
type RuleOptions struct {
	StoragePercent float64 // fail above this share of the storage quota; default 90
	StorageWeight  int     // default 20
	APIPercent     float64 // fail above this share of the daily API quota; default 90
	APIWeight      int     // default 15
	// Latency fails when the LatencyQuantile of the window is above
	// LatencyThreshold. Defaults: p95, 2000 ms (a bucket boundary, so the
	// decision is exact: more than 5% of requests slower than 2000 ms).
	LatencyThreshold time.Duration
	LatencyQuantile  float64
	LatencyWeight    int     // default 15
	ErrorPercent     float64 // fail above this server error rate; default 5
	ErrorWeight      int     // default 20
	// MinRequests is the traffic below which the latency and error rules
	// report insufficient data instead of judging. Default 20.
	MinRequests    int
	ExpiringDays   int // fail when the subscription ends in fewer days; default 7
	ExpiryWeight   int // default 10
	InactiveWeight int // no active subscription; default 30
}

func (o *RuleOptions) defaults() RuleOptions {
	var r RuleOptions
	if o != nil {
		r = *o
	}
	def := func(p *float64, v float64) {
		if *p <= 0 {
			*p = v
		}
	}
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&r.StoragePercent, 90)
	defi(&r.StorageWeight, 20)
	def(&r.APIPercent, 90)
	defi(&r.APIWeight, 15)
	if r.LatencyThreshold <= 0 {
		r.LatencyThreshold = 2000 * time.Millisecond
	}
	if !(r.LatencyQuantile > 0 && r.LatencyQuantile < 1) {
		r.LatencyQuantile = 0.95
	}
	defi(&r.LatencyWeight, 15)
	def(&r.ErrorPercent, 5)
	defi(&r.ErrorWeight, 20)
	defi(&r.MinRequests, 20)
	defi(&r.ExpiringDays, 7)
	defi(&r.ExpiryWeight, 10)
	defi(&r.InactiveWeight, 30)
	return r
}

// DefaultRules returns the original design's scoring table with o's
// thresholds and weights (nil: the original ones). A weight cannot be set to
// 0 through RuleOptions; drop the rule from the slice instead.
func DefaultRules(o *RuleOptions) []Rule {
	r := o.defaults()
	return []Rule{
		{Code: CodeStorage, Weight: r.StorageWeight, Severity: SeverityWarning, Check: func(s *Snapshot) Check {
			if !s.StoragePercent.Valid {
				return Check{OutcomeNotApplicable, "no storage quota"}
			}
			if s.StoragePercent.V > r.StoragePercent {
				return Check{OutcomeFail, "Storage quota nearly exceeded: " + s.StoragePercent.String() + "% used"}
			}
			return Check{OutcomePass, "storage within quota"}
		}},
		{Code: CodeAPIQuota, Weight: r.APIWeight, Severity: SeverityWarning, Check: func(s *Snapshot) Check {
			if !s.APIPercent.Valid {
				return Check{OutcomeNotApplicable, "no daily API quota"}
			}
			if s.APIPercent.V > r.APIPercent {
				return Check{OutcomeFail, "API quota nearly exceeded: " + s.APIPercent.String() + "% of today's calls used"}
			}
			return Check{OutcomePass, "API calls within daily quota"}
		}},
		{Code: CodeLatency, Weight: r.LatencyWeight, Severity: SeverityWarning, Check: func(s *Snapshot) Check {
			if s.Requests < uint64(r.MinRequests) {
				return Check{OutcomeInsufficientData, "latency not judged: " + strconv.FormatUint(s.Requests, 10) + " requests in 24 h, need " + strconv.Itoa(r.MinRequests)}
			}
			total := s.Latency.Total()
			if total == 0 {
				return Check{OutcomeInsufficientData, "latency not judged: no latency samples"}
			}
			// Exact on bucket boundaries: the quantile exceeds the threshold
			// iff more than (1-q) of requests do.
			above := float64(s.Latency.CountAbove(r.LatencyThreshold)) / float64(total)
			if above > 1-r.LatencyQuantile {
				label := fmt.Sprintf("p%g", r.LatencyQuantile*100)
				return Check{OutcomeFail, fmt.Sprintf("High response times detected: %s above %d ms (%.1f%% of requests slower)", label, r.LatencyThreshold.Milliseconds(), above*100)}
			}
			return Check{OutcomePass, "response times within threshold"}
		}},
		{Code: CodeErrorRate, Weight: r.ErrorWeight, Severity: SeverityCritical, Check: func(s *Snapshot) Check {
			if s.Requests < uint64(r.MinRequests) || !s.ErrorPercent.Valid {
				return Check{OutcomeInsufficientData, "error rate not judged: " + strconv.FormatUint(s.Requests, 10) + " requests in 24 h, need " + strconv.Itoa(r.MinRequests)}
			}
			if s.ErrorPercent.V > r.ErrorPercent {
				return Check{OutcomeFail, "High error rate detected: " + s.ErrorPercent.String() + "% of " + strconv.FormatUint(s.Requests, 10) + " requests failed"}
			}
			return Check{OutcomePass, "error rate within threshold"}
		}},
		{Code: CodeSubscriptionExpiring, Weight: r.ExpiryWeight, Severity: SeverityWarning, Check: func(s *Snapshot) Check {
			if !s.DaysUntilExpiry.Valid {
				return Check{OutcomeNotApplicable, "subscription has no end date"}
			}
			if s.DaysUntilExpiry.V < float64(r.ExpiringDays) {
				return Check{OutcomeFail, "Subscription expires soon: " + s.DaysUntilExpiry.String() + " days left"}
			}
			return Check{OutcomePass, "subscription not expiring soon"}
		}},
		{Code: CodeSubscriptionInactive, Weight: r.InactiveWeight, Severity: SeverityCritical,
			Replaces: []string{CodeSubscriptionExpiring}, Check: func(s *Snapshot) Check {
				if !s.Subscription.Active {
					status := s.Subscription.Status
					if status == "" {
						status = "none"
					}
					return Check{OutcomeFail, "No active subscription (status " + strconv.Quote(status) + ")"}
				}
				return Check{OutcomePass, "subscription active"}
			}},
	}
}

// Contribution is one rule's part in a Result.
type Contribution struct {
	Code     string   `json:"code"`
	Outcome  Outcome  `json:"outcome"`
	Severity Severity `json:"severity"`
	Points   int      `json:"points"` // ≤ 0: what the rule deducted
	Message  string   `json:"message"`
}

// Issue is a problem to show a person: a failed rule or one that lacked data.
type Issue struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Result is a tenant's score with the reasons for it.
type Result struct {
	Score            int            `json:"score"` // 0..100
	Band             Band           `json:"band"`
	AtRisk           bool           `json:"at_risk"`
	InsufficientData bool           `json:"insufficient_data"` // some rule could not judge
	Contributions    []Contribution `json:"contributions"`     // one per rule, in table order
	Issues           []Issue        `json:"issues"`            // never nil
}

// ScorerOptions configures a Scorer. nil means defaults.
type ScorerOptions struct {
	// HealthyFrom and WarningFrom are the lowest scores of those bands;
	// below WarningFrom is critical. Defaults 80 and 50.
	HealthyFrom, WarningFrom int
	// AtRiskBelow: a score below it puts a tenant at risk, as does any
	// failing critical rule. Default 70.
	AtRiskBelow int
}

// Scorer scores Snapshots against a rule table. It is immutable and safe for
// concurrent use; the zero value is not usable.
type Scorer struct {
	rules  []Rule
	index  map[string]int
	opts   ScorerOptions
	noSupp bool
}

// ErrBadRule reports an invalid rule table.
var ErrBadRule = errors.New("monitor: invalid rule")

// NewScorer returns a Scorer for rules (nil: DefaultRules(nil)). It rejects
// empty or duplicate codes, negative weights, nil checks and Replaces naming
// unknown codes.
func NewScorer(rules []Rule, opts *ScorerOptions) (*Scorer, error) {
	if rules == nil {
		rules = DefaultRules(nil)
	}
	s := &Scorer{rules: append([]Rule(nil), rules...), index: map[string]int{}}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.HealthyFrom <= 0 {
		s.opts.HealthyFrom = 80
	}
	if s.opts.WarningFrom <= 0 {
		s.opts.WarningFrom = 50
	}
	if s.opts.AtRiskBelow <= 0 {
		s.opts.AtRiskBelow = 70
	}
	if s.opts.WarningFrom > s.opts.HealthyFrom {
		return nil, fmt.Errorf("%w: WarningFrom %d above HealthyFrom %d", ErrBadRule, s.opts.WarningFrom, s.opts.HealthyFrom)
	}
	for i, r := range s.rules {
		switch {
		case r.Code == "":
			return nil, fmt.Errorf("%w: rule %d has no code", ErrBadRule, i)
		case r.Check == nil:
			return nil, fmt.Errorf("%w: rule %q has no check", ErrBadRule, r.Code)
		case r.Weight < 0:
			return nil, fmt.Errorf("%w: rule %q has negative weight %d", ErrBadRule, r.Code, r.Weight)
		}
		if _, dup := s.index[r.Code]; dup {
			return nil, fmt.Errorf("%w: duplicate code %q", ErrBadRule, r.Code)
		}
		if r.Severity == "" {
			s.rules[i].Severity = SeverityWarning
		}
		s.index[r.Code] = i
	}
	s.noSupp = true
	for _, r := range s.rules {
		for _, c := range r.Replaces {
			if _, ok := s.index[c]; !ok {
				return nil, fmt.Errorf("%w: rule %q replaces unknown code %q", ErrBadRule, r.Code, c)
			}
			s.noSupp = false
		}
	}
	return s, nil
}

// Rules returns a copy of the rule table.
func (sc *Scorer) Rules() []Rule { return append([]Rule(nil), sc.rules...) }

// Options returns the Scorer's band and risk thresholds.
func (sc *Scorer) Options() ScorerOptions { return sc.opts }

// Band returns the band of a score.
func (sc *Scorer) Band(score int) Band {
	switch {
	case score >= sc.opts.HealthyFrom:
		return BandHealthy
	case score >= sc.opts.WarningFrom:
		return BandWarning
	default:
		return BandCritical
	}
}

// Score evaluates every rule against s. The score starts at 100, loses the
// weight of every failing rule that is not suppressed, and is clamped to
// 0..100.
func (sc *Scorer) Score(s *Snapshot) Result {
	res := Result{Contributions: make([]Contribution, len(sc.rules))}
	for i, r := range sc.rules {
		c := r.Check(s)
		res.Contributions[i] = Contribution{Code: r.Code, Outcome: c.Outcome, Severity: r.Severity, Message: c.Message}
	}
	if !sc.noSupp {
		for i, r := range sc.rules {
			if res.Contributions[i].Outcome != OutcomeFail {
				continue
			}
			for _, code := range r.Replaces {
				j := sc.index[code]
				if res.Contributions[j].Outcome == OutcomeFail {
					res.Contributions[j].Outcome = OutcomeSuppressed
					res.Contributions[j].Message += " (replaced by " + r.Code + ")"
				}
			}
		}
	}
	n := 0
	for i := range res.Contributions {
		if o := res.Contributions[i].Outcome; o == OutcomeFail || o == OutcomeInsufficientData {
			n++
		}
	}
	res.Issues = make([]Issue, 0, n)
	score := 100
	critical := false
	for i, r := range sc.rules {
		c := &res.Contributions[i]
		switch c.Outcome {
		case OutcomeFail:
			c.Points = -r.Weight
			score = max(0, score-r.Weight) // weights are ≥ 0: clamping as we go cannot wrap
			critical = critical || r.Severity == SeverityCritical
			res.Issues = append(res.Issues, Issue{Code: r.Code, Severity: r.Severity, Message: c.Message})
		case OutcomeInsufficientData:
			res.InsufficientData = true
			res.Issues = append(res.Issues, Issue{Code: r.Code, Severity: SeverityInfo, Message: c.Message})
		}
	}
	res.Score = max(0, min(100, score))
	res.Band = sc.Band(res.Score)
	res.AtRisk = critical || res.Score < sc.opts.AtRiskBelow
	return res
}
