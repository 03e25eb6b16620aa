package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"
)

// A CPU burner: a separate process spinning on one core, started and
// killed by the benchmark, so a phase can be measured with one of the
// machine's cores taken by other work (the contended phase of
// decision_cache). It is this program run again with burnEnv set: it spins
// on one thread until killed, and exits on its own after the given number
// of seconds, or when its parent dies, whatever happens to the benchmark.
const burnEnv = "NEXUS_BENCH_BURN_SECONDS"

// burnIfAsked spins and exits if this process is a burner; it returns
// otherwise.
func burnIfAsked() {
	v := os.Getenv(burnEnv)
	if v == "" {
		return
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs <= 0 {
		fmt.Fprintf(os.Stderr, "bench burner: %s=%q is not a positive number of seconds\n", burnEnv, v)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	parent := os.Getppid()
	for n := 0; ; n++ {
		if n%(1<<22) == 0 {
			if time.Now().After(end) || os.Getppid() != parent {
				os.Exit(0)
			}
		}
	}
}

// burner is a running burner process.
type burner struct{ cmd *exec.Cmd }

// startBurner starts a process that takes one core for at most max.
func startBurner(max time.Duration) (*burner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("burner: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%.3f", burnEnv, max.Seconds()))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("burner: %w", err)
	}
	return &burner{cmd: cmd}, nil
}

// stop kills the burner and waits for it.
func (b *burner) stop() {
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
}
