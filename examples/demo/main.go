package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand. Engineers adding a command (token, check,
// migrate, backup, restore, health) write a func that returns a command in
// their own file and add one line to commands().
type command struct {
	Name    string
	Summary string
	// Run executes the command with the arguments after its name. A
	// *usageError (see usagef) exits with status 2, any other error with 1.
	Run func(ctx context.Context, env *env, args []string) error
}

// env is what a command may use of the process.
type env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// commands is the subcommand table. The first one is the default.
func commands() []command {
	return []command{
		serveCommand(),
		seedCommand(),
		tokenCommand(),   // tokenscope: issue and revoke API tokens
		checkCommand(),   // migrate: tenant integrity checks
		migrateCommand(), // migrate: run migrations with pre/post checks
		backupCommand(),  // backup: export one tenant
		restoreCommand(), // backup: validate and restore one tenant
		healthCommand(),  // monitor: tenant health scores
	}
}

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errHelp is returned after --help was printed: exit status 0.
var errHelp = flag.ErrHelp

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit status: 0 on
// success and after --help, 2 for bad usage, 1 for any other failure.
func run(ctx context.Context, e *env, args []string) int {
	cmds := commands()
	cmd := cmds[0]
	rest := args
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "-help" || a == "--help" || a == "help":
			printUsage(e.Stdout, cmds)
			return 0
		case strings.HasPrefix(a, "-"):
			// flags of the default command
		default:
			found := false
			for _, c := range cmds {
				if c.Name == a {
					cmd, rest, found = c, args[1:], true
					break
				}
			}
			if !found {
				fmt.Fprintf(e.Stderr, "demo: unknown command %q\n\n", a)
				printUsage(e.Stderr, cmds)
				return 2
			}
		}
	}
	err := cmd.Run(ctx, e, rest)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.Stderr, "demo %s: %v\nRun 'demo %s --help' for usage.\n", cmd.Name, err, cmd.Name)
		return 2
	default:
		fmt.Fprintf(e.Stderr, "demo %s: %v\n", cmd.Name, err)
		return 1
	}
}

func printUsage(w io.Writer, cmds []command) {
	fmt.Fprintf(w, "Usage: demo [command] [flags]\n\nThe tenantkit demo: a multi-tenant utility-billing API.\n\nCommands:\n")
	for i, c := range cmds {
		def := ""
		if i == 0 {
			def = " (default)"
		}
		fmt.Fprintf(w, "  %-10s %s%s\n", c.Name, c.Summary, def)
	}
	fmt.Fprintf(w, "\nRun 'demo <command> --help' for the flags of a command.\n")
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints its usage to e.Stdout on --help.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	printed := false // Parse prints it on --help, and so does the caller that gets ErrHelp
	fs.Usage = func() {
		if printed {
			return
		}
		printed = true
		fmt.Fprintf(e.Stdout, "Usage: demo %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.SetOutput(e.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args into fs: --help prints usage and returns errHelp,
// a bad flag or a stray argument is a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseOnly(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseFlagsArg is parseFlags for a command that takes one positional
// argument, before or after the flags. It returns "" when none is given; a
// second one is a usage error.
func parseFlagsArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := parseOnly(fs, args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if arg == "" && len(rest) > 0 {
		arg, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return "", usagef("unexpected argument %q", rest[0])
	}
	return arg, nil
}

func parseOnly(fs *flag.FlagSet, args []string) error {
	if err := parseQuiet(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return errHelp
		}
		return usagef("%v", err)
	}
	return nil
}

// parseQuiet is fs.Parse without its call of fs.Usage on a bad flag: the
// usage goes to standard output on --help only (the caller prints it on
// flag.ErrHelp), and a bad flag is one error line on standard error.
func parseQuiet(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	return fs.Parse(args)
}
