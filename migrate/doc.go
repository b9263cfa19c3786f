// Package migrate checks tenant integrity around every migration step.
package migrate
