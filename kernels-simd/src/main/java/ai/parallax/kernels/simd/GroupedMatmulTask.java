package ai.parallax.kernels.simd;

import ai.parallax.tensors.Tensor;

/**
 * {@link SimdOps#matmuls}: independent products {@code out[g] = x[g] · w[g]ᵀ} (float or block-scaled FP8 weights),
 * the groups cut into one contiguous range per thread. Each group is small (one attention head's matrix), so a thread runs its groups one after another
 * with the ordinary single-threaded kernel rather than splitting each one.
 */
final class GroupedMatmulTask implements WorkerPool.ParallelTask {
    private final SimdOps.MatmulTask[] perPart;
    private final Fp8MatmulKernels.Task[] fp8PerPart;
    private Tensor[] x;
    private Tensor[] w;
    private Tensor[] out;

    GroupedMatmulTask(int threads) {
        perPart = new SimdOps.MatmulTask[threads];
        fp8PerPart = new Fp8MatmulKernels.Task[threads];
        for (int p = 0; p < threads; p++) {
            perPart[p] = new SimdOps.MatmulTask(1);
            fp8PerPart[p] = new Fp8MatmulKernels.Task(1);
        }
    }

    void set(Tensor[] x, Tensor[] w, Tensor[] out) {
        this.x = x;
        this.w = w;
        this.out = out;
    }

    void clear() {
        set(null, null, null);
    }

    @Override
    public void run(int part, int parts) {
        int from = SimdOps.split(w.length, part, parts);
        int to = SimdOps.split(w.length, part + 1, parts);
        SimdOps.MatmulTask task = perPart[part];
        Fp8MatmulKernels.Task fp8 = fp8PerPart[part];
        for (int g = from; g < to; g++) {
            int tokens = (int) x[g].rowCount();
            int n = (int) w[g].rowCount();
            int k = (int) w[g].rowLength();
            if (Fp8MatmulKernels.isFp8(w[g].dtype())) {
                fp8.set(x[g].data(), w[g].data(), w[g].dtype(), w[g].blockScales(), null, null, out[g].data(),
                        tokens, n, k);
                fp8.run(0, 1);
            } else {
                task.set(x[g].data(), w[g].data(), w[g].dtype(), null, null, out[g].data(), tokens, n, k);
                task.run(0, 1);
            }
        }
        task.clear();
        fp8.clear();
    }
}
