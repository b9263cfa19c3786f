//go:build !unix

package tenant

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
