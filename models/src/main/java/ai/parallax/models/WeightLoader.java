package ai.parallax.models;

import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.tensors.BlockScales;
import ai.parallax.models.quant.Q8Store;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.quant.Q8Weights;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.Checkpoint;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;

/**
 * Takes tensors out of a checkpoint by name and checks each against the shape the config implies, so a wrong or
 * missing tensor fails at load time with its name, not later as garbage logits. The model that used it owns it and
 * closes it, which unmaps the weights.
 */
public final class WeightLoader implements AutoCloseable {
    private static final Set<DType> FLOAT_WEIGHTS = EnumSet.of(DType.F32, DType.BF16, DType.F16);

    private final Checkpoint checkpoint;
    private final Fp8Quantization quantization;
    private final java.util.List<Tensor> handedOut = new java.util.ArrayList<>();
    private long bytesLoaded;

    public WeightLoader(Checkpoint checkpoint) {
        this(checkpoint, null);
    }

    /**
     * A loader for a checkpoint whose FP8 weights follow {@code quantization} (null for an unquantised one): each
     * FP8 weight comes with its block scales attached.
     */
    public WeightLoader(Checkpoint checkpoint, Fp8Quantization quantization) {
        this(checkpoint, quantization, WeightQuantization.NONE);
    }

    /**
     * As {@link #WeightLoader(Checkpoint, Fp8Quantization)}; with {@link WeightQuantization#Q8}, every linear-layer
     * matrix ({@code *_proj.weight}, {@code lm_head.weight}) in a float dtype is handed out as Q8, taken from the
     * copy saved beside the model when there is a current one, else converted now (see {@link #saveQuantized}).
     */
    public WeightLoader(Checkpoint checkpoint, Fp8Quantization quantization, WeightQuantization conversion) {
        this.checkpoint = checkpoint;
        this.quantization = quantization;
        this.q8Store = conversion == WeightQuantization.Q8 ? Q8Store.of(checkpoint) : null;
    }

    private final Q8Store q8Store;
    private final Arena q8Arena = Arena.ofShared();
    /** Every Q8 weight handed out, by name. */
    private final Map<String, Tensor> q8Weights = new LinkedHashMap<>();
    /** Those converted by this loader rather than mapped from a saved copy: what {@link #saveQuantized} writes. */
    private final Map<String, Tensor> converted = new LinkedHashMap<>();

    /**
     * The form in which a linear layer multiplies by {@code weight}: the weight itself, or its Q8 form when this
     * loader converts. A tied lm_head goes through here, so its Q8 copy is made while the embedding lookup keeps
     * reading the original table.
     */
    public Tensor linear(Tensor weight, String linearName) {
        if (q8Store == null || !Q8Weights.canQuantize(weight) || weight.dim(1) < Q8Weights.BLOCK) {
            return weight;
        }
        Tensor existing = q8Weights.get(linearName);
        if (existing != null) {
            return existing;
        }
        Tensor q8 = q8Store.find(linearName, weight.dim(0), weight.dim(1));
        if (q8 == null) {
            q8 = Q8Weights.quantize(weight, q8Arena);
            q8 = new Tensor(linearName, DType.I8, q8.shape(), q8.data()).withBlockScales(q8.blockScales());
            converted.put(linearName, q8);
        }
        q8Weights.put(linearName, q8);
        bytesLoaded += Q8Weights.byteSize(q8);
        handedOut.add(q8);
        return q8;
    }

    /**
     * Saves the weights this loader converted as the model's Q8 copy, when there was no current one; returns where,
     * or null when nothing needed saving.
     *
     * @throws IOException when the copy cannot be written (a read-only model directory, a full disk)
     */
    public Path saveQuantized() throws IOException {
        if (q8Store == null || converted.isEmpty() || q8Store.isSaved()) {
            return null;
        }
        q8Store.save(converted.values());
        return q8Store.file();
    }

    private static boolean isLinear(String name) {
        // Experts are left as stored: the MoE kernels route rows of float or FP8 weights.
        return (name.endsWith("_proj.weight") && !name.contains(".experts.")) || name.equals("lm_head.weight");
    }

    /**
     * A required tensor of exactly this shape, in a float dtype the kernels read. In an FP8 checkpoint a matrix
     * may be FP8; it then carries its {@code _scale_inv} block scales, checked against the weight's shape.
     */
    public Tensor require(String name, long... shape) {
        if (!checkpoint.contains(name)) {
            throw new ModelException(checkpoint.directory() + ": missing tensor '" + name + "' (expected shape "
                    + Arrays.toString(shape) + ")");
        }
        Tensor t = checkpoint.tensor(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new ModelException(checkpoint.directory() + ": tensor '" + name + "' has shape "
                    + Arrays.toString(t.shape()) + " but the config implies " + Arrays.toString(shape));
        }
        boolean fp8 = t.dtype() == DType.F8_E4M3 || t.dtype() == DType.F8_E5M2;
        if (!FLOAT_WEIGHTS.contains(t.dtype()) && !fp8) {
            throw new ModelException(checkpoint.directory() + ": tensor '" + name + "' has dtype " + t.dtype()
                    + "; supported weight dtypes: " + FLOAT_WEIGHTS + ", and FP8 with block scales");
        }
        if (q8Store != null && isLinear(name) && Q8Weights.canQuantize(t)) {
            return linear(t, name);
        }
        Tensor scales = null;
        if (fp8) {
            scales = requireScales(t);
            t = t.withBlockScales(new BlockScales(scales, quantization.blockRows(), quantization.blockCols()));
        }
        if (handedOut.stream().noneMatch(h -> h.name().equals(name))) {
            bytesLoaded += t.byteSize() + (scales == null ? 0 : scales.byteSize());
            handedOut.add(t);
            if (scales != null) {
                handedOut.add(scales);
            }
        }
        return t;
    }

    private Tensor requireScales(Tensor weight) {
        String name = weight.name();
        if (quantization == null) {
            throw new ModelException(checkpoint.directory() + ": tensor '" + name + "' is " + weight.dtype()
                    + " but config.json has no quantization_config describing its scales");
        }
        if (weight.dtype() != quantization.weightDtype()) {
            throw new ModelException(checkpoint.directory() + ": tensor '" + name + "' is " + weight.dtype()
                    + " but quantization_config.fmt says " + quantization.weightDtype());
        }
        if (weight.rank() != 2) {
            throw new ModelException(checkpoint.directory() + ": tensor '" + name + "' is " + weight.dtype()
                    + " of shape " + Arrays.toString(weight.shape()) + "; only matrices may be FP8");
        }
        String scaleName = name + Fp8Quantization.SCALE_SUFFIX;
        long[] expected = BlockScales.expectedShape(weight.dim(0), weight.dim(1), quantization.blockRows(),
                quantization.blockCols());
        if (!checkpoint.contains(scaleName)) {
            throw new ModelException(checkpoint.directory() + ": FP8 tensor '" + name + "' has no scale tensor '"
                    + scaleName + "' (expected " + Arrays.toString(expected) + " F32 or BF16)");
        }
        Tensor scales = checkpoint.tensor(scaleName);
        if (scales.dtype() != DType.F32 && scales.dtype() != DType.BF16) {
            throw new ModelException(checkpoint.directory() + ": scale tensor '" + scaleName + "' has dtype "
                    + scales.dtype() + "; supported: F32, BF16");
        }
        if (!Arrays.equals(scales.shape(), expected)) {
            throw new ModelException(checkpoint.directory() + ": scale tensor '" + scaleName + "' has shape "
                    + Arrays.toString(scales.shape()) + " but " + Arrays.toString(weight.shape())
                    + " in blocks of [" + quantization.blockRows() + ", " + quantization.blockCols() + "] needs "
                    + Arrays.toString(expected));
        }
        return scales;
    }

    /**
     * A required U8 tensor of exactly this shape: the packed codes or the scales of a weight in a byte-level format
     * such as MXFP4, which the caller interprets.
     */
    public Tensor requireBytes(String name, long... shape) {
        if (!checkpoint.contains(name)) {
            throw new ModelException(checkpoint.directory() + ": missing tensor '" + name + "' (expected U8 "
                    + Arrays.toString(shape) + ")");
        }
        Tensor t = checkpoint.tensor(name);
        if (t.dtype() != DType.U8 || !Arrays.equals(t.shape(), shape)) {
            throw new ModelException(checkpoint.directory() + ": tensor '" + name + "' is " + t.dtype() + " "
                    + Arrays.toString(t.shape()) + " but the config implies U8 " + Arrays.toString(shape));
        }
        if (handedOut.stream().noneMatch(h -> h.name().equals(name))) {
            bytesLoaded += t.byteSize();
            handedOut.add(t);
        }
        return t;
    }

    /** The tensor when {@code present}, else null; a present flag with a missing tensor is an error. */
    public Tensor requireIf(boolean present, String name, long... shape) {
        return present ? require(name, shape) : null;
    }

    public boolean contains(String name) {
        return checkpoint.contains(name);
    }

    /**
     * Pages every tensor handed out into memory now, rather than on first use, reporting progress: the first token
     * of a large model then does not wait on the disk. Only this stage's tensors are read.
     */
    public void prefetch(LoadProgress progress) {
        prefetch(progress, t -> {
        });
    }

    /**
     * As {@link #prefetch(LoadProgress)}, and hands each tensor, once paged in, to {@code prepare}: a GPU backend
     * uploads it there ({@link ai.parallax.tensors.ops.Ops#prepareWeight}), so the progress covers the upload too.
     */
    public void prefetch(LoadProgress progress, java.util.function.Consumer<Tensor> prepare) {
        long done = 0;
        progress.update(0, bytesLoaded);
        for (Tensor t : handedOut) {
            if (t.data().isMapped()) {
                t.data().load();
            }
            prepare.accept(t);
            done += t.byteSize();
            progress.update(done, bytesLoaded);
        }
    }

    /** Unmaps the checkpoint: every tensor handed out becomes invalid. */
    @Override
    public void close() {
        checkpoint.close();
        if (q8Store != null) {
            q8Store.close();
        }
        q8Arena.close();
    }

    /** Bytes of every tensor handed out so far: the weight memory of this stage. */
    public long bytesLoaded() {
        return bytesLoaded;
    }
}
