package ai.parallax.kernels.simd;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of daemon threads that run one {@link ParallelTask} at a time, split into contiguous parts. The
 * calling thread runs part 0 itself, so a pool of {@code n} threads has {@code n - 1} workers.
 *
 * <p>A fork/join here must cost microseconds and allocate nothing, because a forward pass issues a few hundred
 * operations per token. Each worker therefore has its own mailbox (task, part count, a posted sequence number)
 * that only the caller writes, and only while that worker is idle; waiting is a short spin followed by a park, so
 * back-to-back operations never touch the scheduler while an idle engine sleeps. Wake-ups use the usual Dekker
 * pattern on volatile fields: the waiter publishes "parked" and re-checks the condition; the signaller publishes
 * the condition and then checks "parked".
 *
 * <p>Only one thread may call {@link #run} at a time; {@link SimdOps} serialises its operations.
 */
final class WorkerPool implements AutoCloseable {

    /** A piece of work that can be split into {@code parts} contiguous, independent parts. */
    interface ParallelTask {
        void run(int part, int parts);
    }

    /** How long an idle thread spins before parking: long enough to cover the gap between two operations. */
    private static final long SPIN_NANOS = 50_000;

    private final Worker[] workers;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile Thread parkedCaller;
    private volatile Throwable failure;
    private volatile boolean closed;

    WorkerPool(int threads, String namePrefix) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be at least 1, got " + threads);
        }
        workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Worker w = new Worker(i + 1);
            Thread t = new Thread(w, namePrefix + "-" + (i + 1));
            t.setDaemon(true);
            w.thread = t;
            workers[i] = w;
        }
        for (Worker w : workers) {
            w.thread.start();
        }
    }

    /** Number of threads that share a task, the caller included. */
    int size() {
        return workers.length + 1;
    }

    /** Thread ids of the workers (not the caller), for allocation accounting in tests. */
    long[] workerThreadIds() {
        long[] ids = new long[workers.length];
        for (int i = 0; i < workers.length; i++) {
            ids[i] = workers[i].thread.threadId();
        }
        return ids;
    }

    /**
     * Runs {@code task} split into {@code min(parts, size())} parts and returns when all are done. A failure in any
     * part is rethrown here after every part has finished.
     */
    void run(ParallelTask task, int parts) {
        if (closed) {
            throw new IllegalStateException("worker pool is closed");
        }
        int n = Math.min(parts, size());
        if (n <= 1) {
            task.run(0, 1);
            return;
        }
        failure = null;
        pending.set(n - 1);
        for (int i = 0; i < n - 1; i++) {
            workers[i].post(task, n);
        }
        Throwable callerFailure = null;
        try {
            task.run(0, n);
        } catch (Throwable e) {
            callerFailure = e;
        }
        awaitWorkers();
        Throwable workerFailure = failure;
        if (callerFailure != null || workerFailure != null) {
            failure = null;
            Throwable first = callerFailure != null ? callerFailure : workerFailure;
            if (first instanceof RuntimeException re) {
                throw re;
            }
            if (first instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException("parallel task failed", first);
        }
    }

    private void awaitWorkers() {
        long spinStart = 0;
        int spins = 0;
        while (pending.get() != 0) {
            if ((++spins & 255) != 0) {
                Thread.onSpinWait();
                continue;
            }
            long now = System.nanoTime();
            if (spinStart == 0) {
                spinStart = now;
            } else if (now - spinStart > SPIN_NANOS) {
                parkedCaller = Thread.currentThread();
                if (pending.get() != 0) {
                    LockSupport.park(this);
                }
                parkedCaller = null;
            }
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Worker w : workers) {
            w.post(null, 0);
        }
        for (Worker w : workers) {
            try {
                w.thread.join(1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private final class Worker implements Runnable {
        private final int part;
        private Thread thread;
        // Mailbox: written by the caller only while this worker is idle, published by the volatile write to posted.
        private ParallelTask task;
        private int parts;
        private volatile long posted;
        private volatile boolean parked;

        Worker(int part) {
            this.part = part;
        }

        void post(ParallelTask t, int n) {
            task = t;
            parts = n;
            posted = posted + 1;
            if (parked) {
                LockSupport.unpark(thread);
            }
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                seen = awaitPost(seen);
                if (closed) {
                    return;
                }
                try {
                    task.run(part, parts);
                } catch (Throwable e) {
                    if (failure == null) {
                        failure = e;
                    }
                }
                if (pending.decrementAndGet() == 0) {
                    Thread caller = parkedCaller;
                    if (caller != null) {
                        LockSupport.unpark(caller);
                    }
                }
            }
        }

        private long awaitPost(long seen) {
            long spinStart = 0;
            int spins = 0;
            long p;
            while ((p = posted) == seen) {
                if ((++spins & 255) != 0) {
                    Thread.onSpinWait();
                    continue;
                }
                long now = System.nanoTime();
                if (spinStart == 0) {
                    spinStart = now;
                } else if (now - spinStart > SPIN_NANOS) {
                    parked = true;
                    if (posted == seen) {
                        LockSupport.park(this);
                    }
                    parked = false;
                }
            }
            return p;
        }
    }
}
