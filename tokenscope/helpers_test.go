package tokenscope_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tenantkit/tenantkit/tokenscope"
)

// fakeVerifier knows a fixed set of credentials. "broken" stands for a
// verifier whose backend is down.
type fakeVerifier struct {
	mu     sync.Mutex
	tokens map[tokenscope.Secret]tokenscope.Token
	calls  int
}

func newFakeVerifier() *fakeVerifier {
	return &fakeVerifier{tokens: map[tokenscope.Secret]tokenscope.Token{}}
}

func (f *fakeVerifier) add(cred string, tok tokenscope.Token) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[tokenscope.Secret(cred)] = tok
}

func (f *fakeVerifier) Verify(_ context.Context, c tokenscope.Secret) (tokenscope.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if c == "broken" {
		return tokenscope.Token{}, fmt.Errorf("fake: connection refused")
	}
	tok, ok := f.tokens[c]
	if !ok {
		return tokenscope.Token{}, fmt.Errorf("fake: %w", tokenscope.ErrInvalidToken)
	}
	return tok, nil
}

func (f *fakeVerifier) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// logCapture is a JSON slog handler writing into memory, at debug level, so
// every record any code under test emits can be searched for secrets.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logCapture) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

// requireNoSecret fails if any captured line contains any of the secrets
// (each whole, and its secret half after '|' when it has one).
func (l *logCapture) requireNoSecret(t *testing.T, secrets ...string) {
	t.Helper()
	for _, line := range l.lines() {
		for _, s := range secrets {
			require.NotContains(t, line, s, "a log line contains a credential")
			if _, half, ok := strings.Cut(s, "|"); ok {
				require.NotContains(t, line, half, "a log line contains a token secret")
			}
		}
	}
}

// clock is an injected, settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
