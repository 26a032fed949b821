package ai.parallax.models.qwen3next;

/**
 * The gated delta rule of Gated DeltaNet (Yang, Kautz, Hatamizadeh, arXiv:2412.06464) for one head: a state
 * {@code S} of {@code [keyDim, valueDim]} that, for each token t with log-decay {@code g_t ≤ 0} and write strength
 * {@code beta_t},
 *
 * <pre>
 * S ← S · exp(g_t);   u_t = beta_t · (v_t − Sᵀk_t);   S ← S + k_t u_tᵀ;   o_t = Sᵀq_t
 * </pre>
 *
 * Two forms compute it. {@link #recurrent} takes the tokens one at a time (decode). {@link #chunked} (prefill) takes
 * up to {@link #CHUNK} tokens at once: with {@code G_t = Σ_{j≤t} g_j} inside the chunk and {@code S₀} the state
 * before it, unrolling the recurrence gives
 *
 * <pre>
 * u_t = beta_t · (v_t − exp(G_t) S₀ᵀk_t − Σ_{j&lt;t} exp(G_t − G_j)(k_t·k_j) u_j)     (a unit-triangular solve)
 * o_t = exp(G_t) S₀ᵀq_t + Σ_{j≤t} exp(G_t − G_j)(q_t·k_j) u_j
 * S   = exp(G_last) S₀ + Σ_j exp(G_last − G_j) k_j u_jᵀ
 * </pre>
 *
 * so the state is read and written once per chunk instead of once per token. Every factor {@code exp(G_t − G_j)}
 * with {@code j ≤ t} is at most 1, so the form is as stable as the recurrence.
 *
 * <p>Arrays are row-major: q and k rows of {@code keyDim}, v, u and o rows of {@code valueDim}; the caller has
 * already l2-normalised q and k and scaled q. An instance owns the scratch of one chunk; it allocates nothing per
 * call.
 *
 * <p>Exponentials use {@link StrictMath}: {@link Math#exp} may differ by an ulp between interpreted and compiled
 * code, and a model split into stages must reproduce the whole model bit for bit.
 */
final class GatedDeltaRule {
    /** Tokens per chunk of the chunked form, as in the Hugging Face and flash-linear-attention kernels. */
    static final int CHUNK = 64;

    private final int keyDim;
    private final int valueDim;
    private final float[] decay = new float[CHUNK];        // G_t, the cumulative log-decay inside the chunk
    private final float[] keyKey = new float[CHUNK * CHUNK];      // k_t · k_j
    private final float[] queryKey = new float[CHUNK * CHUNK];    // q_t · k_j
    private final float[] keysTransposed;                         // [keyDim, CHUNK]
    private final float[] writes;                          // u, [CHUNK, valueDim]
    private final float[] column = new float[CHUNK];

    GatedDeltaRule(int keyDim, int valueDim) {
        this.keyDim = keyDim;
        this.valueDim = valueDim;
        this.writes = new float[CHUNK * valueDim];
        this.keysTransposed = new float[keyDim * CHUNK];
    }

    /**
     * Runs {@code n} tokens one at a time, reading and updating {@code state} (at {@code so}); writes o into
     * {@code out}.
     */
    void recurrent(int n, float[] q, float[] k, float[] v, float[] g, float[] beta, float[] state, int so,
                   float[] out) {
        float[] u = writes;
        for (int t = 0; t < n; t++) {
            float eg = (float) StrictMath.exp(g[t]);
            int kt = t * keyDim;
            for (int j = 0; j < valueDim; j++) {
                u[j] = 0f;
            }
            for (int i = 0; i < keyDim; i++) {
                int row = so + i * valueDim;
                float ki = k[kt + i];
                for (int j = 0; j < valueDim; j++) {
                    float s = state[row + j] * eg;
                    state[row + j] = s;
                    u[j] += s * ki;
                }
            }
            int vt = t * valueDim;
            for (int j = 0; j < valueDim; j++) {
                u[j] = beta[t] * (v[vt + j] - u[j]);
                out[vt + j] = 0f;
            }
            for (int i = 0; i < keyDim; i++) {
                int row = so + i * valueDim;
                float ki = k[kt + i];
                float qi = q[kt + i];
                for (int j = 0; j < valueDim; j++) {
                    float s = state[row + j] + ki * u[j];
                    state[row + j] = s;
                    out[vt + j] += s * qi;
                }
            }
        }
    }

    /** Runs {@code n} tokens chunk by chunk, with the same contract as {@link #recurrent}. */
    void chunked(int n, float[] q, float[] k, float[] v, float[] g, float[] beta, float[] state, int so,
                 float[] out) {
        for (int start = 0; start < n; start += CHUNK) {
            chunk(start, Math.min(CHUNK, n - start), q, k, v, g, beta, state, so, out);
        }
    }

    private void chunk(int start, int c, float[] q, float[] k, float[] v, float[] g, float[] beta, float[] state,
                       int so, float[] out) {
        float cumulative = 0f;
        for (int t = 0; t < c; t++) {
            cumulative += g[start + t];
            decay[t] = cumulative;
        }
        // The chunk's dot products k_t·k_j and q_t·k_j, against transposed keys so that the inner loop runs over
        // contiguous j (a reduction over i would not vectorise: float addition order is fixed in Java).
        for (int t = 0; t < c; t++) {
            int kt = (start + t) * keyDim;
            for (int i = 0; i < keyDim; i++) {
                keysTransposed[i * CHUNK + t] = k[kt + i];
            }
        }
        for (int t = 0; t < c; t++) {
            int row = t * CHUNK;
            int kt = (start + t) * keyDim;
            for (int j = 0; j < c; j++) {
                keyKey[row + j] = 0f;
                queryKey[row + j] = 0f;
            }
            for (int i = 0; i < keyDim; i++) {
                float ki = k[kt + i];
                float qi = q[kt + i];
                int col = i * CHUNK;
                for (int j = 0; j < c; j++) {
                    keyKey[row + j] += ki * keysTransposed[col + j];
                    queryKey[row + j] += qi * keysTransposed[col + j];
                }
            }
        }
        // u_t by forward substitution, and o_t from S₀ and the writes so far.
        float[] u = writes;
        for (int t = 0; t < c; t++) {
            float eg = (float) StrictMath.exp(decay[t]);
            int kt = (start + t) * keyDim;
            int vt = (start + t) * valueDim;
            int ut = t * valueDim;
            for (int j = 0; j < valueDim; j++) {
                u[ut + j] = 0f;
                out[vt + j] = 0f;
            }
            for (int i = 0; i < keyDim; i++) {
                int row = so + i * valueDim;
                float ki = k[kt + i] * eg;
                float qi = q[kt + i] * eg;
                for (int j = 0; j < valueDim; j++) {
                    u[ut + j] += state[row + j] * ki;
                    out[vt + j] += state[row + j] * qi;
                }
            }
            for (int j = 0; j < t; j++) {
                column[j] = (float) StrictMath.exp(decay[t] - decay[j]);
                float w = column[j] * keyKey[t * CHUNK + j];
                int uj = j * valueDim;
                for (int x = 0; x < valueDim; x++) {
                    u[ut + x] += w * u[uj + x];
                }
            }
            float b = beta[start + t];
            for (int x = 0; x < valueDim; x++) {
                u[ut + x] = b * (v[vt + x] - u[ut + x]);
            }
            column[t] = 1f;
            for (int j = 0; j <= t; j++) {
                float w = column[j] * queryKey[t * CHUNK + j];
                int uj = j * valueDim;
                for (int x = 0; x < valueDim; x++) {
                    out[vt + x] += w * u[uj + x];
                }
            }
        }
        // S = exp(G_last) S₀ + Σ_j exp(G_last − G_j) k_j u_jᵀ.
        float last = decay[c - 1];
        float egLast = (float) StrictMath.exp(last);
        for (int j = 0; j < c; j++) {
            column[j] = (float) StrictMath.exp(last - decay[j]);
        }
        for (int i = 0; i < keyDim; i++) {
            int row = so + i * valueDim;
            for (int x = 0; x < valueDim; x++) {
                state[row + x] *= egLast;
            }
            for (int j = 0; j < c; j++) {
                float w = column[j] * k[(start + j) * keyDim + i];
                int uj = j * valueDim;
                for (int x = 0; x < valueDim; x++) {
                    state[row + x] += w * u[uj + x];
                }
            }
        }
    }
}
