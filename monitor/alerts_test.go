package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recordingNotifier struct {
	mu   sync.Mutex
	got  []Alert
	fail bool
}

func (n *recordingNotifier) Notify(_ context.Context, a Alert) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail {
		return errors.New("unreachable")
	}
	n.got = append(n.got, a)
	return nil
}

func (n *recordingNotifier) alerts() []Alert {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Alert(nil), n.got...)
}

func alertFixture(t *testing.T) (*fakeClock, *fakeSource, *Monitor) {
	clk := newFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	src := newFakeSource()
	src.add("a", "Acme", activeUsage(clk.Now()))
	src.add("b", "Bravo", activeUsage(clk.Now()))
	return clk, src, New(src, nil, &Options{Now: clk.Now})
}

func setActive(src *fakeSource, id string, active bool) {
	src.mu.Lock()
	u := src.usage[tenantID(id)]
	u.Subscription.Active = active
	src.usage[tenantID(id)] = u
	src.mu.Unlock()
}

func TestAlertFiresOnceAndResolvesOnce(t *testing.T) {
	clk, src, m := alertFixture(t)
	n := &recordingNotifier{}
	rule := RuleFailing(CodeSubscriptionInactive, SeverityCritical, 2*time.Minute)
	al, err := NewAlerter(m, []AlertRule{rule}, &AlerterOptions{Notifier: n, RepeatInterval: time.Hour})
	require.NoError(t, err)

	setActive(src, "a", false)
	for i := range 3 {
		require.NoError(t, al.Evaluate(t.Context()))
		if i < 2 {
			require.Empty(t, n.alerts(), "pending for %d evaluation(s)", i+1)
			require.Equal(t, StatePending, al.Active()[0].State)
		}
		clk.Advance(time.Minute)
	}
	require.Len(t, n.alerts(), 1, "fired at the third evaluation")
	require.Equal(t, StateFiring, n.alerts()[0].State)
	require.Equal(t, tenantID("a"), n.alerts()[0].TenantID)
	// Still failing: no new notification within the repeat interval.
	for range 5 {
		require.NoError(t, al.Evaluate(t.Context()))
		clk.Advance(time.Minute)
	}
	require.Len(t, n.alerts(), 1)

	setActive(src, "a", true)
	require.NoError(t, al.Evaluate(t.Context()))
	require.NoError(t, al.Evaluate(t.Context()))
	got := n.alerts()
	require.Len(t, got, 2, "one resolved notification")
	require.Equal(t, StateResolved, got[1].State)
	require.Empty(t, al.Active())
	require.Len(t, al.Recent("a"), 2)
	require.Empty(t, al.Recent("b"))
}

func TestAlertRepeatIntervalAndPendingThatClears(t *testing.T) {
	clk, src, m := alertFixture(t)
	n := &recordingNotifier{}
	al, err := NewAlerter(m, []AlertRule{RuleFailing(CodeSubscriptionInactive, SeverityCritical, 0)},
		&AlerterOptions{Notifier: n, RepeatInterval: 30 * time.Minute})
	require.NoError(t, err)
	setActive(src, "b", false)
	require.NoError(t, al.Evaluate(t.Context()))
	require.Len(t, n.alerts(), 1, "For 0 fires at once")
	clk.Advance(29 * time.Minute)
	require.NoError(t, al.Evaluate(t.Context()))
	require.Len(t, n.alerts(), 1)
	clk.Advance(time.Minute)
	require.NoError(t, al.Evaluate(t.Context()))
	require.Len(t, n.alerts(), 2)
	require.True(t, n.alerts()[1].Repeat)

	// A pending alert that clears before firing notifies nothing.
	al2, _ := NewAlerter(m, []AlertRule{RuleFailing(CodeSubscriptionInactive, SeverityCritical, time.Hour)}, &AlerterOptions{Notifier: n})
	before := len(n.alerts())
	require.NoError(t, al2.Evaluate(t.Context()))
	setActive(src, "b", true)
	require.NoError(t, al2.Evaluate(t.Context()))
	require.Len(t, n.alerts(), before)
	require.Empty(t, al2.Active())
}

func TestAlertFailedDeliveryRetriedNextEvaluation(t *testing.T) {
	_, src, m := alertFixture(t)
	n := &recordingNotifier{fail: true}
	al, _ := NewAlerter(m, []AlertRule{RuleFailing(CodeSubscriptionInactive, SeverityCritical, 0)}, &AlerterOptions{Notifier: n})
	setActive(src, "a", false)
	require.NoError(t, al.Evaluate(t.Context()))
	require.Empty(t, n.alerts())
	n.mu.Lock()
	n.fail = false
	n.mu.Unlock()
	require.NoError(t, al.Evaluate(t.Context()))
	require.Len(t, n.alerts(), 1)
	require.False(t, n.alerts()[0].Repeat)
	require.NoError(t, al.Evaluate(t.Context()))
	require.Len(t, n.alerts(), 1)
}

func TestAlerterRejectsBadRules(t *testing.T) {
	_, _, m := alertFixture(t)
	_, err := NewAlerter(m, []AlertRule{{Name: "x"}}, nil)
	require.ErrorIs(t, err, ErrBadAlertRule)
	r := ScoreBelow(50, 0)
	_, err = NewAlerter(m, []AlertRule{r, r}, nil)
	require.ErrorIs(t, err, ErrBadAlertRule)
}

func TestAlerterRunStopsOnCancel(t *testing.T) {
	_, src, m := alertFixture(t)
	n := &recordingNotifier{}
	setActive(src, "a", false)
	al, _ := NewAlerter(m, nil, &AlerterOptions{Notifier: n, Interval: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- al.Run(ctx) }()
	require.Eventually(t, func() bool { return len(n.alerts()) >= 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Len(t, n.alerts(), 1, "subscription_inactive fires once, however many ticks")
}

func TestWebhookNotifier(t *testing.T) {
	var mu sync.Mutex
	var bodies []Alert
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		var a Alert
		b, _ := io.ReadAll(r.Body)
		assert.NoError(t, json.Unmarshal(b, &a))
		mu.Lock()
		bodies = append(bodies, a)
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		if a.TenantID == "fail" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	wh, err := NewWebhookNotifier(srv.URL+"/hook", &WebhookOptions{Header: http.Header{"Authorization": {"Bearer s3cret"}}})
	require.NoError(t, err)
	require.NoError(t, wh.Notify(t.Context(), Alert{TenantID: "a", Rule: "r", State: StateFiring}))
	require.ErrorIs(t, wh.Notify(t.Context(), Alert{TenantID: "fail"}), ErrWebhook)
	require.Len(t, bodies, 2)
	require.Equal(t, StateFiring, bodies[0].State)
	require.Equal(t, "Bearer s3cret", auth[0])

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	wh2, _ := NewWebhookNotifier(slow.URL, &WebhookOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	require.ErrorIs(t, wh2.Notify(t.Context(), Alert{}), ErrWebhook)
	require.Less(t, time.Since(start), 3*time.Second, "the timeout bounds a delivery")
	wh3, _ := NewWebhookNotifier(slow.URL, &WebhookOptions{Client: &http.Client{}, Timeout: 50 * time.Millisecond})
	start = time.Now()
	require.ErrorIs(t, wh3.Notify(t.Context(), Alert{}), ErrWebhook)
	require.Less(t, time.Since(start), 3*time.Second, "the timeout bounds a delivery with a client that has none")

	for _, bad := range []string{"", "ftp://x", "/relative", "http://"} {
		_, err := NewWebhookNotifier(bad, nil)
		require.Error(t, err, bad)
	}
	_, err = NewWebhookNotifier("ht tp://user:pw@x", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "pw")
}

func TestSlogNotifier(t *testing.T) {
	var buf bytes.Buffer
	n := SlogNotifier{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	require.NoError(t, n.Notify(t.Context(), Alert{TenantID: "a", Rule: "r", State: StateFiring, Severity: SeverityCritical}))
	require.Contains(t, buf.String(), `"level":"ERROR"`)
	require.Contains(t, buf.String(), `"tenant_id":"a"`)
	require.NoError(t, SlogNotifier{}.Notify(t.Context(), Alert{}))
}
