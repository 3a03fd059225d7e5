// Command cobalt is Cobalt's single binary: `cobalt up` runs every service,
// and the other subcommands manage and use them in the style of the az CLI.
package main
