// Command floornet is the floor binary of tkcli's latency benchmark (bench/latency.sh)
// with net/http linked in and nothing else changed: the difference to the floor is what
// merely linking net/http costs every start (with cgo enabled, the dynamic loader and cgo's
// runtime set-up too).
package main

import (
	"fmt"
	_ "net/http" // linked, never used: its start-up cost is what this binary measures
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: floornet FILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "floornet:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(data); err != nil {
		os.Exit(1)
	}
}
