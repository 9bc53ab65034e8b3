"""sgdsync result readers, analysis and reports (format version 1, see results/README.md)."""

FORMAT_VERSION = 1
OUTCOMES = ("converged", "not-converged", "diverged", "crashed", "timeout")
METHODS = ("sync", "mutex", "rwlock", "hogwild", "leashed")
