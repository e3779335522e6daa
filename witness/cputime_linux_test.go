package witness_test

import "syscall"

// threadCPU returns the CPU time the calling thread has used, in nanoseconds.
func threadCPU() (int64, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_THREAD, &ru) != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
