package ai.parallax.models;

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
    private final java.util.List<Tensor> handedOut = new java.util.ArrayList<>();
    private long bytesLoaded;

    public WeightLoader(Checkpoint checkpoint) {
        this.checkpoint = checkpoint;
    }

    /** A required tensor of exactly this shape, in a float dtype the kernels read. */
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
        if (!FLOAT_WEIGHTS.contains(t.dtype())) {
            throw new ModelException(checkpoint.directory() + ": tensor '" + name + "' has dtype " + t.dtype()
                    + "; supported weight dtypes: " + FLOAT_WEIGHTS);
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
