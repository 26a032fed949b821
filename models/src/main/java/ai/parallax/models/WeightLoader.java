package ai.parallax.models;

import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
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
        this.checkpoint = checkpoint;
        this.quantization = quantization;
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
        long done = 0;
        progress.update(0, bytesLoaded);
        for (Tensor t : handedOut) {
            if (t.data().isMapped()) {
                t.data().load();
            }
            done += t.byteSize();
            progress.update(done, bytesLoaded);
        }
    }

    /** Unmaps the checkpoint: every tensor handed out becomes invalid. */
    @Override
    public void close() {
        checkpoint.close();
    }

    /** Bytes of every tensor handed out so far: the weight memory of this stage. */
    public long bytesLoaded() {
        return bytesLoaded;
    }
}
