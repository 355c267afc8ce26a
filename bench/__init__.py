"""pgext benchmarks: several implementations of one job, timed side by side."""
