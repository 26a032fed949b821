package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.tensors.ops.Ops;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static ai.parallax.server.cluster.StageTestSupport.overTheWire;

/** Two stages in this JVM (each frame encoded and decoded as on the network), made anew by {@link #rebuild}. */
final class TwoStagePipeline implements AutoCloseable {
    static final int MAX_POSITIONS = 256;
    final Path dir;
    final EngineConfig engine;
    final ModelConfig config;
    final int vocabulary;
    final AtomicInteger broken = new AtomicInteger();
    final AtomicLong epoch = new AtomicLong();
    /** Rows the last stage answered with a token id, and with a row of logits. */
    final AtomicLong pickedRows = new AtomicLong();
    final AtomicLong logitRowsReturned = new AtomicLong();
    final PipelineStepRunner runner;
    final List<Ops> kernels = new ArrayList<>();
    final List<CausalLanguageModel> models = new ArrayList<>();
    List<StageWorker> workers = List.of();

    TwoStagePipeline(Path dir, EngineConfig engine) {
        this.engine = engine;
        this.dir = dir;
        this.config = ModelConfig.read(dir);
        this.vocabulary = config.vocabSize();
        this.runner = new PipelineStepRunner(vocabulary, MAX_POSITIONS, Duration.ofSeconds(30),
                Duration.ofSeconds(60), reason -> broken.incrementAndGet());
        int cut = config.numLayers() / 2;
        for (LayerRange range : List.of(new LayerRange(0, cut, config.numLayers()),
                new LayerRange(cut, config.numLayers(), config.numLayers()))) {
            Ops ops = new SimdOps(1);
            kernels.add(ops);
            models.add(ModelLoader.load(dir, config, ops, range, MAX_POSITIONS));
        }
        rebuild();
    }

    /** As a re-allocation that keeps each node's layers: the stages' KV pools are new and empty. */
    void rebuild() {
        long e = epoch.incrementAndGet();
        runner.deactivate("re-allocating (test)");
        for (StageWorker w : workers) {
            w.stop();
        }
        StageWorker first = new StageWorker(models.get(0), kernels.get(0), engine.blockCount(),
                engine.blockSize(), 0, StepFrame.Payload.F32, e);
        StageWorker last = new StageWorker(models.get(1), kernels.get(1), engine.blockCount(),
                engine.blockSize(), 0, StepFrame.Payload.F32, e);
        first.next(frame -> last.submit(overTheWire(frame)));
        last.next(frame -> {
            if (frame.kind == StepFrame.Kind.OUTPUT) {
                for (int token : frame.picked) {
                    (token >= 0 ? pickedRows : logitRowsReturned).incrementAndGet();
                }
            }
            runner.deliver(overTheWire(frame));
        });
        workers = List.of(first, last);
        runner.activate(e, frame -> first.submit(overTheWire(frame)));
    }

    @Override
    public void close() {
        runner.close();
        for (StageWorker w : workers) {
            w.stop();
        }
        for (CausalLanguageModel m : models) {
            m.close();
        }
        for (Ops o : kernels) {
            o.close();
        }
    }
}
