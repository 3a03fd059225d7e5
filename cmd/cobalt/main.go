package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cobaltbatch/cobalt/internal/cli"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

func main() {
	sandbox.Main() // a node sandbox's init: runs the node and exits
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
