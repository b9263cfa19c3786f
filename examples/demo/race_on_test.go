//go:build race

package main

// raceEnabled reports a -race build, where generating the large seed plan
// takes too long for the CI budget.
const raceEnabled = true
