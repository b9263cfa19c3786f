package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/tenantkit/tenantkit/tenant"
)

// AlertState is where an alert is in its life.
type AlertState string

// Alert states: an active condition is pending until it has held for the
// rule's For, then firing; when the condition clears a firing alert is
// resolved (a pending one is simply dropped). While a tenant's usage cannot
// be read (Health.Error), its alerts whose condition is not active hold
// their state: an unreadable tenant has not recovered.
const (
	StatePending  AlertState = "pending"
	StateFiring   AlertState = "firing"
	StateResolved AlertState = "resolved"
)

// AlertRule is a condition on a tenant's Health, evaluated periodically.
type AlertRule struct {
	Name     string // unique, e.g. "tenant_at_risk"
	Severity Severity
	// For is how long the condition must hold before the alert fires. 0
	// fires at the first evaluation that sees it.
	For time.Duration
	// Condition reports whether the alert is active for h, with a message.
	Condition func(h Health) (active bool, message string)
}

// ScoreBelow is an AlertRule active while a tenant's score is below min.
// Tenants whose usage could not be read are not judged by it (see
// SourceFailing).
func ScoreBelow(min int, forDur time.Duration) AlertRule {
	return AlertRule{Name: "health_score_low", Severity: SeverityWarning, For: forDur, Condition: func(h Health) (bool, string) {
		if h.Error != "" {
			return false, ""
		}
		return h.Result.Score < min, fmt.Sprintf("health score %d is below %d", h.Result.Score, min)
	}}
}

// RuleFailing is an AlertRule active while the scoring rule code fails.
func RuleFailing(code string, sev Severity, forDur time.Duration) AlertRule {
	return AlertRule{Name: "rule_" + code, Severity: sev, For: forDur, Condition: func(h Health) (bool, string) {
		for _, c := range h.Result.Contributions {
			if c.Code == code && c.Outcome == OutcomeFail {
				return true, c.Message
			}
		}
		return false, ""
	}}
}

// SourceFailing is an AlertRule active while a tenant's usage cannot be read.
func SourceFailing(forDur time.Duration) AlertRule {
	return AlertRule{Name: "source_error", Severity: SeverityCritical, For: forDur, Condition: func(h Health) (bool, string) {
		return h.Error != "", h.Error
	}}
}

// DefaultAlertRules are: score below 70 for 10 minutes, error rate failing
// for 5 minutes, no active subscription (immediately), usage unreadable for
// 10 minutes.
func DefaultAlertRules() []AlertRule {
	return []AlertRule{
		ScoreBelow(70, 10*time.Minute),
		RuleFailing(CodeErrorRate, SeverityCritical, 5*time.Minute),
		RuleFailing(CodeSubscriptionInactive, SeverityCritical, 0),
		SourceFailing(10 * time.Minute),
	}
}

// Alert is one (tenant, rule) alert as notified and as listed.
type Alert struct {
	TenantID   tenant.ID  `json:"tenant_id"`
	TenantName string     `json:"tenant_name"`
	Rule       string     `json:"rule"`
	Severity   Severity   `json:"severity"`
	State      AlertState `json:"state"`
	Message    string     `json:"message"`
	ActiveAt   time.Time  `json:"active_at"`            // condition first seen
	FiredAt    time.Time  `json:"fired_at,omitzero"`    // became firing
	ResolvedAt time.Time  `json:"resolved_at,omitzero"` // cleared after firing
	Repeat     bool       `json:"repeat,omitempty"`     // a repeat notification of a firing alert
	NotifiedAt time.Time  `json:"notified_at,omitzero"` // last successful notification
}

// Notifier delivers alert notifications. Notify is called once when an alert
// fires, once per repeat interval while it fires, and once when it resolves;
// a failed call is retried at the next evaluation, never in a loop.
type Notifier interface {
	Notify(ctx context.Context, a Alert) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, a Alert) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, a Alert) error { return f(ctx, a) }

// SlogNotifier logs notifications: firing at Warn (Error when critical),
// resolved at Info. Its zero value (nil Logger) discards them. It is safe for
// concurrent use.
type SlogNotifier struct{ Logger *slog.Logger }

// Notify logs a.
func (n SlogNotifier) Notify(ctx context.Context, a Alert) error {
	lg := n.Logger
	if lg == nil {
		return nil
	}
	lvl := slog.LevelInfo
	if a.State == StateFiring {
		lvl = slog.LevelWarn
		if a.Severity == SeverityCritical {
			lvl = slog.LevelError
		}
	}
	lg.LogAttrs(ctx, lvl, "tenant alert "+string(a.State),
		slog.String("tenant_id", string(a.TenantID)), slog.String("rule", a.Rule),
		slog.String("severity", string(a.Severity)), slog.String("message", a.Message),
		slog.Bool("repeat", a.Repeat))
	return nil
}

// WebhookNotifier POSTs each notification as JSON (an Alert) to a URL, one
// attempt per call, bounded by its timeout. It is safe for concurrent use;
// build one with NewWebhookNotifier (the zero value is not usable).
type WebhookNotifier struct {
	url     string
	client  *http.Client
	timeout time.Duration
	header  http.Header
}

// WebhookOptions configures a WebhookNotifier. nil means defaults.
type WebhookOptions struct {
	// Client sends the requests. Default: a client with Timeout.
	Client *http.Client
	// Timeout bounds one delivery, whatever Client's own timeout. Default 5 s.
	Timeout time.Duration
	// Header is added to every request (e.g. Authorization); never logged.
	Header http.Header
}

var (
	_ Notifier = SlogNotifier{}
	_ Notifier = (*WebhookNotifier)(nil)
	_ Notifier = NotifierFunc(nil)
)

// ErrWebhook reports a webhook that did not accept a notification.
var ErrWebhook = errors.New("monitor: webhook delivery failed")

// NewWebhookNotifier returns a notifier for rawURL, which must be an absolute
// http or https URL.
func NewWebhookNotifier(rawURL string, opts *WebhookOptions) (*WebhookNotifier, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("monitor: webhook URL must be absolute http(s), got %q", redactURL(rawURL))
	}
	var o WebhookOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	return &WebhookNotifier{url: u.String(), client: o.Client, timeout: o.Timeout, header: o.Header.Clone()}, nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "<unparsable>"
}

// Notify POSTs a; any status outside 2xx is an ErrWebhook.
func (n *WebhookNotifier) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("monitor: webhook: encode alert: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("monitor: webhook: %w", err)
	}
	for k, v := range n.header {
		req.Header[k] = slices.Clone(v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWebhook, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: status %d", ErrWebhook, resp.StatusCode)
	}
	return nil
}

// AlerterOptions configures an Alerter. nil means defaults.
type AlerterOptions struct {
	// Interval between evaluations in Run. Default 1 minute.
	Interval time.Duration
	// RepeatInterval re-notifies a firing alert this often. Default 4 hours;
	// negative never repeats.
	RepeatInterval time.Duration
	// Notifier receives notifications. Default: none (alerts are only
	// listed by Active and Recent).
	Notifier Notifier
	// History is how many notified events Recent keeps. Default 500.
	History int
	// Logger receives evaluation and delivery failures. Default: discard.
	Logger *slog.Logger
}

// Alerter evaluates alert rules against every tenant's Health and notifies
// state changes, one notification per (tenant, rule) transition. It is safe
// for concurrent use (evaluations are serialised); build one with NewAlerter,
// the zero value is not usable. Alert state lives in memory: a restart
// forgets pending and firing alerts, which fire again if still true.
type Alerter struct {
	m     *Monitor
	rules []AlertRule
	o     AlerterOptions

	evalMu sync.Mutex // one evaluation at a time
	mu     sync.Mutex
	active map[alertKey]*Alert
	notify map[alertKey]bool // a transition waiting for a successful delivery
	recent []Alert
}

type alertKey struct {
	id   tenant.ID
	rule string
}

// ErrBadAlertRule reports an invalid alert rule.
var ErrBadAlertRule = errors.New("monitor: invalid alert rule")

// NewAlerter returns an Alerter for m with rules (nil: DefaultAlertRules).
func NewAlerter(m *Monitor, rules []AlertRule, opts *AlerterOptions) (*Alerter, error) {
	if m == nil {
		return nil, errors.New("monitor: NewAlerter with nil Monitor")
	}
	if rules == nil {
		rules = DefaultAlertRules()
	}
	seen := map[string]bool{}
	for i, r := range rules {
		if r.Name == "" || r.Condition == nil || r.For < 0 {
			return nil, fmt.Errorf("%w: rule %d (%q) needs a name, a condition and For ≥ 0", ErrBadAlertRule, i, r.Name)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("%w: duplicate name %q", ErrBadAlertRule, r.Name)
		}
		seen[r.Name] = true
	}
	var o AlerterOptions
	if opts != nil {
		o = *opts
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.RepeatInterval == 0 {
		o.RepeatInterval = 4 * time.Hour
	}
	if o.History <= 0 {
		o.History = 500
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Alerter{m: m, rules: slices.Clone(rules), o: o, active: map[alertKey]*Alert{}, notify: map[alertKey]bool{}}, nil
}

// Run evaluates every Interval until ctx is done, then returns ctx.Err(). It
// also sweeps the Monitor's Recorder. A failed evaluation (the Source cannot
// list tenants) is logged and retried at the next tick; it changes no alert.
func (a *Alerter) Run(ctx context.Context) error {
	t := time.NewTicker(a.o.Interval)
	defer t.Stop()
	for {
		if err := a.Evaluate(ctx); err != nil && ctx.Err() == nil {
			a.o.Logger.LogAttrs(ctx, slog.LevelWarn, "monitor alert evaluation failed", slog.String("error", err.Error()))
		}
		if rec := a.m.Recorder(); rec != nil {
			rec.Sweep()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Evaluate runs one evaluation: refresh every tenant's health, advance each
// (tenant, rule) alert, deliver notifications.
func (a *Alerter) Evaluate(ctx context.Context) error {
	a.evalMu.Lock()
	defer a.evalMu.Unlock()
	hs, err := a.m.Refresh(ctx)
	if err != nil {
		return err
	}
	now := a.m.Now()
	seen := map[alertKey]bool{}
	var out []Alert
	a.mu.Lock()
	for _, h := range hs {
		for _, r := range a.rules {
			k := alertKey{h.ID(), r.Name}
			on, msg := r.Condition(h)
			cur := a.active[k]
			if !on {
				if h.Error != "" && cur != nil && cur.State != StateResolved {
					// The tenant's usage could not be read: its condition is
					// unknown, not cleared. Hold the alert as it is.
					seen[k] = true
					if a.notify[k] {
						n := *cur
						n.Repeat = !cur.NotifiedAt.IsZero()
						out = append(out, n)
					}
				}
				continue
			}
			seen[k] = true
			if cur != nil && cur.State == StateResolved {
				// Active again before its resolution was delivered: a new alert.
				delete(a.notify, k)
				cur = nil
			}
			if cur == nil {
				cur = &Alert{TenantID: h.ID(), TenantName: h.Snapshot.Tenant.Name, Rule: r.Name, Severity: r.Severity, State: StatePending, ActiveAt: now}
				a.active[k] = cur
			}
			cur.Message = msg
			switch {
			case cur.State == StatePending && now.Sub(cur.ActiveAt) >= r.For:
				cur.State, cur.FiredAt = StateFiring, now
				a.notify[k] = true
			case cur.State == StateFiring && !a.notify[k] && a.o.RepeatInterval > 0 && now.Sub(cur.NotifiedAt) >= a.o.RepeatInterval:
				a.notify[k] = true
			}
			if a.notify[k] {
				n := *cur
				n.Repeat = !cur.NotifiedAt.IsZero()
				out = append(out, n)
			}
		}
	}
	for k, cur := range a.active {
		if seen[k] {
			continue
		}
		if cur.State == StateFiring {
			cur.State, cur.ResolvedAt = StateResolved, now
			a.notify[k] = true
			out = append(out, *cur)
		} else if cur.State == StateResolved && a.notify[k] {
			out = append(out, *cur) // a resolved notification still owed
		} else {
			delete(a.active, k)
			delete(a.notify, k)
		}
	}
	a.mu.Unlock()

	for _, al := range out {
		k := alertKey{al.TenantID, al.Rule}
		var err error
		if a.o.Notifier != nil {
			err = a.o.Notifier.Notify(ctx, al)
		}
		a.mu.Lock()
		if err != nil {
			a.o.Logger.LogAttrs(ctx, slog.LevelWarn, "monitor alert notification failed",
				slog.String("tenant_id", string(al.TenantID)), slog.String("rule", al.Rule), slog.String("error", err.Error()))
			a.mu.Unlock()
			continue
		}
		delete(a.notify, k)
		al.NotifiedAt = now
		if cur := a.active[k]; cur != nil {
			cur.NotifiedAt = now
			if cur.State == StateResolved {
				delete(a.active, k)
			}
		}
		a.recent = append(a.recent, al)
		if len(a.recent) > a.o.History {
			a.recent = slices.Delete(a.recent, 0, len(a.recent)-a.o.History)
		}
		a.mu.Unlock()
	}
	return nil
}

// Active returns the pending and firing alerts, most severe and oldest first.
func (a *Alerter) Active() []Alert {
	a.mu.Lock()
	out := []Alert{}
	for _, al := range a.active {
		if al.State != StateResolved {
			out = append(out, *al)
		}
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Alert) int {
		if c := sevRank(y.Severity) - sevRank(x.Severity); c != 0 {
			return c
		}
		if c := x.ActiveAt.Compare(y.ActiveAt); c != 0 {
			return c
		}
		return compareKey(x, y)
	})
	return out
}

// Recent returns the notified events, newest first; id filters to one tenant
// when not empty.
func (a *Alerter) Recent(id tenant.ID) []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []Alert{}
	for i := len(a.recent) - 1; i >= 0; i-- {
		if id == "" || a.recent[i].TenantID == id {
			out = append(out, a.recent[i])
		}
	}
	return out
}

func sevRank(s Severity) int {
	switch s {
	case SeverityCritical:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
}

func compareKey(x, y Alert) int {
	if x.TenantID != y.TenantID {
		if x.TenantID < y.TenantID {
			return -1
		}
		return 1
	}
	if x.Rule < y.Rule {
		return -1
	}
	if x.Rule > y.Rule {
		return 1
	}
	return 0
}
