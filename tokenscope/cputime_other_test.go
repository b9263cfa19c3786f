//go:build !unix

package tokenscope_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
