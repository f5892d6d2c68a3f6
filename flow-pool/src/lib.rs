//! Executors for flows: a bounded thread pool, fork/exec worker processes and external
//! commands in their own process groups, with timeouts and cancellation that really end the work.
